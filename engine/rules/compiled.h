// The compiled form of a rule set: what the loader produces and the
// evaluator runs. Immutable once built; shared read-only by every shard.
// Internal header.
#ifndef CREDWATCH_RULES_COMPILED_H_
#define CREDWATCH_RULES_COMPILED_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/ip_address.h"
#include "credwatch/rules.h"
#include "rules/string_match.h"

namespace re2 {
class RE2;
}

namespace credwatch::rules::internal {

inline constexpr uint16_t kFirstExtraId = static_cast<uint16_t>(FieldId::kFirstExtra);
inline constexpr int kNumFormats = static_cast<int>(Format::kMapping) + 1;

// A field of an event: a builtin FieldId, or an id >= kFirstExtraId that a
// decoder fills into Event::extras from the RuleSet's projection.
struct FieldRef {
  uint16_t id = 0;
  bool extra() const { return id >= kFirstExtraId; }
  friend bool operator==(FieldRef a, FieldRef b) { return a.id == b.id; }
};

inline FieldValue ReadField(const Event& e, FieldRef f) {
  if (f.extra()) {
    FieldValue v;
    for (int i = 0; i < e.num_extras; ++i) {
      if (e.extras[i].id == f.id) {
        v.type = FieldValue::Type::kString;
        v.str = e.extras[i].value;
        break;
      }
    }
    return v;
  }
  return GetField(e, static_cast<FieldId>(f.id));
}

// Bit i set: rules of Namespace(i) apply to events of this format.
uint8_t NamespaceMaskForFormat(std::string_view format);

enum class TimePart : uint8_t { kNone, kMinute, kHour, kDay, kWeek, kMonth, kYear };

enum class MatchKind : uint8_t {
  kString,    // str_op against the field's text
  kRegex,     // RE2 partial match (unanchored search)
  kCidr,      // IP field (or IP text) inside the network
  kNumber,    // cmp against `number`; equality falls back to `text`
  kBool,      // boolean field, or the text "true"/"false"
  kNull,      // field absent
  kExists,    // field present == want
  kFieldRef,  // str_op against another field of the same event
};
enum class StrOp : uint8_t { kEq, kPrefix, kSuffix, kContains, kGlob, kAny };
enum class CmpOp : uint8_t { kEq, kGt, kGte, kLt, kLte };

struct ValueMatcher {
  MatchKind kind = MatchKind::kString;
  StrOp str_op = StrOp::kEq;
  CmpOp cmp = CmpOp::kEq;
  bool cased = false;
  bool want = true;  // kBool value, kExists
  std::string text;  // literal, folded unless cased; kNumber: the YAML text
  Glob glob;
  double number = 0;
  Cidr cidr;
  int regex = -1;  // index into RuleSetData::regexes
  // kRegex: every match contains one of these literals (folded unless
  // prefilter_cased); checked before running the regex. Empty: none known.
  std::vector<std::string> prefilter;
  bool prefilter_cased = true;
  FieldRef ref;  // kFieldRef
};

// One `field|modifiers: values` entry of a selection.
struct FieldTest {
  FieldRef field;
  TimePart time_part = TimePart::kNone;
  bool all = false;     // `|all`: every value must match (else any)
  bool negate = false;  // `|neq`: present and no value matches
  std::vector<ValueMatcher> values;
};

// A search identifier: OR of alternatives, each an AND of field tests.
struct Selection {
  std::string name;
  std::vector<std::vector<FieldTest>> alternatives;
};

struct CondNode {
  enum class Kind : uint8_t { kSelection, kAnd, kOr, kNot, kAtLeast };
  Kind kind = Kind::kSelection;
  int selection = -1;
  int at_least = 0;
  std::vector<int> children;
};

struct RuleMeta {
  std::string id;
  std::string name;
  std::string title;
  std::string file;
  int line = 0;
  Severity severity = Severity::kMedium;
  bool level_given = false;
  std::vector<std::string> attacks;
  int info_index = -1;  // into RuleSetData::infos
};

struct DetectionRule {
  RuleMeta meta;
  Namespace ns = Namespace::kCredwatch;
  std::vector<Selection> selections;
  std::vector<CondNode> nodes;
  int root = -1;
};

enum class CorrelationType : uint8_t {
  kEventCount,
  kValueCount,
  kTemporal,
  kTemporalOrdered,
  kValueSum
};
std::string_view CorrelationTypeName(CorrelationType t);

// `condition: {gte: 10, lt: 100}`: all given bounds must hold.
struct CountCondition {
  enum Op { kGt, kGte, kLt, kLte, kEq, kNeq, kNumOps };
  std::array<bool, kNumOps> has{};
  std::array<double, kNumOps> value{};

