// Evaluation of compiled detections against one event. This is the hot path:
// no allocation, no locks, no virtual calls.
#include <charconv>
#include <cmath>

#include "credwatch/time_util.h"
#include "re2/re2.h"
#include "rules/compiled.h"

namespace credwatch::rules::internal {
namespace {

// The event's value as text for string operators. Numbers are formatted into
// `buf` (no allocation).
bool TextOf(const FieldValue& v, char (&buf)[32], std::string_view* out) {
  switch (v.type) {
    case FieldValue::Type::kString:
    case FieldValue::Type::kIp:
      *out = v.str;
      return true;
    case FieldValue::Type::kInt: {
      auto r = std::to_chars(buf, buf + sizeof(buf), v.i);
      *out = std::string_view(buf, r.ptr - buf);
      return true;
    }
    case FieldValue::Type::kDouble: {
      auto r = std::to_chars(buf, buf + sizeof(buf), v.d);
      *out = std::string_view(buf, r.ptr - buf);
      return true;
    }
    case FieldValue::Type::kBool:
      *out = v.i ? std::string_view("true") : std::string_view("false");
      return true;
    case FieldValue::Type::kAbsent:
      break;
  }
  return false;
}


bool StringOp(StrOp op, std::string_view text, const ValueMatcher& m) {
  switch (op) {
    case StrOp::kEq:
      return EqualsOp(text, m.text, m.cased);
    case StrOp::kPrefix:
      return StartsWithOp(text, m.text, m.cased);
    case StrOp::kSuffix:
      return EndsWithOp(text, m.text, m.cased);
    case StrOp::kContains:
      return ContainsOp(text, m.text, m.cased);
    case StrOp::kGlob:
      return m.glob.Match(text);
    case StrOp::kAny:
      return true;
  }
  return false;
}

// Case-insensitive string operators against a pattern taken from the event
// (fieldref): the pattern is not folded in advance.
bool DynamicStringOp(StrOp op, std::string_view text, std::string_view pattern, bool cased) {
  if (pattern.size() > text.size()) return false;
  FoldEq eq;
  auto same = [&](std::string_view a) { return cased ? a == pattern : eq(a, pattern); };
  switch (op) {
    case StrOp::kEq:
      return text.size() == pattern.size() && same(text);
    case StrOp::kPrefix:
      return same(text.substr(0, pattern.size()));
    case StrOp::kSuffix:
      return same(text.substr(text.size() - pattern.size()));
    case StrOp::kContains:
      for (size_t i = 0; i + pattern.size() <= text.size(); ++i) {
        if (same(text.substr(i, pattern.size()))) return true;
      }
      return false;
    default:
      return false;
  }
}

bool Compare(CmpOp op, double a, double b) {
  switch (op) {
    case CmpOp::kEq:
      return a == b;
    case CmpOp::kGt:
      return a > b;
    case CmpOp::kGte:
      return a >= b;
    case CmpOp::kLt:
      return a < b;
    case CmpOp::kLte:
      return a <= b;
  }
  return false;
}

struct Civil {
  int64_t y, m, d;
};

// Civil date from days since the epoch (Howard Hinnant's algorithm).
Civil CivilFromDays(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return Civil{yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

FieldValue TimePartOf(const FieldValue& v, TimePart part) {
  int64_t t;
  if (v.type == FieldValue::Type::kInt) {
    t = v.i;
  } else if (v.type == FieldValue::Type::kString) {
    auto parsed = ParseIso8601(v.str);
    if (!parsed) return FieldValue{};
    t = *parsed;
  } else {
    return FieldValue{};
  }
  const int64_t secs = FloorDiv(t, kNsPerSecond);
  const int64_t days = FloorDiv(secs, 86400);
  const int64_t rem = secs - days * 86400;
  const Civil c = CivilFromDays(days);
  FieldValue out;
  out.type = FieldValue::Type::kInt;
  switch (part) {
    case TimePart::kMinute:
      out.i = (rem / 60) % 60;
      break;
    case TimePart::kHour:
      out.i = rem / 3600;
      break;
    case TimePart::kDay:
      out.i = c.d;
      break;
    case TimePart::kMonth:
      out.i = c.m;
      break;
    case TimePart::kYear:
      out.i = c.y;
      break;
    case TimePart::kWeek: {
      // ISO-8601: the week of the Thursday of this week (Monday first).
      const int64_t weekday = ((days + 3) % 7 + 7) % 7;  // 0 = Monday
      const int64_t thursday = days - weekday + 3;
      const Civil tc = CivilFromDays(thursday);
      out.i = (thursday - DaysFromCivil(tc.y, 1, 1)) / 7 + 1;
      break;
    }
    case TimePart::kNone:
      return v;
  }
  return out;
}

bool PassesPrefilter(const ValueMatcher& m, std::string_view text) {
  if (m.prefilter.empty()) return true;
  for (const std::string& literal : m.prefilter) {
    if (ContainsOp(text, literal, m.prefilter_cased)) return true;
  }
  return false;
}

}  // namespace

bool ParseNumber(std::string_view s, double* out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*out);
}

bool NumberOf(const FieldValue& v, double* out) {
  switch (v.type) {
    case FieldValue::Type::kInt:
      *out = static_cast<double>(v.i);
      return true;
    case FieldValue::Type::kDouble:
      *out = v.d;
      return true;
    case FieldValue::Type::kString:
      return ParseNumber(v.str, out);
    default:
      return false;
  }
}

uint8_t NamespaceMaskForFormat(std::string_view format) {
  uint8_t mask = 1u << static_cast<int>(Namespace::kCredwatch);
  if (format == "cloudtrail") {
    mask |= 1u << static_cast<int>(Namespace::kCloudTrail);
  } else if (format == "journald" || format == "syslog") {
    mask |= 1u << static_cast<int>(Namespace::kLinux);
  }
  return mask;
}

bool MatchValue(const ValueMatcher& m, const FieldValue& v, const MatchContext& ctx) {
  switch (m.kind) {
    case MatchKind::kNull:
      return v.absent();
    case MatchKind::kExists:
      return v.absent() != m.want;
    default:
      break;
  }
  if (v.absent()) return false;
  char buf[32];
  std::string_view text;
  switch (m.kind) {
    case MatchKind::kString:
      return TextOf(v, buf, &text) && StringOp(m.str_op, text, m);
    case MatchKind::kRegex:
      return TextOf(v, buf, &text) && PassesPrefilter(m, text) &&
             RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *ctx.regexes[m.regex]);
    case MatchKind::kCidr: {
      if (v.type == FieldValue::Type::kIp) return m.cidr.Contains(v.ip);
      if (v.type != FieldValue::Type::kString) return false;
      auto ip = IpAddress::Parse(v.str);
      return ip && m.cidr.Contains(*ip);
    }
    case MatchKind::kNumber: {
      double x;
      if (NumberOf(v, &x)) return Compare(m.cmp, x, m.number);
      // A number in the rule against a field that is not numeric: equality
      // compares the text as written (`EventID: 4624` vs "4624 ").
      return m.cmp == CmpOp::kEq && TextOf(v, buf, &text) && EqualsOp(text, m.text, false);
    }
    case MatchKind::kBool:
      if (v.type == FieldValue::Type::kBool) return (v.i != 0) == m.want;
      if (v.type != FieldValue::Type::kString) return false;
      return EqualsOp(v.str, m.want ? "true" : "false", false);
    case MatchKind::kFieldRef: {
      const FieldValue other = ReadField(ctx, m.ref);
      if (other.absent()) return false;
      double a, b;
      if (m.str_op == StrOp::kEq && v.type != FieldValue::Type::kString &&
          other.type != FieldValue::Type::kString && NumberOf(v, &a) && NumberOf(other, &b)) {
        return a == b;
      }
      char buf2[32];
      std::string_view pattern;
      return TextOf(v, buf, &text) && TextOf(other, buf2, &pattern) &&
             DynamicStringOp(m.str_op, text, pattern, m.cased);
    }
    default:
      return false;
  }
}

namespace {

// MatchValue for a source field, which is text or absent. Kept apart from
// FieldValue so the hot path copies no struct.
bool MatchText(const ValueMatcher& m, const std::string_view* s, const MatchContext& ctx) {
  switch (m.kind) {
    case MatchKind::kNull:
      return s == nullptr;
    case MatchKind::kExists:
      return (s != nullptr) == m.want;
    default:
      break;
  }
  if (s == nullptr) return false;
  const std::string_view text = *s;
  switch (m.kind) {
    case MatchKind::kString:
      return StringOp(m.str_op, text, m);
    case MatchKind::kRegex:
      return PassesPrefilter(m, text) &&
             RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *ctx.regexes[m.regex]);
    case MatchKind::kCidr: {
      auto ip = IpAddress::Parse(text);
      return ip && m.cidr.Contains(*ip);
    }
    case MatchKind::kNumber: {
      double x;
      if (ParseNumber(text, &x)) return Compare(m.cmp, x, m.number);
      return m.cmp == CmpOp::kEq && EqualsOp(text, m.text, false);
    }
    case MatchKind::kBool:
      return EqualsOp(text, m.want ? "true" : "false", false);
    case MatchKind::kFieldRef: {
      FieldValue v;
      v.type = FieldValue::Type::kString;
      v.str = text;
      return MatchValue(m, v, ctx);
    }
    default:
      return false;
  }
}

template <typename Match>
bool Combine(const FieldTest& t, bool absent, Match&& match) {
  if (t.negate) {
    if (absent) return false;
    for (const ValueMatcher& m : t.values) {
      if (match(m)) return false;
    }
    return true;
  }
  if (t.all) {
    for (const ValueMatcher& m : t.values) {
      if (!match(m)) return false;
    }
    return true;
  }
  for (const ValueMatcher& m : t.values) {
    if (match(m)) return true;
  }
  return false;
}

}  // namespace

