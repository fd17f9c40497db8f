// The sharded runtime's promise: alerts.ndjson is byte-identical for any
// shard count (and batch and ring size), run to run, and equal to the
// single-threaded path, on the e2e simulation (the same estate as
// tests/e2e/detection_test.cc). Also the pieces that promise rests on.
#include "runtime/sharded_detector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "alert/finding.h"
#include "credwatch/config.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "profile/profile_store.h"
#include "replay/replay.h"
#include "replay/simulator/simulator.h"
#include "runtime/detection_order.h"
#include "runtime/host_sessions.h"
#include "runtime/rule_publisher.h"

namespace credwatch::runtime {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One simulated estate for the whole suite.
class RuntimeShardedReplay : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("credwatch_runtime_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    sim::SimulateOptions sopts;
    sopts.days = 30;
    sopts.tenants = 6;
    sopts.seed = 3;
    sopts.target_events = 40'000;
    sopts.out_dir = dir_->string();
    auto sim = sim::Simulate(sopts);
    ASSERT_TRUE(sim.ok()) << sim.status();
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static replay::ReplayOptions Options(int shards, const std::string& output) {
    auto config = LoadConfig((*dir_ / "credwatch.yaml").string());
    EXPECT_TRUE(config.ok()) << config.status();
    replay::ReplayOptions ropts;
    ropts.config = *config;
    ropts.config.rules = {std::string(CREDWATCH_SOURCE_DIR) + "/rules"};
    ropts.inputs = {(*dir_ / "cloudtrail.ndjson").string(), (*dir_ / "cloudtrail").string(),
                    (*dir_ / "journal.ndjson").string(), (*dir_ / "flows.ndjson").string()};
    ropts.output = (*dir_ / output).string();
    ropts.shards = shards;
    return ropts;
  }

  // Every run reads the same inputs, so evidence paths need no normalizing.
  static std::string Replay(int shards, const std::string& output) {
    auto summary = replay::RunReplay(Options(shards, output));
    EXPECT_TRUE(summary.ok()) << summary.status();
    return Slurp(*dir_ / output);
  }

  static fs::path* dir_;
};
fs::path* RuntimeShardedReplay::dir_ = nullptr;

TEST_F(RuntimeShardedReplay, AlertsAreIdenticalForOneTwoAndFourShards) {
  const std::string single = Replay(0, "alerts_inline.ndjson");
  ASSERT_FALSE(single.empty());
  // The estate holds the breach and its variants: high and critical alerts,
  // correlations grouped by credential and by source address.
  EXPECT_NE(single.find("\"severity_id\":5"), std::string::npos);
  for (int shards : {1, 2, 4}) {
    EXPECT_EQ(Replay(shards, "alerts_" + std::to_string(shards) + ".ndjson"), single) << shards << " shards";
  }
  // Run to run.
  EXPECT_EQ(Replay(4, "alerts_4_again.ndjson"), single);
}

// Feeds one merge pass to several detectors at once.
class Tee : public replay::EventConsumer {
 public:
  explicit Tee(std::vector<ShardedDetector*> detectors) : detectors_(std::move(detectors)) {}
  void OnEvent(Event& e) override {
    for (ShardedDetector* d : detectors_) d->OnEvent(e);
  }
  void OnWatermark(int64_t t) override {
    for (ShardedDetector* d : detectors_) d->OnWatermark(t);
  }
  absl::Status Finish() override {
    for (ShardedDetector* d : detectors_) d->Finish();
    return absl::OkStatus();
  }

