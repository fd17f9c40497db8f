// Sigma rules: loading, compiling and evaluating detection and correlation
// rules against normalized events (design.md, "Rules"; docs/rules.md is the
// user reference: supported features, field namespaces, limits, messages).
//
//   rules::LoadReport report;
//   auto set = rules::LoadRuleSet({"/etc/credwatch/rules"}, {}, &report);
//   if (!set.ok()) { std::cerr << set.status() << "\n"; return 1; }
//   decoder_options.projection = &(*set)->projection(Format::kCloudTrail);
//
//   rules::Evaluator eval(*set);  // one per shard thread
//   std::vector<Detection> out;
//   for (const Event& e : batch) eval.Process(e, &out);
//   eval.AdvanceWatermark(watermark_ns, &out);  // closes correlation windows
//
// Loading runs in three stages, each adding file:line messages to the report:
// read (files -> YAML documents), collect (documents -> rules by id and name)
// and compile (detections -> matchers and a candidate index; correlations ->
// resolved references, group-by fields and windows). The result is an
// immutable RuleSet that any number of threads may share.
#ifndef CREDWATCH_RULES_H_
#define CREDWATCH_RULES_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "credwatch/decoder.h"
#include "credwatch/detection.h"
#include "credwatch/event.h"
#include "credwatch/time_util.h"

namespace credwatch::rules {

namespace internal {
struct RuleSetData;
class EvaluatorState;
}  // namespace internal

// The field names a rule sees, picked by its `logsource`.
enum class Namespace : uint8_t {
  kCredwatch,   // product: credwatch. Normalized + profile.* fields, every format.
  kCloudTrail,  // product: aws, service: cloudtrail. CloudTrail's own field
                // paths ("eventName", "userIdentity.type"); format cloudtrail only.
  kLinux,       // product: linux (service sshd, auth, syslog or none). journald
                // field names ("MESSAGE", "SYSLOG_IDENTIFIER"); keywords search
                // MESSAGE; formats journald and syslog only.
};
inline constexpr int kNumNamespaces = 3;
std::string_view NamespaceName(Namespace ns);  // "credwatch", "aws/cloudtrail", "linux"

// Bounds on correlation state per Evaluator. Fixed at load time.
struct CorrelationLimits {
  // Groups (distinct group-by values) per correlation rule; when full, the
  // group closest to expiry is dropped (counted in EvaluatorStats). Default 100000.
  size_t max_groups_per_rule = 100'000;
  // Time points kept per group for sliding event_count / value_sum windows.
  // Beyond this the two closest points are merged (the merged point keeps the
  // later time, so the window errs towards firing). Default 256.
  size_t max_points_per_group = 256;
  // Distinct values kept per group for value_count. A condition needing more
  // is a load error. Default 10000.
  size_t max_distinct_values = 10'000;
  // Longest accepted `timespan`. Default 31 days.
  int64_t max_timespan_ns = 31 * kNsPerDay;
};

struct LoadOptions {
  // Any rule with an error fails the whole load (the caller keeps its old
  // rule set). When false the rule is skipped and reported. Default true.
  bool fail_on_error = true;
  // A rule that uses a feature credwatch does not support (another product,
  // value_avg, ...) fails the load instead of being skipped. Default false.
  bool fail_on_unsupported = false;
  // Values for `|expand` placeholders: "%Servers%" -> {"srv*", "db*"}
  // (names with or without the percent signs). Default empty: rules that use
  // a placeholder with no value are unsupported.
  std::map<std::string, std::vector<std::string>> placeholders;
  CorrelationLimits limits;
};

// One finding of the loader, tied to a place in a rule file.
struct LoadMessage {
  enum class Kind : uint8_t { kError, kUnsupported, kWarning };
  Kind kind = Kind::kError;
  std::string file;
  int line = 0;      // 1-based; 0 = the whole file
  int column = 0;    // 1-based; 0 = unknown
  std::string rule;  // title (or id) of the rule, if known
  std::string text;  // what is wrong and what to change

  // "rules/x.yml:12:9: error: rule 'T': unknown value modifier 'contians' ..."
  std::string ToString() const;
};

struct FileReport {
  enum class Result : uint8_t {
    kLoaded,       // every rule in the file loaded
    kUnsupported,  // no errors, but some rules were skipped as unsupported
    kError,        // at least one rule (or the file) has an error
  };
  std::string path;
  int rules_loaded = 0;
  int rules_unsupported = 0;
  int rules_failed = 0;
  std::vector<LoadMessage> messages;

  Result result() const;
};

struct LoadReport {
  std::vector<FileReport> files;     // in load order (paths sorted)
  std::vector<LoadMessage> general;  // about the set as a whole (warnings)

