#include "credwatch/event.h"

#include <array>

namespace credwatch {
namespace {

constexpr std::array<std::string_view, 5> kKindNames = {"", "auth", "access", "transfer", "network"};
constexpr std::array<std::string_view, 9> kActionNames = {
    "", "login", "logout", "read", "write", "list", "delete", "copy", "send"};
constexpr std::array<std::string_view, 3> kOutcomeNames = {"", "success", "failure"};

constexpr std::array<std::string_view, static_cast<size_t>(FieldId::kNumBuiltin)> kFieldNames = {
    "time", "kind", "action", "outcome", "credential", "tenant",
    "src.ip", "src.port", "src.internal", "host", "session", "object", "object.tenant",
    "bytes", "records", "dst.ip", "dst.port", "dst.account", "dst.external",
    "user_agent", "format", "source",
    "profile.learning", "profile.src_new", "profile.host_new", "profile.dst_new",
    "profile.idle_days", "profile.tenant_foreign", "profile.tenants_24h",
    "profile.read_bytes_1h", "profile.read_bytes_24h", "profile.read_bytes_7d",
    "profile.read_baseline_24h", "profile.read_ratio_24h", "profile.failures_10m",
};

template <typename E, size_t N>
std::optional<E> ParseName(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 1; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

FieldValue Str(std::string_view s) {
  FieldValue v;
  if (!s.empty()) {
    v.type = FieldValue::Type::kString;
    v.str = s;
  }
  return v;
}
FieldValue Int(int64_t i) {
  FieldValue v;
  v.type = FieldValue::Type::kInt;
  v.i = i;
  return v;
}
FieldValue Dbl(double d) {
  FieldValue v;
  v.type = FieldValue::Type::kDouble;
  v.d = d;
  return v;
}
FieldValue Bool(bool b) {
  FieldValue v;
  v.type = FieldValue::Type::kBool;
  v.i = b ? 1 : 0;
  return v;
}
FieldValue TriValue(Tri t) { return t == Tri::kUnset ? FieldValue{} : Bool(t == Tri::kTrue); }
FieldValue Ip(const IpAddress& ip, std::string_view text) {
  FieldValue v;
  if (ip.is_valid()) {
    v.type = FieldValue::Type::kIp;
    v.ip = ip;
    v.str = text;
  } else if (!text.empty()) {
    v.type = FieldValue::Type::kString;  // e.g. CloudTrail's "ec2.amazonaws.com"
    v.str = text;
  }
  return v;
}

}  // namespace

std::string_view KindName(Kind k) { return kKindNames[static_cast<size_t>(k)]; }
std::string_view ActionName(Action a) { return kActionNames[static_cast<size_t>(a)]; }
std::string_view OutcomeName(Outcome o) { return kOutcomeNames[static_cast<size_t>(o)]; }
std::optional<Kind> ParseKind(std::string_view s) { return ParseName<Kind>(kKindNames, s); }
std::optional<Action> ParseAction(std::string_view s) { return ParseName<Action>(kActionNames, s); }
std::optional<Outcome> ParseOutcome(std::string_view s) {
  return ParseName<Outcome>(kOutcomeNames, s);
}

std::optional<FieldId> BuiltinFieldByName(std::string_view name) {
  for (size_t i = 0; i < kFieldNames.size(); ++i) {
    if (kFieldNames[i] == name) return static_cast<FieldId>(i);
  }
  return std::nullopt;
}

std::string_view BuiltinFieldName(FieldId id) {
  size_t i = static_cast<size_t>(id);
  return i < kFieldNames.size() ? kFieldNames[i] : std::string_view();
}

FieldValue GetField(const Event& e, FieldId id) {
  const ProfileFields& p = e.profile;
  switch (id) {
    case FieldId::kTime: return Int(e.time_ns);
    case FieldId::kKind: return Str(KindName(e.kind));
    case FieldId::kAction: return Str(ActionName(e.action));
    case FieldId::kOutcome: return Str(OutcomeName(e.outcome));
    case FieldId::kCredential: return Str(e.credential);
    case FieldId::kTenant: return Str(e.tenant);
    case FieldId::kSrcIp: return Ip(e.src_ip, e.src_ip_text);
    case FieldId::kSrcPort: return e.src_port ? Int(e.src_port) : FieldValue{};
    case FieldId::kSrcInternal: return TriValue(e.src_internal);
    case FieldId::kHost: return Str(e.host);
    case FieldId::kSession: return Str(e.session);
    case FieldId::kObject: return Str(e.object);
    case FieldId::kObjectTenant: return Str(e.object_tenant);
    case FieldId::kBytes: return e.bytes >= 0 ? Int(e.bytes) : FieldValue{};
    case FieldId::kRecords: return e.records >= 0 ? Int(e.records) : FieldValue{};
    case FieldId::kDstIp: return Ip(e.dst_ip, e.dst_ip_text);
    case FieldId::kDstPort: return e.dst_port ? Int(e.dst_port) : FieldValue{};
    case FieldId::kDstAccount: return Str(e.dst_account);
    case FieldId::kDstExternal: return TriValue(e.dst_external);
    case FieldId::kUserAgent: return Str(e.user_agent);
    case FieldId::kFormat: return Str(e.format);
    case FieldId::kSource: return Str(e.source);
    default: break;
  }
  if (!p.valid) {
    if (static_cast<uint16_t>(id) >= static_cast<uint16_t>(FieldId::kFirstExtra)) {
      if (auto v = e.Extra(static_cast<uint16_t>(id))) return Str(*v);
    }
    return FieldValue{};
  }
  switch (id) {
    case FieldId::kProfileLearning: return Bool(p.learning);
    case FieldId::kProfileSrcNew: return Bool(p.src_new);
    case FieldId::kProfileHostNew: return Bool(p.host_new);
    case FieldId::kProfileDstNew: return Bool(p.dst_new);
    case FieldId::kProfileIdleDays: return Dbl(p.idle_days);
    case FieldId::kProfileTenantForeign: return Bool(p.tenant_foreign);
    case FieldId::kProfileTenants24h: return Int(p.tenants_24h);
    case FieldId::kProfileReadBytes1h: return Int(p.read_bytes_1h);
    case FieldId::kProfileReadBytes24h: return Int(p.read_bytes_24h);
    case FieldId::kProfileReadBytes7d: return Int(p.read_bytes_7d);
    case FieldId::kProfileReadBaseline24h: return Int(p.read_baseline_24h);
    case FieldId::kProfileReadRatio24h: return Dbl(p.read_ratio_24h);
    case FieldId::kProfileFailures10m: return Int(p.failures_10m);
    default: break;
  }
  if (static_cast<uint16_t>(id) >= static_cast<uint16_t>(FieldId::kFirstExtra)) {
    if (auto v = e.Extra(static_cast<uint16_t>(id))) return Str(*v);
  }
  return FieldValue{};
}

}  // namespace credwatch
