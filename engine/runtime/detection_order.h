// DetectionOrder: one canonical order for the detections that one event (or
// one watermark) causes, whoever computed them. With several shards, the
// detections of one event come from several Evaluator calls (the credential's
// shard and, for rules grouped by another key, that key's shard); sorting each
// event's detections by this order makes the alert stream the same for any
// shard count, including the single-threaded path.
//
//   DetectionOrder order(*rule_set);
//   order.Sort(&detections_of_one_event);
//
// The order follows what a single Evaluator::Process call emits: rules in
// load order, a detection rule's own detection at its index, and a
// correlation where the first detection rule feeding its correlation tree
// sits (inner correlations before the outer ones they feed). So for rule
// packs like the shipped one, where a correlation's base rules are not
// interleaved with other emitted rules, sorting does not change the
// single-call order at all; otherwise the detections of one event may be
// ordered differently from a single call, never different in content.
// Ties (same rule) are broken by the group key; equal (rule, group key)
// pairs come from one correlation group, hence one shard, and keep their
// order (the sort is stable).
//
// Reads the compiled rule set (rules/compiled.h): the correlation forest is
// not part of the public RuleSet API. Immutable after construction;
// thread-safe.
#ifndef CREDWATCH_RUNTIME_DETECTION_ORDER_H_
#define CREDWATCH_RUNTIME_DETECTION_ORDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "credwatch/detection.h"
#include "credwatch/rules.h"

namespace credwatch::runtime {

class DetectionOrder {
 public:
  static constexpr uint32_t kUnknownRank = UINT32_MAX;

  explicit DetectionOrder(const rules::RuleSet& rules);

  // The rank of Detection::rule_id: smaller comes first. kUnknownRank for an
  // id the set does not emit.
  uint32_t Rank(std::string_view rule_id) const;

  // Stable-sorts `detections` by Before. Allocation-free for up to 16
  // detections (the usual: one or two per event).
  void Sort(std::vector<Detection>* detections) const;

  // The order: by rank, then group key.
  static bool Before(uint32_t rank_a, const Detection& a, uint32_t rank_b, const Detection& b) {
    if (rank_a != rank_b) return rank_a < rank_b;
    return a.group_key < b.group_key;
  }

 private:
  absl::flat_hash_map<std::string, uint32_t> ranks_;
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_DETECTION_ORDER_H_
