// The `ocsf` decoder: OCSF 1.x records of the four classes credwatch reads
// (Authentication 3002, File System Activity 1001, API Activity 6003, Network
// Activity 4001) to normalized events. docs/formats/ocsf.md is the user
// reference for what maps to what; keep the two in step.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/path_walker.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

constexpr std::string_view kFormatName = "ocsf";

// The OCSF attributes the decoder reads: a slot per attribute, and its path
// at the same position in kSlotPaths.
// clang-format off
enum Slot : uint16_t {
  kTime, kTimeDt, kClassUid, kActivityId, kActivityName, kStatusId, kStatus, kActionId,
  kActorUserName, kActorUserUid, kActorUserCredentialUid, kActorSessionUid,
  kUserName, kUserUid, kSessionUid,
  kSrcIp, kSrcPort, kSrcHostname, kDstIp, kDstPort, kDstHostname,
  kDeviceHostname, kApiServiceName, kApiOperation, kResourceUid, kResourceName,
  kFilePath, kFileName, kFileSize,
  kTrafficBytesOut, kTrafficBytes, kDirectionId, kDirection,
  kUserAgent,
  kNumSlots,
};
static_assert(kNumSlots <= 64, "presence is a 64-bit mask");

constexpr std::array<std::string_view, kNumSlots> kSlotPaths = {
    "time", "time_dt", "class_uid", "activity_id", "activity_name", "status_id", "status",
    "action_id",
    "actor.user.name", "actor.user.uid", "actor.user.credential_uid", "actor.session.uid",
    "user.name", "user.uid", "session.uid",
    "src_endpoint.ip", "src_endpoint.port", "src_endpoint.hostname",
    "dst_endpoint.ip", "dst_endpoint.port", "dst_endpoint.hostname",
    "device.hostname", "api.service.name", "api.operation", "resources[0].uid",
    "resources[0].name",
    "file.path", "file.name", "file.size",
    "traffic.bytes_out", "traffic.bytes", "connection_info.direction_id",
    "connection_info.direction",
    "http_request.user_agent",
};
// clang-format on
static_assert(kSlotPaths[kUserAgent] == "http_request.user_agent" && kSlotPaths[kTime] == "time" &&
                  kSlotPaths[kFileSize] == "file.size",
              "kSlotPaths follows the order of Slot");

// class_uid values.
constexpr int64_t kFileSystemActivity = 1001;
constexpr int64_t kAuthentication = 3002;
constexpr int64_t kNetworkActivity = 4001;
constexpr int64_t kApiActivity = 6003;

// connection_info.direction_id values.
constexpr int64_t kDirectionInbound = 1;
constexpr int64_t kDirectionOutbound = 2;

// OCSF `time` is milliseconds since the epoch, but producers in the wild
// (the Okta example in ocsf/examples) write seconds. Below 1e11 (1973 in ms,
// year 5138 in s) a value is taken as seconds; above 1e14 and 1e17 as micro-
// and nanoseconds. The ranges do not overlap for any date in 1973..5138.
std::optional<int64_t> OcsfTimeToNs(int64_t t) {
  if (t < 0) return std::nullopt;
  int64_t scale = t < 100'000'000'000           ? kNsPerSecond
                  : t < 100'000'000'000'000     ? 1'000'000
                  : t < 100'000'000'000'000'000 ? 1'000
                                                : 1;
  int64_t ns;
  if (__builtin_mul_overflow(t, scale, &ns)) return std::nullopt;
  return ns;
}

Action AuthAction(int64_t id, std::string_view name) {
  if (id == 1 || absl::EqualsIgnoreCase(Sv(name), "Logon")) return Action::kLogin;
  if (id == 2 || absl::EqualsIgnoreCase(Sv(name), "Logoff")) return Action::kLogout;
  return Action::kUnknown;
}

// File System Activity and API Activity share activity ids 1..4 (Create, Read,
// Update, Delete). Open (1001's 14) says nothing about what is done with the
// file and stays unknown.
Action CrudAction(int64_t id, std::string_view name, bool file_system) {
  auto is = [&](std::string_view n) { return absl::EqualsIgnoreCase(Sv(name), Sv(n)); };
  if (id == 1 || id == 3 || is("Create") || is("Update")) return Action::kWrite;
  if (id == 2 || is("Read")) return Action::kRead;
  if (id == 4 || is("Delete")) return Action::kDelete;
  if (file_system && (id == 5 || is("Rename"))) return Action::kWrite;
  return Action::kUnknown;
}

