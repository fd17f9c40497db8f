#include "replay/simulator/simulator.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "credwatch/time_util.h"
#include "simdjson.h"

namespace credwatch::sim {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Gunzip(const fs::path& p) {
  gzFile f = gzopen(p.string().c_str(), "rb");
  EXPECT_NE(f, nullptr) << p;
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  EXPECT_GE(n, 0) << p;
  gzclose(f);
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::vector<fs::path> DeliveryFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "cloudtrail")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// A fresh directory per call.
fs::path TempOut(const std::string& name) {
  fs::path p = fs::path(testing::TempDir()) / ("credwatch_sim_" + name);
  fs::remove_all(p);
  return p;
}

SimulateOptions Small(const fs::path& out, uint64_t seed = 7) {
  SimulateOptions o;
  o.days = 10;
  o.tenants = 5;
  o.seed = seed;
  o.out_dir = out.string();
  return o;
}

int64_t IsoNs(std::string_view s) {
  auto t = ParseIso8601(s);
  EXPECT_TRUE(t.has_value()) << s;
  return t.value_or(0);
}

TEST(SimulatorTest, SameSeedWritesIdenticalFiles) {
  fs::path a = TempOut("same_a"), b = TempOut("same_b");
  ASSERT_TRUE(Simulate(Small(a)).ok());
  ASSERT_TRUE(Simulate(Small(b)).ok());
  for (const char* name :
       {"cloudtrail.ndjson", "journal.ndjson", "flows.ndjson", "labels.json", "credwatch.yaml"}) {
    EXPECT_EQ(ReadFile(a / name), ReadFile(b / name)) << name;
  }
  std::vector<fs::path> fa = DeliveryFiles(a), fb = DeliveryFiles(b);
  ASSERT_EQ(fa.size(), fb.size());
  ASSERT_FALSE(fa.empty());
  for (size_t i = 0; i < fa.size(); ++i) {
    EXPECT_EQ(fa[i].filename(), fb[i].filename());
    EXPECT_EQ(ReadFile(fa[i]), ReadFile(fb[i])) << fa[i];
  }
}

TEST(SimulatorTest, DifferentSeedWritesDifferentFiles) {
  fs::path a = TempOut("seed_a"), b = TempOut("seed_b");
  ASSERT_TRUE(Simulate(Small(a, 7)).ok());
  ASSERT_TRUE(Simulate(Small(b, 8)).ok());
  for (const char* name : {"cloudtrail.ndjson", "journal.ndjson", "flows.ndjson", "labels.json"}) {
    EXPECT_NE(ReadFile(a / name), ReadFile(b / name)) << name;
  }
}

TEST(SimulatorTest, RerunReplacesStaleDeliveryFiles) {
  fs::path out = TempOut("rerun");
  SimulateOptions o = Small(out);
  ASSERT_TRUE(Simulate(o).ok());
  o.seed = 9;
  auto second = Simulate(o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(static_cast<int64_t>(DeliveryFiles(out).size()), second->cloudtrail_delivery_files);
}

// Labels: all six kinds, times inside the stretch and in order.
void CheckLabels(const fs::path& out, const SimulateSummary& summary, bool full_month = true) {
  simdjson::dom::parser parser;
  std::string text = ReadFile(out / "labels.json");
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS);
  const int64_t start = IsoNs(std::string_view(doc["start"].get_string().value()));
  const int64_t end = IsoNs(std::string_view(doc["end"].get_string().value()));
  EXPECT_EQ(start, summary.start_ns);
  EXPECT_EQ(end, summary.end_ns);
  std::set<std::string> kinds;
  for (simdjson::dom::element a : doc["attacks"].get_array()) {
    std::string kind(std::string_view(a["kind"].get_string().value()));
    kinds.insert(kind);
    SCOPED_TRACE(kind);
    const int64_t s = IsoNs(std::string_view(a["start"].get_string().value()));
    const int64_t x = IsoNs(std::string_view(a["first_exfiltration"].get_string().value()));
    const int64_t e = IsoNs(std::string_view(a["end"].get_string().value()));
    EXPECT_LE(start, s);
    EXPECT_LE(s, x);
    EXPECT_LE(x, e);
    EXPECT_LT(e, end);
    EXPECT_GT(a["bytes"].get_int64().value(), 0);
    EXPECT_GT(a["tenants"].get_array().size(), 0u);
    EXPECT_FALSE(std::string_view(a["credential"].get_string().value()).empty());
    EXPECT_FALSE(std::string_view(a["source_ip"].get_string().value()).empty());
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"sftp_bulk_exfiltration", "s3_external_download",
                                          "s3_copy_to_foreign_account", "low_and_slow",
                                          "dormant_account_revived", "password_spray_then_login"}));
  if (!full_month) return;
  std::set<std::string> benign;
  for (simdjson::dom::element l : doc["benign_lookalikes"].get_array()) {
    benign.insert(std::string(std::string_view(l["kind"].get_string().value())));
  }
  for (const char* k : {"nightly_backup", "support_multi_tenant", "partner_upload", "password_typo",
                        "internet_scanning"}) {
    EXPECT_TRUE(benign.count(k)) << k;
  }
}

