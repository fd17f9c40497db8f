// Helpers for the rule engine tests: compile rule text, build events, run.
#ifndef CREDWATCH_TESTS_RULES_RULES_TEST_UTIL_H_
#define CREDWATCH_TESTS_RULES_RULES_TEST_UTIL_H_

#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "credwatch/event_batch.h"
#include "credwatch/rules.h"
#include "credwatch/time_util.h"
#include "gtest/gtest.h"

namespace credwatch::rules::testing {

inline constexpr int64_t kT0 = 1735689600LL * kNsPerSecond;  // 2025-01-01T00:00:00Z

inline std::string Indent(std::string_view text, int n) {
  std::string out;
  std::string pad(static_cast<size_t>(n), ' ');
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out += pad;
    out.append(text.substr(start, end - start));
    out += '\n';
    start = end + 1;
  }
  return out;
}

// A detection rule of `logsource` around `detection` (a YAML block).
inline std::string RuleText(std::string_view detection,
                            std::string_view logsource = "product: credwatch",
                            std::string_view id = "r1", std::string_view extra = "") {
  std::string out = "title: test rule " + std::string(id) + "\nid: " + std::string(id) +
                    "\nlevel: high\n" + "logsource:\n" + Indent(logsource, 2) + "detection:\n" +
                    Indent(detection, 2);
  out += extra;
  return out;
}

inline std::shared_ptr<const RuleSet> MustCompile(const std::string& text,
                                                  LoadOptions options = {}) {
  LoadReport report;
  auto set = CompileRuleSet({{"test.yml", text}}, options, &report);
  EXPECT_TRUE(set.ok()) << set.status() << "\n" << report.ToString() << "\n--- rule:\n" << text;
  if (!set.ok()) return nullptr;
  return *set;
}

// The load report of text that is expected to fail or be unsupported.
inline LoadReport ReportOf(const std::string& text, const std::string& name = "test.yml") {
  LoadReport report;
  LoadOptions options;
  options.fail_on_error = false;
  (void)CompileRuleSet({{name, text}}, options, &report);
  return report;
}

inline std::string FirstMessage(const LoadReport& r) {
  for (const auto& f : r.files) {
    for (const auto& m : f.messages) return m.ToString();
  }
  return "";
}

// Events whose strings live in the fixture's arena.
class EventFactory {
 public:
  Event Native(int64_t t_sec = 0) {
    Event e;
    e.time_ns = kT0 + t_sec * kNsPerSecond;
    e.format = "native";
    return e;
  }
  Event CloudTrail(int64_t t_sec = 0) {
    Event e = Native(t_sec);
    e.format = "cloudtrail";
    return e;
  }
  std::string_view S(std::string_view s) { return arena_.Copy(s); }
  void SetSrcIp(Event& e, std::string_view ip) {
    e.src_ip_text = S(ip);
    if (auto p = IpAddress::Parse(ip)) e.src_ip = *p;
  }
  // Adds a source field under the id the rule set gave it (must exist).
  void Extra(Event& e, const RuleSet& set, Namespace ns, std::string_view path,
             std::string_view value) {
    auto id = set.FieldIdFor(ns, path);
    ASSERT_TRUE(id.has_value()) << "no rule reads " << path;
    e.AddExtra(*id, S(value));
  }

 private:
  Arena arena_;
};

inline std::vector<Detection> RunEvents(const std::shared_ptr<const RuleSet>& set,
                                        const std::vector<Event>& events, bool close = true,
                                        EvaluatorOptions options = {}) {
  Evaluator eval(set, options);
  std::vector<Detection> out;
  for (const Event& e : events) eval.Process(e, &out);
  if (close) eval.AdvanceWatermark(INT64_MAX, &out);
  return out;
}

inline int CountRule(const std::vector<Detection>& d, std::string_view id) {
  int n = 0;
  for (const auto& x : d) n += x.rule_id == id ? 1 : 0;
  return n;
}

}  // namespace credwatch::rules::testing

#endif  // CREDWATCH_TESTS_RULES_RULES_TEST_UTIL_H_
