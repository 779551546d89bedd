// cuda-sim's kernel executor. A launch is split into blocks; a pool of worker threads takes
// blocks one at a time, and a worker runs every CUDA thread of its block as a fiber (its own
// stack, switched in user space). A fiber runs until it finishes or has to wait, at a
// __syncthreads (until every thread of the block arrives) or a warp collective (until every
// lane its mask names arrives). When nobody can run and some fibers still wait, the block is
// stuck where a GPU would hang or misbehave, and the report says which thread never came.
//
// Checks on the way: launch geometry and dynamic shared memory against the device profile and
// the kernel's cudaFuncSetAttribute limit, barriers not reached by all threads, warp masks
// naming absent lanes or not the caller, lanes disagreeing on a collective, shuffles reading a
// lane outside the mask; memory faults (guard pages) are reported with the thread that made
// them; after the grid the canaries behind each allocation are checked.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fiber_switch.h"
#include "internal.h"

#if !CUDASIM_ASM_SWITCH
#error "cuda-sim's fiber switch is written for x86-64 (System V); port fiber_switch.cpp to this architecture"
#endif

namespace cudasim {
namespace internal {

enum class FiberState { kReady, kBarrier, kWarp, kDone };

struct BlockRun;

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;
  size_t stack_bytes = 0;
  ThreadCoords coords{};
  int linear = 0, warp = 0, lane = 0;
  FiberState state = FiberState::kReady;
  // the pending warp collective
  WarpOpKind kind = kShflXor;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32, sync_slot = 0;
  char tsan_sync = 0;  // address this lane releases on when it arrives at a collective
  void* tsan_fiber = nullptr;
  void* asan_fake_stack = nullptr;
  BlockRun* block = nullptr;
};

struct LaunchState {
  const void* func;
  LaunchSite site;
  dim3 grid, block;
  size_t smem;
  KernelThunk thunk;
  void* closure;
  std::atomic<long long> next_block{0};
  long long total_blocks = 0;
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  cudaError_t error = cudaSuccess;
  std::string report;
  char tsan_start = 0, tsan_end = 0;
};

constexpr int kWarpRing = 32;

// The fibers ready to run, FIFO. A ring sized once per block (a thread is queued at most once
// at a time), not a std::deque: fibers push onto it from inside collectives, and heap calls
// made there would look to TSan like the fibers' own, racing with the scheduler's.
struct ReadyQueue {
  void Reset(int n) {
    slots.assign(static_cast<size_t>(n) + 1, 0);
    head = tail = 0;
  }
  bool empty() const { return head == tail; }
  void push_back(int t) {
    slots[tail] = t;
    tail = (tail + 1) % slots.size();
  }
  int pop_front() {
    const int t = slots[head];
    head = (head + 1) % slots.size();
    return t;
  }
  std::vector<int> slots;
  size_t head = 0, tail = 0;
};

struct BlockRun {
  LaunchState* launch = nullptr;
  uint3 block_idx{};
  std::vector<Fiber> fibers;
  int n = 0, warps = 0, arrived = 0, done = 0;
  unsigned gen = 0;
  std::vector<unsigned> warp_waiting, warp_exists;
  std::vector<unsigned> warp_ring_next;
  std::vector<char> tsan_ring;  // [warps][kWarpRing]
  char tsan_barrier[2] = {0, 0};
  ReadyQueue ready;
  int epoch = 0;  // parity of this block among those its worker ran (Worker::tsan_epoch)
  bool failed = false;
  cudaError_t error = cudaSuccess;
  std::string report;
};

// ------------------------------------------------------------------ worker threads
size_t StackBytes() {
  static const size_t bytes = [] {
    size_t kb = CUDASIM_ASAN ? 512 : (CUDASIM_TSAN ? 256 : 64);
    if (const char* v = std::getenv("CAPRESE_CUDASIM_STACK_KB")) {
      const long long k = std::atoll(v);
      if (k >= 16) kb = static_cast<size_t>(k);
    }
    return kb * 1024;
  }();
  return bytes;
}

struct StackSlot {
  char* map = nullptr;  // guard page + stack
  size_t map_bytes = 0;
};

struct Worker {
  void* sched_sp = nullptr;
  const void* sched_stack_bottom = nullptr;
  size_t sched_stack_size = 0;
  void* sched_fake_stack = nullptr;
  void* sched_tsan = nullptr;
  // Blocks this worker runs one after another reuse its shared memory (and the scheduler's
  // heap): on a GPU a block's shared memory is gone before the next block gets it. The
  // fibers of block k release tsan_epoch[k % 2] when they end and acquire the other one (the
  // blocks before) when they start: TSan sees the order between blocks, but no order
  // between threads of one block that a barrier does not create.
  char tsan_epoch[2] = {0, 0};
  long long blocks_run = 0;
  BlockRun run;  // the block being run (RunBlock)
  Fiber* current = nullptr;
  BlockRun* block = nullptr;
  std::vector<StackSlot> stacks;  // reused from block to block (fresh ones under TSan)
  char* smem_map = nullptr;       // dynamic shared memory: [region][guard page]
  size_t smem_region = 0;
  char* smem_base = nullptr;
  size_t smem_bytes = 0;
  char* altstack = nullptr;
};

thread_local Worker* t_worker = nullptr;

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGE_SIZE)); }