class OcsfDecoder final : public Decoder {
 public:
  explicit OcsfDecoder(const DecoderOptions& options)
      : limits_(options.limits), parser_(options.limits.max_record_bytes) {
    for (uint16_t s = 0; s < kNumSlots; ++s) {
      absl::Status st = trie_.Add(kSlotPaths[s], s);
      (void)st;  // the built-in paths are well-formed
    }
    if (options.projection != nullptr) {
      for (const Projection::Path& p : options.projection->paths) {
        // A path the trie cannot address (a key with a '.' in it) is left
        // out: the extra stays absent, as for a record without it.
        if (trie_.Add(p.dotted, static_cast<uint16_t>(kNumSlots + extra_ids_.size())).ok()) {
          extra_ids_.push_back(p.id);
        }
      }
    }
  }

  Format format() const override { return Format::kOcsf; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx, EventBatch& out) override;

  // The walker's sink: keeps the built-in values for Assemble, copies
  // projected ones straight into the event.
  void OnValue(uint16_t slot, const JsonScalar& v) {
    if (slot < kNumSlots) {
      values_[slot] = v;
      present_ |= uint64_t{1} << slot;
      return;
    }
    if (v.type != JsonScalar::Type::kNull) {
      event_->AddExtra(extra_ids_[slot - kNumSlots], arena_->Copy(v.text));
    }
  }

 private:
  bool Has(Slot s) const { return (present_ >> s) & 1; }

  DecodeResult Reject(RecordCode code, std::string_view path, std::string_view reason) {
    if (path.empty()) {
      detail_.assign(reason);
    } else {
      detail_ = absl::StrCat(Sv(path), ": ", Sv(reason));
    }
    return DecodeResult{code, detail_};
  }

  // A string attribute: absent (and null) is "", another type is wrong_type.
  bool Str(Slot s, std::string_view* out) {
    *out = {};
    if (!Has(s)) return true;
    const JsonScalar& v = values_[s];
    if (v.type == JsonScalar::Type::kNull) return true;
    if (v.type != JsonScalar::Type::kString) {
      wrong_ = s;
      wrong_reason_ = "not a string";
      return false;
    }
    *out = v.text;
    return true;
  }
  // An integer attribute in [min, max]; *present says whether it was there.
  bool Int(Slot s, int64_t min, int64_t max, int64_t* out, bool* present) {
    *present = false;
    if (!Has(s) || values_[s].type == JsonScalar::Type::kNull) return true;
    const JsonScalar& v = values_[s];
    int64_t n = 0;
    if (v.type != JsonScalar::Type::kNumber) {
      wrong_ = s;
      wrong_reason_ = "not a number";
      return false;
    }
    if (!ParseInt64(v.text, &n) || n < min || n > max) {
      wrong_ = s;
      wrong_reason_ = "not an integer in range";
      return false;
    }
    *out = n;
    *present = true;
    return true;
  }

  DecodeResult Assemble(const RecordContext& ctx, Event& e);

  DecodeLimits limits_;
  simdjson::ondemand::parser parser_;
  PathTrie trie_;
  std::vector<uint16_t> extra_ids_;  // projection: slot - kNumSlots -> FieldId

  // Per record.
  std::array<JsonScalar, kNumSlots> values_{};
  uint64_t present_ = 0;
  Event* event_ = nullptr;
  Arena* arena_ = nullptr;
  Slot wrong_ = kNumSlots;
  const char* wrong_reason_ = "";
  std::string detail_;
};

DecodeResult OcsfDecoder::Decode(std::string_view record, const RecordContext& ctx,
                                 EventBatch& out) {
  present_ = 0;
  Event& e = out.Add();
  event_ = &e;
  arena_ = &out.arena();
  WalkError err = ParseAndWalk(parser_, record, limits_, trie_, *this);
  DecodeResult r;
  if (!err.ok()) [[unlikely]] {
    r = Reject(err.code, err.path != nullptr ? std::string_view(*err.path) : "", err.reason);
  } else {
    r = Assemble(ctx, e);
  }
  if (r.code != RecordCode::kOk) out.PopBack();
  return r;
}

