// System-library shim for libprotobuf-c (Debian: libprotobuf-c-dev).
#ifndef EMPORIUM_CPROTOBUFC_SHIM_H
#define EMPORIUM_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
