// System-library shim for zlib (Debian: zlib1g-dev): DEFLATE for HdrHistogram's compressed
// histogram encoding in interval logs (LoadCore).
#ifndef EMPORIUM_CZLIB_SHIM_H
#define EMPORIUM_CZLIB_SHIM_H
#include <zlib.h>
#endif