  int rules_loaded() const;
  int rules_unsupported() const;
  int rules_failed() const;
  bool ok() const { return rules_failed() == 0; }
  // All messages, one per line (LoadMessage::ToString).
  std::string ToString() const;
};

// What the loader made of one rule.
struct RuleInfo {
  std::string id;    // the rule's `id`, else its `name`, else file stem (#doc)
  std::string name;  // Sigma `name`, may be empty
  std::string title;
  std::string file;
  int line = 0;
  bool is_correlation = false;
  std::string correlation_type;          // "event_count", ... for correlations
  Namespace ns = Namespace::kCredwatch;  // detections only
  Severity severity = Severity::kMedium;
  std::vector<std::string> attacks;  // "T1078.004"
  // Whether its detections are emitted: false for rules referenced only by
  // correlations with `generate: false` (the Sigma default).
  bool emitted = true;
};

// A compiled, immutable set of rules. Thread-safe: share one RuleSet between
// all shards (publish it with an atomic shared_ptr swap on reload).
class RuleSet {
 public:
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;
  ~RuleSet();

  // Detection rules first (in load order), then correlations.
  const std::vector<RuleInfo>& rules() const;
  size_t num_detection_rules() const;
  size_t num_correlation_rules() const;

  // The source fields the loaded rules read in `format`, with the ids the
  // decoder stores them under in Event::extras: CloudTrail paths for
  // kCloudTrail, journald names for kJournald and kSyslog, empty otherwise.
  // Valid as long as the RuleSet.
  const Projection& projection(Format format) const;
  // The extras id of a source field path, if a loaded rule reads it.
  std::optional<uint16_t> FieldIdFor(Namespace ns, std::string_view path) const;

  // Multi-shard correlation (see ShardScope): writes the routing hashes of
  // the correlation group keys `e` can contribute to (at most `max`, deduped)
  // and returns how many. Send `e` to shard `hash % num_shards` for each. The
  // event's own owner shard (by credential) evaluates the stateless rules.
  int RoutingHashes(const Event& e, uint64_t* hashes, int max) const;

  // Internal: the compiled form, for the evaluator and tools.
  const internal::RuleSetData& data() const { return *data_; }
  explicit RuleSet(std::unique_ptr<internal::RuleSetData> data);

 private:
  std::unique_ptr<internal::RuleSetData> data_;
};

// Loads every *.yml / *.yaml file under `paths` (files, or directories walked
// recursively; sorted, so the result does not depend on directory order).
// Fails when a path does not exist or holds no rule file, when a file cannot
// be read, or when a rule has an error (unless !options.fail_on_error); the
// status message names the first errors with file:line, the report (if
// given) has all of them.
absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(const std::vector<std::string>& paths,
                                                           const LoadOptions& options = {},
                                                           LoadReport* report = nullptr);

// The same from text held in memory: `name` stands for the file in messages.
struct RuleSource {
  std::string name;
  std::string text;
};
absl::StatusOr<std::shared_ptr<const RuleSet>> CompileRuleSet(
    const std::vector<RuleSource>& sources, const LoadOptions& options = {},
    LoadReport* report = nullptr);

// Which part of the work one shard does for one event. The default (one
// shard, stateless on) evaluates everything.
struct ShardScope {
  bool stateless = true;  // emit single-event detections (the credential's shard)
  // Correlation state is kept here only for group keys whose routing hash
  // (RuleSet::RoutingHashes) % num_shards == shard.
  uint32_t shard = 0;
  uint32_t num_shards = 1;
};

struct EvaluatorOptions {
  // Emit detections of every rule, ignoring `generate: false` (rules test).
  bool emit_all = false;
  // Bound on the open correlation windows' memory (estimated, bytes; 0: only
  // CorrelationLimits). Past it, the windows that end first are dropped,
  // counted in EvaluatorStats::groups_over_budget. Durable state sets it
  // from memory_budget.
  size_t window_budget_bytes = 0;
};

struct EvaluatorStats {
  uint64_t events = 0;
  uint64_t candidates = 0;  // rules evaluated (after the index)
  uint64_t matches = 0;     // single-event rule matches
  uint64_t detections = 0;  // detections emitted (all kinds)
  uint64_t correlation_fires = 0;
  uint64_t groups = 0;            // live correlation groups now
  uint64_t groups_evicted = 0;    // dropped at max_groups_per_rule
  uint64_t groups_over_budget = 0;  // dropped at window_budget_bytes
  uint64_t group_bytes = 0;         // estimated bytes of the live groups now
  uint64_t skipped_no_group = 0;  // events lacking a group-by field
};

// Open correlation windows dropped before their end, summed over the
// evaluators a rule reload replaced and the one in force.
struct WindowsDropped {
  uint64_t limit = 0;   // EvaluatorStats::groups_evicted
  uint64_t budget = 0;  // EvaluatorStats::groups_over_budget
  void Add(const EvaluatorStats& s) {
    limit += s.groups_evicted;
    budget += s.groups_over_budget;
  }
  void Add(const WindowsDropped& o) {
    limit += o.limit;
    budget += o.budget;
  }
};

// Callbacks of Evaluator::SerializeChanges / RestoreChanges.
using StateRecordFn = std::function<void(std::string_view key, std::string_view value)>;
using StateKeyFn = std::function<void(std::string_view key)>;
using StateRecordVisitor = std::function<bool(std::string_view key, std::string_view value)>;
using StateRecordSource = std::function<void(const StateRecordVisitor& visit)>;

// Matches events against a RuleSet and keeps the correlation state of one
// shard. Not thread-safe: one Evaluator per shard thread. Matching a
// single-event rule allocates nothing unless it matches; the Detection is
// built only then. Output is deterministic: the same events in the same order
// give the same detections in the same order.
class Evaluator {
 public:
  explicit Evaluator(std::shared_ptr<const RuleSet> rules, EvaluatorOptions options = {});
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // Appends the detections `e` causes: one per matching emitted rule, then
  // any correlations it completes (inner before outer).
  void Process(const Event& e, std::vector<Detection>* out);
  void Process(const Event& e, const ShardScope& scope, std::vector<Detection>* out);

