// `credwatch run` end to end on loopback: a simulated estate written into
// rotating tailed files while other parts arrive over syslog TCP and HTTP
// must give the alerts `credwatch replay` gives on the same records; a
// daemon killed or stopped during ingest and restarted loses nothing and
// repeats nothing; a broken rule file leaves the running rules in force.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>

#include "daemon_test_util.h"
#include "re2/re2.h"

namespace credwatch::testing {
namespace {

// Reads a gzip file whole.
std::string Gunzip(const fs::path& p) {
  gzFile gz = gzopen(p.c_str(), "rb");
  std::string out;
  if (!gz) return out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(gz);
  return out;
}

// CloudTrail delivery files ({"Records":[...]}) as one record per line.
std::string DeliveryFilesToNdjson(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  simdjson::dom::parser parser;
  std::string out;
  for (const fs::path& f : files) {
    simdjson::dom::element doc;
    if (parser.parse(Gunzip(f)).get(doc)) continue;
    simdjson::dom::array records;
    if (doc["Records"].get_array().get(records)) continue;
    for (simdjson::dom::element r : records) {
      out += simdjson::minify(r);
      out += '\n';
    }
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos + 1));
    pos = nl + 1;
  }
  return out;
}

// Evidence names the file and offset it came from: the daemon reads other
// files (and sockets) than the replay, so those two fields are left out when
// alerts are compared.
std::string WithoutOrigin(std::string text) {
  static const re2::RE2 kOrigin(R"(,"source":"[^"]*","offset":\d+)");
  re2::RE2::GlobalReplace(&text, kOrigin, "");
  return text;
}

int64_t SummaryEvents(const std::string& err) {
  // "credwatch replay: 3 inputs, 25220 records, 13952 events, ..."
  size_t at = err.find(" events,");
  if (at == std::string::npos) return -1;
  size_t start = err.rfind(' ', at - 1);
  return std::atoll(err.substr(start + 1, at - start - 1).c_str());
}

class DaemonE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = MakeScratch("daemon_e2e");
    const fs::path sim = root_ / "sim";
    RunResult r = RunCredwatch({"simulate", "--days", "10", "--tenants", "3", "--seed", "3", sim.string()}, root_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // CloudTrail as one NDJSON stream: the first half, then the delivery files.
    WriteFile(root_ / "cloudtrail_all.ndjson", Slurp(sim / "cloudtrail.ndjson") + DeliveryFilesToNdjson(sim / "cloudtrail"));
    site_ = Slurp(sim / "credwatch.yaml");
    // Keep the site and profile keys; the test sets state and rules.
    for (const char* key : {"state_dir:", "rules:"}) {
      size_t at = site_.find(key);
      if (at != std::string::npos) site_.erase(at, site_.find('\n', at) - at + 1);
    }
    RunResult ref = RunCredwatch({"replay", "--config", (sim / "credwatch.yaml").string(), "--rules",
                                  CREDWATCH_SOURCE_DIR "/rules", "--no-state", "--output",
                                  (root_ / "replay.ndjson").string(), (root_ / "cloudtrail_all.ndjson").string(),
                                  (sim / "journal.ndjson").string(), (sim / "flows.ndjson").string()},
                                 root_);
    ASSERT_EQ(ref.exit_code, 0) << ref.err;
    replay_alerts_ = Slurp(root_ / "replay.ndjson");
    replay_events_ = SummaryEvents(ref.err);
    ASSERT_GT(replay_events_, 1000) << ref.err;
    ASSERT_GE(std::count(replay_alerts_.begin(), replay_alerts_.end(), '\n'), 5) << "too few alerts to compare";
  }

  // A daemon config in `dir`: tail dir/tail/*.log, optionally syslog TCP and
  // HTTP on ephemeral ports, alerts to dir/alerts.ndjson.
  static fs::path WriteConfig(const fs::path& dir, bool network, const std::string& rules,
                              const std::string& extra_outputs = "", const std::string& idle = "2s",
                              const std::string& state = "commit_interval: 100ms, sync: none", int shards = 0) {
    fs::create_directories(dir / "tail");
    std::string cfg = site_;
    cfg += "state_dir: " + (dir / "state").string() + "\n";
    cfg += "rules: [" + rules + "]\n";
    cfg += "inputs:\n  - {type: file, paths: [\"" + (dir / "tail").string() + "/*.log\"]}\n";
    if (network) {
      cfg += "  - {type: syslog, listen: \"tcp://127.0.0.1:0\"}\n";
      cfg += "  - {type: http, listen: \"127.0.0.1:0\"}\n";
    }
    cfg += "outputs:\n  - {type: file, path: " + (dir / "alerts.ndjson").string() + "}\n" + extra_outputs;
    cfg += "admin: {listen: \"127.0.0.1:0\"}\n";
    cfg += "state: {" + state + "}\n";
    // The merge window of replay (max_disorder, 10m): the same order, so the
    // same alerts.
    cfg += "daemon: {poll_interval: 20ms, idle_source: " + idle +
           ", reorder_window: 10m, queue_bytes: 512MiB, stop_timeout: 60s, shards: " + std::to_string(shards) +
           "}\n";
    const fs::path path = dir / "credwatch.yaml";
    WriteFile(path, cfg);
    return path;
  }

  static double EventsIn(const DaemonProcess& d) {
    HttpResponse m = Http(d.PortOf("admin listening"), "GET", "/metrics");
    return MetricSum(m.body, "credwatch_events_total");
  }

  void LiveTailSyslogAndHttp(int shards);
  void KilledAndStoppedThenRestarted(int shards, int later_shards);

  static inline fs::path root_;
  static inline std::string site_;
  static inline std::string replay_alerts_;
  static inline int64_t replay_events_ = 0;
};

