// Two stages of the durable detection path, ns per unit:
//   BM_CorrelationUpdate   the full rule pack (rules/) over failed and then
//                          successful logins of many credentials from a few
//                          addresses: every event feeds the brute-force and
//                          password-spray groups (the correlation update,
//                          evidence ring included), no profile stage.
//   BM_WriteBehind/N       N credentials' profiles changed, then one commit
//                          (ProfileCache::CollectDirty + StateStore::Commit,
//                          sync none) into a RocksDB state in a temporary
//                          directory: ns per profile written.
//   BM_WindowsCommit/N     N open correlation groups changed, then their
//                          records serialized (Evaluator::SerializeChanges)
//                          and committed: ns per group.
//
//   cmake -B build-bench -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_BENCH=ON
//   cmake --build build-bench --target state_write_bench && build-bench/state_write_bench
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "credwatch/event.h"
#include "credwatch/ip_address.h"
#include "credwatch/rules.h"
#include "credwatch/time_util.h"
#include "state/profile_cache.h"
#include "state/state_store.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = int64_t{1735689600} * kNsPerSecond;

// Login events of `creds` credentials from 16 addresses, one a second;
// nine failures then a success per credential. Strings live in `keep`.
std::vector<Event> Logins(int creds, int per_cred, std::vector<std::string>* keep) {
  keep->reserve(static_cast<size_t>(creds) + 16);
  for (int c = 0; c < creds; ++c) keep->push_back("t" + std::to_string(c % 12) + "-user" + std::to_string(c));
  for (int a = 0; a < 16; ++a) keep->push_back("203.0.113." + std::to_string(a));
  std::vector<Event> events;
  for (int i = 0; i < creds * per_cred; ++i) {
    const int c = i % creds;
    Event e;
    e.time_ns = kT0 + int64_t{i} * kNsPerSecond;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = (i / creds) % 10 == 9 ? Outcome::kSuccess : Outcome::kFailure;
    e.credential = (*keep)[static_cast<size_t>(c)];
    e.host = "sftp01";
    e.format = "native";
    e.src_ip_text = (*keep)[static_cast<size_t>(creds + c % 16)];
    e.src_ip = *IpAddress::Parse(e.src_ip_text);
    e.profile.valid = true;
    events.push_back(e);
  }
  return events;
}

std::shared_ptr<const rules::RuleSet> Pack() {
  static auto pack = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
  if (!pack.ok()) {
    std::fprintf(stderr, "%s\n", std::string(pack.status().message()).c_str());
    std::exit(1);
  }
  return *pack;
}

void BM_CorrelationUpdate(benchmark::State& state) {
  std::vector<std::string> keep;
  const std::vector<Event> events = Logins(2000, 10, &keep);
  auto pack = Pack();
  std::vector<Detection> out;
  size_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    rules::Evaluator ev(pack);
    state.ResumeTiming();
    for (const Event& e : events) {
      out.clear();
      ev.Process(e, &out);
      ev.AdvanceWatermark(e.time_ns - kNsPerMinute, &out);
    }
    n += events.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["ns_per_event"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CorrelationUpdate)->Unit(benchmark::kMillisecond);

// A state database in a fresh temporary directory (sync none), removed
// with it; null after SkipWithError when it cannot be opened.
struct TempStore {
  TempStore(const char* tag, benchmark::State& state)
      : dir(fs::temp_directory_path() /
            (std::string("credwatch_bench_") + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    state::StateOptions opts;
    opts.dir = dir.string();
    opts.sync = state::SyncPolicy::kNone;
    auto opened = state::StateStore::Open(opts);
    if (!opened.ok()) {
      state.SkipWithError(std::string(opened.status().message()).c_str());
      return;
    }
    store = std::move(*opened);
  }
  ~TempStore() {
    store.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<state::StateStore> store;
};

void BM_WriteBehind(benchmark::State& state) {
  const int creds = static_cast<int>(state.range(0));
  TempStore temp("wb", state);
  if (!temp.store) return;
  state::StateStore* store = temp.store.get();
  std::vector<std::string> keep;
  std::vector<Event> events = Logins(creds, 1, &keep);
  for (Event& e : events) {
    e.kind = Kind::kAccess;
    e.action = Action::kRead;
    e.outcome = Outcome::kSuccess;
    e.bytes = 4096;
    e.object = "/srv/t1/report.csv";
  }
  state::ProfileCache cache(profile::ProfileOptions{}, store, {int64_t{1} << 30, 400 * kNsPerDay});
  int64_t round = 0;
  size_t written = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& e : events) {  // every profile changes
      e.time_ns += kNsPerMinute;
      if (!cache.Observe(e).ok()) state.SkipWithError("observe failed");
    }
    ++round;
    state.ResumeTiming();
    state::StateBatch batch;
    cache.CollectDirty(&batch);
    written += batch.size();
    if (!store->Commit(batch).ok()) state.SkipWithError("commit failed");
  }
  state.counters["ns_per_profile"] = benchmark::Counter(
      static_cast<double>(written), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_WriteBehind)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_WindowsCommit(benchmark::State& state) {
  const int creds = static_cast<int>(state.range(0));
  TempStore temp("win", state);
  if (!temp.store) return;
  state::StateStore* store = temp.store.get();
  std::vector<std::string> keep;
  std::vector<Event> events = Logins(creds, 1, &keep);
  rules::Evaluator ev(Pack());
  std::vector<Detection> out;
  std::string header, key;
  size_t groups = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (Event& e : events) {  // every group changes (failures: brute force, spray)
      e.time_ns += kNsPerSecond;
      out.clear();
      ev.Process(e, &out);
    }
    state.ResumeTiming();
    state::StateBatch batch;
    ev.SerializeChanges(
        false, &header,
        [&](std::string_view k, std::string_view v) {
          key.assign("group/").append(k.data(), k.size());
          batch.Put(state::Family::kWindows, key, v);
          ++groups;
        },
        [&](std::string_view k) {
          key.assign("group/").append(k.data(), k.size());
          batch.Delete(state::Family::kWindows, key);
        });
    batch.Put(state::Family::kWindows, "evaluator/0", header);
    if (!store->Commit(batch).ok()) state.SkipWithError("commit failed");
  }
  state.counters["groups"] = static_cast<double>(ev.stats().groups);
  state.counters["ns_per_group"] = benchmark::Counter(
      static_cast<double>(groups), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_WindowsCommit)->Arg(1000)->Arg(20000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace credwatch

BENCHMARK_MAIN();
