// The rule loader: read (files -> YAML documents), collect (documents ->
// rules by id and name), compile (detections, then correlations in
// dependency order) and link (emit flags, correlation forest, candidate
// index, projections). Every message carries file and line.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "common/json_writer.h"
#include "rules/compiled.h"
#include "rules/rule_compiler.h"

namespace credwatch::rules {
namespace internal {
namespace {

// Correlation forests larger than this are rejected (a DAG of correlations
// expands into one instance per path from a root).
constexpr size_t kMaxCorrelationNodes = 10'000;

// Index fields per namespace, most selective first.
const std::vector<std::vector<std::string>>& IndexFieldNames() {
  static const auto* names = new std::vector<std::vector<std::string>>{
      {"action", "kind", "outcome"},                                   // credwatch
      {"eventName", "eventSource", "eventType", "userIdentity.type"},  // cloudtrail
      {"SYSLOG_IDENTIFIER"},                                           // linux
  };
  return *names;
}

enum class RuleState : uint8_t { kPending, kCompiling, kLoaded, kUnsupported, kError };
enum class DocKind : uint8_t { kDetection, kCorrelation };

struct RawRule {
  int file = -1;
  int doc = 0;
  YAML::Node node;
  int line = 0;
  DocKind kind = DocKind::kDetection;
  std::string title;
  std::string id;
  std::string name;
  RuleState state = RuleState::kPending;
  std::string reason;
  int compiled = -1;
  Namespace ns = Namespace::kCredwatch;

  std::string Display() const {
    if (!title.empty()) return title;
    if (!id.empty()) return id;
    return name;
  }
};

std::string Lower(std::string s) {
  for (char& c : s) c = FoldChar(c);
  return s;
}

std::string ScalarOr(const YAML::Node& n, std::string_view key) {
  const YAML::Node v = n[std::string(key)];
  if (v.IsDefined() && v.IsScalar()) return v.Scalar();
  return std::string();
}

bool ParseSeverity(const std::string& level, Severity* out) {
  const std::string l = Lower(level);
  if (l == "informational") {
    *out = Severity::kInformational;
  } else if (l == "low") {
    *out = Severity::kLow;
  } else if (l == "medium") {
    *out = Severity::kMedium;
  } else if (l == "high") {
    *out = Severity::kHigh;
  } else if (l == "critical") {
    *out = Severity::kCritical;
  } else {
    return false;
  }
  return true;
}

// "attack.t1078.004" -> "T1078.004"; other tags give nothing.
std::optional<std::string> AttackTechnique(std::string_view tag) {
  std::string t = Lower(std::string(tag));
  if (t.rfind("attack.t", 0) != 0) return std::nullopt;
  std::string_view rest = std::string_view(t).substr(8);
  auto digits = [](std::string_view s, size_t n) {
    if (s.size() < n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (!digits(rest, 4)) return std::nullopt;
  if (rest.size() == 4) return "T" + std::string(rest);
  if (rest.size() == 8 && rest[4] == '.' && digits(rest.substr(5), 3))
    return "T" + std::string(rest);
  return std::nullopt;
}

// "10m" -> ns. Units s, m, h, d, w.
bool ParseTimespan(std::string_view s, int64_t* out) {
  if (s.size() < 2) return false;
  int64_t n = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size() - 1, n);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() - 1 || n <= 0) return false;
  int64_t unit;
  switch (s.back()) {
    case 's':
      unit = kNsPerSecond;
      break;
    case 'm':
      unit = kNsPerMinute;
      break;
    case 'h':
      unit = kNsPerHour;
      break;
    case 'd':
      unit = kNsPerDay;
      break;
    case 'w':
      unit = 7 * kNsPerDay;
      break;
    default:
      return false;
  }
  if (n > INT64_MAX / unit) return false;
  *out = n * unit;
  return true;
}

void AppendYamlJson(const YAML::Node& n, std::string* out, int depth = 0) {
  if (depth > 64) {
    out->append("null");
    return;
  }
  if (n.IsMap()) {
    out->push_back('{');
    bool first = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(it->first.IsScalar() ? it->first.Scalar() : std::string(), out);
      out->push_back(':');
      AppendYamlJson(it->second, out, depth + 1);
    }
    out->push_back('}');
    return;
  }
  if (n.IsSequence()) {
    out->push_back('[');
    bool first = true;
    for (const auto& item : n) {
      if (!first) out->push_back(',');
      first = false;
      AppendYamlJson(item, out, depth + 1);
    }
    out->push_back(']');
    return;
  }
  const Scalar s = ReadScalar(n);
  switch (s.kind) {
    case Scalar::Kind::kString:
      AppendJsonString(s.text, out);
      break;
    case Scalar::Kind::kInt:
    case Scalar::Kind::kFloat:
      out->append(s.text);
      break;
    case Scalar::Kind::kBool:
      out->append(s.boolean ? "true" : "false");
      break;
    case Scalar::Kind::kNull:
      out->append("null");
      break;
  }
}

void FlattenEvent(const YAML::Node& map, const std::string& prefix, ExampleEvent* out,
                  int depth = 0) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const YAML::Node v = it->second;  // a copy: the iterator's pair is a temporary
    ExampleValue value;
    if (v.IsMap() || v.IsSequence()) {
      value.kind = ExampleValue::Kind::kJson;
      AppendYamlJson(v, &value.text);
      out->fields.emplace_back(path, std::move(value));
      if (v.IsMap() && depth < 16) FlattenEvent(v, path, out, depth + 1);
      continue;
    }
    const Scalar s = ReadScalar(v);
    value.text = s.text;
    switch (s.kind) {
      case Scalar::Kind::kString:
        value.kind = ExampleValue::Kind::kString;
        break;
      case Scalar::Kind::kInt:
      case Scalar::Kind::kFloat:
        value.kind = ExampleValue::Kind::kNumber;
        break;
      case Scalar::Kind::kBool:
        value.kind = ExampleValue::Kind::kBool;
        value.text = s.boolean ? "true" : "false";
        break;
      case Scalar::Kind::kNull:
        value.kind = ExampleValue::Kind::kNull;
        break;
    }
    out->fields.emplace_back(path, std::move(value));
  }
}

class Loader {
 public:
  Loader(const LoadOptions& options, LoadReport* report) : options_(options), report_(report) {
    data_ = std::make_unique<RuleSetData>();
    data_->limits = options.limits;
    env_.options = &options_;
    env_.fields = &fields_;
    env_.regexes = &data_->regexes;
  }

  int AddFile(const std::string& path) {
    FileReport fr;
    fr.path = path;
    report_->files.push_back(std::move(fr));
    return static_cast<int>(report_->files.size()) - 1;
  }

