#include "daemon/pipeline.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <thread>

#include "absl/strings/str_cat.h"
#include "credwatch/event_batch.h"
#include "credwatch/site.h"
#include "daemon/sinks.h"
#include "state/encoding.h"
#include "state/records.h"

namespace credwatch::daemon {
namespace {

using Clock = std::chrono::steady_clock;
using state::Family;

// Keys of the daemon's records (state families as docs/state.md lists).
constexpr std::string_view kDaemonRunDescription = "credwatch run (daemon)";
constexpr uint64_t kDaemonRunFingerprint = 0xDAE3'0000'0000'0001ULL;
constexpr std::string_view kDaemonCursorKey = "daemon";   // positions: next outbox seq, acked
constexpr std::string_view kTailKeyPrefix = "tail/";      // positions, + device:inode
// When each file pattern was first followed with this state (see
// TailPosition::followed_since).
constexpr std::string_view kFollowedKeyPrefix = "followed/";  // positions, + pattern
constexpr std::string_view kSinkKeyPrefix = "sink/";      // positions, + sink name
// The detection shards the state was started with (0: the pipeline thread).
constexpr std::string_view kShardsKey = "daemon/shards";  // positions
// Network chunks (syslog, HTTP) until their events are processed: they
// cannot be read again from a file, so they are kept here.
constexpr std::string_view kSpoolKeyPrefix = "spool/";    // positions, + seq (BE)
constexpr char kSpoolTag = 'P';
constexpr char kTailTag = 'T';
constexpr char kDaemonTag = 'D';
constexpr char kSinkTag = 'S';
constexpr char kFollowedTag = 'F';
constexpr char kVersion = 1;

using SkipList = std::vector<std::pair<uint64_t, uint32_t>>;

void PutSkip(std::string* out, const SkipList& skip) {
  state::PutFixed(out, static_cast<uint32_t>(skip.size()));
  for (const auto& [offset, ordinal] : skip) {
    state::PutFixed(out, offset);
    state::PutFixed(out, ordinal);
  }
}

// `record_bytes` bounds the count: each entry takes 12 bytes.
bool GetSkip(state::Decoder& d, size_t record_bytes, SkipList* skip) {
  uint32_t n = 0;
  if (!d.Get(&n) || n > record_bytes / 12) return false;
  skip->resize(n);
  for (auto& [offset, ordinal] : *skip) {
    if (!d.Get(&offset) || !d.Get(&ordinal)) return false;
  }
  return true;
}

std::string TailKey(const FileKey& key) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx:%016llx", static_cast<unsigned long long>(key.device),
                static_cast<unsigned long long>(key.inode));
  return std::string(kTailKeyPrefix) + buf;
}

std::string EncodeTail(const TailPosition& p, const SkipList& skip) {
  std::string out{kTailTag, kVersion};
  state::PutFixed(&out, p.key.device);
  state::PutFixed(&out, p.key.inode);
  state::PutFixed(&out, p.key.fingerprint);
  state::PutFixed(&out, p.key.fingerprint_len);
  state::PutFixed(&out, p.offset);
  state::PutString(&out, p.path);
  PutSkip(&out, skip);
  return out;
}

bool DecodeTail(std::string_view bytes, TailPosition* p, SkipList* skip) {
  if (bytes.size() < 2 || bytes[0] != kTailTag || bytes[1] != kVersion) return false;
  state::Decoder d(bytes.substr(2));
  d.Get(&p->key.device);
  d.Get(&p->key.inode);
  d.Get(&p->key.fingerprint);
  d.Get(&p->key.fingerprint_len);
  d.Get(&p->offset);
  d.GetString(&p->path);
  return GetSkip(d, bytes.size(), skip) && d.Done();
}

std::string EncodeU64(char tag, uint64_t v) {
  std::string out{tag, kVersion};
  state::PutFixed(&out, v);
  return out;
}

bool DecodeU64(std::string_view bytes, char tag, uint64_t* v) {
  if (bytes.size() < 2 || bytes[0] != tag || bytes[1] != kVersion) return false;
  state::Decoder d(bytes.substr(2));
  d.Get(v);
  return d.Done();
}

std::string EncodeSpool(const IngestChunk& c, const SkipList& skip) {
  std::string out{kSpoolTag, kVersion};
  state::PutString(&out, c.input);
  state::PutString(&out, c.stream);
  state::PutFixed(&out, static_cast<uint8_t>(c.format));
  state::PutString(&out, c.bytes);
  PutSkip(&out, skip);
  return out;
}

bool DecodeSpool(std::string_view bytes, IngestChunk* c, SkipList* skip) {
  if (bytes.size() < 2 || bytes[0] != kSpoolTag || bytes[1] != kVersion) return false;
  state::Decoder d(bytes.substr(2));
  uint8_t format = 0;
  d.GetString(&c->input);
  d.GetString(&c->stream);
  d.Get(&format);
  d.GetString(&c->bytes);
  if (!GetSkip(d, bytes.size(), skip)) return false;
  c->format = static_cast<Format>(format);
  return d.Done() && format <= static_cast<uint8_t>(Format::kMapping);
}