TEST(SimulatorTest, LabelsNameEveryAttackKindWithOrderedTimes) {
  fs::path out = TempOut("labels");
  auto summary = Simulate(Small(out));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->attacks, 6);
  CheckLabels(out, *summary);
}

TEST(SimulatorTest, ShortStretchesStillHoldEveryAttack) {
  for (int days : {1, 3, 6}) {
    SCOPED_TRACE(days);
    fs::path out = TempOut("short" + std::to_string(days));
    SimulateOptions o = Small(out);
    o.days = days;
    o.tenants = 3;
    auto summary = Simulate(o);
    ASSERT_TRUE(summary.ok()) << summary.status();
    CheckLabels(out, *summary, /*full_month=*/false);
  }
}

TEST(SimulatorTest, SingleTenantWorks) {
  fs::path out = TempOut("one");
  SimulateOptions o = Small(out);
  o.tenants = 1;
  auto summary = Simulate(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  CheckLabels(out, *summary);
}

// Event time of one record of each format.
int64_t RecordTime(const std::string& file, simdjson::dom::element rec) {
  if (file == "journal.ndjson") {
    std::string_view us = rec["__REALTIME_TIMESTAMP"].get_string().value();
    return std::stoll(std::string(us)) * 1000;
  }
  if (file == "flows.ndjson") return rec["time"].get_int64().value() * 1'000'000;
  return IsoNs(std::string_view(rec["eventTime"].get_string().value()));
}

TEST(SimulatorTest, EveryRecordIsValidJsonInTimeOrder) {
  fs::path out = TempOut("json");
  auto summary = Simulate(Small(out));
  ASSERT_TRUE(summary.ok()) << summary.status();
  simdjson::dom::parser parser;
  constexpr int64_t kAllowedDisorder = 10 * kNsPerMinute;
  std::map<std::string, int64_t> counts;
  int64_t ct_last = 0;
  for (const char* name : {"cloudtrail.ndjson", "journal.ndjson", "flows.ndjson"}) {
    std::string text = ReadFile(out / name);
    ASSERT_FALSE(text.empty()) << name;
    EXPECT_EQ(text.back(), '\n');
    int64_t last = 0;
    for (const std::string& line : Lines(text)) {
      simdjson::dom::element rec;
      ASSERT_EQ(parser.parse(line).get(rec), simdjson::SUCCESS) << name << ": " << line;
      int64_t t = RecordTime(name, rec);
      EXPECT_GE(t, last - kAllowedDisorder) << name << ": " << line;
      last = std::max(last, t);
      ++counts[name];
    }
    if (std::string(name) == "cloudtrail.ndjson") ct_last = last;
  }
  EXPECT_EQ(counts["journal.ndjson"], summary->journal_records);
  EXPECT_EQ(counts["flows.ndjson"], summary->flow_records);
  EXPECT_EQ(counts["cloudtrail.ndjson"], summary->cloudtrail_ndjson_records);

  // Delivery files: gzip, {"Records":[...]}, later than the ndjson part and
  // in order when read by name.
  int64_t delivered = 0, last = ct_last;
  std::vector<fs::path> files = DeliveryFiles(out);
  EXPECT_EQ(static_cast<int64_t>(files.size()), summary->cloudtrail_delivery_files);
  for (const fs::path& f : files) {
    EXPECT_EQ(f.filename().string().rfind("111122223333_CloudTrail_eu-central-1_", 0), 0u) << f;
    std::string text = Gunzip(f);
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << f;
    simdjson::dom::array records;
    ASSERT_EQ(doc["Records"].get_array().get(records), simdjson::SUCCESS) << f;
    for (simdjson::dom::element rec : records) {
      int64_t t = RecordTime("cloudtrail", rec);
      EXPECT_GE(t, last - kAllowedDisorder) << f;
      last = std::max(last, t);
      ++delivered;
    }
  }
  EXPECT_EQ(delivered, summary->cloudtrail_delivery_records);
  EXPECT_GT(delivered, 0);
  EXPECT_EQ(summary->events, summary->journal_records + summary->flow_records +
                                 summary->cloudtrail_ndjson_records +
                                 summary->cloudtrail_delivery_records);
}

TEST(SimulatorTest, RecordsFollowTheSiteConventions) {
  fs::path out = TempOut("conventions");
  ASSERT_TRUE(Simulate(Small(out)).ok());
  simdjson::dom::parser parser;
  std::set<std::string> identifiers, hosts, prefixes;
  bool accepted_password = false, accepted_key = false, sftp_close = false, failed = false;
  for (const std::string& line : Lines(ReadFile(out / "journal.ndjson"))) {
    simdjson::dom::element rec;
    ASSERT_EQ(parser.parse(line).get(rec), simdjson::SUCCESS);
    identifiers.insert(
        std::string(std::string_view(rec["SYSLOG_IDENTIFIER"].get_string().value())));
    hosts.insert(std::string(std::string_view(rec["_HOSTNAME"].get_string().value())));
    std::string msg(std::string_view(rec["MESSAGE"].get_string().value()));
    EXPECT_TRUE(rec["_PID"].is_string());
    EXPECT_TRUE(rec["__MONOTONIC_TIMESTAMP"].is_string());
    if (msg.rfind("Accepted password for ", 0) == 0) accepted_password = true;
    if (msg.rfind("Accepted publickey for ", 0) == 0) {
      accepted_key = true;
      EXPECT_NE(msg.find(" ssh2: "), std::string::npos) << msg;
    }
    if (msg.rfind("Failed password for ", 0) == 0) failed = true;
    if (msg.rfind("close \"/srv/ehr/t", 0) == 0) {
      sftp_close = true;
      EXPECT_NE(msg.find("\" bytes read "), std::string::npos) << msg;
      EXPECT_NE(msg.find(" written "), std::string::npos) << msg;
    }
    if (msg.rfind("open \"", 0) == 0) {
      EXPECT_EQ(msg.rfind("open \"/srv/ehr/t", 0), 0u) << msg;
    }
  }
  EXPECT_TRUE(accepted_password && accepted_key && sftp_close && failed);
  EXPECT_EQ(identifiers, (std::set<std::string>{"sshd", "internal-sftp", "sftp-server"}));
  EXPECT_EQ(hosts, (std::set<std::string>{"ehr-legacy-01", "ehr-legacy-02", "ehr-legacy-03",
                                          "ehr-legacy-04"}));

  std::set<std::string> events;
  for (const std::string& line : Lines(ReadFile(out / "cloudtrail.ndjson"))) {
    simdjson::dom::element rec;
    ASSERT_EQ(parser.parse(line).get(rec), simdjson::SUCCESS);
    std::string name(std::string_view(rec["eventName"].get_string().value()));
    events.insert(name);
    EXPECT_EQ(std::string_view(rec["userIdentity"]["type"].get_string().value()), "IAMUser");
    EXPECT_FALSE(std::string_view(rec["userIdentity"]["userName"].get_string().value()).empty());
    if (name == "GetObject") {
      EXPECT_GT(rec["additionalEventData"]["bytesTransferredOut"].get_int64().value(), 0);
      std::string_view arn = rec["resources"].at(0)["ARN"].get_string().value();
      EXPECT_EQ(arn.rfind("arn:aws:s3:::t", 0), 0u) << arn;
    }
  }
  for (const char* e :
       {"GetObject", "PutObject", "CopyObject", "ConsoleLogin", "AssumeRole", "ListObjects"}) {
    EXPECT_TRUE(events.count(e)) << e;
  }

  for (const std::string& line : Lines(ReadFile(out / "flows.ndjson"))) {
    simdjson::dom::element rec;
    ASSERT_EQ(parser.parse(line).get(rec), simdjson::SUCCESS);
    EXPECT_EQ(rec["class_uid"].get_int64().value(), 4001);
    EXPECT_EQ(rec["category_uid"].get_int64().value(), 4);
    int64_t activity = rec["activity_id"].get_int64().value();
    EXPECT_TRUE(activity == 6 || activity == 2);
    EXPECT_EQ(rec["connection_info"]["direction_id"].get_int64().value(), 2);
    EXPECT_GE(rec["traffic"]["bytes_out"].get_int64().value(), 0);
  }

  std::string yaml = ReadFile(out / "credwatch.yaml");
  EXPECT_NE(yaml.find("rules/]\n"), std::string::npos);
  EXPECT_NE(yaml.find("learning_period: 7d"), std::string::npos);
  for (const char* s :
       {"internal_networks: [10.0.0.0/8, 198.51.100.0/24]", "internal_accounts: [\"111122223333\"]",
        "trusted_destinations: [203.0.113.10]", "credential: [\"^(?P<tenant>t[0-9]{3})-\"]",
        "multi_tenant_credentials: [\"svc-backup\", \"vendor-support*\"]"}) {
    EXPECT_NE(yaml.find(s), std::string::npos) << s;
  }
}

TEST(SimulatorTest, ConfigFindsTheRulesFromItsOwnDirectory) {
  fs::path out = TempOut("rules_path");
  SimulateOptions o = Small(out);
  o.days = 2;
  o.rules_dir = std::string(CREDWATCH_SOURCE_DIR) + "/rules";
  ASSERT_TRUE(Simulate(o).ok());
  std::string yaml = ReadFile(out / "credwatch.yaml");
  size_t at = yaml.find("\nrules: [");
  ASSERT_NE(at, std::string::npos);
  at += 9;
  std::string rules = yaml.substr(at, yaml.find(']', at) - at);
  EXPECT_EQ(fs::weakly_canonical(out / rules), fs::weakly_canonical(o.rules_dir + "/")) << rules;
  EXPECT_NE(yaml.find("learning_period: 1d"), std::string::npos);
}

TEST(SimulatorTest, EventsOptionScalesVolume) {
  fs::path out = TempOut("scale");
  SimulateOptions o = Small(out);
  o.days = 5;
  o.target_events = 25000;
  auto small = Simulate(o);
  ASSERT_TRUE(small.ok()) << small.status();
  o.target_events = 100000;
  auto large = Simulate(o);
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_NEAR(static_cast<double>(small->events), 25000, 25000 * 0.2);
  EXPECT_NEAR(static_cast<double>(large->events), 100000, 100000 * 0.2);
  CheckLabels(out, *large, /*full_month=*/false);
}

TEST(SimulatorTest, SmallRunIsFast) {
  fs::path out = TempOut("fast");
  auto t0 = std::chrono::steady_clock::now();
  auto summary = Simulate(Small(out));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(summary.ok());
  EXPECT_LT(std::chrono::duration<double>(elapsed).count(), 5.0) << summary->events << " events";
}

TEST(SimulatorTest, RejectsBadOptions) {
  SimulateOptions o;
  EXPECT_FALSE(Simulate(o).ok());  // no out_dir
  o.out_dir = TempOut("bad").string();
  o.days = 0;
  EXPECT_FALSE(Simulate(o).ok());
  o.days = 3;
  o.tenants = 1000;
  EXPECT_FALSE(Simulate(o).ok());
}

}  // namespace
}  // namespace credwatch::sim