  // Event time has reached `t_ns` on every input: closes the correlation
  // windows that end before it (emitting those whose condition holds, e.g.
  // `lt`) and frees expired state. Call with INT64_MAX at end of input.
  void AdvanceWatermark(int64_t t_ns, std::vector<Detection>* out);

  EvaluatorStats stats() const;
  const RuleSet& rule_set() const { return *rules_; }

  // Durable state (engine/state, docs/state.md): appends the open
  // correlation windows in a versioned binary form, and restores them.
  // RestoreState is for an Evaluator that has processed nothing; it fails,
  // changing nothing, on damaged bytes (DataLoss) or bytes written for other
  // correlation rules (FailedPrecondition). Serialize, restore and go on
  // gives the same detections as going on without the round trip.
  void SerializeState(std::string* out) const;
  absl::Status RestoreState(std::string_view bytes);
  // A rule reload: an Evaluator of `rules` holding the open windows of
  // `old` when their correlation rules are the same (RestoreState accepts
  // them), else none; `*kept` (if given) says which.
  static std::unique_ptr<Evaluator> Succeeding(const Evaluator& old, std::shared_ptr<const RuleSet> rules,
                                               EvaluatorOptions options, bool* kept = nullptr);
  // Whether Succeeding keeps the windows of an Evaluator of `from` in one
  // of `to`.
  static bool WindowsCarryOver(std::shared_ptr<const RuleSet> from, std::shared_ptr<const RuleSet> to);

  // Incremental form of the same state, for a store of records: `header`
  // (the rules the groups belong to) and, through `put` / `del`, the
  // records changed or deleted since the last call (all records with
  // `all`), keyed by opaque keys. An open group has one record, and each
  // value of its blast radius and each evidence one more, written when it
  // is added, so a commit writes what its groups gained, not the groups
  // whole. The first call turns change tracking on (a few bytes per change
  // until the next call). RestoreChanges takes the header and every record
  // in key order (bytewise; via `records`, which calls its argument for
  // each until it returns false); same contract as RestoreState.
  void SerializeChanges(bool all, std::string* header, const StateRecordFn& put,
                        const StateKeyFn& del);
  absl::Status RestoreChanges(std::string_view header, const StateRecordSource& records);

 private:
  std::shared_ptr<const RuleSet> rules_;
  std::unique_ptr<internal::EvaluatorState> state_;
};

// `credwatch rules check PATH...`: loads, prints one line per file and the
// totals. Returns 0 when no rule has an error (unsupported rules are listed
// but do not fail unless `strict`), 1 otherwise.
int RunRulesCheck(const std::vector<std::string>& paths, std::ostream& out, bool strict = false);

// `credwatch rules test PATH...`: loads, then runs every rule's
// `x-credwatch-tests` examples (docs/rules.md) on a fresh Evaluator each and
// prints PASS/FAIL per example. Returns 0 when every example passes, 1 on a
// failure or load error.
int RunRulesTest(const std::vector<std::string>& paths, std::ostream& out);

}  // namespace credwatch::rules

#endif  // CREDWATCH_RULES_H_
