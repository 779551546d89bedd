// A small persistent thread pool for the CPU backend. The calling thread takes chunks too, so
// a pool of T threads has T-1 workers. Between jobs workers spin for a short while before they
// sleep on a condition variable: a decode step is a stream of ~100-500 short ops (a 768x768 f16
// product streams in ~50 us), and waking a sleeping thread for each costs several microseconds
// on a VM, while a spinning one starts within a few hundred nanoseconds.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace caprese {

class ThreadPool {
 public:
  // num_threads counts the caller; 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n), each at least `grain` items
  // long (except the last), and returns when all are done. Runs inline when n <= grain, with
  // one thread, or when the pool is busy (a concurrent or nested call), so it never blocks
  // on itself. An exception thrown by fn is rethrown here after the job has drained.
  template <typename F>
  void ParallelFor(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n <= grain || workers_.empty()) {
      fn(int64_t{0}, n);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    auto thunk = [](void* f, int64_t b, int64_t e) { (*static_cast<Fn*>(f))(b, e); };
    Run(n, grain, thunk, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Thunk = void (*)(void*, int64_t, int64_t);
  struct Job {
    Thunk call;
    void* fn;
    int64_t n, chunk, num_chunks;
    std::atomic<int64_t> next{0};
    std::mutex error_mu;
    std::exception_ptr error;
  };

  void Run(int64_t n, int64_t grain, Thunk call, void* fn);
  static void Drain(Job* job);
  void WorkerLoop();

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // held by the thread whose job the pool is running
  // Publishing a job: job_, then generation_. A worker that finds no new generation after
  // spinning registers in sleepers_ and waits on work_cv_ under mu_; Run notifies (under mu_)
  // only when someone sleeps. Both sides use seq_cst on generation_ / sleepers_, so at least
  // one of them sees the other's update and no wake-up is lost. pending_ counts the workers
  // still in the current job; the last one notifies done_cv_ under mu_ for a caller that
  // stopped spinning.
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace caprese