 private:
  std::vector<ShardedDetector*> detectors_;
};

// Tiny batches and rings put every round through backpressure and the
// cross-shard forwarding many times over; the alerts do not move.
TEST_F(RuntimeShardedReplay, BatchAndRingSizesDoNotChangeTheAlerts) {
  const std::string single = Replay(0, "alerts_inline_2.ndjson");
  replay::ReplayOptions ropts = Options(1, "unused.ndjson");
  auto rule_set = rules::LoadRuleSet(ropts.config.rules);
  ASSERT_TRUE(rule_set.ok()) << rule_set.status();
  std::shared_ptr<const rules::RuleSet> set = *rule_set;
  ropts.projection_for = [set](Format f) { return &set->projection(f); };
  auto site = Site::Create(ropts.config.site);
  ASSERT_TRUE(site.ok()) << site.status();
  RuleSetPublisher publisher(set);

  struct Config {
    int shards;
    size_t batch_events;
    size_t ring_batches;
  };
  const std::vector<Config> configs = {{1, 1, 1}, {3, 5, 1}, {4, 64, 2}, {2, 1024, 4}};
  std::vector<std::string> outputs(configs.size());
  std::vector<std::unique_ptr<ShardedDetector>> detectors;
  std::vector<ShardedDetector*> raw;
  for (size_t i = 0; i < configs.size(); ++i) {
    ShardedDetectorOptions o;
    o.shards = configs[i].shards;
    o.batch_events = configs[i].batch_events;
    o.ring_batches = configs[i].ring_batches;
    o.profile.learning_ns = ropts.config.profile.learning_period_ns;
    o.profile.multi_tenant_globs = ropts.config.site.tenants.multi_tenant_credentials;
    o.site = *site;
    o.rules = &publisher;
    std::string* out = &outputs[i];
    detectors.push_back(std::make_unique<ShardedDetector>(o, [out](const alert::Finding& f) {
      alert::AppendFindingJson(f, out);
      out->push_back('\n');
    }));
    raw.push_back(detectors.back().get());
  }
  Tee tee(raw);
  auto summary = replay::MergeInputs(ropts, tee);
  ASSERT_TRUE(summary.ok()) << summary.status();
  for (size_t i = 0; i < configs.size(); ++i) {
    EXPECT_EQ(outputs[i], single) << configs[i].shards << " shards, batches of " << configs[i].batch_events
                                  << ", rings of " << configs[i].ring_batches;
    const ShardedDetectorStats st = detectors[i]->stats();
    EXPECT_EQ(st.events, static_cast<uint64_t>(summary->events_out));
    if (configs[i].shards > 1) {
      EXPECT_GT(st.forwarded, 0u) << "password spray is grouped by src.ip: some events cross shards";
      for (uint64_t owned : st.shard_events) EXPECT_GT(owned, 0u);
    }
  }
}

// Correlations grouped by the credential alone live on the credential's own
// shard: the producer's hash is the one RuleSet::RoutingHashes uses.
TEST(RuntimeCredentialShard, AgreesWithTheRoutingOfCredentialGroups) {
  auto set = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
  ASSERT_TRUE(set.ok()) << set.status();
  for (const char* name : {"t001-alice", "svc-backup", "x", ""}) {
    Event e;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = Outcome::kFailure;
    e.format = "native";
    e.credential = name;
    uint64_t hashes[8];
    const int n = (*set)->RoutingHashes(e, hashes, 8);
    if (e.credential.empty()) {
      EXPECT_EQ(n, 0);
      continue;
    }
    ASSERT_EQ(n, 1) << "the shipped pack groups by credential (and src.ip, absent here)";
    for (uint32_t shards : {1u, 2u, 3u, 4u, 7u, 64u, 0xFFFFFFFFu}) {
      EXPECT_EQ(CredentialShard(name, shards), hashes[0] % shards) << name << " " << shards;
    }
  }
}

TEST(RuntimeDetectionOrder, FollowsWhereTheEvaluatorEmits) {
  auto set = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
  ASSERT_TRUE(set.ok()) << set.status();
  DetectionOrder order(**set);
  auto rank = [&](const char* title) {
    for (const rules::RuleInfo& r : (*set)->rules()) {
      if (r.title == title) return order.Rank(r.id);
    }
    ADD_FAILURE() << "no rule " << title;
    return DetectionOrder::kUnknownRank;
  };
  // Brute force / spray then success fire at the login rules, which load
  // first; the flagship fires at its stage rules, which load last.
  const uint32_t brute = rank("Brute force followed by a successful login");
  const uint32_t spray = rank("Password spray followed by a successful login from the same address");
  const uint32_t new_source = rank("Activity from a network the credential has never used");
  const uint32_t flagship = rank("Stolen credential used to take data off the site");
  EXPECT_LT(brute, spray);
  EXPECT_LT(spray, new_source);
  EXPECT_LT(new_source, flagship);
  EXPECT_EQ(order.Rank("not-a-rule"), DetectionOrder::kUnknownRank);
  // Rules that are never emitted have no rank.
  EXPECT_EQ(rank("Failed login"), DetectionOrder::kUnknownRank);

  // Sort: by rank, then group key; stable otherwise.
  std::vector<Detection> ds(4);
  auto id_of = [&](const char* title) {
    for (const rules::RuleInfo& r : (*set)->rules()) {
      if (r.title == title) return r.id;
    }
    return std::string();
  };
  ds[0].rule_id = id_of("Stolen credential used to take data off the site");
  ds[1].rule_id = id_of("Activity from a network the credential has never used");
  ds[1].group_key = "b";
  ds[2].rule_id = ds[1].rule_id;
  ds[2].group_key = "a";
  ds[3].rule_id = id_of("Brute force followed by a successful login");
  order.Sort(&ds);
  EXPECT_EQ(ds[0].rule_id, id_of("Brute force followed by a successful login"));
  EXPECT_EQ(ds[1].group_key, "a");
  EXPECT_EQ(ds[2].group_key, "b");
  EXPECT_EQ(ds[3].rule_id, id_of("Stolen credential used to take data off the site"));
}

// The producer's session table attributes flows exactly as a single
// ProfileStore does.
TEST(RuntimeHostSessions, AttributeFlowsLikeTheProfileStore) {
  profile::ProfileOptions popts;
  profile::ProfileStore store(popts);
  HostSessions sessions(popts.sessions);
  std::vector<std::string> names = {"t001-ann", "t002-bob", "t003-cy", "vendor-support1"};
  std::vector<std::string> hosts = {"sftp01", "sftp02"};
  const int64_t t0 = int64_t{1736000000} * 1'000'000'000;
  const int64_t minute = int64_t{60} * 1'000'000'000;
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i) {
    Event e;
    e.time_ns = t0 + i * minute;
    e.format = "native";
    e.host = hosts[static_cast<size_t>(i) % hosts.size()];
    const bool flow = i % 5 == 4;
    if (flow) {
      e.kind = Kind::kNetwork;
      e.action = Action::kSend;
      e.dst_ip = *IpAddress::Parse(i % 10 == 4 ? "203.0.113.7" : "198.51.100.9");
    } else {
      e.credential = names[static_cast<size_t>(i * 7 + i / 13) % names.size()];
      e.kind = Kind::kAuth;
      e.action = i % 11 == 3 ? Action::kLogout : Action::kLogin;
      e.outcome = i % 9 == 5 ? Outcome::kFailure : Outcome::kSuccess;
      e.src_ip = *IpAddress::Parse(i % 3 == 0 ? "203.0.113.7" : "10.1.2.3");
      e.session = i % 4 == 0 ? "" : "s1";
    }
    events.push_back(e);
  }
  int attributed = 0;
  for (Event& e : events) {
    if (IsHostFlow(e)) {
      std::vector<std::string_view> a, b;
      store.LiveCredentialsOnHost(e, &a);
      sessions.LiveCredentialsOnHost(e, &b);
      EXPECT_EQ(a, b) << "flow at " << e.time_ns;
      attributed += a.empty() ? 0 : 1;
    } else {
      store.Observe(e);
      sessions.Observe(e);
    }
  }
  EXPECT_GT(attributed, 10);
}

