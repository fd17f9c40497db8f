// The `mapping` decoder: any JSON log, one object per record, turned into
// normalized events by a YAML mapping file (field -> JSON path, value maps for
// kind, action and outcome) instead of code. docs/formats/mapping.md is the
// user reference for the file; keep the two in step.
//
// Loading happens in stages: read the YAML, check every key and value against
// what a mapping may say (errors carry file:line and what to change), then
// compile the paths into one PathTrie so a record is walked once, in document
// order, whatever the number of fields mapped.
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/path_walker.h"
#include "simdjson.h"
#include "yaml-cpp/yaml.h"

namespace credwatch::decode {
namespace {

// ---------------------------------------------------------------------------
// What a mapping can set.

enum class ValueType : uint8_t { kString, kIp, kPort, kCount };

struct Target {
  std::string_view name;  // the normalized field name, as in rules
  ValueType type;
};

// The fields a mapping may take from the record, in slot order after the
// four fixed slots below. time, kind, action and outcome have keys of their
// own; src.internal, dst.external, tenant membership and profile.* are
// computed by credwatch.
constexpr std::array<Target, 14> kTargets = {{
    {"credential", ValueType::kString},
    {"tenant", ValueType::kString},
    {"src.ip", ValueType::kIp},
    {"src.port", ValueType::kPort},
    {"host", ValueType::kString},
    {"session", ValueType::kString},
    {"object", ValueType::kString},
    {"object.tenant", ValueType::kString},
    {"bytes", ValueType::kCount},
    {"records", ValueType::kCount},
    {"dst.ip", ValueType::kIp},
    {"dst.port", ValueType::kPort},
    {"dst.account", ValueType::kString},
    {"user_agent", ValueType::kString},
}};
enum TargetIndex : uint16_t {
  kCredential,
  kTenant,
  kSrcIp,
  kSrcPort,
  kHost,
  kSession,
  kObject,
  kObjectTenant,
  kBytes,
  kRecords,
  kDstIp,
  kDstPort,
  kDstAccount,
  kUserAgent,
};
static_assert(kTargets[kSrcPort].name == "src.port" && kTargets[kBytes].name == "bytes" &&
                  kTargets[kUserAgent].name == "user_agent",
              "TargetIndex follows the order of kTargets");

// Slots: time, kind, action, outcome, then one per target, then projections.
constexpr uint16_t kTimeSlot = 0;
constexpr uint16_t kKindSlot = 1;
constexpr uint16_t kActionSlot = 2;
constexpr uint16_t kOutcomeSlot = 3;
constexpr uint16_t kFirstTargetSlot = 4;
constexpr uint16_t kNumSlots = kFirstTargetSlot + kTargets.size();

enum class TimeFormat : uint8_t { kIso8601, kUnixS, kUnixMs, kUnixUs, kUnixNs };
constexpr std::array<std::pair<std::string_view, TimeFormat>, 5> kTimeFormats = {{
    {"iso8601", TimeFormat::kIso8601},
    {"unix_s", TimeFormat::kUnixS},
    {"unix_ms", TimeFormat::kUnixMs},
    {"unix_us", TimeFormat::kUnixUs},
    {"unix_ns", TimeFormat::kUnixNs},
}};

// kind, action or outcome: a constant, or a record value looked up in a map.
struct EnumRule {
  bool from_record = false;
  std::string path;
  uint8_t constant = 0;  // the enum's value; 0 is "unknown"
  bool has_map = false;
  absl::flat_hash_map<std::string, uint8_t> exact;
  std::vector<std::pair<std::string, uint8_t>> prefixes;  // "2*": in file order
  std::optional<uint8_t> fallback;                        // `default:`
};

struct Mapping {
  std::string_view name;  // interned: Event::format must outlive the decoder
  std::string time_path;
  TimeFormat time_format = TimeFormat::kIso8601;
  EnumRule kind, action, outcome;
  std::array<std::string, kTargets.size()> paths;  // "" = not mapped
  PathTrie trie;
};

// Event::format is "static storage": mapping names are interned once per
// distinct name for the life of the process (a handful per site).
std::string_view InternName(const std::string& name) {
  static std::mutex mu;
  static std::set<std::string, std::less<>>* names = new std::set<std::string, std::less<>>();
  std::lock_guard<std::mutex> lock(mu);
  return *names->insert(name).first;
}

// ---------------------------------------------------------------------------
// Loading.

std::string Join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out.append(n);
  }
  return out;
}

