#include "alert/finding.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "common/fixed_hash.h"
#include "common/json_writer.h"

#ifndef CREDWATCH_VERSION
#define CREDWATCH_VERSION "0.0.0"
#endif

namespace credwatch::alert {
namespace {

constexpr std::string_view kOcsfVersion = "1.1.0";

int64_t ToMillis(int64_t ns) {
  int64_t q = ns / 1'000'000;
  if (ns % 1'000'000 < 0) --q;
  return q;
}

// A strict, allocation-free JSON syntax check for evidence text.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}

  bool SingleObject() {
    Space();
    if (!Peek('{') || !Value(0)) return false;
    Space();
    return i_ == s_.size();
  }

 private:
  static constexpr int kMaxDepth = 64;

  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++i_;
    return true;
  }
  // Spaces and tabs only: a raw line break would split the NDJSON line.
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }

  bool Value(int depth) {
    if (depth > kMaxDepth || i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String();
      case 't':
        return Word("true");
      case 'f':
        return Word("false");
      case 'n':
        return Word("null");
      default:
        return Number();
    }
  }

  bool Object(int depth) {
    ++i_;  // '{'
    Space();
    if (Eat('}')) return true;
    for (;;) {
      Space();
      if (!Peek('"') || !String()) return false;
      Space();
      if (!Eat(':')) return false;
      Space();
      if (!Value(depth)) return false;
      Space();
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Array(int depth) {
    ++i_;  // '['
    Space();
    if (Eat(']')) return true;
    for (;;) {
      Space();
      if (!Value(depth)) return false;
      Space();
      if (Eat(']')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  bool Digits() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  bool Number() {
    Eat('-');
    if (Eat('0')) {
      // no leading zeros
    } else if (!Digits()) {
      return false;
    }
    if (Eat('.') && !Digits()) return false;
    if (Peek('e') || Peek('E')) {
      ++i_;
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }

  bool String() {
    ++i_;  // '"'
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i_) {
            if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) {
              return false;
            }
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
        continue;
      }
      if (c < 0x80) {
        ++i_;
        continue;
      }
      size_t n = Utf8Length();
      if (n == 0) return false;
      i_ += n;
    }
    return false;
  }

  // Length of the valid UTF-8 sequence at i_, 0 if invalid.
  size_t Utf8Length() const {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s_[k]); };
    auto cont = [&](size_t k) { return k < s_.size() && (b(k) & 0xC0) == 0x80; };
    const unsigned char c = b(i_);
    if (c >= 0xC2 && c <= 0xDF) return cont(i_ + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(i_ + 1) || !cont(i_ + 2)) return 0;
      if (c == 0xE0 && b(i_ + 1) < 0xA0) return 0;
      if (c == 0xED && b(i_ + 1) >= 0xA0) return 0;
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(i_ + 1) || !cont(i_ + 2) || !cont(i_ + 3)) return 0;
      if (c == 0xF0 && b(i_ + 1) < 0x90) return 0;
      if (c == 0xF4 && b(i_ + 1) >= 0x90) return 0;
      return 4;
    }
    return 0;
  }

  std::string_view s_;
  size_t i_ = 0;
};

void AppendStringArray(const std::vector<std::string>& values, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(values[i], out);
  }
  out->push_back(']');
}

void AppendAttacks(const std::vector<std::string>& attacks, std::string* out) {
  out->push_back('[');
  std::vector<std::string_view> seen;
  for (const std::string& id : attacks) {
    if (id.empty() || std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
    if (!seen.empty()) out->push_back(',');
    seen.push_back(id);
    const size_t dot = id.find('.');
    out->append("{\"technique\":{\"uid\":");
    AppendJsonString(std::string_view(id).substr(0, dot), out);
    out->push_back('}');
    if (dot != std::string::npos) {
      out->append(",\"sub_technique\":{\"uid\":");
      AppendJsonString(id, out);
      out->push_back('}');
    }
    out->push_back('}');
  }
  out->push_back(']');
}

}  // namespace

