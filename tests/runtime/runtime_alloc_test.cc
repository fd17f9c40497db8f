// "No heap allocation per event on the path from decoded event to alert":
// once the batches, rings and profiles are warm, feeding the sharded runtime
// more of the same traffic allocates (almost) nothing, on any thread.
//
// Counts every operator new of the process, so it lives in its own binary
// and is skipped under sanitizers (they bring their own allocator).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "alert/finding.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// The replacement operator new takes its memory from malloc, so free is the
// matching release; GCC 12 at -O3 sees the inlined pair and warns anyway.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#define CREDWATCH_COUNTING_NEW 1
#endif

namespace credwatch::runtime {
namespace {

TEST(RuntimeAllocation, SteadyStateAllocatesNothingPerEvent) {
#if !defined(CREDWATCH_COUNTING_NEW)
  GTEST_SKIP() << "sanitizer build: allocations are not counted";
#else
  rules::RuleSource src;
  src.name = "never.yml";
  src.text =
      "title: Never\nid: 00000000-0000-4000-8000-0000000000ff\nlogsource:\n  product: credwatch\n"
      "detection:\n  selection:\n    kind: transfer\n  condition: selection\nlevel: low\n";
  auto set = rules::CompileRuleSet({src});
  ASSERT_TRUE(set.ok()) << set.status();
  RuleSetPublisher publisher(*set);
  auto site = Site::Create(SiteConfig{});
  ASSERT_TRUE(site.ok());

  ShardedDetectorOptions o;
  o.shards = 3;
  o.batch_events = 64;
  o.ring_batches = 2;
  o.site = *site;
  o.rules = &publisher;
  uint64_t findings = 0;
  ShardedDetector detector(o, [&findings](const alert::Finding&) { ++findings; });

  std::vector<std::string> names;
  for (int i = 0; i < 48; ++i) names.push_back("t00" + std::to_string(i % 7) + "-user" + std::to_string(i));
  const int64_t t0 = int64_t{1736000000} * 1'000'000'000;
  int64_t t = t0;
  auto feed = [&](int events) {
    for (int i = 0; i < events; ++i, t += 1'000'000) {
      Event e;
      e.time_ns = t;
      e.format = "native";
      e.host = "sftp01";
      e.source = "/var/log/journal/test.json";
      e.src_ip = *IpAddress::Parse("10.1.2.3");
      e.src_ip_text = "10.1.2.3";
      if (i % 100 == 99) {  // a host flow: attributed to every live session
        e.kind = Kind::kNetwork;
        e.action = Action::kSend;
        e.dst_ip = *IpAddress::Parse("198.51.100.9");
        e.bytes = 1000;
      } else {
        e.kind = Kind::kAccess;
        e.action = i % 10 == 0 ? Action::kLogin : Action::kRead;
        e.outcome = Outcome::kSuccess;
        e.credential = names[static_cast<size_t>(i) % names.size()];
        e.session = "s1";
        e.object = "/srv/ehr/t001/a.csv";
        e.bytes = 4096;
      }
      detector.OnEvent(e);
      if (i % 500 == 499) detector.OnWatermark(t - 1'000'000'000);
    }
  };
  feed(60'000);  // warm: profiles, sessions, every batch of the pool
  detector.Flush();
  const uint64_t before = g_allocations.load();
  constexpr int kEvents = 60'000;
  feed(kEvents);
  detector.Flush();
  const uint64_t allocations = g_allocations.load() - before;
  detector.Finish();
  EXPECT_EQ(findings, 0u);
  // A batch first used after the warm-up may still grow its vectors once;
  // nothing may scale with the events.
  EXPECT_LT(allocations, 200u) << allocations << " allocations for " << kEvents << " events";
  std::printf("allocations in steady state: %llu for %d events\n",
              static_cast<unsigned long long>(allocations), kEvents);
#endif
}

}  // namespace
}  // namespace credwatch::runtime
