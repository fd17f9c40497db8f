#include "replay/simulator/simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "replay/simulator/estate.h"
#include "replay/simulator/labels.h"
#include "replay/simulator/scenarios.h"
#include "replay/simulator/timeline.h"
#include "replay/simulator/writers.h"

namespace credwatch::sim {
namespace {

namespace fs = std::filesystem;

class CountingSink : public RecordSink {
 public:
  void Consume(const Record&) override {}
};

class OutputSink : public RecordSink {
 public:
  OutputSink(const Estate& estate, LabelTracker* labels, OutputFile* journal, OutputFile* flows,
             CloudTrailWriter* cloudtrail)
      : labels_(labels),
        journal_(estate, journal),
        flows_(estate, flows),
        cloudtrail_(cloudtrail) {}

  void Consume(const Record& r) override {
    labels_->Observe(r);
    if (IsJournal(r.type)) {
      bytes_ += static_cast<int64_t>(journal_.Write(r));
      ++journal_records_;
    } else if (IsCloudTrail(r.type)) {
      bytes_ += static_cast<int64_t>(cloudtrail_->Write(r));
    } else {
      bytes_ += static_cast<int64_t>(flows_.Write(r));
      ++flow_records_;
    }
  }

  int64_t bytes() const { return bytes_; }
  int64_t journal_records() const { return journal_records_; }
  int64_t flow_records() const { return flow_records_; }

 private:
  LabelTracker* labels_;
  JournalWriter journal_;
  FlowWriter flows_;
  CloudTrailWriter* cloudtrail_;
  int64_t bytes_ = 0;
  int64_t journal_records_ = 0;
  int64_t flow_records_ = 0;
};

absl::Status Validate(const SimulateOptions& o) {
  if (o.days < 1 || o.days > 3660) return absl::InvalidArgumentError("--days must be 1..3660");
  if (o.tenants < 1 || o.tenants > 999) {
    return absl::InvalidArgumentError("--tenants must be 1..999 (tenant ids are t001..t999)");
  }
  if (o.target_events < 0) return absl::InvalidArgumentError("--events must be >= 0");
  if (o.out_dir.empty()) return absl::InvalidArgumentError("an output directory is required");
  return absl::OkStatus();
}

// options.rules_dir as seen from out_dir ("../rules/").
std::string RulesPath(const SimulateOptions& options) {
  std::error_code ec;
  fs::path rules = fs::absolute(options.rules_dir.empty() ? "rules" : options.rules_dir, ec);
  fs::path out = fs::absolute(options.out_dir, ec);
  std::string rel =
      rules.lexically_normal().lexically_relative(out.lexically_normal()).generic_string();
  if (rel.empty()) rel = rules.lexically_normal().generic_string();
  if (rel.back() != '/') rel += '/';
  return rel;
}

absl::Status WriteWholeFile(const std::string& path, const std::string& content) {
  OutputFile f;
  absl::Status s = f.Open(path);
  if (!s.ok()) return s;
  f.Append(content);
  return f.Close();
}

// Volume scale that makes a run produce about `target` records. Volume is
// nearly linear in the scale (the schedules of the service accounts and the
// attacks do not scale, everything else does), so two counting passes (no
// formatting, no output) fix the line; a third corrects the rounding of the
// population when that is cheap.
double Calibrate(const SimulateOptions& options) {
  auto count = [&](double scale) {
    Estate e = BuildEstate(options, scale);
    AttackPlan plan = PlanAttacks(&e);
    CountingSink sink;
    return static_cast<double>(RunTimeline(e, plan, sink).records);
  };
  constexpr double kMinScale = 1e-3;
  const double target = static_cast<double>(options.target_events);
  const double at_one = count(1.0);
  const double probe = std::clamp(target / at_one, 0.05, 8.0);
  if (std::abs(probe - 1.0) < 0.02) return 1.0;
  const double at_probe = count(probe);
  const double slope = (at_probe - at_one) / (probe - 1.0);
  if (slope <= 0) return std::max(kMinScale, probe);
  double scale = std::max(kMinScale, 1.0 + (target - at_one) / slope);
  if (target <= 4e6 && std::abs(scale - probe) > 0.02 * probe) {
    scale = std::max(kMinScale, scale + (target - count(scale)) / slope);
  }
  return scale;
}

}  // namespace

absl::StatusOr<SimulateSummary> Simulate(const SimulateOptions& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;

  const fs::path out_dir(options.out_dir);
  const fs::path delivery_dir = out_dir / "cloudtrail";
  std::error_code ec;
  fs::create_directories(delivery_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", delivery_dir.string(), ": ", ec.message()));
  }
  // Delivery files of an earlier run would mix with this one's.
  for (const fs::directory_entry& entry : fs::directory_iterator(delivery_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find("_CloudTrail_") != std::string::npos && name.size() > 8 &&
        name.compare(name.size() - 8, 8, ".json.gz") == 0) {
      fs::remove(entry.path(), ec);
    }
  }

  const double scale = options.target_events > 0 ? Calibrate(options) : 1.0;
  Estate estate = BuildEstate(options, scale);
  AttackPlan plan = PlanAttacks(&estate);
  const int64_t start_ns = estate.DayStart(0);
  const int64_t end_ns = estate.DayStart(estate.days);
  // CloudTrail: the first half in cloudtrail.ndjson, the rest in delivery files.
  const int64_t split_ns = start_ns + (end_ns - start_ns) / 2 / kHour * kHour;

  OutputFile journal, flows, cloudtrail_ndjson;
  for (auto [file, name] :
       {std::pair{&journal, "journal.ndjson"}, std::pair{&flows, "flows.ndjson"},
        std::pair{&cloudtrail_ndjson, "cloudtrail.ndjson"}}) {
    if (absl::Status s = file->Open((out_dir / name).string()); !s.ok()) return s;
  }
  CloudTrailWriter cloudtrail(estate, delivery_dir.string(), split_ns, &cloudtrail_ndjson);
  LabelTracker labels(estate, plan);
  OutputSink sink(estate, &labels, &journal, &flows, &cloudtrail);
  TimelineStats stats = RunTimeline(estate, plan, sink);

  absl::Status status = cloudtrail.Finish();
  for (OutputFile* f : {&journal, &flows, &cloudtrail_ndjson}) {
    absl::Status s = f->Close();
    if (status.ok()) status = s;
  }
  if (!status.ok()) return status;
  if (absl::Status s =
          WriteWholeFile((out_dir / "labels.json").string(), labels.LabelsJson(start_ns, end_ns));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteWholeFile((out_dir / "credwatch.yaml").string(),
                                      ReplayConfigYaml(estate, plan, RulesPath(options)));
      !s.ok()) {
    return s;
  }

  SimulateSummary summary;
  summary.events = stats.records;
  summary.bytes = sink.bytes();
  summary.journal_records = sink.journal_records();
  summary.flow_records = sink.flow_records();
  summary.cloudtrail_ndjson_records = cloudtrail.ndjson_records();
  summary.cloudtrail_delivery_records = cloudtrail.delivery_records();
  summary.cloudtrail_delivery_files = cloudtrail.delivery_files();
  summary.attacks = static_cast<int>(plan.attacks.size());
  summary.benign_lookalikes = labels.num_lookalikes();
  summary.start_ns = start_ns;
  summary.end_ns = end_ns;
  summary.records_after_end = stats.records_after_end;
  return summary;
}

}  // namespace credwatch::sim
