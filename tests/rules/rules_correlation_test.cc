// Correlation rules on event time: every type, windows and their edges,
// group-by and aliases, chains, generate, bounded state, sharding and
// determinism.
#include <string>

#include "gtest/gtest.h"
#include "rules/rules_test_util.h"

namespace credwatch::rules {
namespace {

using testing::CountRule;
using testing::EventFactory;
using testing::MustCompile;
using testing::RunEvents;

// Base rules every test shares.
constexpr const char* kBase = R"(title: Failed login
id: failed-login
name: failed_login
level: low
tags: [attack.t1110]
logsource: {product: credwatch}
detection:
  sel: {action: login, outcome: failure}
  condition: sel
---
title: Successful login
id: login-ok
name: login_ok
logsource: {product: credwatch}
detection:
  sel: {action: login, outcome: success}
  condition: sel
---
title: Read
id: read
name: read
logsource: {product: credwatch}
detection:
  sel: {action: read}
  condition: sel
---
title: Send
id: send
name: send
logsource: {product: credwatch}
detection:
  sel: {action: send}
  condition: sel
)";

std::string With(const std::string& correlations) {
  return std::string(kBase) + "---\n" + correlations;
}

class CorrelationTest : public ::testing::Test {
 protected:
  Event Login(int64_t t_sec, std::string_view who, bool ok) {
    Event e = f_.Native(t_sec);
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = ok ? Outcome::kSuccess : Outcome::kFailure;
    e.credential = f_.S(who);
    return e;
  }
  Event Read(int64_t t_sec, std::string_view who, std::string_view object_tenant = "",
             int64_t bytes = -1) {
    Event e = f_.Native(t_sec);
    e.kind = Kind::kAccess;
    e.action = Action::kRead;
    e.credential = f_.S(who);
    e.object_tenant = f_.S(object_tenant);
    if (!object_tenant.empty())
      e.object = f_.S(std::string("/data/") + std::string(object_tenant) + "/f.csv");
    e.bytes = bytes;
    return e;
  }
  EventFactory f_;
};

constexpr int64_t kMin = 60;
constexpr int64_t kHour = 3600;

TEST_F(CorrelationTest, EventCountInSlidingEventTimeWindow) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
level: high
correlation:
  type: event_count
  rules: failed_login
  group-by: credential
  timespan: 1m
  condition: {gte: 3}
)"));
  ASSERT_TRUE(set);
  // Three failures within 59 s: fires on the third, in event time.
  auto d = RunEvents(
      set, {Login(0, "alice", false), Login(30, "alice", false), Login(59, "alice", false)});
  ASSERT_EQ(CountRule(d, "brute"), 1);
  EXPECT_EQ(d.back().time_ns, testing::kT0 + 59 * kNsPerSecond);
  EXPECT_EQ(d.back().group_key, "alice");
  EXPECT_EQ(d.back().first_seen_ns, testing::kT0);
  EXPECT_EQ(d.back().severity, Severity::kHigh);
  EXPECT_EQ(d.back().attacks, (std::vector<std::string>{"T1110"}));  // from the referenced rule
  // The base rule is referenced with generate: false, so it emits nothing.
  EXPECT_EQ(CountRule(d, "failed-login"), 0);
  // Spread over 61 s: the first has left the window.
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "alice", false), Login(30, "alice", false),
                                      Login(61, "alice", false)}),
                      "brute"),
            0);
  // Exactly one timespan apart still counts (the window is inclusive).
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "alice", false), Login(30, "alice", false),
                                      Login(60, "alice", false)}),
                      "brute"),
            1);
  // Other credentials and successes do not count.
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "alice", false), Login(1, "bob", false),
                                      Login(2, "alice", true), Login(3, "alice", false)}),
                      "brute"),
            0);
}

TEST_F(CorrelationTest, EventCountStartsOverAfterFiring) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation: {type: event_count, rules: [failed_login], group-by: [credential], timespan: 10m, condition: {gte: 2}}
)"));
  ASSERT_TRUE(set);
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) events.push_back(Login(i, "alice", false));
  EXPECT_EQ(CountRule(RunEvents(set, events), "brute"), 2);  // events 2 and 4
}

TEST_F(CorrelationTest, LateEventsInsideTheWindowCount) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation: {type: event_count, rules: [failed_login], group-by: [credential], timespan: 1m, condition: {gte: 3}}
)"));
  ASSERT_TRUE(set);
  // Arrival order 50, 10, 30: all inside one minute of event time.
  EXPECT_EQ(CountRule(RunEvents(set, {Login(50, "a", false), Login(10, "a", false),
                                      Login(30, "a", false)}),
                      "brute"),
            1);
  // Arrival 100, then 10 and 30 (more than a minute before the newest).
  EXPECT_EQ(CountRule(RunEvents(set, {Login(100, "a", false), Login(10, "a", false),
                                      Login(30, "a", false)}),
                      "brute"),
            0);
}

