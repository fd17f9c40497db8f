// The `native` decoder: one flat JSON object whose keys are the normalized
// field names ("time", "src.ip", ...) -> one Event. It reads exactly what
// AppendEventJson (credwatch/detection.h) writes, so `replay --emit events`
// output can be fed back in. Documented for users in docs/formats/native.md.
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/json_fields.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kFormatName = "native";

enum class Key : uint8_t {
  kOther,
  kTime,
  kKind,
  kAction,
  kOutcome,
  kCredential,
  kTenant,
  kSrcIp,
  kSrcPort,
  kSrcInternal,
  kHost,
  kSession,
  kObject,
  kObjectTenant,
  kBytes,
  kRecords,
  kDstIp,
  kDstPort,
  kDstAccount,
  kDstExternal,
  kUserAgent,
};

Key KeyOf(std::string_view name) {
  switch (name.size()) {
    case 4:
      if (Is(name, "time")) return Key::kTime;
      if (Is(name, "kind")) return Key::kKind;
      if (Is(name, "host")) return Key::kHost;
      return Key::kOther;
    case 5:
      return Is(name, "bytes") ? Key::kBytes : Key::kOther;
    case 6:
      if (Is(name, "action")) return Key::kAction;
      if (Is(name, "tenant")) return Key::kTenant;
      if (Is(name, "src.ip")) return Key::kSrcIp;
      if (Is(name, "object")) return Key::kObject;
      if (Is(name, "dst.ip")) return Key::kDstIp;
      return Key::kOther;
    case 7:
      if (Is(name, "outcome")) return Key::kOutcome;
      if (Is(name, "session")) return Key::kSession;
      if (Is(name, "records")) return Key::kRecords;
      return Key::kOther;
    case 8:
      if (Is(name, "src.port")) return Key::kSrcPort;
      if (Is(name, "dst.port")) return Key::kDstPort;
      return Key::kOther;
    case 10:
      if (Is(name, "credential")) return Key::kCredential;
      if (Is(name, "user_agent")) return Key::kUserAgent;
      return Key::kOther;
    case 11:
      return Is(name, "dst.account") ? Key::kDstAccount : Key::kOther;
    case 12:
      if (Is(name, "src.internal")) return Key::kSrcInternal;
      if (Is(name, "dst.external")) return Key::kDstExternal;
      return Key::kOther;
    case 13:
      return Is(name, "object.tenant") ? Key::kObjectTenant : Key::kOther;
    default:
      return Key::kOther;
  }
}

class NativeDecoder final : public Decoder {
 public:
  explicit NativeDecoder(const DecoderOptions& options)
      : reader_(options.limits, options.projection) {}

  Format format() const override { return Format::kNative; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx, EventBatch& out) override {
    Event& e = out.Add();
    reader_.Start(&out.arena(), &e);
    has_time_ = false;
    if (!Parse(record, e)) [[unlikely]] {
      out.PopBack();
      return reader_.result();
    }
    e.format = kFormatName;
    e.source = ctx.source;
    e.source_offset = ctx.offset;
    return {};
  }

 private:
  bool Parse(std::string_view record, Event& e);
  FieldStep Field(std::string_view key, od::value& v, Event& e);
  // The time as an ISO 8601 string or integer ns since the epoch.
  bool Time(od::value& v, Event& e);
  template <typename Enum>
  bool Name(od::value& v, std::string_view name, std::optional<Enum> (*parse)(std::string_view),
            Enum* out);
  bool Integer(od::value& v, std::string_view name, int64_t min, int64_t max, int64_t* out);
  bool Bool(od::value& v, std::string_view name, Tri* out);
  bool Ip(od::value& v, std::string_view name, IpAddress* ip, std::string_view* text);

  od::parser parser_;
  JsonFieldReader reader_;
  bool has_time_ = false;
};

bool NativeDecoder::Parse(std::string_view record, Event& e) {
  od::document doc;
  od::object root;
  if (!reader_.Begin(parser_, record, &doc, &root)) return false;
  if (!reader_.ForEachField(root, "record", nullptr,
                            [&](std::string_view key, od::value& v, const ProjectionNode*) {
                              return Field(key, v, e);
                            })) {
    return false;
  }
  if (!reader_.End(doc)) return false;
  if (!has_time_) [[unlikely]] {
    return reader_.Fail(RecordCode::kRejectMissingTime, "time", "missing");
  }
  return true;
}

