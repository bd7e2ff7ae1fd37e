// src/hip/emulation/emu.cpp - fibers, barriers, shared memory and wavefront shuffles for the
// CPU emulation of HIP kernels (see emu.h).
#include "emu.h"

#include <zaya/error.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

// AddressSanitizer keeps a fake stack per thread of execution (detect_stack_use_after_return) and
// must be told when the stack changes, or it reports the other fiber's frames as use-after-return.
#if defined(__SANITIZE_ADDRESS__)
#define ZAYA_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZAYA_EMU_ASAN 1
#endif
#endif
#if defined(ZAYA_EMU_ASAN)
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#endif

// ---- context switch ----------------------------------------------------------------------------
#if defined(__x86_64__)
// zaya_emu_switch(save, load): pushes the callee-saved registers on the current stack, stores
// the stack pointer in *save, switches to `load` and pops there. The SSE / x87 control words are
// not switched: kernels never change rounding modes, and ldmxcsr / fldcw would dominate the cost.
extern "C" void zaya_emu_switch(void** save_sp, void* load_sp);
extern "C" void zaya_emu_fiber_start();
extern "C" __attribute__((visibility("hidden"), used, noreturn)) void zaya_emu_fiber_entry(void* fiber);
asm(R"(
  .text
  .globl zaya_emu_switch
  .hidden zaya_emu_switch
  .type zaya_emu_switch,@function
zaya_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size zaya_emu_switch, .-zaya_emu_switch

  .globl zaya_emu_fiber_start
  .hidden zaya_emu_fiber_start
  .type zaya_emu_fiber_start,@function
zaya_emu_fiber_start:
  movq %r12, %rdi
  andq $-16, %rsp
  call zaya_emu_fiber_entry
  ud2
  .size zaya_emu_fiber_start, .-zaya_emu_fiber_start
)");
#endif

namespace zaya::emu {
namespace {

constexpr size_t kStackBytes = 128 * 1024;

enum class Status : uint8_t { runnable, block_barrier, warp_barrier, done };

struct Block;

struct Fiber {
  void* sp = nullptr;
  Block* block = nullptr;
  ThreadState state;
  unsigned linear = 0;  // thread index within the block
  Status status = Status::runnable;
  uint32_t round = 0;  // shuffles done by this lane
  size_t shared_cursor = 0;
  void* asan_fake_stack = nullptr;  // AddressSanitizer's state while the fiber is switched out
#if !defined(__x86_64__)
  ucontext_t ctx;
#endif
};

struct Block {
  std::vector<Fiber> fibers;
  alignas(64) std::byte shared[kSharedBytes];
  size_t static_limit = 0;  // kSharedBytes - dynamic bytes
  size_t shared_used = 0;
  std::byte* dynamic = nullptr;
  // Shuffle slots, double-buffered by round parity so one wavefront barrier per shuffle
  // suffices: a lane can only reuse a buffer after every lane has passed the next barrier.
  // exchange_round tells which shuffle round (per lane) a slot holds, so reading a lane that
  // has returned or skipped the round is caught.
  std::vector<uint64_t> exchange[2];  // [threads]
  std::vector<uint32_t> exchange_round[2];
  std::vector<float> warp_result;           // [warps] cached butterfly result of warp_reduce
  std::vector<uint32_t> warp_result_round;  // [warps] the round it belongs to
  // Scheduling: runnable fibers in FIFO order (each at most once), barrier arrival counts.
  unsigned threads = 0, warp = 64, live = 0, block_waiting = 0;
  std::vector<unsigned> queue;
  size_t head = 0, tail = 0;  // queue positions modulo threads
  std::vector<unsigned> warp_waiting, warp_done;
  void* scheduler_sp = nullptr;
  void* scheduler_asan_fake_stack = nullptr;
#if !defined(__x86_64__)
  ucontext_t scheduler_ctx;
#endif
  KernelBody body = nullptr;
  const void* closure = nullptr;
  const char* kernel = "";
  std::exception_ptr error;
  std::string fault;  // emulator-detected misuse, reported after the block
};

struct Host {
  int warp_size = 64;
  Stats stats;
  std::byte* stacks = nullptr;  // kMaxBlockThreads stacks, each with a guard page below
  size_t stack_stride = 0;
  Block* block = nullptr;
  Fiber* fiber = nullptr;
  std::unique_ptr<Block> block_storage;
  ~Host() {
    if (stacks) munmap(stacks, stack_stride * kMaxBlockThreads);
  }
};

thread_local Host t_host;

std::byte* stack_of(unsigned i) {
  Host& h = t_host;
  if (!h.stacks) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    h.stack_stride = kStackBytes + page;
    void* p = mmap(nullptr, h.stack_stride * kMaxBlockThreads, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail(ErrorCode::out_of_memory, "hip emulation: cannot map fiber stacks");
    h.stacks = static_cast<std::byte*>(p);
    for (unsigned k = 0; k < kMaxBlockThreads; ++k) mprotect(h.stacks + k * h.stack_stride, page, PROT_NONE);
  }
  return h.stacks + i * h.stack_stride + (h.stack_stride - kStackBytes);
}

// ---- AddressSanitizer stack-switch annotations (no-ops otherwise) -----------------------------

#if defined(ZAYA_EMU_ASAN)
// The stack the scheduler runs on: the host thread's own.
std::pair<const void*, size_t> thread_stack() {
  static thread_local std::pair<const void*, size_t> bounds = [] {
    std::pair<const void*, size_t> r{nullptr, 0};
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) r = {addr, size};
      pthread_attr_destroy(&attr);
    }
    return r;
  }();
  return bounds;
}
#endif