TEST_F(CorrelationTest, GenerateTrueAlsoEmitsTheBaseRule) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation:
  type: event_count
  rules: failed_login
  group-by: credential
  timespan: 1m
  condition: {gte: 2}
  generate: true
)"));
  ASSERT_TRUE(set);
  auto d = RunEvents(set, {Login(0, "alice", false), Login(1, "alice", false)});
  EXPECT_EQ(CountRule(d, "failed-login"), 2);
  EXPECT_EQ(CountRule(d, "brute"), 1);
  // Order: the base detection of the event, then the correlation it completes.
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[1].rule_id, "failed-login");
  EXPECT_EQ(d[2].rule_id, "brute");
}

TEST_F(CorrelationTest, UpperBoundIsJudgedWhenTheWindowCloses) {
  auto set = MustCompile(With(R"(title: Few reads
id: few
correlation: {type: event_count, rules: read, group-by: credential, timespan: 10m, condition: {lt: 3}}
)"));
  ASSERT_TRUE(set);
  Evaluator eval(set);
  std::vector<Detection> out;
  eval.Process(Read(0, "alice"), &out);
  eval.Process(Read(60, "alice"), &out);
  EXPECT_TRUE(out.empty());
  eval.AdvanceWatermark(testing::kT0 + 9 * kMin * kNsPerSecond, &out);
  EXPECT_TRUE(out.empty()) << "window still open";
  eval.AdvanceWatermark(testing::kT0 + 11 * kMin * kNsPerSecond, &out);
  ASSERT_EQ(CountRule(out, "few"), 1);
  EXPECT_EQ(out[0].last_seen_ns, testing::kT0 + 60 * kNsPerSecond);
  EXPECT_EQ(eval.stats().groups, 0u);
  // Three reads: the condition fails and nothing fires.
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "bob"), Read(1, "bob"), Read(2, "bob")}), "few"), 0);
  // A later event of the group closes the old window too.
  out.clear();
  Evaluator eval2(set);
  eval2.Process(Read(0, "carol"), &out);
  eval2.Process(Read(11 * kMin, "carol"), &out);
  EXPECT_EQ(CountRule(out, "few"), 1);
}

TEST_F(CorrelationTest, ValueCountDistinctTenants) {
  auto set = MustCompile(With(R"(title: Reads across tenants
id: cross-tenant
correlation:
  type: value_count
  rules: read
  group-by: credential
  timespan: 1h
  condition: {field: object.tenant, gte: 3}
)"));
  ASSERT_TRUE(set);
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1"), Read(10, "a", "h2"), Read(20, "a", "h1"),
                                      Read(30, "a", "h3")}),
                      "cross-tenant"),
            1);
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1"), Read(10, "a", "h2"), Read(20, "a", "h1"),
                                      Read(30, "a", "h2")}),
                      "cross-tenant"),
            0);
  // h1 at 0 has expired when h3 comes at 61 min.
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1"), Read(30 * kMin, "a", "h2"),
                                      Read(61 * kMin, "a", "h3")}),
                      "cross-tenant"),
            0);
  // Events without the field are not counted.
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1"), Read(1, "a", ""), Read(2, "a", "h2")}),
                      "cross-tenant"),
            0);
}

TEST_F(CorrelationTest, ValueSumBytes) {
  auto set = MustCompile(With(R"(title: Volume
id: volume
correlation:
  type: value_sum
  rules: read
  group-by: credential
  timespan: 1h
  condition: {field: bytes, gt: 1000}
)"));
  ASSERT_TRUE(set);
  auto d = RunEvents(
      set, {Read(0, "a", "h1", 400), Read(60, "a", "h2", 400), Read(120, "a", "h1", 300)});
  ASSERT_EQ(CountRule(d, "volume"), 1);
  EXPECT_EQ(d[0].blast.bytes, 1100);
  EXPECT_EQ(d[0].blast.tenants, (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(d[0].evidences.size(), 3u);
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1", 400), Read(60, "a", "h2", 400),
                                      Read(2 * kHour, "a", "h1", 300)}),
                      "volume"),
            0);
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a", "h1", 1000)}), "volume"), 0);  // gt, not gte
}

