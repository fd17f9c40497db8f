// Compiled JSON paths, walked once per record in document order. Internal
// header shared by the ocsf and mapping decoders.
//
//   PathTrie trie;
//   trie.Add("actor.user.name", kCredentialSlot);   // once, at construction
//   trie.Add("resources[0].uid", kObjectSlot);
//   ...
//   // Per record; Sink has
//   //   void OnValue(uint16_t slot, const JsonScalar& v);
//   PathWalker<MySink> walker(trie, limits.max_field_bytes, sink);
//   WalkError err = walker.Walk(doc, root_object);
//
// A path is a dotted list of object keys, each optionally followed by array
// indexes: "actor.user.name", "resources[0].uid", "m[1][0]". Keys that contain
// '.', '[' or ']' cannot be addressed. Several slots may share one path.
//
// The walker descends only into keys that lie on some path; simdjson skips
// everything else without parsing it. The value a path ends at is handed to
// the sink as a JsonScalar: strings unescaped, numbers as their JSON text,
// objects and arrays as their raw JSON text. A value of another type than the
// path expects on the way down (a string where an object should be) makes the
// deeper paths absent; it is not an error.
//
// A PathTrie is immutable once built and may be read by several threads. A
// PathWalker lives for one record on the caller's stack.
#ifndef CREDWATCH_DECODE_PATH_WALKER_H_
#define CREDWATCH_DECODE_PATH_WALKER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "credwatch/decoder.h"
#include "decode/json_fields.h"
#include "simdjson.h"

namespace credwatch::decode {

// The value at the end of a path.
struct JsonScalar {
  enum class Type : uint8_t { kNull, kString, kNumber, kBool, kObject, kArray };
  Type type = Type::kNull;
  // kString: the unescaped string, in the parser's buffer (valid until the
  // parser parses the next record). kNumber: its JSON text ("-12.5e3").
  // kBool: "true" / "false". kNull: "null". kObject, kArray: the raw JSON text,
  // a view into the record.
  std::string_view text;
};

class PathTrie {
 public:
  struct Node {
    std::string path;                                    // "actor.user", for messages
    std::vector<uint16_t> slots;                         // values captured here
    std::vector<std::pair<std::string, uint32_t>> keys;  // object members -> node
    std::vector<std::pair<uint32_t, uint32_t>> indexes;  // array elements -> node
    // Open-addressing index over `keys` (entry = position in keys + 1, 0 =
    // empty), at most half full: a record's key is matched with one or two
    // probes however many keys the node has.
    std::vector<uint32_t> table;
  };
  static constexpr size_t kMaxSegments = 32;

  PathTrie() : nodes_(1) {}

  // Adds `path`; its value goes to `slot`. Fails with a message that says what
  // is wrong with the path ("empty key", "bad array index").
  absl::Status Add(std::string_view path, uint16_t slot);

  const Node& node(uint32_t i) const { return nodes_[i]; }
  static constexpr uint32_t kRoot = 0;

