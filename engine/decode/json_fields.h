// Helpers shared by the JSON decoders (cloudtrail, native): starting an
// On-Demand parse of one record under the DecodeLimits, reading fields in
// document order without per-event heap allocation, and copying the fields
// that loaded rules project into Event::extras. Internal header.
//
//   JsonFieldReader reader(options.limits, options.projection);
//   simdjson::ondemand::parser parser;                    // one per decoder
//   // per record:
//   reader.Start(&batch.arena(), &event);
//   simdjson::ondemand::document doc;
//   simdjson::ondemand::object root;
//   bool ok = reader.Begin(parser, record, &doc, &root) &&
//       reader.ForEachField(root, "record", reader.projection().top(),
//           [&](std::string_view key, simdjson::ondemand::value& v,
//               const ProjectionNode* proj) {
//             if (key == "host") return Done(reader.String(v, "host", proj, &event.host));
//             return FieldStep::kSkip;  // projected if a rule asks for it
//           }) &&
//       reader.End(doc);
//   if (!ok) return reader.result();  // a reject: code and detail
//
// Strings are views into the record when they hold no escape sequence (the
// caller keeps the record alive as long as the batch) and unescaped copies in
// the batch arena otherwise. Every string, and every object or array copied
// for a projection, is held to DecodeLimits::max_field_bytes.
//
// A JsonFieldReader belongs to one decoder and one thread.
#ifndef CREDWATCH_DECODE_JSON_FIELDS_H_
#define CREDWATCH_DECODE_JSON_FIELDS_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "simdjson.h"

namespace credwatch::decode {

// The reject code for a simdjson error met while reading a record:
// UTF8_ERROR -> invalid_utf8, DEPTH_ERROR -> too_deep, a document that ends
// early -> truncated, INCORRECT_TYPE -> wrong_type, anything else ->
// invalid_json.
RecordCode RecordCodeForJsonError(simdjson::error_code error);

// Whether `json` nests objects and arrays deeper than `max_depth`.
// simdjson On-Demand does not bound the depth of what it skips, so the limit
// is checked on the text. A record with at most `max_depth` opening brackets
// in total cannot be too deep, so the common case is one vectorized byte
// count; only records with more brackets get the exact, string-aware scan.
bool NestingExceeds(std::string_view json, size_t max_depth);

// JSON whitespace removed from the end of `s` (simdjson tokens include the
// whitespace up to the next structural character).
inline std::string_view TrimJsonSpace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Whether p[0, n) holds a backslash. Reads whole 8-byte words and may look up
// to 7 bytes past p + n: only for text inside a padded record.
inline bool HasBackslash(const char* p, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr uint64_t kBackslashes = kOnes * '\\';
  // No early exit: the strings are short and the loop stays branch-free.
  uint64_t found = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, sizeof(word));
    uint64_t x = word ^ kBackslashes;  // a zero byte where there is a backslash
    found |= (x - kOnes) & ~x & kHigh;
  }
  if (i < n) {
    uint64_t word;
    std::memcpy(&word, p + i, sizeof(word));
    uint64_t x = word ^ kBackslashes;
    found |= (x - kOnes) & ~x & kHigh & ((uint64_t{1} << (8 * (n - i))) - 1);
  }
  return found != 0;
}

// The source-namespace paths that loaded rules read, as a tree of object keys:
// "userIdentity.type" and "userIdentity.arn" share the node "userIdentity".
// Immutable once built; may be shared by threads.
struct ProjectionNode {
  std::string key;
  int32_t id = -1;  // Event::extras id when the path ends here, else -1
  std::vector<ProjectionNode> children;
  uint64_t child_sizes = 0;  // bit (size % 64) set for each child key: a quick "no"

  bool wanted() const { return id >= 0; }
  // The child for `key`, or null. Null-safe: Child(nullptr, ...) is null.
  const ProjectionNode* Child(std::string_view k) const {
    if (((child_sizes >> (k.size() % 64)) & 1) == 0) return nullptr;  // most keys
    return FindChild(k);
  }
  static const ProjectionNode* Child(const ProjectionNode* node, std::string_view k) {
    return node == nullptr ? nullptr : node->Child(k);
  }
  const ProjectionNode* FindChild(std::string_view k) const;
};

class ProjectionTree {
 public:
  // `projection` may be null (nothing projected).
  explicit ProjectionTree(const Projection* projection);

  bool empty() const { return root_.children.empty(); }
  // The projection to hand to a walk of the root object: null when empty.
  const ProjectionNode* top() const { return empty() ? nullptr : &root_; }
  // The node of a whole dotted path ("src.geo" for a flat key "src.geo"),
  // or null.
  const ProjectionNode* Find(std::string_view dotted) const;
  // The node of a top-level key, or null.
  const ProjectionNode* Child(std::string_view key) const {
    return empty() ? nullptr : root_.Child(key);
  }
  const ProjectionNode& root() const { return root_; }