// The key of a chunk's stream (decoder) and watermark source. A syslog TCP
// connection's stream is its peer "IP:PORT"; keyed by the IP alone, so that
// senders reconnecting from new ports do not add a decoder and a source each.
std::string StreamKey(const IngestChunk& c) {
  std::string_view stream = c.stream;
  if (c.input.rfind("syslog tcp", 0) == 0) {
    const size_t colon = stream.rfind(':');
    const bool ipv6 = !stream.empty() && stream.front() == '[';  // "[a:b::c]:port"
    if (colon != std::string_view::npos &&
        (ipv6 ? colon > 0 && stream[colon - 1] == ']' : stream.find(':') == colon)) {
      stream = stream.substr(0, colon);
    }
  }
  std::string key = c.input;
  key += '\0';
  key.append(stream.data(), stream.size());
  return key;
}

// Live records may be at most this far ahead of the wall clock.
constexpr int64_t kMaxFutureNs = int64_t{24} * 3600 * 1'000'000'000;
constexpr int64_t kEarliestTimeNs = int64_t{631152000} * 1'000'000'000;  // 1990-01-01

int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

// One stream of records (a file, a syslog peer, an HTTP input): its decoder
// keeps per-stream state (the syslog year), its format is decided once.
struct Pipeline::Stream {
  std::string source;  // stable storage for RecordContext::source
  std::string input;
  Format format = Format::kAuto;
  // The set whose projection the decoder reads (held: the decoder keeps a
  // pointer to it across reloads that leave its format's projection alone).
  std::shared_ptr<const rules::RuleSet> rules;
  std::unique_ptr<RecordDecoder> decoder;
  Counter* events = nullptr;
  std::array<Counter*, static_cast<size_t>(RecordCode::kNumCodes)> by_code{};
};

// A chunk whose events are not all processed yet.
struct Pipeline::Held {
  IngestChunk chunk;
  EventBatch batch;
  size_t pending = 0;     // events still in the heap
  uint64_t spool_seq = 0;  // network chunks: their record in the spool (0 = none)
  std::vector<uint8_t> processed;  // per event of batch
  size_t size = 0;                 // chunk.bytes without the decoders' padding
  size_t spooled_skip = 0;         // processed events its spool record lists
};

namespace {

// The ordinal of each event among the events of its record (consecutive in
// a batch).
template <typename Fn>
void ForEachWithOrdinal(EventBatch& batch, Fn fn) {
  uint32_t ordinal = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    ordinal = (i > 0 && batch[i].source_offset == batch[i - 1].source_offset) ? ordinal + 1 : 0;
    fn(i, batch[i].source_offset, ordinal);
  }
}

}  // namespace

// A watermark source: the latest event time it delivered, and when.
struct Pipeline::Source {
  int64_t max_time_ns = INT64_MIN;
  Clock::time_point last_seen;
};

Pipeline::Options Pipeline::OptionsFrom(const Config& config) {
  Options o;
  o.config = config;
  o.state = state::StateOptionsFromConfig(config);
  o.idle_source = std::chrono::nanoseconds(config.daemon.idle_source_ns);
  o.reorder_window_ns = config.daemon.reorder_window_ns;
  o.shards = config.daemon.shards;
  return o;
}

namespace {
state::DetectorOptions DetectorOptionsFrom(const Pipeline::Options& o) {
  state::DetectorOptions d = state::DetectorOptionsFromConfig(o.config, o.state.retention_ns);
  // A daemon runs for months: folded findings are forgotten a day after the
  // fold window (24 h) closes.
  d.forget_findings_after_ns = 48 * 3600 * kNsPerSecond;
  d.lateness_ns = o.reorder_window_ns;
  return d;
}
}  // namespace

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Open(const Options& options,
                                                         std::shared_ptr<const rules::RuleSet> rules,
                                                         IngestQueue* queue, Metrics* metrics) {
  auto site = Site::Create(options.config.site);
  if (!site.ok()) return site.status();
  auto store = state::StateStore::Open(options.state);
  if (!store.ok()) return store.status();
  std::unique_ptr<Pipeline> p(
      new Pipeline(options, std::move(rules), *site, std::move(*store), queue, metrics));
  if (absl::Status s = p->Restore(); !s.ok()) return s;
  return p;
}

