// The daemon's detection thread: takes chunks from the IngestQueue, decodes
// them per stream, merges the sources in event time, runs the durable
// detection path (LiveDetector: on this thread, or on shard threads it
// feeds), and commits state, file
// positions and new alerts to the state database in one WriteBatch before
// it hands the alerts to the sinks (docs/daemon.md).
//
// Event time, as replay: each source (a file, a syslog connection, an HTTP
// input) has a watermark, the latest event time it delivered. An event is
// processed once every active source has reached its time, so the sources
// are merged in event-time order. Records out of order within a source by up
// to daemon.reorder_window (default 0) are put in order too; with the
// window at replay.max_disorder the order, and so the alerts, are exactly
// those of `credwatch replay` on the same records. A source that sent nothing for
// daemon.idle_source (default 30 s of wall time) stops holding the others
// back; when held events exceed daemon.queue_bytes the oldest are processed
// anyway (counted in credwatch_reorder_forced_total). Records older than
// what was already processed are processed at once and counted late.
// The watermark (where correlation windows close) is the merge's release
// point: the slowest active source's latest time minus the window.
//
//   Pipeline::Options opts = Pipeline::OptionsFrom(config);
//   auto pipeline = Pipeline::Open(opts, rules, &queue, &metrics);   // opens state_dir
//   tailer.Restore((*pipeline)->TailPositions());
//   (*pipeline)->AttachDelivery(&delivery);          // after sinks are built
//   std::thread t([&] { (*pipeline)->Run(); });     // until RequestStop + drained
//   publisher.Publish(new_rules);                    // reload: picked up between chunks
//
// Commit policy: at most every state.commit_interval (default 1 s) or
// state.commit_events (default 300000) events, and when the queue goes idle
// with work uncommitted; so an alert reaches the sinks within about one
// interval of its event arriving, and an HTTP request is answered once its
// records are committed to the spool.
//
// What a restart recovers: profiles, open correlation windows, the alert
// folder (so repeats stay folded), file positions (each tailed file resumes
// after the last chunk whose state was committed) and the outbox (alerts
// committed but not confirmed by every sink are delivered again; each sink's
// confirmed position is kept, so a sink that had them does not get them
// twice), and the spool: network chunks (syslog, HTTP) are written to the
// state at the first commit after they arrive and removed once their events
// are processed, so what was committed is processed after a crash. An HTTP
// request is answered at that first commit. Syslog records received after
// the last commit are lost with the process (syslog has no acknowledgement);
// HTTP clients were not answered 200 and must retry.
//
// Thread-safety: Run on one thread; RequestStop, Healthy and the stats
// getters from any thread.
#ifndef CREDWATCH_DAEMON_PIPELINE_H_
#define CREDWATCH_DAEMON_PIPELINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <queue>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "credwatch/config.h"
#include "credwatch/input.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "daemon/file_tailer.h"
#include "daemon/ingest.h"
#include "daemon/live_detector.h"
#include "daemon/metrics.h"
#include "runtime/rule_publisher.h"
#include "state/state_store.h"

namespace credwatch::daemon {

class Delivery;

class Pipeline {
 public:
  struct Options {
    Config config;
    state::StateOptions state;
    // daemon.reorder_window: events are processed once every active source
    // is this far past them (default 0).
    int64_t reorder_window_ns = 0;
    std::chrono::nanoseconds idle_source{std::chrono::seconds(30)};
    DeadLetterWriter* dead_letter = nullptr;  // not owned; may be null
    // The configured inputs (IngestChunk::input names). Until each has
    // delivered an event, or idle_source has passed since the start, nothing
    // is processed: an input that is slower to start must not find its
    // records late.
    std::vector<std::string> inputs;
    // Detection threads (daemon.shards, --shards): 0 on the pipeline
    // thread, -1 one per core. A state_dir keeps the number it was started
    // with.
    int shards = -1;
  };
  static Options OptionsFrom(const Config& config);

  // Opens the state database (failing with its message when it is locked,
  // read-only, corrupted, of another version or a replay's) and restores
  // what its last commit holds.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Open(const Options& options,
                                                        std::shared_ptr<const rules::RuleSet> rules,
                                                        IngestQueue* queue, Metrics* metrics);
  ~Pipeline();

  // Committed positions of tailed files, and since when each file pattern
  // has been followed (TailPosition::followed_since), for FileTailer::Restore.
  const std::vector<TailPosition>& TailPositions() const { return tail_positions_; }
  // Committed sink progress, for Delivery's start_after (by sink name).
  uint64_t SinkDeliveredThrough(std::string_view sink_name) const;
  // The outbox: alerts committed but not confirmed by every sink, by seq.
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Outbox() const;
  // Sends alerts to `delivery` from now on: first the outbox (committed but
  // not confirmed by every output), then new ones, in order, as fast as it
  // takes them; never blocks detection. Not owned; set before Run.
  absl::Status AttachDelivery(Delivery* delivery, std::vector<std::string> sink_names);

  // The rules in force; Publish on it to reload (checked between chunks).
  runtime::RuleSetPublisher& rules() { return publisher_; }

  // Processes chunks until RequestStop, then drains the queue (closed by
  // the caller) for at most `drain`, commits, and returns. The status says
  // why it stopped early (disk full, ...).
  absl::Status Run();
  void RequestStop(std::chrono::nanoseconds drain);

