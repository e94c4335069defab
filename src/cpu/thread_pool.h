// A persistent thread pool: N-1 worker threads created once plus the calling thread, which takes part.
// parallel_for hands out task indices through one atomic counter and returns when all are done.
// Idle workers spin briefly (a decode step issues hundreds of parallel_for calls a few µs apart),
// then sleep on a futex so an idle pool costs no CPU.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace fathom::cpu {

// Number of CPUs this process may run on (sched_getaffinity), at least 1.
int available_cores();

class ThreadPool {
 public:
  // n_threads <= 0: available_cores(). n_threads == 1 runs everything on the caller.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks), thread in [0, size()). Tasks are claimed
  // dynamically, so uneven tasks balance; a thread index is unique among concurrently running calls
  // (use it to pick per-thread scratch). Must not be called from inside fn (runs serially if it is).
  template <typename Fn>
  void parallel_for(int64_t n_tasks, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int thread);
  void run(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int thread);
  void work(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  // One job at a time: its function, task count and the next unclaimed task.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  alignas(64) std::atomic<int64_t> next_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};  // bumped to start a job; workers futex-wait on it
  alignas(64) std::atomic<int> running_{0};          // workers still inside the current job
  alignas(64) std::atomic<int> sleepers_{0};         // workers parked in futex wait
  std::atomic<bool> stop_{false};
  std::atomic<bool> busy_{false};                    // a job is in flight (nested calls run serially)
};

}  // namespace fathom::cpu
