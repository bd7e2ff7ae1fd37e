// src/hip/plugin/launchers_hip.cpp - the kernel launchers compiled by hipcc (GPU plugin only).
#include "hip/kernels/launchers_impl.h"
