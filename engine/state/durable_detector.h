// The detection path with durable state, shared by `credwatch replay
// --state-dir` (durable_replay.cc) and the daemon (engine/daemon): profiles
// (ProfileCache over the state database), the live-session table for host
// flows, the rule evaluator and the alert folder, on one thread, with
// everything it changed collected into the next StateBatch.
//
//   DurableDetector detector(options, rules, site, store);
//   auto restored = detector.Restore();     // windows + alert folder journal
//   for (Event& e : batch) detector.Process(e);
//   detector.AdvanceWatermark(w);
//   StateBatch b;
//   detector.Collect(&b);                   // profiles, windows, journal
//   ... positions, outbox: detector.TakeAlerts() ...
//   store->Commit(b);
//   detector.AfterCommit();                 // evicts cold profiles
//
// Modes (set_live): live, detections are journaled and alerts produced; not
// live (a replay rebuilding its state), detections only feed the folder.
// Not thread-safe: one thread owns a DurableDetector.
#ifndef CREDWATCH_STATE_DURABLE_DETECTOR_H_
#define CREDWATCH_STATE_DURABLE_DETECTOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alert/alert_folder.h"
#include "credwatch/config.h"
#include "credwatch/event.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "profile/profile_store.h"
#include "runtime/detection_order.h"
#include "runtime/host_sessions.h"
#include "state/profile_cache.h"
#include "state/state_store.h"

namespace credwatch::state {

struct DetectorOptions {
  profile::ProfileOptions profile;
  // Credentials idle longer than this are swept (StateOptions::retention_ns).
  int64_t retention_ns = 400 * kNsPerDay;
  // Forget folded findings (and their journal) this long after they opened,
  // plus `lateness`, so a long-running daemon stays bounded. 0 = never (a
  // replay keeps every finding for its incident report).
  int64_t forget_findings_after_ns = 0;
  int64_t lateness_ns = 0;
};

// One alert to write: its NDJSON line ('\n'-terminated) and, for metrics,
// the rule and severity of the finding.
struct AlertLine {
  std::string line;
  std::string rule_id;
  Severity severity = Severity::kInformational;
};

// Calls `fn` for each detection of the alert folder's journal (family
// `journal`), oldest first, with its sequence number. DataLoss on a damaged
// entry.
absl::Status ScanJournal(StateStore* store, const std::function<void(uint64_t seq, const Detection&)>& fn);

// Writes detections to the journal (version 2, records.h): each rule's
// record once per writer, then each detection naming it, as a record of
// its own or, `chunked`, gathered into one chunk record per Flush.
class JournalWriter {
 public:
  explicit JournalWriter(bool chunked) : chunked_(chunked) {}
  // Detection `seq` (one more than the last Put's). A rule record goes to
  // `b` at once; chunked, the detection waits for Flush, which must put it
  // into the same commit.
  void Put(uint64_t seq, const Detection& d, bool evidences, StateBatch* b);
  // Chunked: the detections since the last Flush, as one record in `b`.
  void Flush(StateBatch* b);

 private:
  const bool chunked_;
  absl::flat_hash_set<uint64_t> rules_written_;
  std::string rule_;
  std::string value_;
  uint64_t chunk_first_ = 0;  // seq of the chunk's first detection
  uint64_t chunk_count_ = 0;
  std::string chunk_;         // their records, each behind its varint length
};

// The journal entries of folded findings that a long run forgets
// (DetectorOptions::forget_findings_after_ns), oldest first, so they leave
// the journal with their findings. For a journal of one record per
// detection (JournalWriter not chunked).
class JournalExpiry {
 public:
  explicit JournalExpiry(const DetectorOptions& options) : options_(options) {}
  bool enabled() const { return options_.forget_findings_after_ns > 0; }
  // A detection journaled as `seq` (when enabled).
  void Add(uint64_t seq, int64_t time_ns) {
    if (enabled()) journaled_.emplace_back(seq, time_ns);
  }
  // Findings opened more than forget_findings_after_ns + lateness before
  // `watermark_ns` leave `folder`; their journal entries are deleted in `b`.
  void Expire(int64_t watermark_ns, alert::AlertFolder* folder, StateBatch* b);