  bool empty() const;
  bool Holds(double x) const;
  // lt/lte/eq/neq: can only be decided once the window is complete.
  bool NeedsCompleteWindow() const;
  // The largest count that can still change the outcome (caps state).
  double Ceiling() const;
  std::string ToString() const;
};

struct RuleRef {
  bool correlation = false;
  int index = -1;  // into detections or correlations
};

// Where a correlation reads a group-by (or value) field for one referenced rule.
struct ValueSource {
  FieldRef field;        // referenced detection: a field of the event
  int inner_group = -1;  // referenced correlation: index of its group-by value
};

struct CorrelationRule {
  RuleMeta meta;
  CorrelationType type = CorrelationType::kEventCount;
  std::vector<RuleRef> refs;
  std::vector<std::string> group_by;
  std::vector<std::vector<ValueSource>> group_sources;  // [ref][group]
  std::vector<ValueSource> value_sources;               // [ref]; value_count/value_sum
  std::string value_field;
  int64_t timespan_ns = 0;
  CountCondition condition;
  bool anchored = false;  // condition.NeedsCompleteWindow()
  bool generate = false;
  size_t distinct_cap = 0;  // value_count: values kept per group
};

// One instance of a correlation in the correlation forest. A correlation
// referenced by two others has two instances, each with its own state, so
// every instance has exactly one parent and one root (which decides the
// shard that owns its state).
struct CorrNode {
  int rule = -1;        // into correlations
  int parent = -1;      // node, or -1 for a root
  int parent_ref = -1;  // which ref of the parent this node is
  int root = -1;
  bool emit = false;  // emit its detections (first instance only)
};

// A detection feeds correlation node `node` as its ref `ref`.
struct BaseConsumer {
  int node = -1;
  int ref = -1;
  int routing = -1;  // RuleSetData::routing entry: the root key for this base rule
};

// Fields whose values form a root correlation's group key for events of
// one namespace; the routing hash is taken over them.
struct RoutingSpec {
  Namespace ns = Namespace::kCredwatch;
  std::vector<FieldRef> fields;
};

using FoldMap = absl::flat_hash_map<std::string, std::vector<uint32_t>, FoldHasher, FoldEq>;

// Rules by what they can match: a rule whose condition requires one field
// to equal one of a few values is listed under those values; the rest are
// "always" candidates of their namespace.
struct CandidateIndex {
  struct FieldIndex {
    Namespace ns = Namespace::kCredwatch;
    FieldRef field;
    std::string name;
    FoldMap by_value;
    // Builtin enum fields (kind, action, outcome): lists by enum value, no hashing.
    std::vector<std::vector<uint32_t>> by_enum;
  };
  std::vector<FieldIndex> fields;
  std::array<std::vector<uint32_t>, kNumNamespaces> always;
};

struct RegexSpec {
  std::string pattern;  // with the sub-modifiers as inline flags: "(?i)..."