std::string FindingUid(std::string_view rule_id, std::string_view group_key, int64_t opened_ns) {
  // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
  std::string input = "credwatch-finding-v1";
  input += std::to_string(rule_id.size());
  input.push_back(':');
  input.append(rule_id);
  input += std::to_string(group_key.size());
  input.push_back(':');
  input.append(group_key);
  input += std::to_string(opened_ns);
  uint64_t hi = FixedHash(input, 0x0CF5F1D1);
  uint64_t lo = FixedHash(input, 0x5EC0DD15);
  hi = (hi & ~uint64_t{0xF000}) | 0x8000;                      // version 8
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>(hi >> 16 & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

Finding NewFinding(const Detection& d) {
  Finding f;
  f.detection = d;
  if (f.detection.evidences.size() > Detection::kMaxEvidences) {
    f.detection.evidences.resize(Detection::kMaxEvidences);
  }
  f.opened_ns = d.time_ns;
  f.uid = FindingUid(d.rule_id, d.group_key, d.time_ns);
  return f;
}

bool IsSingleLineJsonObject(std::string_view text) { return JsonChecker(text).SingleObject(); }

void AppendFindingJson(const Finding& f, std::string* out) {
  const Detection& d = f.detection;
  const bool update = f.updates > 0;
  const int severity_id = static_cast<int>(d.severity);

  out->append(update ? "{\"activity_id\":2,\"activity_name\":\"Update\""
                     : "{\"activity_id\":1,\"activity_name\":\"Create\"");
  out->append(",\"category_uid\":2,\"category_name\":\"Findings\"");
  out->append(",\"class_uid\":2004,\"class_name\":\"Detection Finding\"");
  out->append(update ? ",\"type_uid\":200402,\"type_name\":\"Detection Finding: Update\""
                     : ",\"type_uid\":200401,\"type_name\":\"Detection Finding: Create\"");
  out->append(",\"time\":");
  AppendJsonInt(ToMillis(d.time_ns), out);
  out->append(",\"severity_id\":");
  AppendJsonInt(severity_id, out);
  out->append(",\"severity\":");
  AppendJsonString(SeverityName(d.severity), out);
  out->append(",\"status_id\":1,\"status\":\"New\",\"count\":");
  AppendJsonInt(f.count, out);

  out->append(",\"finding_info\":{\"uid\":");
  AppendJsonString(f.uid, out);
  out->append(",\"title\":");
  AppendJsonString(d.title, out);
  out->append(",\"analytic\":{\"uid\":");
  AppendJsonString(d.rule_id, out);
  out->append(",\"name\":");
  AppendJsonString(d.title, out);
  out->append(",\"type_id\":1,\"type\":\"Rule\"}");
  out->append(",\"first_seen_time\":");
  AppendJsonInt(ToMillis(d.first_seen_ns), out);
  out->append(",\"last_seen_time\":");
  AppendJsonInt(ToMillis(d.last_seen_ns), out);
  out->append(",\"attacks\":");
  AppendAttacks(d.attacks, out);
  out->append(",\"types\":[\"Credential Misuse\"");
  if (d.blast.bytes > 0 || !d.blast.destinations.empty()) out->append(",\"Data Exfiltration\"");
  out->append("]}");

  out->append(",\"actor\":{\"user\":{\"name\":");
  AppendJsonString(d.credential, out);
  if (!d.tenant.empty()) {
    out->append(",\"org\":{\"name\":");
    AppendJsonString(d.tenant, out);
    out->push_back('}');
  }
  out->append("}}");
  if (!d.src_ip.empty()) {
    out->append(",\"src_endpoint\":{\"ip\":");
    AppendJsonString(d.src_ip, out);
    out->push_back('}');
  }

  out->append(",\"evidences\":[");
  const size_t n = std::min(d.evidences.size(), Detection::kMaxEvidences);
  for (size_t i = 0; i < n; ++i) {
    if (i) out->push_back(',');
    out->append("{\"data\":");
    if (IsSingleLineJsonObject(d.evidences[i])) {
      out->append(d.evidences[i]);
    } else {
      out->append("{\"raw\":");
      AppendJsonString(d.evidences[i], out);
      out->push_back('}');
    }
    out->push_back('}');
  }
  out->push_back(']');

  const BlastRadius& b = d.blast;
  out->append(",\"unmapped\":{\"blast_radius\":{\"tenants\":");
  AppendStringArray(b.tenants, out);
  out->append(",\"objects\":");
  AppendStringArray(b.objects, out);
  out->append(",\"objects_total\":");
  AppendJsonInt(b.objects_total, out);
  out->append(",\"bytes\":");
  AppendJsonInt(b.bytes, out);
  out->append(",\"records\":");
  AppendJsonInt(b.records, out);
  out->append(",\"destinations\":");
  AppendStringArray(b.destinations, out);
  out->append("},\"group_key\":");
  AppendJsonString(d.group_key, out);
  out->push_back('}');

  out->append(
      ",\"metadata\":{\"product\":{\"name\":\"credwatch\",\"vendor_name\":\"credwatch\","
      "\"version\":");
  AppendJsonString(CREDWATCH_VERSION, out);
  out->append("},\"version\":");
  AppendJsonString(kOcsfVersion, out);
  out->append("}}");
}

std::string FindingToNdjson(const Finding& f) {
  std::string line;
  AppendFindingJson(f, &line);
  line.push_back('\n');
  return line;
}

}  // namespace credwatch::alert