TEST_F(CorrelationTest, LowAndSlowOverSevenDaysWithBoundedPoints) {
  const std::string rule = With(R"(title: Slow exfiltration
id: slow
correlation:
  type: value_sum
  rules: read
  group-by: credential
  timespan: 7d
  condition: {field: bytes, gte: 10000000000}
)");
  LoadOptions options;
  options.limits.max_points_per_group = 8;  // force merging
  auto set = MustCompile(rule, options);
  ASSERT_TRUE(set);
  // 100 MB an hour: the 100th read reaches 10 GB.
  std::vector<Event> events;
  for (int h = 0; h < 150; ++h) events.push_back(Read(h * kHour, "svc-backup", "h1", 100'000'000));
  auto d = RunEvents(set, events);
  ASSERT_EQ(CountRule(d, "slow"), 1);
  EXPECT_EQ(d[0].time_ns, testing::kT0 + 99 * kHour * kNsPerSecond);
  EXPECT_EQ(d[0].first_seen_ns, testing::kT0);
  EXPECT_LE(d[0].evidences.size(), 8u);
  EXPECT_EQ(d[0].evidences.size(), 8u);
}

TEST_F(CorrelationTest, GroupsAreCapped) {
  LoadOptions options;
  options.limits.max_groups_per_rule = 10;
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation: {type: event_count, rules: failed_login, group-by: credential, timespan: 1h, condition: {gte: 5}}
)"),
                         options);
  ASSERT_TRUE(set);
  Evaluator eval(set);
  std::vector<Detection> out;
  for (int i = 0; i < 100; ++i) eval.Process(Login(i, "user" + std::to_string(i), false), &out);
  EXPECT_EQ(eval.stats().groups, 10u);
  EXPECT_EQ(eval.stats().groups_evicted, 90u);
  // Expiry frees the rest.
  eval.AdvanceWatermark(testing::kT0 + 3 * kHour * kNsPerSecond, &out);
  EXPECT_EQ(eval.stats().groups, 0u);
  EXPECT_TRUE(out.empty());
}

TEST_F(CorrelationTest, WindowsAreBoundedByTheirByteBudget) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation: {type: event_count, rules: failed_login, group-by: credential, timespan: 1h, condition: {gte: 3}}
)"));
  ASSERT_TRUE(set);
  EvaluatorOptions options;
  options.window_budget_bytes = 64 << 10;
  Evaluator eval(set, options);
  std::vector<Detection> out;
  // 2000 credentials fail once each, one a second: far more than 64 KiB.
  for (int i = 0; i < 2000; ++i) eval.Process(Login(i, "user" + std::to_string(i), false), &out);
  const EvaluatorStats st = eval.stats();
  EXPECT_LE(st.group_bytes, options.window_budget_bytes);
  EXPECT_GT(st.group_bytes, options.window_budget_bytes / 2);
  EXPECT_GT(st.groups_over_budget, 1000u);
  EXPECT_EQ(st.groups + st.groups_over_budget, 2000u);
  EXPECT_EQ(st.groups_evicted, 0u);  // the per-rule limit is not what dropped them
  // The windows that end last are kept: the newest credential still fires.
  eval.Process(Login(2000, "user1999", false), &out);
  eval.Process(Login(2001, "user1999", false), &out);
  EXPECT_EQ(CountRule(out, "brute"), 1);
  // The oldest was dropped: its next failures start over.
  out.clear();
  eval.Process(Login(2002, "user0", false), &out);
  eval.Process(Login(2003, "user0", false), &out);
  EXPECT_EQ(CountRule(out, "brute"), 0);
}

