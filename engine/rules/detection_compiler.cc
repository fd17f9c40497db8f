// Compiles the `detection` section of a Sigma rule: search identifiers
// (maps, lists, keywords), value modifiers and the condition.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "credwatch/time_util.h"
#include "re2/re2.h"
#include "rules/condition_parser.h"
#include "rules/rule_compiler.h"

namespace credwatch::rules::internal {
namespace {

constexpr std::string_view kSupportedModifiers =
    "contains, startswith, endswith, all, cased, exists, neq, re (with i, m, s), cidr, "
    "gt, gte, lt, lte, fieldref, expand, base64, base64offset, utf16le, utf16be, utf16, "
    "wide, windash, minute, hour, day, week, month, year";

// The most values one field item may expand to (placeholders, windash,
// base64offset), so a rule cannot blow up at load.
constexpr size_t kMaxExpandedValues = 4096;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*out);
}

enum class Transform : uint8_t { kBase64, kBase64Offset, kUtf16Le, kUtf16Be, kUtf16, kWindash };

struct Modifiers {
  StrOp str_op = StrOp::kEq;
  std::string str_op_name;
  bool has_cmp = false;
  CmpOp cmp = CmpOp::kEq;
  bool all = false;
  bool cased = false;
  bool neq = false;
  bool exists = false;
  bool cidr = false;
  bool re = false;
  bool re_i = false;
  bool re_m = false;
  bool re_s = false;
  bool fieldref = false;
  bool expand = false;
  TimePart time_part = TimePart::kNone;
  std::vector<Transform> transforms;
  bool encodes() const {
    for (Transform t : transforms) {
      if (t != Transform::kWindash) return true;
    }
    return false;
  }
};

// The field a test reads, and what we know of its type.
struct FieldInfo {
  std::string name;
  FieldRef ref;
  bool builtin = false;
  BuiltinType type = BuiltinType::kString;
  bool keyword = false;
};

// ---- Encodings --------------------------------------------------------------

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

// The three forms a value takes inside a longer base64 text, depending on
// its offset modulo 3 (the leading and trailing characters that depend on
// neighbouring bytes are cut off).
std::vector<std::string> Base64Offsets(std::string_view in) {
  static constexpr int kStart[3] = {0, 2, 3};
  static constexpr int kEndCut[3] = {0, 3, 2};
  std::vector<std::string> out;
  for (int i = 0; i < 3; ++i) {
    std::string shifted(static_cast<size_t>(i), ' ');
    shifted += in;
    std::string enc = Base64(shifted);
    // Strip the padding-dependent tail as pySigma does.
    const int cut = kEndCut[(in.size() + i) % 3];
    const size_t start = static_cast<size_t>(kStart[i]);
    const size_t end = enc.size() - static_cast<size_t>(cut);
    out.push_back(end > start ? enc.substr(start, end - start) : std::string());
  }
  return out;
}

// UTF-8 to UTF-16 code units; invalid bytes map to U+FFFD.
std::vector<uint16_t> Utf16Units(std::string_view s) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t n = 1;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((b & 0x1F) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3F);
      n = 2;
    } else if ((b & 0xF0) == 0xE0 && i + 2 < s.size()) {
      cp = ((b & 0x0F) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3F) << 6) |
           (static_cast<uint8_t>(s[i + 2]) & 0x3F);
      n = 3;
    } else if ((b & 0xF8) == 0xF0 && i + 3 < s.size()) {
      cp = ((b & 0x07) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3F) << 12) |
           ((static_cast<uint8_t>(s[i + 2]) & 0x3F) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3F);
      n = 4;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<uint16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<uint16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<uint16_t>(cp));
    }
    i += n;
  }
  return out;
}

std::string Utf16(std::string_view s, bool big_endian, bool bom) {
  std::string out;
  if (bom) out += "\xFF\xFE";
  for (uint16_t u : Utf16Units(s)) {
    const char lo = static_cast<char>(u & 0xFF);
    const char hi = static_cast<char>(u >> 8);
    if (big_endian) {
      out.push_back(hi);
      out.push_back(lo);
    } else {
      out.push_back(lo);
      out.push_back(hi);
    }
  }
  return out;
}

// Windows command-line flags may start with any of these.
constexpr std::string_view kDashes[] = {"-", "/", "\xE2\x80\x93", "\xE2\x80\x94", "\xE2\x80\x95"};

// Every form of `s` with the flag characters ('-' or '/' at the start or
// after a space) replaced by one of the dashes.
std::vector<std::string> Windash(const std::string& s) {
  std::vector<size_t> positions;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((s[i] == '-' || s[i] == '/') && (i == 0 || s[i - 1] == ' ')) positions.push_back(i);
  }
  if (positions.empty()) return {s};
  std::vector<std::string> out;
  for (std::string_view dash : kDashes) {
    std::string v;
    size_t last = 0;
    for (size_t p : positions) {
      v.append(s, last, p - last);
      v.append(dash);
      last = p + 1;
    }
    v.append(s, last, std::string::npos);
    out.push_back(std::move(v));
  }
  return out;
}

// ---- Regex prefilter ----------------------------------------------------------

void PopUtf8Char(std::string* s) {
  while (!s->empty() && (static_cast<uint8_t>(s->back()) & 0xC0) == 0x80) s->pop_back();
  if (!s->empty()) s->pop_back();
}

// Characters RE2 may match case-insensitively beyond ASCII ('k' also
// matches the Kelvin sign, 's' the long s): kept out of folded literals.
bool UnsafeWhenFolded(char c) {
  return FoldChar(c) == 'k' || FoldChar(c) == 's' || static_cast<uint8_t>(c) >= 0x80;
}

// The longest run of `s` without characters unsafe under folding.
std::string LongestSafeRun(const std::string& s, bool fold) {
  if (!fold) return s;
  std::string best, cur;
  for (char c : s) {
    if (UnsafeWhenFolded(c)) {
      if (cur.size() > best.size()) best = cur;
      cur.clear();
    } else {
      cur.push_back(FoldChar(c));
    }
  }
  return cur.size() > best.size() ? cur : best;
}