StackSlot MapStack() {
  const size_t page = Page(), bytes = StackBytes();
  StackSlot s;
  s.map_bytes = bytes + page;
  void* m = mmap(nullptr, s.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    std::fprintf(stderr, "cuda-sim: cannot map a %zu-byte fiber stack\n", s.map_bytes);
    std::abort();
  }
  s.map = static_cast<char*>(m);
  mprotect(s.map, page, PROT_NONE);  // stacks grow down into the guard page
  return s;
}

// ------------------------------------------------------------------ fault reports (SIGSEGV)
struct sigaction g_previous_segv, g_previous_bus;
std::atomic<bool> g_handler_installed{false};

void WriteAll(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void OnFault(int sig, siginfo_t* info, void* uctx) {
  Worker* w = t_worker;
  Fiber* f = w != nullptr ? w->current : nullptr;
  if (f == nullptr) {
    // Not a simulated thread: give the signal back to whoever handled it before us (the .NET
    // runtime, say); returning re-executes the access under that handler.
    sigaction(SIGSEGV, &g_previous_segv, nullptr);
    sigaction(SIGBUS, &g_previous_bus, nullptr);
    g_handler_installed.store(false);
    return;
  }
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  char what[512];
  const size_t page = Page();
  const uintptr_t stack_lo = reinterpret_cast<uintptr_t>(f->stack);
  const uintptr_t smem_end = reinterpret_cast<uintptr_t>(w->smem_base) + w->smem_bytes;
  if (addr >= stack_lo - page && addr < stack_lo) {
    std::snprintf(what, sizeof what, "stack overflow of a simulated thread (%zu KiB; set CAPRESE_CUDASIM_STACK_KB)",
                  StackBytes() / 1024);
  } else if (w->smem_map != nullptr && addr >= smem_end && addr < smem_end + page) {
    std::snprintf(what, sizeof what, "out-of-bounds dynamic shared memory access at byte %zu of the %zu bytes "
                  "requested at launch", static_cast<size_t>(addr - reinterpret_cast<uintptr_t>(w->smem_base)),
                  w->smem_bytes);
  } else if (!DescribeAddress(addr, what, sizeof what)) {
    std::snprintf(what, sizeof what, "invalid %s at %p (not device memory: a host pointer, freed memory, a wild "
                  "index or a misaligned vector access)", sig == SIGBUS ? "access (SIGBUS)" : "memory access",
                  info->si_addr);
  }
  const LaunchState* l = f->block->launch;
  char msg[1024];
  std::snprintf(msg, sizeof msg,
                "========= cuda-sim: %s\n========= by thread (%u,%u,%u) of block (%u,%u,%u) of the kernel launched "
                "at %s:%d (grid %ux%ux%u, block %ux%ux%u)\n========= (a GPU reports cudaErrorIllegalAddress; the "
                "simulator cannot recover from a host fault and aborts)\n",
                what, f->coords.thread_idx.x, f->coords.thread_idx.y, f->coords.thread_idx.z, f->coords.block_idx.x,
                f->coords.block_idx.y, f->coords.block_idx.z, l->site.file, l->site.line, l->grid.x, l->grid.y,
                l->grid.z, l->block.x, l->block.y, l->block.z);
  WriteAll(msg);
  signal(SIGABRT, SIG_DFL);
  abort();
}

void InstallFaultHandler() {
  if (g_handler_installed.exchange(true)) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnFault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_previous_segv);
  sigaction(SIGBUS, &sa, &g_previous_bus);
}

