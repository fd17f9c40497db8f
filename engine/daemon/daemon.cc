#include "daemon/daemon.h"

#include <fnmatch.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"
#include "common/strings.h"
#include "credwatch/config.h"
#include "credwatch/input.h"
#include "credwatch/rules.h"
#include "credwatch/time_util.h"
#include "daemon/file_tailer.h"
#include "daemon/listeners.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"
#include "daemon/sinks.h"

#ifdef CREDWATCH_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace credwatch::daemon {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Structured logs: one JSON object per line on stderr (journald keeps them).
void Log(std::string_view level, std::string_view msg,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {}) {
  std::string line = "{\"time\":";
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  AppendJsonString(FormatIso8601(now), &line);
  line += ",\"level\":";
  AppendJsonString(level, &line);
  line += ",\"msg\":";
  AppendJsonString(msg, &line);
  for (const auto& [k, v] : fields) {
    line += ',';
    AppendJsonString(k, &line);
    line += ':';
    AppendJsonString(v, &line);
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void Notify(const std::string& state) {
#ifdef CREDWATCH_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

// The watchdog interval systemd asks for, 0 when none.
std::chrono::microseconds WatchdogInterval() {
#ifdef CREDWATCH_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) return std::chrono::microseconds(usec);
#endif
  return std::chrono::microseconds(0);
}

// Rules must not come from a place anyone could write to: a world-writable
// rule file or directory would let any local user switch detection off.
absl::Status CheckNotWorldWritable(const std::vector<std::string>& paths) {
  auto files = ExpandInputs(paths);
  if (!files.ok()) return files.status();
  std::vector<std::string> check = paths;
  check.insert(check.end(), files->begin(), files->end());
  for (const std::string& p : check) {
    for (fs::path cur = fs::absolute(p); !cur.empty(); cur = cur.parent_path()) {
      struct stat st;
      if (::stat(cur.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        return absl::PermissionDeniedError(absl::StrCat(
            "rules are not loaded from world-writable paths: '", cur.string(),
            "' can be changed by any user. Run `chmod o-w ", cur.string(), "`"));
      }
      if (cur == cur.parent_path()) break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const rules::RuleSet>> LoadRules(const std::vector<std::string>& paths) {
  if (absl::Status s = CheckNotWorldWritable(paths); !s.ok()) return s;
  return rules::LoadRuleSet(paths);
}

// What identifies the rule files' contents, to notice a change.
std::string RulesSignature(const std::vector<std::string>& paths) {
  auto files = ExpandInputs(paths);
  if (!files.ok()) return "";
  std::string sig;
  for (const std::string& f : *files) {
    std::error_code ec;
    auto t = fs::last_write_time(f, ec);
    auto size = fs::file_size(f, ec);
    absl::StrAppend(&sig, f, ":", static_cast<int64_t>(t.time_since_epoch().count()), ":",
                    static_cast<uint64_t>(size), ";");
  }
  return sig;
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token_file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("token_file '", path, "' is empty"));
  return token;
}

// A process killed after a file output got alerts but before the state
// recorded it would write them again on restart. They are the outbox's
// first unconfirmed lines, byte for byte, at the end of the file: the
// largest such run is taken as delivered. Returns the seq to start after.
uint64_t AlreadyInFile(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& outbox,
                       uint64_t after) {
  std::vector<const std::pair<uint64_t, std::string>*> pending;
  size_t bytes = 0;
  for (const auto& e : outbox) {
    if (e.first <= after) continue;
    pending.push_back(&e);
    bytes += e.second.size();
  }
  if (pending.empty()) return after;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return after;
  const std::streamoff size = in.tellg();
  const std::streamoff take = std::min<std::streamoff>(size, static_cast<std::streamoff>(bytes));
  std::string tail(static_cast<size_t>(take), '\0');
  in.seekg(size - take);
  in.read(tail.data(), take);
  for (size_t k = pending.size(); k > 0; --k) {
    // Cheap test first: the file must end with the run's last line.
    const std::string& last = pending[k - 1]->second;
    if (last.size() > tail.size() || tail.compare(tail.size() - last.size(), last.size(), last) != 0) continue;
    std::string run;
    for (size_t i = 0; i < k; ++i) run += pending[i]->second;
    if (run.size() <= tail.size() && tail.compare(tail.size() - run.size(), run.size(), run) == 0) {
      return pending[k - 1]->first;
    }
  }
  return after;
}

// The name of an input in metrics, dead letters and the merge.
std::string InputName(const InputConfig& in) {
  if (in.type == "file") return absl::StrCat("file ", in.paths.front(), in.paths.size() > 1 ? " ..." : "");
  return absl::StrCat(in.type, " ", in.listen);
}

std::string Where(const Config& c, int line) { return absl::StrCat(c.path, ":", line, ": "); }

class Daemon {
 public:
  explicit Daemon(Config config) : config_(std::move(config)), queue_(static_cast<size_t>(config_.daemon.queue_bytes)) {}

  int Run();

 private:
  int Start();
  void Stop();
  void Reload(std::string_view why);
  void Request(bool* flag) {
    std::lock_guard<std::mutex> lock(mu_);
    *flag = true;
    cv_.notify_all();
  }
  void RegisterGauges();

  Config config_;
  Metrics metrics_;
  // Before queue_: chunks still queued at exit hold HTTP sessions whose
  // sockets belong to io_, so the queue must go first.
  boost::asio::io_context io_;
  IngestQueue queue_;
  std::unique_ptr<DeadLetterWriter> dead_letter_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Delivery> delivery_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<FileTailer>> tailers_;
  std::vector<std::thread> tail_threads_;
  std::atomic<bool> tail_stop_{false};
  std::thread io_thread_;
  std::thread pipeline_thread_;
  absl::Status pipeline_status_;
  std::atomic<bool> ready_{false};
  std::string rules_signature_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool reload_requested_ = false;
  bool pipeline_done_ = false;

  Counter* reload_ok_ = nullptr;
  Counter* reload_failed_ = nullptr;
  Gauge* last_reload_ok_ = nullptr;
  Gauge* rules_loaded_ = nullptr;
};

void Daemon::RegisterGauges() {
  metrics_.SetGaugeFn("credwatch_ingest_queue_bytes", "Bytes of records waiting for the detection thread.",
                      {}, [this] { return static_cast<double>(queue_.bytes()); });
  metrics_.SetGaugeFn("credwatch_ingest_queue_chunks", "Chunks waiting for the detection thread.", {},
                      [this] { return static_cast<double>(queue_.chunks()); });
  metrics_.SetGaugeFn("credwatch_ingest_queue_capacity_bytes", "Bound of the ingest queue (daemon.queue_bytes).",
                      {}, [this] { return static_cast<double>(queue_.max_bytes()); });
  metrics_.SetGaugeFn("credwatch_watermark_lag_seconds",
                      "Wall clock minus the event-time watermark (how far detection is behind now).", {},
                      [this] {
                        const int64_t w = pipeline_->watermark_ns();
                        if (w == INT64_MIN) return 0.0;
                        const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count();
                        return static_cast<double>(now - w) / 1e9;
                      });
  metrics_.SetGaugeFn("credwatch_watermark_seconds", "The event-time watermark, seconds since the epoch.", {},
                      [this] {
                        const int64_t w = pipeline_->watermark_ns();
                        return w == INT64_MIN ? 0.0 : static_cast<double>(w) / 1e9;
                      });
  metrics_.SetGaugeFn("credwatch_state_disk_bytes", "Size of the state database (SST files and WAL).", {},
                      [this] { return static_cast<double>(pipeline_->StoreStats().disk_bytes); });
  metrics_.SetGaugeFn("credwatch_state_profiles", "Credentials with a profile in the state database (RocksDB estimate).",
                      {}, [this] { return static_cast<double>(pipeline_->StoreStats().profiles_estimate); });
  metrics_.SetGaugeFn("credwatch_state_commits", "Commits of the state database since start.", {},
                      [this] { return static_cast<double>(pipeline_->commits()); });
  for (size_t i = 0; i < delivery_->sink_count(); ++i) {
    const std::string name = delivery_->Stats(i).name;
    metrics_.SetGaugeFn("credwatch_sink_backlog_alerts", "Alerts committed but not yet delivered, by sink.",
                        {{"sink", name}}, [this, i] { return static_cast<double>(delivery_->Stats(i).backlog_lines); });
    metrics_.SetGaugeFn("credwatch_sink_delivered_alerts", "Alerts delivered since start, by sink.",
                        {{"sink", name}}, [this, i] { return static_cast<double>(delivery_->Stats(i).delivered_lines); });
    metrics_.SetGaugeFn("credwatch_sink_failures", "Failed deliveries since start (retried), by sink.",
                        {{"sink", name}}, [this, i] { return static_cast<double>(delivery_->Stats(i).failures); });
  }
}

int Daemon::Start() {
  if (config_.inputs.empty()) {
    Log("error", absl::StrCat(config_.path, ": no inputs; add e.g. `inputs: [{type: file, paths: [/var/log/auth.log]}]`"));
    return 2;
  }
  if (config_.rules.empty()) {
    Log("error", absl::StrCat(config_.path, ": no rules; add e.g. `rules: [/usr/share/credwatch/rules]`"));
    return 2;
  }
  auto rules = LoadRules(config_.rules);
  if (!rules.ok()) {
    Log("error", absl::StrCat("rules: ", rules.status().message()));
    return 2;
  }
  rules_signature_ = RulesSignature(config_.rules);

  // Tokens and sinks: configuration errors, found before anything starts.
  std::vector<std::string> http_tokens(config_.inputs.size());
  for (size_t i = 0; i < config_.inputs.size(); ++i) {
    const InputConfig& in = config_.inputs[i];
    if (in.type != "http" || in.token_file.empty()) continue;
    auto token = ReadToken(in.token_file);
    if (!token.ok()) {
      Log("error", absl::StrCat(Where(config_, in.line), token.status().message()));
      return 2;
    }
    http_tokens[i] = *token;
  }
  std::vector<std::unique_ptr<AlertSink>> sinks;
  std::vector<std::string> sink_names;
  std::vector<OutputConfig> outputs = config_.outputs;
  if (outputs.empty()) {
    Log("warning", "no outputs configured: alerts go to stdout");
    outputs.push_back(OutputConfig{.type = "stdout"});
  }
  for (const OutputConfig& out : outputs) {
    SinkConfig sc;
    sc.type = out.type;
    sc.path = out.path;
    sc.max_size = out.max_size;
    sc.keep = out.keep;
    sc.sync = out.sync;
    sc.target = out.target;
    sc.url = out.url;
    sc.timeout = std::chrono::milliseconds(out.timeout_ns / 1'000'000);
    if (!out.token_file.empty()) {
      auto token = ReadToken(out.token_file);
      if (!token.ok()) {
        Log("error", absl::StrCat(Where(config_, out.line), token.status().message()));
        return 2;
      }
      sc.token = *token;
    }
    auto sink = MakeSink(sc);
    if (!sink.ok()) {
      Log("error", absl::StrCat(Where(config_, out.line), sink.status().message()));
      return 2;
    }
    sink_names.emplace_back((*sink)->name());
    sinks.push_back(std::move(*sink));
  }
  if (!config_.dead_letter.empty()) {
    auto dl = DeadLetterWriter::Open(config_.dead_letter);
    if (!dl.ok()) {
      Log("error", std::string(dl.status().message()));
      return 3;
    }
    dead_letter_ = std::move(*dl);
  }

  // State.
  Pipeline::Options popts = Pipeline::OptionsFrom(config_);
  popts.dead_letter = dead_letter_.get();
  for (const InputConfig& in : config_.inputs) popts.inputs.push_back(InputName(in));
  auto pipeline = Pipeline::Open(popts, *rules, &queue_, &metrics_);
  if (!pipeline.ok()) {
    Log("error", std::string(pipeline.status().message()));
    return 3;
  }
  pipeline_ = std::move(*pipeline);
  auto outbox = pipeline_->Outbox();
  if (!outbox.ok()) {
    Log("error", std::string(outbox.status().message()));
    return 3;
  }
  std::vector<uint64_t> start_after;
  for (size_t i = 0; i < sink_names.size(); ++i) {
    uint64_t after = pipeline_->SinkDeliveredThrough(sink_names[i]);
    if (outputs[i].type == "file") after = AlreadyInFile(outputs[i].path, *outbox, after);
    start_after.push_back(after);
  }
  delivery_ = std::make_unique<Delivery>(std::move(sinks), start_after);
  if (absl::Status s = pipeline_->AttachDelivery(delivery_.get(), sink_names); !s.ok()) {
    Log("error", std::string(s.message()));
    return 3;
  }

  // Listeners.
  for (size_t i = 0; i < config_.inputs.size(); ++i) {
    const InputConfig& in = config_.inputs[i];
    absl::StatusOr<std::unique_ptr<Listener>> started;
    if (in.type == "syslog") {
      SyslogListenerOptions o;
      o.url = in.listen;
      o.input = InputName(in);
      o.format = in.format;
      o.max_message_bytes = static_cast<size_t>(in.max_message_bytes);
      auto l = SyslogListener::Start(io_, o, &queue_, &metrics_);
      if (l.ok()) started = std::unique_ptr<Listener>(std::move(*l)); else started = l.status();
    } else if (in.type == "http") {
      HttpIngestOptions o;
      o.address = in.listen;
      o.input = InputName(in);
      o.token = http_tokens[i];
      o.format = in.format;
      o.max_body_bytes = static_cast<uint64_t>(in.max_body_bytes);
      auto l = HttpIngestListener::Start(io_, o, &queue_, &metrics_);
      if (l.ok()) started = std::unique_ptr<Listener>(std::move(*l)); else started = l.status();
    } else {
      continue;
    }
    if (!started.ok()) {
      Log("error", absl::StrCat(Where(config_, in.line), started.status().message()));
      return 3;
    }
    Log("info", "listening", {{"input", in.type}, {"address", (*started)->address()}});
    listeners_.push_back(std::move(*started));
  }
  RegisterGauges();
  reload_ok_ = metrics_.GetCounter("credwatch_rule_reloads_total", "Rule reloads, by result.", {{"result", "ok"}});
  reload_failed_ = metrics_.GetCounter("credwatch_rule_reloads_total", "Rule reloads, by result.", {{"result", "failed"}});
  last_reload_ok_ = metrics_.GetGauge("credwatch_rule_reload_last_success",
                                      "1 when the last reload succeeded (or none was tried), 0 when it failed "
                                      "and the previous rules are still running.");
  last_reload_ok_->Set(1);
  rules_loaded_ = metrics_.GetGauge("credwatch_rules_loaded", "Rules in the running rule set.");
  rules_loaded_->Set(static_cast<double>((*rules)->rules().size()));
  if (config_.admin.listen != "" && config_.admin.listen != "off") {
    AdminListenerOptions o;
    o.address = config_.admin.listen;
    o.metrics = [this] { return metrics_.Render(); };
    o.healthy = [this] { return pipeline_->Healthy(std::chrono::seconds(10)); };
    o.ready = [this] { return ready_.load() && pipeline_->Healthy(std::chrono::seconds(10)); };
    auto l = AdminListener::Start(io_, o, &metrics_);
    if (!l.ok()) {
      Log("error", absl::StrCat("admin: ", l.status().message()));
      return 3;
    }
    Log("info", "admin listening", {{"address", (*l)->address()}});
    listeners_.push_back(std::move(*l));
  }

  // Tails.
  for (const InputConfig& in : config_.inputs) {
    if (in.type != "file") continue;
    TailOptions o;
    o.paths = in.paths;
    o.format = in.format;
    o.input_name = InputName(in);
    o.poll_interval = std::chrono::milliseconds(std::max<int64_t>(config_.daemon.poll_interval_ns / 1'000'000, 1));
    o.max_line_bytes = config_.limits.max_record_bytes;
    o.log = [](std::string_view msg) { Log("warning", msg); };
    auto tailer = std::make_unique<FileTailer>(o, &queue_);
    // Only this input's files: two inputs must not both resume one file.
    std::vector<TailPosition> mine;
    for (const TailPosition& p : pipeline_->TailPositions()) {
      for (const std::string& glob : in.paths) {
        if (::fnmatch(glob.c_str(), p.path.c_str(), FNM_PATHNAME) == 0 || glob == p.path) {
          mine.push_back(p);
          break;
        }
      }
    }
    tailer->Restore(mine);
    const TailStats* stats = &tailer->stats();
    const Labels labels = {{"input", o.input_name}};
    metrics_.SetGaugeFn("credwatch_tail_files_open", "Files a file input has open.", labels,
                        [stats] { return static_cast<double>(stats->files_open.load()); });
    metrics_.SetGaugeFn("credwatch_tail_bytes_read", "Bytes a file input has read since start.", labels,
                        [stats] { return static_cast<double>(stats->bytes_read.load()); });
    metrics_.SetGaugeFn("credwatch_tail_rotations", "Rotations a file input has followed since start.", labels,
                        [stats] { return static_cast<double>(stats->rotations.load()); });
    metrics_.SetGaugeFn("credwatch_tail_truncations", "Truncated files a file input restarted since start.", labels,
                        [stats] { return static_cast<double>(stats->truncations.load()); });
    metrics_.SetGaugeFn("credwatch_tail_lines_too_long", "Lines skipped for length since start.", labels,
                        [stats] { return static_cast<double>(stats->lines_too_long.load()); });
    metrics_.SetGaugeFn("credwatch_tail_read_errors", "Paths that could not be read since start.", labels,
                        [stats] { return static_cast<double>(stats->read_errors.load()); });
    tailers_.push_back(std::move(tailer));
  }

  delivery_->Start();
  pipeline_thread_ = std::thread([this] {
    pipeline_status_ = pipeline_->Run();
    Request(&pipeline_done_);
  });
  for (auto& t : tailers_) {
    FileTailer* raw = t.get();
    tail_threads_.emplace_back([this, raw] { raw->Run(tail_stop_); });
  }
  io_thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
  return 0;
}

void Daemon::Reload(std::string_view why) {
  auto next = LoadRules(config_.rules);
  if (!next.ok()) {
    // Logged before it is counted: whoever sees the count finds the reason.
    Log("error", "rule reload failed; the running rules stay in force",
        {{"trigger", why}, {"error", Sv(next.status().message())}});
    reload_failed_->Add();
    last_reload_ok_->Set(0);
    return;
  }
  pipeline_->rules().Publish(*next);
  reload_ok_->Add();
  last_reload_ok_->Set(1);
  rules_loaded_->Set(static_cast<double>((*next)->rules().size()));
  Log("info", "rules reloaded", {{"trigger", why}, {"rules", std::to_string((*next)->rules().size())}});
}

void Daemon::Stop() {
  Notify("STOPPING=1");
  ready_ = false;
  tail_stop_ = true;
  for (auto& t : tail_threads_) t.join();
  // Syslog stops now; HTTP and admin stay up until the final commit has
  // answered the requests in flight (new ones get 503 once the queue is
  // closed), so no client re-sends records that were committed.
  for (auto& l : listeners_) {
    if (dynamic_cast<SyslogListener*>(l.get()) != nullptr) l->Stop();
  }
  // Let syslog connections hand over the messages they already hold (the
  // pipeline keeps taking chunks meanwhile) before the queue refuses more.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  queue_.Close();
  pipeline_->RequestStop(std::chrono::nanoseconds(config_.daemon.stop_timeout_ns));
  if (pipeline_thread_.joinable()) pipeline_thread_.join();
  delivery_->Stop(std::chrono::seconds(10));
  if (pipeline_status_.ok()) {
    if (absl::Status s = pipeline_->CommitDeliveries(); !s.ok()) pipeline_status_ = s;
  }
  // Let the io thread write the answers of the last commit's requests.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& l : listeners_) l->Stop();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

int Daemon::Run() {
  // Installed before anything starts, so a signal during start-up is not
  // fatal (it is handled once the io thread runs).
  boost::asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
  if (int rc = Start(); rc != 0) {
    // Started parts are stopped in order.
    if (pipeline_thread_.joinable() || io_thread_.joinable()) Stop();
    return rc;
  }
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          Request(&reload_requested_);
        } else {
          Request(&stop_requested_);
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  ready_ = true;
  Notify("READY=1\nSTATUS=running");
  if (!pipeline_->shards_note().empty()) Log("warning", pipeline_->shards_note());
  Log("info", "started",
      {{"config", config_.path}, {"state_dir", config_.state_dir}, {"shards", std::to_string(pipeline_->shards())}});

  const auto watchdog = WatchdogInterval();
  const auto tick = watchdog.count() > 0
                        ? std::min<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(watchdog) / 2,
                                                              std::chrono::milliseconds(1000))
                        : std::chrono::milliseconds(1000);
  while (true) {
    bool reload = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, tick, [&] { return stop_requested_ || reload_requested_ || pipeline_done_; });
      if (stop_requested_ || pipeline_done_) break;
      reload = std::exchange(reload_requested_, false);
    }
    if (reload) {
      Notify("RELOADING=1");
      Reload("SIGHUP");
      rules_signature_ = RulesSignature(config_.rules);
      Notify("READY=1");
    } else if (config_.daemon.watch_rules) {
      std::string sig = RulesSignature(config_.rules);
      if (sig != rules_signature_) {
        rules_signature_ = sig;
        Reload("rule file changed");
      }
    }
    if (watchdog.count() > 0 && pipeline_->Healthy(std::chrono::duration_cast<std::chrono::nanoseconds>(watchdog))) {
      Notify("WATCHDOG=1");
    }
  }
  signals.cancel();
  Log("info", "stopping: draining inputs and committing");
  Stop();
  if (!pipeline_status_.ok()) {
    Log("error", "stopped on an error", {{"error", Sv(pipeline_status_.message())}});
    return 3;
  }
  Log("info", "stopped", {{"alerts", std::to_string(pipeline_->alerts())},
                          {"commits", std::to_string(pipeline_->commits())}});
  return 0;
}

}  // namespace

int RunDaemon(const DaemonOptions& options) {
  auto config = LoadConfig(options.config_path);
  if (!config.ok()) {
    Log("error", std::string(config.status().message()));
    return 2;
  }
  if (!options.rules.empty()) config->rules = options.rules;
  if (!options.state_dir.empty()) config->state_dir = options.state_dir;
  if (options.shards >= 0) config->daemon.shards = options.shards;
  // A write to a closed socket must be an error, not the end of the process.
  ::signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT/SIGHUP are taken by Asio's signal_set (Daemon::Run).
  Daemon daemon(std::move(*config));
  return daemon.Run();
}

}  // namespace credwatch::daemon
