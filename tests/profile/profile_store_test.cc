#include "profile/profile_store.h"

#include <gtest/gtest.h>

#include "credwatch/site.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <deque>
#include <string>
#include <vector>

#include "credwatch/event.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"

// Counts heap allocations, to check the hot path does none. The replacement
// operator new takes its memory from malloc, so free is the matching release;
// GCC 12 at -O3 sees the inlined pair and warns anyway.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<int64_t> g_allocations{0};

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace credwatch::profile {
namespace {

constexpr int64_t kMB = 1000 * 1000;
// 2024-01-01T00:00:00Z: day, hour and minute buckets all start here.
const int64_t kT0 = DaysFromCivil(2024, 1, 1) * kNsPerDay;

// Builds events whose string views stay valid for the test.
class Events {
 public:
  Event Make(std::string_view credential, int64_t t, Kind kind, Action action,
             Outcome outcome = Outcome::kSuccess) {
    Event e;
    e.credential = Keep(credential);
    e.tenant = "t001";
    e.time_ns = t;
    e.kind = kind;
    e.action = action;
    e.outcome = outcome;
    e.host = "sftp01";
    return e;
  }
  Event Login(std::string_view credential, int64_t t, std::string_view ip,
              Outcome outcome = Outcome::kSuccess) {
    Event e = Make(credential, t, Kind::kAuth, Action::kLogin, outcome);
    SetSrc(e, ip);
    return e;
  }
  Event Read(std::string_view credential, int64_t t, int64_t bytes) {
    Event e = Make(credential, t, Kind::kAccess, Action::kRead);
    e.bytes = bytes;
    SetSrc(e, "10.1.2.3");
    e.src_internal = Tri::kTrue;
    return e;
  }
  void SetSrc(Event& e, std::string_view ip) {
    e.src_ip_text = Keep(ip);
    e.src_ip = *IpAddress::Parse(ip);
  }
  void SetDst(Event& e, std::string_view ip) {
    e.dst_ip_text = Keep(ip);
    e.dst_ip = *IpAddress::Parse(ip);
  }
  std::string_view Keep(std::string_view s) { return strings_.emplace_back(s); }

 private:
  std::deque<std::string> strings_;
};

ProfileFields Observe(ProfileStore& store, Event e) {
  store.Observe(e);
  return e.profile;
}

TEST(ProfileStore, NoCredentialLeavesProfileInvalid) {
  ProfileStore store({});
  Events ev;
  Event e = ev.Make("", kT0, Kind::kNetwork, Action::kSend);
  store.Observe(e);
  EXPECT_FALSE(e.profile.valid);
  EXPECT_EQ(store.credentials(), 0u);
}

TEST(ProfileStore, LearningSuppressesNewFlagsThenNewNetworkIsFlagged) {
  ProfileStore store({});
  Events ev;
  auto first = Observe(store, ev.Login("alice", kT0, "81.2.3.4"));
  EXPECT_TRUE(first.valid);
  EXPECT_TRUE(first.learning);
  EXPECT_FALSE(first.src_new);
  EXPECT_FALSE(first.host_new);

  // Still learning on day 6: a different network, host and destination raise nothing.
  Event other = ev.Login("alice", kT0 + 6 * kNsPerDay, "203.0.113.9");
  other.host = "sftp02";
  auto day6 = Observe(store, other);
  EXPECT_TRUE(day6.learning);
  EXPECT_FALSE(day6.src_new);
  EXPECT_FALSE(day6.host_new);

  // After 7 days: a new /24 is new, another address in a known /24 is not,
  // and the network met while learning is known.
  const int64_t t = kT0 + 8 * kNsPerDay;
  auto fresh = Observe(store, ev.Login("alice", t, "198.51.100.7"));
  EXPECT_FALSE(fresh.learning);
  EXPECT_TRUE(fresh.src_new);
  EXPECT_FALSE(fresh.host_new);
  EXPECT_FALSE(Observe(store, ev.Login("alice", t + 1, "81.2.3.200")).src_new);
  EXPECT_FALSE(Observe(store, ev.Login("alice", t + 2, "203.0.113.1")).src_new);
  // Once used, the new network is known.
  EXPECT_FALSE(Observe(store, ev.Login("alice", t + 3, "198.51.100.99")).src_new);

  Event new_host = ev.Login("alice", t + 4, "81.2.3.4");
  new_host.host = "legacy07";
  EXPECT_TRUE(Observe(store, new_host).host_new);
}

TEST(ProfileStore, Ipv6NetworksAreSlash48) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("bob", kT0, "2001:db8:1::5"));
  const int64_t t = kT0 + 8 * kNsPerDay;
  EXPECT_FALSE(Observe(store, ev.Login("bob", t, "2001:db8:1:ffff::1")).src_new);
  EXPECT_TRUE(Observe(store, ev.Login("bob", t + 1, "2001:db8:2::1")).src_new);
}

