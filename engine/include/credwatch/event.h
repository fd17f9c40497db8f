// The normalized event: every log format maps onto this one flat record, and
// rules written against its field names work on every format.
//
//   credwatch::Event e;
//   e.time_ns = ...; e.kind = Kind::kAuth; e.action = Action::kLogin;
//   e.credential = arena.Copy("t001-alice");
//   FieldValue v = GetField(e, FieldId::kCredential);
//
// String fields are views. They point into the EventBatch that holds the
// event (its arena, or the raw input the batch keeps alive), never into the
// heap of the event itself: an Event is trivially copyable and cheap to move
// between threads together with its batch. See design.md, "Normalized event".
#ifndef CREDWATCH_EVENT_H_
#define CREDWATCH_EVENT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "credwatch/ip_address.h"

namespace credwatch {

enum class Kind : uint8_t { kUnknown, kAuth, kAccess, kTransfer, kNetwork };
enum class Action : uint8_t {
  kUnknown, kLogin, kLogout, kRead, kWrite, kList, kDelete, kCopy, kSend
};
enum class Outcome : uint8_t { kUnknown, kSuccess, kFailure };

std::string_view KindName(Kind k);        // "auth", ..., "" for kUnknown
std::string_view ActionName(Action a);    // "login", ...
std::string_view OutcomeName(Outcome o);  // "success", "failure"
std::optional<Kind> ParseKind(std::string_view s);
std::optional<Action> ParseAction(std::string_view s);
std::optional<Outcome> ParseOutcome(std::string_view s);

// A bool that may be absent from the record.
enum class Tri : uint8_t { kUnset, kFalse, kTrue };

// What the shard knows of the credential before rules run (design.md, "Site
// facts and behaviour profile"). `valid` is false until a profile stage ran.
struct ProfileFields {
  bool valid = false;
  bool learning = false;
  bool src_new = false;
  bool host_new = false;
  bool dst_new = false;
  bool tenant_foreign = false;
  double idle_days = 0;
  int32_t tenants_24h = 0;
  int32_t failures_10m = 0;
  int64_t read_bytes_1h = 0;
  int64_t read_bytes_24h = 0;
  int64_t read_bytes_7d = 0;
  int64_t read_baseline_24h = 0;
  double read_ratio_24h = 0;
};

// Field ids. The normalized fields first, then profile.*, then ids handed out
// at run time to source-namespace fields (e.g. CloudTrail's "eventName") that
// a decoder copies into Event::extras when the loaded rules ask for them.
enum class FieldId : uint16_t {
  kTime, kKind, kAction, kOutcome, kCredential, kTenant,
  kSrcIp, kSrcPort, kSrcInternal, kHost, kSession, kObject, kObjectTenant,
  kBytes, kRecords, kDstIp, kDstPort, kDstAccount, kDstExternal,
  kUserAgent, kFormat, kSource,
  kProfileLearning, kProfileSrcNew, kProfileHostNew, kProfileDstNew,
  kProfileIdleDays, kProfileTenantForeign, kProfileTenants24h,
  kProfileReadBytes1h, kProfileReadBytes24h, kProfileReadBytes7d,
  kProfileReadBaseline24h, kProfileReadRatio24h, kProfileFailures10m,
  kNumBuiltin,
  kFirstExtra = 1000,
};

// "credential" -> kCredential, "src.ip" -> kSrcIp, "profile.src_new" -> ...
std::optional<FieldId> BuiltinFieldByName(std::string_view name);
std::string_view BuiltinFieldName(FieldId id);

// One source-namespace field value copied by the decoder.
struct ExtraField {
  uint16_t id = 0;  // >= FieldId::kFirstExtra
  std::string_view value;
};

struct Event {
  static constexpr int kMaxExtras = 24;

  int64_t time_ns = 0;  // event time, UTC, ns since the epoch
  Kind kind = Kind::kUnknown;
  Action action = Action::kUnknown;
  Outcome outcome = Outcome::kUnknown;
  Tri src_internal = Tri::kUnset;
  Tri dst_external = Tri::kUnset;
  uint16_t src_port = 0;  // 0 = absent
  uint16_t dst_port = 0;
  uint8_t num_extras = 0;

  std::string_view credential;
  std::string_view tenant;
  std::string_view host;
  std::string_view session;
  std::string_view object;
  std::string_view object_tenant;
  std::string_view dst_account;
  std::string_view user_agent;
  std::string_view format;  // decoder name, static storage
  std::string_view source;  // file or listener name
  uint64_t source_offset = 0;  // byte offset of the record in `source`

  IpAddress src_ip;
  std::string_view src_ip_text;  // as written in the record
  IpAddress dst_ip;
  std::string_view dst_ip_text;

  int64_t bytes = -1;    // -1 = absent
  int64_t records = -1;  // -1 = absent

  ProfileFields profile;
  std::array<ExtraField, kMaxExtras> extras{};

  // Adds a source-namespace field; returns false (and drops it) when full.
  bool AddExtra(uint16_t id, std::string_view value) {
    if (num_extras >= kMaxExtras) return false;
    extras[num_extras++] = ExtraField{id, value};
    return true;
  }
  std::optional<std::string_view> Extra(uint16_t id) const {
    for (int i = 0; i < num_extras; ++i) {
      if (extras[i].id == id) return extras[i].value;
    }
    return std::nullopt;
  }
};

// A typed view of one field of one event, for rules and output.
struct FieldValue {
  enum class Type : uint8_t { kAbsent, kString, kInt, kDouble, kBool, kIp };
  Type type = Type::kAbsent;
  std::string_view str;  // kString; also the text form of kIp
  int64_t i = 0;         // kInt (time is kInt ns), kBool (0/1)
  double d = 0;          // kDouble
  IpAddress ip;          // kIp

  bool absent() const { return type == Type::kAbsent; }
};

FieldValue GetField(const Event& e, FieldId id);

}  // namespace credwatch

#endif  // CREDWATCH_EVENT_H_
