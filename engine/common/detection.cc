#include "credwatch/detection.h"

#include <algorithm>

#include "common/json_writer.h"
#include "credwatch/time_util.h"

namespace credwatch {
namespace {

// Inserts into a sorted unique vector unless it is full; reports the
// inserted value as (list, value) to `inserted` if given.
void InsertCapped(std::vector<std::string>& set, std::string_view value, size_t cap, uint8_t list,
                  BlastRadius::Inserted* inserted) {
  if (value.empty()) return;
  auto it = std::lower_bound(set.begin(), set.end(), value,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it != set.end() && *it == value) return;
  if (set.size() >= cap) return;
  set.insert(it, std::string(value));
  if (inserted) inserted->emplace_back(list, std::string(value));
}

bool MovesData(Action a) {
  return a == Action::kRead || a == Action::kCopy || a == Action::kSend;
}

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInformational: return "Informational";
    case Severity::kLow: return "Low";
    case Severity::kMedium: return "Medium";
    case Severity::kHigh: return "High";
    case Severity::kCritical: return "Critical";
  }
  return "Unknown";
}

void BlastRadius::Add(const Event& e, Inserted* inserted) {
  InsertCapped(tenants, e.object_tenant.empty() ? e.tenant : e.object_tenant, kMaxTenants, kTenantList, inserted);
  if (!e.object.empty()) {
    ++objects_total;
    InsertCapped(objects, e.object, kMaxObjects, kObjectList, inserted);
  }
  if (MovesData(e.action)) {
    if (e.bytes > 0) bytes += e.bytes;
    if (e.records > 0) records += e.records;
    if (!e.dst_ip_text.empty()) {
      InsertCapped(destinations, e.dst_ip_text, kMaxDestinations, kDestinationList, inserted);
    } else if (!e.dst_account.empty()) {
      InsertCapped(destinations, e.dst_account, kMaxDestinations, kDestinationList, inserted);
    } else if (e.src_internal == Tri::kFalse && !e.src_ip_text.empty()) {
      // A read by an external client: the data left to that address.
      InsertCapped(destinations, e.src_ip_text, kMaxDestinations, kDestinationList, inserted);
    }
  }
}

void BlastRadius::Merge(const BlastRadius& other, Inserted* inserted) {
  for (const auto& t : other.tenants) InsertCapped(tenants, t, kMaxTenants, kTenantList, inserted);
  for (const auto& o : other.objects) InsertCapped(objects, o, kMaxObjects, kObjectList, inserted);
  for (const auto& d : other.destinations) InsertCapped(destinations, d, kMaxDestinations, kDestinationList, inserted);
  objects_total += other.objects_total;
  bytes += other.bytes;
  records += other.records;
}

bool BlastRadius::empty() const {
  return tenants.empty() && objects_total == 0 && bytes == 0 && destinations.empty();
}

void AppendEventJson(const Event& e, std::string* out) {
  bool first = true;
  auto key = [&](std::string_view k) {
    out->append(first ? "{\"" : ",\"");
    first = false;
    out->append(k);
    out->append("\":");
  };
  auto str = [&](std::string_view k, std::string_view v) {
    if (v.empty()) return;
    key(k);
    AppendJsonString(v, out);
  };
  auto num = [&](std::string_view k, int64_t v) {
    key(k);
    AppendJsonInt(v, out);
  };
  auto tri = [&](std::string_view k, Tri t) {
    if (t == Tri::kUnset) return;
    key(k);
    out->append(t == Tri::kTrue ? "true" : "false");
  };
  key("time");
  AppendJsonString(FormatIso8601(e.time_ns), out);
  str("kind", KindName(e.kind));
  str("action", ActionName(e.action));
  str("outcome", OutcomeName(e.outcome));
  str("credential", e.credential);
  str("tenant", e.tenant);
  str("src.ip", e.src_ip_text);
  if (e.src_port) num("src.port", e.src_port);
  tri("src.internal", e.src_internal);
  str("host", e.host);
  str("session", e.session);
  str("object", e.object);
  str("object.tenant", e.object_tenant);
  if (e.bytes >= 0) num("bytes", e.bytes);
  if (e.records >= 0) num("records", e.records);
  str("dst.ip", e.dst_ip_text);
  if (e.dst_port) num("dst.port", e.dst_port);
  str("dst.account", e.dst_account);
  tri("dst.external", e.dst_external);
  str("user_agent", e.user_agent);
  str("format", e.format);
  str("source", e.source);
  if (!e.source.empty()) num("offset", static_cast<int64_t>(e.source_offset));
  out->push_back('}');
}

std::string EventToJson(const Event& e) {
  std::string s;
  AppendEventJson(e, &s);
  return s;
}

}  // namespace credwatch