TEST(ProfileStore, FailedLoginsCountButTeachNothing) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("alice", kT0, "81.2.3.4"));
  const int64_t t = kT0 + 10 * kNsPerDay;
  for (int i = 0; i < 4; ++i) {
    auto f = Observe(store, ev.Login("alice", t + i * kNsPerMinute, "45.9.8.7", Outcome::kFailure));
    EXPECT_EQ(f.failures_10m, i + 1);
    EXPECT_TRUE(f.src_new) << "failure " << i;
  }
  // The spray did not make the network familiar: the success is still new.
  auto ok = Observe(store, ev.Login("alice", t + 5 * kNsPerMinute, "45.9.8.7"));
  EXPECT_TRUE(ok.src_new);
  EXPECT_EQ(ok.failures_10m, 4);
  // 10 minutes after the first failure it has left the window.
  auto later =
      Observe(store, ev.Login("alice", t + 12 * kNsPerMinute, "45.9.8.7", Outcome::kFailure));
  EXPECT_EQ(later.failures_10m, 2);  // minutes 3 and 12
  auto much_later = Observe(store, ev.Login("alice", t + 30 * kNsPerMinute, "45.9.8.7"));
  EXPECT_EQ(much_later.failures_10m, 0);
}

TEST(ProfileStore, IdleDaysSincePreviousActivity) {
  ProfileStore store({});
  Events ev;
  EXPECT_EQ(Observe(store, ev.Login("carol", kT0, "81.2.3.4")).idle_days, 0);
  auto back = Observe(store, ev.Login("carol", kT0 + 40 * kNsPerDay, "81.2.3.4"));
  EXPECT_DOUBLE_EQ(back.idle_days, 40.0);
  auto soon = Observe(store, ev.Login("carol", kT0 + 40 * kNsPerDay + 12 * kNsPerHour, "81.2.3.4"));
  EXPECT_DOUBLE_EQ(soon.idle_days, 0.5);
  // A late event does not report idleness.
  EXPECT_EQ(Observe(store, ev.Login("carol", kT0 + 20 * kNsPerDay, "81.2.3.4")).idle_days, 0);
}

TEST(ProfileStore, DestinationsIncludeExternalReadersAndSkipInternalOnes) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("dave", kT0, "10.1.2.3"));
  const int64_t t = kT0 + 9 * kNsPerDay;

  Event copy = ev.Read("dave", t, 100);
  copy.action = Action::kCopy;
  ev.SetDst(copy, "203.0.113.50");
  copy.dst_external = Tri::kTrue;
  EXPECT_TRUE(Observe(store, copy).dst_new);
  copy.time_ns = t + 1;
  EXPECT_FALSE(Observe(store, copy).dst_new);

  // A read by a client outside the site: its address is where data went.
  Event remote = ev.Read("dave", t + 2, 100);
  ev.SetSrc(remote, "45.77.1.2");
  remote.src_internal = Tri::kFalse;
  EXPECT_TRUE(Observe(store, remote).dst_new);

  // An internal destination and a plain internal read are not destinations.
  Event internal = ev.Read("dave", t + 3, 100);
  internal.action = Action::kCopy;
  ev.SetDst(internal, "10.9.9.9");
  internal.dst_external = Tri::kFalse;
  EXPECT_FALSE(Observe(store, internal).dst_new);
  EXPECT_FALSE(Observe(store, ev.Read("dave", t + 4, 100)).dst_new);

  Event share = ev.Make("dave", t + 5, Kind::kTransfer, Action::kCopy);
  share.dst_account = "999988887777";
  EXPECT_TRUE(Observe(store, share).dst_new);
  share.time_ns = t + 6;
  EXPECT_FALSE(Observe(store, share).dst_new);
}

