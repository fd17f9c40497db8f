// The SigmaHQ rule pack (datasets/sigma/rules) loads as it is, and its
// CloudTrail rules fire on real CloudTrail records (datasets/cloudtrail-*),
// whose fields are projected here the way the CloudTrail decoder does it.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "credwatch/time_util.h"
#include "gtest/gtest.h"
#include "rules/rules_test_util.h"
#include "simdjson.h"

namespace credwatch::rules {
namespace {

namespace fs = std::filesystem;

std::string Datasets() { return CREDWATCH_DATASETS_DIR; }
std::string SigmaRules() { return Datasets() + "/sigma/rules"; }

TEST(SigmaHqTest, LoadsThePackAndReportsEveryFile) {
  LoadOptions options;
  options.fail_on_error = false;
  LoadReport report;
  auto set = LoadRuleSet({SigmaRules()}, options, &report);
  ASSERT_TRUE(set.ok()) << set.status();

  int aws_files = 0, aws_loaded = 0, linux_files = 0, linux_loaded = 0;
  std::cout << "SigmaHQ rules, per file:\n";
  for (const FileReport& f : report.files) {
    const std::string rel = fs::relative(f.path, SigmaRules()).string();
    const bool aws = rel.find("cloud/aws/") == 0;
    const bool loaded = f.result() == FileReport::Result::kLoaded;
    (aws ? aws_files : linux_files)++;
    if (loaded) (aws ? aws_loaded : linux_loaded)++;
    const char* label = loaded                                           ? "loaded     "
                        : f.result() == FileReport::Result::kUnsupported ? "unsupported"
                                                                         : "ERROR      ";
    std::cout << "  " << label << " " << rel;
    for (const LoadMessage& m : f.messages) std::cout << "\n      " << m.text;
    std::cout << "\n";
  }
  std::cout << "CloudTrail: " << aws_loaded << "/" << aws_files
            << " loaded; Linux: " << linux_loaded << "/" << linux_files << " loaded; rules loaded "
            << report.rules_loaded() << ", unsupported " << report.rules_unsupported()
            << ", errors " << report.rules_failed() << "\n";
  for (const LoadMessage& m : report.general) std::cout << m.ToString() << "\n";

  EXPECT_EQ(aws_files, 57);
  EXPECT_GE(aws_loaded * 10, aws_files * 9) << "at least 90% of the CloudTrail rules must load";
  EXPECT_EQ(report.rules_failed(), 0) << report.ToString();
  // Every rule that does not load says why.
  for (const FileReport& f : report.files) {
    if (f.result() != FileReport::Result::kLoaded) {
      ASSERT_FALSE(f.messages.empty()) << f.path;
      EXPECT_FALSE(f.messages[0].text.empty());
    }
  }
}

TEST(SigmaHqTest, LoadsWithDefaultOptions) {
  LoadReport report;
  auto set = LoadRuleSet({SigmaRules()}, LoadOptions{}, &report);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_GT((*set)->num_detection_rules(), 70u);
  // The CloudTrail projection names what the rules read, and nothing else.
  const Projection& p = (*set)->projection(Format::kCloudTrail);
  auto has = [&](std::string_view path) {
    return std::any_of(p.paths.begin(), p.paths.end(),
                       [&](const Projection::Path& x) { return x.dotted == path; });
  };
  EXPECT_TRUE(has("eventName"));
  EXPECT_TRUE(has("userIdentity.type"));
  EXPECT_TRUE(has("additionalEventData.MFAUsed"));
  EXPECT_TRUE(has("requestParameters"));  // requestParameters|contains: the raw object
  EXPECT_FALSE(has("awsRegion"));
  for (const auto& path : p.paths) EXPECT_GE(path.id, static_cast<uint16_t>(FieldId::kFirstExtra));
}

// Projects CloudTrail records into Events the way the decoder does: every
// projection path that holds a scalar becomes an extra (strings unescaped,
// numbers and booleans as written, objects and arrays as JSON text; null is
// absent).
class CloudTrailReplay {
 public:
  explicit CloudTrailReplay(const RuleSet& set) : set_(set) {}

  std::vector<Event> Load(const std::string& file) {
    std::vector<Event> out;
    simdjson::dom::element doc;
    auto error = parser_.load(file).get(doc);
    EXPECT_FALSE(error) << file << ": " << simdjson::error_message(error);
    if (error) return out;
    simdjson::dom::array records;
    if (doc.is_array()) {
      records = doc.get_array().value();
    } else {
      records = doc["Records"].get_array().value();
    }
    for (simdjson::dom::element r : records) out.push_back(Project(r));
    return out;
  }

