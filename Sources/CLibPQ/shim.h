// System-library shim for libpq (Debian: libpq-dev).
#ifndef EMPORIUM_CLIBPQ_SHIM_H
#define EMPORIUM_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
