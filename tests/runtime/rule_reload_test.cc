// Rule reload on running shards: a set published on the RuleSetPublisher
// takes effect at one point of the event sequence on every shard, and the old
// set is freed once no shard holds it.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alert/finding.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"

namespace credwatch::runtime {
namespace {

constexpr char kRuleA[] = "00000000-0000-4000-8000-00000000000a";
constexpr char kRuleB[] = "00000000-0000-4000-8000-00000000000b";

std::shared_ptr<const rules::RuleSet> OneRule(const char* id, const char* title) {
  rules::RuleSource src;
  src.name = std::string(title) + ".yml";
  src.text = std::string("title: ") + title + "\nid: " + id +
             "\nlogsource:\n  product: credwatch\ndetection:\n  selection:\n    kind: auth\n"
             "  condition: selection\nlevel: low\n";
  auto set = rules::CompileRuleSet({src});
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : nullptr;
}

// Logins, one credential each, so every event makes one finding.
class Feeder {
 public:
  explicit Feeder(ShardedDetector* d) : detector_(d) {}
  void Feed(int count) {
    for (int i = 0; i < count; ++i, ++next_) {
      const std::string name = "user" + std::to_string(next_);
      Event e;
      e.time_ns = kStart + static_cast<int64_t>(next_) * 1'000'000'000;
      e.kind = Kind::kAuth;
      e.action = Action::kLogin;
      e.outcome = Outcome::kSuccess;
      e.format = "native";
      e.credential = name;
      e.host = "sftp01";
      detector_->OnEvent(e);
      if (next_ % 64 == 63) detector_->OnWatermark(e.time_ns);
    }
  }
  int fed() const { return next_; }

 private:
  static constexpr int64_t kStart = int64_t{1736000000} * 1'000'000'000;
  ShardedDetector* detector_;
  int next_ = 0;
};

struct Seen {
  std::string rule;
  std::string credential;
};

ShardedDetectorOptions Options(RuleSetPublisher* publisher, int shards) {
  ShardedDetectorOptions o;
  o.shards = shards;
  o.batch_events = 4;  // many rounds
  o.ring_batches = 1;
  auto site = Site::Create(SiteConfig{});
  EXPECT_TRUE(site.ok());
  o.site = *site;
  o.rules = publisher;
  return o;
}

TEST(RuntimeRuleReload, SwitchesAtOnePointAndFreesTheOldSet) {
  auto a = OneRule(kRuleA, "A");
  auto b = OneRule(kRuleB, "B");
  ASSERT_TRUE(a && b);
  std::weak_ptr<const rules::RuleSet> old = a;
  RuleSetPublisher publisher(std::move(a));
  std::vector<Seen> seen;  // output thread; read after Finish
  ShardedDetector detector(Options(&publisher, 3), [&](const alert::Finding& f) {
    seen.push_back({f.detection.rule_id, f.detection.credential});
  });
  Feeder feeder(&detector);
  feeder.Feed(100);
  publisher.Publish(std::move(b));
  feeder.Feed(100);
  detector.Flush();
  // Every shard passed the switch: nothing holds the old set any more.
  EXPECT_TRUE(old.expired());
  detector.Finish();
  ASSERT_EQ(seen.size(), 200u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].credential, "user" + std::to_string(i));
    EXPECT_EQ(seen[i].rule, i < 100 ? kRuleA : kRuleB) << i;
  }
  EXPECT_EQ(detector.stats().rule_switches, 1u);
}

// Publish from another thread while the producer feeds: every event is judged
// by exactly one set, all events before the switch by the old one and all
// after it by the new one, on every shard.
TEST(RuntimeRuleReload, PublishWhileShardsRun) {
  auto a = OneRule(kRuleA, "A");
  auto b = OneRule(kRuleB, "B");
  ASSERT_TRUE(a && b);
  RuleSetPublisher publisher(a);
  std::vector<Seen> seen;
  ShardedDetector detector(Options(&publisher, 4), [&](const alert::Finding& f) {
    seen.push_back({f.detection.rule_id, f.detection.credential});
  });
  Feeder feeder(&detector);
  std::atomic<int> progress{0};
  std::thread reloader([&] {
    while (progress.load() < 2000) std::this_thread::yield();
    publisher.Publish(b);
  });
  constexpr int kEvents = 6000;
  for (int i = 0; i < kEvents; i += 100) {
    feeder.Feed(100);
    progress.store(feeder.fed());
    if (i == 4000) reloader.join();  // the switch lands before the end
  }
  detector.Finish();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kEvents));
  size_t first_b = seen.size();
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].credential, "user" + std::to_string(i));
    if (seen[i].rule == kRuleB && first_b == seen.size()) first_b = i;
    EXPECT_EQ(seen[i].rule, i < first_b ? kRuleA : kRuleB) << i;
  }
  EXPECT_GE(first_b, 2000u);
  EXPECT_LE(first_b, 4100u);
}

constexpr char kBrute[] = "00000000-0000-4000-8000-0000000000bf";

// A failed-login rule and a brute-force correlation over it: 5 failures of
// a credential within `timespan`.
std::shared_ptr<const rules::RuleSet> BruteForce(const std::string& timespan) {
  rules::RuleSource src;
  src.name = "brute.yml";
  src.text = std::string(
                 "title: Failed login\nid: 00000000-0000-4000-8000-0000000000fa\nname: failed_login\n"
                 "logsource: {product: credwatch}\ndetection:\n  sel: {action: login, outcome: failure}\n"
                 "  condition: sel\nlevel: low\n---\ntitle: Brute force\nid: ") +
             kBrute +
             "\nlevel: high\ncorrelation: {type: event_count, rules: [failed_login], group-by: [credential], "
             "timespan: " + timespan + ", condition: {gte: 5}}\n";
  auto set = rules::CompileRuleSet({src});
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : nullptr;
}

// A reload in the middle of brute forces on every shard: with the same
// correlation rules the open windows carry over (each fifth failure fires,
// as without a reload); with other correlation rules they start empty.
TEST(RuntimeRuleReload, OpenWindowsCarryOverWhenTheCorrelationsAreTheSame) {
  for (const bool same : {true, false}) {
    SCOPED_TRACE(same ? "same correlations" : "another timespan");
    auto a = BruteForce("10m");
    auto b = BruteForce(same ? "10m" : "20m");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(rules::Evaluator::WindowsCarryOver(a, b), same);
    RuleSetPublisher publisher(a);
    std::vector<std::string> fired;
    ShardedDetector detector(Options(&publisher, 3), [&](const alert::Finding& f) {
      if (f.detection.rule_id == kBrute) fired.push_back(f.detection.credential);
    });
    constexpr int64_t kStart = int64_t{1736000000} * 1'000'000'000;
    int64_t t = kStart;
    auto failures = [&](int each) {
      for (int round = 0; round < each; ++round) {
        for (int c = 0; c < 8; ++c) {
          Event e;
          e.time_ns = (t += 1'000'000'000);
          e.kind = Kind::kAuth;
          e.action = Action::kLogin;
          e.outcome = Outcome::kFailure;
          e.format = "native";
          const std::string name = "victim" + std::to_string(c);
          e.credential = name;
          e.host = "sftp01";
          detector.OnEvent(e);
        }
        detector.OnWatermark(t);
      }
    };
    failures(3);
    publisher.Publish(b);
    failures(2);
    detector.Finish();
    EXPECT_EQ(fired.size(), same ? 8u : 0u);
    EXPECT_EQ(detector.stats().rule_switches, 1u);
  }
}

}  // namespace
}  // namespace credwatch::runtime
