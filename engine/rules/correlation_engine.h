// Stateful Sigma correlations for one shard: event_count, value_count,
// value_sum, temporal and temporal_ordered, with group-by, aliases and
// correlations of correlations, on event time. Internal header.
//
// State is kept per correlation instance (CorrNode) and group (the group-by
// values). Two window kinds:
//   sliding   conditions with only lower bounds (gt, gte; temporal,
//             temporal_ordered): the window is the last `timespan` before the
//             newest event of the group; the condition is checked on every
//             event, and when it holds the correlation fires and the group
//             starts over.
//   complete  conditions with an upper bound (lt, lte, eq, neq): the window
//             starts at the group's first event and is judged once it is
//             complete, when the watermark (or a later event of the group)
//             passes its end.
// Memory is bounded by CorrelationLimits: groups per instance, time points
// and distinct values per group; evidences per group (first 4, last 4) and
// the BlastRadius caps. Not thread-safe: owned by one Evaluator.
#ifndef CREDWATCH_RULES_CORRELATION_ENGINE_H_
#define CREDWATCH_RULES_CORRELATION_ENGINE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "credwatch/detection.h"
#include "credwatch/rules.h"
#include "rules/compiled.h"

namespace credwatch::rules::internal {

// Appends the event as evidence JSON: AppendEventJson plus a "fields"
// object with the source fields the decoder projected (eventName, ...).
void AppendEvidenceJson(const RuleSetData& data, const Event& e, std::string* out);

class StateReader;

class CorrelationEngine {
 public:
  CorrelationEngine(const RuleSetData& data, const EvaluatorOptions& options,
                    EvaluatorStats* stats);
  ~CorrelationEngine();
  CorrelationEngine(const CorrelationEngine&) = delete;
  CorrelationEngine& operator=(const CorrelationEngine&) = delete;

  // Detection rule `detection` matched `e`: feeds the correlations that
  // reference it, appending what fires.
  void OnMatch(int detection, const Event& e, const ShardScope& scope, std::vector<Detection>* out);
  void AdvanceWatermark(int64_t t_ns, std::vector<Detection>* out);
  uint64_t num_groups() const;
  // Estimated bytes of the open groups (what EvaluatorOptions::
  // window_budget_bytes bounds).
  size_t bytes() const { return bytes_; }
  // Evaluator::SerializeState / RestoreState.
  void SerializeState(std::string* out) const;
  absl::Status RestoreState(std::string_view bytes);
  // Evaluator::SerializeChanges / RestoreChanges.
  void TrackChanges();
  void SerializeChanges(bool all, std::string* header, const StateRecordFn& put,
                        const StateKeyFn& del);
  absl::Status RestoreChanges(std::string_view header, const StateRecordSource& records);

 private:
  static constexpr size_t kHeadEvidences = 4;
  static constexpr size_t kTailEvidences = 4;

  struct GroupState;
  struct Fired;
  struct Input;
  struct HeapEntry {
    int64_t deadline;
    std::string key;
    uint64_t generation;
    friend bool operator>(const HeapEntry& a, const HeapEntry& b) {
      if (a.deadline != b.deadline) return a.deadline > b.deadline;
      if (a.key != b.key) return a.key > b.key;
      return a.generation > b.generation;
    }
  };
  struct NodeState {
    absl::flat_hash_map<std::string, std::unique_ptr<GroupState>> groups;
    std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> heap;
  };

  void Feed(int node, int ref, const Input& in, std::vector<Detection>* out);
  void Close(int node, GroupState* g, std::vector<Detection>* out);
  void Fire(int node, GroupState* g, int64_t time, std::vector<Detection>* out);
  void Erase(int node, GroupState* g);
  // Removes the group from its node, noting its records for deletion.
  std::unique_ptr<GroupState> Take(int node, GroupState* g);
  // Drops stale heap entries; returns the live top's deadline or INT64_MAX.
  int64_t CleanTop(int node);
  // Drops the group of `node` that ends first (none if it has none).
  void EvictOne(int node);
  // Drops the groups that end first until bytes_ fits the budget.
  void EnforceBudget();
  // The instance whose group ends first, over all instances, and that end
  // (-1 and INT64_MAX when no group is open).
  int EndsFirst(int64_t* deadline);
  static size_t Footprint(const GroupState& g);
  // Recounts the text of the blast radius lists whose size is not the one
  // in `sizes_before`.
  static void CountBlast(GroupState& g, const std::array<size_t, 3>& sizes_before);
  void Account(GroupState& g);
  void AccountAll();
  void MarkChanged(int node, GroupState* g);
  // Sizes of a group's stored lists: blast radius tenants, objects and
  // destinations, head and tail evidences.
  using ListSizes = std::array<uint32_t, 5>;
  // Called with each record key of a group and, for an evidence, its value.
  using RecordKeyFn = absl::FunctionRef<void(std::string&& key, std::string_view evidence)>;
  void PutHeader(std::string* out) const;
  static void PutGroup(const GroupState& g, bool lists, std::string* out);
  absl::Status ReadHeader(StateReader& in, uint64_t* generation) const;
  static bool ReadGroup(StateReader& in, GroupState* g, ListSizes* sizes);
  static bool AddRestored(std::vector<NodeState>& nodes, size_t n, std::unique_ptr<GroupState> g);
  static bool RestoreItem(std::vector<NodeState>& nodes, std::string_view key, std::string_view value,
                          std::string* group_key);
  static std::string GroupRecordKey(size_t node, std::string_view key);
  static std::string ItemRecordKey(size_t node, std::string_view key, uint8_t list, std::string_view item);
  // Evidence slot `slot`: head[slot] below kHeadEvidences, then the tail.
  static std::string EvidenceRecordKey(size_t node, std::string_view key, size_t slot);
  static void ForEachRecordKey(size_t node, const GroupState& g, const RecordKeyFn& fn);

  const RuleSetData& data_;
  EvaluatorOptions options_;
  EvaluatorStats* stats_;
  std::vector<NodeState> nodes_;
  uint64_t generation_ = 0;
  size_t bytes_ = 0;
  // Change tracking (on once durable state asks for changes): per node, the
  // keys of groups changed, and the record keys of persisted groups erased,
  // since the last SerializeChanges.
  bool track_changes_ = false;
  std::vector<std::vector<std::string>> changed_;
  std::vector<std::vector<std::string>> deleted_;
  // Scratch for base events (no allocation once warm).
  std::vector<std::string> values_;
  std::string value_text_;
};

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_CORRELATION_ENGINE_H_
