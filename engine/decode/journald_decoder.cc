// The `journald` decoder: `journalctl -o json` output, one object per line.
//
// Fields read (in whatever order journalctl writes them, one pass):
//   __REALTIME_TIMESTAMP        when journald received it, decimal µs (string)
//   _SOURCE_REALTIME_TIMESTAMP  when the program logged it; preferred when set
//   _HOSTNAME                   -> Event::host
//   SYSLOG_IDENTIFIER, _COMM    the program (identifier first)
//   _PID, SYSLOG_PID            the process (the trusted _PID first)
//   MESSAGE                     a string; an array of byte values when the
//                               text is not UTF-8; null when journalctl left
//                               a large field out
// The message text goes to the same sshd / sftp parser as the syslog
// decoder's (sshd_messages.h). docs/formats/journald.md is the user-facing
// reference.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "credwatch/decoder.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/sshd_messages.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kFormatName = "journald";

RecordCode CodeOf(simdjson::error_code e) {
  switch (e) {
    case simdjson::DEPTH_ERROR: return RecordCode::kRejectTooDeep;
    case simdjson::UTF8_ERROR: return RecordCode::kRejectInvalidUtf8;
    case simdjson::UNCLOSED_STRING:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return RecordCode::kRejectTruncated;
    case simdjson::INCORRECT_TYPE: return RecordCode::kRejectWrongType;
    case simdjson::CAPACITY: return RecordCode::kRejectLineTooLong;
    default: return RecordCode::kRejectInvalidJson;
  }
}

DecodeResult Reject(simdjson::error_code e) { return {CodeOf(e), simdjson::error_message(e)}; }

// Decimal digits, at most 19 of them.
bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Nesting of a JSON text, strings skipped: how deep it goes, and where the
// top-level value closes (npos if it never does).
struct Nesting {
  size_t max_depth = 0;
  size_t close_pos = std::string_view::npos;
};

Nesting ScanNesting(std::string_view s) {
  Nesting n;
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      n.max_depth = std::max(n.max_depth, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      if (--depth == 0 && n.close_pos == std::string_view::npos) n.close_pos = i;
    }
  }
  return n;
}

// On-Demand skips the values it is not asked for without checking their
// depth, so the limit is checked here: a cheap count of brackets first, the
// exact scan only when there are more brackets than the limit.
bool TooDeep(std::string_view s, size_t max_depth) {
  size_t opens = 0;
  for (size_t i = 0; i < s.size();) {
    // Byte-wide counters in blocks of 255 keep the loop in SIMD registers.
    size_t end = std::min(s.size(), i + 255);
    uint8_t block = 0;
    for (; i < end; ++i) block += static_cast<uint8_t>((s[i] == '{') | (s[i] == '['));
    opens += block;
  }
  return opens > max_depth && ScanNesting(s).max_depth > max_depth;
}

class JournaldDecoder final : public Decoder {
 public:
  explicit JournaldDecoder(const DecoderOptions& options)
      : limits_(options.limits), sshd_(kFormatName, options.limits) {
    // Capacity grows on demand; the depth limit sticks.
    if (parser_.allocate(4096, limits_.max_depth) != simdjson::SUCCESS) {
      // Out of memory now; iterate() retries the allocation per record.
    }
  }

