// See signals.h.
#include "signals.h"

#include <omp.h>
#include <pthread.h>

#include <initializer_list>

namespace itpn {

namespace {

/** Every signal but those the CPU raises for a faulting instruction (blocking those is undefined behaviour). */
sigset_t makeAsyncSignals() {
  sigset_t s;
  sigfillset(&s);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&s, sig);
  return s;
}

const sigset_t kAsyncSignals = makeAsyncSignals();

/** Set on threads that block the asynchronous signals for good (OpenMP workers). */
thread_local bool tBlockedForGood = false;

}  // namespace

void blockSignalsInWorkers(int nt) {
  if (nt <= 1) return;
#pragma omp parallel num_threads(nt)
  {
    if (omp_get_thread_num() != 0 && !tBlockedForGood) {
      pthread_sigmask(SIG_BLOCK, &kAsyncSignals, nullptr);
      tBlockedForGood = true;
    }
  }
}

SignalBlock::SignalBlock() : active_(!tBlockedForGood) {
  if (active_) pthread_sigmask(SIG_BLOCK, &kAsyncSignals, &old_);
}

SignalBlock::~SignalBlock() {
  if (active_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace itpn
