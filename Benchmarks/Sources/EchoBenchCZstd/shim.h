// libzstd (Debian: libzstd-dev) for echo-bench's zstd-streaming comparison. A module of its own
// name: the main package's CZstd is not a product, and a second module named CZstd would clash.
#ifndef ECHO_BENCH_CZSTD_SHIM_H
#define ECHO_BENCH_CZSTD_SHIM_H
#include <zstd.h>
#endif