bool EvalFieldTest(const FieldTest& t, const MatchContext& ctx) {
  if (t.field.extra() && t.time_part == TimePart::kNone) {
    const std::string_view* s = ExtraValue(ctx, t.field);
    return Combine(t, s == nullptr, [&](const ValueMatcher& m) { return MatchText(m, s, ctx); });
  }
  FieldValue v = ReadField(ctx, t.field);
  if (t.time_part != TimePart::kNone && !v.absent()) v = TimePartOf(v, t.time_part);
  return Combine(t, v.absent(), [&](const ValueMatcher& m) { return MatchValue(m, v, ctx); });
}

bool EvalSelection(const Selection& s, const MatchContext& ctx) {
  for (const auto& alternative : s.alternatives) {
    bool all = true;
    for (const FieldTest& t : alternative) {
      if (!EvalFieldTest(t, ctx)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

namespace {

bool EvalNode(const DetectionRule& r, int index, const MatchContext& ctx) {
  const CondNode& n = r.nodes[index];
  switch (n.kind) {
    case CondNode::Kind::kSelection:
      return EvalSelection(r.selections[n.selection], ctx);
    case CondNode::Kind::kAnd:
      for (int c : n.children) {
        if (!EvalNode(r, c, ctx)) return false;
      }
      return true;
    case CondNode::Kind::kOr:
      for (int c : n.children) {
        if (EvalNode(r, c, ctx)) return true;
      }
      return false;
    case CondNode::Kind::kNot:
      return !EvalNode(r, n.children[0], ctx);
    case CondNode::Kind::kAtLeast: {
      int hits = 0;
      const int total = static_cast<int>(n.children.size());
      for (int i = 0; i < total; ++i) {
        if (EvalNode(r, n.children[i], ctx) && ++hits >= n.at_least) return true;
        if (hits + (total - i - 1) < n.at_least) return false;
      }
      return false;
    }
  }
  return false;
}

}  // namespace

bool EvalRule(const DetectionRule& r, const MatchContext& ctx) { return EvalNode(r, r.root, ctx); }

bool FieldText(const FieldValue& v, std::string* out) {
  char buf[32];
  std::string_view text;
  if (!TextOf(v, buf, &text)) return false;
  out->assign(text.data(), text.size());
  return true;
}

bool RoutingHash(const Event& e, const std::vector<FieldRef>& fields, uint64_t* out) {
  uint64_t h = 14695981039346656037ull;
  for (FieldRef f : fields) {
    const FieldValue v = ReadField(e, f);
    char buf[32];
    std::string_view text;
    if (!TextOf(v, buf, &text)) return false;
    for (char c : text) {
      h ^= static_cast<uint8_t>(c);
      h *= 1099511628211ull;
    }
    h ^= 0x1f;
    h *= 1099511628211ull;
  }
  *out = h;
  return true;
}

}  // namespace credwatch::rules::internal