  Format format() const override { return Format::kJournald; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx,
                      EventBatch& out) override {
    if (record.size() > limits_.max_record_bytes) [[unlikely]] {
      return {RecordCode::kRejectLineTooLong, "record longer than max_record_bytes"};
    }
    if (record.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return {RecordCode::kSkippedIrrelevant, {}};  // blank line
    }
    if (TooDeep(record, limits_.max_depth)) [[unlikely]] {
      return {RecordCode::kRejectTooDeep, "nesting deeper than max_depth"};
    }
    Fields f;
    DecodeResult r = ReadFields(record, &f);
    if (r.code != RecordCode::kOk) return r;

    if (!f.has_time) {
      if (!f.has_message && f.host.empty() && f.program.empty()) {
        return {RecordCode::kRejectUnknownShape, "not a journalctl -o json record"};
      }
      return {RecordCode::kRejectMissingTime, "no __REALTIME_TIMESTAMP"};
    }
    uint64_t us = 0;
    if (!ParseDecimal(f.time, &us) || us > static_cast<uint64_t>(INT64_MAX / 1000)) {
      return {RecordCode::kRejectBadTime, "__REALTIME_TIMESTAMP is not decimal microseconds"};
    }
    if (!f.has_message) return {RecordCode::kSkippedIrrelevant, {}};

    LogRecord rec;
    rec.program = f.program;
    if (ClassifyProgram(rec.program) == SshdProgram::kOther &&
        !f.message.starts_with("last message repeated")) {
      return {RecordCode::kSkippedIrrelevant, {}};  // cheap exit before any copy
    }
    if (f.message_is_bytes &&
        !simdjson::validate_utf8(f.message.data(), f.message.size())) [[unlikely]] {
      return {RecordCode::kRejectInvalidUtf8, "MESSAGE bytes are not valid UTF-8"};
    }
    rec.time_ns = static_cast<int64_t>(us) * 1000;
    if (f.pid.empty() || !ParsePid(f.pid, &rec.pid)) rec.has_pid = false;
    else rec.has_pid = true;
    // The parser's string buffer is reused by the next record: events keep
    // arena copies.
    Arena& arena = out.arena();
    rec.host = arena.Copy(f.host);
    rec.message = arena.Copy(f.message);
    return sshd_.Decode(rec, ctx, out);
  }

 private:
  struct Fields {
    bool has_time = false;
    bool has_message = false;
    bool message_is_bytes = false;
    std::string_view time;    // preferred: _SOURCE_REALTIME_TIMESTAMP
    bool time_is_source = false;
    std::string_view host;
    std::string_view program;
    std::string_view comm;
    std::string_view pid;
    std::string_view message;
  };

  static bool ParsePid(std::string_view s, uint32_t* pid) {
    uint64_t v = 0;
    if (!ParseDecimal(s, &v) || v > UINT32_MAX) return false;
    *pid = static_cast<uint32_t>(v);
    return true;
  }

  // A string field; too long or of another type is a reject.
  DecodeResult GetString(od::value v, std::string_view name, std::string_view* out) {
    auto r = v.get_string();
    if (r.error()) {
      if (r.error() == simdjson::INCORRECT_TYPE) {
        detail_.assign(name);
        detail_.append(": not a string");
        return {RecordCode::kRejectWrongType, detail_};
      }
      return Reject(r.error());
    }
    *out = r.value_unsafe();
    if (out->size() > limits_.max_field_bytes) {
      detail_.assign(name);
      detail_.append(": longer than max_field_bytes");
      return {RecordCode::kRejectFieldTooLarge, detail_};
    }
    return {};
  }