TEST(ProfileStore, TenantsIn24HoursCountAndExpire) {
  ProfileOptions options;
  options.multi_tenant_globs = {"svc-backup", "vendor-support*"};
  ProfileStore store(options);
  Events ev;
  auto read_of = [&](std::string_view cred, int64_t t, std::string_view tenant) {
    Event e = ev.Read(cred, t, 10);
    e.object = "/data/file";
    e.object_tenant = ev.Keep(tenant);
    return Observe(store, e);
  };
  auto own = read_of("eve", kT0, "t001");
  EXPECT_EQ(own.tenants_24h, 1);
  EXPECT_FALSE(own.tenant_foreign);
  auto foreign = read_of("eve", kT0 + kNsPerHour, "t002");
  EXPECT_EQ(foreign.tenants_24h, 2);
  EXPECT_TRUE(foreign.tenant_foreign);
  EXPECT_EQ(read_of("eve", kT0 + 2 * kNsPerHour, "t003").tenants_24h, 3);
  EXPECT_EQ(read_of("eve", kT0 + 3 * kNsPerHour, "t002").tenants_24h, 3);  // distinct
  // t001 (hour 0) has left the 24 h window at hour 24.5; t002 and t003 have not.
  Event login = ev.Login("eve", kT0 + 24 * kNsPerHour + 30 * kNsPerMinute, "10.1.2.3");
  EXPECT_EQ(Observe(store, login).tenants_24h, 2);
  Event later = ev.Login("eve", kT0 + 30 * kNsPerHour, "10.1.2.3");
  EXPECT_EQ(Observe(store, later).tenants_24h, 0);

  // Multi-tenant credentials are never foreign, but still count tenants.
  auto backup = read_of("svc-backup", kT0, "t009");
  EXPECT_FALSE(backup.tenant_foreign);
  EXPECT_EQ(backup.tenants_24h, 1);
  EXPECT_FALSE(read_of("vendor-support-7", kT0, "t009").tenant_foreign);
  EXPECT_FALSE(read_of("vendor-supporter", kT0, "t009").tenant_foreign);
  EXPECT_TRUE(read_of("svc-backup2", kT0, "t009").tenant_foreign);
}

TEST(ProfileStore, ForeignTenantFallsBackToTheRememberedHomeTenant) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("frank", kT0, "10.1.2.3"));  // tenant t001
  Event e = ev.Read("frank", kT0 + 1, 10);
  e.tenant = "";  // this record did not carry the credential's tenant
  e.object_tenant = "t002";
  EXPECT_TRUE(Observe(store, e).tenant_foreign);
  e.object_tenant = "t001";
  EXPECT_FALSE(Observe(store, e).tenant_foreign);
}

TEST(ProfileStore, ReadWindowsRoll) {
  ProfileStore store({});
  Events ev;
  auto r1 = Observe(store, ev.Read("gina", kT0, 100));
  EXPECT_EQ(r1.read_bytes_1h, 100);
  EXPECT_EQ(r1.read_bytes_24h, 100);
  EXPECT_EQ(r1.read_bytes_7d, 100);
  auto r2 = Observe(store, ev.Read("gina", kT0 + 30 * kNsPerMinute, 200));
  EXPECT_EQ(r2.read_bytes_1h, 300);
  // Writes and failed reads move no data off the server.
  Event write = ev.Read("gina", kT0 + 31 * kNsPerMinute, 5000);
  write.action = Action::kWrite;
  EXPECT_EQ(Observe(store, write).read_bytes_1h, 300);
  Event failed = ev.Read("gina", kT0 + 32 * kNsPerMinute, 5000);
  failed.outcome = Outcome::kFailure;
  EXPECT_EQ(Observe(store, failed).read_bytes_1h, 300);

  // The first read leaves the hour; events without bytes still see the roll.
  auto at61 = Observe(store, ev.Login("gina", kT0 + 61 * kNsPerMinute, "10.1.2.3"));
  EXPECT_EQ(at61.read_bytes_1h, 200);
  EXPECT_EQ(at61.read_bytes_24h, 300);
  auto at2h = Observe(store, ev.Login("gina", kT0 + 2 * kNsPerHour, "10.1.2.3"));
  EXPECT_EQ(at2h.read_bytes_1h, 0);
  EXPECT_EQ(at2h.read_bytes_24h, 300);
  auto next_day = Observe(store, ev.Login("gina", kT0 + 25 * kNsPerHour, "10.1.2.3"));
  EXPECT_EQ(next_day.read_bytes_24h, 0);
  EXPECT_EQ(next_day.read_bytes_7d, 300);
  auto week = Observe(store, ev.Login("gina", kT0 + 7 * kNsPerDay, "10.1.2.3"));
  EXPECT_EQ(week.read_bytes_7d, 0);
}