// "(a|b|c)" of plain literals at p[i] == '(': fills `alts` and returns the
// index of the ')' , or npos when the group is anything else.
size_t LiteralAlternation(std::string_view p, size_t i, std::vector<std::string>* alts) {
  size_t j = i + 1;
  if (p.substr(j, 2) == "?:") j += 2;
  std::string cur;
  for (; j < p.size(); ++j) {
    char c = p[j];
    if (c == ')') {
      alts->push_back(cur);
      return j;
    }
    if (c == '|') {
      alts->push_back(cur);
      cur.clear();
      continue;
    }
    if (c == '\\') {
      if (j + 1 >= p.size()) return std::string_view::npos;
      c = p[++j];
      if (std::string_view(".*+?()[]{}|^$\\/-:_ ").find(c) == std::string_view::npos)
        return std::string_view::npos;
    } else if (std::string_view("()[]{}.*+?^$").find(c) != std::string_view::npos) {
      return std::string_view::npos;
    }
    cur.push_back(c);
  }
  return std::string_view::npos;
}

// Literals one of which every match of `pattern` contains, or none when
// nothing is obvious. Conservative: literal runs, and groups of literal
// alternatives, outside other groups and classes, in a pattern with no
// top-level alternation; anything unusual gives up. `fold` is set when the
// pattern is case-insensitive ((?i) or the i sub-modifier).
std::vector<std::string> RequiredLiterals(std::string_view p, bool* fold) {
  *fold = false;
  if (p.substr(0, 2) == "(?" && p.substr(0, 3) != "(?:") {
    const size_t close = p.find(')');
    if (close == std::string_view::npos) return {};
    for (char f : p.substr(2, close - 2)) {
      if (f == 'i') {
        *fold = true;
      } else if (f != 'm' && f != 's' && f != 'U') {
        return {};
      }
    }
    p.remove_prefix(close + 1);
  }
  for (size_t k = p.find("(?"); k != std::string_view::npos; k = p.find("(?", k + 1)) {
    if (p.substr(k, 3) != "(?:") return {};
  }
  std::vector<std::string> best;
  size_t best_score = 0;
  auto consider = [&](std::vector<std::string> set) {
    size_t score = SIZE_MAX;
    for (const auto& s : set) score = std::min(score, s.size());
    if (set.empty() || score == 0) return;
    if (set.size() > 1) --score;  // a single literal is cheaper to check
    if (score > best_score) {
      best_score = score;
      best = std::move(set);
    }
  };
  std::string cur;
  int depth = 0;
  auto flush = [&] {
    consider({LongestSafeRun(cur, *fold)});
    cur.clear();
  };
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return {};
      const char n = p[++i];
      if (std::string_view("dDwWsSbBAz").find(n) != std::string_view::npos) {
        flush();
        continue;
      }
      if (std::string_view(".*+?()[]{}|^$\\/-:_ ").find(n) == std::string_view::npos) return {};
      c = n;
    } else if (c == '[') {
      flush();
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      if (j >= p.size()) return {};
      i = j;
      continue;
    } else if (c == '(') {
      flush();
      if (depth == 0) {
        std::vector<std::string> alts;
        const size_t close = LiteralAlternation(p, i, &alts);
        const bool optional = close != std::string_view::npos && close + 1 < p.size() &&
                              std::string_view("?*{").find(p[close + 1]) != std::string_view::npos;
        if (close != std::string_view::npos && !optional) {
          for (auto& a : alts) a = LongestSafeRun(a, *fold);
          consider(std::move(alts));
          i = close;
          continue;
        }
      }
      ++depth;
      continue;
    } else if (c == ')') {
      flush();
      --depth;
      continue;
    } else if (c == '|') {
      if (depth == 0) return {};
      flush();
      continue;
    } else if (c == '.' || c == '^' || c == '$') {
      flush();
      continue;
    } else if (c == '*' || c == '?' || c == '{' || c == '+') {
      // The quantifier binds the previous character: still required after
      // '+', optional otherwise.
      if (c != '+') PopUtf8Char(&cur);
      flush();
      if (c == '{') {
        const size_t close = p.find('}', i);
        if (close == std::string_view::npos) return {};
        i = close;
      }
      continue;
    }
    if (depth > 0) continue;
    cur.push_back(c);
  }
  flush();
  return best;
}

// ---- Value compilation -------------------------------------------------------

class ItemCompiler {
 public:
  ItemCompiler(CompileEnv& env, Namespace ns, CompileIssue* issue)
      : env_(env), ns_(ns), issue_(issue) {}

  bool Fail(const YAML::Node& at, std::string text, bool unsupported = false) {
    issue_->line = LineOf(at);
    issue_->column = ColumnOf(at);
    issue_->text = std::move(text);
    issue_->unsupported = unsupported;
    return false;
  }

