// ProfileStore::Observe throughput and memory over 100k credentials with a
// realistic mix: mostly reads by credentials from their usual networks and
// hosts, logins / logouts, some failed logins, a few copies to external
// destinations and foreign-tenant reads, in (nearly) event-time order.
//
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_BENCH=ON
//   cmake --build build-rel --target profile_bench && build-rel/profile_bench
//
// Events are generated from compact specs into one reused Event, so the
// numbers include filling that Event; BM_BuildEventOnly measures that part
// alone. Counters: ns per event (items_per_second), bytes per credential
// (ApproxMemoryBytes / credentials, including the session table).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "credwatch/event.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"
#include "profile/profile_store.h"

namespace credwatch::profile {
namespace {

constexpr uint32_t kCredentials = 100'000;
constexpr uint32_t kTenants = 200;
constexpr uint32_t kHosts = 300;
constexpr uint32_t kObjects = 10'000;
constexpr uint32_t kEventsPerDay = 1'000'000;

enum class Type : uint8_t { kLogin, kFailedLogin, kLogout, kRead, kList, kWrite, kCopyOut };

struct Spec {
  int64_t offset_ns;  // within the day
  int64_t bytes;
  uint32_t credential;
  uint32_t src_v4;
  uint32_t dst_v4;
  uint16_t host;
  uint16_t object;
  uint16_t object_tenant;
  Type type;
};

struct Workload {
  std::vector<std::string> credentials, tenants, hosts, objects;
  // One day of events each, in (nearly) time order. `scattered`: every event
  // from an independently drawn credential (the cache-hostile worst case).
  // `sessions`: the shape of real sftp logs, bursts of one credential's
  // operations between its login and logout, overlapping.
  std::vector<Spec> scattered;
  std::vector<Spec> sessions;
  int64_t day0 = DaysFromCivil(2025, 1, 6) * kNsPerDay;

  Workload() {
    char buf[64];
    for (uint32_t t = 0; t < kTenants; ++t) {
      std::snprintf(buf, sizeof(buf), "t%03u", t);
      tenants.emplace_back(buf);
    }
    for (uint32_t c = 0; c < kCredentials; ++c) {
      std::snprintf(buf, sizeof(buf), "t%03u-user%06u", c % kTenants, c);
      credentials.emplace_back(buf);
    }
    for (uint32_t h = 0; h < kHosts; ++h) {
      std::snprintf(buf, sizeof(buf), "sftp%03u.legacy", h);
      hosts.emplace_back(buf);
    }
    for (uint32_t o = 0; o < kObjects; ++o) {
      std::snprintf(buf, sizeof(buf), "/srv/export/%03u/records-%05u.csv", o % kTenants, o);
      objects.emplace_back(buf);
    }
    std::mt19937_64 rng(42);  // fixed: the same workload every run
    scattered.resize(kEventsPerDay);
    for (uint32_t i = 0; i < kEventsPerDay; ++i) {
      Spec& s = scattered[i];
      s.offset_ns = static_cast<int64_t>(i) * (kNsPerDay / kEventsPerDay);
      s.credential = PickCredential(rng);
      const uint32_t r = static_cast<uint32_t>(rng() % 100);
      s.type = r < 40   ? Type::kRead
               : r < 55 ? Type::kLogin
               : r < 60 ? Type::kFailedLogin
               : r < 72 ? Type::kLogout
               : r < 85 ? Type::kList
               : r < 97 ? Type::kWrite
                        : Type::kCopyOut;
      Details(rng, &s);
    }
    // Nearly ordered: swap some neighbours.
    for (uint32_t i = 1; i < kEventsPerDay; i += 97) std::swap(scattered[i - 1], scattered[i]);

    // Sessions: login, 2..12 file operations a few seconds apart, logout;
    // 5% of sessions start with failed attempts. Sessions overlap in time.
    while (sessions.size() < kEventsPerDay) {
      Spec base;
      // Half the sessions from any credential, half from the busy ones.
      base.credential =
          rng() % 2 ? static_cast<uint32_t>(rng() % kCredentials) : PickCredential(rng);
      Details(rng, &base);
      int64_t t = static_cast<int64_t>(rng() % static_cast<uint64_t>(kNsPerDay - kNsPerHour));
      auto add = [&](Type type) {
        Spec s = base;
        Details(rng, &s);
        s.host = base.host;
        s.src_v4 = base.src_v4;
        s.type = type;
        s.offset_ns = t;
        t += static_cast<int64_t>(1 + rng() % 5) * kNsPerSecond;
        sessions.push_back(s);
      };
      if (rng() % 20 == 0) {
        for (int k = 0; k < 3; ++k) add(Type::kFailedLogin);
      }
      add(Type::kLogin);
      const int ops = 2 + static_cast<int>(rng() % 11);
      for (int k = 0; k < ops; ++k) {
        const uint32_t r = static_cast<uint32_t>(rng() % 100);
        add(r < 60 ? Type::kRead : r < 80 ? Type::kList : r < 97 ? Type::kWrite : Type::kCopyOut);
      }
      add(Type::kLogout);
    }
    sessions.resize(kEventsPerDay);
    std::stable_sort(sessions.begin(), sessions.end(),
                     [](const Spec& a, const Spec& b) { return a.offset_ns < b.offset_ns; });
  }

  // Zipf-ish activity: a few credentials are busy, most are quiet.
  static uint32_t PickCredential(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<uint32_t>(kCredentials * u * u) % kCredentials;
  }