FieldStep NativeDecoder::Field(std::string_view key, od::value& v, Event& e) {
  if (KindOfToken(v.raw_json_token()) == JsonKind::kNull) return FieldStep::kDone;  // absent
  constexpr bool kStrict = true;
  switch (KeyOf(key)) {
    case Key::kTime:
      return Done(Time(v, e));
    case Key::kKind:
      return Done(Name(v, "kind", &ParseKind, &e.kind));
    case Key::kAction:
      return Done(Name(v, "action", &ParseAction, &e.action));
    case Key::kOutcome:
      return Done(Name(v, "outcome", &ParseOutcome, &e.outcome));
    case Key::kCredential:
      return Done(reader_.String(v, "credential", nullptr, &e.credential, kStrict));
    case Key::kTenant:
      return Done(reader_.String(v, "tenant", nullptr, &e.tenant, kStrict));
    case Key::kSrcIp:
      return Done(Ip(v, "src.ip", &e.src_ip, &e.src_ip_text));
    case Key::kSrcPort: {
      int64_t port = 0;
      if (!Integer(v, "src.port", 0, 65535, &port)) return FieldStep::kFail;
      e.src_port = static_cast<uint16_t>(port);
      return FieldStep::kDone;
    }
    case Key::kSrcInternal:
      return Done(Bool(v, "src.internal", &e.src_internal));
    case Key::kHost:
      return Done(reader_.String(v, "host", nullptr, &e.host, kStrict));
    case Key::kSession:
      return Done(reader_.String(v, "session", nullptr, &e.session, kStrict));
    case Key::kObject:
      return Done(reader_.String(v, "object", nullptr, &e.object, kStrict));
    case Key::kObjectTenant:
      return Done(reader_.String(v, "object.tenant", nullptr, &e.object_tenant, kStrict));
    case Key::kBytes:
      return Done(Integer(v, "bytes", 0, INT64_MAX, &e.bytes));
    case Key::kRecords:
      return Done(Integer(v, "records", 0, INT64_MAX, &e.records));
    case Key::kDstIp:
      return Done(Ip(v, "dst.ip", &e.dst_ip, &e.dst_ip_text));
    case Key::kDstPort: {
      int64_t port = 0;
      if (!Integer(v, "dst.port", 0, 65535, &port)) return FieldStep::kFail;
      e.dst_port = static_cast<uint16_t>(port);
      return FieldStep::kDone;
    }
    case Key::kDstAccount:
      return Done(reader_.String(v, "dst.account", nullptr, &e.dst_account, kStrict));
    case Key::kDstExternal:
      return Done(Bool(v, "dst.external", &e.dst_external));
    case Key::kUserAgent:
      return Done(reader_.String(v, "user_agent", nullptr, &e.user_agent, kStrict));
    case Key::kOther:
      break;
  }
  // An escaped key may name a known field: ForEachField unescapes it and
  // asks again.
  if (reader_.MayHaveEscape(key)) return FieldStep::kSkip;
  // A key nobody defined: projected if a rule reads it. Keys are flat, so
  // "geo.city" matches the path "geo.city" as written; an object under an
  // unknown key is walked for the paths below it.
  const ProjectionTree& projection = reader_.projection();
  if (projection.empty()) return FieldStep::kDone;
  if (const ProjectionNode* node = projection.Find(key); node != nullptr) {
    return Done(reader_.Project(v, *node));
  }
  return FieldStep::kDone;
}

bool NativeDecoder::Time(od::value& v, Event& e) {
  std::string_view token = v.raw_json_token();
  switch (KindOfToken(token)) {
    case JsonKind::kString: {
      std::string_view text;
      if (!reader_.String(v, "time", nullptr, &text)) return false;
      std::optional<int64_t> t = ParseIso8601(text);
      if (!t) return reader_.Fail(RecordCode::kRejectBadTime, "time", "not an ISO 8601 time");
      e.time_ns = *t;
      break;
    }
    case JsonKind::kNumber: {
      int64_t ns;
      if (auto err = v.get_int64().get(ns); err) {
        return reader_.Fail(RecordCode::kRejectBadTime, "time",
                            "not an integer count of nanoseconds since the epoch");
      }
      e.time_ns = ns;
      break;
    }
    default:
      return reader_.Fail(RecordCode::kRejectWrongType, "time",
                          "neither an ISO 8601 string nor integer nanoseconds");
  }
  has_time_ = true;
  return true;
}

template <typename Enum>
bool NativeDecoder::Name(od::value& v, std::string_view name,
                         std::optional<Enum> (*parse)(std::string_view), Enum* out) {
  std::string_view text;
  if (!reader_.String(v, name, nullptr, &text, /*strict=*/true)) return false;
  if (text.empty()) return true;  // "" is what an unset value prints as
  std::optional<Enum> value = parse(text);
  if (!value) [[unlikely]] {
    return reader_.Fail(RecordCode::kRejectWrongType, name, "not one of the defined values");
  }
  *out = *value;
  return true;
}

bool NativeDecoder::Integer(od::value& v, std::string_view name, int64_t min, int64_t max,
                            int64_t* out) {
  if (KindOfToken(v.raw_json_token()) != JsonKind::kNumber) {
    return reader_.Fail(RecordCode::kRejectWrongType, name, "not an integer");
  }
  int64_t i;
  if (auto err = v.get_int64().get(i); err) {
    return reader_.Fail(RecordCode::kRejectWrongType, name, "not an integer");
  }
  if (i < min || i > max) return reader_.Fail(RecordCode::kRejectWrongType, name, "out of range");
  *out = i;
  return true;
}

bool NativeDecoder::Bool(od::value& v, std::string_view name, Tri* out) {
  if (KindOfToken(v.raw_json_token()) != JsonKind::kBool) {
    return reader_.Fail(RecordCode::kRejectWrongType, name, "not true or false");
  }
  bool b;
  if (auto err = v.get_bool().get(b); err) return reader_.FailJson(err, name);
  *out = b ? Tri::kTrue : Tri::kFalse;
  return true;
}

bool NativeDecoder::Ip(od::value& v, std::string_view name, IpAddress* ip, std::string_view* text) {
  if (!reader_.String(v, name, nullptr, text, /*strict=*/true)) return false;
  if (std::optional<IpAddress> parsed = IpAddress::Parse(*text)) *ip = *parsed;
  return true;
}

}  // namespace

std::unique_ptr<Decoder> MakeNativeDecoder(const DecoderOptions& options) {
  return std::make_unique<NativeDecoder>(options);
}

}  // namespace credwatch::decode