// A session that ended and was swept (grace passed) is not reopened by a
// late event of it, and the live-session table forgets the names of
// credentials whose sessions are all gone; both tables agree throughout.
TEST(RuntimeHostSessions, LateEventsDoNotReopenSweptSessionsAndNamesAreFreed) {
  profile::ProfileOptions popts;  // grace 10 min, idle 12 h
  profile::ProfileStore store(popts);
  HostSessions sessions(popts.sessions);
  const int64_t t0 = int64_t{1736000000} * 1'000'000'000;
  const int64_t minute = int64_t{60} * 1'000'000'000;
  auto event = [&](std::string_view cred, int64_t at_min, Action a) {
    Event e;
    e.time_ns = t0 + at_min * minute;
    e.format = "native";
    e.host = "sftp01";
    e.credential = cred;
    e.session = cred;  // one session per credential
    e.kind = a == Action::kRead ? Kind::kAccess : Kind::kAuth;
    e.action = a;
    e.outcome = Outcome::kSuccess;
    return e;
  };
  auto observe = [&](Event e) {
    store.Observe(e);
    sessions.Observe(e);
  };
  observe(event("alice", 0, Action::kLogin));
  observe(event("alice", 30, Action::kLogout));
  observe(event("carol", 35, Action::kLogout));  // no session: only the clock moves
  observe(event("bob", 45, Action::kLogin));
  observe(event("bob", 60, Action::kLogin));  // alice's session ended > grace ago: swept
  EXPECT_EQ(sessions.credentials(), 1u) << "alice's name is still held";
  observe(event("alice", 20, Action::kRead));  // late, inside her ended session
  Event flow;
  flow.time_ns = t0 + 65 * minute;
  flow.format = "native";
  flow.host = "sftp01";
  flow.kind = Kind::kNetwork;
  flow.action = Action::kSend;
  std::vector<std::string_view> a, b;
  store.LiveCredentialsOnHost(flow, &a);
  sessions.LiveCredentialsOnHost(flow, &b);
  EXPECT_EQ(a, (std::vector<std::string_view>{"bob"}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(sessions.credentials(), 1u);
}

}  // namespace
}  // namespace credwatch::runtime
