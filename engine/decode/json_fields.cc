#include "decode/json_fields.h"

#include <charconv>
#include <cstring>

namespace credwatch::decode {
namespace {

namespace od = simdjson::ondemand;

// Number of '{' and '[' bytes ('{' | 0x20 == '[' | 0x20, and no other byte
// maps there). Blocks of 224 bytes with a byte counter let the compiler turn
// the inner loop into whole vector steps; on x86-64 the loader picks an AVX2
// build of it when the CPU has AVX2 (it is most of the cost of the
// depth limit).
// Not under ThreadSanitizer: the clone resolver runs at load time, before
// TSan is initialised, and crashes every binary that links the decoders.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__SANITIZE_THREAD__)
#define CREDWATCH_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define CREDWATCH_AVX2_CLONE
#endif
CREDWATCH_AVX2_CLONE size_t CountOpenBrackets(std::string_view s) {
  constexpr size_t kBlock = 224;  // a multiple of 16 and 32, < 256
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t total = 0;
  size_t i = 0;
  for (; n - i >= kBlock; i += kBlock) {
    uint8_t count = 0;
    for (size_t j = 0; j < kBlock; ++j) {
      count = static_cast<uint8_t>(count + ((p[i + j] | 0x20) == '{'));
    }
    total += count;
  }
  uint8_t count = 0;  // the rest: fewer than kBlock bytes
  for (; i < n; ++i) count = static_cast<uint8_t>(count + ((p[i] | 0x20) == '{'));
  return total + count;
}

}  // namespace

RecordCode RecordCodeForJsonError(simdjson::error_code error) {
  switch (error) {
    case simdjson::SUCCESS:
      return RecordCode::kOk;
    case simdjson::UTF8_ERROR:
      return RecordCode::kRejectInvalidUtf8;
    case simdjson::DEPTH_ERROR:
      return RecordCode::kRejectTooDeep;
    case simdjson::UNCLOSED_STRING:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return RecordCode::kRejectTruncated;
    case simdjson::INCORRECT_TYPE:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return RecordCode::kRejectWrongType;
    default:
      return RecordCode::kRejectInvalidJson;
  }
}

bool NestingExceeds(std::string_view json, size_t max_depth) {
  if (CountOpenBrackets(json) <= max_depth) return false;
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > max_depth) return true;
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return false;
}

JsonKind KindOfToken(std::string_view token) {
  if (token.empty()) return JsonKind::kInvalid;
  switch (token[0]) {
    case '"':
      return JsonKind::kString;
    case '{':
      return JsonKind::kObject;
    case '[':
      return JsonKind::kArray;
    case 't':
    case 'f':
      return JsonKind::kBool;
    case 'n':
      return JsonKind::kNull;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return JsonKind::kNumber;
    default:
      return JsonKind::kInvalid;
  }
}

namespace {

// a == b for strings of the same size. Keys of one object often share a
// prefix ("eventName", "eventTime"), so the last 8 bytes go first, as one
// inline compare.
bool SameSizeEqual(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }
  uint64_t x, y;
  std::memcpy(&x, a.data() + n - 8, sizeof(x));
  std::memcpy(&y, b.data() + n - 8, sizeof(y));
  return x == y && std::memcmp(a.data(), b.data(), n - 8) == 0;
}

}  // namespace

const ProjectionNode* ProjectionNode::FindChild(std::string_view k) const {
  for (const ProjectionNode& c : children) {  // a handful: rules read few fields
    if (c.key.size() == k.size() && SameSizeEqual(c.key, k)) return &c;
  }
  return nullptr;
}

ProjectionTree::ProjectionTree(const Projection* projection) {
  if (projection == nullptr) return;
  for (const Projection::Path& path : projection->paths) {
    std::string_view rest = path.dotted;
    ProjectionNode* node = &root_;
    bool valid = !rest.empty();
    while (valid && !rest.empty()) {
      size_t dot = rest.find('.');
      std::string_view key = rest.substr(0, dot);
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
      if (key.empty() || (dot != std::string_view::npos && rest.empty())) {
        valid = false;  // "a..b", ".a", "a.": no such path in any record
        break;
      }
      ProjectionNode* child = nullptr;
      for (ProjectionNode& c : node->children) {
        if (c.key == key) child = &c;
      }
      if (child == nullptr) {
        node->children.push_back(ProjectionNode{std::string(key), -1, {}, 0});
        node->child_sizes |= uint64_t{1} << (key.size() % 64);
        child = &node->children.back();
      }
      node = child;
    }
    // One id per path: the rule compiler hands out one id per distinct name.
    if (valid && node->id < 0) node->id = path.id;
  }
}