class MappingLoader {
 public:
  explicit MappingLoader(std::string file) : file_(std::move(file)) {}

  absl::StatusOr<std::unique_ptr<Mapping>> Load() {
    YAML::Node root;
    try {
      root = YAML::LoadFile(file_);
    } catch (const YAML::BadFile&) {
      return absl::NotFoundError(absl::StrCat("mapping file ", file_, ": cannot be read"));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          file_, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML: ", e.msg));
    }
    try {
      if (!Check(root)) return absl::InvalidArgumentError(error_);
    } catch (const YAML::Exception& e) {  // a shape the checks did not foresee
      return absl::InvalidArgumentError(absl::StrCat(file_, ":", e.mark.line + 1, ": ", e.msg));
    }
    return std::move(mapping_);
  }

 private:
  bool Fail(const YAML::Node& at, std::string_view message) {
    // A node without a place in the file (a null value) reports line 1.
    int line = at.Mark().is_null() ? 1 : at.Mark().line + 1;
    error_ = absl::StrCat(file_, ":", line, ": ", Sv(message));
    return false;
  }

  // Every key of `map` is one of `allowed`.
  bool KnownKeys(const YAML::Node& map, std::string_view where,
                 std::initializer_list<std::string_view> allowed) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.as<std::string>();
      bool ok = false;
      for (std::string_view a : allowed) ok = ok || a == key;
      if (!ok) {
        std::vector<std::string_view> names(allowed);
        return Fail(it->first, absl::StrCat("unknown key '", key, "' in ", Sv(where),
                                            "; expected one of: ", Join(names)));
      }
    }
    return true;
  }

  bool Scalar(const YAML::Node& n, std::string_view what, std::string* out) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      return Fail(n, absl::StrCat(Sv(what), " must be a non-empty text value"));
    }
    *out = n.Scalar();
    return true;
  }

  bool AddPath(const YAML::Node& at, const std::string& path, uint16_t slot) {
    absl::Status s = mapping_->trie.Add(path, slot);
    if (!s.ok()) {
      return Fail(at, absl::StrCat("bad JSON path '", path, "': ", s.message()));
    }
    return true;
  }

  bool Check(const YAML::Node& root) {
    mapping_ = std::make_unique<Mapping>();
    if (!root.IsMap()) {
      return Fail(root,
                  "a mapping file is a YAML map with the keys name, time and fields "
                  "(see docs/formats/mapping.md)");
    }
    if (!KnownKeys(root, "the mapping",
                   {"name", "description", "time", "fields", "kind", "action", "outcome"})) {
      return false;
    }

    // name
    const YAML::Node name = root["name"];
    if (!name)
      return Fail(root,
                  "missing 'name' (add e.g. name: my-app; it becomes the "
                  "events' format)");
    std::string name_text;
    if (!Scalar(name, "name", &name_text)) return false;
    for (char c : name_text) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
      if (!ok || name_text.size() > 64) {
        return Fail(name, "name may use letters, digits, '-', '_' and '.', at most 64 of them");
      }
    }
    mapping_->name = InternName(name_text);

    // time
    const YAML::Node time = root["time"];
    if (!time) {
      return Fail(root,
                  "missing 'time' (add time: {path: <JSON path of the event time>, "
                  "format: iso8601})");
    }
    if (!time.IsMap()) {
      return Fail(time, "time must be a map: time: {path: <JSON path>, format: iso8601}");
    }
    if (!KnownKeys(time, "time", {"path", "format"})) return false;
    if (!time["path"]) {
      return Fail(time, "time needs a 'path': the JSON path of the event time, e.g. path: ts");
    }
    if (!Scalar(time["path"], "time.path", &mapping_->time_path)) return false;
    if (!AddPath(time["path"], mapping_->time_path, kTimeSlot)) return false;
    const YAML::Node format = time["format"];
    if (!format) {
      return Fail(time,
                  "time needs a 'format': one of iso8601, unix_s, unix_ms, unix_us, "
                  "unix_ns");
    }
    std::string format_text;
    if (!Scalar(format, "time.format", &format_text)) return false;
    bool known_format = false;
    for (const auto& [n, f] : kTimeFormats) {
      if (n == format_text) {
        mapping_->time_format = f;
        known_format = true;
      }
    }
    if (!known_format) {
      return Fail(format, absl::StrCat("time format '", format_text,
                                       "' is not one of iso8601, unix_s, unix_ms, unix_us, "
                                       "unix_ns"));
    }

    // kind, action, outcome
    if (!CheckEnum(
            root, "kind", kKindSlot, &mapping_->kind,
            [](std::string_view s) -> std::optional<uint8_t> {
              if (auto k = ParseKind(s)) return static_cast<uint8_t>(*k);
              return std::nullopt;
            },
            "auth, access, transfer, network") ||
        !CheckEnum(
            root, "action", kActionSlot, &mapping_->action,
            [](std::string_view s) -> std::optional<uint8_t> {
              if (auto a = ParseAction(s)) return static_cast<uint8_t>(*a);
              return std::nullopt;
            },
            "login, logout, read, write, list, delete, copy, send") ||
        !CheckEnum(
            root, "outcome", kOutcomeSlot, &mapping_->outcome,
            [](std::string_view s) -> std::optional<uint8_t> {
              if (auto o = ParseOutcome(s)) return static_cast<uint8_t>(*o);
              return std::nullopt;
            },
            "success, failure")) {
      return false;
    }

    // fields
    const YAML::Node fields = root["fields"];
    if (fields) {
      if (!fields.IsMap()) {
        return Fail(fields,
                    "fields must be a map of field: JSON path, e.g. credential: "
                    "user.name");
      }
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        if (!CheckField(it->first, it->second)) return false;
      }
    }
    return true;
  }

  bool CheckField(const YAML::Node& key, const YAML::Node& value) {
    std::string name = key.as<std::string>();
    if (name == "time" || name == "kind" || name == "action" || name == "outcome") {
      return Fail(key, absl::StrCat("map '", name, "' with the top-level '", name,
                                    ":' key, not under fields"));
    }
    int index = -1;
    for (size_t i = 0; i < kTargets.size(); ++i) {
      if (kTargets[i].name == name) index = static_cast<int>(i);
    }
    if (index < 0) {
      std::vector<std::string_view> names;
      for (const Target& t : kTargets) names.push_back(t.name);
      if (BuiltinFieldByName(name)) {
        return Fail(key, absl::StrCat("field '", name,
                                      "' is computed by credwatch and cannot be mapped; remove "
                                      "it (mappable: ",
                                      Join(names), ")"));
      }
      return Fail(key,
                  absl::StrCat("unknown field '", name, "'; mappable fields are ", Join(names)));
    }
    std::string& path = mapping_->paths[static_cast<size_t>(index)];
    if (!path.empty()) {
      return Fail(key, absl::StrCat("field '", name, "' is mapped twice; keep one"));
    }
    if (!value.IsScalar() || value.Scalar().empty()) {
      return Fail(key,
                  absl::StrCat("field '", name, "' needs a JSON path, e.g. ", name, ": user.name"));
    }
    path = value.Scalar();
    return AddPath(value, path, static_cast<uint16_t>(kFirstTargetSlot + index));
  }

  template <typename ParseFn>
  bool CheckEnum(const YAML::Node& root, const char* key, uint16_t slot, EnumRule* rule,
                 ParseFn parse, std::string_view choices) {
    const YAML::Node n = root[key];
    if (!n) return true;  // left unknown
    auto value_of = [&](const YAML::Node& v, uint8_t* out) {
      if (!v.IsScalar()) {
        return Fail(v, absl::StrCat(key, " values are one of ", Sv(choices)));
      }
      std::optional<uint8_t> parsed = parse(v.Scalar());
      if (!parsed) {
        return Fail(v, absl::StrCat("'", v.Scalar(), "' is not a valid ", key, "; use one of ",
                                    Sv(choices)));
      }
      *out = *parsed;
      return true;
    };
    if (n.IsScalar()) return value_of(n, &rule->constant);  // kind: access
    if (!n.IsMap()) {
      return Fail(n, absl::StrCat(key, " is a value (", key,
                                  ": ...) or a map with const, or "
                                  "path and map"));
    }
    if (!KnownKeys(n, key, {"const", "path", "map", "default"})) return false;
    if (n["const"]) {
      if (n["path"] || n["map"] || n["default"]) {
        return Fail(n, absl::StrCat(key,
                                    ": use either const or path (with map and default), "
                                    "not both"));
      }
      return value_of(n["const"], &rule->constant);
    }
    if (!n["path"]) {
      return Fail(n, absl::StrCat(key, " needs 'path' (where the record says it) or 'const'"));
    }
    rule->from_record = true;
    if (!Scalar(n["path"], absl::StrCat(key, ".path"), &rule->path)) return false;
    if (!AddPath(n["path"], rule->path, slot)) return false;
    if (const YAML::Node d = n["default"]) {
      uint8_t v;
      if (!value_of(d, &v)) return false;
      rule->fallback = v;
    }
    if (const YAML::Node m = n["map"]) {
      if (!m.IsMap()) {
        return Fail(m,
                    absl::StrCat(key, ".map maps record values to a ", key, ", e.g. {GET: read}"));
      }
      rule->has_map = true;
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (!it->first.IsScalar()) return Fail(it->first, "map keys are record values");
        std::string from = it->first.Scalar();
        uint8_t to;
        if (!value_of(it->second, &to)) return false;
        if (from.size() > 1 && from.back() == '*') {
          from.pop_back();
          rule->prefixes.emplace_back(std::move(from), to);
        } else if (!rule->exact.emplace(from, to).second) {
          return Fail(it->first, absl::StrCat("'", from, "' is mapped twice; keep one"));
        }
      }
    }
    return true;
  }

  std::string file_;
  std::unique_ptr<Mapping> mapping_;
  std::string error_;
};