// ------------------------------------------------------------------ fiber switching
void SwitchToFiber(Worker& w, Fiber* f) {
  w.current = f;
#if CUDASIM_ASAN
  __sanitizer_start_switch_fiber(&w.sched_fake_stack, f->stack, f->stack_bytes);
#endif
#if CUDASIM_TSAN
  __tsan_switch_to_fiber(f->tsan_fiber, 1);  // 1: no implicit synchronisation
#endif
  caprese_cudasim_switch(&w.sched_sp, f->sp);
#if CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(w.sched_fake_stack, nullptr, nullptr);
#endif
  w.current = nullptr;
}

// From a fiber back to its worker's scheduler; `final` when the fiber will never run again.
void SwitchToScheduler(Worker& w, Fiber* f, bool final) {
  if (final) TsanRelease(&w.tsan_epoch[f->block->epoch]);
#if CUDASIM_ASAN
  __sanitizer_start_switch_fiber(final ? nullptr : &f->asan_fake_stack, w.sched_stack_bottom, w.sched_stack_size);
#endif
#if CUDASIM_TSAN
  __tsan_switch_to_fiber(w.sched_tsan, 1);
#endif
  caprese_cudasim_switch(&f->sp, w.sched_sp);
  // resumed
#if CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(f->asan_fake_stack, nullptr, nullptr);
#endif
}

[[noreturn]] void FailBlock(Worker& w, Fiber* f, cudaError_t err, const std::string& what) {
  BlockRun* b = f->block;
  b->failed = true;
  b->error = err;
  b->report = what;
  SwitchToScheduler(w, f, true);
  __builtin_trap();  // an abandoned fiber is never resumed
}

void FiberEntry(Fiber* f) {
  Worker& w = *t_worker;
#if CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &w.sched_stack_bottom, &w.sched_stack_size);
#endif
  LaunchState* l = f->block->launch;
  TsanAcquire(&l->tsan_start);
  TsanAcquire(&w.tsan_epoch[f->block->epoch ^ 1]);
  l->thunk(l->closure);
  TsanRelease(&l->tsan_end);
  f->state = FiberState::kDone;
  f->block->done++;
  SwitchToScheduler(w, f, true);
  __builtin_trap();
}

std::string Where(const BlockRun& b) {
  const LaunchState& l = *b.launch;
  return Format("kernel launched at %s:%d, block (%u,%u,%u) of grid %ux%ux%u, %ux%ux%u threads", l.site.file,
                l.site.line, b.block_idx.x, b.block_idx.y, b.block_idx.z, l.grid.x, l.grid.y, l.grid.z, l.block.x,
                l.block.y, l.block.z);
}

std::string ThreadName(const Fiber& f) {
  return Format("thread (%u,%u,%u) (warp %d lane %d)", f.coords.thread_idx.x, f.coords.thread_idx.y,
                f.coords.thread_idx.z, f.warp, f.lane);
}

const char* OpName(WarpOpKind k) {
  switch (k) {
    case kShflXor: return "__shfl_xor_sync";
    case kShflUp: return "__shfl_up_sync";
    case kShflDown: return "__shfl_down_sync";
    case kShflIdx: return "__shfl_sync";
    case kBallot: return "__ballot_sync";
    case kAny: return "__any_sync";
    case kAll: return "__all_sync";
    case kSyncWarp: return "__syncwarp";
  }
  return "warp collective";
}

