// src/base/error.cpp - anchors the base layer (error types are header-only).
#include <zaya/error.h>

namespace zaya {
// Intentionally empty: zaya::Error is fully defined in its header. This file keeps zaya_base a
// real library so later base utilities (file mapping, thread pool) have a home.
}  // namespace zaya