TEST(ProfileStore, LateEventsCountWhereTheyFitAndCorruptNothing) {
  ProfileStore store({});
  Events ev;
  const int64_t t = kT0 + 10 * kNsPerHour;
  Observe(store, ev.Read("hank", t, 1000));
  // 10 minutes late: inside every window.
  auto late = Observe(store, ev.Read("hank", t - 10 * kNsPerMinute, 10));
  EXPECT_EQ(late.read_bytes_1h, 1010);
  EXPECT_EQ(late.read_bytes_24h, 1010);
  // 3 hours late: out of the hour, still in the day.
  auto later = Observe(store, ev.Read("hank", t - 3 * kNsPerHour, 20));
  EXPECT_EQ(later.read_bytes_1h, 1010);
  EXPECT_EQ(later.read_bytes_24h, 1030);
  // 40 days late: in no window at all, and nothing already counted is lost.
  auto ancient = Observe(store, ev.Read("hank", t - 40 * kNsPerDay, 1 << 30));
  EXPECT_EQ(ancient.read_bytes_24h, 1030);
  EXPECT_EQ(ancient.read_bytes_7d, 1030);
  EXPECT_EQ(ancient.read_baseline_24h, 0);
  auto now = Observe(store, ev.Login("hank", t + 1, "10.1.2.3"));
  EXPECT_EQ(now.read_bytes_1h, 1010);
}

TEST(ProfileStore, BaselineIsTheUsualDayAndRatioFlagsTheOutlier) {
  ProfileStore store({});
  Events ev;
  // 30 days of a steady 10 MB a day (two reads at 09:00 and 15:00).
  for (int d = 0; d < 30; ++d) {
    const int64_t day = kT0 + d * kNsPerDay;
    Observe(store, ev.Read("ivan", day + 9 * kNsPerHour, 4 * kMB));
    Observe(store, ev.Read("ivan", day + 15 * kNsPerHour, 6 * kMB));
  }
  const int64_t today = kT0 + 30 * kNsPerDay;
  auto usual = Observe(store, ev.Read("ivan", today + 9 * kNsPerHour, 4 * kMB));
  EXPECT_EQ(usual.read_baseline_24h, 10 * kMB);
  EXPECT_EQ(usual.read_bytes_24h, 10 * kMB);  // yesterday 15:00 + today 09:00
  EXPECT_NEAR(usual.read_ratio_24h, 1.0, 1e-9);

  // Then a 2 GB day.
  auto huge = Observe(store, ev.Read("ivan", today + 10 * kNsPerHour, 2000 * kMB));
  EXPECT_EQ(huge.read_baseline_24h, 10 * kMB);
  EXPECT_EQ(huge.read_bytes_24h, 2010 * kMB);
  EXPECT_NEAR(huge.read_ratio_24h, 201.0, 1e-9);

  // The next day the 2 GB day is history but the median shrugs it off.
  auto after = Observe(store, ev.Read("ivan", today + kNsPerDay + 9 * kNsPerHour, 4 * kMB));
  EXPECT_EQ(after.read_baseline_24h, 10 * kMB);
}

TEST(ProfileStore, RatioUsesAFloorWithoutHistory) {
  ProfileStore store({});
  Events ev;
  auto first = Observe(store, ev.Read("judy", kT0, 5 << 20));
  EXPECT_EQ(first.read_baseline_24h, 0);
  EXPECT_NEAR(first.read_ratio_24h, 5.0, 1e-9);  // 5 MiB / 1 MiB floor
  auto none = Observe(store, ev.Login("kim", kT0, "10.1.2.3"));
  EXPECT_EQ(none.read_ratio_24h, 0);
  EXPECT_EQ(none.read_bytes_24h, 0);
}

