// ShardState: what a shard of the ShardedDetector keeps durable, for a
// detector whose state lives in the state database (engine/state implements
// it: state::DurableShardState). Without one, a shard keeps its profiles in
// a plain profile::ProfileStore and nothing is written.
//
// Commits travel in-band like watermarks (ShardedDetector::OnCommitPoint):
// at a commit marker, stage A of each shard collects the profiles it changed
// up to that point of the sequence (CollectProfiles), and stage B, at the
// same point, its correlation groups (CollectWindows), which completes the
// shard's part. The output thread receives every shard's part of a commit
// once the detections before the marker have been offered to the folder, and
// writes them as one batch with the alerts and positions (the commit hook of
// ShardedDetectorOptions). So each commit is a consistent cut of the merged
// sequence, whatever the number of shards.
//
// Thread-safety: one ShardState per shard; every call is made on that
// shard's thread, except Restore (on the thread that constructed the
// detector, before the first event).
#ifndef CREDWATCH_RUNTIME_SHARD_STATE_H_
#define CREDWATCH_RUNTIME_SHARD_STATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "credwatch/event.h"
#include "credwatch/rules.h"
#include "state/state_store.h"

namespace credwatch::runtime {

class ShardState {
 public:
  virtual ~ShardState() = default;

  // Before the first event: the shard's open correlation windows from the
  // last commit (none on a fresh start).
  virtual absl::Status Restore(rules::Evaluator& evaluator) = 0;

  // Stage A, in sequence order. Enriches `e` from its credential's profile
  // (loading it first if it is not in memory) and updates the profile.
  virtual absl::Status Observe(Event& e) = 0;
  // A watermark of the merge (the profiles' clock, for retention).
  virtual void SetWatermark(int64_t watermark_ns) = 0;
  // Commit marker `commit`: the profile changes since the previous marker
  // start this shard's part of it. Commits up to `landed` are on disk, so
  // profiles unchanged since the one that wrote them may leave memory.
  virtual absl::Status CollectProfiles(uint64_t commit, uint64_t landed) = 0;

  // Stage B at the same marker: adds the correlation groups that changed
  // and moves the finished part into `*part`.
  // (Parts are completed in the order CollectProfiles started them.)
  virtual absl::Status CollectWindows(rules::Evaluator& evaluator, state::StateBatch* part) = 0;
  // The shard's evaluator was replaced (a rule reload): the next part
  // rewrites every group record.
  virtual void RulesReplaced() = 0;
  // Memory the shard's open correlation windows may hold (bytes, estimated;
  // rules::EvaluatorOptions::window_budget_bytes). 0: no bound but the
  // rules' own limits.
  virtual size_t window_budget_bytes() const { return 0; }
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_SHARD_STATE_H_