// Why the block cannot go on although some fibers wait.
std::string DiagnoseStuck(const BlockRun& b) {
  for (const Fiber& f : b.fibers) {
    if (f.state != FiberState::kWarp) continue;
    for (int l = 0; l < 32; ++l) {
      if (!(f.mask & (1u << l))) continue;
      const Fiber& o = b.fibers[static_cast<size_t>(f.warp * 32 + l)];
      if (o.state == FiberState::kWarp) continue;
      const char* why = o.state == FiberState::kDone ? "exited without reaching it"
                                                     : "is waiting at __syncthreads instead";
      return Format("%s by %s with mask 0x%08x never completes: lane %d %s (%s)", OpName(f.kind),
                    ThreadName(f).c_str(), f.mask, l, why, Where(b).c_str());
    }
  }
  int exited = 0;
  const Fiber* first_exited = nullptr;
  for (const Fiber& f : b.fibers)
    if (f.state == FiberState::kDone) {
      ++exited;
      if (first_exited == nullptr) first_exited = &f;
    }
  if (b.arrived > 0 && first_exited != nullptr)
    return Format("__syncthreads reached by %d of %d threads: %d exited without reaching it, the first %s (%s)",
                  b.arrived, b.n, exited, ThreadName(*first_exited).c_str(), Where(b).c_str());
  return Format("block stuck: %d threads waiting, none can run (%s)", b.n - b.done, Where(b).c_str());
}

// ------------------------------------------------------------------ running a block
void RunBlock(Worker& w, LaunchState& l, long long linear_block) {
  // One record per worker, reused: its fiber array never moves or is freed while the worker
  // lives (1024 threads reserved), so no block's fibers read memory the scheduler releases.
  BlockRun& b = w.run;
  if (b.fibers.capacity() < 1024) b.fibers.reserve(1024);
  b.arrived = b.done = 0;
  b.gen = 0;
  b.failed = false;
  b.error = cudaSuccess;
  b.report.clear();
  b.launch = &l;
  const long long gx = l.grid.x, gy = l.grid.y;
  b.block_idx = uint3{static_cast<unsigned>(linear_block % gx), static_cast<unsigned>((linear_block / gx) % gy),
                      static_cast<unsigned>(linear_block / (gx * gy))};
  b.n = static_cast<int>(l.block.x * l.block.y * l.block.z);
  b.warps = (b.n + 31) / 32;
  b.fibers.assign(static_cast<size_t>(b.n), Fiber{});
  b.ready.Reset(b.n);
  b.epoch = static_cast<int>(w.blocks_run++ & 1);
  b.warp_waiting.assign(static_cast<size_t>(b.warps), 0u);
  b.warp_exists.assign(static_cast<size_t>(b.warps), 0u);
  b.warp_ring_next.assign(static_cast<size_t>(b.warps), 0u);
  b.tsan_ring.assign(static_cast<size_t>(b.warps) * kWarpRing, 0);
  w.block = &b;

  // Dynamic shared memory: exactly the launch's bytes, ending at the guard page, filled with
  // 0xff bytes (NaN as floats) so that reading what no thread wrote shows.
  w.smem_bytes = l.smem;
  w.smem_base = w.smem_map + w.smem_region - (l.smem + 15) / 16 * 16;
  if (l.smem > 0) std::memset(w.smem_base, 0xff, l.smem);

  while (w.stacks.size() < static_cast<size_t>(b.n)) w.stacks.push_back(MapStack());
  const size_t page = Page();
  for (int t = 0; t < b.n; ++t) {
    Fiber& f = b.fibers[static_cast<size_t>(t)];
    f.block = &b;
    f.linear = t;
    f.warp = t / 32;
    f.lane = t % 32;
    b.warp_exists[static_cast<size_t>(f.warp)] |= 1u << f.lane;
    f.coords.thread_idx = uint3{static_cast<unsigned>(t % l.block.x), static_cast<unsigned>((t / l.block.x) % l.block.y),
                                static_cast<unsigned>(t / (l.block.x * l.block.y))};
    f.coords.block_idx = b.block_idx;
    f.coords.block_dim = l.block;
    f.coords.grid_dim = l.grid;
    StackSlot& s = w.stacks[static_cast<size_t>(t)];
    f.stack = s.map + page;
    f.stack_bytes = s.map_bytes - page;
#if CUDASIM_ASAN
    __asan_unpoison_memory_region(f.stack, f.stack_bytes);  // frames of abandoned fibers
#endif
#if CUDASIM_TSAN
    f.tsan_fiber = __tsan_create_fiber(0);
#endif
    f.sp = PrepareStack(f.stack, f.stack_bytes, FiberEntry, &f);
    b.ready.push_back(t);
  }

  // The set-up above (fiber records, the dynamic shared memory fill) precedes every fiber.
  TsanRelease(&w.tsan_epoch[b.epoch ^ 1]);
  while (!b.ready.empty() && !b.failed) {
    const int t = b.ready.pop_front();
    Fiber* f = &b.fibers[static_cast<size_t>(t)];
    f->state = FiberState::kReady;
    SwitchToFiber(w, f);
  }
  TsanAcquire(&w.tsan_epoch[b.epoch]);  // the scheduler now follows every fiber that ended
  if (!b.failed && b.done != b.n) {
    b.failed = true;
    b.error = cudaErrorLaunchFailure;
    b.report = DiagnoseStuck(b);
  }

#if CUDASIM_TSAN
  for (Fiber& f : b.fibers) __tsan_destroy_fiber(f.tsan_fiber);
  // Fresh stacks for the next block: munmap clears TSan's shadow of the old frames, which
  // would otherwise look like races between fibers of different blocks.
  for (StackSlot& s : w.stacks) munmap(s.map, s.map_bytes);
  w.stacks.clear();
#endif
  w.block = nullptr;
  if (b.failed) {
    std::lock_guard<std::mutex> lock(l.error_mu);
    if (l.error == cudaSuccess) {
      l.error = b.error;
      l.report = b.report;
    }
    l.failed.store(true);
  }
}