// Appends `lines` to dir/name in blocks, renaming the file away (name.1,
// name.2, ...) whenever it passes `rotate_bytes`.
void WriteRotating(const fs::path& dir, const std::string& name, const std::vector<std::string>& lines,
                   size_t rotate_bytes, size_t from = 0, size_t to = SIZE_MAX, int* rotations = nullptr) {
  to = std::min(to, lines.size());
  std::string block;
  auto flush = [&] {
    std::ofstream(dir / name, std::ios::binary | std::ios::app) << block;
    block.clear();
    std::error_code ec;
    if (fs::file_size(dir / name, ec) > rotate_bytes) {
      int n = 1;
      while (fs::exists(dir / (name + "." + std::to_string(n)))) ++n;
      fs::rename(dir / name, dir / (name + "." + std::to_string(n)));
      if (rotations) ++*rotations;
    }
  };
  for (size_t i = from; i < to; ++i) {
    block += lines[i];
    if (block.size() >= 64 * 1024) flush();
  }
  if (!block.empty()) flush();
}

// Live tail, syslog and HTTP at once give replay's alerts, with detection
// on `shards` threads (0: the pipeline thread).
void DaemonE2eTest::LiveTailSyslogAndHttp(int shards) {
  const fs::path dir = root_ / ("live" + std::to_string(shards));
  fs::create_directories(dir);
  // No source may fall idle while the others go on (a slow HTTP round trip
  // would then arrive late): the end of input is the SIGTERM below.
  DaemonProcess daemon(WriteConfig(dir, /*network=*/true, CREDWATCH_SOURCE_DIR "/rules", "", "120s",
                                   "commit_interval: 100ms, sync: none", shards),
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
  const int syslog_port = daemon.PortOf("\"input\":\"syslog\"");
  const int http_port = daemon.PortOf("\"input\":\"http\"");
  ASSERT_GT(syslog_port, 0) << daemon.Log();
  ASSERT_GT(http_port, 0) << daemon.Log();

  const std::vector<std::string> journal = Lines(Slurp(root_ / "sim" / "journal.ndjson"));
  const std::vector<std::string> cloudtrail = Lines(Slurp(root_ / "cloudtrail_all.ndjson"));
  const std::vector<std::string> flows = Lines(Slurp(root_ / "sim" / "flows.ndjson"));

  // The three sources at once, each as fast as it can.
  int rotations = 0;
  std::thread tail([&] { WriteRotating(dir / "tail", "journal.log", journal, 2 << 20, 0, SIZE_MAX, &rotations); });
  std::atomic<bool> syslog_ok{true};
  std::thread syslog([&] {
    int fd = ConnectLoopback(syslog_port);
    if (fd < 0) {
      syslog_ok = false;
      return;
    }
    std::string block;
    for (const std::string& l : cloudtrail) {
      block += l;
      if (block.size() > 16 * 1024) {
        if (!SendAll(fd, block)) syslog_ok = false;
        block.clear();
      }
    }
    if (!SendAll(fd, block)) syslog_ok = false;
    ::close(fd);
  });
  std::atomic<int> http_failures{0};
  std::thread http([&] {
    std::string body;
    auto post = [&] {
      for (int attempt = 0; attempt < 600; ++attempt) {
        HttpResponse r = Http(http_port, "POST", "/v1/ingest", body, "Content-Type: application/x-ndjson\r\n");
        if (r.status == 200) return;
        if (r.status != 429 && r.status != 503) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      ++http_failures;
    };
    for (const std::string& l : flows) {
      body += l;
      if (body.size() > 256 * 1024) {
        post();
        body.clear();
      }
    }
    if (!body.empty()) post();
  });
  tail.join();
  syslog.join();
  http.join();
  EXPECT_TRUE(syslog_ok);
  EXPECT_EQ(http_failures, 0);
  EXPECT_GE(rotations, 3) << "the tailed file should have rotated while being read";

  // Every event in, then a clean stop (drain, commit, deliver).
  EXPECT_TRUE(WaitFor([&] { return EventsIn(daemon) >= static_cast<double>(replay_events_); },
                      std::chrono::seconds(120)))
      << "events in: " << EventsIn(daemon) << " of " << replay_events_ << "\n" << daemon.Log();
  const int daemon_admin_port = daemon.PortOf("admin listening");
  if (EventsIn(daemon) != static_cast<double>(replay_events_)) {
    // Which input and format differ (a rare count mismatch seen once under
    // TSan, not reproduced since): the counters by label, and the files.
    std::string counters;
    for (const std::string& l : Lines(Http(daemon_admin_port, "GET", "/metrics").body)) {
      if (l.rfind("credwatch_events_total", 0) == 0 || l.rfind("credwatch_rejects_total", 0) == 0 ||
          l.rfind("credwatch_tail", 0) == 0) {
        counters += l;
      }
    }
    std::string files;
    for (const auto& entry : fs::directory_iterator(dir / "tail")) {
      files += entry.path().filename().string() + " " + std::to_string(fs::file_size(entry.path())) + "\n";
    }
    ADD_FAILURE() << "events in: " << EventsIn(daemon) << ", replay: " << replay_events_ << "\n"
                  << counters << files;
  }
  EXPECT_EQ(MetricSum(Http(daemon_admin_port, "GET", "/metrics").body, "credwatch_late_events_total"), 0);
  daemon.Signal(SIGTERM);
  ASSERT_EQ(daemon.Wait(), 0) << daemon.Log();

  const std::string live = WithoutOrigin(Slurp(dir / "alerts.ndjson"));
  const std::string replay_alerts = WithoutOrigin(replay_alerts_);
  EXPECT_EQ(Http(daemon_admin_port, "GET", "/metrics").status, 0) << "stopped";
  if (live != replay_alerts) {
    // Show what differs, as sets of lines.
    std::vector<std::string> a = Lines(live), b = Lines(replay_alerts);
    std::multiset<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
    std::string diff;
    for (const auto& l : sa) {
      if (!sb.count(l)) diff += "only live:   " + l.substr(0, 400) + "\n";
    }
    for (const auto& l : sb) {
      if (!sa.count(l)) diff += "only replay: " + l.substr(0, 400) + "\n";
    }
    ADD_FAILURE() << "live alerts differ from replay's (" << a.size() << " vs " << b.size() << " lines)\n"
                  << diff;
  }
}

// A daemon killed or stopped during ingest and restarted loses nothing and
// repeats nothing. Started on `shards`; the restarts ask for
// `later_shards`, and the state keeps the first number.
void DaemonE2eTest::KilledAndStoppedThenRestarted(int shards, int later_shards) {
  const fs::path dir = root_ / ("restart" + std::to_string(shards));
  fs::create_directories(dir);
  const std::string state = "commit_interval: 100ms, sync: none";
  fs::path config = WriteConfig(dir, /*network=*/false, CREDWATCH_SOURCE_DIR "/rules", "", "2s", state, shards);
  // One tailed stream: CloudTrail records, rotating every 256 KiB, written in
  // five parts; after each part the daemon is killed (-9) or stopped (TERM)
  // at a random moment and started again. (CloudTrail records stand alone;
  // journald/syslog sshd records depend on the decoders' session table,
  // which a restart does not keep: docs/daemon.md, "Gaps".)
  const std::vector<std::string> journal = Lines(Slurp(root_ / "cloudtrail_all.ndjson"));
  RunResult ref = RunCredwatch({"replay", "--config", (root_ / "sim" / "credwatch.yaml").string(), "--rules",
                                CREDWATCH_SOURCE_DIR "/rules", "--no-state", "--output",
                                (dir / "replay.ndjson").string(), (root_ / "cloudtrail_all.ndjson").string()},
                               dir);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const std::string expected = Slurp(dir / "replay.ndjson");
  ASSERT_GE(std::count(expected.begin(), expected.end(), '\n'), 3);

  // What happened when, in the daemon's log between its runs' lines: shown
  // on failure with the files the tail directory held.
  const fs::path log = dir / "daemon.log";
  auto note = [&](const std::string& what) {
    std::ofstream(log, std::ios::binary | std::ios::app) << "--- test: " << what << "\n";
  };
  auto tail_metrics = [&](const DaemonProcess& d) {
    HttpResponse m = Http(d.PortOf("admin listening"), "GET", "/metrics");
    std::string out;
    for (const char* name : {"credwatch_events_total", "credwatch_tail_bytes_read", "credwatch_tail_rotations",
                             "credwatch_tail_files_open", "credwatch_ingest_queue_chunks"}) {
      out += std::string(" ") + name + "=" + std::to_string(static_cast<int64_t>(MetricSum(m.body, name)));
    }
    return out;
  };

  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  note("seed " + std::to_string(seed));
  const int parts = 5;
  for (int part = 0; part < parts; ++part) {
    DaemonProcess daemon(config, log);
    ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
    const size_t from = journal.size() * part / parts, to = journal.size() * (part + 1) / parts;
    WriteRotating(dir / "tail", "cloudtrail.log", journal, 256 << 10, from, to);
    const int wait_ms = std::uniform_int_distribution<int>(0, 400)(rng);
    note("part " + std::to_string(part) + ": lines [" + std::to_string(from) + ", " + std::to_string(to) +
         ") written");
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    note("part " + std::to_string(part) + ": " + (part % 2 == 0 ? "SIGKILL" : "SIGTERM") + " after " +
         std::to_string(wait_ms) + " ms;" + tail_metrics(daemon));
    if (part % 2 == 0) {
      daemon.Kill9();
    } else {
      daemon.Signal(SIGTERM);
      ASSERT_EQ(daemon.Wait(), 0) << daemon.Log();
    }
    if (part == 0) {
      config = WriteConfig(dir, /*network=*/false, CREDWATCH_SOURCE_DIR "/rules", "", "2s", state, later_shards);
    }
  }
  // The last start reads what is left (also in files rotated while down).
  DaemonProcess daemon(config, log);
  ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
  EXPECT_TRUE(WaitFor([&] {
    HttpResponse m = Http(daemon.PortOf("admin listening"), "GET", "/metrics");
    return m.status == 200 && MetricSum(m.body, "credwatch_ingest_queue_chunks") == 0;
  }, std::chrono::seconds(60)));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // idle sources release held events
  note("last run: SIGTERM;" + tail_metrics(daemon));
  daemon.Signal(SIGTERM);
  ASSERT_EQ(daemon.Wait(), 0) << daemon.Log();
  if (later_shards != shards) {
    const std::string kept = "was started with " + std::to_string(shards) + " detection shards; it keeps them";
    EXPECT_NE(Slurp(log).find(kept), std::string::npos) << "the log must say why --shards was not applied";
  }

  const std::string got = WithoutOrigin(Slurp(dir / "alerts.ndjson"));
  const std::string want = WithoutOrigin(expected);
  if (got != want) {
    // The alerts that differ (as sets of lines), the files tailed, and the
    // daemon's log with the test's notes.
    std::vector<std::string> a = Lines(got), b = Lines(want);
    std::multiset<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
    std::string diff;
    for (const auto& l : sa) {
      if (!sb.count(l)) diff += "only daemon: " + l.substr(0, 600) + "\n";
    }
    for (const auto& l : sb) {
      if (!sa.count(l)) diff += "only replay: " + l.substr(0, 600) + "\n";
    }
    std::string files;
    for (const auto& e : fs::directory_iterator(dir / "tail")) {
      struct stat st {};
      ::stat(e.path().c_str(), &st);
      files += "  " + e.path().filename().string() + " inode " + std::to_string(st.st_ino) + ", " +
               std::to_string(st.st_size) + " bytes\n";
    }
    ADD_FAILURE() << "alerts across kills and restarts must equal one clean replay's (" << a.size() << " vs "
                  << b.size() << " lines, " << journal.size() << " records written)\n"
                  << diff << "tailed files:\n" << files << "daemon log (" << log.string() << "):\n"
                  << Slurp(log);
  }
}

TEST_F(DaemonE2eTest, LiveTailSyslogAndHttpGiveTheAlertsOfReplay) { LiveTailSyslogAndHttp(0); }

TEST_F(DaemonE2eTest, LiveTailSyslogAndHttpOnTwoShardsGiveTheAlertsOfReplay) { LiveTailSyslogAndHttp(2); }

TEST_F(DaemonE2eTest, KilledAndStoppedDuringIngestThenRestartedLosesNothingAndRepeatsNothing) {
  KilledAndStoppedThenRestarted(0, 0);
}

// Started on two shards, restarted with --shards 0 asked: the state keeps
// its two (its windows are split by shard) and says so.
TEST_F(DaemonE2eTest, OnTwoShardsKilledAndStoppedThenRestartedLosesNothingAndRepeatsNothing) {
  KilledAndStoppedThenRestarted(2, 0);
}

TEST_F(DaemonE2eTest, ABrokenRuleFileKeepsTheRunningRulesAndShowsInMetrics) {
  const fs::path dir = root_ / "reload";
  fs::create_directories(dir / "rules");
  fs::copy(CREDWATCH_SOURCE_DIR "/rules", dir / "rules", fs::copy_options::recursive);
  // On two shards: a reload reaches every shard at the same point.
  DaemonProcess daemon(WriteConfig(dir, /*network=*/false, (dir / "rules").string(), "", "2s",
                                   "commit_interval: 100ms, sync: none", 2),
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
  const int admin = daemon.PortOf("admin listening");
  auto metrics = [&] { return Http(admin, "GET", "/metrics").body; };
  EXPECT_EQ(Http(admin, "GET", "/healthz").status, 200);
  EXPECT_EQ(Http(admin, "GET", "/readyz").status, 200);
  const double loaded = MetricSum(metrics(), "credwatch_rules_loaded");
  ASSERT_GT(loaded, 10);

  // A broken rule: refused, the old set stays, /metrics says so.
  WriteFile(dir / "rules" / "broken.yml", "title: broken\ndetection:\n  sel: {a: 1}\n  condition: sel and\n");
  daemon.Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return MetricSum(metrics(), "credwatch_rule_reloads_total", "failed") >= 1; },
                      std::chrono::seconds(10)))
      << daemon.Log();
  EXPECT_EQ(MetricSum(metrics(), "credwatch_rule_reload_last_success"), 0);
  EXPECT_EQ(MetricSum(metrics(), "credwatch_rules_loaded"), loaded);
  EXPECT_NE(daemon.Log().find("broken.yml"), std::string::npos) << "the log must name the bad file";

  // Fixed (a file change, no signal): the new set is applied.
  fs::remove(dir / "rules" / "broken.yml");
  WriteFile(dir / "rules" / "extra.yml",
            "title: Any login\nid: 0d7e2f7c-1111-4a11-9a11-000000000001\nlevel: low\n"
            "logsource: {product: credwatch}\ndetection:\n  sel: {action: login}\n  condition: sel\n");
  EXPECT_TRUE(WaitFor([&] { return MetricSum(metrics(), "credwatch_rule_reloads_total", "ok") >= 1; },
                      std::chrono::seconds(10)))
      << daemon.Log();
  EXPECT_EQ(MetricSum(metrics(), "credwatch_rule_reload_last_success"), 1);
  EXPECT_EQ(MetricSum(metrics(), "credwatch_rules_loaded"), loaded + 1);
  EXPECT_TRUE(WaitFor([&] { return MetricSum(metrics(), "credwatch_rule_sets_applied_total") >= 1; },
                      std::chrono::seconds(10)));

  // Records after the swap meet the new rule.
  const std::vector<std::string> journal = Lines(Slurp(root_ / "sim" / "journal.ndjson"));
  WriteRotating(dir / "tail", "journal.log", journal, SIZE_MAX, 0, 400);
  EXPECT_TRUE(WaitFor([&] {
    return MetricSum(metrics(), "credwatch_alerts_total", "0d7e2f7c-1111-4a11-9a11-000000000001") >= 1;
  }, std::chrono::seconds(20))) << metrics();
  // Only a detection rule was added: the shards kept their open windows.
  EXPECT_NE(daemon.Log().find("\"msg\":\"rule set applied\",\"correlation_windows\":\"kept\""), std::string::npos)
      << daemon.Log();

  // A record dated in 2100 must not move the watermark (which would close
  // every window and expire every profile): counted, not processed. First
  // the watermark settles: the tailed file goes idle after 2 s, and then the
  // watermark moves up to its latest event (a slow build gets there later).
  double watermark = 0;
  EXPECT_TRUE(WaitFor([&] {
    const double before = MetricSum(metrics(), "credwatch_watermark_seconds");
    std::this_thread::sleep_for(std::chrono::seconds(3));
    watermark = MetricSum(metrics(), "credwatch_watermark_seconds");
    return watermark == before;
  }, std::chrono::seconds(40)));
  WriteFile(dir / "tail" / "future.log",
            "{\"time\":\"2100-01-01T00:00:00Z\",\"kind\":\"auth\",\"action\":\"login\","
            "\"outcome\":\"success\",\"credential\":\"t001-future\"}\n");
  EXPECT_TRUE(WaitFor([&] { return MetricSum(metrics(), "credwatch_time_rejects_total") >= 1; },
                      std::chrono::seconds(20)))
      << metrics();
  EXPECT_EQ(MetricSum(metrics(), "credwatch_watermark_seconds"), watermark);
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0);
}

