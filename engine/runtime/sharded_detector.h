// ShardedDetector: the detection path (profile -> rules -> folded alerts) on
// N shard threads, with alert output that is byte-identical for any N and
// run to run (design.md, "Data flow" and "Time"; docs/runtime.md has the
// picture and the reasoning).
//
//   runtime::RuleSetPublisher rules(rule_set);
//   runtime::ShardedDetectorOptions opts;
//   opts.shards = 4;  opts.rules = &rules;  opts.site = site;
//   runtime::ShardedDetector detector(opts, [&](const alert::Finding& f) { Write(f); });
//   for (const Event& e : merged_events) detector.OnEvent(e);   // one thread
//   detector.OnWatermark(t);                                    // in-band
//   detector.Finish();   // closes every window, drains, joins the threads
//   AppendIncidentReport(detector.folder().Findings(), &report);
//
// Threads. The caller's thread is the producer: it numbers each event (its
// place in the merged sequence), attributes host-level flows to the
// credentials with a live session on the host (HostSessions), copies the
// event into the batch of the shard that owns its credential (a stable
// FNV-1a hash, never absl::Hash) and sends a round of batches, one per
// shard, when a batch is full. Each shard thread owns a ProfileStore and an
// Evaluator and runs two stages per round:
//   A  for its own batch: enrich every event from the credential's profile,
//      then ask RuleSet::RoutingHashes which other shards hold correlation
//      groups (rules grouped by another key, e.g. password spray by src.ip)
//      the event can feed, and forward it to them (a pointer: batches are
//      shared read-only after stage A);
//   B  once every shard's stage A of the round is done: evaluate, in
//      sequence order, its own events (stateless detections and the groups
//      it owns) and the events forwarded to it (only the groups it owns,
//      ShardScope), and apply the round's watermarks in-band.
// The output thread takes each shard's detections of the round, merges them
// by (sequence, attributed credential), puts each event's detections in the
// canonical DetectionOrder, and folds them (AlertFolder) into findings for
// the sink. Watermarks and rule switches travel in-band, so each shard
// applies them at the same point of the sequence.
//
// Rings. All queues are bounded SpscRings of batch pointers: producer ->
// shard (one per shard), shard -> shard (one per ordered pair, for stage A
// -> B), shard -> producer (batches to reuse), shard -> output and back. A
// full ring blocks its producer; nothing is dropped. Batches and their
// arenas are reused, so once warm the path from OnEvent to the sink
// allocates nothing per event (beyond what ProfileStore and Evaluator
// document: a new credential, a matching rule's Detection).
//
// Rule reload: Publish a new set on the RuleSetPublisher (any thread). The
// producer notices it at the next event or watermark and sends it in-band;
// every shard switches at that point of the sequence (its correlation
// windows start over; profiles stay). The old set is freed when the last
// shard has switched.
//
// Durable state (optional, ShardedDetectorOptions::state; runtime/shard_state.h):
// each shard keeps its profiles and windows through a ShardState, and
// OnCommitPoint sends a commit marker in-band. The output thread calls
// `on_detection` for every detection it offers to the folder (for the
// journal) and `on_commit` with every shard's part of a commit once the
// detections before the marker are offered. CommitLanded tells the shards
// that a commit is on disk (cold profiles may then leave memory).
//
// Thread-safety: OnEvent, OnWatermark, OnCommitPoint, ObserveSkipped,
// Flush and Finish from one thread (the producer). The sink and the state
// hooks run on the output thread; CommitLanded and ok() from any thread.
// folder() and stats() after Finish; RestoreState and mutable_folder()
// before the first event.
#ifndef CREDWATCH_RUNTIME_SHARDED_DETECTOR_H_
#define CREDWATCH_RUNTIME_SHARDED_DETECTOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "alert/alert_folder.h"
#include "alert/finding.h"
#include "credwatch/event.h"
#include "credwatch/site.h"
#include "profile/profile_store.h"
#include "runtime/rule_publisher.h"
#include "runtime/shard_state.h"