// ---------------------------------------------------------------------------
// Decoding.

// Decimal text ("1700000000", "1700000000.123", "-5") to an integer count of
// `unit` per whole number, truncating finer digits. Exponents are not taken.
std::optional<int64_t> ScaledDecimal(std::string_view s, int64_t unit) {
  if (s.empty() || s[0] == '-') return std::nullopt;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), n);
  if (ec != std::errc() || end != whole.data() + whole.size()) return std::nullopt;
  int64_t result;
  if (__builtin_mul_overflow(n, unit, &result)) return std::nullopt;
  if (dot != std::string_view::npos) {
    std::string_view frac = s.substr(dot + 1);
    if (frac.empty()) return std::nullopt;
    int64_t scale = unit;
    for (char c : frac) {
      if (c < '0' || c > '9') return std::nullopt;
      scale /= 10;
      if (__builtin_add_overflow(result, (c - '0') * scale, &result)) return std::nullopt;
    }
  }
  return result;
}

class MappingDecoder final : public Decoder {
 public:
  MappingDecoder(const DecoderOptions& options, std::unique_ptr<Mapping> mapping)
      : limits_(options.limits),
        parser_(options.limits.max_record_bytes),
        mapping_(std::move(mapping)) {
    if (options.projection != nullptr) {
      for (const Projection::Path& p : options.projection->paths) {
        // As in the ocsf decoder, a path the trie cannot address is left out.
        auto slot = static_cast<uint16_t>(kNumSlots + extra_ids_.size());
        if (mapping_->trie.Add(p.dotted, slot).ok()) extra_ids_.push_back(p.id);
      }
    }
  }