TEST(ProfileStore, FlowsAreAttributedToLiveSessions) {
  ProfileStore store({});
  Events ev;
  Event alice = ev.Login("alice", kT0, "81.2.3.4");
  alice.session = "sshd[101]";
  store.Observe(alice);
  Event bob = ev.Login("bob", kT0, "81.2.3.5");
  bob.host = "sftp02";
  store.Observe(bob);
  Event zed = ev.Login("zed", kT0 + kNsPerMinute, "81.2.3.6");
  zed.session = "sshd[102]";
  store.Observe(zed);

  auto owners = [&](std::string_view host, int64_t t) {
    Event flow = ev.Make("", t, Kind::kNetwork, Action::kSend);
    flow.host = ev.Keep(host);
    std::vector<std::string> out;
    store.LiveCredentialsOnHost(flow, &out);
    return out;
  };
  EXPECT_EQ(owners("sftp01", kT0 + 5 * kNsPerMinute), (std::vector<std::string>{"alice", "zed"}));
  EXPECT_EQ(owners("sftp02", kT0 + 5 * kNsPerMinute), (std::vector<std::string>{"bob"}));
  EXPECT_TRUE(owners("sftp01", kT0 - kNsPerMinute).empty());  // before any login
  EXPECT_TRUE(owners("nohost", kT0).empty());

  Event logout = ev.Make("alice", kT0 + 10 * kNsPerMinute, Kind::kAuth, Action::kLogout);
  logout.session = "sshd[101]";
  store.Observe(logout);
  EXPECT_EQ(owners("sftp01", kT0 + 9 * kNsPerMinute), (std::vector<std::string>{"alice", "zed"}));
  EXPECT_EQ(owners("sftp01", kT0 + 11 * kNsPerMinute), (std::vector<std::string>{"zed"}));

  // Sessions expire after 12 idle hours; activity refreshes them.
  EXPECT_TRUE(owners("sftp01", kT0 + 13 * kNsPerHour).empty());
  Event read = ev.Read("zed", kT0 + 11 * kNsPerHour, 10);
  read.session = "sshd[102]";
  store.Observe(read);
  EXPECT_EQ(owners("sftp01", kT0 + 20 * kNsPerHour), (std::vector<std::string>{"zed"}));

  // An attributed flow (Observed under the owner's name) counts its bytes,
  // flags its new destination and does not keep the session alive.
  Event flow = ev.Make("zed", kT0 + 20 * kNsPerHour, Kind::kNetwork, Action::kSend);
  flow.bytes = 3000;
  ev.SetDst(flow, "45.77.1.2");
  ev.SetSrc(flow, "10.0.0.5");
  auto f = Observe(store, flow);
  EXPECT_EQ(f.read_bytes_1h, 3000);
  EXPECT_FALSE(f.src_new);
  EXPECT_TRUE(owners("sftp01", kT0 + 24 * kNsPerHour).empty());
}

TEST(ProfileStore, LogoutWithoutSessionIdClosesTheCredentialsSessions) {
  ProfileStore store({});
  Events ev;
  for (std::string_view session : {"sshd[1]", "sshd[2]"}) {
    Event login = ev.Login("amy", kT0, "81.2.3.4");
    login.session = ev.Keep(session);
    store.Observe(login);
  }
  Observe(store, ev.Login("ben", kT0, "81.2.3.5"));
  Event flow = ev.Make("", kT0 + kNsPerHour, Kind::kNetwork, Action::kSend);
  std::vector<std::string_view> owners;
  store.LiveCredentialsOnHost(flow, &owners);
  EXPECT_EQ(owners, (std::vector<std::string_view>{"amy", "ben"}));  // sorted, unique
  Event logout = ev.Make("amy", kT0 + 2 * kNsPerHour, Kind::kAuth, Action::kLogout);
  store.Observe(logout);  // no session id: closes both of amy's sessions
  flow.time_ns = kT0 + 3 * kNsPerHour;
  owners.clear();
  store.LiveCredentialsOnHost(flow, &owners);
  EXPECT_EQ(owners, (std::vector<std::string_view>{"ben"}));
}

TEST(ProfileStore, BusyHostSessionsStayBounded) {
  ProfileOptions options;
  options.sessions.max_per_host = 64;
  ProfileStore store(options);
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("key-" + std::to_string(i));
  for (int i = 0; i < 5000; ++i) {
    Event e;
    e.credential = names[i];
    e.kind = Kind::kAccess;
    e.action = Action::kRead;
    e.outcome = Outcome::kSuccess;
    e.host = "s3.amazonaws.com";
    e.time_ns = kT0 + i * kNsPerSecond;
    store.Observe(e);
  }
  Event flow;
  flow.kind = Kind::kNetwork;
  flow.host = "s3.amazonaws.com";
  flow.time_ns = kT0 + 5000 * kNsPerSecond;
  std::vector<std::string> owners;
  store.LiveCredentialsOnHost(flow, &owners);
  EXPECT_LE(owners.size(), 64u);
  EXPECT_GE(owners.size(), 56u);
  // The most recently active are the ones kept.
  EXPECT_TRUE(std::find(owners.begin(), owners.end(), "key-4999") != owners.end());
  EXPECT_TRUE(std::find(owners.begin(), owners.end(), "key-10") == owners.end());
}

