// What a rule hands to the alert stage: a Detection, with the events that made
// it and the blast radius (tenants, objects, bytes, destinations) they add up to.
//
//   Detection d;
//   d.rule_id = rule.id; d.group_key = "t001-alice";
//   d.blast.Add(event);
//   d.evidences.push_back(EventToJson(event));
//
// Value types that own their data (they outlive the event batches).
// Thread-compatible.
#ifndef CREDWATCH_DETECTION_H_
#define CREDWATCH_DETECTION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "credwatch/event.h"

namespace credwatch {

// Sigma `level`, and the OCSF severity_id it maps to.
enum class Severity : uint8_t {
  kInformational = 1, kLow = 2, kMedium = 3, kHigh = 4, kCritical = 5
};
std::string_view SeverityName(Severity s);  // "Informational", ..., "Critical"

// Everything a set of events touched. Sets are sorted, unique and capped so a
// noisy credential cannot grow a finding without limit; the *_total counters
// keep counting past the caps.
struct BlastRadius {
  static constexpr size_t kMaxTenants = 256;
  static constexpr size_t kMaxObjects = 100;
  static constexpr size_t kMaxDestinations = 64;

  std::vector<std::string> tenants;       // object.tenant, else tenant
  std::vector<std::string> objects;
  std::vector<std::string> destinations;  // dst.ip or dst.account, or src.ip of an
                                          // external read (data left to it)
  int64_t objects_total = 0;   // events with an object
  int64_t bytes = 0;           // bytes read, copied or sent
  int64_t records = 0;

  // Add and Merge append each value they insert into a list to `inserted`
  // (if given), as (list, value): durable state writes only those.
  static constexpr uint8_t kTenantList = 0;
  static constexpr uint8_t kObjectList = 1;
  static constexpr uint8_t kDestinationList = 2;
  using Inserted = std::vector<std::pair<uint8_t, std::string>>;
  void Add(const Event& e, Inserted* inserted = nullptr);
  void Merge(const BlastRadius& other, Inserted* inserted = nullptr);
  bool empty() const;
};

struct Detection {
  static constexpr size_t kMaxEvidences = 16;

  std::string rule_id;    // Sigma id (UUID) or the rule's name
  std::string title;
  Severity severity = Severity::kMedium;
  std::vector<std::string> attacks;  // ATT&CK technique ids from tags, "T1078.004"
  std::string group_key;  // the correlation key values ("t001-alice"), or the credential
  std::string credential;
  std::string tenant;
  std::string src_ip;     // of the latest event
  int64_t time_ns = 0;            // when it fired (event time)
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  std::vector<std::string> evidences;  // events as JSON objects (EventToJson), capped
  BlastRadius blast;
};

// The event as one JSON object with the design's field names ("src.ip", ...),
// absent fields left out. Also the NDJSON line of `replay --emit events`.
void AppendEventJson(const Event& e, std::string* out);
std::string EventToJson(const Event& e);

}  // namespace credwatch

#endif  // CREDWATCH_DETECTION_H_