// Before leaving a stack for `to` (a fiber, or the scheduler when null). `save` receives the
// leaving side's state; null when the leaving fiber has finished (ASan then frees its state).
void before_switch(void** save, const Fiber* to) {
#if defined(ZAYA_EMU_ASAN)
  if (to) {
    __sanitizer_start_switch_fiber(save, stack_of(to->linear), kStackBytes);
  } else {
    const auto [bottom, size] = thread_stack();
    __sanitizer_start_switch_fiber(save, bottom, size);
  }
#else
  (void)save;
  (void)to;
#endif
}

// First thing after arriving on a stack: `saved` is what before_switch stored when this side
// left it (null for a fiber that starts now).
void after_switch(void* saved) {
#if defined(ZAYA_EMU_ASAN)
  __sanitizer_finish_switch_fiber(saved, nullptr, nullptr);
#else
  (void)saved;
#endif
}

void push(Block& b, unsigned i) {
  b.queue[b.tail % b.threads] = i;
  ++b.tail;
}

Fiber* pop(Block& b) {
  if (b.head == b.tail) return nullptr;
  return &b.fibers[b.queue[b.head++ % b.threads]];
}

// Leaves the running fiber `cur` for `next` (or for the scheduler when next is null).
void switch_from(Fiber& cur, Fiber* next) {
  Block& b = *cur.block;
  if (next == &cur) return;
  if (next) {
    t_state = next->state;
    t_host.fiber = next;
    ++t_host.stats.switches;
  } else {
    t_host.fiber = nullptr;
  }
  before_switch(cur.status == Status::done ? nullptr : &cur.asan_fake_stack, next);
#if defined(__x86_64__)
  zaya_emu_switch(&cur.sp, next ? next->sp : b.scheduler_sp);
#else
  swapcontext(&cur.ctx, next ? &next->ctx : &b.scheduler_ctx);
#endif
  after_switch(cur.asan_fake_stack);
}

void release_warp(Block& b, unsigned w) {
  const unsigned lo = w * b.warp, hi = std::min(b.threads, lo + b.warp);
  for (unsigned i = lo; i < hi; ++i)
    if (b.fibers[i].status == Status::warp_barrier) {
      b.fibers[i].status = Status::runnable;
      push(b, i);
    }
  b.warp_waiting[w] = 0;
}

void release_block(Block& b) {
  ++t_host.stats.barriers;
  for (unsigned i = 0; i < b.threads; ++i)
    if (b.fibers[i].status == Status::block_barrier) {
      b.fibers[i].status = Status::runnable;
      push(b, i);
    }
  b.block_waiting = 0;
}

void check_divergent_barrier(Block& b) {
  if (b.block_waiting > 0 && b.block_waiting == b.live && b.live != b.threads) {
    if (b.fault.empty())
      b.fault = fmt::format("{} of {} threads wait at __syncthreads() while {} have returned (a barrier in divergent code)",
                            b.block_waiting, b.threads, b.threads - b.live);
    release_block(b);  // let the kernel finish; the launch reports the fault
  }
}