  // The child of `n` for an object key; 0 (the root, never a child) if none.
  static uint32_t FindKey(const Node& n, std::string_view key) {
    if (n.table.empty() || key.empty()) return 0;
    const auto mask = static_cast<uint32_t>(n.table.size() - 1);
    for (uint32_t i = KeyHash(key) & mask;; i = (i + 1) & mask) {
      uint32_t e = n.table[i];
      if (e == 0) return 0;
      const auto& [k, child] = n.keys[e - 1];
      if (k.size() == key.size() && std::memcmp(k.data(), key.data(), key.size()) == 0) {
        return child;
      }
    }
  }
  // Cheap on purpose: length and three bytes tell the few keys of one node apart.
  static uint32_t KeyHash(std::string_view k) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(k[i])); };
    uint32_t h = static_cast<uint32_t>(k.size());
    h = h * 31 + b(0);
    h = h * 31 + b(k.size() - 1);
    h = h * 31 + b(k.size() / 2);
    return h ^ (h >> 7);
  }
  static uint32_t FindIndex(const Node& n, uint32_t index) {
    for (const auto& [i, child] : n.indexes) {
      if (i == index) return child;
    }
    return 0;
  }

 private:
  uint32_t KeyChild(uint32_t parent, std::string_view key) {
    if (uint32_t c = FindKey(nodes_[parent], key); c != 0) return c;
    std::string path = nodes_[parent].path;
    if (!path.empty()) path += '.';
    path.append(key);
    nodes_.push_back(Node{std::move(path), {}, {}, {}});
    auto child = static_cast<uint32_t>(nodes_.size() - 1);
    Node& p = nodes_[parent];
    p.keys.emplace_back(std::string(key), child);
    size_t size = 4;
    while (size < 2 * p.keys.size()) size *= 2;
    p.table.assign(size, 0);
    for (uint32_t k = 0; k < p.keys.size(); ++k) {
      uint32_t i = KeyHash(p.keys[k].first) & static_cast<uint32_t>(size - 1);
      while (p.table[i] != 0) i = (i + 1) & static_cast<uint32_t>(size - 1);
      p.table[i] = k + 1;
    }
    return child;
  }
  uint32_t IndexChild(uint32_t parent, uint32_t index) {
    if (uint32_t c = FindIndex(nodes_[parent], index); c != 0) return c;
    std::string path = nodes_[parent].path + "[" + std::to_string(index) + "]";
    nodes_.push_back(Node{std::move(path), {}, {}, {}});
    auto child = static_cast<uint32_t>(nodes_.size() - 1);
    nodes_[parent].indexes.emplace_back(index, child);
    return child;
  }

  std::vector<Node> nodes_;
};

// What stopped a walk. `path` points into the trie (may be null), `reason`
// to static text.
struct WalkError {
  RecordCode code = RecordCode::kOk;
  const std::string* path = nullptr;
  const char* reason = "";
  bool ok() const { return code == RecordCode::kOk; }
};

inline absl::Status PathTrie::Add(std::string_view path, uint16_t slot) {
  // Parse first so a bad path leaves the trie as it was.
  struct Segment {
    std::string_view key;
    std::vector<uint32_t> indexes;
  };
  std::vector<Segment> segments;
  size_t i = 0;
  while (true) {
    size_t end = path.find_first_of(".[]", i);
    if (end == std::string_view::npos) end = path.size();
    Segment seg{path.substr(i, end - i), {}};
    if (seg.key.empty()) {
      return absl::InvalidArgumentError("empty key (write paths as a.b.c or a[0].b)");
    }
    i = end;
    while (i < path.size() && path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos || close == i + 1 || close - i > 10) {
        return absl::InvalidArgumentError("bad array index (write name[0])");
      }
      uint64_t index = 0;
      for (size_t j = i + 1; j < close; ++j) {
        if (path[j] < '0' || path[j] > '9') {
          return absl::InvalidArgumentError("bad array index (write name[0])");
        }
        index = index * 10 + static_cast<uint64_t>(path[j] - '0');
      }
      if (index > 65535) return absl::InvalidArgumentError("array index above 65535");
      seg.indexes.push_back(static_cast<uint32_t>(index));
      i = close + 1;
    }
    segments.push_back(std::move(seg));
    if (segments.size() > kMaxSegments) {
      return absl::InvalidArgumentError("path deeper than 32 keys");
    }
    if (i == path.size()) break;
    if (path[i] != '.') {
      return absl::InvalidArgumentError("expected '.' or '[' after ']' (write a[0].b)");
    }
    ++i;
    if (i == path.size()) return absl::InvalidArgumentError("empty key at the end");
  }
  uint32_t n = kRoot;
  for (const Segment& seg : segments) {
    n = KeyChild(n, seg.key);
    for (uint32_t index : seg.indexes) n = IndexChild(n, index);
  }
  nodes_[n].slots.push_back(slot);
  return absl::OkStatus();
}

