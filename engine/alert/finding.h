// Alerts as OCSF 1.1 Detection Findings (class_uid 2004), one JSON object per
// line (design.md, "Alerts").
//
//   alert::Finding f = alert::NewFinding(detection);
//   sink.Write(alert::FindingToNdjson(f));   // "{...}\n"
//
// What goes where:
//   time                      when the detection fired (event time, ms)
//   severity_id / severity    the rule's level
//   activity_id               1 Create when a finding is first written,
//                             2 Update when it is re-written (severity raised)
//   finding_info.uid          FindingUid(rule id, group key, opened time)
//   finding_info.analytic     {uid: rule id, name: title, type_id 1 "Rule"}
//   finding_info.attacks      [{technique {uid}, sub_technique {uid}}] from the
//                             rule's ATT&CK tags ("T1078.004" -> T1078 + .004)
//   finding_info.types        "Credential Misuse", plus "Data Exfiltration"
//                             when data moved (bytes or a destination)
//   actor.user.name / .org    the credential and its tenant
//   src_endpoint.ip           source address of the latest event
//   evidences                 [{data: <event JSON object>}], capped at
//                             Detection::kMaxEvidences
//   unmapped.blast_radius     {tenants, objects, objects_total, bytes, records,
//                             destinations}; unmapped.group_key
//   count                     detections folded into this finding
//
// Every string from input goes through AppendJsonString, and an evidence that
// is not exactly one JSON object on one line is embedded as an escaped string
// ({data: {raw: "..."}}), so nothing a record holds can add fields or lines.
// Output is byte-deterministic: fixed key order, sets already sorted.
//
// Value types and pure functions; thread-compatible.
#ifndef CREDWATCH_ALERT_FINDING_H_
#define CREDWATCH_ALERT_FINDING_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "credwatch/detection.h"

namespace credwatch::alert {

// One finding: a detection, or the repeats of one rule and key folded into it
// (AlertFolder).
struct Finding {
  std::string uid;
  Detection detection;    // the merged view: max severity, first..last seen, merged blast
  int64_t count = 1;      // detections folded in
  int64_t opened_ns = 0;  // time_ns of the detection that opened it
  int updates = 0;        // re-emissions after the Create
};

// A deterministic id, shaped as an RFC 9562 version-8 UUID, from the rule,
// the group key and the time the finding opened (so a later incident of the
// same rule and key, after the fold window, gets a new id). Same inputs, same
// id, in every process and on every machine.
std::string FindingUid(std::string_view rule_id, std::string_view group_key, int64_t opened_ns);

// A finding that holds one detection (uid from its time_ns).
Finding NewFinding(const Detection& d);

// Appends the finding as one JSON object, without a newline.
void AppendFindingJson(const Finding& f, std::string* out);
// The finding as one NDJSON line, ending in '\n'.
std::string FindingToNdjson(const Finding& f);

// True if `text` is exactly one JSON object: strict RFC 8259 syntax, valid
// UTF-8, nesting depth <= 64, and no raw CR/LF (it must fit on one line).
bool IsSingleLineJsonObject(std::string_view text);

}  // namespace credwatch::alert

#endif  // CREDWATCH_ALERT_FINDING_H_
