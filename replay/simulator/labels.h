// Ground truth for a simulated stretch: watches every record as it is written
// and summarises the attacks (start, first exfiltration, end, tenants, bytes)
// and the benign look-alikes into labels.json; also writes the credwatch.yaml
// that replays the output. Times in the labels are taken from the records
// themselves, so they match what a decoder sees. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_LABELS_H_
#define CREDWATCH_REPLAY_SIMULATOR_LABELS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "replay/simulator/estate.h"
#include "replay/simulator/record.h"
#include "replay/simulator/scenarios.h"

namespace credwatch::sim {

class LabelTracker {
 public:
  LabelTracker(const Estate& estate, const AttackPlan& plan);

  // Records must arrive in the order they are written (time order).
  void Observe(const Record& r);

  // labels.json for the stretch [start_ns, end_ns).
  std::string LabelsJson(int64_t start_ns, int64_t end_ns) const;
  int num_lookalikes() const { return static_cast<int>(looks_.size()); }

 private:
  struct AttackStats {
    int64_t start = INT64_MAX;
    int64_t end = INT64_MIN;
    int64_t first_exfiltration = INT64_MAX;
    int64_t bytes = 0;
    int64_t objects = 0;
    int64_t records = 0;
    std::vector<bool> tenants;  // by tenant number
  };
  struct LookStats {
    int64_t first = INT64_MAX;
    int64_t last = INT64_MIN;
    int64_t records = 0;
    int64_t bytes = 0;
    int64_t days = 0;
    int64_t last_day = INT64_MIN;
    std::vector<uint32_t> source_ips;  // first few distinct
    std::vector<bool> tenants;
  };
  static constexpr uint32_t kAggregateUser = UINT32_MAX;

  const Estate& estate_;
  const AttackPlan& plan_;
  std::vector<AttackStats> attacks_;
  std::map<std::pair<uint8_t, uint32_t>, LookStats> looks_;
  int64_t dormant_last_benign_ = INT64_MIN;
};

// "nightly_backup", ... (labels.json "kind" of a look-alike).
std::string_view LookalikeName(uint8_t lookalike);

// The replay config (credwatch.yaml) for the site the estate describes.
// `rules_path` is written as the rule directory.
std::string ReplayConfigYaml(const Estate& estate, const AttackPlan& plan,
                             const std::string& rules_path);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_LABELS_H_