TEST_F(CorrelationTest, WindowBytesCountTheSameAfterARestore) {
  // A resumed run must drop the same windows as a clean one: the estimate
  // depends on what a group holds, not on how its buffers grew.
  auto set = MustCompile(With(R"(title: Reads then send
id: reads
correlation: {type: value_count, rules: read, group-by: credential, timespan: 1h, condition: {field: object, gte: 50}}
)"));
  ASSERT_TRUE(set);
  Evaluator eval(set);
  std::vector<Detection> out;
  for (int i = 0; i < 300; ++i) {
    Event e = Read(i, "user" + std::to_string(i % 7));
    e.object = f_.S("/srv/t00" + std::to_string(i % 3) + "/file-" + std::to_string(i) + ".csv");
    eval.Process(e, &out);
  }
  ASSERT_GT(eval.stats().group_bytes, 0u);
  std::string state;
  eval.SerializeState(&state);
  Evaluator restored(set);
  ASSERT_TRUE(restored.RestoreState(state).ok());
  EXPECT_EQ(restored.stats().group_bytes, eval.stats().group_bytes);
  EXPECT_EQ(restored.stats().groups, 7u);
}

TEST_F(CorrelationTest, ALaterStepAloneOpensNoOrderedWindow) {
  // Every successful login would otherwise hold a window for 10 minutes.
  auto set = MustCompile(With(R"(title: Failure then success
id: ordered
correlation: {type: temporal_ordered, rules: [failed_login, login_ok], group-by: credential, timespan: 10m}
)"));
  ASSERT_TRUE(set);
  Evaluator eval(set);
  std::vector<Detection> out;
  for (int i = 0; i < 100; ++i) eval.Process(Login(i, "user" + std::to_string(i), true), &out);
  EXPECT_EQ(eval.stats().groups, 0u);
  eval.Process(Login(100, "user1", false), &out);
  eval.Process(Login(101, "user1", true), &out);
  EXPECT_EQ(CountRule(out, "ordered"), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].evidences.size(), 2u);  // the chain's events only
}

TEST_F(CorrelationTest, TemporalAnyOrder) {
  auto set = MustCompile(With(R"(title: Login and read
id: both
correlation:
  type: temporal
  rules: [login_ok, read]
  group-by: [credential]
  timespan: 10m
)"));
  ASSERT_TRUE(set);
  EXPECT_EQ(CountRule(RunEvents(set, {Read(0, "a"), Login(5 * kMin, "a", true)}), "both"), 1);
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", true), Read(5 * kMin, "a")}), "both"), 1);
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", true), Read(11 * kMin, "a")}), "both"), 0);
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", true), Read(1, "b")}), "both"), 0);
}

TEST_F(CorrelationTest, TemporalOrdered) {
  auto set = MustCompile(With(R"(title: Failure then success
id: ordered
correlation:
  type: temporal_ordered
  rules: [failed_login, login_ok]
  group-by: credential
  timespan: 10m
)"));
  ASSERT_TRUE(set);
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", false), Login(60, "a", true)}), "ordered"), 1);
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", true), Login(60, "a", false)}), "ordered"), 0);
  EXPECT_EQ(
      CountRule(RunEvents(set, {Login(0, "a", false), Login(11 * kMin, "a", true)}), "ordered"), 0);
  // A success, then failure, then success: the second pair counts.
  EXPECT_EQ(
      CountRule(RunEvents(set, {Login(0, "a", true), Login(10, "a", false), Login(20, "a", true)}),
                "ordered"),
      1);
}

TEST_F(CorrelationTest, AliasesJoinDifferentFields) {
  // The address a credential logs in from receives data later: login src.ip
  // equals send dst.ip.
  auto set = MustCompile(With(R"(title: Data to the login address
id: to-login-ip
correlation:
  type: temporal_ordered
  rules: [login_ok, send]
  group-by: [ip]
  timespan: 1h
  aliases:
    ip:
      login_ok: src.ip
      send: dst.ip
)"));
  ASSERT_TRUE(set);
  Event login = Login(0, "alice", true);
  f_.SetSrcIp(login, "203.0.113.9");
  Event send = f_.Native(600);
  send.action = Action::kSend;
  send.credential = f_.S("alice");
  send.dst_ip_text = f_.S("203.0.113.9");
  send.dst_ip = *IpAddress::Parse("203.0.113.9");
  auto d = RunEvents(set, {login, send});
  ASSERT_EQ(CountRule(d, "to-login-ip"), 1);
  EXPECT_EQ(d[0].group_key, "203.0.113.9");
  Event other = send;
  other.dst_ip_text = f_.S("198.51.100.1");
  EXPECT_EQ(CountRule(RunEvents(set, {login, other}), "to-login-ip"), 0);
}

TEST_F(CorrelationTest, CorrelationOfCorrelations) {
  // Sigma spec example: many failed logins, then a success, same user.
  auto set = MustCompile(With(R"(title: Brute force then success
id: brute-success
level: critical
tags: [attack.t1110.001]
correlation:
  type: temporal_ordered
  rules: [many_failed, login_ok]
  group-by: credential
  timespan: 10m
---
title: Many failed logins
id: many-failed
name: many_failed
correlation:
  type: event_count
  rules: failed_login
  group-by: credential
  timespan: 10m
  condition: {gte: 3}
)"));
  ASSERT_TRUE(set);
  std::vector<Event> events = {Login(0, "a", false), Login(10, "a", false), Login(20, "a", false),
                               Login(30, "a", true)};
  auto d = RunEvents(set, events);
  ASSERT_EQ(CountRule(d, "brute-success"), 1);
  EXPECT_EQ(CountRule(d, "many-failed"), 0);  // referenced, generate: false
  const Detection& top = d.back();
  EXPECT_EQ(top.severity, Severity::kCritical);
  EXPECT_EQ(top.attacks, (std::vector<std::string>{"T1110.001"}));
  EXPECT_EQ(top.first_seen_ns, testing::kT0);
  EXPECT_EQ(top.last_seen_ns, testing::kT0 + 30 * kNsPerSecond);
  EXPECT_EQ(top.evidences.size(), 4u);  // three failures (via the inner one) and the success
  // Success before the brute force completes: nothing.
  EXPECT_EQ(CountRule(RunEvents(set, {Login(0, "a", false), Login(10, "a", true),
                                      Login(20, "a", false), Login(30, "a", false)}),
                      "brute-success"),
            0);
  // With emit_all (rules test) the inner correlation shows too.
  EvaluatorOptions all;
  all.emit_all = true;
  auto every = RunEvents(set, events, true, all);
  EXPECT_EQ(CountRule(every, "many-failed"), 1);
  EXPECT_EQ(CountRule(every, "failed-login"), 3);
}

TEST_F(CorrelationTest, MultipleGroupByFieldsAndMissingFields) {
  auto set = MustCompile(With(R"(title: Per tenant
id: per-tenant
correlation: {type: event_count, rules: read, group-by: [credential, object.tenant], timespan: 1h, condition: {gte: 2}}
)"));
  ASSERT_TRUE(set);
  auto d = RunEvents(set, {Read(0, "a", "h1"), Read(1, "a", "h2"), Read(2, "a", "h1")});
  ASSERT_EQ(CountRule(d, "per-tenant"), 1);
  EXPECT_EQ(d[0].group_key, "a|h1");
  // Events without a group-by field are skipped.
  Evaluator eval(set);
  std::vector<Detection> out;
  eval.Process(Read(0, "a", ""), &out);
  eval.Process(Read(1, "a", ""), &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(eval.stats().skipped_no_group, 2u);
}

TEST_F(CorrelationTest, DeterministicOutput) {
  auto set = MustCompile(With(R"(title: Volume
id: volume
correlation: {type: value_sum, rules: read, group-by: credential, timespan: 1h, condition: {field: bytes, gte: 1000, lt: 5000}}
---
title: Tenants
id: tenants
correlation: {type: value_count, rules: read, group-by: credential, timespan: 1h, condition: {field: object.tenant, gte: 2}}
)"));
  ASSERT_TRUE(set);
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i) {
    events.push_back(
        Read(i * 37, "user" + std::to_string(i % 13), "h" + std::to_string(i % 7), 100 + i));
  }
  auto a = RunEvents(set, events);
  auto b = RunEvents(set, events);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].rule_id, b[i].rule_id);
    EXPECT_EQ(a[i].group_key, b[i].group_key);
    EXPECT_EQ(a[i].time_ns, b[i].time_ns);
    EXPECT_EQ(a[i].evidences, b[i].evidences);
  }
}

TEST_F(CorrelationTest, ShardsSplitGroupsByRoutingHash) {
  auto set = MustCompile(With(R"(title: Brute force
id: brute
correlation: {type: event_count, rules: failed_login, group-by: credential, timespan: 1h, condition: {gte: 2}}
)"));
  ASSERT_TRUE(set);
  std::vector<Event> events;
  for (int i = 0; i < 60; ++i) events.push_back(Login(i, "user" + std::to_string(i % 10), false));
  const auto single = RunEvents(set, events);
  constexpr uint32_t kShards = 3;
  std::vector<std::unique_ptr<Evaluator>> shards;
  for (uint32_t s = 0; s < kShards; ++s) shards.push_back(std::make_unique<Evaluator>(set));
  int total = 0;
  for (const Event& e : events) {
    uint64_t hashes[4];
    const int n = set->RoutingHashes(e, hashes, 4);
    ASSERT_EQ(n, 1);
    ShardScope scope;
    scope.num_shards = kShards;
    scope.shard = static_cast<uint32_t>(hashes[0] % kShards);
    scope.stateless = true;
    std::vector<Detection> out;
    shards[scope.shard]->Process(e, scope, &out);
    total += CountRule(out, "brute");
    // Another shard that is not the owner keeps no state for it.
    ShardScope other = scope;
    other.shard = (scope.shard + 1) % kShards;
    other.stateless = false;
    std::vector<Detection> none;
    Evaluator spare(set);
    spare.Process(e, other, &none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(spare.stats().groups, 0u);
  }
  EXPECT_EQ(total, CountRule(single, "brute"));
  EXPECT_EQ(total, 30);
}

}  // namespace
}  // namespace credwatch::rules