 private:
  ProjectionNode root_;
};

// s == literal, with the length known at compile time so the compare is a few
// inline word loads instead of a memcmp call (keys are compared per field).
template <size_t N>
inline bool Is(std::string_view s, const char (&literal)[N]) {
  return s.size() == N - 1 && std::memcmp(s.data(), literal, N - 1) == 0;
}

// What a field callback did with a field (JsonFieldReader::ForEachField).
enum class FieldStep : uint8_t {
  kSkip,  // not a field the decoder reads: projected if a rule asks for it
  kDone,  // read (and projected by the reader function that read it)
  kFail,  // reject recorded in the reader
};
inline FieldStep Done(bool ok) { return ok ? FieldStep::kDone : FieldStep::kFail; }

// What a JSON value is, from the first byte of its token.
enum class JsonKind : uint8_t { kString, kNumber, kBool, kNull, kObject, kArray, kInvalid };
JsonKind KindOfToken(std::string_view token);

class JsonFieldReader {
 public:
  JsonFieldReader(const DecodeLimits& limits, const Projection* projection);
  JsonFieldReader(const JsonFieldReader&) = delete;
  JsonFieldReader& operator=(const JsonFieldReader&) = delete;

  // Starts a record: strings that need a copy go to `arena`, projected values
  // to `event`'s extras.
  void Start(Arena* arena, Event* event) {
    arena_ = arena;
    event_ = event;
    code_ = RecordCode::kOk;
    detail_ = {};
  }

  // Checks the record-size and depth limits, parses `record` (which has
  // kRecordPadding readable bytes after it) and opens its root object. A root
  // that is not an object is unknown_shape.
  bool Begin(simdjson::ondemand::parser& parser, std::string_view record,
             simdjson::ondemand::document* doc, simdjson::ondemand::object* root);
  // After the root object was iterated to its end: anything after it is
  // invalid_json (one record is one JSON value).
  bool End(simdjson::ondemand::document& doc);

  // The key of a field as written in the record, escapes and all. Found from
  // both ends instead of scanned: the key starts after its opening quote, and
  // only its closing quote, ':' and whitespace lie between it and the value
  // (stage 1 and the iterator checked that).
  static std::string_view RawKey(simdjson::ondemand::field& field) {
    const char* start = field.key().raw();
    const char* end = field.value().raw_json_token().data() - 1;
    while (*end != ':') --end;
    --end;
    while (*end != '"') --end;
    return std::string_view(start, static_cast<size_t>(end - start));
  }

  // Iterates `obj` in document order. For each field calls
  // `fn(std::string_view key, simdjson::ondemand::value& value,
  //     const ProjectionNode* child)` where `child` is the projection below
  // `proj` for that key (or null); a field `fn` skips is projected here.
  template <typename Fn>
  bool ForEachField(simdjson::ondemand::object& obj, std::string_view where,
                    const ProjectionNode* proj, Fn&& fn) {
    for (auto field_result : obj) {
      // The field is used in place: copying it out of the result (get())
      // costs a store-forwarding stall per field with GCC.
      if (auto err = field_result.error(); err) [[unlikely]] {
        return FailJson(err, where);
      }
      simdjson::ondemand::field& field = field_result.value_unsafe();
      std::string_view key = RawKey(field);
      const ProjectionNode* child = ProjectionNode::Child(proj, key);
      FieldStep step = fn(key, field.value(), child);
      if (step == FieldStep::kSkip) {
        // A key with an escape never equals a name as written: match what it
        // means. Only keys nobody asked for get this check.
        if (MayHaveEscape(key)) [[unlikely]] {
          if (!EscapedKey(field, where, &key)) return false;
          child = ProjectionNode::Child(proj, key);
          step = fn(key, field.value(), child);
        }
        if (step == FieldStep::kSkip && child != nullptr && !Project(field.value(), *child)) {
          return false;
        }
      }
      if (step == FieldStep::kFail) [[unlikely]] {
        return false;
      }
    }
    return true;
  }
  // Iterates `arr`, calling `fn(simdjson::ondemand::value& element)` -> bool.
  template <typename Fn>
  bool ForEachElement(simdjson::ondemand::array& arr, std::string_view where, Fn&& fn) {
    for (auto element_result : arr) {
      if (auto err = element_result.error(); err) [[unlikely]] {
        return FailJson(err, where);
      }
      if (!fn(element_result.value_unsafe())) [[unlikely]] {
        return false;
      }
    }
    return true;
  }