// Open correlation windows past their share of state.memory_budget are
// dropped (the ones that end first), and /metrics says so: the operator's
// cue to raise the budget. (On two shards: each holds half the share.)
TEST_F(DaemonE2eTest, WindowsDroppedOverTheMemoryBudgetShowInMetrics) {
  const fs::path dir = root_ / "budget";
  DaemonProcess daemon(WriteConfig(dir, /*network=*/false, CREDWATCH_SOURCE_DIR "/rules", "", "2s",
                                   "commit_interval: 100ms, sync: none, memory_budget: 16MiB", 2),
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
  const int admin = daemon.PortOf("admin listening");
  auto dropped = [&] {
    return MetricSum(Http(admin, "GET", "/metrics").body, "credwatch_correlation_windows_dropped_total",
                     "memory_budget");
  };
  EXPECT_EQ(dropped(), 0);
  // 20,000 credentials, one a second, each logging in and reading from an
  // address outside the site: a window per credential, more than the
  // windows' 4 MiB share holds.
  std::string lines;
  for (int i = 0; i < 20000; ++i) {
    const std::string t = std::to_string(int64_t{1735689600} + i);
    const std::string who = "\"credential\":\"b" + std::to_string(i) + "\",\"src.ip\":\"198.51." +
                            std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + "\",\"host\":\"h1\"";
    lines += "{\"time\":" + t + "000000000,\"kind\":\"auth\",\"action\":\"login\",\"outcome\":\"success\"," + who + "}\n";
    lines += "{\"time\":" + t + "000000001,\"kind\":\"access\",\"action\":\"read\",\"outcome\":\"success\"," + who +
             ",\"object\":\"/srv/o1\",\"bytes\":4096}\n";
  }
  WriteFile(dir / "tail" / "many.log", lines);
  EXPECT_TRUE(WaitFor([&] { return dropped() > 0; }, std::chrono::seconds(60))) << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0);
}