namespace credwatch::runtime {

struct ShardedDetectorOptions {
  // Shard threads (>= 1). Default 0: one per core
  // (std::thread::hardware_concurrency(), 1 if unknown). Fixed at start.
  int shards = 0;
  // Events per shard batch; a round (one batch per shard) goes out when one
  // batch is this full. Default 1024.
  size_t batch_events = 1024;
  // Batches each ring holds. Default 4. Memory in flight is about
  // shards * (2 * ring_batches + 2) * batch_events events.
  size_t ring_batches = 4;
  // Per shard; each shard profiles the credentials it owns.
  profile::ProfileOptions profile;
  // Tenants of credentials that flows are attributed to. Required.
  std::shared_ptr<const Site> site;
  // The rule set and its reloads. Required; must outlive the detector.
  RuleSetPublisher* rules = nullptr;
  alert::FolderOptions folder;

  // Durable state (see the header comment). When `make_state` is set, each
  // shard gets its ShardState from it (shard index, number of shards).
  struct State {
    std::function<std::unique_ptr<ShardState>(uint32_t shard, uint32_t num_shards)> make_state;
    // Output thread: each detection, in output order, and the folder just
    // before it takes the detection.
    std::function<void(const Detection&, const alert::AlertFolder&)> on_detection;
    // Output thread: commit `commit` (OnCommitPoint's number), with one part
    // per shard, in shard order, and the correlation windows the shards had
    // dropped before their end up to that point (since the start, across
    // rule reloads).
    std::function<void(uint64_t commit, std::vector<state::StateBatch>& parts,
                       const rules::WindowsDropped& dropped)>
        on_commit;
  } state;
};

struct ShardedDetectorStats {
  int shards = 0;
  uint64_t events = 0;          // OnEvent calls
  uint64_t routed = 0;          // events and attributed flow copies sent to shards
  uint64_t forwarded = 0;       // extra evaluations at another key's shard
  uint64_t rounds = 0;
  uint64_t rule_switches = 0;
  uint64_t producer_waits = 0;  // the producer found a ring full or no free batch
  std::vector<uint64_t> shard_events;  // per shard: events it owned (stage A)
  // Open correlation windows dropped before their end: at the per-rule
  // group limit, and over the state's window budget (ShardState).
  rules::WindowsDropped windows_dropped;
};

class ShardedDetector {
 public:
  // Receives each finding to write (new, or updated with a higher severity)
  // on the output thread, in the deterministic order.
  using FindingSink = std::function<void(const alert::Finding&)>;

  // Starts the shard and output threads.
  ShardedDetector(ShardedDetectorOptions options, FindingSink sink);
  // Calls Finish if it was not called.
  ~ShardedDetector();
  ShardedDetector(const ShardedDetector&) = delete;
  ShardedDetector& operator=(const ShardedDetector&) = delete;

  // The next event of the merged sequence (event-time order). Copied: `e`
  // and its strings need to live only during the call. May block while the
  // shards are behind (backpressure).
  void OnEvent(const Event& e);
  // Every event at or before `time_ns` has been delivered.
  void OnWatermark(int64_t time_ns);
  // Durable state: a commit here (right after a watermark), numbered
  // `commit` (1, 2, ... in order). Sends the round.
  void OnCommitPoint(uint64_t commit);
  // Durable state: commit `commit` is on disk.
  void CommitLanded(uint64_t commit);
  // A resumed run's event before its cut: only the live-session table (for
  // host flows) learns from it.
  void ObserveSkipped(const Event& e);
  // Durable state, before the first event: each shard restores its windows.
  absl::Status RestoreState();
  // False once a shard's state failed (a database read); status() says why
  // after Finish.
  bool ok() const;
  absl::Status status() const;
  // Sends what is buffered and waits until the sink has seen everything
  // that the events so far caused (for an idle daemon, and tests).
  void Flush();
  // End of input: closes every window (watermark INT64_MAX), drains and
  // joins the threads. Idempotent. `final_commit` (durable state, > 0): a
  // commit after the windows closed.
  void Finish(uint64_t final_commit = 0);

  int num_shards() const;
  // After Finish.
  const alert::AlertFolder& folder() const;
  alert::AlertFolder& mutable_folder();
  ShardedDetectorStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The shard that owns `credential` among `num_shards`: a stable FNV-1a hash,
// the same RuleSet::RoutingHashes gives a correlation grouped by credential
// alone, so those groups need no forwarding.
uint32_t CredentialShard(std::string_view credential, uint32_t num_shards);

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_SHARDED_DETECTOR_H_