const ProjectionNode* ProjectionTree::Find(std::string_view dotted) const {
  const ProjectionNode* node = top();
  while (node != nullptr && !dotted.empty()) {
    size_t dot = dotted.find('.');
    node = node->Child(dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  return node == &root_ ? nullptr : node;
}

JsonFieldReader::JsonFieldReader(const DecodeLimits& limits, const Projection* projection)
    : limits_(limits), projection_(projection) {}

bool JsonFieldReader::Fail(RecordCode code, std::string_view name, std::string_view what) {
  code_ = code;
  detail_buffer_.assign(name);
  detail_buffer_.append(": ");
  detail_buffer_.append(what);
  detail_ = detail_buffer_;
  return false;
}

bool JsonFieldReader::FailJson(simdjson::error_code error, std::string_view name) {
  return Fail(RecordCodeForJsonError(error), name, simdjson::error_message(error));
}

bool JsonFieldReader::CheckSize(size_t size, std::string_view name) {
  if (size > limits_.max_field_bytes) [[unlikely]] {
    return Fail(RecordCode::kRejectFieldTooLarge, name, "value longer than the field size limit");
  }
  return true;
}

bool JsonFieldReader::Begin(od::parser& parser, std::string_view record, od::document* doc,
                            od::object* root) {
  if (record.size() > limits_.max_record_bytes) [[unlikely]] {
    return Fail(RecordCode::kRejectLineTooLong, "record", "longer than the record size limit");
  }
  if (auto err =
          parser.iterate(record.data(), record.size(), record.size() + kRecordPadding).get(*doc);
      err) [[unlikely]] {
    return FailJson(err, "record");
  }
  record_has_backslash_ = std::memchr(record.data(), '\\', record.size()) != nullptr;
  // After stage 1, which brought the record into the cache.
  if (NestingExceeds(record, limits_.max_depth)) [[unlikely]] {
    return Fail(RecordCode::kRejectTooDeep, "record", "nested deeper than the depth limit");
  }
  od::json_type type;
  if (auto err = doc->type().get(type); err) [[unlikely]] {
    return FailJson(err, "record");
  }
  if (type != od::json_type::object) [[unlikely]] {
    return Fail(RecordCode::kRejectUnknownShape, "record", "not a JSON object");
  }
  if (auto err = doc->get_object().get(*root); err) [[unlikely]] {
    return FailJson(err, "record");
  }
  return true;
}

bool JsonFieldReader::End(od::document& doc) {
  const char* location = nullptr;
  auto err = doc.current_location().get(location);
  if (err == simdjson::OUT_OF_BOUNDS) return true;
  if (err) return FailJson(err, "record");
  return Fail(RecordCode::kRejectInvalidJson, "record", "content after the JSON object");
}

bool JsonFieldReader::EscapedKey(od::field& field, std::string_view where, std::string_view* key) {
  if (auto err = field.unescaped_key().get(*key); err) return FailJson(err, where);
  return true;
}

bool JsonFieldReader::StringToken(od::value& value, std::string_view token, std::string_view name,
                                  std::string_view* out) {
  token = TrimJsonSpace(token);
  if (token.size() >= 2 && token.back() == '"') [[likely]] {
    std::string_view content = token.substr(1, token.size() - 2);
    if (!CheckSize(content.size(), name)) return false;
    if (!MayHaveEscape(content)) {
      *out = content;  // no escapes: the record's bytes are the string
      return true;
    }
  }
  std::string_view unescaped;
  if (auto err = value.get_string().get(unescaped); err) return FailJson(err, name);
  if (!CheckSize(unescaped.size(), name)) return false;
  *out = arena_->Copy(unescaped);
  return true;
}

bool JsonFieldReader::ScalarText(od::value& value, std::string_view token, JsonKind kind,
                                 std::string_view name, std::string_view* out) {
  switch (kind) {
    case JsonKind::kString:
      return StringToken(value, token, name, out);
    case JsonKind::kNumber: {
      // simdjson leaves tokens it is not asked to parse unchecked.
      double d;
      if (auto err = value.get_double().get(d); err) return FailJson(err, name);
      *out = TrimJsonSpace(token);
      return CheckSize(out->size(), name);
    }
    case JsonKind::kBool: {
      bool b;
      if (auto err = value.get_bool().get(b); err) return FailJson(err, name);
      *out = b ? "true" : "false";
      return true;
    }
    case JsonKind::kNull: {
      bool is_null = false;
      if (auto err = value.is_null().get(is_null); err || !is_null) {
        return Fail(RecordCode::kRejectInvalidJson, name, "not a JSON value");
      }
      *out = {};
      return true;
    }
    default:
      return Fail(RecordCode::kRejectInvalidJson, name, "not a JSON value");
  }
}

bool JsonFieldReader::StringSlow(od::value& value, std::string_view name,
                                 const ProjectionNode* proj, std::string_view* out, bool strict) {
  std::string_view token = value.raw_json_token();
  JsonKind kind = KindOfToken(token);
  if (kind == JsonKind::kString) [[likely]] {
    if (!StringToken(value, token, name, out)) return false;
    ProjectText(proj, *out);
    return true;
  }
  if (kind == JsonKind::kNull) return true;
  if (strict) return Fail(RecordCode::kRejectWrongType, name, "not a string");
  if (proj != nullptr) return Project(value, *proj);
  return true;
}

bool JsonFieldReader::Int64(od::value& value, std::string_view name, const ProjectionNode* proj,
                            int64_t* out, bool strict) {
  std::string_view token = value.raw_json_token();
  JsonKind kind = KindOfToken(token);
  if (kind == JsonKind::kNumber) {
    int64_t i;
    auto err = value.get_int64().get(i);
    if (err == simdjson::INCORRECT_TYPE || err == simdjson::NUMBER_OUT_OF_RANGE) {
      double d;  // 494.0, 1e6
      if (auto derr = value.get_double().get(d); derr) return FailJson(derr, name);
      if (!(d >= -9.2e18 && d <= 9.2e18)) {
        if (strict) return Fail(RecordCode::kRejectWrongType, name, "number out of range");
        ProjectText(proj, TrimJsonSpace(token));
        return true;
      }
      i = static_cast<int64_t>(d);
    } else if (err) {
      return FailJson(err, name);
    }
    *out = i;
    ProjectText(proj, TrimJsonSpace(token));
    return true;
  }
  if (kind == JsonKind::kString) {
    std::string_view s;
    if (!StringToken(value, token, name, &s)) return false;
    int64_t i;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) {
      *out = i;
    } else if (strict) {
      return Fail(RecordCode::kRejectWrongType, name, "not an integer");
    }
    ProjectText(proj, s);
    return true;
  }
  if (kind == JsonKind::kNull) return true;
  if (strict) return Fail(RecordCode::kRejectWrongType, name, "not an integer");
  if (proj != nullptr) return Project(value, *proj);
  return true;
}

bool JsonFieldReader::ObjectSlow(od::value& value, std::string_view name,
                                 const ProjectionNode* proj, od::object* out, bool* present,
                                 bool strict) {
  *present = false;
  JsonKind kind = KindOfToken(value.raw_json_token());
  if (kind == JsonKind::kObject) [[likely]] {
    if (auto err = value.get_object().get(*out); err) return FailJson(err, name);
    if (proj != nullptr && proj->wanted()) {
      // The rule wants the whole object and the decoder its fields: copy the
      // raw text, then rewind this one object (a rare, rule-driven cost).
      std::string_view raw;
      if (auto err = out->raw_json().get(raw); err) return FailJson(err, name);
      if (!CheckSize(raw.size(), name)) return false;
      ProjectText(proj, raw);
      bool not_empty;
      if (auto err = out->reset().get(not_empty); err) return FailJson(err, name);
    }
    *present = true;
    return true;
  }
  if (kind == JsonKind::kNull) return true;
  if (strict) return Fail(RecordCode::kRejectWrongType, name, "not an object");
  if (proj != nullptr) return Project(value, *proj);
  return true;
}

bool JsonFieldReader::Array(od::value& value, std::string_view name, const ProjectionNode* proj,
                            od::array* out, bool* present) {
  *present = false;
  JsonKind kind = KindOfToken(value.raw_json_token());
  if (kind == JsonKind::kArray) [[likely]] {
    if (auto err = value.get_array().get(*out); err) return FailJson(err, name);
    if (proj != nullptr && proj->wanted()) {
      std::string_view raw;
      if (auto err = out->raw_json().get(raw); err) return FailJson(err, name);
      if (!CheckSize(raw.size(), name)) return false;
      ProjectText(proj, raw);
      bool not_empty;
      if (auto err = out->reset().get(not_empty); err) return FailJson(err, name);
    }
    *present = true;
    return true;
  }
  if (kind != JsonKind::kNull && proj != nullptr) return Project(value, *proj);
  return true;
}

bool JsonFieldReader::Project(od::value& value, const ProjectionNode& node) {
  std::string_view token = value.raw_json_token();
  JsonKind kind = KindOfToken(token);
  switch (kind) {
    case JsonKind::kObject: {
      od::object obj;
      if (auto err = value.get_object().get(obj); err) return FailJson(err, node.key);
      if (node.wanted()) {
        std::string_view raw;
        if (auto err = obj.raw_json().get(raw); err) return FailJson(err, node.key);
        if (!CheckSize(raw.size(), node.key)) return false;
        ProjectText(&node, raw);
        if (node.children.empty()) return true;
        bool not_empty;
        if (auto err = obj.reset().get(not_empty); err) return FailJson(err, node.key);
      }
      return ForEachField(obj, node.key, &node,
                          [](std::string_view, od::value, const ProjectionNode*) {
                            return FieldStep::kSkip;  // projected by ForEachField
                          });
    }
    case JsonKind::kArray: {
      if (!node.wanted()) return true;  // paths do not index into arrays
      od::array arr;
      if (auto err = value.get_array().get(arr); err) return FailJson(err, node.key);
      std::string_view raw;
      if (auto err = arr.raw_json().get(raw); err) return FailJson(err, node.key);
      if (!CheckSize(raw.size(), node.key)) return false;
      ProjectText(&node, raw);
      return true;
    }
    default: {
      if (!node.wanted()) return true;
      std::string_view text;
      if (!ScalarText(value, token, kind, node.key, &text)) return false;
      ProjectText(&node, text);
      return true;
    }
  }
}

}  // namespace credwatch::decode