  Format format() const override { return Format::kMapping; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx, EventBatch& out) override {
    present_ = 0;
    Event& e = out.Add();
    event_ = &e;
    arena_ = &out.arena();
    WalkError err = ParseAndWalk(parser_, record, limits_, mapping_->trie, *this);
    DecodeResult r;
    if (!err.ok()) [[unlikely]] {
      r = Reject(err.code, err.path != nullptr ? std::string_view(*err.path) : "", err.reason);
    } else {
      r = Assemble(ctx, e);
    }
    if (r.code != RecordCode::kOk) out.PopBack();
    return r;
  }

  // The walker's sink.
  void OnValue(uint16_t slot, const JsonScalar& v) {
    if (slot < kNumSlots) {
      if (v.type != JsonScalar::Type::kNull) {
        values_[slot] = v;
        present_ |= uint32_t{1} << slot;
      }
    } else if (v.type != JsonScalar::Type::kNull) {
      event_->AddExtra(extra_ids_[slot - kNumSlots], arena_->Copy(v.text));
    }
  }

 private:
  static_assert(kNumSlots <= 32, "presence is a 32-bit mask");

  bool Has(uint16_t slot) const { return (present_ >> slot) & 1; }

  DecodeResult Reject(RecordCode code, std::string_view path, std::string_view reason) {
    if (path.empty()) {
      detail_.assign(reason);
    } else {
      detail_ = absl::StrCat(Sv(path), ": ", Sv(reason));
    }
    return DecodeResult{code, detail_};
  }

