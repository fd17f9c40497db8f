// The daemon's detection path with durable state (Pipeline), one interface
// for its two shapes (`credwatch run --shards N`, docs/daemon.md):
//   - 0 shards: state::DurableDetector on the pipeline thread;
//   - N >= 1:   runtime::ShardedDetector on N shard threads and an output
//               thread, each shard's profiles and windows in a
//               state::DurableShardState; the pipeline thread is the
//               producer.
// Both give the same alerts (the sharded runtime's output equals the
// one-thread path's for any N, docs/runtime.md).
//
//   auto d = LiveDetector::Make(options, rules, site, store, shards);
//   d->Restore(detection_seq);                 // windows, alert folder
//   d->Process(e); ... d->AdvanceWatermark(w);
//   StateBatch b;  std::vector<AlertLine> alerts;
//   d->Collect(&b, &alerts);                   // everything processed so far
//   store->Commit(b);
//   d->AfterCommit();
//
// Collect is a consistent cut: the profile and window changes, the journal
// of detections and the alerts of every event processed before it. With
// shards it sends a commit marker through them and waits until the output
// thread has handed over every shard's part (the shards' rings hold a few
// thousand events, so the wait is short).
//
// Thread-safety: every call from one thread (the pipeline's).
#ifndef CREDWATCH_DAEMON_LIVE_DETECTOR_H_
#define CREDWATCH_DAEMON_LIVE_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "credwatch/event.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "state/durable_detector.h"
#include "state/state_store.h"

namespace credwatch::daemon {

class LiveDetector {
 public:
  // `store` is not owned and must outlive the detector. `shards` 0: on the
  // calling thread.
  static std::unique_ptr<LiveDetector> Make(const state::DetectorOptions& options,
                                            std::shared_ptr<const rules::RuleSet> rules,
                                            std::shared_ptr<const Site> site, state::StateStore* store,
                                            uint32_t shards);
  virtual ~LiveDetector() = default;

  // Before the first event: the open correlation windows and the alert
  // folder of the last commit; detections are numbered from `detection_seq`.
  virtual absl::Status Restore(uint64_t detection_seq) = 0;

  virtual void Process(Event& e) = 0;
  virtual void AdvanceWatermark(int64_t watermark_ns) = 0;
  // A rule reload, applied after every event processed so far. True when
  // the open correlation windows are kept (the same correlation rules,
  // rules::Evaluator::WindowsCarryOver); else they start empty.
  virtual bool ReplaceRules(std::shared_ptr<const rules::RuleSet> rules) = 0;

  // Adds what changed since the last Collect to `b` and the alerts it
  // produced to `alerts`.
  virtual absl::Status Collect(state::StateBatch* b, std::vector<state::AlertLine>* alerts) = 0;
  // After the commit of what Collect gave (cold profiles may leave memory).
  virtual void AfterCommit() = 0;

  // As of the last Collect: the next detection's journal number, and the
  // open correlation windows dropped before their end since the start.
  virtual uint64_t detection_seq() const = 0;
  virtual rules::WindowsDropped windows_dropped() const = 0;
  // Not ok once a state read failed; then the detector stops taking events.
  virtual absl::Status status() = 0;
  virtual uint32_t shards() const = 0;
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_LIVE_DETECTOR_H_
