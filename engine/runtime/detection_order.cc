#include "runtime/detection_order.h"

#include <algorithm>
#include <array>
#include <climits>
#include <tuple>
#include <utility>

#include "common/strings.h"
#include "rules/compiled.h"

namespace credwatch::runtime {
namespace {

// Where a rule's detections appear in one Evaluator::Process call:
//   detection rule r:         (r, 0, 0, 0, 0)   at its own index
//   correlation node n:       (first base rule of n's tree, 1, tree root,
//                              deepest-first, n)
// A correlation fires while the evaluator is at one of the detection rules
// of its tree (its base rules), after that rule's own detection; the tree's
// first base rule is where that happens for packs whose correlation base
// rules are not emitted themselves.
using Key = std::tuple<int, int, int, int, int>;

}  // namespace

DetectionOrder::DetectionOrder(const rules::RuleSet& rules) {
  const rules::internal::RuleSetData& d = rules.data();
  const int num_nodes = static_cast<int>(d.nodes.size());
  std::vector<int> tree_first_base(static_cast<size_t>(num_nodes), INT_MAX);
  for (size_t r = 0; r < d.detection_consumers.size(); ++r) {
    for (const rules::internal::BaseConsumer& bc : d.detection_consumers[r]) {
      const int root = d.nodes[static_cast<size_t>(bc.node)].root;
      int& first = tree_first_base[static_cast<size_t>(root)];
      first = std::min(first, static_cast<int>(r));
    }
  }
  std::vector<std::pair<Key, const std::string*>> keyed;
  for (size_t r = 0; r < d.detections.size(); ++r) {
    if (r < d.detection_emit.size() && d.detection_emit[r]) {
      keyed.push_back({Key{static_cast<int>(r), 0, 0, 0, 0}, &d.detections[r].meta.id});
    }
  }
  for (int n = 0; n < num_nodes; ++n) {
    const rules::internal::CorrNode& node = d.nodes[static_cast<size_t>(n)];
    if (!node.emit) continue;
    int depth = 0;
    for (int at = n; d.nodes[static_cast<size_t>(at)].parent >= 0; at = d.nodes[static_cast<size_t>(at)].parent) {
      ++depth;
    }
    keyed.push_back({Key{tree_first_base[static_cast<size_t>(node.root)], 1, node.root, -depth, n},
                     &d.correlations[static_cast<size_t>(node.rule)].meta.id});
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < keyed.size(); ++i) {
    ranks_.try_emplace(*keyed[i].second, static_cast<uint32_t>(i));  // first wins
  }
}

uint32_t DetectionOrder::Rank(std::string_view rule_id) const {
  auto it = ranks_.find(Sv(rule_id));
  return it == ranks_.end() ? kUnknownRank : it->second;
}

void DetectionOrder::Sort(std::vector<Detection>* detections) const {
  const size_t n = detections->size();
  if (n < 2) return;
  constexpr size_t kInline = 16;
  if (n > kInline) {
    std::vector<std::pair<uint32_t, size_t>> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = {Rank((*detections)[i].rule_id), i};
    std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
      return Before(a.first, (*detections)[a.second], b.first, (*detections)[b.second]);
    });
    std::vector<Detection> sorted;
    sorted.reserve(n);
    for (const auto& [rank, i] : order) sorted.push_back(std::move((*detections)[i]));
    *detections = std::move(sorted);
    return;
  }
  // Insertion sort on cached ranks: stable, and no allocation.
  std::array<uint32_t, kInline> ranks;
  for (size_t i = 0; i < n; ++i) ranks[i] = Rank((*detections)[i].rule_id);
  for (size_t i = 1; i < n; ++i) {
    for (size_t j = i; j > 0; --j) {
      if (!Before(ranks[j], (*detections)[j], ranks[j - 1], (*detections)[j - 1])) break;
      std::swap((*detections)[j - 1], (*detections)[j]);
      std::swap(ranks[j - 1], ranks[j]);
    }
  }
}

}  // namespace credwatch::runtime
