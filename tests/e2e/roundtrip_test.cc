// simulate -> decode round trip: the simulator's labels record, per attack,
// what its written records carry (bytes read, tenants, first exfiltration
// time, destination account). Decoding the files must give exactly that.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "credwatch/config.h"
#include "credwatch/time_util.h"
#include "replay/replay.h"
#include "replay/simulator/simulator.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

struct Totals {
  int64_t read_bytes = 0;
  std::set<std::string> tenants;
  std::set<int64_t> times;
  int64_t copies_to_destination = 0;
};

// Aggregates the decoded events of the attack credentials.
class Aggregator : public replay::EventConsumer {
 public:
  struct Watch {
    std::string credential, source_ip, destination;
    int64_t start = 0, end = 0;
  };
  explicit Aggregator(std::vector<Watch> watches) : watches_(std::move(watches)) {}
  void OnEvent(Event& e) override {
    for (size_t i = 0; i < watches_.size(); ++i) {
      const Watch& w = watches_[i];
      if (e.credential != w.credential || e.time_ns < w.start || e.time_ns > w.end) continue;
      Totals& t = totals_[i];
      t.times.insert(e.time_ns);
      bool from_attacker = w.source_ip.empty() || e.src_ip_text == w.source_ip;
      if (e.action == Action::kRead && e.bytes > 0 && from_attacker) {
        t.read_bytes += e.bytes;
        if (!e.object_tenant.empty()) t.tenants.insert(std::string(e.object_tenant));
      }
      if (e.action == Action::kCopy && !w.destination.empty() &&
          !e.dst_account.empty() && w.destination.find(std::string(e.dst_account)) != std::string::npos) {
        ++t.copies_to_destination;
      }
    }
  }
  void OnWatermark(int64_t) override {}
  absl::Status Finish() override { return absl::OkStatus(); }
  const Totals& totals(size_t i) { return totals_[i]; }

 private:
  std::vector<Watch> watches_;
  std::map<size_t, Totals> totals_;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RoundTrip, DecodedEventsCarryWhatTheSimulatorWrote) {
  fs::path dir = fs::temp_directory_path() / ("credwatch_roundtrip_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  sim::SimulateOptions sopts;
  sopts.days = 30;
  sopts.tenants = 6;
  sopts.seed = 5;
  sopts.target_events = 40'000;
  sopts.out_dir = dir.string();
  ASSERT_TRUE(sim::Simulate(sopts).ok());

  simdjson::dom::parser parser;
  simdjson::padded_string labels(Slurp(dir / "labels.json"));
  simdjson::dom::element root = parser.parse(labels);
  struct Expect {
    std::string kind;
    int64_t bytes = 0;
    std::set<std::string> tenants;
    int64_t first_exfiltration = 0;
  };
  std::vector<Aggregator::Watch> watches;
  std::vector<Expect> expects;
  for (simdjson::dom::element a : root["attacks"].get_array()) {
    Aggregator::Watch w;
    Expect x;
    x.kind = std::string(a["kind"].get_string().value());
    w.credential = std::string(a["credential"].get_string().value());
    w.start = *ParseIso8601(a["start"].get_string().value());
    w.end = *ParseIso8601(a["end"].get_string().value());
    std::string_view s;
    if (a["source_ip"].get_string().get(s) == simdjson::SUCCESS) w.source_ip = s;
    if (a["destination"].get_string().get(s) == simdjson::SUCCESS) w.destination = s;
    x.first_exfiltration = *ParseIso8601(a["first_exfiltration"].get_string().value());
    int64_t bytes = 0;
    if (a["bytes"].get_int64().get(bytes) == simdjson::SUCCESS) x.bytes = bytes;
    for (simdjson::dom::element t : a["tenants"].get_array()) x.tenants.insert(std::string(t.get_string().value()));
    watches.push_back(w);
    expects.push_back(x);
  }
  ASSERT_EQ(expects.size(), 6u);

  auto config = LoadConfig((dir / "credwatch.yaml").string());
  ASSERT_TRUE(config.ok()) << config.status();
  replay::ReplayOptions ropts;
  ropts.config = *config;
  ropts.inputs = {(dir / "cloudtrail.ndjson").string(), (dir / "cloudtrail").string(),
                  (dir / "journal.ndjson").string(), (dir / "flows.ndjson").string()};
  Aggregator agg(watches);
  auto summary = replay::MergeInputs(ropts, agg);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->input.rejects(), 0);

  for (size_t i = 0; i < expects.size(); ++i) {
    const Expect& x = expects[i];
    const Totals& t = agg.totals(i);
    SCOPED_TRACE(x.kind + " " + watches[i].credential);
    // The first exfiltration is the time of a decoded event of that credential.
    EXPECT_TRUE(t.times.count(x.first_exfiltration)) << FormatIso8601(x.first_exfiltration);
    if (x.kind == "sftp_bulk_exfiltration" || x.kind == "s3_external_download") {
      // Every byte the attacker read, from sftp closes or GetObject sizes.
      EXPECT_EQ(t.read_bytes, x.bytes);
      EXPECT_EQ(t.tenants, x.tenants);
    }
    if (x.kind == "s3_copy_to_foreign_account") {
      EXPECT_GT(t.copies_to_destination, 0) << "copies to " << watches[i].destination;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace credwatch
