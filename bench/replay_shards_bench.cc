// Detection throughput of the runtime (engine/runtime) against the
// single-threaded detection path, without decoding: a simulated estate is
// decoded and merged once into memory, then replayed into
//   BM_Inline            ProfileStore + Evaluator + AlertFolder on this thread
//                        (what `replay --shards 0` runs per event)
//   BM_Sharded/N         ShardedDetector with N shard threads
// so the numbers show what the shards take off the reading thread and what
// the rings and copies cost.
//
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_BENCH=ON
//   cmake --build build-rel --target replay_shards_bench
//   build-rel/replay_shards_bench [--benchmark_min_time=...]
//
// CREDWATCH_BENCH_SIM=DIR replays an existing `credwatch simulate` output
// instead of simulating 200k records into a temporary directory.
// items_per_second is events per wall-clock second; the CPU column is the
// whole process's (MeasureProcessCPUTime), so it includes every thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "alert/alert_folder.h"
#include "alert/finding.h"
#include "credwatch/config.h"
#include "credwatch/event_batch.h"
#include "credwatch/rules.h"
#include "credwatch/site.h"
#include "profile/profile_store.h"
#include "replay/replay.h"
#include "replay/simulator/simulator.h"
#include "runtime/detection_order.h"
#include "runtime/host_sessions.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

// The merged event sequence, held in memory.
struct Recorded {
  std::vector<std::unique_ptr<EventBatch>> batches;
  std::vector<const Event*> events;
  std::vector<std::pair<size_t, int64_t>> watermarks;  // (before event i, time)
};

class Recorder : public replay::EventConsumer {
 public:
  explicit Recorder(Recorded* r) : r_(r) {}
  void OnEvent(Event& e) override {
    if (r_->batches.empty() || r_->batches.back()->size() == 4096) {
      r_->batches.push_back(std::make_unique<EventBatch>());
    }
    EventBatch& b = *r_->batches.back();
    Event& c = b.Add();
    c = e;
    Arena& a = b.arena();
    for (std::string_view* f : {&c.credential, &c.tenant, &c.host, &c.session, &c.object, &c.object_tenant,
                                &c.dst_account, &c.user_agent, &c.format, &c.source, &c.src_ip_text,
                                &c.dst_ip_text}) {
      *f = a.Copy(*f);
    }
    for (int i = 0; i < c.num_extras; ++i) c.extras[i].value = a.Copy(c.extras[i].value);
    count_++;
  }
  void OnWatermark(int64_t t) override { r_->watermarks.push_back({count_, t}); }
  absl::Status Finish() override {
    for (auto& b : r_->batches) {
      for (const Event& e : *b) r_->events.push_back(&e);
    }
    return absl::OkStatus();
  }

 private:
  Recorded* r_;
  size_t count_ = 0;
};

struct Setup {
  Config config;
  std::shared_ptr<const rules::RuleSet> rules;
  std::shared_ptr<const Site> site;
  profile::ProfileOptions profile;
  Recorded recorded;
  bool ok = false;

  Setup() {
    std::string dir;
    if (const char* env = std::getenv("CREDWATCH_BENCH_SIM")) {
      dir = env;
    } else {
      dir = (fs::temp_directory_path() / "credwatch_replay_shards_bench").string();
      sim::SimulateOptions s;
      s.tenants = 12;
      s.target_events = 200'000;
      s.out_dir = dir;
      if (!sim::Simulate(s).ok()) return;
    }
    auto cfg = LoadConfig(dir + "/credwatch.yaml");
    if (!cfg.ok()) return;
    config = *cfg;
    auto set = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
    if (!set.ok()) return;
    rules = *set;
    auto st = Site::Create(config.site);
    if (!st.ok()) return;
    site = *st;
    profile.learning_ns = config.profile.learning_period_ns;
    profile.multi_tenant_globs = config.site.tenants.multi_tenant_credentials;
    replay::ReplayOptions ropts;
    ropts.config = config;
    ropts.inputs = {dir + "/cloudtrail.ndjson", dir + "/cloudtrail", dir + "/journal.ndjson", dir + "/flows.ndjson"};
    std::shared_ptr<const rules::RuleSet> r = rules;
    ropts.projection_for = [r](Format f) { return &r->projection(f); };
    Recorder rec(&recorded);
    ok = replay::MergeInputs(ropts, rec).ok();
    std::fprintf(stderr, "replay_shards_bench: %zu events from %s\n", recorded.events.size(), dir.c_str());
  }
};