  bool ParseModifiers(const YAML::Node& key_node, const std::vector<std::string>& names,
                      Modifiers* m) {
    const std::string field = current_field_;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      auto set_op = [&](StrOp op) {
        if (!m->str_op_name.empty() && m->str_op_name != n) {
          return Fail(key_node, "modifiers '" + m->str_op_name + "' and '" + n +
                                    "' cannot be combined on " + Quote(field) +
                                    "; use one, or write a wildcard value ('abc*xyz')");
        }
        m->str_op = op;
        m->str_op_name = n;
        return true;
      };
      auto set_cmp = [&](CmpOp op) {
        if (m->has_cmp) {
          return Fail(key_node, "only one of gt, gte, lt, lte may be used on " + Quote(field) +
                                    "; for a range write two selections joined by 'and'");
        }
        m->has_cmp = true;
        m->cmp = op;
        return true;
      };
      auto set_time = [&](TimePart p) {
        if (m->time_part != TimePart::kNone) {
          return Fail(key_node,
                      "only one time modifier (minute, hour, ...) may be used on " + Quote(field));
        }
        m->time_part = p;
        return true;
      };
      bool ok = true;
      if (n == "contains") {
        ok = set_op(StrOp::kContains);
      } else if (n == "startswith") {
        ok = set_op(StrOp::kPrefix);
      } else if (n == "endswith") {
        ok = set_op(StrOp::kSuffix);
      } else if (n == "all") {
        m->all = true;
      } else if (n == "cased") {
        m->cased = true;
      } else if (n == "neq") {
        m->neq = true;
      } else if (n == "exists") {
        m->exists = true;
      } else if (n == "cidr") {
        m->cidr = true;
      } else if (n == "re") {
        m->re = true;
      } else if (n == "i" || n == "m" || n == "s") {
        if (!m->re) {
          return Fail(key_node, "modifier '" + n + "' is a sub-modifier of 're'; write '" + field +
                                    "|re|" + n + "'");
        }
        (n == "i" ? m->re_i : n == "m" ? m->re_m : m->re_s) = true;
      } else if (n == "gt") {
        ok = set_cmp(CmpOp::kGt);
      } else if (n == "gte") {
        ok = set_cmp(CmpOp::kGte);
      } else if (n == "lt") {
        ok = set_cmp(CmpOp::kLt);
      } else if (n == "lte") {
        ok = set_cmp(CmpOp::kLte);
      } else if (n == "fieldref") {
        m->fieldref = true;
      } else if (n == "expand") {
        m->expand = true;
      } else if (n == "base64") {
        m->transforms.push_back(Transform::kBase64);
      } else if (n == "base64offset") {
        m->transforms.push_back(Transform::kBase64Offset);
      } else if (n == "utf16le" || n == "wide") {
        m->transforms.push_back(Transform::kUtf16Le);
      } else if (n == "utf16be") {
        m->transforms.push_back(Transform::kUtf16Be);
      } else if (n == "utf16") {
        m->transforms.push_back(Transform::kUtf16);
      } else if (n == "windash") {
        m->transforms.push_back(Transform::kWindash);
      } else if (n == "minute") {
        ok = set_time(TimePart::kMinute);
      } else if (n == "hour") {
        ok = set_time(TimePart::kHour);
      } else if (n == "day") {
        ok = set_time(TimePart::kDay);
      } else if (n == "week") {
        ok = set_time(TimePart::kWeek);
      } else if (n == "month") {
        ok = set_time(TimePart::kMonth);
      } else if (n == "year") {
        ok = set_time(TimePart::kYear);
      } else if (n.empty()) {
        return Fail(key_node, "empty modifier in " + Quote(field + "|") + " (two '|' in a row?)");
      } else {
        return Fail(key_node, "unknown value modifier " + Quote(n) + " on " + Quote(field) +
                                  "; supported: " + std::string(kSupportedModifiers));
      }
      if (!ok) return false;
    }
    // Combinations that make no sense.
    const bool type_mod = m->re || m->cidr || m->has_cmp || m->exists || m->fieldref;
    const int type_count = m->re + m->cidr + m->has_cmp + m->exists + m->fieldref;
    if (type_count > 1) {
      return Fail(key_node,
                  "modifiers re, cidr, gt/gte/lt/lte, exists and fieldref exclude each other on " +
                      Quote(field));
    }
    if ((m->re || m->cidr || m->has_cmp || m->exists) && !m->str_op_name.empty()) {
      return Fail(key_node, "'" + m->str_op_name + "' cannot be combined with " +
                                (m->re ? "'re' (put '.*' in the expression instead)"
                                       : "a type modifier (re, cidr, gt, exists)") +
                                " on " + Quote(field));
    }
    if (type_mod && !m->transforms.empty() && !m->fieldref) {
      return Fail(key_node,
                  "encoding modifiers (base64, utf16, windash) only apply to plain string values, "
                  "not with re/cidr/gt/exists on " +
                      Quote(field));
    }
    if (m->fieldref && !m->transforms.empty()) {
      return Fail(key_node,
                  "fieldref cannot be combined with encoding modifiers on " + Quote(field));
    }
    if (m->exists && (m->all || m->neq)) {
      return Fail(key_node, "'exists' takes no other modifiers (" + Quote(field) + ")");
    }
    if (m->time_part != TimePart::kNone &&
        (!m->str_op_name.empty() || m->re || m->cidr || m->fieldref || !m->transforms.empty())) {
      return Fail(key_node,
                  "time modifiers (minute, hour, ...) only combine with numeric comparisons (gt, "
                  "gte, lt, lte) on " +
                      Quote(field));
    }
    return true;
  }

  bool ResolveFieldInfo(const YAML::Node& key_node, std::string_view name, FieldInfo* info) {
    std::string error;
    info->name = std::string(name);
    if (name.empty()) {
      info->keyword = true;
      if (!env_.fields->KeywordField(ns_, &info->ref, &error)) {
        return Fail(key_node, error, /*unsupported=*/true);
      }
      return true;
    }
    if (!env_.fields->Resolve(ns_, name, &info->ref, &error)) return Fail(key_node, error);
    if (!info->ref.extra()) {
      info->builtin = true;
      info->type = TypeOfBuiltin(static_cast<FieldId>(info->ref.id));
    }
    return true;
  }

  // Placeholder expansion: every %name% replaced by each of its values.
  bool Expand(const YAML::Node& at, const std::string& text, std::vector<std::string>* out) {
    std::vector<std::string> acc = {""};
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '%') {
        for (auto& a : acc) a.push_back('%');
        ++i;
        continue;
      }
      if (text[i] != '%') {
        for (auto& a : acc) a.push_back(text[i]);
        continue;
      }
      const size_t end = text.find('%', i + 1);
      if (end == std::string::npos) {
        for (auto& a : acc) a.push_back('%');
        continue;
      }
      const std::string name = text.substr(i + 1, end - i - 1);
      auto it = env_.options->placeholders.find(name);
      if (it == env_.options->placeholders.end()) {
        it = env_.options->placeholders.find("%" + name + "%");
      }
      if (it == env_.options->placeholders.end() || it->second.empty()) {
        return Fail(at,
                    "placeholder %" + name +
                        "% has no value; define it in the placeholders of the rule configuration",
                    /*unsupported=*/true);
      }
      std::vector<std::string> next;
      for (const auto& a : acc) {
        for (const auto& v : it->second) next.push_back(a + v);
      }
      if (next.size() > kMaxExpandedValues)
        return Fail(at, "placeholder expansion yields too many values");
      acc = std::move(next);
      i = end;
    }
    *out = std::move(acc);
    return true;
  }

  // A string pattern with the operator's implied wildcards, as a matcher.
  ValueMatcher Classify(std::vector<PatternChar> p, bool lead, bool trail, bool cased) {
    size_t b = 0;
    while (b < p.size() && p[b].kind == PatternChar::kStar) {
      lead = true;
      ++b;
    }
    size_t e = p.size();
    while (e > b && p[e - 1].kind == PatternChar::kStar) {
      trail = true;
      --e;
    }
    std::vector<PatternChar> middle(p.begin() + static_cast<long>(b),
                                    p.begin() + static_cast<long>(e));
    ValueMatcher m;
    m.kind = MatchKind::kString;
    m.cased = cased;
    if (!HasWildcards(middle)) {
      m.text = PatternText(middle);
      if (!cased) m.text = FoldCase(m.text);
      if (m.text.empty() && (lead || trail)) {
        m.str_op = StrOp::kAny;
      } else if (lead && trail) {
        m.str_op = StrOp::kContains;
      } else if (lead) {
        m.str_op = StrOp::kSuffix;
      } else if (trail) {
        m.str_op = StrOp::kPrefix;
      } else {
        m.str_op = StrOp::kEq;
      }
      return m;
    }
    std::vector<PatternChar> full;
    if (lead) full.push_back({PatternChar::kStar, '*'});
    full.insert(full.end(), middle.begin(), middle.end());
    if (trail) full.push_back({PatternChar::kStar, '*'});
    m.str_op = StrOp::kGlob;
    m.text = PatternText(full);
    m.glob = Glob(full, cased);
    return m;
  }

  bool CompileValue(const YAML::Node& at, const FieldInfo& f, const Modifiers& mods,
                    const Scalar& v, std::vector<ValueMatcher>* out) {
    const std::string& field = f.keyword ? std::string("keywords") : f.name;
    if (v.kind == Scalar::Kind::kNull) {
      if (mods.exists || mods.re || mods.cidr || mods.has_cmp || mods.fieldref ||
          !mods.str_op_name.empty() || !mods.transforms.empty()) {
        return Fail(at, "null (field absent) takes no modifiers on " + Quote(field));
      }
      if (f.keyword) return Fail(at, "a keyword cannot be null");
      ValueMatcher m;
      m.kind = MatchKind::kNull;
      out->push_back(std::move(m));
      return true;
    }
    if (mods.exists) {
      bool want;
      if (v.kind == Scalar::Kind::kBool) {
        want = v.boolean;
      } else if (EqualsOp(v.text, "true", false) || EqualsOp(v.text, "false", false)) {
        want = EqualsOp(v.text, "true", false);
      } else {
        return Fail(at, Quote(field + "|exists") + " takes true or false, not " + Quote(v.text));
      }
      ValueMatcher m;
      m.kind = MatchKind::kExists;
      m.want = want;
      out->push_back(std::move(m));
      return true;
    }
    if (mods.fieldref) {
      ValueMatcher m;
      m.kind = MatchKind::kFieldRef;
      m.cased = mods.cased;
      m.str_op = mods.str_op_name.empty() ? StrOp::kEq : mods.str_op;
      std::string error;
      if (!env_.fields->Resolve(ns_, v.text, &m.ref, &error)) {
        return Fail(at, "fieldref: " + error);
      }
      m.text = v.text;
      out->push_back(std::move(m));
      return true;
    }
    if (mods.re) {
      // Sub-modifiers become RE2's inline flags; without them matching is
      // case-sensitive (Sigma's default), and (?i) in the value still works.
      std::string flags;
      if (mods.re_i) flags += 'i';
      if (mods.re_m) flags += 'm';
      if (mods.re_s) flags += 's';
      const std::string pattern = flags.empty() ? v.text : "(?" + flags + ")" + v.text;
      RE2::Options o;
      o.set_log_errors(false);
      RE2 probe(pattern, o);
      if (!probe.ok()) {
        return Fail(at, "regular expression " + Quote(v.text) + " on " + Quote(field) +
                            " is not valid RE2: " + probe.error() +
                            " (RE2 has no lookaround or backreferences)");
      }
      RegexSpec spec;
      spec.pattern = pattern;
      spec.case_insensitive = mods.re_i;
      spec.multi_line = mods.re_m;
      spec.dot_nl = mods.re_s;
      ValueMatcher m;
      m.kind = MatchKind::kRegex;
      m.regex = static_cast<int>(env_.regexes->size());
      m.text = v.text;
      bool fold = false;
      m.prefilter = RequiredLiterals(pattern, &fold);
      m.prefilter_cased = !fold;
      env_.regexes->push_back(std::move(spec));
      out->push_back(std::move(m));
      return true;
    }
    if (mods.cidr) {
      if (f.builtin && f.type != BuiltinType::kIp) {
        return Fail(at, "'cidr' needs an IP field; " + Quote(field) +
                            " is not one (src.ip and dst.ip are)");
      }
      auto net = Cidr::Parse(v.text);
      if (!net) {
        return Fail(at,
                    Quote(v.text) + " is not a network; write it as 10.0.0.0/8 or 2001:db8::/32");
      }
      ValueMatcher m;
      m.kind = MatchKind::kCidr;
      m.cidr = *net;
      m.text = v.text;
      out->push_back(std::move(m));
      return true;
    }
    if (mods.has_cmp || mods.time_part != TimePart::kNone) {
      double number = 0;
      if (!NumericValue(at, f, mods, v, &number)) return false;
      ValueMatcher m;
      m.kind = MatchKind::kNumber;
      m.cmp = mods.has_cmp ? mods.cmp : CmpOp::kEq;
      m.number = number;
      m.text = FoldCase(v.text);
      out->push_back(std::move(m));
      return true;
    }
    const bool string_mods = !mods.str_op_name.empty() || !mods.transforms.empty() || mods.expand;
    if (!string_mods && !f.keyword) {
      // Typed plain values.
      if (v.kind == Scalar::Kind::kBool || (f.builtin && f.type == BuiltinType::kBool)) {
        bool want;
        if (v.kind == Scalar::Kind::kBool) {
          want = v.boolean;
        } else if (EqualsOp(v.text, "true", false) || EqualsOp(v.text, "false", false)) {
          want = EqualsOp(v.text, "true", false);
        } else {
          return Fail(at, Quote(field) + " is true or false, not " + Quote(v.text));
        }
        if (f.builtin && f.type != BuiltinType::kBool && f.type != BuiltinType::kString) {
          return Fail(at, Quote(field) +
                              " is not a boolean field; remove the quotes or compare it with a " +
                              std::string(f.type == BuiltinType::kIp ? "address" : "number"));
        }
        ValueMatcher m;
        m.kind = MatchKind::kBool;
        m.want = want;
        m.text = want ? "true" : "false";
        out->push_back(std::move(m));
        return true;
      }
      const bool numeric_field =
          f.builtin && (f.type == BuiltinType::kInt || f.type == BuiltinType::kDouble ||
                        f.type == BuiltinType::kTime);
      if (v.kind == Scalar::Kind::kInt || v.kind == Scalar::Kind::kFloat ||
          (numeric_field && !HasWildcards(ParsePlainValue(v.text)))) {
        double number = 0;
        if (!NumericValue(at, f, mods, v, &number)) return false;
        ValueMatcher m;
        m.kind = MatchKind::kNumber;
        m.cmp = CmpOp::kEq;
        m.number = number;
        m.text = FoldCase(v.text);
        if (f.builtin && f.type == BuiltinType::kIp) {
          return Fail(at, Quote(field) + " is an address; " + Quote(v.text) + " is not");
        }
        out->push_back(std::move(m));
        return true;
      }
      if (f.builtin && f.type == BuiltinType::kIp) {
        const auto p = ParsePlainValue(v.text);
        if (!HasWildcards(p)) {
          auto net = Cidr::Parse(v.text);
          if (!net || v.text.find('/') != std::string::npos) {
            return Fail(at, Quote(v.text) + " is not an IP address; for a network use " +
                                Quote(field + "|cidr"));
          }
          ValueMatcher m;
          m.kind = MatchKind::kCidr;
          m.cidr = *net;
          m.text = v.text;
          out->push_back(std::move(m));
          return true;
        }
      }
      if (f.builtin && f.type == BuiltinType::kEnum) {
        const auto p = ParsePlainValue(v.text);
        if (!HasWildcards(p) && !ValidEnumValue(static_cast<FieldId>(f.ref.id), v.text)) {
          return Fail(at, Quote(v.text) + " is not a value of " + Quote(field) + "; it is one of " +
                              EnumValues(static_cast<FieldId>(f.ref.id)));
        }
      }
    }
    if (f.builtin && f.type == BuiltinType::kBool) {
      return Fail(at, "string modifiers do not apply to the boolean field " + Quote(field));
    }
    // String values.
    std::vector<std::string> texts;
    if (mods.expand) {
      if (!Expand(at, v.text, &texts)) return false;
    } else {
      texts.push_back(v.text);
    }
    const bool lead = f.keyword || mods.str_op == StrOp::kContains || mods.str_op == StrOp::kSuffix;
    const bool trail =
        f.keyword || mods.str_op == StrOp::kContains || mods.str_op == StrOp::kPrefix;
    if (!mods.encodes()) {
      for (const std::string& t : texts) {
        std::vector<std::string> variants = {t};
        for (Transform tr : mods.transforms) {
          (void)tr;  // only windash here
          std::vector<std::string> next;
          for (const auto& s : variants) {
            for (auto& w : Windash(s)) next.push_back(std::move(w));
          }
          variants = std::move(next);
        }
        for (const auto& s : variants) {
          out->push_back(Classify(ParsePlainValue(s), lead, trail, mods.cased));
        }
        if (out->size() > kMaxExpandedValues)
          return Fail(at, "value list of " + Quote(field) + " is too long");
      }
      return true;
    }
    // Encodings work on the literal bytes: wildcards make no sense there.
    for (const std::string& t : texts) {
      const auto p = ParsePlainValue(t);
      if (HasWildcards(p)) {
        return Fail(at, "wildcards cannot be combined with base64/utf16 modifiers on " +
                            Quote(field) + "; use '|contains' instead of '*'");
      }
      std::vector<std::string> variants = {PatternText(p)};
      for (Transform tr : mods.transforms) {
        std::vector<std::string> next;
        for (const auto& s : variants) {
          switch (tr) {
            case Transform::kBase64:
              next.push_back(Base64(s));
              break;
            case Transform::kBase64Offset:
              for (auto& o : Base64Offsets(s)) next.push_back(std::move(o));
              break;
            case Transform::kUtf16Le:
              next.push_back(Utf16(s, false, false));
              break;
            case Transform::kUtf16Be:
              next.push_back(Utf16(s, true, false));
              break;
            case Transform::kUtf16:
              next.push_back(Utf16(s, false, true));
              break;
            case Transform::kWindash:
              for (auto& w : Windash(s)) next.push_back(std::move(w));
              break;
          }
        }
        variants = std::move(next);
      }
      // Encoded text is matched exactly as produced (base64 is case-sensitive).
      const bool offset = std::find(mods.transforms.begin(), mods.transforms.end(),
                                    Transform::kBase64Offset) != mods.transforms.end();
      for (const auto& s : variants) {
        std::vector<PatternChar> lit;
        for (char c : s) lit.push_back({PatternChar::kLiteral, c});
        out->push_back(Classify(std::move(lit), lead || offset, trail || offset, /*cased=*/true));
      }
    }
    return true;
  }

  bool NumericValue(const YAML::Node& at, const FieldInfo& f, const Modifiers& mods,
                    const Scalar& v, double* number) {
    const std::string& field = f.name;
    if (f.builtin && mods.time_part == TimePart::kNone &&
        (f.type == BuiltinType::kString || f.type == BuiltinType::kEnum ||
         f.type == BuiltinType::kBool || f.type == BuiltinType::kIp) &&
        mods.has_cmp) {
      return Fail(at, Quote(field) +
                          " is not a number; gt/gte/lt/lte need a numeric field such as bytes or "
                          "profile.read_bytes_24h");
    }
    if (v.kind == Scalar::Kind::kInt || v.kind == Scalar::Kind::kFloat) {
      *number = v.number;
      return true;
    }
    if (ParseDouble(v.text, number)) return true;
    if (f.builtin && f.type == BuiltinType::kTime && mods.time_part == TimePart::kNone) {
      if (auto t = ParseIso8601(v.text)) {
        *number = static_cast<double>(*t);
        return true;
      }
      return Fail(at, Quote(v.text) + " is not a time; write 2025-01-31T12:00:00Z");
    }
    return Fail(at,
                Quote(v.text) + " is not a number (" + Quote(field) + " is compared numerically)");
  }

  static bool ValidEnumValue(FieldId id, std::string_view s) {
    std::string folded = FoldCase(s);
    switch (id) {
      case FieldId::kKind:
        return ParseKind(folded).has_value();
      case FieldId::kAction:
        return ParseAction(folded).has_value();
      case FieldId::kOutcome:
        return ParseOutcome(folded).has_value();
      default:
        return true;
    }
  }

  static std::string EnumValues(FieldId id) {
    std::string out;
    auto add = [&](std::string_view n) {
      if (n.empty()) return;
      if (!out.empty()) out += ", ";
      out += n;
    };
    switch (id) {
      case FieldId::kKind:
        for (int i = 1; i <= 4; ++i) add(KindName(static_cast<Kind>(i)));
        break;
      case FieldId::kAction:
        for (int i = 1; i <= 8; ++i) add(ActionName(static_cast<Action>(i)));
        break;
      case FieldId::kOutcome:
        for (int i = 1; i <= 2; ++i) add(OutcomeName(static_cast<Outcome>(i)));
        break;
      default:
        break;
    }
    return out;
  }

  // One `field|mods: value(s)` entry.
  bool CompileItem(const YAML::Node& key_node, const std::string& key, const YAML::Node& value,
                   FieldTest* out) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      const size_t bar = key.find('|', start);
      parts.push_back(
          key.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    current_field_ = parts[0];
    FieldInfo info;
    if (!ResolveFieldInfo(key_node, parts[0], &info)) return false;
    Modifiers mods;
    if (!ParseModifiers(key_node, std::vector<std::string>(parts.begin() + 1, parts.end()),
                        &mods)) {
      return false;
    }
    return CompileValues(key_node, info, mods, value, out);
  }

  bool CompileValues(const YAML::Node& at, const FieldInfo& info, const Modifiers& mods,
                     const YAML::Node& value, FieldTest* out) {
    out->field = info.ref;
    out->all = mods.all;
    out->negate = mods.neq;
    out->time_part = mods.time_part;
    if (mods.time_part != TimePart::kNone && info.builtin && info.type != BuiltinType::kTime) {
      return Fail(
          at, "time modifiers need a time field; " + Quote(info.name) + " is not one (time is)");
    }
    std::vector<YAML::Node> items;
    if (value.IsSequence()) {
      if (value.size() == 0) {
        return Fail(at, "the value list of " + Quote(info.keyword ? "keywords" : info.name) +
                            " is empty; give at least one value");
      }
      for (const auto& item : value) items.push_back(item);
    } else {
      items.push_back(value);
    }
    for (const YAML::Node& item : items) {
      if (item.IsMap() || item.IsSequence()) {
        return Fail(item.IsDefined() ? item : at,
                    "values of " + Quote(info.keyword ? "keywords" : info.name) +
                        " must be plain values (string, number, boolean or null), not a " +
                        (item.IsMap() ? "map" : "list"));
      }
      if (!CompileValue(item.IsNull() && item.Mark().is_null() ? at : item, info, mods,
                        ReadScalar(item), &out->values)) {
        return false;
      }
    }
    if (mods.exists && out->values.size() != 1) {
      return Fail(at, "'exists' takes one value, true or false");
    }
    return true;
  }

  bool CompileKeywords(const YAML::Node& at, const YAML::Node& values, FieldTest* out) {
    current_field_ = "keywords";
    FieldInfo info;
    if (!ResolveFieldInfo(at, "", &info)) return false;
    return CompileValues(at, info, Modifiers{}, values, out);
  }

 private:
  CompileEnv& env_;
  Namespace ns_;
  CompileIssue* issue_;
  std::string current_field_;
};