Worker* WorkerForThisThread() {
  if (t_worker != nullptr) return t_worker;
  Worker* w = new Worker();
  const size_t page = Page();
  w->smem_region = (static_cast<size_t>(Profile().smem_per_block_optin) + page - 1) / page * page;
  void* m = mmap(nullptr, w->smem_region + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) std::abort();
  w->smem_map = static_cast<char*>(m);
  mprotect(w->smem_map + w->smem_region, page, PROT_NONE);
  // Fault reports run on an alternate stack (a fiber's own may be the one that overflowed).
  const size_t alt = 64 * 1024;
  w->altstack = static_cast<char*>(std::malloc(alt));
  stack_t ss{};
  ss.ss_sp = w->altstack;
  ss.ss_size = alt;
  sigaltstack(&ss, nullptr);
#if CUDASIM_TSAN
  w->sched_tsan = __tsan_get_current_fiber();
#endif
  t_worker = w;
  return w;
}

// ------------------------------------------------------------------ the worker pool
// Blocks never run on the launching thread, so its signal set-up (the .NET runtime's, say)
// is left alone.
class Pool {
 public:
  static Pool& Get() {
    static Pool* p = new Pool(WorkerThreads());  // never destroyed: workers may outlive statics
    return *p;
  }

  void Run(LaunchState& l) {
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &l;
    ++generation_;
    busy_ = static_cast<int>(threads_.size());
    cv_.notify_all();
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
  }

 private:
  explicit Pool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
    for (auto& t : threads_) t.detach();
  }

  void Loop() {
    Worker& w = *WorkerForThisThread();
    unsigned long long seen = 0;
    for (;;) {
      LaunchState* l;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        l = job_;
      }
      for (;;) {
        if (l->failed.load()) break;
        const long long b = l->next_block.fetch_add(1);
        if (b >= l->total_blocks) break;
        RunBlock(w, *l, b);
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> threads_;
  LaunchState* job_ = nullptr;
  unsigned long long generation_ = 0;
  int busy_ = 0;
};

// ------------------------------------------------------------------ kernel attributes, log
struct KernelTable {
  std::mutex mu;
  std::unordered_map<const void*, int> max_dynamic_smem;
  std::vector<LaunchRecord> log;
  size_t log_next = 0;
};
KernelTable& Kernels() {
  static KernelTable* t = new KernelTable();
  return *t;
}
constexpr int kDefaultDynamicSmem = 48 * 1024;
constexpr size_t kLogCap = 4096;

int MaxDynamicSmem(const void* func) {
  KernelTable& k = Kernels();
  std::lock_guard<std::mutex> lock(k.mu);
  auto it = k.max_dynamic_smem.find(func);
  return it == k.max_dynamic_smem.end() ? kDefaultDynamicSmem : it->second;
}

void Log(const LaunchRecord& r) {
  KernelTable& k = Kernels();
  std::lock_guard<std::mutex> lock(k.mu);
  if (k.log.size() < kLogCap) {
    k.log.push_back(r);
  } else {
    k.log[k.log_next] = r;
    k.log_next = (k.log_next + 1) % kLogCap;
  }
}

std::atomic<int> g_registers_per_thread{0};

std::mutex& LaunchMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

}  // namespace internal