  void FileError(int file, int line, int column, std::string text) {
    AddMessage(file, LoadMessage::Kind::kError, line, column, "", std::move(text));
    ++report_->files[file].rules_failed;
  }

  // Stage 1 and 2: read one file's documents and collect its rules.
  void AddSource(int file, const std::string& text) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
      FileError(file, e.mark.is_null() ? 0 : e.mark.line + 1,
                e.mark.is_null() ? 0 : e.mark.column + 1, "YAML syntax: " + e.msg);
      return;
    }
    int doc_index = 0;
    for (const YAML::Node& doc : docs) {
      const int this_doc = doc_index++;
      if (!doc.IsDefined() || doc.IsNull()) continue;
      try {
        Collect(file, this_doc, doc);
      } catch (const YAML::Exception& e) {
        FileError(file, e.mark.is_null() ? LineOf(doc) : e.mark.line + 1,
                  e.mark.is_null() ? 0 : e.mark.column + 1, "invalid rule: " + e.msg);
      }
    }
  }

  // Stages 3 and 4.
  std::unique_ptr<RuleSetData> Finish() {
    for (size_t i = 0; i < raws_.size(); ++i) {
      if (raws_[i].kind == DocKind::kDetection && raws_[i].state == RuleState::kPending) {
        Guarded(static_cast<int>(i), [&] { CompileDetectionRule(static_cast<int>(i)); });
      }
    }
    for (size_t i = 0; i < raws_.size(); ++i) {
      if (raws_[i].kind == DocKind::kCorrelation && raws_[i].state == RuleState::kPending) {
        std::vector<int> stack;
        CompileCorrelationRule(static_cast<int>(i), &stack);
      }
    }
    for (const RawRule& r : raws_) {
      FileReport& fr = report_->files[r.file];
      switch (r.state) {
        case RuleState::kLoaded:
          ++fr.rules_loaded;
          break;
        case RuleState::kUnsupported:
          ++fr.rules_unsupported;
          break;
        default:
          ++fr.rules_failed;
          break;
      }
    }
    Link();
    return std::move(data_);
  }

 private:
  void AddMessage(int file, LoadMessage::Kind kind, int line, int column, std::string rule,
                  std::string text) {
    LoadMessage m;
    m.kind = kind;
    m.file = report_->files[file].path;
    m.line = line;
    m.column = column;
    m.rule = std::move(rule);
    m.text = std::move(text);
    report_->files[file].messages.push_back(std::move(m));
  }

  void SetState(int r, RuleState state, int line, int column, const std::string& text) {
    RawRule& raw = raws_[r];
    raw.state = state;
    raw.reason = text;
    AddMessage(raw.file,
               state == RuleState::kUnsupported ? LoadMessage::Kind::kUnsupported
                                                : LoadMessage::Kind::kError,
               line ? line : raw.line, column, raw.Display(), text);
  }
  void Reject(int r, const CompileIssue& issue) {
    SetState(r, issue.unsupported ? RuleState::kUnsupported : RuleState::kError, issue.line,
             issue.column, issue.text);
  }

  template <typename F>
  void Guarded(int r, F&& f) {
    try {
      f();
    } catch (const YAML::Exception& e) {
      SetState(r, RuleState::kError, e.mark.is_null() ? 0 : e.mark.line + 1,
               e.mark.is_null() ? 0 : e.mark.column + 1, "invalid rule: " + e.msg);
    }
  }

  void Collect(int file, int doc_index, const YAML::Node& doc) {
    RawRule raw;
    raw.file = file;
    raw.doc = doc_index;
    raw.node = doc;
    raw.line = LineOf(doc);
    const int index = static_cast<int>(raws_.size());
    if (!doc.IsMap()) {
      raws_.push_back(std::move(raw));
      SetState(index, RuleState::kError, 0, 0,
               "a rule document must be a YAML map (title, logsource, detection, ...)");
      return;
    }
    raw.title = ScalarOr(doc, "title");
    raw.id = ScalarOr(doc, "id");
    raw.name = ScalarOr(doc, "name");
    const bool is_corr = doc["correlation"].IsDefined();
    const bool is_det = doc["detection"].IsDefined();
    raw.kind = is_corr ? DocKind::kCorrelation : DocKind::kDetection;
    raws_.push_back(std::move(raw));
    if (doc["action"].IsDefined()) {
      SetState(index, RuleState::kUnsupported, LineOf(doc["action"]), 0,
               "rule collections ('action: global/reset/repeat') are obsolete Sigma 1 syntax; "
               "write one document per rule");
      return;
    }
    if (doc["filter"].IsDefined() && !is_det && !is_corr) {
      SetState(index, RuleState::kUnsupported, LineOf(doc["filter"]), 0,
               "Sigma filters (meta-filter documents) are not supported; add the exclusion to the "
               "rules' conditions");
      return;
    }
    if (!is_det && !is_corr) {
      SetState(index, RuleState::kError, 0, 0,
               "the document has neither 'detection' nor 'correlation'");
      return;
    }
    if (is_det && is_corr) {
      SetState(index, RuleState::kError, LineOf(doc["correlation"]), 0,
               "a document is either a detection or a correlation; put the correlation in its own "
               "document (---)");
      return;
    }
    RawRule& r = raws_[index];
    if (r.title.empty()) {
      SetState(index, RuleState::kError, 0, 0, "the rule has no 'title'");
      return;
    }
    for (const auto& [key, map] : {std::pair{r.id, &ids_}, std::pair{r.name, &names_}}) {
      if (key.empty()) continue;
      auto [it, inserted] = map->emplace(key, index);
      if (!inserted) {
        const RawRule& other = raws_[it->second];
        SetState(index, RuleState::kError, LineOf(doc[map == &ids_ ? "id" : "name"]), 0,
                 std::string(map == &ids_ ? "duplicate id '" : "duplicate name '") + key +
                     "': also used by rule '" + other.Display() + "' at " +
                     report_->files[other.file].path + ":" + std::to_string(other.line) +
                     "; give each rule its own");
        return;
      }
    }
  }

  bool ReadMeta(int r, RuleMeta* meta, CompileIssue* issue) {
    const RawRule& raw = raws_[r];
    meta->title = raw.title;
    meta->name = raw.name;
    meta->file = report_->files[raw.file].path;
    meta->line = raw.line;
    if (!raw.id.empty()) {
      meta->id = raw.id;
    } else if (!raw.name.empty()) {
      meta->id = raw.name;
    } else {
      meta->id = std::filesystem::path(meta->file).stem().string();
      if (raw.doc > 0) meta->id += "#" + std::to_string(raw.doc);
    }
    const YAML::Node level = raw.node["level"];
    if (level.IsDefined() && !level.IsNull()) {
      if (!level.IsScalar() || !ParseSeverity(level.Scalar(), &meta->severity)) {
        issue->line = LineOf(level);
        issue->text = "level '" + (level.IsScalar() ? level.Scalar() : std::string()) +
                      "' is not one of informational, low, medium, high, critical";
        return false;
      }
      meta->level_given = true;
    }
    const YAML::Node tags = raw.node["tags"];
    if (tags.IsDefined() && !tags.IsNull()) {
      if (!tags.IsSequence()) {
        issue->line = LineOf(tags);
        issue->text = "'tags' must be a list";
        return false;
      }
      for (const auto& t : tags) {
        if (!t.IsScalar()) continue;
        if (auto tech = AttackTechnique(t.Scalar())) {
          if (std::find(meta->attacks.begin(), meta->attacks.end(), *tech) == meta->attacks.end()) {
            meta->attacks.push_back(*tech);
          }
        }
      }
    }
    const std::string status = Lower(ScalarOr(raw.node, "status"));
    if (status == "unsupported") {
      issue->line = LineOf(raw.node["status"]);
      issue->text = "the rule's status is 'unsupported' (its authors mark it unusable as it is)";
      issue->unsupported = true;
      return false;
    }
    return true;
  }

  bool PickNamespace(int r, Namespace* ns, CompileIssue* issue) {
    const YAML::Node& node = raws_[r].node;
    const YAML::Node ls = node["logsource"];
    if (!ls.IsDefined() || !ls.IsMap()) {
      issue->line = ls.IsDefined() ? LineOf(ls) : 0;
      issue->text = "the rule has no 'logsource' map; add e.g. 'logsource: {product: credwatch}'";
      return false;
    }
    issue->line = LineOf(ls);
    const std::string product = Lower(ScalarOr(ls, "product"));
    const std::string service = Lower(ScalarOr(ls, "service"));
    const std::string category = Lower(ScalarOr(ls, "category"));
    issue->unsupported = true;
    if (product == "credwatch") {
      *ns = Namespace::kCredwatch;
      return true;
    }
    if (product == "aws") {
      if (service == "cloudtrail") {
        *ns = Namespace::kCloudTrail;
        return true;
      }
      issue->text = "logsource product: aws, service: " +
                    (service.empty() ? std::string("(none)") : service) +
                    " is not read by credwatch (only service: cloudtrail)";
      return false;
    }
    if (product == "linux") {
      if (!category.empty()) {
        issue->text = "logsource category: " + category +
                      " needs process, file or network telemetry (auditd, Sysmon for Linux) that "
                      "credwatch does not read; credwatch reads sshd/sftp authentication logs";
        return false;
      }
      if (service.empty() || service == "sshd" || service == "auth" || service == "syslog") {
        *ns = Namespace::kLinux;
        return true;
      }
      if (service == "auditd") {
        issue->text =
            "logsource service: auditd is not read by credwatch (it reads sshd/sftp logs from "
            "journald and syslog)";
        return false;
      }
      issue->text = "logsource service: " + service +
                    " is not decoded by credwatch: its journald and syslog decoders keep sshd and "
                    "sftp records only";
      return false;
    }
    issue->text = "logsource product: " + (product.empty() ? std::string("(none)") : product) +
                  " is not a credwatch log source (supported: product credwatch; aws with service "
                  "cloudtrail; linux with service sshd, auth, syslog or none)";
    return false;
  }

  bool ReadExamples(int r, Namespace ns, CompileIssue* issue) {
    const YAML::Node& node = raws_[r].node;
    const YAML::Node tests = node["x-credwatch-tests"];
    if (!tests.IsDefined() || tests.IsNull()) return true;
    issue->line = LineOf(tests);
    if (!tests.IsSequence()) {
      issue->text = "'x-credwatch-tests' must be a list of {name, events, expect}";
      return false;
    }
    RuleExamples ex;
    ex.ns = ns;
    ex.file = report_->files[raws_[r].file].path;
    int n = 0;
    for (const auto& t : tests) {
      ++n;
      issue->line = LineOf(t);
      if (!t.IsMap()) {
        issue->text = "each x-credwatch-tests entry must be a map with name, events and expect";
        return false;
      }
      RuleExample e;
      e.line = LineOf(t);
      e.name = ScalarOr(t, "name");
      if (e.name.empty()) e.name = "example " + std::to_string(n);
      const YAML::Node events = t["events"];
      if (!events.IsDefined() || !events.IsSequence()) {
        issue->text = "example '" + e.name + "' needs 'events': a list of event maps";
        return false;
      }
      for (const auto& ev : events) {
        if (!ev.IsMap()) {
          issue->line = LineOf(ev);
          issue->text = "example '" + e.name + "': each event must be a map of field: value";
          return false;
        }
        ExampleEvent event;
        event.line = LineOf(ev);
        FlattenEvent(ev, "", &event);
        e.events.push_back(std::move(event));
      }
      const YAML::Node expect = t["expect"];
      const Scalar s = ReadScalar(expect);
      if (s.kind == Scalar::Kind::kInt && s.number >= 0) {
        e.expect = static_cast<int>(s.number);
      } else if (s.text == "match") {
        e.expect = -1;
      } else if (s.text == "no-match" || s.text == "no_match") {
        e.expect = 0;
      } else {
        issue->line = expect.IsDefined() ? LineOf(expect) : LineOf(t);
        issue->text =
            "example '" + e.name + "': 'expect' must be match, no-match or a number of detections";
        return false;
      }
      ex.examples.push_back(std::move(e));
    }
    pending_examples_[r] = std::move(ex);
    return true;
  }

  void CompileDetectionRule(int r) {
    CompileIssue issue;
    DetectionRule rule;
    if (!ReadMeta(r, &rule.meta, &issue) || !PickNamespace(r, &rule.ns, &issue)) {
      Reject(r, issue);
      return;
    }
    issue = CompileIssue{};
    raws_[r].ns = rule.ns;
    const YAML::Node& node = raws_[r].node;
    if (!CompileDetection(node["detection"], rule.ns, env_, &rule, &issue) ||
        !ReadExamples(r, rule.ns, &issue)) {
      Reject(r, issue);
      return;
    }
    raws_[r].state = RuleState::kLoaded;
    raws_[r].compiled = static_cast<int>(data_->detections.size());
    data_->detections.push_back(std::move(rule));
  }

  // Resolves `name` (a field, or an alias) for the referenced rule `ref_raw`.
  bool ResolveSource(const YAML::Node& aliases, const std::string& name, int ref_raw,
                     const YAML::Node& at, ValueSource* out, CompileIssue* issue) {
    const RawRule& ref = raws_[ref_raw];
    std::string field = name;
    const bool aliased = aliases.IsDefined() && aliases.IsMap() && aliases[name].IsDefined();
    const YAML::Node alias = aliased ? aliases[name] : YAML::Node(YAML::NodeType::Undefined);
    if (aliased) {
      if (!alias.IsMap()) {
        issue->line = LineOf(alias);
        issue->text = "alias '" + name + "' must map rule names to field names";
        return false;
      }
      std::string mapped;
      for (const std::string& key : {ref.name, ref.id}) {
        if (key.empty()) continue;
        const YAML::Node f = alias[key];
        if (f.IsDefined() && f.IsScalar()) {
          mapped = f.Scalar();
          break;
        }
      }
      if (mapped.empty()) {
        issue->line = LineOf(alias);
        issue->text = "alias '" + name + "' names no field for rule '" +
                      (ref.name.empty() ? ref.id : ref.name) + "'; add '" +
                      (ref.name.empty() ? ref.id : ref.name) + ": <field>' under aliases." + name;
        return false;
      }
      field = mapped;
    }
    if (ref.kind == DocKind::kDetection) {
      std::string error;
      if (!fields_.Resolve(ref.ns, field, &out->field, &error)) {
        issue->line = LineOf(at);
        issue->text = "for rule '" + ref.Display() + "': " + error;
        return false;
      }
      return true;
    }
    const CorrelationRule& inner = data_->correlations[ref.compiled];
    for (size_t g = 0; g < inner.group_by.size(); ++g) {
      if (inner.group_by[g] == field) {
        out->inner_group = static_cast<int>(g);
        return true;
      }
    }
    std::string groups;
    for (const auto& g : inner.group_by) groups += (groups.empty() ? "" : ", ") + g;
    issue->line = LineOf(at);
    issue->text = "'" + field + "' is not a group-by field of the correlation '" + ref.Display() +
                  "' (its group-by: " + (groups.empty() ? std::string("none") : groups) +
                  "); a correlation passes on only its group-by values";
    return false;
  }

  static std::vector<std::pair<std::string, YAML::Node>> StringList(const YAML::Node& n) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (n.IsScalar()) {
      out.emplace_back(n.Scalar(), n);
      return out;
    }
    if (n.IsSequence()) {
      for (const auto& item : n)
        out.emplace_back(item.IsScalar() ? item.Scalar() : std::string(), item);
    }
    return out;
  }

  // Compiles correlation `r` after the correlations it references.
  bool CompileCorrelationRule(int r, std::vector<int>* stack) {
    RawRule& raw = raws_[r];
    if (raw.state == RuleState::kLoaded) return true;
    if (raw.state != RuleState::kPending) return false;
    raw.state = RuleState::kCompiling;
    stack->push_back(r);
    bool ok = false;
    try {
      ok = CompileCorrelationBody(r, stack);
    } catch (const YAML::Exception& e) {
      SetState(r, RuleState::kError, e.mark.is_null() ? 0 : e.mark.line + 1,
               e.mark.is_null() ? 0 : e.mark.column + 1, "invalid rule: " + e.msg);
    }
    stack->pop_back();
    return ok;
  }

  bool CompileCorrelationBody(int r, std::vector<int>* stack) {
    const YAML::Node& doc = raws_[r].node;
    const YAML::Node c = doc["correlation"];
    CompileIssue issue;
    auto fail = [&](const YAML::Node& at, std::string text, bool unsupported = false) {
      issue.line = at.IsDefined() ? LineOf(at) : LineOf(c);
      issue.text = std::move(text);
      issue.unsupported = unsupported;
      Reject(r, issue);
      return false;
    };
    if (!c.IsMap())
      return fail(c,
                  "'correlation' must be a map with type, rules, group-by, timespan and condition");
    CorrelationRule rule;
    if (!ReadMeta(r, &rule.meta, &issue)) {
      Reject(r, issue);
      return false;
    }
    const std::string type = ScalarOr(c, "type");
    if (type == "event_count") {
      rule.type = CorrelationType::kEventCount;
    } else if (type == "value_count") {
      rule.type = CorrelationType::kValueCount;
    } else if (type == "temporal") {
      rule.type = CorrelationType::kTemporal;
    } else if (type == "temporal_ordered") {
      rule.type = CorrelationType::kTemporalOrdered;
    } else if (type == "value_sum") {
      rule.type = CorrelationType::kValueSum;
    } else if (type == "value_avg" || type == "value_percentile") {
      return fail(c["type"],
                  "correlation type " + type +
                      " is not supported (use event_count, value_count, value_sum, temporal or "
                      "temporal_ordered)",
                  true);
    } else {
      return fail(
          c["type"].IsDefined() ? c["type"] : c,
          "correlation type '" + type +
              "' is not one of event_count, value_count, value_sum, temporal, temporal_ordered");
    }
    // Referenced rules.
    const auto refs = StringList(c["rules"]);
    if (refs.empty())
      return fail(c["rules"],
                  "the correlation needs 'rules': the ids or names of the rules it correlates");
    std::vector<int> ref_raws;
    for (const auto& [ref_name, at] : refs) {
      int target = -1;
      if (auto it = ids_.find(ref_name); it != ids_.end()) {
        target = it->second;
      } else if (auto it2 = names_.find(ref_name); it2 != names_.end()) {
        target = it2->second;
      }
      if (target < 0) {
        return fail(at, "the correlation references '" + ref_name +
                            "', which no loaded rule has as id or name");
      }
      if (std::find(stack->begin(), stack->end(), target) != stack->end()) {
        std::string cycle;
        for (int s : *stack) cycle += raws_[s].Display() + " -> ";
        return fail(at, "correlation cycle: " + cycle + raws_[target].Display());
      }
      RawRule& t = raws_[target];
      if (t.kind == DocKind::kCorrelation && t.state == RuleState::kPending) {
        CompileCorrelationRule(target, stack);
      }
      if (t.state == RuleState::kUnsupported) {
        return fail(at, "references '" + ref_name + "', which is unsupported: " + t.reason, true);
      }
      if (t.state != RuleState::kLoaded) {
        return fail(at, "references '" + ref_name + "', which failed to load (see its error)");
      }
      if (std::find(ref_raws.begin(), ref_raws.end(), target) != ref_raws.end()) {
        return fail(at, "'" + ref_name + "' is listed twice in rules");
      }
      ref_raws.push_back(target);
      rule.refs.push_back(RuleRef{t.kind == DocKind::kCorrelation, t.compiled});
    }
    if (rule.type == CorrelationType::kTemporalOrdered && rule.refs.size() < 2) {
      return fail(c["rules"],
                  "temporal_ordered needs at least two rules, in the order they must happen");
    }
    // Window.
    const YAML::Node ts = c["timespan"];
    if (!ts.IsDefined() || !ts.IsScalar() || !ParseTimespan(ts.Scalar(), &rule.timespan_ns)) {
      return fail(ts, "'timespan' must be a number and a unit: 30s, 10m, 24h, 7d");
    }
    if (rule.timespan_ns > options_.limits.max_timespan_ns) {
      return fail(ts, "timespan " + ts.Scalar() + " is longer than the limit of " +
                          std::to_string(options_.limits.max_timespan_ns / kNsPerDay) + " days");
    }
    // Condition.
    const YAML::Node cond = c["condition"];
    bool needs_field =
        rule.type == CorrelationType::kValueCount || rule.type == CorrelationType::kValueSum;
    if (cond.IsDefined() && !cond.IsNull()) {
      if (!cond.IsMap()) return fail(cond, "'condition' must be a map such as {gte: 10}");
      if (rule.type == CorrelationType::kTemporalOrdered) {
        return fail(
            cond, "temporal_ordered takes no condition: all its rules must happen, in order", true);
      }
      for (auto it = cond.begin(); it != cond.end(); ++it) {
        const std::string key = it->first.Scalar();
        static const std::pair<const char*, CountCondition::Op> kOps[] = {
            {"gt", CountCondition::kGt}, {"gte", CountCondition::kGte},
            {"lt", CountCondition::kLt}, {"lte", CountCondition::kLte},
            {"eq", CountCondition::kEq}, {"neq", CountCondition::kNeq}};
        if (key == "field") {
          if (!needs_field)
            return fail(it->first, "'field' is only used by value_count and value_sum");
          rule.value_field = it->second.IsScalar() ? it->second.Scalar() : std::string();
          continue;
        }
        bool known = false;
        for (const auto& [name, op] : kOps) {
          if (key != name) continue;
          known = true;
          const Scalar s = ReadScalar(it->second);
          if (s.kind != Scalar::Kind::kInt && s.kind != Scalar::Kind::kFloat) {
            return fail(it->second, "condition " + key + " needs a number");
          }
          rule.condition.has[op] = true;
          rule.condition.value[op] = s.number;
        }
        if (!known)
          return fail(it->first, "unknown condition key '" + key +
                                     "' (use gt, gte, lt, lte, eq, neq and field)");
      }
    }
    if (rule.condition.empty()) {
      if (rule.type == CorrelationType::kTemporal) {
        rule.condition.has[CountCondition::kGte] = true;
        rule.condition.value[CountCondition::kGte] = static_cast<double>(rule.refs.size());
      } else if (rule.type != CorrelationType::kTemporalOrdered) {
        return fail(cond, "the correlation needs a 'condition' with a bound, e.g. {gte: 10}");
      }
    }
    if (needs_field && rule.value_field.empty()) {
      return fail(cond, type + " needs 'field' in its condition: the field whose values are " +
                            (rule.type == CorrelationType::kValueSum ? "summed" : "counted"));
    }
    rule.anchored =
        rule.type != CorrelationType::kTemporalOrdered && rule.condition.NeedsCompleteWindow();
    if (rule.type == CorrelationType::kValueCount) {
      const double ceiling = rule.condition.Ceiling();
      if (ceiling + 1 > static_cast<double>(options_.limits.max_distinct_values)) {
        return fail(cond, "value_count condition needs " +
                              std::to_string(static_cast<int64_t>(ceiling) + 1) +
                              " distinct values per group, over the limit of " +
                              std::to_string(options_.limits.max_distinct_values));
      }
      rule.distinct_cap = static_cast<size_t>(ceiling) + 1;
    }
    // Group-by and aliases.
    const YAML::Node aliases = c["aliases"];
    if (aliases.IsDefined() && !aliases.IsNull() && !aliases.IsMap()) {
      return fail(aliases, "'aliases' must map alias names to {rule name: field}");
    }
    for (const auto& [g, at] : StringList(c["group-by"])) {
      if (g.empty()) return fail(at, "group-by entries must be field names");
      rule.group_by.push_back(g);
    }
    rule.group_sources.resize(rule.refs.size());
    for (size_t j = 0; j < rule.refs.size(); ++j) {
      for (const std::string& g : rule.group_by) {
        ValueSource src;
        if (!ResolveSource(aliases, g, ref_raws[j], c["group-by"], &src, &issue)) {
          Reject(r, issue);
          return false;
        }
        rule.group_sources[j].push_back(src);
      }
      if (needs_field) {
        ValueSource src;
        if (!ResolveSource(aliases, rule.value_field, ref_raws[j], cond, &src, &issue)) {
          Reject(r, issue);
          return false;
        }
        if (rule.type == CorrelationType::kValueSum && src.inner_group >= 0) {
          return fail(cond, "value_sum over the output of another correlation is not supported",
                      true);
        }
        rule.value_sources.push_back(src);
      }
    }
    const YAML::Node gen = c["generate"].IsDefined() ? c["generate"] : doc["generate"];
    if (gen.IsDefined() && !gen.IsNull()) {
      const Scalar s = ReadScalar(gen);
      if (s.kind != Scalar::Kind::kBool) return fail(gen, "'generate' must be true or false");
      rule.generate = s.boolean;
    }
    // Severity and techniques default to the referenced rules'.
    std::vector<std::string> ref_attacks;
    Severity max_sev = Severity::kInformational;
    for (const RuleRef& ref : rule.refs) {
      const RuleMeta& m =
          ref.correlation ? data_->correlations[ref.index].meta : data_->detections[ref.index].meta;
      max_sev = std::max(max_sev, m.severity);
      for (const auto& a : m.attacks) {
        if (std::find(ref_attacks.begin(), ref_attacks.end(), a) == ref_attacks.end())
          ref_attacks.push_back(a);
      }
    }
    if (!rule.meta.level_given) rule.meta.severity = max_sev;
    if (rule.meta.attacks.empty()) rule.meta.attacks = ref_attacks;
    const Namespace ex_ns = raws_[ref_raws[0]].ns;
    raws_[r].ns = ex_ns;
    if (!ReadExamples(r, ex_ns, &issue)) {
      Reject(r, issue);
      return false;
    }
    raws_[r].state = RuleState::kLoaded;
    raws_[r].compiled = static_cast<int>(data_->correlations.size());
    data_->correlations.push_back(std::move(rule));
    return true;
  }

  // ---- Stage 4: link ---------------------------------------------------------

  void Link() {
    RuleSetData& d = *data_;
    const size_t nd = d.detections.size();
    const size_t nc = d.correlations.size();
    // Infos.
    auto make_info = [&](const RuleMeta& m, bool corr) {
      RuleInfo info;
      info.id = m.id;
      info.name = m.name;
      info.title = m.title;
      info.file = m.file;
      info.line = m.line;
      info.is_correlation = corr;
      info.severity = m.severity;
      info.attacks = m.attacks;
      return info;
    };
    for (auto& det : d.detections) {
      det.meta.info_index = static_cast<int>(d.infos.size());
      d.infos.push_back(make_info(det.meta, false));
      d.infos.back().ns = det.ns;
    }
    for (auto& corr : d.correlations) {
      corr.meta.info_index = static_cast<int>(d.infos.size());
      d.infos.push_back(make_info(corr.meta, true));
      d.infos.back().correlation_type = std::string(CorrelationTypeName(corr.type));
    }
    // Emit flags: a rule referenced by correlations is emitted only if one
    // of them says generate: true.
    std::vector<std::vector<int>> det_refd(nd), corr_refd(nc);
    for (size_t c = 0; c < nc; ++c) {
      for (const RuleRef& ref : d.correlations[c].refs) {
        (ref.correlation ? corr_refd : det_refd)[ref.index].push_back(static_cast<int>(c));
      }
    }
    auto emitted = [&](const std::vector<int>& by) {
      if (by.empty()) return true;
      for (int c : by) {
        if (d.correlations[c].generate) return true;
      }
      return false;
    };
    d.detection_emit.resize(nd);
    std::vector<bool> corr_emit(nc);
    for (size_t i = 0; i < nd; ++i) {
      d.detection_emit[i] = emitted(det_refd[i]);
      d.infos[d.detections[i].meta.info_index].emitted = d.detection_emit[i];
    }
    for (size_t i = 0; i < nc; ++i) {
      corr_emit[i] = emitted(corr_refd[i]);
      d.infos[d.correlations[i].meta.info_index].emitted = corr_emit[i];
    }
    // Correlation forest.
    d.detection_consumers.resize(nd);
    std::vector<bool> instanced(nc, false);
    std::function<void(int, int, int, int)> make_node = [&](int corr, int parent, int parent_ref,
                                                            int root) {
      if (d.nodes.size() >= kMaxCorrelationNodes) return;
      const int node = static_cast<int>(d.nodes.size());
      CorrNode n;
      n.rule = corr;
      n.parent = parent;
      n.parent_ref = parent_ref;
      n.root = root < 0 ? node : root;
      n.emit = corr_emit[corr] && !instanced[corr];
      instanced[corr] = true;
      d.nodes.push_back(n);
      const CorrelationRule& rule = d.correlations[corr];
      for (size_t j = 0; j < rule.refs.size(); ++j) {
        if (rule.refs[j].correlation) {
          make_node(rule.refs[j].index, node, static_cast<int>(j), d.nodes[node].root);
        } else {
          BaseConsumer bc;
          bc.node = node;
          bc.ref = static_cast<int>(j);
          bc.routing = RoutingFor(node, static_cast<int>(j), d.detections[rule.refs[j].index].ns);
          d.detection_consumers[rule.refs[j].index].push_back(bc);
        }
      }
    };
    for (size_t c = 0; c < nc; ++c) {
      if (corr_refd[c].empty()) make_node(static_cast<int>(c), -1, -1, -1);
    }
    if (d.nodes.size() >= kMaxCorrelationNodes) {
      LoadMessage m;
      m.kind = LoadMessage::Kind::kWarning;
      m.text = "correlations reference each other in too many ways; only the first " +
               std::to_string(kMaxCorrelationNodes) + " instances are evaluated";
      report_->general.push_back(std::move(m));
    }
    // Consumers of one detection run in node order, later refs first, so one
    // event cannot complete two consecutive steps of a temporal_ordered chain.
    for (auto& list : d.detection_consumers) {
      std::stable_sort(list.begin(), list.end(), [](const BaseConsumer& a, const BaseConsumer& b) {
        return a.node != b.node ? a.node < b.node : a.ref > b.ref;
      });
    }
    BuildIndex();
    BuildProjections();
    for (auto& [r, ex] : pending_examples_) {
      const RawRule& raw = raws_[r];
      if (raw.state != RuleState::kLoaded) continue;
      ex.info_index = raw.kind == DocKind::kDetection
                          ? d.detections[raw.compiled].meta.info_index
                          : d.correlations[raw.compiled].meta.info_index;
      d.examples.push_back(std::move(ex));
    }
    std::sort(
        d.examples.begin(), d.examples.end(),
        [](const RuleExamples& a, const RuleExamples& b) { return a.info_index < b.info_index; });
  }

  // The root group key fields, for events of the detection feeding `node`
  // as ref `ref`.
  int RoutingFor(int node, int ref, Namespace ns) {
    RuleSetData& d = *data_;
    std::vector<FieldRef> fields;
    for (const ValueSource& s : d.correlations[d.nodes[node].rule].group_sources[ref])
      fields.push_back(s.field);
    int at = node;
    while (d.nodes[at].parent >= 0) {
      const CorrNode& n = d.nodes[at];
      const CorrelationRule& parent = d.correlations[d.nodes[n.parent].rule];
      std::vector<FieldRef> up;
      for (const ValueSource& s : parent.group_sources[n.parent_ref])
        up.push_back(fields[s.inner_group]);
      fields = std::move(up);
      at = n.parent;
    }
    for (size_t i = 0; i < d.routing.size(); ++i) {
      if (d.routing[i].ns == ns && d.routing[i].fields == fields) return static_cast<int>(i);
    }
    d.routing.push_back(RoutingSpec{ns, std::move(fields)});
    return static_cast<int>(d.routing.size()) - 1;
  }

  // A necessary condition "field is one of values", or none.
  struct Constraint {
    int rank = -1;  // index into the namespace's index fields; -1 = none
    FieldRef field;
    std::set<std::string> values;
  };

  Constraint OfTest(const FieldTest& t, const std::vector<FieldRef>& index_fields) {
    Constraint c;
    int rank = -1;
    for (size_t i = 0; i < index_fields.size(); ++i) {
      if (index_fields[i] == t.field) rank = static_cast<int>(i);
    }
    if (rank < 0 || t.negate || t.time_part != TimePart::kNone || t.values.empty()) return c;
    if (t.all && t.values.size() > 1) return c;
    for (const ValueMatcher& m : t.values) {
      const bool eq_string = m.kind == MatchKind::kString && m.str_op == StrOp::kEq;
      if (!eq_string) return c;
      c.values.insert(FoldCase(m.text));
    }
    c.rank = rank;
    c.field = t.field;
    return c;
  }

  static Constraint Best(Constraint a, Constraint b) {
    if (a.rank < 0) return b;
    if (b.rank < 0) return a;
    if (a.rank != b.rank) return a.rank < b.rank ? a : b;
    return a.values.size() <= b.values.size() ? a : b;
  }

  static Constraint Union(const std::vector<Constraint>& parts) {
    Constraint out;
    if (parts.empty()) return out;
    for (const Constraint& p : parts) {
      if (p.rank < 0 || p.rank != parts[0].rank) return Constraint{};
    }
    out = parts[0];
    for (const Constraint& p : parts) out.values.insert(p.values.begin(), p.values.end());
    return out;
  }

  Constraint OfNode(const DetectionRule& r, int node, const std::vector<FieldRef>& fields) {
    const CondNode& n = r.nodes[node];
    switch (n.kind) {
      case CondNode::Kind::kSelection: {
        std::vector<Constraint> alts;
        for (const auto& alt : r.selections[n.selection].alternatives) {
          Constraint best;
          for (const FieldTest& t : alt) best = Best(best, OfTest(t, fields));
          alts.push_back(best);
        }
        return Union(alts);
      }
      case CondNode::Kind::kAnd: {
        Constraint best;
        for (int c : n.children) best = Best(best, OfNode(r, c, fields));
        return best;
      }
      case CondNode::Kind::kOr: {
        std::vector<Constraint> parts;
        for (int c : n.children) parts.push_back(OfNode(r, c, fields));
        return Union(parts);
      }
      case CondNode::Kind::kAtLeast: {
        if (n.at_least != 1) return Constraint{};
        std::vector<Constraint> parts;
        for (int c : n.children) parts.push_back(OfNode(r, c, fields));
        return Union(parts);
      }
      case CondNode::Kind::kNot:
        return Constraint{};
    }
    return Constraint{};
  }

  void BuildIndex() {
    RuleSetData& d = *data_;
    // Index fields that some rule's condition can use.
    std::array<std::vector<FieldRef>, kNumNamespaces> fields;
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      for (const std::string& name : IndexFieldNames()[ns]) {
        FieldRef f;
        if (static_cast<Namespace>(ns) == Namespace::kCredwatch) {
          f.id = static_cast<uint16_t>(*BuiltinFieldByName(name));
        } else {
          auto it = fields_by_name(static_cast<Namespace>(ns), name);
          if (!it) {
            f.id = 0xFFFF;  // not used by any rule; keeps ranks stable
          } else {
            f = *it;
          }
        }
        fields[ns].push_back(f);
      }
    }
    std::map<std::pair<int, uint16_t>, int> slot;  // (ns, field) -> index.fields
    for (size_t i = 0; i < d.detections.size(); ++i) {
      const DetectionRule& r = d.detections[i];
      const int ns = static_cast<int>(r.ns);
      const Constraint c = OfNode(r, r.root, fields[ns]);
      if (c.rank < 0 || c.values.empty()) {
        d.index.always[ns].push_back(static_cast<uint32_t>(i));
        continue;
      }
      auto [it, inserted] =
          slot.emplace(std::pair{ns, c.field.id}, static_cast<int>(d.index.fields.size()));
      if (inserted) {
        CandidateIndex::FieldIndex fi;
        fi.ns = r.ns;
        fi.field = c.field;
        fi.name = IndexFieldNames()[ns][c.rank];
        d.index.fields.push_back(std::move(fi));
      }
      CandidateIndex::FieldIndex& fi = d.index.fields[it->second];
      for (const std::string& v : c.values) {
        std::optional<size_t> e;
        switch (static_cast<FieldId>(c.field.id)) {
          case FieldId::kKind:
            if (auto k = ParseKind(v)) e = static_cast<size_t>(*k);
            break;
          case FieldId::kAction:
            if (auto a = ParseAction(v)) e = static_cast<size_t>(*a);
            break;
          case FieldId::kOutcome:
            if (auto o = ParseOutcome(v)) e = static_cast<size_t>(*o);
            break;
          default:
            break;
        }
        if (!c.field.extra() && e) {
          if (fi.by_enum.size() <= *e) fi.by_enum.resize(*e + 1);
          fi.by_enum[*e].push_back(static_cast<uint32_t>(i));
        } else {
          fi.by_value[v].push_back(static_cast<uint32_t>(i));
        }
      }
    }
  }

  std::optional<FieldRef> fields_by_name(Namespace ns, const std::string& name) {
    std::string error;
    // Only fields some rule already uses: interning a new one would add it
    // to the projection for nothing.
    const auto& paths = fields_.paths();
    const auto& nss = fields_.path_namespaces();
    for (size_t i = 0; i < paths.size(); ++i) {
      if (nss[i] == ns && paths[i] == name)
        return FieldRef{static_cast<uint16_t>(kFirstExtraId + i)};
    }
    return std::nullopt;
  }

  void BuildProjections() {
    RuleSetData& d = *data_;
    std::set<uint16_t> used;
    auto use = [&](FieldRef f) {
      if (f.extra()) used.insert(f.id);
    };
    for (const DetectionRule& r : d.detections) {
      for (const Selection& s : r.selections) {
        for (const auto& alt : s.alternatives) {
          for (const FieldTest& t : alt) {
            use(t.field);
            for (const ValueMatcher& m : t.values) {
              if (m.kind == MatchKind::kFieldRef) use(m.ref);
            }
          }
        }
      }
    }
    for (const CorrelationRule& c : d.correlations) {
      for (size_t j = 0; j < c.refs.size(); ++j) {
        if (c.refs[j].correlation) continue;
        for (const ValueSource& s : c.group_sources[j]) use(s.field);
        if (j < c.value_sources.size()) use(c.value_sources[j].field);
      }
    }
    d.extra_paths = fields_.paths();
    std::array<std::vector<Projection::Path>, kNumNamespaces> by_ns;
    for (uint16_t id : used) {
      const size_t i = id - kFirstExtraId;
      const int ns = static_cast<int>(fields_.path_namespaces()[i]);
      by_ns[ns].push_back(Projection::Path{fields_.paths()[i], id});
      d.extra_ids[ns].emplace(fields_.paths()[i], id);
    }
    for (auto& paths : by_ns) {
      std::sort(
          paths.begin(), paths.end(),
          [](const Projection::Path& a, const Projection::Path& b) { return a.dotted < b.dotted; });
    }
    d.projections[static_cast<int>(Format::kCloudTrail)].paths =
        by_ns[static_cast<int>(Namespace::kCloudTrail)];
    d.projections[static_cast<int>(Format::kJournald)].paths =
        by_ns[static_cast<int>(Namespace::kLinux)];
    d.projections[static_cast<int>(Format::kSyslog)].paths =
        by_ns[static_cast<int>(Namespace::kLinux)];
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      if (by_ns[ns].size() > static_cast<size_t>(Event::kMaxExtras)) {
        LoadMessage m;
        m.kind = LoadMessage::Kind::kWarning;
        m.text = "the rules read " + std::to_string(by_ns[ns].size()) + " " +
                 std::string(NamespaceName(static_cast<Namespace>(ns))) +
                 " fields, more than the " + std::to_string(Event::kMaxExtras) +
                 " one event can carry; a record that has more of them than that loses the rest";
        report_->general.push_back(std::move(m));
      }
    }
  }

  LoadOptions options_;
  LoadReport* report_;
  std::unique_ptr<RuleSetData> data_;
  FieldRegistry fields_;
  CompileEnv env_;
  std::vector<RawRule> raws_;
  std::map<std::string, int> ids_;
  std::map<std::string, int> names_;
  std::map<int, RuleExamples> pending_examples_;
};