bool CompileMapAlternative(ItemCompiler& items, const YAML::Node& map, std::vector<FieldTest>* out,
                           CompileIssue* issue, const std::string& name) {
  if (map.size() == 0) {
    issue->line = LineOf(map);
    issue->text = "search identifier '" + name + "' has an empty map";
    return false;
  }
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: the iterator's pair is a temporary
    if (!key.IsScalar()) {
      issue->line = LineOf(key);
      issue->text = "field names in '" + name + "' must be plain strings";
      return false;
    }
    FieldTest test;
    if (!items.CompileItem(key, key.Scalar(), it->second, &test)) return false;
    out->push_back(std::move(test));
  }
  return true;
}

bool MatchIdentPattern(std::string_view pattern, std::string_view name) {
  std::vector<PatternChar> p;
  for (char c : pattern) {
    p.push_back({c == '*' ? PatternChar::kStar : PatternChar::kLiteral, c});
  }
  return Glob(p, /*cased=*/true).Match(name);
}

class ConditionBuilder {
 public:
  ConditionBuilder(DetectionRule* rule) : rule_(rule) {}

  // Returns the node index, or -1 with `error` set.
  int Build(const ConditionAst& ast, ConditionError* error) {
    switch (ast.kind) {
      case ConditionAst::Kind::kIdent: {
        const int sel = FindSelection(ast.text);
        if (sel < 0) {
          error->column = ast.column;
          error->message =
              "refers to '" + ast.text +
              "', which is not a search identifier of this rule (defined: " + Defined() + ")";
          return -1;
        }
        return SelectionNode(sel);
      }
      case ConditionAst::Kind::kNot: {
        const int child = Build(ast.children[0], error);
        if (child < 0) return -1;
        CondNode n;
        n.kind = CondNode::Kind::kNot;
        n.children = {child};
        return Add(std::move(n));
      }
      case ConditionAst::Kind::kAnd:
      case ConditionAst::Kind::kOr: {
        CondNode n;
        n.kind = ast.kind == ConditionAst::Kind::kAnd ? CondNode::Kind::kAnd : CondNode::Kind::kOr;
        for (const auto& c : ast.children) {
          const int child = Build(c, error);
          if (child < 0) return -1;
          n.children.push_back(child);
        }
        return Add(std::move(n));
      }
      case ConditionAst::Kind::kOf: {
        std::vector<int> matched;
        for (size_t i = 0; i < rule_->selections.size(); ++i) {
          const std::string& name = rule_->selections[i].name;
          if (ast.text.empty() ? (name.empty() || name[0] != '_')
                               : MatchIdentPattern(ast.text, name)) {
            matched.push_back(static_cast<int>(i));
          }
        }
        const std::string what =
            (ast.of_count == 0 ? std::string("all") : std::to_string(ast.of_count)) + " of " +
            (ast.text.empty() ? std::string("them") : ast.text);
        if (matched.empty()) {
          error->column = ast.column;
          error->message =
              "'" + what + "' matches no search identifier (defined: " + Defined() + ")";
          return -1;
        }
        if (ast.of_count > static_cast<int>(matched.size())) {
          error->column = ast.column;
          error->message = "'" + what + "' needs more search identifiers than the " +
                           std::to_string(matched.size()) + " it matches";
          return -1;
        }
        if (matched.size() == 1) return SelectionNode(matched[0]);
        CondNode n;
        if (ast.of_count == 0 || ast.of_count == static_cast<int>(matched.size())) {
          n.kind = CondNode::Kind::kAnd;
        } else if (ast.of_count == 1) {
          n.kind = CondNode::Kind::kOr;
        } else {
          n.kind = CondNode::Kind::kAtLeast;
          n.at_least = ast.of_count;
        }
        for (int s : matched) n.children.push_back(SelectionNode(s));
        return Add(std::move(n));
      }
    }
    return -1;
  }

