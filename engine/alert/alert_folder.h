// Folding repeats: "Repeats for one rule and key fold into the open finding"
// (design.md, "Alerts"), and the end-of-replay incident report that scopes
// what each credential took.
//
//   alert::AlertFolder folder({});
//   for (const Detection& d : detections) {
//     if (const alert::Finding* f = folder.Offer(d)) sink.Write(alert::FindingToNdjson(*f));
//   }
//   std::string report;
//   alert::AppendIncidentReport(folder.Findings(), &report);
//
// A finding opens with the first detection of its (rule id, group key) and
// stays open for `fold_window_ns` of event time from that detection. Within
// the window a repeat is merged into it: count + 1, first/last seen widened,
// blast radius merged (BlastRadius caps), new evidences appended up to
// Detection::kMaxEvidences, the latest detection's src_ip and time kept. A
// repeat that raises the severity is emitted again (activity Update, same
// uid). After the window the next detection opens a new finding with a new
// uid. Detections that arrive out of event-time order fold if they are within
// the window either side of the opening one.
//
// Deterministic for a given order of Offer calls: ids come from event time and
// a fixed hash, and Findings() is sorted. Not thread-safe: one AlertFolder per
// output stream, used by one thread.
#ifndef CREDWATCH_ALERT_ALERT_FOLDER_H_
#define CREDWATCH_ALERT_ALERT_FOLDER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "alert/finding.h"
#include "credwatch/detection.h"

namespace credwatch::alert {

struct FolderOptions {
  // How long after it opened a finding absorbs repeats (event time).
  // Default 24 h.
  int64_t fold_window_ns = int64_t{24} * 3600 * 1'000'000'000;
};

class AlertFolder {
 public:
  explicit AlertFolder(FolderOptions options = {});

  // Folds `d`. Returns the finding to write now, or nullptr if `d` was merged
  // into an open finding without raising its severity. The pointer stays
  // valid until the finding is expired (or for the folder's lifetime).
  const Finding* Offer(const Detection& d);

  // Whether Offer(d), called next, would read d's evidences: false when d
  // folds into an open finding whose evidences are full. A journal of the
  // Offer sequence (durable state) can then leave them out and still
  // rebuild the same findings.
  bool UsesEvidences(const Detection& d) const;

  // Forgets the findings opened before `before_ns`, oldest first, stopping
  // at the first newer one (findings open roughly in event-time order). A
  // long-running daemon calls it with watermark - fold window - lateness so
  // the folder stays bounded; a later repeat of a forgotten finding opens a
  // new one. Returns how many were dropped.
  size_t Expire(int64_t before_ns);

  // Every finding with its folded totals, sorted by credential, first seen,
  // rule id, group key and opening time.
  std::vector<const Finding*> Findings() const;
  size_t size() const { return findings_.size(); }

 private:
  FolderOptions options_;
  std::deque<Finding> findings_;                   // stable addresses
  size_t base_ = 0;                                // findings expired from the front
  absl::flat_hash_map<std::string, size_t> open_;  // fold key -> base_ + index in findings_
};

// Appends a Markdown report, one section per credential (most severe first):
// its tenant, first/last seen, the tenants whose data it touched, objects
// (count and a sample), bytes moved, destinations, and the rules that fired.
// Text from input is escaped (Markdown punctuation, control characters,
// invalid UTF-8), so a crafted name cannot restructure the report.
void AppendIncidentReport(const std::vector<const Finding*>& findings, std::string* out);

}  // namespace credwatch::alert

#endif  // CREDWATCH_ALERT_ALERT_FOLDER_H_