using internal::Format;

int internal::WorkerThreads() {
  if (const char* v = std::getenv("CAPRESE_CUDASIM_THREADS")) {
    const int n = std::atoi(v);
    if (n >= 1) return std::min(n, 64);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::max(1u, std::min(hw, 8u)));
}

// ------------------------------------------------------------------ device-side entry points
const ThreadCoords& Coords() {
  internal::Worker* w = internal::t_worker;
  if (w == nullptr || w->current == nullptr) {
    std::fprintf(stderr, "cuda-sim: threadIdx/blockIdx read outside a kernel\n");
    std::abort();
  }
  return w->current->coords;
}

void* DynamicSharedMemory() {
  internal::Worker* w = internal::t_worker;
  return w != nullptr ? w->smem_base : nullptr;
}

void SyncThreads() {
  internal::Worker& w = *internal::t_worker;
  internal::Fiber* f = w.current;
  internal::BlockRun* b = f->block;
  const unsigned g = b->gen;
  internal::TsanRelease(&b->tsan_barrier[g & 1]);
  if (++b->arrived == b->n) {
    b->arrived = 0;
    ++b->gen;
    for (internal::Fiber& o : b->fibers)
      if (o.state == internal::FiberState::kBarrier) {
        o.state = internal::FiberState::kReady;
        b->ready.push_back(o.linear);
      }
  } else {
    f->state = internal::FiberState::kBarrier;
    internal::SwitchToScheduler(w, f, false);
  }
  internal::TsanAcquire(&b->tsan_barrier[g & 1]);
}

uint64_t WarpCollective(WarpOpKind kind, unsigned mask, uint64_t value, int arg, int width) {
  internal::Worker& w = *internal::t_worker;
  internal::Fiber* f = w.current;
  internal::BlockRun* b = f->block;
  const unsigned bit = 1u << f->lane;
  const size_t wi = static_cast<size_t>(f->warp);
  if (!(mask & bit))
    internal::FailBlock(w, f, cudaErrorLaunchFailure,
                        Format("%s by %s with mask 0x%08x, which does not include the calling lane (%s)",
                               internal::OpName(kind), internal::ThreadName(*f).c_str(), mask,
                               internal::Where(*b).c_str()));
  if (mask & ~b->warp_exists[wi]) {
    const int missing = __builtin_ctz(mask & ~b->warp_exists[wi]);
    internal::FailBlock(w, f, cudaErrorLaunchFailure,
                        Format("%s by %s with mask 0x%08x names lane %d, which does not exist (the block has %d "
                               "threads) (%s)",
                               internal::OpName(kind), internal::ThreadName(*f).c_str(), mask, missing, b->n,
                               internal::Where(*b).c_str()));
  }
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    internal::FailBlock(w, f, cudaErrorLaunchFailure,
                        Format("%s with width %d (must be a power of two <= 32) (%s)", internal::OpName(kind), width,
                               internal::Where(*b).c_str()));
  f->kind = kind;
  f->mask = mask;
  f->value = value;
  f->arg = arg;
  f->width = width;
  f->state = internal::FiberState::kWarp;
  internal::TsanRelease(&f->tsan_sync);
  b->warp_waiting[wi] |= bit;
  if ((b->warp_waiting[wi] & mask) == mask) {
    // Every lane of the mask is here: check they agree, then compute every lane's result.
    internal::Fiber* lanes = &b->fibers[wi * 32];
    for (int l = 0; l < 32; ++l) {
      if (!(mask & (1u << l))) continue;
      const internal::Fiber& o = lanes[l];
      if (o.kind != kind || o.mask != mask)
        internal::FailBlock(w, f, cudaErrorLaunchFailure,
                            Format("lanes of warp %d disagree: lane %d is at %s with mask 0x%08x, lane %d at %s with "
                                   "mask 0x%08x (%s)",
                                   f->warp, f->lane, internal::OpName(kind), mask, l, internal::OpName(o.kind), o.mask,
                                   internal::Where(*b).c_str()));
      internal::TsanAcquire(&lanes[l].tsan_sync);
    }
    uint64_t ballot = 0;
    for (int l = 0; l < 32; ++l)
      if ((mask & (1u << l)) && lanes[l].value != 0) ballot |= 1ull << l;
    for (int l = 0; l < 32; ++l) {
      if (!(mask & (1u << l))) continue;
      internal::Fiber& o = lanes[l];
      const int seg = l & ~(width - 1);
      int src = l;
      switch (kind) {
        case kShflXor: src = l ^ (arg & 31); if ((src & ~(width - 1)) > seg) src = l; break;
        case kShflUp: src = l - arg; if (src < seg) src = l; break;
        case kShflDown: src = l + arg; if (src >= seg + width) src = l; break;
        case kShflIdx: src = seg + (((arg % width) + width) % width); break;
        default: break;
      }
      if (kind <= kShflIdx) {
        if (!(mask & (1u << src)))
          internal::FailBlock(w, f, cudaErrorLaunchFailure,
                              Format("%s: lane %d reads lane %d, which is not in the mask 0x%08x (its value is "
                                     "undefined on a GPU) (%s)",
                                     internal::OpName(kind), l, src, mask, internal::Where(*b).c_str()));
        o.result = lanes[src].value;
      } else if (kind == kBallot) {
        o.result = ballot;
      } else if (kind == kAny) {
        o.result = ballot != 0;
      } else if (kind == kAll) {
        o.result = ballot == mask;
      } else {
        o.result = 0;
      }
    }
    const unsigned slot = b->warp_ring_next[wi]++ % internal::kWarpRing;
    for (int l = 0; l < 32; ++l)
      if (mask & (1u << l)) lanes[l].sync_slot = static_cast<int>(slot);
    internal::TsanRelease(&b->tsan_ring[wi * internal::kWarpRing + slot]);
    b->warp_waiting[wi] &= ~mask;
    for (int l = 0; l < 32; ++l) {
      if (!(mask & (1u << l)) || l == f->lane) continue;
      lanes[l].state = internal::FiberState::kReady;
      b->ready.push_back(lanes[l].linear);
    }
    f->state = internal::FiberState::kReady;
  } else {
    internal::SwitchToScheduler(w, f, false);
  }
  internal::TsanAcquire(&b->tsan_ring[wi * internal::kWarpRing + static_cast<size_t>(f->sync_slot)]);
  return f->result;
}