[[noreturn]] void fiber_main(Fiber* f) {
  after_switch(nullptr);
  Block* b = f->block;
  try {
    b->body(b->closure);
  } catch (...) {
    if (!b->error) b->error = std::current_exception();
  }
  f->status = Status::done;
  --b->live;
  const unsigned w = f->linear / b->warp;
  ++b->warp_done[w];
  const unsigned lo = w * b->warp, lanes = std::min(b->threads, lo + b->warp) - lo;
  if (b->warp_waiting[w] > 0 && b->warp_waiting[w] + b->warp_done[w] == lanes) release_warp(*b, w);
  check_divergent_barrier(*b);
  switch_from(*f, pop(*b));
  __builtin_trap();  // a finished fiber is never resumed
}

#if !defined(__x86_64__)
void ucontext_entry(unsigned lo, unsigned hi) {
  fiber_main(reinterpret_cast<Fiber*>((static_cast<uintptr_t>(hi) << 32) | lo));
}
#endif

void prepare(Fiber& f, unsigned i) {
  std::byte* stack = stack_of(i);
#if defined(__x86_64__)
  // Stagger the stack tops across cache sets: equally strided stacks would all map their hot
  // top lines to the same L1 set and evict each other at every switch.
  const size_t stagger = (i * 7u % 64u) * 64u;
  auto top = reinterpret_cast<uintptr_t>(stack + kStackBytes - stagger) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top) - 8;
  sp[0] = sp[1] = sp[2] = 0;                // r15 r14 r13
  sp[3] = reinterpret_cast<uint64_t>(&f);   // r12: the fiber, handed to fiber_entry
  sp[4] = sp[5] = 0;                        // rbx rbp
  sp[6] = reinterpret_cast<uint64_t>(&zaya_emu_fiber_start);
  sp[7] = 0;
  f.sp = sp;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = stack;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  const auto p = reinterpret_cast<uintptr_t>(&f);
  makecontext(&f.ctx, reinterpret_cast<void (*)()>(&ucontext_entry), 2, static_cast<unsigned>(p & 0xffffffffu),
              static_cast<unsigned>(p >> 32));
#endif
}

Fiber& current_fiber(const char* what) {
  if (!t_host.fiber) fail(ErrorCode::internal, "hip emulation: {} called outside a kernel", what);
  return *t_host.fiber;
}

// Runs one block to completion. Fibers hand control directly to the next runnable one; the
// scheduler gets it back when every thread has returned or none can run (a deadlock).
void run_block(Block& b) {
  b.head = b.tail = 0;
  for (unsigned i = 0; i < b.threads; ++i) push(b, i);
  b.live = b.threads;
  b.block_waiting = 0;
  std::fill(b.warp_waiting.begin(), b.warp_waiting.end(), 0u);
  std::fill(b.warp_done.begin(), b.warp_done.end(), 0u);
  Fiber* first = pop(b);
  t_state = first->state;
  t_host.fiber = first;
  ++t_host.stats.switches;
  before_switch(&b.scheduler_asan_fake_stack, first);
#if defined(__x86_64__)
  zaya_emu_switch(&b.scheduler_sp, first->sp);
#else
  swapcontext(&b.scheduler_ctx, &first->ctx);
#endif
  after_switch(b.scheduler_asan_fake_stack);
  t_host.fiber = nullptr;
  if (b.live > 0 && b.fault.empty() && !b.error) {
    unsigned at_warp = 0;
    for (unsigned w : b.warp_waiting) at_warp += w;
    b.fault = fmt::format("deadlock: {} threads at __syncthreads(), {} at a wavefront shuffle, {} returned "
                          "(a shuffle or barrier in divergent code)",
                          b.block_waiting, at_warp, b.threads - b.live);
  }
}

void wait_at_warp_barrier() {
  Fiber& f = *t_host.fiber;
  Block& b = *f.block;
  f.status = Status::warp_barrier;
  const unsigned w = f.linear / b.warp;
  const unsigned lo = w * b.warp, lanes = std::min(b.threads, lo + b.warp) - lo;
  if (++b.warp_waiting[w] + b.warp_done[w] == lanes) release_warp(b, w);
  switch_from(f, pop(b));
}

struct Allocations {
  std::mutex mutex;
  std::map<uintptr_t, size_t> live;  // begin -> bytes
};
Allocations& allocations() {
  static Allocations a;
  return a;
}

}  // namespace

}  // namespace zaya::emu

#if defined(__x86_64__)
extern "C" void zaya_emu_fiber_entry(void* fiber) { zaya::emu::fiber_main(static_cast<zaya::emu::Fiber*>(fiber)); }
#endif