TEST(ProfileStore, ObserveDoesNotAllocateOnceTheProfileExists) {
  ProfileStore store({});
  Events ev;
  std::vector<Event> day;
  day.push_back(ev.Login("olga", kT0, "81.2.3.4"));
  day.back().session = "sshd[7]";
  day.push_back(ev.Read("olga", kT0 + kNsPerMinute, 5 * kMB));
  day.back().object_tenant = "t001";
  day.back().session = "sshd[7]";
  day.push_back(ev.Read("olga", kT0 + 2 * kNsPerMinute, kMB));
  day.back().action = Action::kCopy;
  ev.SetDst(day.back(), "203.0.113.50");
  day.push_back(ev.Login("olga", kT0 + 3 * kNsPerMinute, "81.2.3.9", Outcome::kFailure));
  day.push_back(ev.Make("olga", kT0 + 4 * kNsPerMinute, Kind::kAuth, Action::kLogout));
  day.back().session = "sshd[7]";
  for (Event& e : day) store.Observe(e);  // creates everything once

  const int64_t before = g_allocations.load();
  for (int d = 1; d <= 40; ++d) {
    for (Event e : day) {
      e.time_ns += d * kNsPerDay;
      store.Observe(e);
      ASSERT_TRUE(e.profile.valid);
    }
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
  // The counter works: a new credential with a long name does allocate.
  Observe(store, ev.Login("a-credential-name-longer-than-sso", kT0 + 50 * kNsPerDay, "81.2.3.4"));
  EXPECT_GT(g_allocations.load() - before, 0);
}

TEST(ProfileStore, CapsHoldWithTenThousandNetworks) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("noisy", kT0, "10.0.0.1"));
  const int64_t t = kT0 + 8 * kNsPerDay;
  int flagged = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    Event e;
    e.credential = "noisy";
    e.tenant = "t001";
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = Outcome::kSuccess;
    e.time_ns = t + i * kNsPerSecond;
    e.host = "sftp01";
    e.src_ip = IpAddress::FromV4(0x0B000000u + (i << 8));  // a new /24 each time
    store.Observe(e);
    flagged += e.profile.src_new;
  }
  EXPECT_EQ(flagged, 10000);
  EXPECT_LT(store.ApproxProfileBytes("noisy"), 2048u);
  EXPECT_LT(store.ApproxMemoryBytes(), 8192u);
  // The most recent networks are remembered, the oldest were evicted.
  Event recent;
  recent.credential = "noisy";
  recent.kind = Kind::kAuth;
  recent.action = Action::kLogin;
  recent.outcome = Outcome::kSuccess;
  recent.time_ns = t + 20000 * kNsPerSecond;
  recent.src_ip = IpAddress::FromV4(0x0B000000u + (9999u << 8) + 7);
  store.Observe(recent);
  EXPECT_FALSE(recent.profile.src_new);
  recent.src_ip = IpAddress::FromV4(0x0B000000u + (5u << 8));
  recent.time_ns += 1;
  store.Observe(recent);
  EXPECT_TRUE(recent.profile.src_new);
}

TEST(ProfileStore, MemoryPerCredentialStaysSmall) {
  ProfileStore store({});
  Events ev;
  Observe(store, ev.Login("login-only", kT0, "81.2.3.4"));
  Event logout = ev.Make("login-only", kT0 + kNsPerHour, Kind::kAuth, Action::kLogout);
  store.Observe(logout);
  for (int d = 0; d < 30; ++d) {
    const int64_t t = kT0 + d * kNsPerDay;
    Observe(store, ev.Login("reader", t, "81.2.3.4"));
    Event r = ev.Read("reader", t + kNsPerMinute, 10 * kMB);
    r.object_tenant = "t001";
    store.Observe(r);
    Event copy = ev.Read("reader", t + 2 * kNsPerMinute, kMB);
    copy.action = Action::kCopy;
    ev.SetDst(copy, "203.0.113.50");
    store.Observe(copy);
  }
  const size_t login_only = store.ApproxProfileBytes("login-only");
  const size_t reader = store.ApproxProfileBytes("reader");
  RecordProperty("bytes_login_only", static_cast<int>(login_only));
  RecordProperty("bytes_reader", static_cast<int>(reader));
  std::printf("ApproxProfileBytes: login-only %zu, reader %zu\n", login_only, reader);
  EXPECT_LT(login_only, 300u);
  EXPECT_LT(reader, 1024u);
  EXPECT_EQ(store.ApproxProfileBytes("nobody"), 0u);
}

void ExpectSameFields(const ProfileFields& a, const ProfileFields& b) {
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.learning, b.learning);
  EXPECT_EQ(a.src_new, b.src_new);
  EXPECT_EQ(a.host_new, b.host_new);
  EXPECT_EQ(a.dst_new, b.dst_new);
  EXPECT_EQ(a.tenant_foreign, b.tenant_foreign);
  EXPECT_EQ(a.idle_days, b.idle_days);
  EXPECT_EQ(a.tenants_24h, b.tenants_24h);
  EXPECT_EQ(a.failures_10m, b.failures_10m);
  EXPECT_EQ(a.read_bytes_1h, b.read_bytes_1h);
  EXPECT_EQ(a.read_bytes_24h, b.read_bytes_24h);
  EXPECT_EQ(a.read_bytes_7d, b.read_bytes_7d);
  EXPECT_EQ(a.read_baseline_24h, b.read_baseline_24h);
  EXPECT_EQ(a.read_ratio_24h, b.read_ratio_24h);
}