// ------------------------------------------------------------------ host-side entry points
cudaError_t FuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (func == nullptr) return internal::Record(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: NULL kernel");
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return internal::Record(cudaErrorInvalidValue, Format("cudaFuncSetAttribute: attribute %d is not simulated", attr));
  const int optin = Profile().smem_per_block_optin;
  if (value < 0 || value > optin)
    return internal::Record(cudaErrorInvalidValue,
                            Format("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, %d): the %s allows at most %d "
                                   "bytes per block", value, Profile().name, optin));
  internal::KernelTable& k = internal::Kernels();
  std::lock_guard<std::mutex> lock(k.mu);
  k.max_dynamic_smem[func] = value;
  return cudaSuccess;
}

void SetRegistersPerThread(int registers) { internal::g_registers_per_thread.store(registers); }
int RegistersPerThread() {
  const int set = internal::g_registers_per_thread.load();
  if (set > 0) return set;
  if (const char* v = std::getenv("CAPRESE_CUDASIM_REGISTERS")) {
    const int r = std::atoi(v);
    if (r > 0) return std::min(r, 255);
  }
  return 32;
}

cudaError_t OccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, const void* func, int block_size,
                                                      size_t dynamic_smem) {
  if (blocks == nullptr || func == nullptr || block_size < 1 || block_size > 1024)
    return internal::Record(cudaErrorInvalidValue, "cudaOccupancyMaxActiveBlocksPerMultiprocessor: bad arguments");
  const DeviceProfile& p = Profile();
  const int warps = (block_size + 31) / 32;
  int n = p.max_blocks_per_multiprocessor;
  n = std::min(n, p.max_threads_per_multiprocessor / (warps * 32));
  n = std::min(n, p.registers_per_multiprocessor / (warps * 32 * RegistersPerThread()));
  if (dynamic_smem > 0) n = std::min<long long>(n, p.smem_per_multiprocessor / static_cast<long long>(dynamic_smem + 1024));
  if (static_cast<int>(dynamic_smem) > internal::MaxDynamicSmem(func)) n = 0;
  *blocks = std::max(0, n);
  return cudaSuccess;
}