  // Reads a string field. A string goes to `*out`; null leaves `*out` as is.
  // Any other type is wrong_type when `strict`, else ignored. When `proj` is
  // set the value is also projected (any type).
  bool String(simdjson::ondemand::value& value, std::string_view name, const ProjectionNode* proj,
              std::string_view* out, bool strict = false) {
    // Fast path: a string without escapes is its bytes in the record.
    std::string_view token = TrimJsonSpace(value.raw_json_token());
    if (token.size() >= 2 && token.front() == '"' && token.back() == '"' &&
        token.size() - 2 <= limits_.max_field_bytes &&
        !MayHaveEscape(token.substr(1, token.size() - 2))) [[likely]] {
      *out = token.substr(1, token.size() - 2);
      ProjectText(proj, *out);
      return true;
    }
    return StringSlow(value, name, proj, out, strict);
  }
  // Reads an integer field: a JSON integer, a float (truncated) or a string of
  // digits. Other types: wrong_type when `strict`, else ignored.
  bool Int64(simdjson::ondemand::value& value, std::string_view name, const ProjectionNode* proj,
             int64_t* out, bool strict = false);
  // Opens an object field. `*present` is false for null and, unless `strict`,
  // for other non-object values. When `proj` asks for the whole object its
  // raw JSON is copied first and the object rewound, so the caller can still
  // iterate it; a non-object value is projected as it is.
  bool Object(simdjson::ondemand::value& value, std::string_view name, const ProjectionNode* proj,
              simdjson::ondemand::object* out, bool* present, bool strict = false) {
    std::string_view token = value.raw_json_token();
    if (!token.empty() && token.front() == '{' && proj == nullptr) [[likely]] {
      *present = true;
      if (auto err = value.get_object().get(*out); err) [[unlikely]] {
        return FailJson(err, name);
      }
      return true;
    }
    return ObjectSlow(value, name, proj, out, present, strict);
  }
  // Opens an array field; like Object. Paths never reach inside arrays.
  bool Array(simdjson::ondemand::value& value, std::string_view name, const ProjectionNode* proj,
             simdjson::ondemand::array* out, bool* present);

  // Copies the value at `node` and the paths below it into the extras:
  // strings unescaped, numbers and booleans as their JSON text, objects and
  // arrays as raw JSON. null is left absent.
  bool Project(simdjson::ondemand::value& value, const ProjectionNode& node);
  // Adds `text` as the extra of `node` if that path was asked for.
  void ProjectText(const ProjectionNode* node, std::string_view text) {
    if (node != nullptr && node->wanted() && !text.empty()) {
      event_->AddExtra(static_cast<uint16_t>(node->id), text);
    }
  }

  // Whether `s`, text inside the current record, holds a backslash. Most
  // records hold none at all (Begin looked), so most strings are not scanned.
  bool MayHaveEscape(std::string_view s) const {
    return record_has_backslash_ && HasBackslash(s.data(), s.size());
  }

  // Records a reject. Always returns false.
  bool Fail(RecordCode code, std::string_view name, std::string_view what);
  bool FailJson(simdjson::error_code error, std::string_view name);

  const ProjectionTree& projection() const { return projection_; }
  const DecodeLimits& limits() const { return limits_; }
  Arena& arena() { return *arena_; }
  RecordCode code() const { return code_; }
  DecodeResult result() const { return DecodeResult{code_, detail_}; }

 private:
  bool EscapedKey(simdjson::ondemand::field& field, std::string_view where, std::string_view* key);
  bool StringSlow(simdjson::ondemand::value& value, std::string_view name,
                  const ProjectionNode* proj, std::string_view* out, bool strict);
  bool ObjectSlow(simdjson::ondemand::value& value, std::string_view name,
                  const ProjectionNode* proj, simdjson::ondemand::object* out, bool* present,
                  bool strict);
  // Reads the string whose token is `token` (starts with '"').
  bool StringToken(simdjson::ondemand::value& value, std::string_view token, std::string_view name,
                   std::string_view* out);
  // Copies the scalar's text (no containers) into `*out`; null gives "".
  bool ScalarText(simdjson::ondemand::value& value, std::string_view token, JsonKind kind,
                  std::string_view name, std::string_view* out);
  bool CheckSize(size_t size, std::string_view name);

  DecodeLimits limits_;
  ProjectionTree projection_;
  Arena* arena_ = nullptr;
  Event* event_ = nullptr;
  bool record_has_backslash_ = true;
  RecordCode code_ = RecordCode::kOk;
  std::string_view detail_;
  std::string detail_buffer_;  // reused; only written on rejects
};

}  // namespace credwatch::decode

#endif  // CREDWATCH_DECODE_JSON_FIELDS_H_