  // A timestamp: journalctl writes a string; a bare number is accepted.
  DecodeResult GetTime(od::value v, std::string_view name, std::string_view* out) {
    od::json_type type;
    if (auto e = v.type().get(type)) return Reject(e);
    if (type == od::json_type::number) {
      auto raw = v.raw_json_token();
      std::string_view tok = raw;
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\r' ||
                              tok.back() == '\n')) {
        tok.remove_suffix(1);
      }
      *out = tok;
      return {};
    }
    return GetString(v, name, out);
  }

  // MESSAGE: string, array of bytes, or null.
  DecodeResult GetMessage(od::value v, Fields* f) {
    od::json_type type;
    if (auto e = v.type().get(type)) return Reject(e);
    switch (type) {
      case od::json_type::null:
        f->has_message = false;
        return {};
      case od::json_type::string:
        f->has_message = true;
        f->message_is_bytes = false;
        return GetString(v, "MESSAGE", &f->message);
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return Reject(e);
        message_bytes_.clear();
        for (auto element : arr) {
          uint64_t b = 0;
          if (auto e = element.get_uint64().get(b)) {
            if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR) {
              return {RecordCode::kRejectWrongType, "MESSAGE: array of non-byte values"};
            }
            return Reject(e);
          }
          if (b > 255) return {RecordCode::kRejectWrongType, "MESSAGE: byte value over 255"};
          if (message_bytes_.size() >= limits_.max_field_bytes) {
            return {RecordCode::kRejectFieldTooLarge, "MESSAGE: longer than max_field_bytes"};
          }
          message_bytes_.push_back(static_cast<char>(b));
        }
        f->has_message = true;
        f->message_is_bytes = true;
        f->message = message_bytes_;
        return {};
      }
      default:
        return {RecordCode::kRejectWrongType, "MESSAGE: not a string or byte array"};
    }
  }

  // Valid JSON that is not an object is not a journald record; text that
  // only looks like the start of a value is invalid JSON.
  static DecodeResult NotAnObject(od::document& doc, od::json_type type) {
    simdjson::error_code e = simdjson::SUCCESS;
    switch (type) {
      case od::json_type::null: {
        bool is_null = false;
        e = doc.is_null().get(is_null);
        if (!e && !is_null) e = simdjson::N_ATOM_ERROR;
        break;
      }
      case od::json_type::boolean: {
        bool b;
        e = doc.get_bool().get(b);
        break;
      }
      case od::json_type::number: {
        double d;
        e = doc.get_double().get(d);
        break;
      }
      case od::json_type::string: {
        std::string_view sv;
        e = doc.get_string().get(sv);
        break;
      }
      default: break;
    }
    if (e) return Reject(e);
    return {RecordCode::kRejectUnknownShape, "record is not a JSON object"};
  }

  DecodeResult ReadFields(std::string_view record, Fields* f) {
    simdjson::padded_string_view json(record.data(), record.size(),
                                      record.size() + kRecordPadding);
    od::document doc;
    if (auto e = parser_.iterate(json).get(doc)) return Reject(e);
    od::json_type type;
    if (auto e = doc.type().get(type)) return Reject(e);
    if (type != od::json_type::object) return NotAnObject(doc, type);
    od::object obj;
    if (auto e = doc.get_object().get(obj)) {
      // simdjson reports an object whose text does not end with its closing
      // brace as cut short; it may also be complete with junk after it.
      if (e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT &&
          ScanNesting(record).close_pos != std::string_view::npos) {
        return {RecordCode::kRejectInvalidJson, "content after the JSON object"};
      }
      return Reject(e);
    }
    for (auto field_result : obj) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return Reject(e);
      od::raw_json_string key = field.key();
      // Every key wanted starts with '_', 'S' or 'M': one byte rules out
      // most of the ~25 other fields before any comparison.
      const char first = *key.raw();
      if (first != '_' && first != 'S' && first != 'M') continue;
      od::value value = field.value();
      DecodeResult r;
      if (key == "__REALTIME_TIMESTAMP") {
        if (!f->time_is_source) {
          r = GetTime(value, "__REALTIME_TIMESTAMP", &f->time);
          f->has_time = true;
        }
      } else if (key == "_SOURCE_REALTIME_TIMESTAMP") {
        r = GetTime(value, "_SOURCE_REALTIME_TIMESTAMP", &f->time);
        f->has_time = true;
        f->time_is_source = true;
      } else if (key == "_HOSTNAME") {
        r = GetString(value, "_HOSTNAME", &f->host);
      } else if (key == "SYSLOG_IDENTIFIER") {
        r = GetString(value, "SYSLOG_IDENTIFIER", &f->program);
      } else if (key == "_COMM") {
        r = GetString(value, "_COMM", &f->comm);
      } else if (key == "_PID") {
        r = GetString(value, "_PID", &f->pid);
      } else if (key == "SYSLOG_PID") {
        if (f->pid.empty()) r = GetString(value, "SYSLOG_PID", &f->pid);
      } else if (key == "MESSAGE") {
        r = GetMessage(value, f);
      }
      if (r.code != RecordCode::kOk) return r;
    }
    // The object was read to its end: anything after it is another value.
    const char* location = nullptr;
    if (auto e = doc.current_location().get(location); e != simdjson::OUT_OF_BOUNDS) {
      if (e) return Reject(e);
      return {RecordCode::kRejectInvalidJson, "content after the JSON object"};
    }
    if (f->program.empty()) f->program = f->comm;
    return {};
  }

  DecodeLimits limits_;
  od::parser parser_;
  std::string message_bytes_;  // MESSAGE given as bytes; reused
  std::string detail_;         // reject detail; valid until the next Decode
  SshdEventDecoder sshd_;
};

}  // namespace

std::unique_ptr<Decoder> MakeJournaldDecoder(const DecoderOptions& options) {
  return std::make_unique<JournaldDecoder>(options);
}

}  // namespace credwatch::decode