std::vector<LaunchRecord> LaunchLog() {
  internal::KernelTable& k = internal::Kernels();
  std::lock_guard<std::mutex> lock(k.mu);
  std::vector<LaunchRecord> out;
  for (size_t i = 0; i < k.log.size(); ++i) out.push_back(k.log[(k.log_next + i) % k.log.size()]);
  return out;
}
void ClearLaunchLog() {
  internal::KernelTable& k = internal::Kernels();
  std::lock_guard<std::mutex> lock(k.mu);
  k.log.clear();
  k.log_next = 0;
}

namespace {
// Runs one grid now: the simulated threads, then the canary check. Errors go to the calling
// thread's last error (and the launch log), as a launch's do.
cudaError_t RunGrid(const void* func, LaunchSite site, dim3 grid, dim3 block, size_t dynamic_smem, KernelThunk thunk,
                    void* closure) {
  LaunchRecord rec{func, site.file, site.line, grid, block, dynamic_smem, cudaSuccess};
  auto finish = [&](cudaError_t err, const std::string& detail) {
    rec.result = err;
    internal::Log(rec);
    if (err != cudaSuccess) internal::Fault(err, detail);
    return err;
  };
  std::lock_guard<std::mutex> one_at_a_time(internal::LaunchMutex());
  internal::InstallFaultHandler();
  internal::LaunchState l;
  l.func = func;
  l.site = site;
  l.grid = grid;
  l.block = block;
  l.smem = dynamic_smem;
  l.thunk = thunk;
  l.closure = closure;
  l.total_blocks = static_cast<long long>(grid.x) * grid.y * grid.z;
  internal::TsanRelease(&l.tsan_start);
  internal::Pool::Get().Run(l);
  internal::TsanAcquire(&l.tsan_end);
  if (l.failed.load()) return finish(l.error, l.report);
  std::string report;
  if (!internal::CheckCanaries(&report))
    return finish(cudaErrorIllegalAddress, Format("%s, by the kernel launched at %s:%d", report.c_str(), site.file,
                                                  site.line));
  return finish(cudaSuccess, std::string());
}
}  // namespace

void LaunchKernel(const void* func, LaunchSite site, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
                  KernelThunk thunk, std::shared_ptr<void> closure) {
  LaunchRecord rec{func, site.file, site.line, grid, block, dynamic_smem, cudaSuccess};
  auto refuse = [&](cudaError_t err, const std::string& detail) {
    rec.result = err;
    internal::Log(rec);
    internal::Record(err, Format("kernel launched at %s:%d: ", site.file, site.line) + detail);
  };
  const long long threads = static_cast<long long>(block.x) * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0 || threads > 1024 ||
      block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return refuse(cudaErrorInvalidConfiguration,
                  Format("grid %ux%ux%u, block %ux%ux%u is outside the device's limits (block <= 1024 threads, "
                         "z <= 64; grid y, z <= 65535; no zero)",
                         grid.x, grid.y, grid.z, block.x, block.y, block.z));
  const int allowed = internal::MaxDynamicSmem(func);
  if (dynamic_smem > static_cast<size_t>(allowed))
    return refuse(cudaErrorInvalidValue,
                  Format("%zu bytes of dynamic shared memory requested, the kernel allows %d (%s without "
                         "cudaFuncSetAttribute(MaxDynamicSharedMemorySize); the %s's opt-in maximum is %d)",
                         dynamic_smem, allowed, allowed == internal::kDefaultDynamicSmem ? "the 48 KiB default" : "set",
                         Profile().name, Profile().smem_per_block_optin));
  if (!internal::ValidStream(stream)) return refuse(cudaErrorInvalidResourceHandle, "the stream was destroyed or never created");
  cudaError_t injected = cudaSuccess;
  if (internal::TakeInjectedLaunchError(&injected)) return refuse(injected, "launch failure injected by the test");
  // Captured: the grid runs at each launch of the graph, on the arguments copied now.
  if (internal::CaptureIfCapturing(stream, [=]() { return RunGrid(func, site, grid, block, dynamic_smem, thunk, closure.get()); }))
    return;
  RunGrid(func, site, grid, block, dynamic_smem, thunk, closure.get());
}

}  // namespace cudasim
