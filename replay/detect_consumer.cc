// The detection path of replay: profile -> rules -> folded alerts, either on
// the reading thread (shards == 0) or on the sharded runtime
// (engine/runtime, docs/runtime.md). Both put the detections of each event
// in the runtime's DetectionOrder, so their alerts are byte-identical.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alert/alert_folder.h"
#include "alert/finding.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "profile/profile_store.h"
#include "replay/output.h"
#include "replay/replay.h"
#include "runtime/detection_order.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"

namespace credwatch::replay {
namespace {

// Writes the incident report of `folder` to `path` (none when empty).
absl::Status WriteReport(const std::string& path, const alert::AlertFolder& folder) {
  if (path.empty()) return absl::OkStatus();
  auto report = OutputFile::Open(path);
  if (!report.ok()) return report.status();
  std::string text;
  alert::AppendIncidentReport(folder.Findings(), &text);
  (*report)->Write(text);
  return (*report)->Close();
}

// Detection on the reading thread: one ProfileStore, one Evaluator.
class DetectionConsumer : public EventConsumer {
 public:
  DetectionConsumer(std::shared_ptr<const rules::RuleSet> rules, std::shared_ptr<const Site> site,
                    profile::ProfileOptions profile_options, std::unique_ptr<OutputFile> out,
                    std::string report_path, DetectionTally* tally)
      : evaluator_(rules),
        order_(*rules),
        site_(std::move(site)),
        profiles_(std::move(profile_options)),
        out_(std::move(out)),
        report_path_(std::move(report_path)),
        tally_(tally) {}

  void OnEvent(Event& e) override {
    if (e.kind == Kind::kNetwork && e.credential.empty() && !e.host.empty()) {
      // A host-level flow: attribute it to the credentials with a live
      // session on that host, and judge it once for each.
      owners_.clear();
      profiles_.LiveCredentialsOnHost(e, &owners_);
      for (std::string_view owner : owners_) {
        Event copy = e;
        copy.credential = owner;
        copy.tenant = site_->CredentialTenant(owner, &tenant_scratch_);
        profiles_.Observe(copy);
        Evaluate(copy);
      }
      if (!owners_.empty()) return;
    } else {
      profiles_.Observe(e);
    }
    Evaluate(e);
  }

  void OnWatermark(int64_t time_ns) override {
    detections_.clear();
    evaluator_.AdvanceWatermark(time_ns, &detections_);
    Emit();
  }

  absl::Status Finish() override {
    detections_.clear();
    evaluator_.AdvanceWatermark(INT64_MAX, &detections_);
    Emit();
    tally_->windows_dropped = {};
    tally_->windows_dropped.Add(evaluator_.stats());
    absl::Status status = out_->Close();
    absl::Status report = WriteReport(report_path_, folder_);
    return status.ok() ? report : status;
  }

 private:
  void Evaluate(const Event& e) {
    detections_.clear();
    evaluator_.Process(e, &detections_);
    Emit();
  }

  // The detections of one event (or watermark), in the order every shard
  // count agrees on.
  void Emit() {
    order_.Sort(&detections_);
    for (const Detection& d : detections_) {
      if (const alert::Finding* f = folder_.Offer(d)) {
        line_.clear();
        alert::AppendFindingJson(*f, &line_);
        line_.push_back('\n');
        out_->Write(line_);
        ++tally_->alerts;
      }
    }
  }

  rules::Evaluator evaluator_;
  runtime::DetectionOrder order_;
  std::shared_ptr<const Site> site_;
  profile::ProfileStore profiles_;
  alert::AlertFolder folder_;
  std::unique_ptr<OutputFile> out_;
  std::string report_path_;
  DetectionTally* tally_;
  std::vector<Detection> detections_;
  std::vector<std::string_view> owners_;
  std::string tenant_scratch_;
  std::string line_;
};

// Detection on the sharded runtime: this thread only hands events on.
class ShardedDetectionConsumer : public EventConsumer {
 public:
  ShardedDetectionConsumer(runtime::ShardedDetectorOptions options,
                           std::shared_ptr<const rules::RuleSet> rules, std::unique_ptr<OutputFile> out,
                           std::string report_path, DetectionTally* tally)
      : publisher_(std::move(rules)), out_(std::move(out)), report_path_(std::move(report_path)), tally_(tally) {
    options.rules = &publisher_;
    // The sink runs on the runtime's output thread; *tally_ is read after
    // Finish joined it.
    detector_ = std::make_unique<runtime::ShardedDetector>(std::move(options), [this](const alert::Finding& f) {
      line_.clear();
      alert::AppendFindingJson(f, &line_);
      line_.push_back('\n');
      out_->Write(line_);
      ++tally_->alerts;
    });
  }

  void OnEvent(Event& e) override { detector_->OnEvent(e); }
  void OnWatermark(int64_t time_ns) override { detector_->OnWatermark(time_ns); }
  absl::Status Finish() override {
    detector_->Finish();
    tally_->windows_dropped = detector_->stats().windows_dropped;
    absl::Status status = out_->Close();
    absl::Status report = WriteReport(report_path_, detector_->folder());
    return status.ok() ? report : status;
  }

 private:
  runtime::RuleSetPublisher publisher_;
  std::unique_ptr<OutputFile> out_;
  std::string report_path_;
  DetectionTally* tally_;
  std::string line_;  // output thread's
  // Last: destroyed (and, without Finish, drained into out_) first.
  std::unique_ptr<runtime::ShardedDetector> detector_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const rules::RuleSet>> LoadReplayRules(const Config& config) {
  if (config.rules.empty()) {
    return absl::InvalidArgumentError(
        "no rules to run: name them with --rules PATH or `rules:` in the config "
        "(or use --emit events)");
  }
  auto set = rules::LoadRuleSet(config.rules);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rules: ", set.status().message()));
  }
  return set;
}

absl::StatusOr<std::unique_ptr<EventConsumer>> MakeDetectionConsumer(
    const ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
    std::unique_ptr<OutputFile> out, DetectionTally* tally) {
  auto site = Site::Create(options.config.site);
  if (!site.ok()) return site.status();
  profile::ProfileOptions popts;
  popts.learning_ns = options.config.profile.learning_period_ns;
  popts.multi_tenant_globs = options.config.site.tenants.multi_tenant_credentials;
  if (options.shards == 0) {
    return std::unique_ptr<EventConsumer>(new DetectionConsumer(
        std::move(rules), *site, std::move(popts), std::move(out), options.report, tally));
  }
  runtime::ShardedDetectorOptions ropts;
  ropts.shards = options.shards > 0 ? options.shards : 0;  // 0: one per core
  ropts.profile = std::move(popts);
  ropts.site = *site;
  return std::unique_ptr<EventConsumer>(new ShardedDetectionConsumer(
      std::move(ropts), std::move(rules), std::move(out), options.report, tally));
}

}  // namespace credwatch::replay