absl::Status LoadStatus(const LoadReport& report, const LoadOptions& options) {
  std::vector<const LoadMessage*> bad;
  int errors = 0;
  int unsupported = 0;
  for (const FileReport& f : report.files) {
    for (const LoadMessage& m : f.messages) {
      if (m.kind == LoadMessage::Kind::kError) {
        ++errors;
        if (options.fail_on_error) bad.push_back(&m);
      } else if (m.kind == LoadMessage::Kind::kUnsupported) {
        ++unsupported;
        if (options.fail_on_unsupported) bad.push_back(&m);
      }
    }
  }
  if (bad.empty()) return absl::OkStatus();
  std::string text = std::to_string(errors) + " rule error(s)";
  if (options.fail_on_unsupported)
    text += ", " + std::to_string(unsupported) + " unsupported rule(s)";
  for (size_t i = 0; i < bad.size() && i < 5; ++i) text += "\n  " + bad[i]->ToString();
  if (bad.size() > 5) text += "\n  ... and " + std::to_string(bad.size() - 5) + " more";
  return absl::InvalidArgumentError(text);
}

absl::StatusOr<std::shared_ptr<const RuleSet>> Finish(Loader& loader, LoadReport* report,
                                                      const LoadOptions& options) {
  std::unique_ptr<RuleSetData> data = loader.Finish();
  absl::Status status = LoadStatus(*report, options);
  if (!status.ok()) return status;
  return std::make_shared<const RuleSet>(std::move(data));
}

}  // namespace

