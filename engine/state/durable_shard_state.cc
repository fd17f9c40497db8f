#include "state/durable_shard_state.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/sharded_detector.h"
#include "state/records.h"

namespace credwatch::state {
namespace {

ProfileCacheOptions ShardCacheOptions(const DetectorOptions& options, StateStore* store, uint32_t shard,
                                      uint32_t num_shards) {
  ProfileCacheOptions o;
  o.budget_bytes = std::max<int64_t>(1, store->profile_budget_bytes() / num_shards);
  o.retention_ns = options.retention_ns;
  o.owns = [shard, num_shards](std::string_view credential) {
    return runtime::CredentialShard(credential, num_shards) == shard;
  };
  return o;
}

profile::ProfileOptions WithoutSessions(profile::ProfileOptions o) {
  o.track_sessions = false;  // the runtime's producer attributes host flows
  return o;
}

}  // namespace

DurableShardState::DurableShardState(const DetectorOptions& options, StateStore* store, uint32_t shard,
                                     uint32_t num_shards, int64_t initial_watermark_ns)
    : store_(store),
      shard_(shard),
      num_shards_(num_shards),
      header_key_(ShardEvaluatorKey(shard, num_shards)),
      group_prefix_(ShardGroupPrefix(shard)),
      profiles_(WithoutSessions(options.profile), store, ShardCacheOptions(options, store, shard, num_shards)),
      watermark_ns_(initial_watermark_ns) {
  profiles_.SetWatermark(initial_watermark_ns);
}

size_t DurableShardState::window_budget_bytes() const {
  // Split evenly, as the profile share is.
  return static_cast<size_t>(std::max<int64_t>(1, store_->window_budget_bytes() / num_shards_));
}

absl::StatusOr<bool> DurableShardState::CanRestore(StateStore* store, uint32_t num_shards) {
  std::string value;
  for (uint32_t k = 0; k < num_shards; ++k) {
    auto got = store->Get(Family::kWindows, ShardEvaluatorKey(k, num_shards), &value);
    if (!got.ok()) return got.status();
    if (!*got || !ReadableWindowsHeader(value)) return false;
  }
  return true;
}

absl::Status DurableShardState::Restore(rules::Evaluator& evaluator) {
  std::string value;
  auto got = store_->Get(Family::kWindows, header_key_, &value);
  if (!got.ok()) return got.status();
  if (!*got) return absl::OkStatus();  // nothing committed yet: fresh windows
  auto corrupted = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(), "' is corrupted: windows of shard ",
                                            shard_, " of ", num_shards_, ": ", why));
  };
  if (!ReadableWindowsHeader(value)) return corrupted("unreadable header");
  absl::Status scanned;
  absl::Status s = evaluator.RestoreChanges(
      std::string_view(value).substr(2), [&](const rules::StateRecordVisitor& visit) {
        scanned = store_->Scan(Family::kWindows, group_prefix_, [&](std::string_view key, std::string_view v) {
          return visit(key.substr(group_prefix_.size()), v);
        });
      });
  if (!scanned.ok()) return scanned;
  if (!s.ok()) return corrupted(std::string(s.message()));
  rewrite_windows_ = false;
  return absl::OkStatus();
}

void DurableShardState::SetWatermark(int64_t watermark_ns) {
  watermark_ns_ = watermark_ns;
  profiles_.SetWatermark(watermark_ns);
}

absl::Status DurableShardState::CollectProfiles(uint64_t commit, uint64_t landed) {
  // Evicted profiles are reloaded from the database: only those whose part
  // is there.
  profiles_.EvictIfOverBudget(landed);
  StateBatch& part = parts_.emplace_back();
  profiles_.CollectDirty(&part, commit);
  int64_t since_sweep = 0;
  if (watermark_ns_ != INT64_MIN &&
      (last_sweep_ns_ == INT64_MIN || __builtin_sub_overflow(watermark_ns_, last_sweep_ns_, &since_sweep) ||
       since_sweep >= kNsPerDay)) {
    if (absl::Status s = profiles_.Sweep(&part); !s.ok()) return s;
    last_sweep_ns_ = watermark_ns_;
  }
  return absl::OkStatus();
}

absl::Status DurableShardState::CollectWindows(rules::Evaluator& evaluator, StateBatch* part) {
  if (parts_.empty()) return absl::InternalError("a commit's windows came before its profiles");
  *part = std::move(parts_.front());
  parts_.pop_front();
  if (absl::Status s = state::CollectWindows(store_, evaluator, rewrite_windows_, group_prefix_, header_key_, part); !s.ok()) {
    return s;
  }
  rewrite_windows_ = false;
  return absl::OkStatus();
}

}  // namespace credwatch::state