// An sftp session open across a rule reload: the syslog decoder keeps its
// session table (the reload left syslog's projection alone), so a file read
// after the reload is still alice's.
TEST_F(DaemonE2eTest, AnSftpSessionKeepsItsUserAcrossARuleReload) {
  const fs::path dir = root_ / "sftp-reload";
  fs::create_directories(dir / "rules");
  constexpr char kReadRule[] = "0d7e2f7c-2222-4a22-9a22-000000000002";
  WriteFile(dir / "rules" / "read.yml",
            std::string("title: SFTP read\nid: ") + kReadRule +
                "\nlevel: low\nlogsource: {product: credwatch}\ndetection:\n  sel: {action: read}\n"
                "  condition: sel\n");
  DaemonProcess daemon(WriteConfig(dir, /*network=*/false, (dir / "rules").string(), "", "1s",
                                   "commit_interval: 100ms, sync: none", 2),
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.WaitStarted()) << daemon.Log();
  const int admin = daemon.PortOf("admin listening");
  auto metrics = [&] { return Http(admin, "GET", "/metrics").body; };
  // The alerts of the read rule, by the user they name ("" for none).
  auto readers = [&] {
    std::vector<std::string> users;
    for (const std::string& line : Lines(Slurp(dir / "alerts.ndjson"))) {
      if (line.find(kReadRule) == std::string::npos) continue;
      const std::string_view prefix = "\"actor\":{\"user\":{\"name\":\"";
      const size_t at = line.find(prefix);
      if (at == std::string::npos) {
        users.emplace_back();
        continue;
      }
      const size_t from = at + prefix.size();
      users.push_back(line.substr(from, line.find('"', from) - from));
    }
    return users;
  };
  const fs::path log = dir / "tail" / "auth.log";
  auto append = [&](const std::string& lines) { std::ofstream(log, std::ios::binary | std::ios::app) << lines; };
  append("May  1 10:00:00 fs1 sshd[100]: Accepted password for alice from 192.0.2.7 port 2001 ssh2\n"
         "May  1 10:00:01 fs1 internal-sftp[301]: session opened for local user alice from [192.0.2.7]\n"
         "May  1 10:00:02 fs1 internal-sftp[301]: close \"/srv/ehr/a.csv\" bytes read 4096 written 0\n");
  EXPECT_TRUE(WaitFor([&] { return readers().size() == 1; }, std::chrono::seconds(20))) << daemon.Log();

  // A new detection rule: the syslog stream's projection stays the same.
  WriteFile(dir / "rules" / "login.yml",
            "title: Any login\nid: 0d7e2f7c-2222-4a22-9a22-000000000003\nlevel: low\n"
            "logsource: {product: credwatch}\ndetection:\n  sel: {action: login}\n  condition: sel\n");
  daemon.Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return MetricSum(metrics(), "credwatch_rule_sets_applied_total") >= 1; },
                      std::chrono::seconds(20)))
      << daemon.Log();
  // Two days later (a new finding, not a repeat folded into the first), in
  // the same session.
  append("May  3 10:00:05 fs1 internal-sftp[301]: close \"/srv/ehr/b.csv\" bytes read 8192 written 0\n");
  EXPECT_TRUE(WaitFor([&] { return readers().size() == 2; }, std::chrono::seconds(20))) << daemon.Log();
  EXPECT_EQ(readers(), (std::vector<std::string>{"alice", "alice"})) << Slurp(dir / "alerts.ndjson");
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0);
}

}  // namespace
}  // namespace credwatch::testing
