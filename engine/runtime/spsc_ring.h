// SpscRing: a bounded, lock-free queue between exactly one producer thread
// and one consumer thread. The runtime's threads talk only through these
// (design.md, "Data flow"): a full ring blocks its producer (backpressure),
// nothing is ever dropped.
//
//   SpscRing<Batch*> ring(8);
//   // producer thread             // consumer thread
//   ring.Push(batch);              Batch* b;
//   ...                            while (ring.Pop(&b)) Handle(b);
//   ring.Close();                  // Pop returns false once closed and drained
//
// Blocking Push / Pop spin briefly, then sleep on a Doorbell. A thread that
// serves several rings passes its own doorbell as the ring's producer or
// consumer bell (Bells), uses the non-blocking TryPush / Front / PopFront on
// all of them, and sleeps on that one doorbell until any of them moves.
//
// Thread-safety: the producer-side calls (TryPush, Push, Full, FreeSlots)
// from one thread, the consumer-side calls (Front, PopFront, TryPop, Pop,
// Empty) from one thread; Close from either side, once. No locks, no
// allocation after construction.
//
// Invariants (the lock-free argument):
//   I1  tail_ is written only by the producer, head_ only by the consumer;
//       both only grow (64-bit counters: they never wrap in practice).
//   I2  0 <= tail_ - head_ <= capacity. Slot s = i & mask_ holds element i
//       for head_ <= i < tail_ (owned by the consumer); every other slot is
//       owned by the producer.
//   I3  The producer writes slot tail_ & mask_, then stores tail_ + 1 with
//       release; the consumer loads tail_ with acquire before reading a
//       slot, so it sees the element completely written (and everything the
//       producer wrote before pushing, e.g. the batch a pointer points to).
//   I4  The consumer moves the element out of slot head_ & mask_, then
//       stores head_ + 1 with release; the producer loads head_ with acquire
//       before reusing that slot, so the consumer is done with it.
//   I5  cached_head_ (producer's copy) <= head_ and cached_tail_ (consumer's
//       copy) <= tail_: a stale copy only makes the ring look fuller (to the
//       producer) or emptier (to the consumer); each side reloads the real
//       index before it gives up.
//   I6  head_/cached_tail_ and tail_/cached_head_ live on separate cache
//       lines, so the two threads do not false-share their indices.
//   I7  closed_ is set once, after the closing side's last push (release);
//       a consumer that sees closed_ re-reads tail_ before reporting the end,
//       so elements pushed before Close are never lost.
#ifndef CREDWATCH_RUNTIME_SPSC_RING_H_
#define CREDWATCH_RUNTIME_SPSC_RING_H_

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

#include "runtime/doorbell.h"

namespace credwatch::runtime {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Before a blocking call sleeps it spins (a peer about to publish), then
// yields (a peer that shares this core and needs it to publish), then sleeps
// on its doorbell. Short enough not to burn a shared core.
inline constexpr int kSpinsBeforeYield = 64;
inline constexpr int kSpinsBeforeSleep = kSpinsBeforeYield + 16;

// One step of that backoff; false when it is time to sleep.
inline bool Backoff(int* spins) {
  if (*spins >= kSpinsBeforeSleep) return false;
  if ((*spins)++ < kSpinsBeforeYield) {
    CpuRelax();
  } else {
    std::this_thread::yield();
  }
  return true;
}

template <typename T>
class SpscRing {
 public:
  // Doorbells to ring when the ring moves: `producer` is rung when an element
  // is popped (space appeared) or on Close, `consumer` when one is pushed or
  // on Close. Null = the ring's own (enough for blocking Push / Pop).
  struct Bells {
    Doorbell* producer = nullptr;
    Doorbell* consumer = nullptr;
  };

  // `capacity` is rounded up to a power of two (at least 2).
  explicit SpscRing(size_t capacity, Bells bells = {}) {
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    mask_ = cap - 1;
    slots_ = std::make_unique<T[]>(cap);
    producer_bell_ = bells.producer ? bells.producer : &own_producer_bell_;
    consumer_bell_ = bells.consumer ? bells.consumer : &own_consumer_bell_;
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // ---- producer side ----

  // Appends `value` unless the ring is full (then `value` is left as it was).
  bool TryPush(T&& value) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - cached_head_ > mask_) {
      cached_head_ = head_.load(std::memory_order_acquire);  // I4, I5
      if (tail - cached_head_ > mask_) return false;
    }
    slots_[tail & mask_] = std::move(value);
    tail_.store(tail + 1, std::memory_order_release);  // I3
    consumer_bell_->Ring();
    return true;
  }
  bool TryPush(const T& value) {
    T copy = value;
    return TryPush(std::move(copy));
  }

  // Appends `value`, waiting while the ring is full. False if the ring was
  // closed (the value is dropped: pushing after Close is a caller's bug).
  bool Push(T value) {
    for (int spins = 0;;) {
      if (closed_.load(std::memory_order_relaxed)) return false;
      if (TryPush(std::move(value))) return true;
      if (Backoff(&spins)) continue;
      const uint32_t key = producer_bell_->PrepareWait();
      if (!Full() || closed_.load(std::memory_order_acquire)) {
        producer_bell_->CancelWait();
        continue;
      }
      producer_bell_->Wait(key);
    }
  }

  // Producer only: no slot is free right now.
  bool Full() {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - cached_head_ <= mask_) return false;
    cached_head_ = head_.load(std::memory_order_acquire);
    return tail - cached_head_ > mask_;
  }

  // ---- consumer side ----

  // The oldest element, or null when the ring is empty. Stays valid (and in
  // the ring) until PopFront.
  T* Front() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == cached_tail_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);  // I3, I5
      if (head == cached_tail_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  // Removes the element Front returned (there must be one).
  void PopFront() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    assert(head != cached_tail_);
    head_.store(head + 1, std::memory_order_release);  // I4
    producer_bell_->Ring();
  }
  bool TryPop(T* out) {
    T* front = Front();
    if (front == nullptr) return false;
    *out = std::move(*front);
    PopFront();
    return true;
  }
  // Takes the oldest element, waiting while the ring is empty. False once
  // the ring is closed and every element pushed before Close was taken.
  bool Pop(T* out) {
    for (int spins = 0;;) {
      if (TryPop(out)) return true;
      if (closed_.load(std::memory_order_acquire)) return TryPop(out);  // I7
      if (Backoff(&spins)) continue;
      const uint32_t key = consumer_bell_->PrepareWait();
      if (Front() != nullptr || closed_.load(std::memory_order_acquire)) {
        consumer_bell_->CancelWait();
        continue;
      }
      consumer_bell_->Wait(key);
    }
  }

  // ---- either side ----

  // No more pushes: wakes a consumer blocked in Pop (which then drains the
  // ring and returns false) and a producer blocked in Push (which returns
  // false).
  void Close() {
    closed_.store(true, std::memory_order_release);
    consumer_bell_->Ring();
    producer_bell_->Ring();
  }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  static constexpr size_t kCacheLine = 64;

  // Consumer's line.
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  // Producer's line.
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  // Shared, read-mostly.
  alignas(kCacheLine) std::atomic<bool> closed_{false};
  size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
  Doorbell* producer_bell_ = nullptr;
  Doorbell* consumer_bell_ = nullptr;
  // Rung by the other side on every pop / push: a line each (I6).
  alignas(kCacheLine) Doorbell own_producer_bell_;
  alignas(kCacheLine) Doorbell own_consumer_bell_;
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_SPSC_RING_H_
