// System-library shim for libzstd (Debian: libzstd-dev).
#ifndef EMPORIUM_CZSTD_SHIM_H
#define EMPORIUM_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif
