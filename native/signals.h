// Signals and oneDNN's JIT sgemm. While jit_avx512_common_gemm_f32 runs, it points rsp into a heap buffer; a signal
// handled on that thread then writes its frame into the heap and corrupts it (oneDNN issue #4845). Here that showed as
// "corrupted size vs. prev_size" aborts under `node --cpu-prof` (SIGPROF), and a terminal resize (SIGWINCH), a child
// exiting (SIGCHLD) or Ctrl+C could do the same mid-training. So the asynchronous signals are blocked for good on the
// OpenMP worker threads, and held pending on the calling thread while a oneDNN product runs.
#pragma once

#include <signal.h>

namespace itpn {

/** Blocks the asynchronous signals on every worker of an nt-thread OpenMP team (call again when the team grows). */
void blockSignalsInWorkers(int nt);

/** Holds the asynchronous signals pending on this thread for the guard's lifetime (no-op on worker threads). */
class SignalBlock {
 public:
  SignalBlock();
  ~SignalBlock();
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t old_;
  bool active_;
};

}  // namespace itpn
