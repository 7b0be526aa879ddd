// EchoBenchMallocCounter: an LD_PRELOAD library that counts heap allocations, for echo-bench's
// "allocations per call". Built as a dynamic library product (libEchoBenchMallocCounter.so) and
// never linked into an executable: a process gets it only through LD_PRELOAD.
//
// It wraps malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and free, forwarding
// to the next definition (glibc's) found with dlsym(RTLD_NEXT, ...), and counts them in striped
// relaxed atomics (one 64-byte stripe per thread, so counting costs a few nanoseconds and no
// cache-line ping-pong).
//
// Reading the counts:
// - in-process: look the functions below up with dlsym(RTLD_DEFAULT, "echo_bench_malloc_count")
//   (absent when the library is not preloaded);
// - from outside: when ECHO_BENCH_MALLOC_FILE is set at start-up, SIGUSR2 makes the process write
//   "<allocations> <frees> <live bytes>\n" to that path (atomically: a temporary file, then rename).
#ifndef ECHO_BENCH_MALLOC_COUNTER_H
#define ECHO_BENCH_MALLOC_COUNTER_H

#include <stdint.h>

/// Allocations so far: malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign.
uint64_t echo_bench_malloc_count(void);

/// Calls of free with a non-null pointer so far.
uint64_t echo_bench_free_count(void);

/// Heap bytes allocated and not yet freed (malloc_usable_size), counted from start-up; only
/// when ECHO_BENCH_MALLOC_BYTES is set at start-up (it costs a call per allocation), else 0.
int64_t echo_bench_live_bytes(void);

#endif