// Whether `s` is a JSON number ("-0.5e+3"); simdjson leaves the tokens it is
// not asked to parse unchecked.
inline bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// A JSON integer ("-12", "1700000000000") to int64; false for fractions,
// exponents and values out of range. Faster than from_chars for the short
// integers of log records.
inline bool ParseInt64(std::string_view s, int64_t* out) {
  size_t i = 0;
  bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  if (i == s.size() || s.size() - i > 19) return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    auto d = static_cast<unsigned>(s[i] - '0');
    if (d > 9) return false;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > uint64_t{1} << 63) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > uint64_t{INT64_MAX}) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

template <typename Sink>
class PathWalker {
 public:
  PathWalker(const PathTrie& trie, size_t max_field_bytes, Sink& sink)
      : trie_(trie), max_field_bytes_(max_field_bytes), sink_(sink) {}

  // Walks the record's root object. `doc` is the document `root` came from.
  WalkError Walk(simdjson::ondemand::document& doc, simdjson::ondemand::object root) {
    doc_ = &doc;
    WalkObject(root, PathTrie::kRoot);
    return error_;
  }

 private:
  using json_type = simdjson::ondemand::json_type;

  bool Fail(RecordCode code, const PathTrie::Node& n, const char* reason) {
    error_.code = code;
    error_.path = n.path.empty() ? nullptr : &n.path;
    error_.reason = reason;
    return false;
  }
  bool FailJson(simdjson::error_code e, const PathTrie::Node& n) {
    return Fail(RecordCodeForJsonError(e), n, simdjson::error_message(e));
  }

  bool WalkObject(simdjson::ondemand::object obj, uint32_t n) {
    const PathTrie::Node& node = trie_.node(n);
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      if (auto e = std::move(field_result).get(field); e) [[unlikely]] {
        return FailJson(e, node);
      }
      // Most keys have no escapes: read them in place rather than unescape a
      // copy. The closing quote is there: simdjson's stage 1 paired it.
      const char* raw = field.key().raw();
      const char* end = raw;
      while (*end != '"' && *end != '\\') ++end;
      std::string_view key(raw, static_cast<size_t>(end - raw));
      if (*end == '\\') [[unlikely]] {
        if (auto e = field.unescaped_key().get(key); e) return FailJson(e, node);
      }
      uint32_t child = PathTrie::FindKey(node, key);
      if (child == 0) continue;  // simdjson skips the value
      if (!Visit(field.value(), child)) return false;
    }
    return true;
  }

  bool WalkArray(simdjson::ondemand::array arr, uint32_t n) {
    const PathTrie::Node& node = trie_.node(n);
    uint32_t index = 0;
    for (auto element_result : arr) {
      simdjson::ondemand::value element;
      if (auto e = std::move(element_result).get(element); e) [[unlikely]] {
        return FailJson(e, node);
      }
      uint32_t child = PathTrie::FindIndex(node, index++);
      if (child == 0) continue;
      if (!Visit(element, child)) return false;
    }
    return true;
  }

  // The raw text from `start` to where the document iterator is now (just
  // past a container that was walked).
  bool RawSince(const char* start, const PathTrie::Node& node, std::string_view* out) {
    const char* end = nullptr;
    if (auto e = doc_->current_location().get(end); e) [[unlikely]] {
      return FailJson(e, node);
    }
    *out = TrimJsonSpace(std::string_view(start, static_cast<size_t>(end - start)));
    return true;
  }

  bool Visit(simdjson::ondemand::value v, uint32_t n) {
    const PathTrie::Node& node = trie_.node(n);
    json_type type;
    if (auto e = v.type().get(type); e) [[unlikely]]
      return FailJson(e, node);

    JsonScalar s;
    switch (type) {
      case json_type::object: {
        s.type = JsonScalar::Type::kObject;
        simdjson::ondemand::object obj;
        if (auto e = v.get_object().get(obj); e) [[unlikely]]
          return FailJson(e, node);
        if (node.keys.empty()) {
          if (auto e = obj.raw_json().get(s.text); e) [[unlikely]]
            return FailJson(e, node);
        } else {
          const char* start = v.raw_json_token().data();
          if (!WalkObject(obj, n)) return false;
          if (node.slots.empty()) return true;
          if (!RawSince(start, node, &s.text)) return false;
        }
        break;
      }
      case json_type::array: {
        s.type = JsonScalar::Type::kArray;
        simdjson::ondemand::array arr;
        if (auto e = v.get_array().get(arr); e) [[unlikely]]
          return FailJson(e, node);
        if (node.indexes.empty()) {
          if (auto e = arr.raw_json().get(s.text); e) [[unlikely]]
            return FailJson(e, node);
        } else {
          const char* start = v.raw_json_token().data();
          if (!WalkArray(arr, n)) return false;
          if (node.slots.empty()) return true;
          if (!RawSince(start, node, &s.text)) return false;
        }
        break;
      }
      case json_type::string:
        s.type = JsonScalar::Type::kString;
        if (auto e = v.get_string().get(s.text); e) [[unlikely]]
          return FailJson(e, node);
        break;
      case json_type::number:
        s.type = JsonScalar::Type::kNumber;
        s.text = TrimJsonSpace(v.raw_json_token());
        if (!IsJsonNumber(s.text)) [[unlikely]] {
          return Fail(RecordCode::kRejectInvalidJson, node, "not a valid JSON number");
        }
        break;
      case json_type::boolean: {
        s.type = JsonScalar::Type::kBool;
        bool b;
        if (v.get_bool().get(b)) [[unlikely]] {
          return Fail(RecordCode::kRejectInvalidJson, node, "not a valid JSON literal");
        }
        s.text = b ? "true" : "false";
        break;
      }
      case json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null); e || !is_null) [[unlikely]] {
          return Fail(RecordCode::kRejectInvalidJson, node, "not a valid JSON literal");
        }
        s.text = "null";
        break;
      }
    }
    if (node.slots.empty()) return true;  // a container met where a scalar was expected
    if (s.text.size() > max_field_bytes_) [[unlikely]] {
      return Fail(RecordCode::kRejectFieldTooLarge, node, "field longer than the limit");
    }
    for (uint16_t slot : node.slots) sink_.OnValue(slot, s);
    return true;
  }

  const PathTrie& trie_;
  size_t max_field_bytes_;
  Sink& sink_;
  simdjson::ondemand::document* doc_ = nullptr;
  WalkError error_;
};

