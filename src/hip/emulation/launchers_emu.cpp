// src/hip/emulation/launchers_emu.cpp - the kernel launchers compiled for the CPU emulation.
#include "hip/kernels/launchers_impl.h"