Pipeline::Pipeline(const Options& options, std::shared_ptr<const rules::RuleSet> rules,
                   std::shared_ptr<const Site> site, std::unique_ptr<state::StateStore> store,
                   IngestQueue* queue, Metrics* metrics)
    : options_(options),
      site_(std::move(site)),
      store_(std::move(store)),
      publisher_(rules),
      applied_rules_(rules),
      queue_(queue),
      metrics_(metrics) {
  rules_version_ = publisher_.version();
  future_rejects_ = metrics_->GetCounter(
      "credwatch_time_rejects_total",
      "Events dated more than a day ahead of the clock or before 1990: not processed, so one "
      "bad timestamp cannot move the watermark.");
  forced_ = metrics_->GetCounter(
      "credwatch_reorder_forced_total",
      "Events processed before every source reached their time because held events exceeded "
      "daemon.queue_bytes (a source far behind the others).");
  late_events_ = metrics_->GetCounter(
      "credwatch_late_events_total",
      "Events older than the watermark when they arrived (processed, but windows may have closed).");
  rules_applied_ = metrics_->GetCounter("credwatch_rule_sets_applied_total",
                                        "Rule sets the detection thread switched to after a reload.");
  const std::string dropped_help =
      "Open correlation windows dropped before their end, by reason: the per-rule group limit, "
      "or the window share (2/8) of state.memory_budget. A dropped window's correlation may "
      "miss: when reason=memory_budget grows, raise state.memory_budget.";
  windows_dropped_limit_ =
      metrics_->GetCounter("credwatch_correlation_windows_dropped_total", dropped_help, {{"reason", "group_limit"}});
  windows_dropped_budget_ = metrics_->GetCounter("credwatch_correlation_windows_dropped_total", dropped_help,
                                                 {{"reason", "memory_budget"}});
  last_commit_ = Clock::now();
  started_ = Clock::now();
  for (const std::string& in : options_.inputs) inputs_heard_[in] = false;
  heartbeat_ns_ = SteadyNowNs();
}

Pipeline::~Pipeline() = default;

absl::Status Pipeline::Restore() {
  const std::string dir = store_->dir();
  auto corrupted = [&](auto what) {
    return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", what,
                                            ". Move it away to start over"));
  };
  std::string value;
  auto got = store_->Get(Family::kMeta, state::kRunKey, &value);
  if (!got.ok()) return got.status();
  if (*got) {
    auto run = state::DecodeRunIdentity(value);
    if (!run.ok()) return corrupted(run.status().message());
    if (run->fingerprint != kDaemonRunFingerprint) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state_dir '", dir, "' holds the state of a replay (", run->description,
          "), not of the daemon. Give `credwatch run` its own state_dir"));
    }
  } else {
    state::StateBatch b;
    b.Put(Family::kMeta, state::kRunKey,
          state::EncodeRunIdentity(state::RunIdentity{kDaemonRunFingerprint, std::string(kDaemonRunDescription)}));
    if (absl::Status s = store_->Commit(b); !s.ok()) return s;
  }
  if (absl::Status s = RestoreShards(*got); !s.ok()) return s;
  uint64_t detection_seq = 0;

  got = store_->Get(Family::kPositions, kDaemonCursorKey, &value);
  if (!got.ok()) return got.status();
  if (*got) {
    state::Decoder d(std::string_view(value).substr(std::min<size_t>(2, value.size())));
    uint64_t seq = 0;
    if (value.size() < 2 || value[0] != kDaemonTag || value[1] != kVersion || !d.Get(&seq) ||
        !d.Get(&acked_through_) || !d.Done()) {
      return corrupted("the daemon cursor cannot be read");
    }
    next_seq_ = seq;
    auto g = store_->Get(Family::kPositions, "daemon/detections", &value);
    if (!g.ok()) return g.status();
    if (*g && !DecodeU64(value, kDaemonTag, &detection_seq)) {
      return corrupted("the detection counter cannot be read");
    }
  }
  detector_ = LiveDetector::Make(DetectorOptionsFrom(options_), applied_rules_, site_, store_.get(), shards_);
  if (absl::Status s = detector_->Restore(detection_seq); !s.ok()) return s;

  absl::Status bad;
  absl::Status scanned = store_->Scan(Family::kPositions, kTailKeyPrefix, [&](std::string_view, std::string_view v) {
    TailPosition p;
    std::vector<std::pair<uint64_t, uint32_t>> skip;
    if (!DecodeTail(v, &p, &skip)) {
      bad = corrupted("a tail position cannot be read");
      return false;
    }
    if (!skip.empty()) skip_[TailKey(p.key)] = std::move(skip);
    tail_positions_.push_back(std::move(p));
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  if (absl::Status s = RestoreFollowedSince(); !s.ok()) return s;
  scanned = store_->Scan(Family::kPositions, kSpoolKeyPrefix, [&](std::string_view key, std::string_view v) {
    IngestChunk c;
    std::vector<std::pair<uint64_t, uint32_t>> skip;
    if (!DecodeSpool(v, &c, &skip)) {
      bad = corrupted("a spooled chunk cannot be read");
      return false;
    }
    const uint64_t seq = state::SeqFromKey(key, kSpoolKeyPrefix);
    next_spool_seq_ = std::max(next_spool_seq_, seq + 1);
    if (!skip.empty()) skip_[std::string(kSpoolKeyPrefix) + state::SeqKey("", seq)] = std::move(skip);
    spooled_.emplace_back(seq, std::move(c));
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  scanned = store_->Scan(Family::kPositions, kSinkKeyPrefix, [&](std::string_view key, std::string_view v) {
    uint64_t through = 0;
    if (!DecodeU64(v, kSinkTag, &through)) {
      bad = corrupted("a sink position cannot be read");
      return false;
    }
    sink_progress_[std::string(key.substr(kSinkKeyPrefix.size()))] = through;
    return true;
  });
  if (!scanned.ok()) return scanned;
  return bad;
}

absl::Status Pipeline::RestoreShards(bool existing_state) {
  uint32_t requested = 1;
  if (options_.shards > 0) requested = static_cast<uint32_t>(options_.shards);
  if (options_.shards == 0) requested = 0;
  if (options_.shards < 0) requested = std::max(1u, std::thread::hardware_concurrency());
  std::string value;
  auto got = store_->Get(Family::kPositions, kShardsKey, &value);
  if (!got.ok()) return got.status();
  uint64_t committed = 0;
  if (*got) {
    if (!DecodeU64(value, kDaemonTag, &committed) || committed > 1024) {
      return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(),
                                              "' is corrupted: the number of shards cannot be read. "
                                              "Move it away to start over"));
    }
  } else if (!existing_state) {
    committed = requested;
  }
  // (A daemon state without the record was written on the pipeline thread,
  // by a build before shards: 0.) Open correlation windows are kept per
  // shard, so a state stays on the shards it was started with.
  shards_ = static_cast<uint32_t>(committed);
  if (shards_ != requested) {
    shards_note_ = absl::StrCat("state_dir '", store_->dir(), "' was started with ", shards_,
                                " detection shards; it keeps them (", requested,
                                " requested): a new state_dir takes --shards / daemon.shards");
  }
  if (*got) return absl::OkStatus();
  state::StateBatch b;
  b.Put(Family::kPositions, kShardsKey, EncodeU64(kDaemonTag, shards_));
  return store_->Commit(b);
}

absl::Status Pipeline::RestoreFollowedSince() {
  // Recorded at the first start that follows a pattern, before its tailer
  // polls: a run killed before its first commit leaves no position, yet the
  // generations rotated since are the daemon's to read (FileTailer::Restore).
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);  // the clock of file mtimes, as the tailer's
  state::StateBatch b;
  bool added = false;
  for (const InputConfig& in : options_.config.inputs) {
    if (in.type != "file") continue;
    for (const std::string& pattern : in.paths) {
      const std::string key = std::string(kFollowedKeyPrefix) + pattern;
      std::string value;
      auto got = store_->Get(Family::kPositions, key, &value);
      if (!got.ok()) return got.status();
      uint64_t ns = 0;
      if (!*got) {
        ns = static_cast<uint64_t>(now.tv_sec) * kNsPerSecond + static_cast<uint64_t>(now.tv_nsec);
        b.Put(Family::kPositions, key, EncodeU64(kFollowedTag, ns));
        added = true;
      } else if (!DecodeU64(value, kFollowedTag, &ns)) {
        return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(),
                                                "' is corrupted: a file input's start cannot be read. "
                                                "Move it away to start over"));
      }
      TailPosition p;
      p.path = pattern;
      p.followed_since = timespec{static_cast<time_t>(ns / kNsPerSecond), static_cast<long>(ns % kNsPerSecond)};
      tail_positions_.push_back(std::move(p));
    }
  }
  return added ? store_->Commit(b) : absl::OkStatus();
}