  DecodeResult Time(Event& e) {
    const std::string& path = mapping_->time_path;
    if (!Has(kTimeSlot)) return Reject(RecordCode::kRejectMissingTime, path, "missing");
    const JsonScalar& v = values_[kTimeSlot];
    std::optional<int64_t> t;
    if (mapping_->time_format == TimeFormat::kIso8601) {
      if (v.type != JsonScalar::Type::kString) {
        return Reject(RecordCode::kRejectWrongType, path, "not an ISO 8601 string");
      }
      t = ParseIso8601(v.text);
      if (!t) return Reject(RecordCode::kRejectBadTime, path, "not an ISO 8601 time");
    } else {
      if (v.type != JsonScalar::Type::kNumber && v.type != JsonScalar::Type::kString) {
        return Reject(RecordCode::kRejectWrongType, path, "not a number");
      }
      int64_t unit = mapping_->time_format == TimeFormat::kUnixS    ? kNsPerSecond
                     : mapping_->time_format == TimeFormat::kUnixMs ? 1'000'000
                     : mapping_->time_format == TimeFormat::kUnixUs ? 1'000
                                                                    : 1;
      t = ScaledDecimal(v.text, unit);
      if (!t) {
        return Reject(RecordCode::kRejectBadTime, path,
                      "not a non-negative decimal Unix time in range");
      }
    }
    e.time_ns = *t;
    return DecodeResult{};
  }

  // kind / action / outcome from `rule`; 0 (unknown) when nothing applies.
  bool Enum(const EnumRule& rule, uint16_t slot, uint8_t* out, uint8_t (*parse)(std::string_view)) {
    *out = rule.constant;
    if (!rule.from_record) return true;
    *out = rule.fallback.value_or(0);
    if (!Has(slot)) return true;
    const JsonScalar& v = values_[slot];
    if (v.type == JsonScalar::Type::kObject || v.type == JsonScalar::Type::kArray) {
      Reject(RecordCode::kRejectWrongType, rule.path, "not a string, number or boolean");
      return false;
    }
    if (!rule.has_map) {
      if (uint8_t p = parse(v.text); p != 0) *out = p;
      return true;
    }
    if (auto it = rule.exact.find(Sv(v.text)); it != rule.exact.end()) {
      *out = it->second;
      return true;
    }
    for (const auto& [prefix, value] : rule.prefixes) {
      if (v.text.starts_with(prefix)) {
        *out = value;
        return true;
      }
    }
    return true;
  }

  // A non-negative integer: a JSON integer, a float with no fraction, or a
  // string of digits.
  static std::optional<int64_t> Count(const JsonScalar& v) {
    if (v.type != JsonScalar::Type::kNumber && v.type != JsonScalar::Type::kString) {
      return std::nullopt;
    }
    int64_t n = 0;
    if (ParseInt64(v.text, &n)) {
      if (n < 0) return std::nullopt;
      return n;
    }
    if (v.type == JsonScalar::Type::kNumber) {
      double d = 0;
      auto [dend, dec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);
      if (dec == std::errc() && dend == v.text.data() + v.text.size() && d >= 0 && d < 9e18 &&
          d == static_cast<double>(static_cast<int64_t>(d))) {
        return static_cast<int64_t>(d);
      }
    }
    return std::nullopt;
  }

