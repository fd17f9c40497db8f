// Loading: errors name file, line and what to change; unsupported features
// are named as such; the load status follows the options.
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/rules_test_util.h"

namespace credwatch::rules {
namespace {

using testing::FirstMessage;
using ::testing::HasSubstr;
using testing::ReportOf;
using testing::RuleText;

// The only message of a one-rule file.
LoadMessage Only(const LoadReport& r) {
  EXPECT_EQ(r.files.size(), 1u);
  if (r.files.empty() || r.files[0].messages.empty()) {
    ADD_FAILURE() << "no message";
    return {};
  }
  EXPECT_EQ(r.files[0].messages.size(), 1u) << r.ToString();
  return r.files[0].messages[0];
}

TEST(RulesLoadTest, YamlSyntaxErrorHasLineAndColumn) {
  const LoadMessage m =
      Only(ReportOf("title: x\nlogsource:\n  product: credwatch\ndetection: [unclosed\n"));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kError);
  EXPECT_EQ(m.file, "test.yml");
  EXPECT_GE(m.line, 4);
  EXPECT_THAT(m.text, HasSubstr("YAML syntax"));
}

TEST(RulesLoadTest, UnknownModifier) {
  const LoadMessage m = Only(ReportOf(RuleText("sel:\n  credential|contians: x\ncondition: sel")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kError);
  EXPECT_EQ(m.line, 8);
  EXPECT_EQ(m.column, 5);
  EXPECT_THAT(m.text, HasSubstr("unknown value modifier 'contians'"));
  EXPECT_THAT(m.text, HasSubstr("supported: contains"));
  EXPECT_THAT(m.ToString(),
              HasSubstr("test.yml:8:5: error: rule 'test rule r1': unknown value modifier"));
}

TEST(RulesLoadTest, UnknownCredwatchField) {
  const LoadMessage m = Only(ReportOf(RuleText("sel:\n  eventName: GetObject\ncondition: sel")));
  EXPECT_EQ(m.line, 8);
  EXPECT_THAT(m.text, HasSubstr("unknown field 'eventName' for product: credwatch"));
  EXPECT_THAT(m.text, HasSubstr("profile.src_new"));
  EXPECT_THAT(m.text, HasSubstr("product: aws, service: cloudtrail"));
}

TEST(RulesLoadTest, ConditionErrors) {
  LoadMessage m =
      Only(ReportOf(RuleText("selection:\n  credential: x\ncondition: selection and not filter")));
  EXPECT_EQ(m.line, 9);
  EXPECT_EQ(m.column, 32);  // where 'filter' starts
  EXPECT_THAT(m.text, HasSubstr("'filter', which is not a search identifier"));
  EXPECT_THAT(m.text, HasSubstr("defined: selection"));

  m = Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: sel and")));
  EXPECT_THAT(m.text, HasSubstr("unexpected end of condition"));

  m = Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: (sel")));
  EXPECT_THAT(m.text, HasSubstr("expected ')'"));

  m = Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: 1 of filter_*")));
  EXPECT_THAT(m.text, HasSubstr("'1 of filter_*' matches no search identifier"));

  m = Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: sel*")));
  EXPECT_THAT(m.text, HasSubstr("only allowed after '1 of' or 'all of'"));

  m = Only(ReportOf(RuleText("sel:\n  credential: x")));
  EXPECT_THAT(m.text, HasSubstr("no 'condition'"));
}

TEST(RulesLoadTest, ObsoleteAggregationIsUnsupported) {
  const LoadMessage m =
      Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: sel | count() > 5")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
  EXPECT_THAT(m.text, HasSubstr("write a correlation rule"));
}

TEST(RulesLoadTest, MetadataErrors) {
  LoadMessage m = Only(ReportOf(
      "logsource: {product: credwatch}\ndetection: {sel: {credential: x}, condition: sel}\n"));
  EXPECT_THAT(m.text, HasSubstr("no 'title'"));
  std::string severe = RuleText("sel:\n  credential: x\ncondition: sel");
  severe.replace(severe.find("level: high"), 11, "level: severe");
  m = Only(ReportOf(severe));
  EXPECT_EQ(m.line, 3);
  EXPECT_THAT(m.text,
              HasSubstr("level 'severe' is not one of informational, low, medium, high, critical"));
  m = Only(ReportOf("title: x\ndetection: {sel: {credential: x}, condition: sel}\n"));
  EXPECT_THAT(m.text, HasSubstr("no 'logsource'"));
  m = Only(ReportOf("title: x\nlogsource: {product: credwatch}\n"));
  EXPECT_THAT(m.text, HasSubstr("neither 'detection' nor 'correlation'"));
}

TEST(RulesLoadTest, ValueErrors) {
  LoadMessage m = Only(ReportOf(RuleText("sel:\n  credential|re: '(?=x)y'\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("is not valid RE2"));
  m = Only(ReportOf(RuleText("sel:\n  credential|cidr: 10.0.0.0/8\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("'cidr' needs an IP field"));
  m = Only(ReportOf(RuleText("sel:\n  src.ip|cidr: 10.0.0/33\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("is not a network"));
  m = Only(ReportOf(RuleText("sel:\n  bytes|gt: lots\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("'lots' is not a number"));
  m = Only(ReportOf(RuleText("sel:\n  credential|gt: 5\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("'credential' is not a number"));
  m = Only(ReportOf(RuleText("sel:\n  action: reed\ncondition: sel")));
  EXPECT_THAT(m.text,
              HasSubstr("'reed' is not a value of 'action'; it is one of login, logout, read"));
  m = Only(ReportOf(RuleText("sel:\n  src.internal: maybe\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("is true or false"));
  m = Only(ReportOf(RuleText("sel:\n  credential|contains|startswith: x\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("cannot be combined"));
  m = Only(ReportOf(RuleText("sel:\n  credential: []\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("is empty"));
  m = Only(ReportOf(RuleText("sel:\n  credential:\n    a: b\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("must be plain values"));
  m = Only(ReportOf(RuleText("sel:\n  - credential: x\n  - plain\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("mixes maps and plain values"));
  m = Only(ReportOf(RuleText("sel:\n  credential|exists: maybe\ncondition: sel")));
  EXPECT_THAT(m.text, HasSubstr("takes true or false"));
  m = Only(ReportOf(RuleText("sel:\n  credential|expand: '%Admins%'\ncondition: sel")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
  EXPECT_THAT(m.text, HasSubstr("placeholder %Admins% has no value"));
}

TEST(RulesLoadTest, UnsupportedLogSourcesAndKeywords) {
  LoadMessage m = Only(ReportOf(
      RuleText("sel:\n  EventID: 4624\ncondition: sel", "product: windows\nservice: security")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
  EXPECT_THAT(m.text, HasSubstr("product: windows is not a credwatch log source"));
  m = Only(ReportOf(
      RuleText("sel:\n  Image: x\ncondition: sel", "product: linux\ncategory: process_creation")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
  EXPECT_THAT(m.text, HasSubstr("category: process_creation"));
  m = Only(ReportOf(
      RuleText("keywords:\n  - evil\ncondition: keywords", "product: aws\nservice: cloudtrail")));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
  EXPECT_THAT(m.text, HasSubstr("keyword search over whole CloudTrail records"));
  m = Only(ReportOf(RuleText("sel:\n  credential: x\ncondition: sel", "product: credwatch", "r1") +
                    "status: unsupported\n"));
  EXPECT_EQ(m.kind, LoadMessage::Kind::kUnsupported);
}

TEST(RulesLoadTest, UnsupportedRulesAreSkippedUnlessAskedToFail) {
  const std::string text =
      RuleText("sel:\n  credential: x\ncondition: sel", "product: credwatch", "good") + "---\n" +
      RuleText("sel:\n  EventID: 1\ncondition: sel", "product: windows", "win");
  LoadReport report;
  auto set = CompileRuleSet({{"pack.yml", text}}, LoadOptions{}, &report);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->num_detection_rules(), 1u);
  EXPECT_EQ(report.rules_loaded(), 1);
  EXPECT_EQ(report.rules_unsupported(), 1);
  EXPECT_EQ(report.files[0].result(), FileReport::Result::kUnsupported);
  LoadOptions strict;
  strict.fail_on_unsupported = true;
  auto failed = CompileRuleSet({{"pack.yml", text}}, strict, &report);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(
      std::string(failed.status().message()),
      HasSubstr("pack.yml:15: unsupported: rule 'test rule win': logsource product: windows"));
}

TEST(RulesLoadTest, ErrorsFailTheLoadWithFileAndLine) {
  const std::string text =
      RuleText("sel:\n  credential: x\ncondition: sel", "product: credwatch", "good") + "---\n" +
      RuleText("sel:\n  credential|bogus: x\ncondition: sel", "product: credwatch", "bad");
  LoadReport report;
  auto set = CompileRuleSet({{"rules/pack.yml", text}}, LoadOptions{}, &report);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr("rules/pack.yml:18:5: error: rule 'test rule bad'"));
  EXPECT_EQ(report.files[0].result(), FileReport::Result::kError);
  LoadOptions lenient;
  lenient.fail_on_error = false;
  auto partial = CompileRuleSet({{"rules/pack.yml", text}}, lenient, &report);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ((*partial)->num_detection_rules(), 1u);
  EXPECT_EQ(report.rules_failed(), 1);
}

TEST(RulesLoadTest, DuplicateIdsAcrossFiles) {
  const std::string a =
      RuleText("sel:\n  credential: x\ncondition: sel", "product: credwatch", "same");
  LoadReport report;
  LoadOptions lenient;
  lenient.fail_on_error = false;
  (void)CompileRuleSet({{"a.yml", a}, {"b.yml", a}}, lenient, &report);
  ASSERT_EQ(report.files.size(), 2u);
  EXPECT_TRUE(report.files[0].messages.empty());
  ASSERT_EQ(report.files[1].messages.size(), 1u);
  EXPECT_EQ(report.files[1].messages[0].line, 2);
  EXPECT_THAT(report.files[1].messages[0].text,
              HasSubstr("duplicate id 'same': also used by rule 'test rule same' at a.yml:1"));
}

constexpr const char* kBase = R"(title: Failed login
id: failed-login
name: failed_login
logsource: {product: credwatch}
detection:
  sel: {action: login, outcome: failure}
  condition: sel
---
)";

TEST(RulesLoadTest, CorrelationErrors) {
  auto msg = [](const std::string& corr) {
    const LoadReport r = ReportOf(std::string(kBase) + corr);
    return FirstMessage(r);
  };
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: nope, group-by: credential, "
                  "timespan: 1h, condition: {gte: 2}}\n"),
              HasSubstr("test.yml:10: error: rule 'c': the correlation references 'nope', which no "
                        "loaded rule has"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: "
                  "credential, timespan: 1 hour, condition: {gte: 2}}\n"),
              HasSubstr("'timespan' must be a number and a unit"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: "
                  "credential, timespan: 1h}\n"),
              HasSubstr("needs a 'condition' with a bound"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: value_count, rules: failed_login, group-by: "
                  "credential, timespan: 1h, condition: {gte: 2}}\n"),
              HasSubstr("value_count needs 'field' in its condition"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: user, "
                  "timespan: 1h, condition: {gte: 2}}\n"),
              HasSubstr("unknown field 'user'"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: who, "
                  "timespan: 1h, condition: {gte: 2},"
                  " aliases: {who: {other_rule: credential}}}\n"),
              HasSubstr("alias 'who' names no field for rule 'failed_login'"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: value_avg, rules: failed_login, group-by: "
                  "credential, timespan: 1h, condition: {field: bytes, gt: 2}}\n"),
              HasSubstr("unsupported: rule 'c': correlation type value_avg is not supported"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: sequence, rules: failed_login, group-by: "
                  "credential, timespan: 1h}\n"),
              HasSubstr("correlation type 'sequence' is not one of"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: "
                  "credential, timespan: 1h, condition: {most: 2}}\n"),
              HasSubstr("unknown condition key 'most'"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: event_count, rules: failed_login, group-by: "
                  "credential, timespan: 60d, condition: {gte: 2}}\n"),
              HasSubstr("longer than the limit of 31 days"));
  EXPECT_THAT(msg("title: c\ncorrelation: {type: value_count, rules: failed_login, group-by: "
                  "credential, timespan: 1h, condition: {field: src.ip, gte: 20000}}\n"),
              HasSubstr("over the limit of 10000"));
}

TEST(RulesLoadTest, CorrelationCyclesAndChains) {
  const std::string cycle = std::string(kBase) +
                            "title: a\nname: a\ncorrelation: {type: temporal, rules: [b, "
                            "failed_login], group-by: credential, timespan: 1h}\n"
                            "---\n"
                            "title: b\nname: b\ncorrelation: {type: temporal, rules: [a, "
                            "failed_login], group-by: credential, timespan: 1h}\n";
  EXPECT_THAT(ReportOf(cycle).ToString(), HasSubstr("correlation cycle: a -> b -> a"));
  // An outer correlation can group only by what the inner one groups by.
  const std::string chain =
      std::string(kBase) +
      "title: outer\ncorrelation: {type: event_count, rules: inner, group-by: src.ip, timespan: "
      "1h, condition: {gte: 2}}\n"
      "---\n"
      "title: inner\nname: inner\ncorrelation: {type: event_count, rules: failed_login, group-by: "
      "credential, timespan: 1h, condition: {gte: 2}}\n";
  EXPECT_THAT(ReportOf(chain).ToString(),
              HasSubstr("'src.ip' is not a group-by field of the correlation 'inner' (its "
                        "group-by: credential)"));
  // A correlation of an unsupported rule is unsupported, and says why.
  const std::string unsupported =
      RuleText("sel:\n  EventID: 4625\ncondition: sel", "product: windows", "win") +
      "name: win_fail\n---\n" +
      "title: c\ncorrelation: {type: event_count, rules: win_fail, group-by: User, timespan: 1h, "
      "condition: {gte: 2}}\n";
  const LoadReport r = ReportOf(unsupported);
  EXPECT_EQ(r.rules_unsupported(), 2);
  EXPECT_THAT(r.ToString(),
              HasSubstr("references 'win_fail', which is unsupported: logsource product: windows"));
}

TEST(RulesLoadTest, ExampleSectionErrors) {
  const std::string bad =
      RuleText("sel:\n  credential: x\ncondition: sel", "product: credwatch", "r1") +
      "x-credwatch-tests:\n  - name: t\n    events: [{credential: x}]\n    expect: maybe\n";
  const LoadMessage m = Only(ReportOf(bad));
  EXPECT_EQ(m.line, 13);
  EXPECT_THAT(m.text, HasSubstr("'expect' must be match, no-match or a number"));
}

TEST(RulesLoadTest, PathsAndDirectories) {
  auto missing = LoadRuleSet({"/nonexistent/rules"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/rules: no such file or directory"));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "credwatch_rules_load_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  auto empty = LoadRuleSet({dir.string()});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no rule files"));
  std::ofstream(dir / "sub" / "b.yml")
      << RuleText("sel:\n  credential: b\ncondition: sel", "product: credwatch", "b");
  std::ofstream(dir / "a.yaml") << RuleText("sel:\n  credential: a\ncondition: sel",
                                            "product: credwatch", "a");
  std::ofstream(dir / "notes.txt") << "not a rule";
  LoadReport report;
  auto set = LoadRuleSet({dir.string()}, LoadOptions{}, &report);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(report.files.size(), 2u);
  EXPECT_EQ(std::filesystem::path(report.files[0].path).filename(), "a.yaml");  // sorted
  EXPECT_EQ((*set)->rules()[0].id, "a");
  EXPECT_EQ((*set)->rules()[1].id, "b");
  std::filesystem::remove_all(dir);
}

TEST(RulesLoadTest, RuleInfo) {
  const std::string text =
      std::string(kBase) +
      "title: Brute\nid: brute\nlevel: high\ncorrelation: {type: event_count, rules: failed_login, "
      "group-by: credential, timespan: 1h, condition: {gte: 5}}\n";
  auto set = CompileRuleSet({{"x.yml", text}});
  ASSERT_TRUE(set.ok()) << set.status();
  const auto& rules = (*set)->rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].id, "failed-login");
  EXPECT_EQ(rules[0].name, "failed_login");
  EXPECT_FALSE(rules[0].emitted);  // only referenced, generate: false
  EXPECT_EQ(rules[0].line, 1);
  EXPECT_TRUE(rules[1].is_correlation);
  EXPECT_EQ(rules[1].correlation_type, "event_count");
  EXPECT_EQ(rules[1].severity, Severity::kHigh);
  EXPECT_EQ(rules[1].line, 9);
  EXPECT_TRUE(rules[1].emitted);
}

}  // namespace
}  // namespace credwatch::rules