namespace zaya::emu {

void set_wavefront_size(int size) {
  if (size != 32 && size != 64) fail(ErrorCode::invalid_argument, "hip emulation: wavefront size {} (expected 32 or 64)", size);
  t_host.warp_size = size;
}

int wavefront_size() noexcept { return t_host.warp_size; }

Stats stats() noexcept { return t_host.stats; }
void reset_stats() noexcept { t_host.stats = {}; }

void sync_threads() {
  Fiber& f = current_fiber("__syncthreads()");
  Block& b = *f.block;
  f.status = Status::block_barrier;
  if (++b.block_waiting == b.live) {
    if (b.live != b.threads) check_divergent_barrier(b);
    else release_block(b);
  }
  switch_from(f, pop(b));
}

void* shared_alloc(size_t bytes, size_t align) {
  Fiber& f = current_fiber("a __shared__ declaration");
  Block& b = *f.block;
  size_t offset = (f.shared_cursor + align - 1) / align * align;
  if (offset + bytes > b.static_limit) {
    if (b.fault.empty())
      b.fault = fmt::format("static shared memory of {} bytes (plus {} dynamic) exceeds the {} bytes of a workgroup",
                            offset + bytes, kSharedBytes - b.static_limit, kSharedBytes);
    // Keep the kernel memory-safe until the scheduler reports the fault.
    static thread_local std::vector<std::byte> spill;
    spill.assign(bytes + align, std::byte{0});
    return spill.data();
  }
  f.shared_cursor = offset + bytes;
  b.shared_used = std::max(b.shared_used, f.shared_cursor);
  return b.shared + offset;
}

void* dynamic_shared() noexcept { return t_host.fiber ? t_host.fiber->block->dynamic : nullptr; }

uint64_t shuffle_bits(uint64_t bits, int mode, int arg) {
  Fiber& f = current_fiber("a wavefront shuffle");
  Block& b = *f.block;
  ++t_host.stats.shuffles;
  const int width = t_host.warp_size;
  const int self = static_cast<int>(f.linear % static_cast<unsigned>(width));
  const unsigned base = f.linear - static_cast<unsigned>(self);
  const uint32_t round = f.round++;
  const unsigned k = round & 1u;
  b.exchange[k][f.linear] = bits;
  b.exchange_round[k][f.linear] = round;
  wait_at_warp_barrier();
  int index = self;
  switch (mode) {
    case 0: index = arg & (width - 1); break;  // __shfl(v, src): src modulo the width
    case 1: {                                   // __shfl_xor
      index = self ^ arg;
      if (index >= ((self + width) & ~(width - 1))) index = self;
      break;
    }
    case 2:  // __shfl_down
      index = (self + arg >= width) ? self : self + arg;
      break;
    default: break;
  }
  const unsigned src = base + static_cast<unsigned>(index);
  uint64_t out = bits;
  if (src >= b.fibers.size() || src >= f.state.block_dim.x * f.state.block_dim.y * f.state.block_dim.z ||
      b.exchange_round[k][src] != round) {
    if (b.fault.empty())
      b.fault = fmt::format("thread {} shuffles from lane {} of its wavefront, which does not exist or has returned", f.linear,
                            index);
  } else {
    out = b.exchange[k][src];
  }
  return out;
}

float warp_reduce(float v, int op) {
  Fiber& f = current_fiber("a wavefront reduction");
  Block& b = *f.block;
  ++t_host.stats.shuffles;
  const unsigned width = b.warp, w = f.linear / width, base = w * width;
  const uint32_t round = f.round++;
  const unsigned k = round & 1u;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  b.exchange[k][f.linear] = bits;
  b.exchange_round[k][f.linear] = round;
  wait_at_warp_barrier();
  if (b.warp_result_round[w] == round) return b.warp_result[w];
  float vals[64];
  for (unsigned i = 0; i < width; ++i) {
    const unsigned src = base + i;
    if (src >= b.threads || b.exchange_round[k][src] != round) {
      if (b.fault.empty())
        b.fault = fmt::format("thread {} reduces over lane {} of its wavefront, which does not exist or has returned", f.linear, i);
      return v;
    }
    std::memcpy(&vals[i], &b.exchange[k][src], sizeof(float));
  }
  // Lane 0's value after the butterfly: level o adds lanes i and i ^ o = i + o (i < o).
  for (unsigned o = width / 2; o >= 1; o /= 2)
    for (unsigned i = 0; i < o; ++i) vals[i] = op == 0 ? vals[i] + vals[i + o] : fmaxf(vals[i], vals[i + o]);
  b.warp_result[w] = vals[0];
  b.warp_result_round[w] = round;
  return vals[0];
}

void launch_erased(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, KernelBody body,
                   const void* closure) {
  if (t_host.fiber) fail(ErrorCode::internal, "hip emulation: kernel {} launched from inside a kernel", name);
  const uint64_t threads64 = uint64_t(block.x) * block.y * block.z;
  if (threads64 == 0 || threads64 > kMaxBlockThreads)
    fail(ErrorCode::internal, "hip emulation: kernel {} launched with {}x{}x{} threads per block (1..{})", name, block.x, block.y,
         block.z, kMaxBlockThreads);
  if (dynamic_shared_bytes > kSharedBytes)
    fail(ErrorCode::internal, "hip emulation: kernel {} asks for {} bytes of dynamic shared memory (at most {})", name,
         dynamic_shared_bytes, kSharedBytes);
  const unsigned threads = static_cast<unsigned>(threads64);
  Host& h = t_host;
  ++h.stats.launches;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  if (!h.block_storage) h.block_storage = std::make_unique<Block>();
  Block& b = *h.block_storage;
  b.fibers.assign(threads, Fiber{});
  b.threads = threads;
  b.warp = static_cast<unsigned>(h.warp_size);
  b.queue.assign(threads, 0);
  b.warp_waiting.assign((threads + b.warp - 1) / b.warp, 0);
  b.warp_done.assign(b.warp_waiting.size(), 0);
  b.warp_result.assign(b.warp_waiting.size(), 0.0f);
  b.warp_result_round.assign(b.warp_waiting.size(), UINT32_MAX);
  for (int k = 0; k < 2; ++k) {
    b.exchange[k].assign(threads, 0);
    b.exchange_round[k].assign(threads, 0);
  }
  b.body = body;
  b.closure = closure;
  b.kernel = name;
  b.static_limit = kSharedBytes - dynamic_shared_bytes;
  b.dynamic = b.shared + b.static_limit;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        ++h.stats.blocks;
        h.stats.threads += threads;
        b.shared_used = 0;
        b.error = nullptr;
        b.fault.clear();
        for (auto& v : b.exchange_round) std::fill(v.begin(), v.end(), UINT32_MAX);
        std::fill(b.warp_result_round.begin(), b.warp_result_round.end(), UINT32_MAX);
        // Shared memory starts as garbage on a GPU: poison it so kernels cannot rely on zeros.
        std::memset(b.shared, 0xFF, sizeof(b.shared));
        for (unsigned i = 0; i < threads; ++i) {
          Fiber& f = b.fibers[i];
          f = Fiber{};
          f.block = &b;
          f.linear = i;
          f.state.thread_idx = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
          f.state.block_idx = dim3(bx, by, bz);
          f.state.block_dim = block;
          f.state.grid_dim = grid;
          f.state.warp_size = h.warp_size;
          prepare(f, i);
        }
        run_block(b);
        if (b.error) std::rethrow_exception(b.error);
        if (!b.fault.empty())
          fail(ErrorCode::internal, "hip emulation: kernel {} block ({},{},{}): {}", name, bx, by, bz, b.fault);
      }
}