TEST(ProfileStore, SerializeRestoreRoundTrips) {
  ProfileOptions options;
  options.multi_tenant_globs = {"svc-*"};
  ProfileStore store(options);
  Events ev;
  for (int d = 0; d < 12; ++d) {
    const int64_t t = kT0 + d * kNsPerDay;
    Observe(store, ev.Login("zoe", t, "81.2.3.4"));
    Observe(store, ev.Login("zoe", t + 1, "45.1.1.1", Outcome::kFailure));
    Event r = ev.Read("zoe", t + kNsPerHour, (d + 1) * kMB);
    r.object_tenant = d % 2 ? "t001" : "t002";
    store.Observe(r);
  }
  Observe(store, ev.Login("svc-backup", kT0, "10.0.0.1"));

  ProfileStore restored(options);
  for (std::string_view name : store.SortedCredentials()) {
    std::string bytes;
    ASSERT_TRUE(store.SerializeProfile(name, &bytes));
    ASSERT_TRUE(restored.RestoreProfile(name, bytes).ok());
  }
  EXPECT_EQ(restored.SortedCredentials(), store.SortedCredentials());
  EXPECT_EQ(store.SortedCredentials(), (std::vector<std::string_view>{"svc-backup", "zoe"}));

  const int64_t t = kT0 + 12 * kNsPerDay;
  std::vector<Event> next = {ev.Login("zoe", t, "198.51.100.1"),
                             ev.Login("zoe", t + 1, "45.1.1.1", Outcome::kFailure),
                             ev.Read("zoe", t + 2, 50 * kMB)};
  next[2].object_tenant = "t003";
  for (const Event& e : next) {
    ExpectSameFields(Observe(store, e), Observe(restored, e));
  }
  Event backup = ev.Read("svc-backup", t, 1);
  backup.object_tenant = "t007";
  EXPECT_FALSE(Observe(restored, backup).tenant_foreign);

  std::string bytes;
  ASSERT_TRUE(store.SerializeProfile("zoe", &bytes));
  EXPECT_FALSE(restored.RestoreProfile("zoe", bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(restored.RestoreProfile("zoe", bytes + "x").ok());
  EXPECT_FALSE(restored.RestoreProfile("zoe", "").ok());
  EXPECT_FALSE(store.SerializeProfile("nobody", &bytes));
}

TEST(ProfileStore, RestoreTrimsSetsToSmallerCaps) {
  ProfileStore big({});
  Events ev;
  Observe(big, ev.Login("amy", kT0, "10.0.0.1"));
  for (uint32_t i = 0; i < 20; ++i) {
    Event e = ev.Login("amy", kT0 + (i + 1) * kNsPerSecond, "10.0.0.1");
    e.src_ip = IpAddress::FromV4(0x0A000000u + (i << 8));
    big.Observe(e);
  }
  std::string bytes;
  ASSERT_TRUE(big.SerializeProfile("amy", &bytes));
  ProfileOptions small_caps;
  small_caps.max_networks = 4;
  ProfileStore small(small_caps);
  ASSERT_TRUE(small.RestoreProfile("amy", bytes).ok());
  Event e = ev.Login("amy", kT0 + 30 * kNsPerDay, "10.0.0.1");
  e.src_ip = IpAddress::FromV4(0x0A000000u + (19u << 8));
  EXPECT_FALSE(Observe(small, e).src_new);
  e.src_ip = IpAddress::FromV4(0x0A000000u + (3u << 8));
  EXPECT_TRUE(Observe(small, e).src_new);
}

// The id interface (state::ProfileCache's): an erased credential's id is
// reused by the next new one, and compaction reports every move, so a table
// kept beside the store by id follows its credentials.
TEST(ProfileStore, IdsFollowErasureAndCompaction) {
  ProfileOptions options;
  options.track_sessions = false;
  ProfileStore store(options);
  Events ev;
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) names.push_back("user" + std::to_string(i));
  std::vector<std::string> by_id;  // what a caller keeps per id: the name
  for (const std::string& name : names) {
    const uint32_t id = store.IdFor(name);
    Event e = ev.Login(name, kT0, "10.0.0.1");
    store.Observe(id, e);
    EXPECT_TRUE(e.profile.valid);
    if (by_id.size() <= id) by_id.resize(id + 1);
    by_id[id] = name;
  }
  EXPECT_EQ(store.IdOf("user3"), store.IdFor("user3")) << "IdFor of a known credential creates nothing";
  EXPECT_EQ(store.IdOf("nobody"), ProfileStore::kNoId);

  // Erase five: more than half of the slots are free.
  for (int i : {0, 2, 3, 5, 6}) {
    const uint32_t id = store.IdOf(names[i]);
    ASSERT_TRUE(store.Erase(id));
    EXPECT_FALSE(store.Erase(id)) << "already erased";
    EXPECT_EQ(store.NameOf(id), "");
    EXPECT_EQ(store.ApproxProfileBytes(id), 0u);
    std::string bytes;
    EXPECT_FALSE(store.SerializeProfile(id, &bytes));
    by_id[id].clear();
  }
  const uint32_t reused = store.IdFor("newcomer");
  EXPECT_TRUE(by_id[reused].empty()) << "a freed id is reused";
  by_id[reused] = "newcomer";
  ASSERT_TRUE(store.Erase(reused));
  by_id[reused].clear();

  std::vector<std::pair<uint32_t, uint32_t>> moves;
  ASSERT_TRUE(store.CompactIfSparse([&](uint32_t from, uint32_t to) {
    moves.emplace_back(from, to);
    by_id[to] = by_id[from];
  }));
  EXPECT_EQ(store.id_limit(), 3u);
  by_id.resize(store.id_limit());
  EXPECT_EQ(by_id, (std::vector<std::string>{"user1", "user4", "user7"}));
  for (size_t i = 1; i < moves.size(); ++i) EXPECT_LT(moves[i - 1].first, moves[i].first);
  for (uint32_t id = 0; id < by_id.size(); ++id) {
    EXPECT_EQ(store.NameOf(id), by_id[id]);
    EXPECT_EQ(store.IdOf(by_id[id]), id);
  }
  EXPECT_FALSE(store.CompactIfSparse()) << "nothing left to compact";

  // A profile kept its history through the move.
  Event again = ev.Login("user7", kT0 + 30 * kNsPerDay, "10.0.0.1");
  store.Observe(store.IdOf("user7"), again);
  EXPECT_NEAR(again.profile.idle_days, 30.0, 1e-9);
}

TEST(GlobMatch, StarsAndQuestionMarks) {
  EXPECT_TRUE(GlobMatch("svc-backup", "svc-backup"));
  EXPECT_FALSE(GlobMatch("svc-backup", "svc-backup2"));
  EXPECT_TRUE(GlobMatch("vendor-support*", "vendor-support"));
  EXPECT_TRUE(GlobMatch("vendor-support*", "vendor-support-eu"));
  EXPECT_TRUE(GlobMatch("*-admin", "t001-admin"));
  EXPECT_TRUE(GlobMatch("t??1-*", "t001-x"));
  EXPECT_FALSE(GlobMatch("t??1-*", "t01-x"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
}

}  // namespace
}  // namespace credwatch::profile

namespace credwatch::profile {
namespace {

TEST(FlowAttribution, PrefersTheSessionWhoseClientIsTheFlowPeer) {
  ProfileStore store(ProfileOptions{});
  auto login = [&](std::string_view cred, std::string_view ip, std::string_view session) {
    Event e;
    e.time_ns = 1'700'000'000LL * 1'000'000'000;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = Outcome::kSuccess;
    e.credential = cred;
    e.host = "ehr-legacy-02";
    e.session = session;
    e.src_ip = *IpAddress::Parse(ip);
    store.Observe(e);
  };
  login("vendor-support-olga", "10.20.7.41", "ehr-legacy-02:100");
  login("t003-jmiller", "185.220.101.7", "ehr-legacy-02:200");
  Event flow;
  flow.time_ns = 1'700'000'000LL * 1'000'000'000 + 60'000'000'000;
  flow.kind = Kind::kNetwork;
  flow.action = Action::kSend;
  flow.host = "ehr-legacy-02";
  flow.dst_ip = *IpAddress::Parse("185.220.101.7");
  std::vector<std::string> owners;
  store.LiveCredentialsOnHost(flow, &owners);
  EXPECT_EQ(owners, std::vector<std::string>{"t003-jmiller"});
  // A flow to an address no session came from stays with everyone live there.
  flow.dst_ip = *IpAddress::Parse("62.128.2.10");
  owners.clear();
  store.LiveCredentialsOnHost(flow, &owners);
  EXPECT_EQ(owners, (std::vector<std::string>{"t003-jmiller", "vendor-support-olga"}));
}

}  // namespace
}  // namespace credwatch::profile