  // Each credential has two home networks and two hosts; 1% elsewhere.
  static void Details(std::mt19937_64& rng, Spec* s) {
    const uint32_t c = s->credential;
    const bool roams = rng() % 100 == 0;
    s->src_v4 = roams ? static_cast<uint32_t>(rng()) : 0x51000000u + ((c * 2 + rng() % 2) << 8) + 7;
    s->host = static_cast<uint16_t>(roams ? rng() % kHosts : (c + rng() % 2) % kHosts);
    s->bytes = static_cast<int64_t>(rng() % (4 << 20));
    s->object = static_cast<uint16_t>(rng() % kObjects);
    s->object_tenant = static_cast<uint16_t>(rng() % 50 == 0 ? rng() % kTenants : c % kTenants);
    s->dst_v4 = 0xC6336400u + static_cast<uint32_t>(rng() % 16);
  }

  void Fill(const Spec& s, int64_t day_start, Event* e) const {
    e->time_ns = day_start + s.offset_ns;
    e->credential = credentials[s.credential];
    e->tenant = tenants[s.credential % kTenants];
    e->host = hosts[s.host];
    e->src_ip = IpAddress::FromV4(s.src_v4);
    e->src_internal = Tri::kFalse;
    e->outcome = Outcome::kSuccess;
    e->object = {};
    e->object_tenant = {};
    e->bytes = -1;
    e->dst_ip = IpAddress();
    e->dst_external = Tri::kUnset;
    switch (s.type) {
      case Type::kLogin:
      case Type::kFailedLogin:
        e->kind = Kind::kAuth;
        e->action = Action::kLogin;
        if (s.type == Type::kFailedLogin) e->outcome = Outcome::kFailure;
        break;
      case Type::kLogout:
        e->kind = Kind::kAuth;
        e->action = Action::kLogout;
        break;
      case Type::kRead:
      case Type::kList:
      case Type::kWrite:
        e->kind = Kind::kAccess;
        e->action = s.type == Type::kRead   ? Action::kRead
                    : s.type == Type::kList ? Action::kList
                                            : Action::kWrite;
        e->object = objects[s.object];
        e->object_tenant = tenants[s.object_tenant];
        e->bytes = s.bytes;
        break;
      case Type::kCopyOut:
        e->kind = Kind::kTransfer;
        e->action = Action::kCopy;
        e->object = objects[s.object];
        e->object_tenant = tenants[s.object_tenant];
        e->bytes = s.bytes;
        e->dst_ip = IpAddress::FromV4(s.dst_v4);
        e->dst_external = Tri::kTrue;
        break;
    }
  }
};

const Workload& GetWorkload() {
  static const Workload* w = new Workload();
  return *w;
}

void BM_Observe(benchmark::State& state) {
  const Workload& w = GetWorkload();
  const std::vector<Spec>& specs = state.range(1) ? w.sessions : w.scattered;
  ProfileStore store(ProfileOptions{});
  Event e;
  // Warm up: a few days of history so profiles, sets and read rings exist.
  const int warm_days = static_cast<int>(state.range(0));
  for (int d = 0; d < warm_days; ++d) {
    for (const Spec& s : specs) {
      w.Fill(s, w.day0 + d * kNsPerDay, &e);
      store.Observe(e);
    }
  }
  int64_t day = warm_days;
  size_t i = 0;
  for (auto _ : state) {
    w.Fill(specs[i], w.day0 + day * kNsPerDay, &e);
    store.Observe(e);
    benchmark::DoNotOptimize(e.profile);
    if (++i == specs.size()) {
      i = 0;
      ++day;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["credentials"] = static_cast<double>(store.credentials());
  state.counters["bytes_per_credential"] =
      static_cast<double>(store.ApproxMemoryBytes()) / static_cast<double>(store.credentials());
  state.counters["store_MiB"] = static_cast<double>(store.ApproxMemoryBytes()) / (1 << 20);
}
// Args: warm-up days, workload (0 scattered, 1 sessions).
BENCHMARK(BM_Observe)
    ->ArgNames({"warm_days", "sessions"})
    ->Args({3, 0})
    ->Args({3, 1})
    ->Unit(benchmark::kNanosecond);

void BM_BuildEventOnly(benchmark::State& state) {
  const Workload& w = GetWorkload();
  Event e;
  size_t i = 0;
  for (auto _ : state) {
    w.Fill(w.sessions[i], w.day0, &e);
    benchmark::DoNotOptimize(e);
    if (++i == w.sessions.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildEventOnly)->Unit(benchmark::kNanosecond);

void BM_LiveCredentialsOnHost(benchmark::State& state) {
  const Workload& w = GetWorkload();
  ProfileStore store(ProfileOptions{});
  Event e;
  for (const Spec& s : w.sessions) {
    w.Fill(s, w.day0, &e);
    store.Observe(e);
  }
  Event flow;
  flow.kind = Kind::kNetwork;
  flow.action = Action::kSend;
  std::vector<std::string_view> owners;
  size_t h = 0;
  int64_t found = 0;
  for (auto _ : state) {
    flow.host = w.hosts[h];
    flow.time_ns = w.day0 + kNsPerDay / 2;
    owners.clear();
    store.LiveCredentialsOnHost(flow, &owners);
    found += static_cast<int64_t>(owners.size());
    if (++h == w.hosts.size()) h = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["owners_per_flow"] =
      static_cast<double>(found) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}
BENCHMARK(BM_LiveCredentialsOnHost)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace credwatch::profile

BENCHMARK_MAIN();