void* device_malloc(size_t bytes) {
  const size_t rounded = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  void* p = std::aligned_alloc(64, rounded);
  if (!p) fail(ErrorCode::out_of_memory, "hip emulation: cannot allocate {} bytes", bytes);
  std::memset(p, 0xFF, rounded);
  auto& a = allocations();
  std::lock_guard lock(a.mutex);
  a.live[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void device_free(void* p) noexcept {
  if (!p) return;
  auto& a = allocations();
  {
    std::lock_guard lock(a.mutex);
    a.live.erase(reinterpret_cast<uintptr_t>(p));
  }
  std::free(p);
}

void check_device_range(const void* p, size_t bytes, const char* what) {
  if (bytes == 0) return;
  auto& a = allocations();
  std::lock_guard lock(a.mutex);
  const auto addr = reinterpret_cast<uintptr_t>(p);
  auto it = a.live.upper_bound(addr);
  if (it != a.live.begin()) {
    --it;
    if (addr >= it->first && addr + bytes <= it->first + it->second) return;
  }
  fail(ErrorCode::internal, "hip emulation: {} of {} bytes at {} is not inside a device allocation", what, bytes, p);
}

size_t live_allocations() noexcept {
  auto& a = allocations();
  std::lock_guard lock(a.mutex);
  return a.live.size();
}

}  // namespace zaya::emu