 private:
  DetectorOptions options_;
  std::deque<std::pair<uint64_t, int64_t>> journaled_;  // (seq, detection time)
};

// Adds an evaluator's correlation windows to `b` (records.h): the groups
// that changed or closed since the last call, as records under
// `group_prefix`, and the header at `header_key`. With `rewrite`, every
// record on disk under `group_prefix` is deleted first and every open group
// written.
absl::Status CollectWindows(StateStore* store, rules::Evaluator& evaluator, bool rewrite,
                            std::string_view group_prefix, std::string_view header_key, StateBatch* b);

// The options a config gives (profile keys, site's multi-tenant
// credentials), with the retention in force (config or flag).
DetectorOptions DetectorOptionsFromConfig(const Config& config, int64_t retention_ns);

class DurableDetector {
 public:
  // `store` is not owned and must outlive the detector.
  DurableDetector(const DetectorOptions& options, std::shared_ptr<const rules::RuleSet> rules,
                  std::shared_ptr<const Site> site, StateStore* store);

  // Restores the open correlation windows and the alert folder from the
  // store. Returns false (nothing restored) when the windows record is of
  // another format or other rules: correlation state then starts empty (or
  // is rebuilt by the caller).
  absl::StatusOr<bool> RestoreWindows();
  absl::Status RestoreFolder();

  // Replaces the rule set (a reload). Open windows carry over when the new
  // set has the same correlation rules; otherwise they start empty and
  // `*kept_windows` says so.
  void ReplaceRules(std::shared_ptr<const rules::RuleSet> rules, bool* kept_windows);

  void Process(Event& e);
  // A replay resuming past events: only the live-session table learns.
  void ObserveSkipped(const Event& e);
  void AdvanceWatermark(int64_t watermark_ns);
  // The watermark of skipped events (profiles' clock only).
  void SkipWatermark(int64_t watermark_ns);
  // End of input: closes every correlation window. The profiles' clock stays
  // at the last watermark (retention is judged against real event time).
  void Flush();

  // Adds the profiles changed since the last call, a daily sweep of expired
  // credentials, the open windows and the journal of detections to `b`.
  absl::Status Collect(StateBatch* b);
  // After the commit of what Collect gave: drops cold profiles from memory.
  void AfterCommit() { profiles_.EvictIfOverBudget(); }

  // The alerts produced since the last call.
  std::vector<AlertLine> TakeAlerts() { return std::exchange(alerts_, {}); }

  void set_live(bool live) { live_ = live; }
  bool live() const { return live_; }
  // Rebuild mode: profiles are processed without touching the store.
  void DetachProfiles() { profiles_.Detach(); }
  void ReattachProfiles() { profiles_.Reattach(); }

  uint64_t detection_seq() const { return detection_seq_; }
  void set_detection_seq(uint64_t seq) { detection_seq_ = seq; }
  int64_t watermark_ns() const { return watermark_ns_; }
  const absl::Status& status() const { return status_; }
  const alert::AlertFolder& folder() const { return folder_; }
  const ProfileCache& profiles() const { return profiles_; }
  const rules::Evaluator& evaluator() const { return *evaluator_; }
  uint64_t detections() const { return detections_total_; }
  // Open correlation windows dropped before their end since the start
  // (across rule reloads): at the per-rule group limit, and over the
  // window share of memory_budget.
  rules::WindowsDropped windows_dropped() const;

 private:
  void Observe(Event& e);
  void Evaluate(const Event& e);
  void Emit();
  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  DetectorOptions options_;
  std::unique_ptr<rules::Evaluator> evaluator_;
  std::unique_ptr<runtime::DetectionOrder> order_;
  std::shared_ptr<const Site> site_;
  StateStore* store_;
  ProfileCache profiles_;
  runtime::HostSessions sessions_;
  alert::AlertFolder folder_;
  bool live_ = true;

  // The next Collect replaces every group record (not only the changed).
  bool rewrite_windows_ = true;
  uint64_t detection_seq_ = 0;
  uint64_t detections_total_ = 0;
  rules::WindowsDropped replaced_dropped_;  // by evaluators replaced at a reload
  int64_t watermark_ns_ = INT64_MIN;
  int64_t last_sweep_ns_ = INT64_MIN;
  StateBatch journal_;  // detections since the last Collect
  JournalWriter journal_writer_;
  JournalExpiry expiry_;  // journal entries on disk, to forget with their findings
  std::vector<AlertLine> alerts_;
  absl::Status status_;

  std::vector<Detection> detections_;
  std::vector<std::string_view> owners_;
  std::string tenant_scratch_;
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_DURABLE_DETECTOR_H_
