// SpscRing and Doorbell: order, bounds, close, blocking, and a stress run
// with a real producer and consumer thread (run it under ThreadSanitizer:
// docs/runtime.md, "Testing").
#include "runtime/spsc_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/doorbell.h"

namespace credwatch::runtime {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr uint64_t kStressItems = 200'000;
#else
constexpr uint64_t kStressItems = 2'000'000;
#endif

TEST(RuntimeSpscRing, CapacityRoundsUpToAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(3).capacity(), 4u);
  EXPECT_EQ(SpscRing<int>(8).capacity(), 8u);
  EXPECT_EQ(SpscRing<int>(1000).capacity(), 1024u);
}

TEST(RuntimeSpscRing, FifoAndBounded) {
  SpscRing<int> ring(4);
  EXPECT_EQ(ring.Front(), nullptr);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.TryPush(i));
  EXPECT_TRUE(ring.Full());
  int rejected = 99;
  EXPECT_FALSE(ring.TryPush(rejected));
  int v = -1;
  ASSERT_TRUE(ring.TryPop(&v));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(ring.Full());
  EXPECT_TRUE(ring.TryPush(4));
  for (int want = 1; want <= 4; ++want) {
    ASSERT_NE(ring.Front(), nullptr);
    EXPECT_EQ(*ring.Front(), want);
    ring.PopFront();
  }
  EXPECT_FALSE(ring.TryPop(&v));
}

TEST(RuntimeSpscRing, WrapsAroundManyTimes) {
  SpscRing<uint64_t> ring(2);
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ring.TryPush(i));
    uint64_t v = 0;
    ASSERT_TRUE(ring.TryPop(&v));
    ASSERT_EQ(v, i);
  }
}

TEST(RuntimeSpscRing, FailedTryPushKeepsTheValue) {
  SpscRing<std::unique_ptr<int>> ring(2);
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(1)));
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  EXPECT_FALSE(ring.TryPush(std::move(third)));
  ASSERT_NE(third, nullptr);  // not moved from
  EXPECT_EQ(*third, 3);
}

TEST(RuntimeSpscRing, CloseDrainsThenEnds) {
  SpscRing<int> ring(4);
  ring.Push(1);
  ring.Push(2);
  ring.Close();
  EXPECT_TRUE(ring.closed());
  EXPECT_FALSE(ring.Push(3));  // after Close: refused
  int v = 0;
  ASSERT_TRUE(ring.Pop(&v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(ring.Pop(&v));
  EXPECT_EQ(v, 2);
  EXPECT_FALSE(ring.Pop(&v));
}

TEST(RuntimeSpscRing, CloseWakesABlockedConsumer) {
  SpscRing<int> ring(4);
  std::atomic<bool> returned{false};
  std::thread consumer([&] {
    int v = 0;
    EXPECT_FALSE(ring.Pop(&v));
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned.load());
  ring.Close();
  consumer.join();
  EXPECT_TRUE(returned.load());
}

TEST(RuntimeSpscRing, FullRingBlocksTheProducerUntilThereIsRoom) {
  SpscRing<int> ring(2);
  ring.Push(0);
  ring.Push(1);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(ring.Push(2));  // blocks: backpressure, not a drop
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(pushed.load());
  int v = -1;
  ASSERT_TRUE(ring.Pop(&v));
  EXPECT_EQ(v, 0);
  producer.join();
  EXPECT_TRUE(pushed.load());
  ASSERT_TRUE(ring.Pop(&v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(ring.Pop(&v));
  EXPECT_EQ(v, 2);
}

TEST(RuntimeSpscRing, CloseWakesABlockedProducer) {
  SpscRing<int> ring(2);
  ring.Push(0);
  ring.Push(1);
  std::thread producer([&] { EXPECT_FALSE(ring.Push(2)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ring.Close();
  producer.join();
}

// Every value arrives once, in order, whatever the interleaving; payloads
// written before a push are visible after the pop (the release/acquire pair).
void Stress(size_t capacity, uint64_t items) {
  struct Payload {
    uint64_t seq = 0;
    uint64_t check = 0;
  };
  SpscRing<Payload*> ring(capacity);
  std::vector<Payload> payloads(items);
  std::thread producer([&] {
    for (uint64_t i = 0; i < items; ++i) {
      payloads[i].seq = i;
      payloads[i].check = i * 2654435761u;
      if (!ring.Push(&payloads[i])) {
        ADD_FAILURE() << "push refused";
        break;
      }
    }
    ring.Close();
  });
  uint64_t expect = 0;
  Payload* p = nullptr;
  while (ring.Pop(&p)) {
    ASSERT_EQ(p->seq, expect);
    ASSERT_EQ(p->check, expect * 2654435761u);
    ++expect;
  }
  producer.join();
  EXPECT_EQ(expect, items);
}

// A ring of two is full or empty most of the time: both sides block and wake
// constantly (slow on a busy machine, hence fewer items).
TEST(RuntimeSpscRingStress, TinyRing) { Stress(2, kStressItems / 20); }
TEST(RuntimeSpscRingStress, LargeRing) { Stress(1024, kStressItems); }

// One consumer serving two rings through one doorbell (the shard loop's
// pattern): it sleeps until either ring moves and loses no wake-up.
TEST(RuntimeSpscRingStress, OneDoorbellForTwoRings) {
  Doorbell bell;
  SpscRing<uint64_t> a(4, {nullptr, &bell});
  SpscRing<uint64_t> b(4, {nullptr, &bell});
  constexpr uint64_t kItems = kStressItems / 4;
  auto produce = [kItems](SpscRing<uint64_t>* ring) {
    for (uint64_t i = 0; i < kItems && ring->Push(i); ++i) {
    }
    ring->Close();
  };
  std::thread pa(produce, &a);
  std::thread pb(produce, &b);
  uint64_t next_a = 0, next_b = 0;
  bool a_done = false, b_done = false;
  auto try_work = [&] {
    bool worked = false;
    uint64_t v = 0;
    while (a.TryPop(&v)) {
      EXPECT_EQ(v, next_a++);
      worked = true;
    }
    while (b.TryPop(&v)) {
      EXPECT_EQ(v, next_b++);
      worked = true;
    }
    if (!a_done && a.closed() && a.Front() == nullptr) a_done = worked = true;
    if (!b_done && b.closed() && b.Front() == nullptr) b_done = worked = true;
    return worked;
  };
  while (!(a_done && b_done)) {
    if (try_work()) continue;
    const uint32_t key = bell.PrepareWait();
    if (try_work()) {
      bell.CancelWait();
      continue;
    }
    bell.Wait(key);
  }
  pa.join();
  pb.join();
  EXPECT_EQ(next_a, kItems);
  EXPECT_EQ(next_b, kItems);
}

}  // namespace
}  // namespace credwatch::runtime