uint64_t Pipeline::SinkDeliveredThrough(std::string_view sink_name) const {
  auto it = sink_progress_.find(std::string(sink_name));
  // A sink the state does not know (new in the config) starts after what
  // every known sink had confirmed: it is not sent old alerts.
  return it == sink_progress_.end() ? acked_through_ : it->second;
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Pipeline::Outbox() const {
  std::vector<std::pair<uint64_t, std::string>> out;
  absl::Status s = store_->Scan(Family::kOutbox, "", [&](std::string_view key, std::string_view line) {
    out.emplace_back(state::SeqFromKey(key, ""), std::string(line));
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status Pipeline::AttachDelivery(Delivery* delivery, std::vector<std::string> sink_names) {
  delivery_ = delivery;
  sink_names_ = std::move(sink_names);
  // The outbox (alerts committed but not confirmed by every output) goes to
  // the sinks as they take it: TopUpDelivery, from the detection thread.
  offered_through_ = acked_through_;
  return absl::OkStatus();
}

void Pipeline::TopUpDelivery() {
  if (delivery_ == nullptr || offered_through_ + 1 >= next_seq_) return;
  const auto now = Clock::now();
  if (offer_blocked_ && now - last_top_up_ < std::chrono::milliseconds(100)) return;
  last_top_up_ = now;
  offer_blocked_ = false;
  // In seq order from the outbox; stops at the first alert Delivery cannot
  // take yet (its queue is full while an output is down), never skipping one.
  absl::Status s = store_->Scan(Family::kOutbox, "", [&](std::string_view key, std::string_view line) {
    const uint64_t seq = state::SeqFromKey(key, "");
    if (seq <= offered_through_) return true;
    if (!delivery_->Offer(seq, std::string(line))) {
      offer_blocked_ = true;
      return false;
    }
    offered_through_ = seq;
    return true;
  });
  if (!s.ok()) Fail(s);
}

void Pipeline::RequestStop(std::chrono::nanoseconds drain) {
  drain_ns_.store(drain.count(), std::memory_order_relaxed);
  stop_.store(true, std::memory_order_release);
}

bool Pipeline::Healthy(std::chrono::nanoseconds within) const {
  if (failed_.load(std::memory_order_relaxed)) return false;
  return SteadyNowNs() - heartbeat_ns_.load(std::memory_order_relaxed) <= within.count();
}

void Pipeline::Fail(absl::Status s) {
  if (status_.ok()) status_ = std::move(s);
  failed_.store(true, std::memory_order_relaxed);
}

absl::Status Pipeline::Run() {
  const auto interval = std::chrono::nanoseconds(std::max<int64_t>(options_.state.commit_interval_ns, 0));
  const int64_t commit_events = std::max<int64_t>(options_.state.commit_events, 1);
  Clock::time_point drain_deadline{};
  bool draining = false;
  // Network chunks a previous run had taken but not finished: first.
  for (auto& [seq, chunk] : std::exchange(spooled_, {})) Process(chunk, seq);
  while (status_.ok()) {
    heartbeat_ns_.store(SteadyNowNs(), std::memory_order_relaxed);
    if (!draining && stop_.load(std::memory_order_acquire)) {
      draining = true;
      drain_deadline = Clock::now() + std::chrono::nanoseconds(drain_ns_.load(std::memory_order_relaxed));
    }
    CheckReload();
    TopUpDelivery();
    std::optional<IngestChunk> chunk = queue_->Take(std::chrono::milliseconds(draining ? 0 : 50));
    if (chunk) {
      Process(*chunk, 0);
    } else {
      AdvanceWatermark();  // sources may have gone idle
    }
    const bool due = events_since_commit_ >= commit_events || Clock::now() - last_commit_ >= interval;
    const bool idle = !chunk && (events_since_commit_ > 0 || !pending_done_.empty() || !moved_files_.empty() ||
                                 watermark_moved_ || !spool_deletes_.empty());
    const bool acks = delivery_ && delivery_->AckedThrough() > acked_through_ && Clock::now() - last_commit_ >= interval;
    if (due && (events_since_commit_ > 0 || !moved_files_.empty() || !pending_done_.empty() ||
                !spool_deletes_.empty() || watermark_moved_ || acks)) {
      if (absl::Status s = Commit(); !s.ok()) Fail(s);
    } else if (idle && Clock::now() - last_commit_ >= interval / 4) {
      if (absl::Status s = Commit(); !s.ok()) Fail(s);
    } else if (acks) {
      if (absl::Status s = Commit(); !s.ok()) Fail(s);
    }
    if (draining && (!chunk || Clock::now() >= drain_deadline)) break;
  }
  if (status_.ok()) {
    // Stopping: what is held is processed now (its sources will not move on
    // in this process), so that its positions can be committed.
    Release(INT64_MAX);
    if (absl::Status s = Commit(); !s.ok()) Fail(s);
  }
  for (auto& h : held_) {
    if (h->chunk.done) h->chunk.done(false);
  }
  // Chunks not committed (a failure): their senders must retry. The queue
  // refuses more first, so every chunk taken is answered.
  queue_->Close();
  for (auto& done : pending_done_) done(false);
  pending_done_.clear();
  while (auto rest = queue_->Take(std::chrono::milliseconds(0))) {
    if (rest->done) rest->done(false);
  }
  return status_;
}

Pipeline::Stream* Pipeline::StreamFor(const IngestChunk& chunk) {
  std::string key = StreamKey(chunk);
  auto it = streams_.find(key);
  if (it != streams_.end()) return it->second.get();
  auto stream = std::make_unique<Stream>();
  stream->input = chunk.input;
  stream->source = chunk.stream.empty() ? chunk.input : chunk.stream;
  Format format = chunk.format;
  // Detected from the first line that tells (a stream may start with the
  // rest of a line cut by a rotation).
  for (size_t pos = 0, tries = 0; format == Format::kAuto && pos < chunk.bytes.size() && tries < 64; ++tries) {
    size_t nl = chunk.bytes.find('\n', pos);
    std::string_view line = std::string_view(chunk.bytes).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    // The tail of a cut JSON line is no syslog line.
    const bool fragment = !line.empty() && line.front() != '{' && line.back() == '}';
    if (!fragment) format = DetectFormat(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (format == Format::kAuto) {
    // Nothing here tells: the chunk is rejected, the next one tries again.
    static Stream undetected;
    undetected.decoder.reset();
    undetected.input = chunk.input;
    undetected.by_code = {};  // counters are labelled with the input
    undetected.events = metrics_->GetCounter("credwatch_events_total", "Events decoded, by input and format.",
                                             {{"input", chunk.input}, {"format", "unknown"}});
    return &undetected;
  }
  InputOptions io;
  io.decoder.limits = options_.config.limits;
  std::shared_ptr<const rules::RuleSet> rules = applied_rules_;
  io.projection_for = [rules](Format f) { return &rules->projection(f); };
  io.site = site_;
  io.dead_letter = options_.dead_letter;
  auto decoder = RecordDecoder::Create(format, stream->source, io, chunk.bytes);
  if (decoder.ok()) stream->decoder = std::move(*decoder);
  stream->format = format;
  stream->rules = std::move(rules);
  stream->events = metrics_->GetCounter("credwatch_events_total", "Events decoded, by input and format.",
                                        {{"input", chunk.input}, {"format", std::string(FormatName(format))}});
  Stream* raw = stream.get();
  streams_.emplace(std::move(key), std::move(stream));
  return raw;
}

void Pipeline::Process(IngestChunk& chunk, uint64_t spool_seq) {
  Stream* stream = StreamFor(chunk);
  auto& source_ptr = sources_[StreamKey(chunk)];
  if (!source_ptr) source_ptr = std::make_unique<Source>();
  Source& source = *source_ptr;
  source.last_seen = Clock::now();

  auto held = std::make_unique<Held>();
  if (!chunk.file && spool_seq == 0) {
    // A network chunk: spooled in the next commit; its sender is answered
    // then (not after the event-time merge has processed it).
    spool_seq = next_spool_seq_++;
    spool_puts_.emplace_back(std::string(kSpoolKeyPrefix) + state::SeqKey("", spool_seq), EncodeSpool(chunk, {}));
    if (chunk.done) pending_done_.push_back(std::move(chunk.done));
    chunk.done = nullptr;
  }
  held->spool_seq = spool_seq;
  held->chunk = std::move(chunk);
  std::string& bytes = held->chunk.bytes;
  const size_t size = bytes.size();
  held->size = size;
  bytes.append(kRecordPadding, '\0');  // the decoders' padding
  std::string_view data(bytes.data(), size);
  EventBatch& batch = held->batch;
  InputStats stats;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    size_t end = nl == std::string_view::npos ? data.size() : nl;
    std::string_view line = data.substr(pos, end - pos);
    const uint64_t offset = held->chunk.begin_offset + pos;
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (stream->decoder == nullptr) {
      ++stats.records;
      ++stats.by_code[static_cast<size_t>(RecordCode::kRejectUnknownShape)];
      continue;
    }
    stream->decoder->Decode(line, offset, batch, stats);
  }
  stream->events->Add(static_cast<uint64_t>(stats.events));
  for (size_t c = 0; c < stats.by_code.size(); ++c) {
    if (stats.by_code[c] == 0 || !IsReject(static_cast<RecordCode>(c))) continue;
    if (stream->by_code[c] == nullptr) {
      stream->by_code[c] = metrics_->GetCounter(
          "credwatch_rejects_total", "Records rejected, by input and reason (see the dead-letter file).",
          {{"input", stream->input}, {"reason", std::string(RecordCodeName(static_cast<RecordCode>(c)))}});
    }
    stream->by_code[c]->Add(static_cast<uint64_t>(stats.by_code[c]));
  }
  if (batch.size() > 0) {
    auto heard = inputs_heard_.find(held->chunk.input);
    if (heard != inputs_heard_.end()) heard->second = true;
  }
  // Events processed before a restart (past the committed position) are not
  // processed again.
  std::vector<std::pair<uint64_t, uint32_t>>* skip = nullptr;
  if (!skip_.empty()) {
    const std::string key = held->chunk.file ? TailKey(*held->chunk.file)
                                             : std::string(kSpoolKeyPrefix) + state::SeqKey("", held->spool_seq);
    auto it = skip_.find(key);
    if (it != skip_.end()) skip = &it->second;
  }
  held->processed.assign(batch.size(), 0);
  held->pending = 0;
  const int64_t latest_allowed = WallNowNs() + kMaxFutureNs;
  ForEachWithOrdinal(batch, [&](size_t i, uint64_t offset, uint32_t ordinal) {
    Event& e = batch[i];
    if (e.time_ns > latest_allowed || e.time_ns < kEarliestTimeNs) {
      // A record dated far in the future (or before 1990) would move the
      // watermark for good: closing every window and expiring every
      // profile. It is counted and not processed.
      future_rejects_->Add();
      held->processed[i] = 1;
      return;
    }
    if (e.time_ns > source.max_time_ns) source.max_time_ns = e.time_ns;
    if (skip) {
      auto found = std::find(skip->begin(), skip->end(), std::make_pair(offset, ordinal));
      if (found != skip->end()) {
        skip->erase(found);
        held->processed[i] = 1;
        return;
      }
    }
    ++held->pending;
    heap_.push(Pending{e.time_ns, next_event_seq_++, &e, held.get(), static_cast<uint32_t>(i)});
  });
  held_bytes_ += bytes.size();
  held_.push_back(std::move(held));
  CompleteHeld();  // a chunk without events is complete at once
  AdvanceWatermark();
  // Bounded: a source far behind the others must not make the rest pile up.
  while (held_bytes_ > queue_->max_bytes() && !heap_.empty()) {
    Pending p = heap_.top();
    heap_.pop();
    forced_->Add();
    ProcessHeld(p);
    CompleteHeld();
  }
}

void Pipeline::ProcessHeld(const Pending& p) {
  Event& e = *p.event;
  if (released_max_ns_ != INT64_MIN && e.time_ns < released_max_ns_) late_events_->Add();
  released_max_ns_ = std::max(released_max_ns_, e.time_ns);
  detector_->Process(e);
  ++events_since_commit_;
  if (absl::Status s = detector_->status(); !s.ok()) Fail(s);
  p.held->processed[p.index] = 1;
  --p.held->pending;
}

// Chunks leave in arrival order once all their events were processed: then
// their file position may be committed and their sender answered.
void Pipeline::CompleteHeld() {
  while (!held_.empty() && held_.front()->pending == 0) {
    Held& h = *held_.front();
    if (h.chunk.file) {
      TailPosition p{*h.chunk.file, h.chunk.file_path, h.chunk.end_offset};
      moved_files_[TailKey(p.key)] = std::move(p);
    }
    if (h.chunk.done) pending_done_.push_back(std::move(h.chunk.done));
    if (h.spool_seq != 0) spool_deletes_.push_back(std::string(kSpoolKeyPrefix) + state::SeqKey("", h.spool_seq));
    held_bytes_ -= h.chunk.bytes.size();
    held_.pop_front();
  }
}

void Pipeline::Release(int64_t upto) {
  bool any = false;
  while (!heap_.empty() && heap_.top().time <= upto) {
    Pending p = heap_.top();
    heap_.pop();
    ProcessHeld(p);
    any = true;
  }
  if (any) CompleteHeld();
}

void Pipeline::AdvanceWatermark() {
  const Clock::time_point now = Clock::now();
  if (now - started_ < options_.idle_source) {
    for (const auto& [input, heard] : inputs_heard_) {
      if (!heard) return;  // an input not heard from yet may still be behind
    }
  }
  int64_t low = INT64_MAX;
  for (auto it = sources_.begin(); it != sources_.end();) {
    const Source& source = *it->second;
    // Long gone (a closed connection): forgotten, so the map stays bounded.
    if (now - source.last_seen > 10 * options_.idle_source) {
      sources_.erase(it++);
      continue;
    }
    if (source.max_time_ns != INT64_MIN && now - source.last_seen <= options_.idle_source) {
      low = std::min(low, source.max_time_ns);  // an idle source does not hold back
    }
    ++it;
  }
  // Every source idle: nothing holds the held events back.
  const int64_t release = low == INT64_MAX ? INT64_MAX
                          : low <= INT64_MIN + options_.reorder_window_ns ? INT64_MIN
                                                                          : low - options_.reorder_window_ns;
  Release(release);
  // The watermark is the merge's release point, as in replay: windows close
  // there. With every source idle, the latest event processed.
  const int64_t next = release == INT64_MAX ? released_max_ns_ : release;
  if (next == INT64_MIN) return;
  if (next <= watermark_.load(std::memory_order_relaxed)) return;
  watermark_.store(next, std::memory_order_relaxed);
  detector_->AdvanceWatermark(next);
  watermark_moved_ = true;  // windows may have closed: alerts to commit
}

void Pipeline::CheckReload() {
  const uint64_t v = publisher_.version();
  if (v == rules_version_) return;
  rules_version_ = v;
  // Events still held were decoded for the old set (its field ids) and point
  // into their stream's decoder: they are processed with the old rules first
  // (the swap is a flush point of the event-time merge).
  Release(INT64_MAX);
  CompleteHeld();
  applied_rules_ = publisher_.Current();
  const bool kept = detector_->ReplaceRules(applied_rules_);
  // Decoders were built with their set's projection (the source fields the
  // rules read, and the field ids they go to): a stream whose format's
  // projection changed gets a new decoder at its next chunk. The others keep
  // theirs, and with it the sshd/sftp session table of the syslog and
  // journald decoders, so sftp operations of sessions open across a reload
  // keep their user.
  absl::erase_if(streams_, [&](const auto& entry) {
    const Stream& s = *entry.second;
    return s.rules == nullptr || s.rules->projection(s.format) != applied_rules_->projection(s.format);
  });
  rules_applied_->Add();
  std::fprintf(stderr,
               "{\"level\":\"info\",\"msg\":\"rule set applied\",\"correlation_windows\":\"%s\"}\n",
               kept ? "kept" : "started empty (correlation rules changed)");
}

void Pipeline::CollectPartialPositions(state::StateBatch* b) {
  struct FileCut {
    TailPosition position;
    bool cut = false;  // the first unprocessed event was found
    SkipList skip;
  };
  absl::flat_hash_map<std::string, FileCut> files;
  std::vector<std::string> order;
  for (const auto& h : held_) {
    const bool any_processed =
        std::find(h->processed.begin(), h->processed.end(), 1) != h->processed.end();
    if (!h->chunk.file) {
      // A spooled network chunk partly processed: its record says which
      // events were.
      if (h->spool_seq == 0 || !any_processed) continue;
      SkipList skip;
      ForEachWithOrdinal(h->batch, [&](size_t i, uint64_t offset, uint32_t ordinal) {
        if (h->processed[i]) skip.emplace_back(offset, ordinal);
      });
      if (skip.size() == h->spooled_skip) continue;  // unchanged since the last commit
      h->spooled_skip = skip.size();
      IngestChunk unpadded;
      unpadded.input = h->chunk.input;
      unpadded.stream = h->chunk.stream;
      unpadded.format = h->chunk.format;
      unpadded.bytes = h->chunk.bytes.substr(0, h->size);
      spool_puts_.emplace_back(std::string(kSpoolKeyPrefix) + state::SeqKey("", h->spool_seq),
                               EncodeSpool(unpadded, skip));
      continue;
    }
    const std::string key = TailKey(*h->chunk.file);
    auto [it, added] = files.try_emplace(key);
    FileCut& f = it->second;
    if (added) order.push_back(key);
    if (f.cut && !any_processed) continue;
    ForEachWithOrdinal(h->batch, [&](size_t i, uint64_t offset, uint32_t ordinal) {
      if (!f.cut && !h->processed[i]) {
        f.cut = true;
        f.position = TailPosition{*h->chunk.file, h->chunk.file_path, offset};
        // Earlier events of the same record were processed: listed too, as
        // the record is read again from its start.
        for (uint32_t j = 0; j < ordinal; ++j) f.skip.emplace_back(offset, j);
      } else if (f.cut && h->processed[i]) {
        f.skip.emplace_back(offset, ordinal);
      }
    });
    if (!f.cut) f.position = TailPosition{*h->chunk.file, h->chunk.file_path, h->chunk.end_offset};
  }
  for (const std::string& key : order) {
    FileCut& f = files[key];
    moved_files_.erase(key);  // superseded: this position is later
    b->Put(Family::kPositions, key, EncodeTail(f.position, f.skip));
  }
}

absl::Status Pipeline::CommitDeliveries() {
  if (!status_.ok()) return status_;
  return Commit();
}

absl::Status Pipeline::Commit() {
  state::StateBatch b;
  if (absl::Status s = detector_->Collect(&b, &pending_alerts_); !s.ok()) return s;
  CollectPartialPositions(&b);
  for (auto& [key, pos] : moved_files_) b.Put(Family::kPositions, key, EncodeTail(pos, {}));
  for (auto& [key, value] : spool_puts_) b.Put(Family::kPositions, key, value);
  for (const std::string& key : spool_deletes_) b.Delete(Family::kPositions, key);
  const uint64_t first_new = next_seq_;
  for (const state::AlertLine& a : pending_alerts_) {
    b.Put(Family::kOutbox, state::SeqKey("", next_seq_++), a.line);
  }
  if (delivery_) {
    const uint64_t acked = std::min(delivery_->AckedThrough(), first_new - 1);
    for (uint64_t seq = acked_through_ + 1; seq <= acked; ++seq) b.Delete(Family::kOutbox, state::SeqKey("", seq));
    acked_through_ = std::max(acked_through_, acked);
    for (size_t i = 0; i < sink_names_.size(); ++i) {
      b.Put(Family::kPositions, std::string(kSinkKeyPrefix) + sink_names_[i],
            EncodeU64(kSinkTag, delivery_->DeliveredThrough(i)));
    }
  }
  std::string cursor{kDaemonTag, kVersion};
  state::PutFixed(&cursor, next_seq_);
  state::PutFixed(&cursor, acked_through_);
  b.Put(Family::kPositions, kDaemonCursorKey, cursor);
  b.Put(Family::kPositions, "daemon/detections", EncodeU64(kDaemonTag, detector_->detection_seq()));
  if (absl::Status s = store_->Commit(b); !s.ok()) return s;
  commits_.fetch_add(1, std::memory_order_relaxed);

  // Committed: the alerts may go out, the chunks' senders may be answered.
  uint64_t seq = first_new;
  for (state::AlertLine& a : pending_alerts_) {
    metrics_
        ->GetCounter("credwatch_alerts_total", "Alerts written, by rule and severity.",
                     {{"rule", a.rule_id}, {"severity", std::string(SeverityName(a.severity))}})
        ->Add();
    alerts_total_.fetch_add(1, std::memory_order_relaxed);
    // Straight to the sinks unless an earlier alert is still waiting in the
    // outbox for room (then TopUpDelivery sends them in order).
    if (delivery_ && !offer_blocked_ && offered_through_ + 1 == seq) {
      if (delivery_->Offer(seq, std::move(a.line))) {
        offered_through_ = seq;
      } else {
        offer_blocked_ = true;
        last_top_up_ = Clock::now();
      }
    }
    ++seq;
  }
  pending_alerts_.clear();
  // Counters only grow: add what was dropped since the last commit.
  const rules::WindowsDropped dropped = detector_->windows_dropped();
  windows_dropped_limit_->Add(dropped.limit - reported_dropped_.limit);
  windows_dropped_budget_->Add(dropped.budget - reported_dropped_.budget);
  reported_dropped_ = dropped;
  spool_puts_.clear();
  spool_deletes_.clear();
  for (auto& done : pending_done_) done(true);
  pending_done_.clear();
  moved_files_.clear();
  events_since_commit_ = 0;
  watermark_moved_ = false;
  last_commit_ = Clock::now();
  detector_->AfterCommit();
  return absl::OkStatus();
}

}  // namespace credwatch::daemon