 private:
  Event Project(simdjson::dom::element r) {
    Event e;
    e.format = "cloudtrail";
    std::string_view s;
    if (!r["eventTime"].get_string().get(s)) e.time_ns = ParseIso8601(s).value_or(0);
    if (!r["userIdentity"]["arn"].get_string().get(s)) e.credential = arena_.Copy(s);
    if (!r["sourceIPAddress"].get_string().get(s)) {
      e.src_ip_text = arena_.Copy(s);
      if (auto ip = IpAddress::Parse(s)) e.src_ip = *ip;
    }
    if (!r["eventSource"].get_string().get(s)) e.host = arena_.Copy(s);
    for (const Projection::Path& p : set_.projection(Format::kCloudTrail).paths) {
      simdjson::dom::element v = r;
      bool found = true;
      size_t start = 0;
      while (found && start <= p.dotted.size()) {
        size_t dot = p.dotted.find('.', start);
        if (dot == std::string::npos) dot = p.dotted.size();
        const std::string_view key = std::string_view(p.dotted).substr(start, dot - start);
        simdjson::dom::object obj;
        found = !v.get_object().get(obj) && !obj[key].get(v);
        start = dot + 1;
      }
      if (!found || v.is_null()) continue;
      if (v.is_string()) {
        e.AddExtra(p.id, arena_.Copy(v.get_string().value()));
      } else {
        e.AddExtra(p.id, arena_.Copy(simdjson::minify(v)));
      }
    }
    return e;
  }

  const RuleSet& set_;
  simdjson::dom::parser parser_;
  Arena arena_;
};

class SigmaHqCloudTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto set = LoadRuleSet({SigmaRules() + "/cloud/aws/cloudtrail"});
    ASSERT_TRUE(set.ok()) << set.status();
    set_ = *set;
    for (const RuleInfo& info : set_->rules())
      by_file_[fs::path(info.file).stem().string()] = info.id;
  }

  // Rule file stems that fire on the records of `file`, with their counts.
  std::map<std::string, int> Fired(const std::string& file) {
    CloudTrailReplay replay(*set_);
    std::vector<Event> events = replay.Load(Datasets() + "/" + file);
    std::vector<Detection> out = testing::RunEvents(set_, events);
    std::map<std::string, int> fired;
    for (const Detection& d : out) {
      for (const auto& [stem, id] : by_file_) {
        if (id == d.rule_id) ++fired[stem];
      }
    }
    return fired;
  }

  std::shared_ptr<const RuleSet> set_;
  std::map<std::string, std::string> by_file_;
};

TEST_F(SigmaHqCloudTrailTest, StopLogging) {
  auto fired = Fired("cloudtrail-stratus/aws.defense-evasion.cloudtrail-stop.json");
  EXPECT_EQ(fired["aws_cloudtrail_disable_logging"], 1);
}

TEST_F(SigmaHqCloudTrailTest, ConsoleLoginWithoutMfa) {
  // additionalEventData.MFAUsed is "No" in the record, 'NO' in the rule.
  auto fired = Fired("cloudtrail-stratus/aws.initial-access.console-login-without-mfa.json");
  EXPECT_EQ(fired["aws_cloudtrail_console_login_success_without_mfa"], 1);
}

TEST_F(SigmaHqCloudTrailTest, SnapshotShared) {
  auto fired = Fired("cloudtrail-stratus/aws.exfiltration.ec2-share-ebs-snapshot.json");
  EXPECT_EQ(fired["aws_snapshot_backup_exfiltration"], 1);
}

TEST_F(SigmaHqCloudTrailTest, LoginProfileOfAnotherUser) {
  // fieldref: the caller (christophe) is not the user whose password changed.
  auto fired =
      Fired("cloudtrail-stratus/aws.privilege-escalation.iam-update-user-login-profile.json");
  EXPECT_EQ(fired["aws_update_login_profile"], 1);
}

TEST_F(SigmaHqCloudTrailTest, FlowLogsDeletedWithNullErrorCode) {
  auto fired = Fired("cloudtrail-stratus/aws.defense-evasion.vpc-remove-flow-logs.json");
  EXPECT_EQ(fired["aws_cloudtrail_vpc_flow_logs_deleted"], 1);
}

TEST_F(SigmaHqCloudTrailTest, SsmSendCommandOnlyOnTheCommand) {
  auto fired = Fired("cloudtrail-stratus/aws.execution.ssm-send-command.json");
  EXPECT_EQ(fired["aws_cloudtrail_ssm_malicious_usage"], 1);  // 1 SendCommand among 56 records
}

TEST_F(SigmaHqCloudTrailTest, RealAccountDayFiresWhatItShould) {
  // One real account's day with attack tooling: StopLogging and access-key
  // creation happen in it.
  std::map<std::string, int> total;
  for (const auto& entry : fs::directory_iterator(Datasets() + "/cloudtrail-invictus/CloudTrail")) {
    for (const auto& [stem, n] : Fired(fs::relative(entry.path(), Datasets()).string()))
      total[stem] += n;
  }
  std::cout << "invictus detections by rule:\n";
  for (const auto& [stem, n] : total) std::cout << "  " << stem << ": " << n << "\n";
  EXPECT_GE(total["aws_cloudtrail_disable_logging"], 1);
  EXPECT_GE(total["aws_iam_backdoor_users_keys"], 1);
}

TEST_F(SigmaHqCloudTrailTest, EvidenceNamesTheSourceFields) {
  CloudTrailReplay replay(*set_);
  auto events =
      replay.Load(Datasets() + "/cloudtrail-stratus/aws.defense-evasion.cloudtrail-stop.json");
  auto out = testing::RunEvents(set_, events);
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out[0].evidences[0].find("\"fields\":{"), std::string::npos) << out[0].evidences[0];
  EXPECT_NE(out[0].evidences[0].find("\"eventName\":\"StopLogging\""), std::string::npos)
      << out[0].evidences[0];
}

}  // namespace
}  // namespace credwatch::rules
