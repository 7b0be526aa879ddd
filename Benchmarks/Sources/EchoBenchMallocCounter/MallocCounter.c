// See include/EchoBenchMallocCounter.h.
#define _GNU_SOURCE
#include "EchoBenchMallocCounter.h"

#include <dlfcn.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// MARK: Counters

enum { STRIPES = 64 };

struct stripe {
  _Atomic uint64_t allocations;
  _Atomic uint64_t frees;
  _Atomic int64_t bytes;  // usable bytes allocated minus freed on this stripe (may be negative)
  char padding[64 - 3 * sizeof(uint64_t)];
};

// Live heap bytes are tracked only when ECHO_BENCH_MALLOC_BYTES is set at start-up: it costs a
// malloc_usable_size call per allocation and free.
static int track_bytes;

static struct stripe stripes[STRIPES] __attribute__((aligned(64)));
static _Atomic unsigned next_stripe;
// initial-exec: the library is loaded at start-up (LD_PRELOAD), so its TLS is static and an
// access never calls __tls_get_addr (which may allocate).
static __thread int thread_stripe __attribute__((tls_model("initial-exec"))) = -1;

static inline struct stripe *my_stripe(void) {
  int index = thread_stripe;
  if (index < 0) {
    index = (int)(atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES);
    thread_stripe = index;
  }
  return &stripes[index];
}

static inline void count_allocation(void) {
  atomic_fetch_add_explicit(&my_stripe()->allocations, 1, memory_order_relaxed);
}

static inline void count_free(void) {
  atomic_fetch_add_explicit(&my_stripe()->frees, 1, memory_order_relaxed);
}

static inline void *count_bytes(void *pointer, int sign) {
  if (track_bytes && pointer != NULL) {
    int64_t size = (int64_t)malloc_usable_size(pointer);
    atomic_fetch_add_explicit(&my_stripe()->bytes, sign * size, memory_order_relaxed);
  }
  return pointer;
}

uint64_t echo_bench_malloc_count(void) {
  uint64_t total = 0;
  for (int i = 0; i < STRIPES; i++) total += atomic_load_explicit(&stripes[i].allocations, memory_order_relaxed);
  return total;
}

uint64_t echo_bench_free_count(void) {
  uint64_t total = 0;
  for (int i = 0; i < STRIPES; i++) total += atomic_load_explicit(&stripes[i].frees, memory_order_relaxed);
  return total;
}

int64_t echo_bench_live_bytes(void) {
  int64_t total = 0;
  for (int i = 0; i < STRIPES; i++) total += atomic_load_explicit(&stripes[i].bytes, memory_order_relaxed);
  return total;
}

// MARK: The real functions

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

// dlsym may allocate (its error buffer); while it runs, allocations come from this buffer and
// are never freed. Resolution happens on the first allocation, which is single-threaded (the
// dynamic loader's start-up).
static char bootstrap[64 << 10] __attribute__((aligned(64)));
static size_t bootstrap_used;
static int resolving;

static int in_bootstrap(const void *pointer) {
  return (const char *)pointer >= bootstrap && (const char *)pointer < bootstrap + sizeof(bootstrap);
}

static void *bootstrap_allocate(size_t size) {
  size_t start = (bootstrap_used + 63) & ~(size_t)63;
  if (start + size > sizeof(bootstrap)) return NULL;
  bootstrap_used = start + size;
  return bootstrap + start;
}

static void resolve(void) {
  if (real_malloc != NULL) return;
  resolving = 1;
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_free = dlsym(RTLD_NEXT, "free");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = dlsym(RTLD_NEXT, "memalign");
  real_malloc = dlsym(RTLD_NEXT, "malloc");  // last: it marks resolution as complete
  resolving = 0;
}

// MARK: Wrappers

void *malloc(size_t size) {
  if (real_malloc == NULL) {
    if (resolving) return bootstrap_allocate(size);
    resolve();
  }
  count_allocation();
  return count_bytes(real_malloc(size), 1);
}

void *calloc(size_t count, size_t size) {
  if (real_malloc == NULL) {
    if (resolving) return bootstrap_allocate(count * size);  // static memory is zeroed
    resolve();
  }
  count_allocation();
  return count_bytes(real_calloc(count, size), 1);
}

void *realloc(void *pointer, size_t size) {
  if (real_malloc == NULL) {
    if (resolving) return bootstrap_allocate(size);
    resolve();
  }
  if (in_bootstrap(pointer)) {
    void *moved = malloc(size);
    if (moved != NULL) {
      size_t available = (size_t)(bootstrap + sizeof(bootstrap) - (char *)pointer);
      memcpy(moved, pointer, size < available ? size : available);
    }
    return moved;
  }
  count_allocation();
  count_bytes(pointer, -1);
  return count_bytes(real_realloc(pointer, size), 1);
}

void free(void *pointer) {
  if (pointer == NULL || in_bootstrap(pointer)) return;
  if (real_free == NULL) resolve();
  count_free();
  count_bytes(pointer, -1);
  real_free(pointer);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
  if (real_malloc == NULL) resolve();
  count_allocation();
  int status = real_posix_memalign(result, alignment, size);
  if (status == 0) count_bytes(*result, 1);
  return status;
}

void *aligned_alloc(size_t alignment, size_t size) {
  if (real_malloc == NULL) resolve();
  count_allocation();
  return count_bytes(real_aligned_alloc(alignment, size), 1);
}

void *memalign(size_t alignment, size_t size) {
  if (real_malloc == NULL) resolve();
  count_allocation();
  return count_bytes(real_memalign(alignment, size), 1);
}

// MARK: SIGUSR2 report

static char report_path[4096];
static char report_temporary[4096 + 8];

// Writes the decimal digits of value (async-signal-safe).
static size_t format_decimal(uint64_t value, char *out) {
  char digits[24];
  size_t count = 0;
  do {
    digits[count++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (size_t i = 0; i < count; i++) out[i] = digits[count - 1 - i];
  return count;
}

static void report(int signal) {
  (void)signal;
  int saved = errno;
  char line[96];
  size_t length = format_decimal(echo_bench_malloc_count(), line);
  line[length++] = ' ';
  length += format_decimal(echo_bench_free_count(), line + length);
  line[length++] = ' ';
  int64_t bytes = echo_bench_live_bytes();
  if (bytes < 0) {
    line[length++] = '-';
    bytes = -bytes;
  }
  length += format_decimal((uint64_t)bytes, line + length);
  line[length++] = '\n';
  int fd = open(report_temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t written = write(fd, line, length);
    close(fd);
    if (written == (ssize_t)length) rename(report_temporary, report_path);
  }
  errno = saved;
}

__attribute__((constructor)) static void install_report(void) {
  resolve();
  track_bytes = getenv("ECHO_BENCH_MALLOC_BYTES") != NULL;
  const char *path = getenv("ECHO_BENCH_MALLOC_FILE");
  if (path == NULL || strlen(path) >= sizeof(report_path)) return;
  strcpy(report_path, path);
  strcpy(report_temporary, path);
  strcat(report_temporary, ".tmp");
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = report;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGUSR2, &action, NULL);
}
