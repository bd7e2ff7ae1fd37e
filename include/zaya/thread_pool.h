// zaya/thread_pool.h - a small fork-join pool: parallel_for splits a range over the workers
// and the calling thread. Between the many short jobs of one forward pass, workers spin for a
// few tens of microseconds (a condition-variable wake-up costs about as much as a small matmul);
// after that they sleep on a condition variable, so an idle pool burns no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace zaya {

class ThreadPool {
 public:
  // threads <= 0: one per hardware thread. The caller counts as one of them.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const noexcept { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n); returns when all are done.
  // Chunks are contiguous and at least `grain` long. Exceptions in fn are rethrown here.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t grain = 1);

 private:
  void worker_loop();
  void run_chunks();
  static constexpr size_t kChunksPerThread = 4;

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t job_n_ = 0;
  size_t job_chunks_ = 0;
  std::atomic<size_t> next_chunk_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace zaya