  int Add(CondNode n) {
    rule_->nodes.push_back(std::move(n));
    return static_cast<int>(rule_->nodes.size()) - 1;
  }

 private:
  int FindSelection(const std::string& name) const {
    for (size_t i = 0; i < rule_->selections.size(); ++i) {
      if (rule_->selections[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
  int SelectionNode(int sel) {
    CondNode n;
    n.kind = CondNode::Kind::kSelection;
    n.selection = sel;
    return Add(std::move(n));
  }
  std::string Defined() const {
    std::string out;
    for (const auto& s : rule_->selections) {
      if (!out.empty()) out += ", ";
      out += s.name;
    }
    return out;
  }

  DetectionRule* rule_;
};

// Rough cost of evaluating a test, to run cheap tests first. Conditions have
// no side effects, so AND and OR may be evaluated in any order.
int CostOf(const FieldTest& t) {
  int cost = t.field.extra() ? 2 : 1;
  for (const ValueMatcher& m : t.values) {
    switch (m.kind) {
      case MatchKind::kRegex:
        cost += 40;
        break;
      case MatchKind::kFieldRef:
        cost += 6;
        break;
      case MatchKind::kString:
        cost +=
            (m.str_op == StrOp::kContains || m.str_op == StrOp::kGlob || m.str_op == StrOp::kSuffix)
                ? 6
                : 2;
        break;
      default:
        cost += 1;
        break;
    }
  }
  return cost;
}

int OrderByCost(DetectionRule* rule, int node, std::vector<int>* memo) {
  if ((*memo)[node] >= 0) return (*memo)[node];
  CondNode& n = rule->nodes[node];
  int cost = 0;
  switch (n.kind) {
    case CondNode::Kind::kSelection: {
      Selection& sel = rule->selections[n.selection];
      for (auto& alt : sel.alternatives) {
        std::stable_sort(alt.begin(), alt.end(), [](const FieldTest& a, const FieldTest& b) {
          return CostOf(a) < CostOf(b);
        });
        for (const FieldTest& t : alt) cost += CostOf(t);
      }
      break;
    }
    default: {
      std::vector<std::pair<int, int>> children;
      for (int c : n.children) children.emplace_back(OrderByCost(rule, c, memo), c);
      if (n.kind == CondNode::Kind::kAnd || n.kind == CondNode::Kind::kOr) {
        std::stable_sort(children.begin(), children.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      n.children.clear();
      for (const auto& [c, index] : children) {
        cost += c;
        n.children.push_back(index);
      }
      break;
    }
  }
  (*memo)[node] = cost;
  return cost;
}

}  // namespace

Scalar ReadScalar(const YAML::Node& n) {
  Scalar s;
  if (!n.IsDefined() || n.IsNull()) {
    s.kind = Scalar::Kind::kNull;
    return s;
  }
  s.text = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  const std::string& t = s.text;
  if (t == "true" || t == "True" || t == "TRUE") {
    s.kind = Scalar::Kind::kBool;
    s.boolean = true;
    return s;
  }
  if (t == "false" || t == "False" || t == "FALSE") {
    s.kind = Scalar::Kind::kBool;
    s.boolean = false;
    return s;
  }
  if (t.empty()) return s;
  // Integers: [-+]?[0-9]+ ; floats: anything from_chars takes fully, with a
  // digit (so "inf"/"nan" stay strings).
  size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
  bool digits = i < t.size();
  for (size_t k = i; k < t.size(); ++k) {
    if (t[k] < '0' || t[k] > '9') {
      digits = false;
      break;
    }
  }
  if (digits) {
    int64_t v = 0;
    const char* b = t.data() + (t[0] == '+' ? 1 : 0);
    auto r = std::from_chars(b, t.data() + t.size(), v);
    if (r.ec == std::errc() && r.ptr == t.data() + t.size()) {
      s.kind = Scalar::Kind::kInt;
      s.number = static_cast<double>(v);
      return s;
    }
  }
  if (t.find_first_of("0123456789") != std::string::npos &&
      t.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    double d = 0;
    if (ParseDouble(t, &d)) {
      s.kind = Scalar::Kind::kFloat;
      s.number = d;
    }
  }
  return s;
}

BuiltinType TypeOfBuiltin(FieldId id) {
  switch (id) {
    case FieldId::kTime:
      return BuiltinType::kTime;
    case FieldId::kKind:
    case FieldId::kAction:
    case FieldId::kOutcome:
      return BuiltinType::kEnum;
    case FieldId::kSrcIp:
    case FieldId::kDstIp:
      return BuiltinType::kIp;
    case FieldId::kSrcPort:
    case FieldId::kDstPort:
    case FieldId::kBytes:
    case FieldId::kRecords:
    case FieldId::kProfileTenants24h:
    case FieldId::kProfileReadBytes1h:
    case FieldId::kProfileReadBytes24h:
    case FieldId::kProfileReadBytes7d:
    case FieldId::kProfileReadBaseline24h:
    case FieldId::kProfileFailures10m:
      return BuiltinType::kInt;
    case FieldId::kProfileIdleDays:
    case FieldId::kProfileReadRatio24h:
      return BuiltinType::kDouble;
    case FieldId::kSrcInternal:
    case FieldId::kDstExternal:
    case FieldId::kProfileLearning:
    case FieldId::kProfileSrcNew:
    case FieldId::kProfileHostNew:
    case FieldId::kProfileDstNew:
    case FieldId::kProfileTenantForeign:
      return BuiltinType::kBool;
    default:
      return BuiltinType::kString;
  }
}

bool FieldRegistry::Resolve(Namespace ns, std::string_view name, FieldRef* out,
                            std::string* error) {
  if (ns == Namespace::kCredwatch) {
    if (auto id = BuiltinFieldByName(name)) {
      out->id = static_cast<uint16_t>(*id);
      return true;
    }
    std::string known;
    for (int i = 0; i < static_cast<int>(FieldId::kNumBuiltin); ++i) {
      if (!known.empty()) known += ", ";
      known += BuiltinFieldName(static_cast<FieldId>(i));
    }
    *error = "unknown field '" + std::string(name) + "' for product: credwatch; the fields are " +
             known + " (CloudTrail's own names need logsource product: aws, service: cloudtrail)";
    return false;
  }
  if (name.empty() || name.size() > 256 || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string_view::npos ||
      name.find_first_of(" \t\r\n\"'") != std::string_view::npos) {
    *error = "'" + std::string(name) +
             "' is not a field path; write it as dotted names, e.g. userIdentity.type";
    return false;
  }
  auto& ids = ids_[static_cast<int>(ns)];
  auto it = ids.find(name);
  if (it != ids.end()) {
    out->id = it->second;
    return true;
  }
  if (paths_.size() >= 60000) {
    *error = "too many distinct source fields in the rule set";
    return false;
  }
  const auto id = static_cast<uint16_t>(kFirstExtraId + paths_.size());
  paths_.emplace_back(name);
  path_ns_.push_back(ns);
  ids.emplace(std::string(name), id);
  out->id = id;
  return true;
}

bool FieldRegistry::KeywordField(Namespace ns, FieldRef* out, std::string* error) {
  switch (ns) {
    case Namespace::kLinux:
      return Resolve(ns, "MESSAGE", out, error);
    case Namespace::kCloudTrail:
      *error =
          "keyword search over whole CloudTrail records is not supported; match a field instead "
          "(e.g. eventName)";
      return false;
    case Namespace::kCredwatch:
      *error =
          "keyword search needs a raw log message, which product: credwatch events do not have; "
          "match a field instead";
      return false;
  }
  return false;
}

bool CompileDetection(const YAML::Node& detection, Namespace ns, CompileEnv& env,
                      DetectionRule* out, CompileIssue* issue) {
  if (!detection.IsMap()) {
    issue->line = LineOf(detection);
    issue->text = "'detection' must be a map of search identifiers and a condition";
    return false;
  }
  ItemCompiler items(env, ns, issue);
  std::optional<YAML::Node> condition;
  for (auto it = detection.begin(); it != detection.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: the iterator's pair is a temporary
    const YAML::Node value = it->second;
    const std::string name = key.IsScalar() ? key.Scalar() : std::string();
    if (name == "condition") {
      condition.emplace(value);
      continue;
    }
    if (name == "timeframe") {
      issue->line = LineOf(key);
      issue->text =
          "'timeframe' belongs to the obsolete Sigma 1 aggregations; write a correlation rule with "
          "a timespan instead";
      issue->unsupported = true;
      return false;
    }
    if (name.empty()) {
      issue->line = LineOf(key);
      issue->text = "search identifiers must be plain names";
      return false;
    }
    for (const auto& s : out->selections) {
      if (s.name == name) {
        issue->line = LineOf(key);
        issue->text = "search identifier '" + name + "' is defined twice";
        return false;
      }
    }
    Selection sel;
    sel.name = name;
    if (value.IsMap()) {
      sel.alternatives.emplace_back();
      if (!CompileMapAlternative(items, value, &sel.alternatives.back(), issue, name)) return false;
    } else if (value.IsSequence()) {
      if (value.size() == 0) {
        issue->line = LineOf(key);
        issue->text = "search identifier '" + name + "' is an empty list";
        return false;
      }
      bool maps = false;
      bool scalars = false;
      for (const auto& item : value) {
        (item.IsMap() ? maps : scalars) = true;
        if (item.IsSequence()) {
          issue->line = LineOf(item);
          issue->text = "search identifier '" + name +
                        "' holds a list inside a list; use a list of maps or of values";
          return false;
        }
      }
      if (maps && scalars) {
        issue->line = LineOf(key);
        issue->text = "search identifier '" + name +
                      "' mixes maps and plain values; split it into two identifiers";
        return false;
      }
      if (maps) {
        for (const auto& item : value) {
          sel.alternatives.emplace_back();
          if (!CompileMapAlternative(items, item, &sel.alternatives.back(), issue, name))
            return false;
        }
      } else {
        sel.alternatives.emplace_back(1);
        if (!items.CompileKeywords(key, value, &sel.alternatives.back()[0])) return false;
      }
    } else if (value.IsScalar()) {
      sel.alternatives.emplace_back(1);
      if (!items.CompileKeywords(key, value, &sel.alternatives.back()[0])) return false;
    } else {
      issue->line = LineOf(key);
      issue->text = "search identifier '" + name + "' is empty";
      return false;
    }
    out->selections.push_back(std::move(sel));
  }
  if (!condition || !condition->IsDefined() || condition->IsNull()) {
    issue->line = LineOf(detection);
    issue->text = "the detection has no 'condition'; add e.g. 'condition: selection'";
    return false;
  }
  if (out->selections.empty()) {
    issue->line = LineOf(detection);
    issue->text = "the detection defines no search identifier";
    return false;
  }
  std::vector<YAML::Node> conditions;
  if (condition->IsSequence()) {
    for (const auto& c : *condition) conditions.push_back(c);
  } else {
    conditions.push_back(*condition);
  }
  ConditionBuilder builder(out);
  std::vector<int> roots;
  for (const YAML::Node& c : conditions) {
    if (!c.IsScalar()) {
      issue->line = LineOf(c);
      issue->text = "'condition' must be a string (or a list of strings)";
      return false;
    }
    ConditionAst ast;
    ConditionError error;
    int root = -1;
    if (ParseCondition(c.Scalar(), &ast, &error)) root = builder.Build(ast, &error);
    if (root < 0) {
      issue->line = LineOf(c);
      issue->column = ColumnOf(c) + (c.Tag() == "!" ? 1 : 0) + error.column - 1;
      issue->text = "condition: " + error.message;
      issue->unsupported = error.unsupported;
      return false;
    }
    roots.push_back(root);
  }
  if (roots.size() == 1) {
    out->root = roots[0];
  } else {
    CondNode n;
    n.kind = CondNode::Kind::kOr;
    n.children = roots;
    out->root = builder.Add(std::move(n));
  }
  std::vector<int> memo(out->nodes.size(), -1);
  OrderByCost(out, out->root, &memo);
  return true;
}

}  // namespace credwatch::rules::internal