  bool case_insensitive = false;
  bool multi_line = false;
  bool dot_nl = false;
};

// x-credwatch-tests: examples shipped in the rule file.
struct ExampleValue {
  enum class Kind : uint8_t { kString, kNumber, kBool, kNull, kJson };
  Kind kind = Kind::kString;
  std::string text;
};
struct ExampleEvent {
  int line = 0;
  std::vector<std::pair<std::string, ExampleValue>> fields;  // flattened "a.b"
};
struct RuleExample {
  std::string name;
  int line = 0;
  std::vector<ExampleEvent> events;
  int expect = 1;  // number of detections; -1 = at least one
};
struct RuleExamples {
  int info_index = -1;
  Namespace ns = Namespace::kCredwatch;  // of the rule, or its first base rule
  std::string file;
  std::vector<RuleExample> examples;
};

struct RuleSetData {
  std::vector<DetectionRule> detections;
  std::vector<CorrelationRule> correlations;
  std::vector<RuleInfo> infos;  // detections, then correlations
  std::vector<RegexSpec> regexes;

  std::vector<bool> detection_emit;
  std::vector<std::vector<BaseConsumer>> detection_consumers;
  std::vector<CorrNode> nodes;
  std::vector<RoutingSpec> routing;
  CandidateIndex index;

  std::array<Projection, kNumFormats> projections;
  std::vector<std::string> extra_paths;  // [id - kFirstExtraId]
  std::array<std::map<std::string, uint16_t, std::less<>>, kNumNamespaces> extra_ids;

  std::vector<RuleExamples> examples;
  CorrelationLimits limits;
};

// Matching one event against compiled detections. `regexes` are the
// evaluator's own RE2 objects, one per RuleSetData::regexes entry.
struct MatchContext {
  const Event& event;
  const std::unique_ptr<re2::RE2>* regexes;
  // Where each extras id sits in event.extras (index by id - kFirstExtraId;
  // kNoSlot = absent), filled once per event so no field read scans extras.
  const uint8_t* extra_slot;
  size_t num_slots;
};
inline constexpr uint8_t kNoSlot = 0xFF;

// The value of an extras field, or null when the event lacks it.
inline const std::string_view* ExtraValue(const MatchContext& ctx, FieldRef f) {
  const size_t i = static_cast<size_t>(f.id - kFirstExtraId);
  if (i >= ctx.num_slots || ctx.extra_slot[i] == kNoSlot) return nullptr;
  return &ctx.event.extras[ctx.extra_slot[i]].value;
}

inline FieldValue ReadField(const MatchContext& ctx, FieldRef f) {
  if (f.extra()) {
    FieldValue v;
    const size_t i = static_cast<size_t>(f.id - kFirstExtraId);
    if (i < ctx.num_slots && ctx.extra_slot[i] != kNoSlot) {
      v.type = FieldValue::Type::kString;
      v.str = ctx.event.extras[ctx.extra_slot[i]].value;
    }
    return v;
  }
  return GetField(ctx.event, static_cast<FieldId>(f.id));
}

bool MatchValue(const ValueMatcher& m, const FieldValue& v, const MatchContext& ctx);
bool EvalFieldTest(const FieldTest& t, const MatchContext& ctx);
bool EvalSelection(const Selection& s, const MatchContext& ctx);
bool EvalRule(const DetectionRule& r, const MatchContext& ctx);

// A field value as a number: ints and doubles, or a string that is wholly a
// finite decimal (a leading '+' allowed). False otherwise.
bool ParseNumber(std::string_view s, double* out);
bool NumberOf(const FieldValue& v, double* out);

// The text form of a field value for group keys and value_count: strings as
// they are, numbers in decimal, booleans "true"/"false". False when absent.
bool FieldText(const FieldValue& v, std::string* out);

// Stable hash (FNV-1a, the same in every process) of the values of `fields`
// in `e`, for routing correlation groups to shards. False if one is absent.
bool RoutingHash(const Event& e, const std::vector<FieldRef>& fields, uint64_t* out);

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_COMPILED_H_