std::string_view CorrelationTypeName(CorrelationType t) {
  switch (t) {
    case CorrelationType::kEventCount:
      return "event_count";
    case CorrelationType::kValueCount:
      return "value_count";
    case CorrelationType::kTemporal:
      return "temporal";
    case CorrelationType::kTemporalOrdered:
      return "temporal_ordered";
    case CorrelationType::kValueSum:
      return "value_sum";
  }
  return "";
}

bool CountCondition::empty() const {
  for (bool h : has) {
    if (h) return false;
  }
  return true;
}

bool CountCondition::Holds(double x) const {
  if (has[kGt] && !(x > value[kGt])) return false;
  if (has[kGte] && !(x >= value[kGte])) return false;
  if (has[kLt] && !(x < value[kLt])) return false;
  if (has[kLte] && !(x <= value[kLte])) return false;
  if (has[kEq] && !(x == value[kEq])) return false;
  if (has[kNeq] && !(x != value[kNeq])) return false;
  return true;
}

bool CountCondition::NeedsCompleteWindow() const {
  return has[kLt] || has[kLte] || has[kEq] || has[kNeq];
}

double CountCondition::Ceiling() const {
  double c = 0;
  for (int op = 0; op < kNumOps; ++op) {
    if (has[op]) c = std::max(c, value[op]);
  }
  return c;
}

