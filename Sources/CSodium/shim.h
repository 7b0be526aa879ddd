#ifndef EMPORIUM_CSODIUM_SHIM_H
#define EMPORIUM_CSODIUM_SHIM_H
#include <sodium.h>
#endif
