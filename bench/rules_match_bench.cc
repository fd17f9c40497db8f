// Stateless rule matching, ns per event, with a realistic pack and mix:
// the SigmaHQ CloudTrail rules plus a handful of credwatch rules, over the
// real CloudTrail records of one account's day (projected as the decoder
// does) interleaved with as many synthetic sshd/sftp events.
//
//   cmake -B build-rel -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_BENCH=ON
//   cmake --build build-rel --target rules_match_bench && build-rel/rules_match_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "credwatch/event_batch.h"
#include "credwatch/rules.h"
#include "credwatch/time_util.h"
#include "simdjson.h"

namespace credwatch::rules {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCredwatchRules = R"(title: Login From A New Network
id: bench-new-source
logsource: {product: credwatch}
detection:
  selection: {kind: auth, action: login, outcome: success, profile.src_new: true, profile.learning: false}
  filter_internal: {src.internal: true}
  condition: selection and not filter_internal
level: medium
---
title: Read Of Another Tenant's Data
id: bench-foreign-read
logsource: {product: credwatch}
detection:
  selection: {action: [read, copy], profile.tenant_foreign: true}
  condition: selection
level: high
---
title: Read Volume Far Above Baseline
id: bench-volume
logsource: {product: credwatch}
detection:
  selection:
    action: read
    profile.read_ratio_24h|gte: 20
    profile.read_bytes_24h|gt: 1000000000
  condition: selection
level: high
---
title: Many Failures Then Success
id: bench-failures
logsource: {product: credwatch}
detection:
  selection: {action: login, outcome: success, profile.failures_10m|gte: 10}
  condition: selection
level: high
---
title: Night Login From Outside
id: bench-night
logsource: {product: credwatch}
detection:
  selection: {action: login, src.internal: false}
  night:
    - time|hour|gte: 22
    - time|hour|lt: 5
  filter_partner:
    src.ip|cidr: [198.51.100.0/24, '2001:db8::/32']
  condition: selection and night and not filter_partner
level: low
---
title: Scripted Client
id: bench-client
logsource: {product: credwatch}
detection:
  selection:
    user_agent|re: '(?i)(python-requests|curl|wget|paramiko)/[0-9.]+'
  scope: {kind: [access, transfer]}
  condition: selection and scope
level: low
---
title: Copy To An External Destination
id: bench-copy-out
logsource: {product: credwatch}
detection:
  selection: {action: [copy, send], dst.external: true}
  known: {profile.dst_new: false}
  condition: selection and not known
level: high
---
title: Sensitive Export Paths
id: bench-paths
logsource: {product: credwatch}
detection:
  selection:
    action: read
    object|contains: [/export/, /backup/, patients, '.sql']
  condition: selection
level: medium
)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Workload {
  std::shared_ptr<const RuleSet> rules;
  EventBatch batch;
  size_t cloudtrail = 0;
};

void ProjectCloudTrail(const RuleSet& set, simdjson::dom::element r, EventBatch& batch) {
  Arena& a = batch.arena();
  Event& e = batch.Add();
  e.format = "cloudtrail";
  std::string_view s;
  if (!r["eventTime"].get_string().get(s)) e.time_ns = ParseIso8601(s).value_or(0);
  if (!r["userIdentity"]["arn"].get_string().get(s)) e.credential = a.Copy(s);
  if (!r["sourceIPAddress"].get_string().get(s)) {
    e.src_ip_text = a.Copy(s);
    if (auto ip = IpAddress::Parse(s)) e.src_ip = *ip;
  }
  if (!r["userAgent"].get_string().get(s)) e.user_agent = a.Copy(s);
  // What the CloudTrail decoder maps: logins and S3 object access.
  if (!r["eventName"].get_string().get(s)) {
    if (s == "ConsoleLogin") {
      e.kind = Kind::kAuth;
      e.action = Action::kLogin;
    } else if (s == "GetObject") {
      e.kind = Kind::kAccess;
      e.action = Action::kRead;
    } else if (s == "PutObject") {
      e.kind = Kind::kAccess;
      e.action = Action::kWrite;
    } else if (s.rfind("List", 0) == 0) {
      e.kind = Kind::kAccess;
      e.action = Action::kList;
    }
  }
  for (const Projection::Path& p : set.projection(Format::kCloudTrail).paths) {
    simdjson::dom::element v = r;
    bool found = true;
    size_t start = 0;
    while (found && start <= p.dotted.size()) {
      size_t dot = p.dotted.find('.', start);
      if (dot == std::string::npos) dot = p.dotted.size();
      simdjson::dom::object obj;
      found = !v.get_object().get(obj) &&
              !obj[std::string_view(p.dotted).substr(start, dot - start)].get(v);
      start = dot + 1;
    }
    if (!found || v.is_null()) continue;
    e.AddExtra(p.id, v.is_string() ? a.Copy(v.get_string().value()) : a.Copy(simdjson::minify(v)));
  }
}

