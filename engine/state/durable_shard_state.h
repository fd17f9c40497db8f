// DurableShardState: one shard's durable state for the sharded runtime
// (runtime/shard_state.h): the profiles of the credentials the shard owns, in
// a ProfileCache over the state database (its share of the profile budget),
// and the shard's correlation windows, written as one header and the
// Evaluator's records (records.h) under the shard's own keys (records.h: ShardEvaluatorKey,
// ShardGroupPrefix), so shards never write the same key.
//
// A commit's part is built in two steps on the shard thread: CollectProfiles
// at the marker in stage A (changed profiles, a daily retention sweep of the
// shard's credentials), then CollectWindows at the same marker in stage B.
// Stage A may run a few rounds ahead of stage B, so parts wait in a queue.
//
// Used by `credwatch replay --state-dir` on any number of shards
// (durable_replay.cc). Not thread-safe: its shard's thread only.
#ifndef CREDWATCH_STATE_DURABLE_SHARD_STATE_H_
#define CREDWATCH_STATE_DURABLE_SHARD_STATE_H_

#include <cstdint>
#include <deque>
#include <string>

#include "runtime/shard_state.h"
#include "state/durable_detector.h"
#include "state/profile_cache.h"
#include "state/state_store.h"

namespace credwatch::state {

class DurableShardState : public runtime::ShardState {
 public:
  // `store` is not owned and must outlive this. `initial_watermark_ns`: the
  // profiles' clock at the resumed cut (INT64_MIN on a fresh start).
  DurableShardState(const DetectorOptions& options, StateStore* store, uint32_t shard,
                    uint32_t num_shards, int64_t initial_watermark_ns);

  // Whether every shard of `num_shards` has a windows header this build
  // reads (else a resume must rebuild the windows from the log).
  static absl::StatusOr<bool> CanRestore(StateStore* store, uint32_t num_shards);

  absl::Status Restore(rules::Evaluator& evaluator) override;
  absl::Status Observe(Event& e) override { return profiles_.Observe(e); }
  void SetWatermark(int64_t watermark_ns) override;
  absl::Status CollectProfiles(uint64_t commit, uint64_t landed) override;
  absl::Status CollectWindows(rules::Evaluator& evaluator, StateBatch* part) override;
  void RulesReplaced() override { rewrite_windows_ = true; }
  size_t window_budget_bytes() const override;

  const ProfileCache& profiles() const { return profiles_; }

 private:
  StateStore* store_;
  const uint32_t shard_;
  const uint32_t num_shards_;
  const std::string header_key_;
  const std::string group_prefix_;
  ProfileCache profiles_;
  int64_t watermark_ns_;
  int64_t last_sweep_ns_ = INT64_MIN;
  bool rewrite_windows_ = true;  // the next part replaces every group record
  std::deque<StateBatch> parts_;  // CollectProfiles done, CollectWindows not yet
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_DURABLE_SHARD_STATE_H_
