// The detection path of replay: profile -> rules -> folded alerts.
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

namespace credwatch::replay {
namespace {

class DetectionConsumer : public EventConsumer {
 public:
  DetectionConsumer(std::shared_ptr<const rules::RuleSet> rules, std::shared_ptr<const Site> site,
                    profile::ProfileOptions profile_options, std::unique_ptr<OutputFile> out,
                    std::string report_path, int64_t* alerts)
      : evaluator_(rules),
        site_(std::move(site)),
        profiles_(std::move(profile_options)),
        out_(std::move(out)),
        report_path_(std::move(report_path)),
        alerts_(alerts) {}

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
    absl::Status status = out_->Close();
    if (!report_path_.empty()) {
      auto report = OutputFile::Open(report_path_);
      if (!report.ok()) return report.status();
      std::string text;
      alert::AppendIncidentReport(folder_.Findings(), &text);
      (*report)->Write(text);
      absl::Status s = (*report)->Close();
      if (status.ok()) status = s;
    }
    return status;
  }

 private:
  void Evaluate(const Event& e) {
    detections_.clear();
    evaluator_.Process(e, &detections_);
    Emit();
  }

  void Emit() {
    for (const Detection& d : detections_) {
      if (const alert::Finding* f = folder_.Offer(d)) {
        line_.clear();
        alert::AppendFindingJson(*f, &line_);
        line_.push_back('\n');
        out_->Write(line_);
        ++*alerts_;
      }
    }
  }

  rules::Evaluator evaluator_;
  std::shared_ptr<const Site> site_;
  profile::ProfileStore profiles_;
  alert::AlertFolder folder_;
  std::unique_ptr<OutputFile> out_;
  std::string report_path_;
  int64_t* alerts_;
  std::vector<Detection> detections_;
  std::vector<std::string_view> owners_;
  std::string tenant_scratch_;
  std::string line_;
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
    std::unique_ptr<OutputFile> out, int64_t* alerts) {
  auto site = Site::Create(options.config.site);
  if (!site.ok()) return site.status();
  profile::ProfileOptions popts;
  popts.learning_ns = options.config.profile.learning_period_ns;
  popts.multi_tenant_globs = options.config.site.tenants.multi_tenant_credentials;
  return std::unique_ptr<EventConsumer>(new DetectionConsumer(
      std::move(rules), *site, std::move(popts), std::move(out), options.report, alerts));
}

}  // namespace credwatch::replay