void AddNative(size_t i, EventBatch& batch) {
  Arena& a = batch.arena();
  Event& e = batch.Add();
  e.format = i % 3 == 0 ? "journald" : "syslog";
  e.time_ns = 1735689600LL * kNsPerSecond + static_cast<int64_t>(i) * 7 * kNsPerSecond;
  const std::string user = "t" + std::to_string(100 + i % 40) + "-user" + std::to_string(i % 7);
  e.credential = a.Copy(user);
  e.tenant = a.Copy(user.substr(0, 4));
  e.host = a.Copy("legacy-db-" + std::to_string(i % 5));
  const std::string ip = i % 11 == 0 ? "203.0.113." + std::to_string(i % 200)
                                     : "10.2." + std::to_string(i % 9) + ".17";
  e.src_ip_text = a.Copy(ip);
  e.src_ip = *IpAddress::Parse(ip);
  e.src_internal = i % 11 == 0 ? Tri::kFalse : Tri::kTrue;
  e.profile.valid = true;
  e.profile.learning = i % 13 == 0;
  e.profile.src_new = i % 29 == 0;
  e.profile.read_bytes_24h = static_cast<int64_t>(i % 100) * 10'000'000;
  e.profile.read_ratio_24h = static_cast<double>(i % 50) / 2;
  switch (i % 4) {
    case 0:
      e.kind = Kind::kAuth;
      e.action = Action::kLogin;
      e.outcome = i % 8 == 0 ? Outcome::kFailure : Outcome::kSuccess;
      e.user_agent = a.Copy("OpenSSH_8.4p1");
      break;
    default:
      e.kind = Kind::kAccess;
      e.action = i % 4 == 3 ? Action::kList : Action::kRead;
      e.object =
          a.Copy("/srv/data/" + user.substr(0, 4) + "/records/" + std::to_string(i % 300) + ".csv");
      e.object_tenant = e.tenant;
      e.bytes = static_cast<int64_t>(i % 1000) * 4096;
      e.user_agent = a.Copy(i % 17 == 0 ? "paramiko/2.7.1" : "OpenSSH_8.4p1");
      break;
  }
}

Workload& GetWorkload() {
  static Workload* w = [] {
    auto* w = new Workload;
    const std::string datasets = CREDWATCH_DATASETS_DIR;
    std::vector<RuleSource> sources;
    std::vector<std::string> files;
    for (const auto& entry :
         fs::recursive_directory_iterator(datasets + "/sigma/rules/cloud/aws")) {
      if (entry.path().extension() == ".yml") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) sources.push_back({f, ReadFile(f)});
    sources.push_back({"credwatch.yml", kCredwatchRules});
    auto set = CompileRuleSet(sources);
    if (!set.ok()) {
      fprintf(stderr, "rules: %s\n", std::string(set.status().message()).c_str());
      std::abort();
    }
    w->rules = *set;
    std::vector<std::string> ct_files;
    for (const auto& entry : fs::directory_iterator(datasets + "/cloudtrail-invictus/CloudTrail")) {
      ct_files.push_back(entry.path().string());
    }
    std::sort(ct_files.begin(), ct_files.end());
    simdjson::dom::parser parser;
    size_t native = 0;
    for (const auto& f : ct_files) {
      simdjson::dom::element doc;
      if (parser.load(f).get(doc)) continue;
      for (simdjson::dom::element r : doc["Records"].get_array()) {
        ProjectCloudTrail(*w->rules, r, w->batch);
        ++w->cloudtrail;
        AddNative(native++, w->batch);  // one of each, interleaved
      }
    }
    return w;
  }();
  return *w;
}

// The events one benchmark iteration cycles through: every event of the mix
// (state.range(0) == 0: the working set is several MB, so most events come
// from L3 or memory, as after a cross-thread hand-off), or an evenly spread
// sample of range(0) events that stays in cache, as right after decoding on
// the same core: the cost of matching itself.
std::vector<const Event*> Sample(const Workload& w, int64_t n) {
  std::vector<const Event*> out;
  const size_t total = w.batch.size();
  const size_t count = n == 0 ? total : static_cast<size_t>(n);
  for (size_t k = 0; k < count; ++k) out.push_back(&w.batch[k * total / count]);
  return out;
}

void BM_StatelessMatch(benchmark::State& state) {
  Workload& w = GetWorkload();
  const std::vector<const Event*> events = Sample(w, state.range(0));
  Evaluator eval(w.rules);
  std::vector<Detection> out;
  out.reserve(64);
  size_t i = 0;
  for (auto _ : state) {
    eval.Process(*events[i], &out);
    if (++i == events.size()) i = 0;
    if (out.size() > 32) out.clear();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  const EvaluatorStats s = eval.stats();
  state.counters["rules"] = static_cast<double>(w.rules->num_detection_rules());
  state.counters["events"] = static_cast<double>(events.size());
  state.counters["cand/event"] = static_cast<double>(s.candidates) / static_cast<double>(s.events);
  state.counters["match%"] = 100.0 * static_cast<double>(s.matches) / static_cast<double>(s.events);
}
BENCHMARK(BM_StatelessMatch)->Arg(256)->Arg(0);

// Only events that match nothing: the cost of deciding, without building
// Detections for the ~5% that match.
void BM_StatelessDecideOnly(benchmark::State& state) {
  Workload& w = GetWorkload();
  Evaluator eval(w.rules);
  std::vector<Detection> out;
  std::vector<const Event*> quiet;
  for (const Event* e : Sample(w, 0)) {
    out.clear();
    eval.Process(*e, &out);
    if (out.empty()) quiet.push_back(e);
  }
  if (state.range(0) > 0) {
    std::vector<const Event*> sample;
    for (int64_t k = 0; k < state.range(0); ++k)
      sample.push_back(
          quiet[static_cast<size_t>(k) * quiet.size() / static_cast<size_t>(state.range(0))]);
    quiet = std::move(sample);
  }
  size_t i = 0;
  for (auto _ : state) {
    eval.Process(*quiet[i], &out);
    if (++i == quiet.size()) i = 0;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["events"] = static_cast<double>(quiet.size());
}
BENCHMARK(BM_StatelessDecideOnly)->Arg(256)->Arg(0);

}  // namespace
}  // namespace credwatch::rules

BENCHMARK_MAIN();