std::string CountCondition::ToString() const {
  static const char* kNames[] = {"gt", "gte", "lt", "lte", "eq", "neq"};
  std::string out;
  for (int op = 0; op < kNumOps; ++op) {
    if (!has[op]) continue;
    if (!out.empty()) out += ", ";
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), value[op]);
    out += std::string(kNames[op]) + ": " + std::string(buf, r.ptr);
  }
  return out;
}

}  // namespace internal

std::string_view NamespaceName(Namespace ns) {
  switch (ns) {
    case Namespace::kCredwatch:
      return "credwatch";
    case Namespace::kCloudTrail:
      return "aws/cloudtrail";
    case Namespace::kLinux:
      return "linux";
  }
  return "";
}

std::string LoadMessage::ToString() const {
  std::string out = file.empty() ? std::string("rules") : file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  switch (kind) {
    case Kind::kError:
      out += ": error: ";
      break;
    case Kind::kUnsupported:
      out += ": unsupported: ";
      break;
    case Kind::kWarning:
      out += ": warning: ";
      break;
  }
  if (!rule.empty()) out += "rule '" + rule + "': ";
  out += text;
  return out;
}

FileReport::Result FileReport::result() const {
  if (rules_failed > 0) return Result::kError;
  if (rules_unsupported > 0) return Result::kUnsupported;
  return Result::kLoaded;
}