  // After Run returned and the sinks stopped: commits what they confirmed
  // since, so a restart does not send it again. Same thread as Run, or
  // after it was joined.
  absl::Status CommitDeliveries();
  // The detection shards in force (0: on the pipeline thread), and why they
  // differ from Options::shards when they do ("" else).
  uint32_t shards() const { return shards_; }
  const std::string& shards_note() const { return shards_note_; }
  // RocksDB's figures for /metrics. Thread-safe.
  state::StoreStats StoreStats() const { return store_->Stats(); }

  // Alive: the loop turned within `within` and nothing failed.
  bool Healthy(std::chrono::nanoseconds within) const;
  int64_t watermark_ns() const { return watermark_.load(std::memory_order_relaxed); }
  uint64_t alerts() const { return alerts_total_.load(std::memory_order_relaxed); }
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Stream;
  struct Source;
  struct Held;
  struct Pending {
    int64_t time;
    uint64_t seq;
    Event* event;
    Held* held;
    uint32_t index;  // in held->batch
    bool operator>(const Pending& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };
  Pipeline(const Options& options, std::shared_ptr<const rules::RuleSet> rules,
           std::shared_ptr<const Site> site, std::unique_ptr<state::StateStore> store,
           IngestQueue* queue, Metrics* metrics);
  absl::Status Restore();
  // The detection shards: the state's, else the requested (recorded).
  absl::Status RestoreShards(bool existing_state);
  // Adds to tail_positions_ since when each file pattern has been followed,
  // recording it (now) for patterns new to the state.
  absl::Status RestoreFollowedSince();
  // `spool_seq`: the chunk's spool record when it comes from the spool, else 0.
  void Process(IngestChunk& chunk, uint64_t spool_seq);
  Stream* StreamFor(const IngestChunk& chunk);
  void AdvanceWatermark();
  void Release(int64_t upto);
  void ProcessHeld(const Pending& p);
  void CompleteHeld();
  void CheckReload();
  // Offers the outbox's alerts after offered_through_ to Delivery, in order,
  // until it is full. Never blocks.
  void TopUpDelivery();
  absl::Status Commit();
  // Where each file with held chunks stands at a commit: the first event not
  // yet processed (in file order), and the events after it that were.
  void CollectPartialPositions(state::StateBatch* b);
  void Fail(absl::Status s);

  Options options_;
  std::shared_ptr<const Site> site_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<LiveDetector> detector_;  // made by Restore
  uint32_t shards_ = 0;
  std::string shards_note_;
  runtime::RuleSetPublisher publisher_;
  uint64_t rules_version_ = 0;
  std::shared_ptr<const rules::RuleSet> applied_rules_;  // the set the detector runs
  IngestQueue* queue_;
  Metrics* metrics_;
  Delivery* delivery_ = nullptr;
  std::vector<std::string> sink_names_;

  absl::flat_hash_map<std::string, std::unique_ptr<Stream>> streams_;
  absl::flat_hash_map<std::string, std::unique_ptr<Source>> sources_;

  // The event-time merge: chunks whose events are not all processed yet, in
  // arrival order, and their unprocessed events by (time, arrival).
  std::deque<std::unique_ptr<Held>> held_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> heap_;
  size_t held_bytes_ = 0;
  uint64_t next_event_seq_ = 0;
  int64_t released_max_ns_ = INT64_MIN;

  // Restored positions.
  std::vector<TailPosition> tail_positions_;
  // Events at or after a restored position that were processed before the
  // restart (record offset, ordinal among the record's events), by file
  // (TailKey): skipped when read again.
  absl::flat_hash_map<std::string, std::vector<std::pair<uint64_t, uint32_t>>> skip_;
  absl::flat_hash_map<std::string, uint64_t> sink_progress_;

  // Since the last commit.
  absl::flat_hash_map<std::string, TailPosition> moved_files_;  // by position key
  std::vector<state::AlertLine> pending_alerts_;
  std::vector<std::function<void(bool)>> pending_done_;
  int64_t events_since_commit_ = 0;
  bool watermark_moved_ = false;  // the detector's watermark moved
  std::chrono::steady_clock::time_point last_commit_;
  std::chrono::steady_clock::time_point started_;
  absl::flat_hash_map<std::string, bool> inputs_heard_;  // configured input -> delivered an event

  // The spool of network chunks (see Held::spool_seq).
  std::vector<std::pair<uint64_t, IngestChunk>> spooled_;  // restored, processed first by Run
  uint64_t next_spool_seq_ = 1;
  std::vector<std::pair<std::string, std::string>> spool_puts_;  // for the next commit
  std::vector<std::string> spool_deletes_;

  // Outbox: [acked_through_ + 1, next_seq_) are in it.
  uint64_t next_seq_ = 1;
  uint64_t acked_through_ = 0;
  uint64_t offered_through_ = 0;  // handed to Delivery
  bool offer_blocked_ = false;    // Delivery was full: the rest waits in the outbox
  std::chrono::steady_clock::time_point last_top_up_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> drain_ns_{0};
  std::atomic<int64_t> heartbeat_ns_{0};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> watermark_{INT64_MIN};
  std::atomic<uint64_t> alerts_total_{0};
  std::atomic<uint64_t> commits_{0};
  absl::Status status_;

  Counter* late_events_;
  Counter* future_rejects_;
  Counter* forced_;
  Counter* rules_applied_;
  Counter* windows_dropped_limit_;
  Counter* windows_dropped_budget_;
  rules::WindowsDropped reported_dropped_;  // added to the counters so far
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_PIPELINE_H_
