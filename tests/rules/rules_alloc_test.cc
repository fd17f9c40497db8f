// Stateless matching allocates nothing for an event that matches no rule.
// This binary replaces the global operator new to count allocations.
#include <atomic>
#include <cstdlib>
#include <new>

#include "gtest/gtest.h"
#include "rules/rules_test_util.h"

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

// operator new above takes its memory from malloc, so free is the match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace credwatch::rules {
namespace {

TEST(RulesAllocTest, NonMatchingEventsAllocateNothing) {
  std::vector<RuleSource> sources;
  sources.push_back({"credwatch.yml", R"(title: Scripted client
id: client
logsource: {product: credwatch}
detection:
  sel:
    user_agent|re: '(?i)(curl|wget)/[0-9.]+'
  other:
    object|contains|all: [/export/, '.csv']
    src.ip|cidr: 203.0.113.0/24
  night:
    time|hour|gte: 22
  condition: sel or other or (night and not sel)
level: low
---
title: Brute force
id: brute
correlation: {type: event_count, rules: failed, group-by: credential, timespan: 1h, condition: {gte: 100}}
---
title: Failed
id: failed
name: failed
logsource: {product: credwatch}
detection:
  sel: {action: login, outcome: failure}
  condition: sel
)"});
  auto set = LoadRuleSet({std::string(CREDWATCH_DATASETS_DIR) + "/sigma/rules"});
  ASSERT_TRUE(set.ok()) << set.status();
  auto own = CompileRuleSet(sources);
  ASSERT_TRUE(own.ok()) << own.status();

  testing::EventFactory f;
  std::vector<Event> ct;
  for (const char* name : {"GetObject", "DescribeInstances", "AssumeRole", "ConsoleLogin"}) {
    Event e = f.CloudTrail();
    f.Extra(e, **set, Namespace::kCloudTrail, "eventName", name);
    f.Extra(e, **set, Namespace::kCloudTrail, "eventSource", "s3.amazonaws.com");
    f.Extra(e, **set, Namespace::kCloudTrail, "userIdentity.type", "IAMUser");
    f.Extra(e, **set, Namespace::kCloudTrail, "userIdentity.arn", "arn:aws:iam::1:user/alice");
    f.Extra(e, **set, Namespace::kCloudTrail, "userAgent", "aws-cli/2.11.1 Python/3.11");
    ct.push_back(e);
  }
  Event sys = f.Native();
  sys.format = "syslog";
  f.Extra(sys, **set, Namespace::kLinux, "MESSAGE",
          "Accepted publickey for alice from 10.0.0.1 port 2222 ssh2");
  ct.push_back(sys);

  std::vector<Event> native;
  Event read = f.Native(3600);
  read.action = Action::kRead;
  read.object = f.S("/srv/data/t001/a.csv");
  read.user_agent = f.S("OpenSSH_8.4p1");
  f.SetSrcIp(read, "10.1.2.3");
  native.push_back(read);
  Event ok_login = f.Native(7200);
  ok_login.action = Action::kLogin;
  ok_login.outcome = Outcome::kSuccess;
  ok_login.credential = f.S("alice");
  native.push_back(ok_login);

  for (auto [rules, events] : {std::pair{*set, &ct}, std::pair{*own, &native}}) {
    Evaluator eval(rules);
    std::vector<Detection> out;
    out.reserve(16);
    for (const Event& e : *events) eval.Process(e, &out);  // warm up (RE2 caches)
    ASSERT_TRUE(out.empty()) << out[0].rule_id;
    const int64_t before = g_allocations.load();
    for (int round = 0; round < 100; ++round) {
      for (const Event& e : *events) eval.Process(e, &out);
    }
    EXPECT_EQ(g_allocations.load() - before, 0);
    EXPECT_TRUE(out.empty());
  }
}

}  // namespace
}  // namespace credwatch::rules