int LoadReport::rules_loaded() const {
  int n = 0;
  for (const auto& f : files) n += f.rules_loaded;
  return n;
}
int LoadReport::rules_unsupported() const {
  int n = 0;
  for (const auto& f : files) n += f.rules_unsupported;
  return n;
}
int LoadReport::rules_failed() const {
  int n = 0;
  for (const auto& f : files) n += f.rules_failed;
  return n;
}

std::string LoadReport::ToString() const {
  std::string out;
  for (const auto& f : files) {
    for (const auto& m : f.messages) out += m.ToString() + "\n";
  }
  for (const auto& m : general) out += m.ToString() + "\n";
  return out;
}

absl::StatusOr<std::shared_ptr<const RuleSet>> CompileRuleSet(
    const std::vector<RuleSource>& sources, const LoadOptions& options, LoadReport* report) {
  LoadReport local;
  if (report == nullptr) report = &local;
  *report = LoadReport{};
  internal::Loader loader(options, report);
  for (const RuleSource& s : sources) loader.AddSource(loader.AddFile(s.name), s.text);
  return internal::Finish(loader, report, options);
}

absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(const std::vector<std::string>& paths,
                                                           const LoadOptions& options,
                                                           LoadReport* report) {
  namespace fs = std::filesystem;
  LoadReport local;
  if (report == nullptr) report = &local;
  *report = LoadReport{};
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return absl::NotFoundError(p + ": no such file or directory");
    if (fs::is_directory(st)) {
      size_t before = files.size();
      for (fs::recursive_directory_iterator
               it(p, fs::directory_options::skip_permission_denied, ec),
           end;
           !ec && it != end; it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const std::string ext = it->path().extension().string();
        if (ext == ".yml" || ext == ".yaml") files.push_back(it->path().string());
      }
      if (ec) return absl::UnavailableError(p + ": " + ec.message());
      if (files.size() == before)
        return absl::NotFoundError(p + ": no rule files (*.yml, *.yaml) in this directory");
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  internal::Loader loader(options, report);
  for (const std::string& f : files) {
    const int index = loader.AddFile(f);
    std::ifstream in(f, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in) {
      loader.FileError(index, 0, 0, "cannot read the file");
      continue;
    }
    loader.AddSource(index, text.str());
  }
  return internal::Finish(loader, report, options);
}

}  // namespace credwatch::rules