Setup& TheSetup() {
  static Setup* setup = new Setup();
  return *setup;
}

// The single-threaded detection loop (replay/detect_consumer.cc, shards 0).
void BM_Inline(benchmark::State& state) {
  Setup& s = TheSetup();
  if (!s.ok) {
    state.SkipWithError("setup failed");
    return;
  }
  int64_t alerts = 0;
  for (auto _ : state) {
    profile::ProfileStore profiles(s.profile);
    rules::Evaluator evaluator(s.rules);
    runtime::DetectionOrder order(*s.rules);
    alert::AlertFolder folder;
    std::vector<Detection> out;
    std::vector<std::string_view> owners;
    std::string scratch;
    auto emit = [&] {
      order.Sort(&out);
      for (const Detection& d : out) alerts += folder.Offer(d) != nullptr;
      out.clear();
    };
    size_t w = 0;
    const auto& events = s.recorded.events;
    for (size_t i = 0; i < events.size(); ++i) {
      for (; w < s.recorded.watermarks.size() && s.recorded.watermarks[w].first == i; ++w) {
        evaluator.AdvanceWatermark(s.recorded.watermarks[w].second, &out);
        emit();
      }
      Event& e = const_cast<Event&>(*events[i]);  // ours; Observe rewrites e.profile
      if (runtime::IsHostFlow(e)) {
        owners.clear();
        profiles.LiveCredentialsOnHost(e, &owners);
        for (std::string_view owner : owners) {
          Event copy = e;
          copy.credential = owner;
          copy.tenant = s.site->CredentialTenant(owner, &scratch);
          profiles.Observe(copy);
          evaluator.Process(copy, &out);
          emit();
        }
        if (!owners.empty()) continue;
      } else {
        profiles.Observe(e);
      }
      evaluator.Process(e, &out);
      emit();
    }
    evaluator.AdvanceWatermark(INT64_MAX, &out);
    emit();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.recorded.events.size()));
  state.counters["alerts"] = static_cast<double>(alerts) / static_cast<double>(state.iterations());
}

void BM_Sharded(benchmark::State& state) {
  Setup& s = TheSetup();
  if (!s.ok) {
    state.SkipWithError("setup failed");
    return;
  }
  runtime::RuleSetPublisher publisher(s.rules);
  int64_t alerts = 0;
  runtime::ShardedDetectorStats stats;
  for (auto _ : state) {
    runtime::ShardedDetectorOptions o;
    o.shards = static_cast<int>(state.range(0));
    o.profile = s.profile;
    o.site = s.site;
    o.rules = &publisher;
    runtime::ShardedDetector detector(o, [&alerts](const alert::Finding&) { ++alerts; });
    size_t w = 0;
    const auto& events = s.recorded.events;
    for (size_t i = 0; i < events.size(); ++i) {
      for (; w < s.recorded.watermarks.size() && s.recorded.watermarks[w].first == i; ++w) {
        detector.OnWatermark(s.recorded.watermarks[w].second);
      }
      detector.OnEvent(*events[i]);
    }
    detector.Finish();
    stats = detector.stats();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.recorded.events.size()));
  state.counters["alerts"] = static_cast<double>(alerts) / static_cast<double>(state.iterations());
  state.counters["forwarded/event"] =
      static_cast<double>(stats.forwarded) / static_cast<double>(std::max<uint64_t>(1, stats.events));
  state.counters["producer_waits"] = static_cast<double>(stats.producer_waits);
}

BENCHMARK(BM_Inline)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_Sharded)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();

}  // namespace
}  // namespace credwatch

BENCHMARK_MAIN();