// Parses `record` (kRecordPadding readable bytes after it) with `parser` and
// walks its root object. Applies the record-size, depth and field-size limits;
// a root that is not an object is unknown_shape.
template <typename Sink>
WalkError ParseAndWalk(simdjson::ondemand::parser& parser, std::string_view record,
                       const DecodeLimits& limits, const PathTrie& trie, Sink& sink) {
  WalkError err;
  if (record.size() > limits.max_record_bytes) [[unlikely]] {
    err.code = RecordCode::kRejectLineTooLong;
    err.reason = "record longer than the limit";
    return err;
  }
  if (NestingExceeds(record, limits.max_depth)) [[unlikely]] {
    err.code = RecordCode::kRejectTooDeep;
    err.reason = "nesting deeper than the limit";
    return err;
  }
  simdjson::ondemand::document doc;
  if (auto e =
          parser.iterate(record.data(), record.size(), record.size() + kRecordPadding).get(doc);
      e) [[unlikely]] {
    err.code = RecordCodeForJsonError(e);
    err.reason = simdjson::error_message(e);
    return err;
  }
  simdjson::ondemand::object root;
  if (auto e = doc.get_object().get(root); e) [[unlikely]] {
    err.code =
        e == simdjson::INCORRECT_TYPE ? RecordCode::kRejectUnknownShape : RecordCodeForJsonError(e);
    err.reason = e == simdjson::INCORRECT_TYPE ? "not a JSON object" : simdjson::error_message(e);
    return err;
  }
  PathWalker<Sink> walker(trie, limits.max_field_bytes, sink);
  err = walker.Walk(doc, root);
  if (!err.ok()) return err;
  // Anything after the root object is not one record.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) [[unlikely]] {
    err.code = RecordCode::kRejectInvalidJson;
    err.reason = "content after the JSON object";
  }
  return err;
}

}  // namespace credwatch::decode

#endif  // CREDWATCH_DECODE_PATH_WALKER_H_
