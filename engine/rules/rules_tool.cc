// `credwatch rules check` and `credwatch rules test`, and the example event
// builder they use.
#include <charconv>
#include <ostream>

#include "common/strings.h"
#include "credwatch/time_util.h"
#include "rules/example_event.h"

namespace credwatch::rules {
namespace internal {
namespace {

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view DefaultFormat(Namespace ns) {
  switch (ns) {
    case Namespace::kCloudTrail:
      return "cloudtrail";
    case Namespace::kLinux:
      return "syslog";
    case Namespace::kCredwatch:
      return "native";
  }
  return "native";
}

}  // namespace

absl::Status BuildExampleEvent(const RuleSetData& data, Namespace ns, const ExampleEvent& example,
                               int64_t default_time, EventBatch* batch) {
  Event& e = batch->Add();
  Arena& arena = batch->arena();
  e.time_ns = default_time;
  e.format = DefaultFormat(ns);
  auto bad = [&](const std::string& key, const ExampleValue& v, const std::string& what) {
    batch->PopBack();
    return absl::InvalidArgumentError("line " + std::to_string(example.line) + ": field '" + key +
                                      "' = '" + v.text + "': " + what);
  };
  for (const auto& [key, v] : example.fields) {
    if (v.kind == ExampleValue::Kind::kNull) continue;
    const auto id = BuiltinFieldByName(key);
    if (!id) {
      const auto& ids = data.extra_ids[static_cast<int>(ns)];
      auto it = ids.find(key);
      // Fields no rule reads are dropped, as the decoder would.
      if (it != ids.end() && !e.AddExtra(it->second, arena.Copy(v.text))) {
        return bad(key, v, "more than " + std::to_string(Event::kMaxExtras) + " source fields");
      }
      continue;
    }
    const std::string& t = v.text;
    int64_t i = 0;
    double d = 0;
    auto need_int = [&]() { return ParseInt(t, &i); };
    auto need_bool = [&](bool* b) {
      if (t == "true" || t == "false") {
        *b = t == "true";
        return true;
      }
      return false;
    };
    bool b = false;
    switch (*id) {
      case FieldId::kTime:
        if (auto parsed = ParseIso8601(t)) {
          e.time_ns = *parsed;
        } else if (need_int()) {
          e.time_ns = i;
        } else {
          return bad(key, v, "not a time (write 2025-01-31T12:00:00Z)");
        }
        break;
      case FieldId::kKind:
        if (auto k = ParseKind(t)) {
          e.kind = *k;
        } else {
          return bad(key, v, "not a kind (auth, access, transfer, network)");
        }
        break;
      case FieldId::kAction:
        if (auto a = ParseAction(t)) {
          e.action = *a;
        } else {
          return bad(key, v,
                     "not an action (login, logout, read, write, list, delete, copy, send)");
        }
        break;
      case FieldId::kOutcome:
        if (auto o = ParseOutcome(t)) {
          e.outcome = *o;
        } else {
          return bad(key, v, "not an outcome (success, failure)");
        }
        break;
      case FieldId::kCredential:
        e.credential = arena.Copy(t);
        break;
      case FieldId::kTenant:
        e.tenant = arena.Copy(t);
        break;
      case FieldId::kHost:
        e.host = arena.Copy(t);
        break;
      case FieldId::kSession:
        e.session = arena.Copy(t);
        break;
      case FieldId::kObject:
        e.object = arena.Copy(t);
        break;
      case FieldId::kObjectTenant:
        e.object_tenant = arena.Copy(t);
        break;
      case FieldId::kDstAccount:
        e.dst_account = arena.Copy(t);
        break;
      case FieldId::kUserAgent:
        e.user_agent = arena.Copy(t);
        break;
      case FieldId::kFormat:
        e.format = arena.Copy(t);
        break;
      case FieldId::kSource:
        e.source = arena.Copy(t);
        break;
      case FieldId::kSrcIp:
      case FieldId::kDstIp: {
        auto ip = IpAddress::Parse(t);
        const bool src = *id == FieldId::kSrcIp;
        (src ? e.src_ip_text : e.dst_ip_text) = arena.Copy(t);
        if (ip) (src ? e.src_ip : e.dst_ip) = *ip;
        break;
      }
      case FieldId::kSrcPort:
      case FieldId::kDstPort:
        if (!need_int() || i < 1 || i > 65535) return bad(key, v, "not a port");
        (*id == FieldId::kSrcPort ? e.src_port : e.dst_port) = static_cast<uint16_t>(i);
        break;
      case FieldId::kSrcInternal:
      case FieldId::kDstExternal:
        if (!need_bool(&b)) return bad(key, v, "not true or false");
        (*id == FieldId::kSrcInternal ? e.src_internal : e.dst_external) =
            b ? Tri::kTrue : Tri::kFalse;
        break;
      case FieldId::kBytes:
      case FieldId::kRecords:
        if (!need_int() || i < 0) return bad(key, v, "not a count");
        (*id == FieldId::kBytes ? e.bytes : e.records) = i;
        break;
      default: {
        ProfileFields& p = e.profile;
        p.valid = true;
        switch (*id) {
          case FieldId::kProfileLearning:
          case FieldId::kProfileSrcNew:
          case FieldId::kProfileHostNew:
          case FieldId::kProfileDstNew:
          case FieldId::kProfileTenantForeign:
            if (!need_bool(&b)) return bad(key, v, "not true or false");
            (*id == FieldId::kProfileLearning  ? p.learning
             : *id == FieldId::kProfileSrcNew  ? p.src_new
             : *id == FieldId::kProfileHostNew ? p.host_new
             : *id == FieldId::kProfileDstNew  ? p.dst_new
                                               : p.tenant_foreign) = b;
            break;
          case FieldId::kProfileIdleDays:
          case FieldId::kProfileReadRatio24h:
            if (!ParseDouble(t, &d)) return bad(key, v, "not a number");
            (*id == FieldId::kProfileIdleDays ? p.idle_days : p.read_ratio_24h) = d;
            break;
          case FieldId::kProfileTenants24h:
          case FieldId::kProfileFailures10m:
            if (!need_int()) return bad(key, v, "not an integer");
            (*id == FieldId::kProfileTenants24h ? p.tenants_24h : p.failures_10m) =
                static_cast<int32_t>(i);
            break;
          case FieldId::kProfileReadBytes1h:
            if (!need_int()) return bad(key, v, "not an integer");
            p.read_bytes_1h = i;
            break;
          case FieldId::kProfileReadBytes24h:
            if (!need_int()) return bad(key, v, "not an integer");
            p.read_bytes_24h = i;
            break;
          case FieldId::kProfileReadBytes7d:
            if (!need_int()) return bad(key, v, "not an integer");
            p.read_bytes_7d = i;
            break;
          case FieldId::kProfileReadBaseline24h:
            if (!need_int()) return bad(key, v, "not an integer");
            p.read_baseline_24h = i;
            break;
          default:
            break;
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace internal

int RunRulesCheck(const std::vector<std::string>& paths, std::ostream& out, bool strict) {
  LoadOptions options;
  options.fail_on_error = false;
  LoadReport report;
  auto set = LoadRuleSet(paths, options, &report);
  if (!set.ok()) {
    out << "error: " << set.status().message() << "\n";
    return 1;
  }
  for (const FileReport& f : report.files) {
    const char* label = "OK         ";
    switch (f.result()) {
      case FileReport::Result::kLoaded:
        break;
      case FileReport::Result::kUnsupported:
        label = "UNSUPPORTED";
        break;
      case FileReport::Result::kError:
        label = "ERROR      ";
        break;
    }
    out << label << " " << f.path << " (" << f.rules_loaded << " loaded";
    if (f.rules_unsupported) out << ", " << f.rules_unsupported << " unsupported";
    if (f.rules_failed) out << ", " << f.rules_failed << " with errors";
    out << ")\n";
    for (const LoadMessage& m : f.messages) out << "    " << m.ToString() << "\n";
  }
  for (const LoadMessage& m : report.general) out << m.ToString() << "\n";
  out << report.files.size() << " files: " << report.rules_loaded() << " rules loaded, "
      << report.rules_unsupported() << " unsupported, " << report.rules_failed()
      << " with errors\n";
  if (report.rules_failed() > 0) return 1;
  return strict && report.rules_unsupported() > 0 ? 1 : 0;
}

int RunRulesTest(const std::vector<std::string>& paths, std::ostream& out) {
  LoadReport report;
  auto set = LoadRuleSet(paths, LoadOptions{}, &report);
  if (!set.ok()) {
    out << "error: rules do not load: " << set.status().message() << "\n";
    return 1;
  }
  const internal::RuleSetData& data = (*set)->data();
  int passed = 0;
  int failed = 0;
  for (const internal::RuleExamples& rx : data.examples) {
    const RuleInfo& info = data.infos[rx.info_index];
    for (const internal::RuleExample& ex : rx.examples) {
      EvaluatorOptions eo;
      eo.emit_all = true;
      Evaluator eval(*set, eo);
      EventBatch batch;
      std::vector<Detection> detections;
      std::string error;
      int64_t t = internal::kExampleStartNs;
      for (const internal::ExampleEvent& ev : ex.events) {
        absl::Status s = internal::BuildExampleEvent(data, rx.ns, ev, t, &batch);
        if (!s.ok()) {
          error = std::string(Sv(s.message()));
          break;
        }
        const Event& e = batch[batch.size() - 1];
        eval.Process(e, &detections);
        t = e.time_ns + kNsPerSecond;
      }
      eval.AdvanceWatermark(INT64_MAX, &detections);
      int count = 0;
      for (const Detection& d : detections) count += d.rule_id == info.id ? 1 : 0;
      const bool ok = error.empty() && (ex.expect < 0 ? count > 0 : count == ex.expect);
      (ok ? passed : failed)++;
      out << (ok ? "PASS " : "FAIL ") << rx.file << ":" << ex.line << " rule '" << info.title
          << "': " << ex.name;
      if (!error.empty()) {
        out << " (bad example event, " << error << ")";
      } else if (!ok) {
        out << " (expected "
            << (ex.expect < 0 ? std::string("a match")
                              : std::to_string(ex.expect) + " detection(s)")
            << ", got " << count << ")";
      }
      out << "\n";
    }
  }
  if (passed + failed == 0) out << "no examples (x-credwatch-tests) in the loaded rules\n";
  out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace credwatch::rules
