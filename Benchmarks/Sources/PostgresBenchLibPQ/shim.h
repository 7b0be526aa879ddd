// libpq (Debian: libpq-dev) for the PostgreSQL benchmark's bare-libpq variant. A module of its
// own name: the main package's CLibPQ is not a product.
#ifndef POSTGRES_BENCH_LIBPQ_SHIM_H
#define POSTGRES_BENCH_LIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
