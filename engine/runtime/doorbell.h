// Doorbell: lets one thread sleep until another has published something,
// without a lock and without a system call when nobody sleeps.
//
//   Doorbell bell;                        // owned by the thread that sleeps
//   // sleeper:
//   while (!TryWork()) {
//     const uint32_t key = bell.PrepareWait();
//     if (TryWork()) { bell.CancelWait(); break; }
//     bell.Wait(key);
//   }
//   // notifier, after publishing (e.g. a release store of a ring index):
//   bell.Ring();
//
// One sleeper per doorbell (the thread that owns it), any number of
// notifiers. A thread that waits on several rings gives all of them the same
// doorbell (SpscRing::Options), so it can sleep on "any of my inputs moved".
//
// Why no wake-up is lost: the sleeper announces itself (waiters_, seq_cst)
// before it reads the epoch and re-checks its condition; a notifier bumps the
// epoch (seq_cst, after its release store of the data) before it reads
// waiters_. In the single total order of those four operations either the
// sleeper's epoch read sees the bump (and, through it, the data: it re-checks
// and does not sleep, or Wait returns at once because the epoch moved), or
// the notifier's waiters_ read sees the sleeper and calls notify_all. No
// standalone fences, which ThreadSanitizer does not model.
#ifndef CREDWATCH_RUNTIME_DOORBELL_H_
#define CREDWATCH_RUNTIME_DOORBELL_H_

#include <atomic>
#include <cstdint>

namespace credwatch::runtime {

class Doorbell {
 public:
  Doorbell() = default;
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  // Sleeper: call before the last check of the condition.
  uint32_t PrepareWait() {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    return epoch_.load(std::memory_order_seq_cst);
  }
  // Sleeper: the condition became true after PrepareWait.
  void CancelWait() { waiters_.fetch_sub(1, std::memory_order_relaxed); }
  // Sleeper: the condition was false; sleeps until a Ring after PrepareWait.
  // May return spuriously: the caller re-checks its condition.
  void Wait(uint32_t key) {
    epoch_.wait(key, std::memory_order_seq_cst);
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Notifier: after publishing what the sleeper waits for.
  void Ring() {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) epoch_.notify_all();
  }

 private:
  std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> waiters_{0};
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_DOORBELL_H_
