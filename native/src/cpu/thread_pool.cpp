#include "cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace caprese {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

namespace {

// How long a thread spins for the next event before it blocks: long enough to span the gap
// between two ops of a decode step, short enough not to burn a core once decoding stops.
constexpr std::chrono::microseconds kSpin{50};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or kSpin has passed; true when done() became true.
template <typename Done>
bool SpinUntil(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    CpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Drain(Job* job) {
  for (;;) {
    int64_t c = job->next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job->num_chunks) return;
    int64_t begin = c * job->chunk, end = std::min(job->n, begin + job->chunk);
    try {
      job->call(job->fn, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job->error_mu);
      if (!job->error) job->error = std::current_exception();
    }
  }
}

void ThreadPool::Run(int64_t n, int64_t grain, Thunk call, void* fn) {
  std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
  if (!busy.owns_lock()) {  // another thread's job (or our own, nested) holds the pool
    call(fn, 0, n);
    return;
  }
  // About four chunks per thread balances uneven rows without much scheduling overhead.
  const int64_t threads = num_threads();
  int64_t chunk = std::max(grain, (n + threads * 4 - 1) / (threads * 4));
  Job job;
  job.call = call;
  job.fn = fn;
  job.n = n;
  job.chunk = chunk;
  job.num_chunks = (n + chunk - 1) / chunk;
  job_.store(&job);
  pending_.store(static_cast<int>(workers_.size()));
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    work_cv_.notify_all();
  }
  Drain(&job);
  if (!SpinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_.load() == 0; });
  }
  job_.store(nullptr);
  if (job.error) std::rethrow_exception(job.error);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    auto fresh = [&] { return stop_.load() || generation_.load() != seen; };
    if (!SpinUntil(fresh)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      work_cv_.wait(lock, fresh);
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load();
    Drain(job_.load());
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace caprese
