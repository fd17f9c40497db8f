#include "replay/replay.h"

#include <sys/resource.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "credwatch/detection.h"
#include "credwatch/rules.h"
#include "replay/output.h"
#include "state/durable_replay.h"

namespace credwatch::replay {
namespace {

// --emit events: the merged normalized events as NDJSON.
class EventWriter : public EventConsumer {
 public:
  explicit EventWriter(std::unique_ptr<OutputFile> out) : out_(std::move(out)) {}
  void OnEvent(Event& e) override {
    line_.clear();
    AppendEventJson(e, &line_);
    line_.push_back('\n');
    out_->Write(line_);
  }
  void OnWatermark(int64_t) override {}
  absl::Status Finish() override { return out_->Close(); }

 private:
  std::unique_ptr<OutputFile> out_;
  std::string line_;
};

}  // namespace

// Defined in detect_consumer.cc: profiles, rules and alerts.
absl::StatusOr<std::shared_ptr<const rules::RuleSet>> LoadReplayRules(const Config& config);
absl::StatusOr<std::unique_ptr<EventConsumer>> MakeDetectionConsumer(
    const ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
    std::unique_ptr<OutputFile> out, DetectionTally* tally);

absl::StatusOr<ReplaySummary> RunReplay(const ReplayOptions& options) {
  ReplayOptions opts = options;
  std::shared_ptr<const rules::RuleSet> rule_set;
  if (opts.emit == Emit::kAlerts) {
    auto loaded = LoadReplayRules(opts.config);
    if (!loaded.ok()) return loaded.status();
    rule_set = *loaded;
    // Decoders copy the source fields the rules read (CloudTrail paths, ...).
    opts.projection_for = [rule_set](Format f) { return &rule_set->projection(f); };
  }
  DetectionTally tally;
  std::unique_ptr<EventConsumer> consumer;
  std::string state_note;
  if (opts.emit == Emit::kAlerts && !opts.state.dir.empty()) {
    // Durable state: the consumer owns the output (it cuts it back on resume).
    auto c = state::MakeDurableDetectionConsumer(opts, rule_set, &tally, &state_note);
    if (!c.ok()) return c.status();
    consumer = std::move(*c);
  } else {
    auto out = OutputFile::Open(opts.output);
    if (!out.ok()) return out.status();
    if (opts.emit == Emit::kEvents) {
      consumer = std::make_unique<EventWriter>(std::move(*out));
    } else {
      auto c = MakeDetectionConsumer(opts, rule_set, std::move(*out), &tally);
      if (!c.ok()) return c.status();
      consumer = std::move(*c);
    }
  }
  auto summary = MergeInputs(opts, *consumer);
  if (summary.ok()) {
    summary->alerts = tally.alerts;
    summary->windows_dropped = tally.windows_dropped;
    summary->state = state_note;
  }
  return summary;
}

std::string FormatSummary(const ReplaySummary& s) {
  std::string out;
  double secs = s.seconds > 0 ? s.seconds : 1e-9;
  absl::StrAppendFormat(&out, "credwatch replay: %d inputs, %d records, %d events, %d rejected, %d late, %d alerts\n",
                        s.inputs, s.input.records, s.events_out, s.input.rejects(), s.late_events, s.alerts);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  absl::StrAppendFormat(&out, "  %.3f s, %.0f events/s, %.1f MB/s, peak memory %.1f MiB\n",
                        s.seconds, static_cast<double>(s.events_out) / secs,
                        static_cast<double>(s.input.bytes) / secs / 1e6,
                        static_cast<double>(usage.ru_maxrss) / 1024.0);
  if (!s.events_by_format.empty()) {
    out += "  events by format:";
    for (const auto& [k, v] : s.events_by_format) absl::StrAppend(&out, " ", k, "=", v);
    out += "\n";
  }
  if (!s.events_by_action.empty()) {
    out += "  events by action:";
    for (const auto& [k, v] : s.events_by_action) absl::StrAppend(&out, " ", k, "=", v);
    out += "\n";
  }
  int64_t skipped = s.input.by_code[static_cast<size_t>(RecordCode::kSkippedIrrelevant)];
  if (skipped) absl::StrAppend(&out, "  skipped (no security event): ", skipped, "\n");
  if (s.input.rejects()) {
    out += "  rejected by reason:";
    for (size_t i = 0; i < s.input.by_code.size(); ++i) {
      auto code = static_cast<RecordCode>(i);
      if (IsReject(code) && s.input.by_code[i]) {
        absl::StrAppend(&out, " ", std::string(RecordCodeName(code)), "=", s.input.by_code[i]);
      }
    }
    out += "\n";
  }
  for (const auto& e : s.input_errors) absl::StrAppend(&out, "  input not read: ", e, "\n");
  if (s.windows_dropped.limit || s.windows_dropped.budget) {
    // Detection was weakened: correlations may have missed what these held.
    absl::StrAppend(&out, "  correlation windows dropped before their end: ", s.windows_dropped.limit,
                    " at the per-rule limit, ", s.windows_dropped.budget,
                    " over memory_budget's window share (raise state.memory_budget)\n");
  }
  if (!s.state.empty()) absl::StrAppend(&out, "  ", s.state, "\n");
  return out;
}

}  // namespace credwatch::replay