DecodeResult OcsfDecoder::Assemble(const RecordContext& ctx, Event& e) {
  auto wrong = [this] {
    return Reject(RecordCode::kRejectWrongType, kSlotPaths[wrong_], wrong_reason_);
  };
  constexpr int64_t kMaxI64 = INT64_MAX;
  bool has = false;

  int64_t class_uid = 0;
  if (!Int(kClassUid, INT64_MIN, kMaxI64, &class_uid, &has)) return wrong();
  if (!has) [[unlikely]] {
    return Reject(RecordCode::kRejectUnknownShape, "class_uid", "missing: not an OCSF event");
  }
  if (class_uid != kAuthentication && class_uid != kFileSystemActivity &&
      class_uid != kApiActivity && class_uid != kNetworkActivity) {
    // A valid OCSF event of a class credwatch does not read (a finding, a
    // process launch): counted, not dead-lettered.
    if (class_uid > 0) return DecodeResult{RecordCode::kSkippedIrrelevant, {}};
    return Reject(RecordCode::kRejectUnknownShape, "class_uid", "not an OCSF class");
  }

  // Time: `time` (see OcsfTimeToNs), else `time_dt`.
  int64_t t = 0;
  if (!Int(kTime, INT64_MIN, kMaxI64, &t, &has)) {
    std::string_view text = values_[kTime].text;
    if (values_[kTime].type == JsonScalar::Type::kNumber &&
        text.find_first_of(".eE") == std::string_view::npos) {
      return Reject(RecordCode::kRejectBadTime, "time", "out of range");  // too many digits
    }
    return wrong();
  }
  if (has) {
    std::optional<int64_t> ns = OcsfTimeToNs(t);
    if (!ns) return Reject(RecordCode::kRejectBadTime, "time", "out of range");
    e.time_ns = *ns;
  } else {
    std::string_view dt;
    if (!Str(kTimeDt, &dt)) return wrong();
    if (dt.empty()) return Reject(RecordCode::kRejectMissingTime, "time", "missing");
    std::optional<int64_t> ns = ParseIso8601(dt);
    if (!ns) return Reject(RecordCode::kRejectBadTime, "time_dt", "not an ISO 8601 time");
    e.time_ns = *ns;
  }

  int64_t activity_id = 0;
  if (!Int(kActivityId, INT64_MIN, kMaxI64, &activity_id, &has)) return wrong();
  std::string_view activity_name;
  if (!Str(kActivityName, &activity_name)) return wrong();

  // Outcome: status_id, else status, else (flows) the firewall action.
  int64_t status_id = 0;
  if (!Int(kStatusId, INT64_MIN, kMaxI64, &status_id, &has)) return wrong();
  std::string_view status;
  if (!Str(kStatus, &status)) return wrong();
  if (status_id == 1 || absl::EqualsIgnoreCase(Sv(status), "Success")) {
    e.outcome = Outcome::kSuccess;
  } else if (status_id == 2 || absl::EqualsIgnoreCase(Sv(status), "Failure")) {
    e.outcome = Outcome::kFailure;
  }

  // Who acted. In Authentication, `user` is the account being logged in to
  // and `actor` may be the service that did it; elsewhere `actor` is who.
  std::string_view actor_name, actor_uid, user_name, user_uid;
  if (!Str(kActorUserName, &actor_name) || !Str(kActorUserUid, &actor_uid) ||
      !Str(kUserName, &user_name) || !Str(kUserUid, &user_uid)) {
    return wrong();
  }
  std::string_view credential;
  if (class_uid == kAuthentication) {
    credential = !user_name.empty()    ? user_name
                 : !actor_name.empty() ? actor_name
                 : !user_uid.empty()   ? user_uid
                                       : actor_uid;
  } else {
    credential = !actor_name.empty()  ? actor_name
                 : !user_name.empty() ? user_name
                 : !actor_uid.empty() ? actor_uid
                                      : user_uid;
  }

  std::string_view actor_session, session_uid, credential_uid;
  if (!Str(kActorSessionUid, &actor_session) || !Str(kSessionUid, &session_uid) ||
      !Str(kActorUserCredentialUid, &credential_uid)) {
    return wrong();
  }
  std::string_view session = !actor_session.empty() ? actor_session
                             : !session_uid.empty() ? session_uid
                                                    : credential_uid;

  std::string_view src_ip, src_host, dst_ip, dst_host, device_host, api_service, api_operation;
  if (!Str(kSrcIp, &src_ip) || !Str(kSrcHostname, &src_host) || !Str(kDstIp, &dst_ip) ||
      !Str(kDstHostname, &dst_host) || !Str(kDeviceHostname, &device_host) ||
      !Str(kApiServiceName, &api_service) || !Str(kApiOperation, &api_operation)) {
    return wrong();
  }
  int64_t src_port = 0, dst_port = 0;
  bool has_src_port = false, has_dst_port = false;
  if (!Int(kSrcPort, 0, 65535, &src_port, &has_src_port) ||
      !Int(kDstPort, 0, 65535, &dst_port, &has_dst_port)) {
    return wrong();
  }
  std::string_view user_agent;
  if (!Str(kUserAgent, &user_agent)) return wrong();

  std::string_view host, object;
  switch (class_uid) {
    case kAuthentication:
      e.kind = Kind::kAuth;
      e.action = AuthAction(activity_id, activity_name);
      host = !dst_host.empty()      ? dst_host
             : !device_host.empty() ? device_host
             : !api_service.empty() ? api_service
                                    : dst_ip;
      break;
    case kFileSystemActivity: {
      e.kind = Kind::kAccess;
      e.action = CrudAction(activity_id, activity_name, /*file_system=*/true);
      host = device_host;
      std::string_view path, name;
      if (!Str(kFilePath, &path) || !Str(kFileName, &name)) return wrong();
      object = !path.empty() ? path : name;
      // OCSF has no count of bytes read: a read is taken to read the whole file.
      int64_t size = 0;
      if (!Int(kFileSize, 0, kMaxI64, &size, &has)) return wrong();
      if (has && e.action == Action::kRead) e.bytes = size;
      break;
    }
    case kApiActivity: {
      e.kind = Kind::kAccess;
      e.action = CrudAction(activity_id, activity_name, /*file_system=*/false);
      if (e.action == Action::kRead && api_operation.starts_with("List")) {
        e.action = Action::kList;
      }
      host = !api_service.empty() ? api_service : !dst_host.empty() ? dst_host : device_host;
      std::string_view uid, name;
      if (!Str(kResourceUid, &uid) || !Str(kResourceName, &name)) return wrong();
      object = !uid.empty() ? uid : name;
      break;
    }
    case kNetworkActivity: {
      e.kind = Kind::kNetwork;
      int64_t direction_id = 0, bytes_out = 0, bytes = 0, action_id = 0;
      bool has_direction = false, has_bytes_out = false, has_bytes = false, has_action = false;
      std::string_view direction;
      if (!Int(kDirectionId, INT64_MIN, kMaxI64, &direction_id, &has_direction) ||
          !Str(kDirection, &direction) ||
          !Int(kTrafficBytesOut, 0, kMaxI64, &bytes_out, &has_bytes_out) ||
          !Int(kTrafficBytes, 0, kMaxI64, &bytes, &has_bytes) ||
          !Int(kActionId, INT64_MIN, kMaxI64, &action_id, &has_action)) {
        return wrong();
      }
      bool outbound =
          direction_id == kDirectionOutbound || absl::EqualsIgnoreCase(Sv(direction), "Outbound");
      bool inbound =
          direction_id == kDirectionInbound || absl::EqualsIgnoreCase(Sv(direction), "Inbound");
      if (outbound || (!inbound && has_bytes_out && bytes_out > 0)) {
        e.action = Action::kSend;
        if (has_bytes_out) {
          e.bytes = bytes_out;
        } else if (has_bytes) {
          e.bytes = bytes;  // a one-way flow record (VPC flow logs): all of it left
        }
      }
      if (e.outcome == Outcome::kUnknown) {
        // action_id: 1 Allowed, 2 Denied; activity_id: 4 Fail, 5 Refuse.
        if ((has_action && action_id == 2) || activity_id == 4 || activity_id == 5) {
          e.outcome = Outcome::kFailure;
        } else if (has_action && action_id == 1) {
          e.outcome = Outcome::kSuccess;
        }
      }
      // The host the flow belongs to: the destination of an inbound flow,
      // else the source (egress).
      if (inbound) {
        host = !dst_host.empty() ? dst_host : !device_host.empty() ? device_host : dst_ip;
      } else {
        host = !src_host.empty() ? src_host : !device_host.empty() ? device_host : src_ip;
      }
      if (!dst_ip.empty()) {
        e.dst_ip_text = arena_->Copy(dst_ip);
        if (auto ip = IpAddress::Parse(dst_ip)) e.dst_ip = *ip;
      }
      if (has_dst_port) e.dst_port = static_cast<uint16_t>(dst_port);
      break;
    }
    default:
      break;
  }

  e.format = kFormatName;
  e.source = ctx.source;
  e.source_offset = ctx.offset;
  Arena& arena = *arena_;
  e.credential = arena.Copy(credential);
  e.session = arena.Copy(session);
  e.host = arena.Copy(host);
  e.object = arena.Copy(object);
  e.user_agent = arena.Copy(user_agent);
  if (!src_ip.empty()) {
    e.src_ip_text = arena.Copy(src_ip);
    if (auto ip = IpAddress::Parse(src_ip)) e.src_ip = *ip;
  }
  if (has_src_port) e.src_port = static_cast<uint16_t>(src_port);
  return DecodeResult{};
}

}  // namespace

std::unique_ptr<Decoder> MakeOcsfDecoder(const DecoderOptions& options) {
  return std::make_unique<OcsfDecoder>(options);
}

}  // namespace credwatch::decode