  DecodeResult Assemble(const RecordContext& ctx, Event& e) {
    if (DecodeResult r = Time(e); r.code != RecordCode::kOk) return r;
    uint8_t kind, action, outcome;
    if (!Enum(mapping_->kind, kKindSlot, &kind,
              [](std::string_view s) -> uint8_t {
                return static_cast<uint8_t>(ParseKind(s).value_or(Kind::kUnknown));
              }) ||
        !Enum(mapping_->action, kActionSlot, &action,
              [](std::string_view s) -> uint8_t {
                return static_cast<uint8_t>(ParseAction(s).value_or(Action::kUnknown));
              }) ||
        !Enum(mapping_->outcome, kOutcomeSlot, &outcome, [](std::string_view s) -> uint8_t {
          return static_cast<uint8_t>(ParseOutcome(s).value_or(Outcome::kUnknown));
        })) {
      return DecodeResult{RecordCode::kRejectWrongType, detail_};
    }
    e.kind = static_cast<Kind>(kind);
    e.action = static_cast<Action>(action);
    e.outcome = static_cast<Outcome>(outcome);

    Arena& arena = *arena_;
    for (uint16_t i = 0; i < kTargets.size(); ++i) {
      uint16_t slot = kFirstTargetSlot + i;
      if (!Has(slot)) continue;
      const JsonScalar& v = values_[slot];
      const std::string& path = mapping_->paths[i];
      switch (kTargets[i].type) {
        case ValueType::kString: {
          if (v.type == JsonScalar::Type::kObject || v.type == JsonScalar::Type::kArray) {
            return Reject(RecordCode::kRejectWrongType, path, "not a string");
          }
          std::string_view s = arena.Copy(v.text);
          switch (i) {
            case kCredential:
              e.credential = s;
              break;
            case kTenant:
              e.tenant = s;
              break;
            case kHost:
              e.host = s;
              break;
            case kSession:
              e.session = s;
              break;
            case kObject:
              e.object = s;
              break;
            case kObjectTenant:
              e.object_tenant = s;
              break;
            case kDstAccount:
              e.dst_account = s;
              break;
            case kUserAgent:
              e.user_agent = s;
              break;
            default:
              break;
          }
          break;
        }
        case ValueType::kIp: {
          if (v.type != JsonScalar::Type::kString) {
            return Reject(RecordCode::kRejectWrongType, path, "not a string");
          }
          std::string_view text = arena.Copy(v.text);
          IpAddress ip = IpAddress::Parse(text).value_or(IpAddress());
          if (i == kSrcIp) {
            e.src_ip_text = text;
            e.src_ip = ip;
          } else {
            e.dst_ip_text = text;
            e.dst_ip = ip;
          }
          break;
        }
        case ValueType::kPort: {
          std::optional<int64_t> n = Count(v);
          if (!n || *n > 65535) {
            return Reject(RecordCode::kRejectWrongType, path, "not a port number");
          }
          (i == kSrcPort ? e.src_port : e.dst_port) = static_cast<uint16_t>(*n);
          break;
        }
        case ValueType::kCount: {
          std::optional<int64_t> n = Count(v);
          if (!n) return Reject(RecordCode::kRejectWrongType, path, "not a non-negative integer");
          (i == kBytes ? e.bytes : e.records) = *n;
          break;
        }
      }
    }
    e.format = mapping_->name;
    e.source = ctx.source;
    e.source_offset = ctx.offset;
    return DecodeResult{};
  }

  DecodeLimits limits_;
  simdjson::ondemand::parser parser_;
  std::unique_ptr<Mapping> mapping_;
  std::vector<uint16_t> extra_ids_;  // projection: slot - kNumSlots -> FieldId

  // Per record.
  std::array<JsonScalar, kNumSlots> values_{};
  uint32_t present_ = 0;
  Event* event_ = nullptr;
  Arena* arena_ = nullptr;
  std::string detail_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeMappingDecoder(const DecoderOptions& options) {
  if (options.mapping_file.empty()) {
    return absl::InvalidArgumentError(
        "format 'mapping' needs a mapping file: name the YAML file that maps the log's "
        "fields (see docs/formats/mapping.md)");
  }
  absl::StatusOr<std::unique_ptr<Mapping>> mapping = MappingLoader(options.mapping_file).Load();
  if (!mapping.ok()) return mapping.status();
  return std::make_unique<MappingDecoder>(options, *std::move(mapping));
}

}  // namespace credwatch::decode
