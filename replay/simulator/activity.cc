#include "replay/simulator/activity.h"

#include <algorithm>
#include <cmath>

#include "credwatch/time_util.h"
#include "replay/simulator/format.h"
#include "replay/simulator/objects.h"

namespace credwatch::sim {
namespace {

// Salts for Key(): one per kind of decision.
enum Salt : uint64_t {
  kSaltPerson = 100,
  kSaltBackup,
  kSaltBackupCopy,
  kSaltEtlExport,
  kSaltEtlPickup,
  kSaltPartner,
  kSaltAssumeRole,
  kSaltLargeExport,
  kSaltScan,
  kSaltFlowNoise,
  kSaltConsole,
  kSaltDormant,
};

constexpr uint32_t kSpraySources[] = {45, 61, 103, 112, 141, 185, 193, 218, 222};

// Relative activity per local hour for someone whose shift starts at `start`.
double HourWeight(int start, int local_hour) {
  int h = ((local_hour - start) % 24 + 24) % 24;
  static constexpr double kShape[24] = {0.7,  1.0,  1.0,  0.9,  0.5,  0.8,  1.0,  0.9,
                                        0.6,  0.3,  0.12, 0.08, 0.05, 0.03, 0.02, 0.01,
                                        0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.02};
  return kShape[h];
}

// A start time on `day` for a session of someone whose shift starts at
// `shift_start` (local time).
int64_t SampleStart(const Estate& e, int day, int shift_start, Rng& rng) {
  double total = 0;
  for (int h = 0; h < 24; ++h) total += HourWeight(shift_start, h);
  double x = rng.Uniform() * total;
  int local = 0;
  for (; local < 23; ++local) {
    x -= HourWeight(shift_start, local);
    if (x < 0) break;
  }
  int utc_hour = ((local - kLocalUtcOffsetHours) % 24 + 24) % 24;
  return e.DayStart(day) + utc_hour * kHour + rng.Range(0, kHour / 1000) * 1000;
}

struct Whereabouts {
  uint32_t ip;
  double throughput;
  uint8_t lookalike;
};

// Where a person works from on `day`.
Whereabouts WhereOn(const Credential& c, int day, Rng& rng) {
  if (c.travel_first_day >= 0 && day >= c.travel_first_day && day <= c.travel_last_day) {
    return {c.hotel_ip, 4e6, kLookTraveller};
  }
  if (c.home_ip != 0 && rng.Chance(c.home_prob)) {
    bool moved = c.move_day >= 0 && day >= c.move_day;
    return {moved ? c.new_home_ip : c.home_ip, c.throughput * 0.25,
            static_cast<uint8_t>(c.move_day >= 0 ? kLookMover : kLookRemoteWorker)};
  }
  return {c.site_ip, c.throughput, kLookNone};
}

void PlanPeople(const Estate& e, int day, bool weekend, std::vector<Session>* out) {
  auto plan = [&](uint32_t idx) {
    const Credential& c = e.creds[idx];
    Rng rng(Key(e.seed, kSaltPerson, day, idx));
    double lambda = c.sessions_per_workday * (weekend ? c.weekend_factor : 1.0);
    int n = rng.Poisson(lambda);
    if (n == 0) return;
    Whereabouts where = WhereOn(c, day, rng);
    const bool support = c.role == Role::kSupport;
    int64_t first = INT64_MAX;
    for (int k = 0; k < n; ++k) {
      Session s;
      s.start_ns = SampleStart(e, day, c.shift_start_hour, rng);
      first = std::min(first, s.start_ns);
      s.key = Key(e.seed, kSaltPerson, day, idx, k + 1);
      s.user = idx;
      s.ip = where.ip;
      s.throughput = where.throughput;
      s.lookalike = where.lookalike;
      if (support) {
        s.lookalike = kLookSupportMultiTenant;
        s.tenant = static_cast<uint16_t>(1 + rng.Below(static_cast<uint64_t>(e.num_tenants)));
      } else {
        s.tenant = static_cast<uint16_t>(c.tenant);
        if (s.lookalike == kLookNone && c.night_shift) s.lookalike = kLookNightShift;
      }
      s.host = static_cast<uint8_t>(support ? e.tenant(s.tenant).host : c.host);
      bool sftp = c.uses_sftp && (!c.uses_s3 || rng.Chance(0.7));
      if (sftp) {
        s.kind = SessionKind::kSftp;
        s.workload = support ? Workload::kSupportTicket : Workload::kCustomerDaily;
        if (!c.publickey && rng.Chance(c.typo_rate)) s.typos = rng.Chance(0.2) ? 2 : 1;
      } else {
        s.kind = SessionKind::kS3Read;
        s.workload = support ? Workload::kSupportTicket : Workload::kCustomerDaily;
      }
      out->push_back(s);
    }
    if (support && first != INT64_MAX) {
      Session s;
      s.kind = SessionKind::kConsole;
      s.start_ns = std::max(e.DayStart(day), first - rng.Range(2, 15) * kMin);
      s.key = Key(e.seed, kSaltConsole, day, idx);
      s.user = idx;
      s.ip = where.ip;
      s.lookalike = where.lookalike == kLookNone ? static_cast<uint8_t>(kLookSupportMultiTenant)
                                                 : where.lookalike;
      out->push_back(s);
    }
  };
  for (uint32_t idx : e.customers) plan(idx);
  for (uint32_t idx : e.support) plan(idx);
}

void PlanServices(const Estate& e, int day, bool weekend, std::vector<Session>* out) {
  const int64_t day0 = e.DayStart(day);
  for (int h = 0; h < kNumLegacyHosts; ++h) {
    if (e.tenants_on_host[static_cast<size_t>(h)].empty()) continue;
    Rng rng(Key(e.seed, kSaltBackup, day, h));
    Session s;
    s.kind = SessionKind::kSftp;
    s.workload = Workload::kBackupNightly;
    s.start_ns = day0 + 90 * kMin + h * 6 * kMin + rng.Range(0, 240) * kSec;
    s.key = Key(e.seed, kSaltBackup, day, h, 1);
    s.user = e.backup;
    s.ip = kBackupHostIp;
    s.throughput = e.creds[e.backup].throughput;
    s.host = static_cast<uint8_t>(h);
    s.lookalike = kLookNightlyBackup;
    out->push_back(s);

    // Partner push of the claims files, every day at 05:15.
    Session p;
    p.kind = SessionKind::kSshCommand;
    p.start_ns = day0 + 315 * kMin + h * 3 * kMin + rng.Range(0, 60) * kSec;
    p.key = Key(e.seed, kSaltPartner, day, h);
    p.user = e.etl;
    p.ip = kEtlHostIp;
    p.host = static_cast<uint8_t>(h);
    p.lookalike = kLookPartnerUpload;
    out->push_back(p);

    // ETL pickup of inbound lab results every two hours (thinned out when
    // the run is scaled below the natural volume).
    for (int slot = 0; slot < 12; ++slot) {
      if (e.scale < 1 && !rng.Chance(e.scale)) continue;
      Session q;
      q.kind = SessionKind::kSftp;
      q.workload = Workload::kEtlPickup;
      q.start_ns = day0 + (2 * slot) * kHour + 10 * kMin + h * kMin + rng.Range(0, 50) * kSec;
      q.key = Key(e.seed, kSaltEtlPickup, day, h, slot);
      q.user = e.etl;
      q.ip = kEtlHostIp;
      q.throughput = e.creds[e.etl].throughput;
      q.host = static_cast<uint8_t>(h);
      q.step = static_cast<uint16_t>(slot);
      q.lookalike = kLookEtlPickup;
      out->push_back(q);
    }
  }
  for (const Tenant& t : e.tenants) {
    Rng rng(Key(e.seed, kSaltEtlExport, day, t.number));
    Session x;
    x.kind = SessionKind::kS3Export;
    x.start_ns = day0 + 2 * kHour + rng.Range(0, 40 * 60) * kSec;
    x.key = Key(e.seed, kSaltEtlExport, day, t.number, 1);
    x.user = e.etl;
    x.ip = kEtlHostIp;
    x.tenant = static_cast<uint16_t>(t.number);
    out->push_back(x);

    Session c;
    c.kind = SessionKind::kS3BackupCopy;
    c.start_ns = day0 + 190 * kMin + rng.Range(0, 30 * 60) * kSec;
    c.key = Key(e.seed, kSaltBackupCopy, day, t.number);
    c.user = e.backup;
    c.ip = kBackupHostIp;
    c.tenant = static_cast<uint16_t>(t.number);
    c.lookalike = kLookBackupCopy;
    out->push_back(c);
  }
  for (int hour = 0; hour < 24; ++hour) {
    if (e.scale < 1 && UnitFromBits(Key(e.seed, kSaltAssumeRole, day, hour, 2)) >= e.scale)
      continue;
    Session a;
    a.kind = SessionKind::kAssumeRole;
    a.start_ns = day0 + hour * kHour + 5 * kMin +
                 static_cast<int64_t>(Key(e.seed, kSaltAssumeRole, day, hour) % 60) * kSec;
    a.key = Key(e.seed, kSaltAssumeRole, day, hour, 1);
    a.user = e.etl;
    a.ip = kEtlHostIp;
    out->push_back(a);
  }

  // Occasional large exports to internal addresses: a support engineer pulls
  // a hospital's database to the office, or svc-etl copies a tenant's exports
  // to the analytics host.
  Rng rng(Key(e.seed, kSaltLargeExport, day));
  if (!weekend && rng.Chance(0.35)) {
    Session s;
    s.workload = Workload::kLargeExport;
    s.key = Key(e.seed, kSaltLargeExport, day, 1);
    s.tenant = static_cast<uint16_t>(1 + rng.Below(static_cast<uint64_t>(e.num_tenants)));
    s.host = static_cast<uint8_t>(e.tenant(s.tenant).host);
    s.lookalike = kLookLargeInternalExport;
    if (rng.Chance(0.5) && !e.support.empty()) {
      s.kind = SessionKind::kSftp;
      s.user = e.support[rng.Below(e.support.size())];
      s.ip = kOfficeIps[rng.Below(2)];
      s.throughput = 6e7;
      s.start_ns = day0 + rng.Range(8 * 3600, 16 * 3600) * kSec;
    } else {
      s.kind = rng.Chance(0.5) ? SessionKind::kSftp : SessionKind::kS3Read;
      s.user = e.etl;
      s.ip = kAnalyticsIp;
      s.throughput = 1e8;
      s.start_ns = day0 + rng.Range(18 * 3600, 22 * 3600) * kSec;
    }
    out->push_back(s);
  }

  if (day == 0) {
    // The legacy admin account's last routine use before it went dormant.
    const Credential& d = e.creds[e.dormant];
    Session s;
    s.kind = SessionKind::kSftp;
    s.workload = Workload::kDormantRoutine;
    s.start_ns = day0 + 9 * kHour + 20 * kMin +
                 static_cast<int64_t>(Key(e.seed, kSaltDormant) % 1800) * kSec;
    s.key = Key(e.seed, kSaltDormant, 1);
    s.user = e.dormant;
    s.ip = d.site_ip;
    s.throughput = d.throughput;
    s.tenant = static_cast<uint16_t>(d.tenant);
    s.host = static_cast<uint8_t>(d.host);
    out->push_back(s);
  }
}

void PlanBackground(const Estate& e, int day, std::vector<Session>* out) {
  const int64_t day0 = e.DayStart(day);
  for (int h = 0; h < kNumLegacyHosts; ++h) {
    for (int hour = 0; hour < 24; ++hour) {
      Rng rng(Key(e.seed, kSaltScan, day, h, hour));
      int bursts = rng.Poisson(0.5 * e.scale);
      for (int b = 0; b < bursts; ++b) {
        Session s;
        s.kind = SessionKind::kScan;
        s.start_ns = day0 + hour * kHour + rng.Range(0, kHour / kMs) * kMs;
        s.key = Key(e.seed, kSaltScan, day, h, hour, b + 1);
        s.host = static_cast<uint8_t>(h);
        s.ip =
            Ipv4(kSpraySources[rng.Below(std::size(kSpraySources))],
                 static_cast<uint32_t>(rng.Range(1, 255)), static_cast<uint32_t>(rng.Range(0, 256)),
                 static_cast<uint32_t>(rng.Range(1, 255)));
        s.lookalike = kLookInternetScan;
        out->push_back(s);
      }
      Session f;
      f.kind = SessionKind::kFlowNoise;
      f.start_ns = day0 + hour * kHour;
      f.key = Key(e.seed, kSaltFlowNoise, day, h, hour);
      f.host = static_cast<uint8_t>(h);
      out->push_back(f);
    }
  }
}

// --- expansion --------------------------------------------------------------

int64_t Think(Rng& rng, int64_t lo_s, int64_t hi_s) {
  return rng.Range(lo_s * 1000, hi_s * 1000) * kMs;
}

int64_t DataDay(int64_t t, Rng& rng, int max_back) {
  return DayOf(t) - 1 - static_cast<int64_t>(rng.Below(static_cast<uint64_t>(max_back) + 1));
}

uint32_t RandomOwnFile(const Estate& e, int tenant, int64_t t, Rng& rng) {
  const Tenant& tn = e.tenant(tenant);
  double x = rng.Uniform();
  int64_t day = DataDay(t, rng, 2);
  if (x < 0.55) {
    return MakeObject(kObjExport, day,
                      static_cast<uint32_t>(rng.Below(static_cast<uint64_t>(tn.exports_per_day))));
  }
  if (x < 0.8) return MakeObject(kObjReport, day, static_cast<uint32_t>(rng.Below(3)));
  if (x < 0.93) {
    return MakeObject(kObjInbound, day,
                      static_cast<uint32_t>(rng.Below(static_cast<uint64_t>(tn.inbound_per_day))));
  }
  return ArchiveObject(e.seed, tenant,
                       static_cast<uint32_t>(rng.Below(static_cast<uint64_t>(tn.archive_files))));
}

void ExpandSftp(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  const Credential& c = e.creds[s.user];
  Rng rng(s.key);
  SshConnection conn(em, rng, s.host, s.user, s.ip, s.throughput, s.start_ns);
  int64_t t = s.start_ns;
  for (int i = 0; i < s.typos; ++i) {
    em.set_lookalike(kLookPasswordTypo);
    t = conn.FailPassword(t);
    t += Think(rng, 2, 9);
  }
  em.set_lookalike(s.lookalike);
  t = conn.Login(t, c.publickey ? kAuthPublickey : kAuthPassword);
  t = conn.StartSftp(t);
  const int64_t today = DayOf(s.start_ns);
  switch (s.workload) {
    case Workload::kCustomerDaily: {
      const int tenant = c.tenant;
      t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0));
      int n = 1 + std::min(5, rng.Poisson(1.0));
      for (int i = 0; i < n; ++i) {
        t = conn.Read(t, tenant, RandomOwnFile(e, tenant, t, rng)) + Think(rng, 2, 90);
      }
      if (rng.Chance(0.2)) {
        t = conn.ListDir(t, tenant, MakeObject(kObjUpload, today, 0));
        t = conn.Write(t, tenant,
                       MakeObject(kObjUpload, today, static_cast<uint32_t>(rng.Below(4000)))) +
            Think(rng, 1, 20);
      }
      break;
    }
    case Workload::kSupportTicket: {
      int tenant = s.tenant;
      t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0));
      int n = 1 + std::min(4, rng.Poisson(1.3));
      for (int i = 0; i < n; ++i) {
        t = conn.Read(t, tenant, RandomOwnFile(e, tenant, t, rng)) + Think(rng, 5, 120);
      }
      if (e.num_tenants > 1 && rng.Chance(0.25)) {
        // A second ticket in the same session: another hospital on this host,
        // if there is one.
        const auto& here = e.tenants_on_host[s.host];
        int other = here[rng.Below(here.size())];
        if (other != tenant) {
          t = conn.ListDir(t, other, MakeObject(kObjInbound, today, 0));
          t = conn.Read(t, other, RandomOwnFile(e, other, t, rng)) + Think(rng, 5, 60);
        }
      }
      break;
    }
    case Workload::kBackupNightly: {
      const bool full = Weekday(today * kNsPerDay) == 6;  // Sunday: full backup
      for (int tenant : e.tenants_on_host[s.host]) {
        const Tenant& tn = e.tenant(tenant);
        auto gap = [&] { return rng.Range(30, 400) * kMs; };
        t = conn.ListDir(t, tenant, MakeObject(kObjDbDump, today, 0));
        t = conn.Read(t, tenant, MakeObject(kObjDbDump, today, 0)) + gap();
        t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0));
        for (int i = 0; i < tn.exports_per_day; ++i) {
          t = conn.Read(t, tenant, MakeObject(kObjExport, today - 1, static_cast<uint32_t>(i))) +
              gap();
        }
        for (uint32_t i = 0; i < 3; ++i) {
          t = conn.Read(t, tenant, MakeObject(kObjReport, today - 1, i)) + gap();
        }
        t = conn.ListDir(t, tenant, MakeObject(kObjInbound, today, 0));
        for (int i = 0; i < tn.inbound_per_day; ++i) {
          t = conn.Read(t, tenant, MakeObject(kObjInbound, today - 1, static_cast<uint32_t>(i))) +
              gap();
        }
        t = conn.Read(t, tenant, MakeObject(kObjOutbound, today - 1, 0)) + gap();
        if (full) {
          for (int i = 0; i < tn.archive_files; ++i) {
            t = conn.Read(t, tenant, ArchiveObject(e.seed, tenant, static_cast<uint32_t>(i))) +
                gap();
          }
          for (int i = 0; i < tn.archive_files / 10; ++i) {
            t = conn.Read(t, tenant, ImagingObject(e.seed, tenant, static_cast<uint32_t>(i))) +
                gap();
          }
        }
      }
      break;
    }
    case Workload::kEtlPickup: {
      for (int tenant : e.tenants_on_host[s.host]) {
        const Tenant& tn = e.tenant(tenant);
        t = conn.ListDir(t, tenant, MakeObject(kObjInbound, today, 0));
        int n = rng.Poisson(tn.inbound_per_day / 12.0);
        uint32_t base =
            static_cast<uint32_t>(s.step) * static_cast<uint32_t>(tn.inbound_per_day) / 12;
        for (int i = 0; i < n; ++i) {
          t = conn.Read(t, tenant,
                        MakeObject(kObjInbound, today, base + static_cast<uint32_t>(i))) +
              rng.Range(20, 300) * kMs;
        }
      }
      break;
    }
    case Workload::kLargeExport: {
      const int tenant = s.tenant;
      t = conn.ListDir(t, tenant, MakeObject(kObjDbDump, today, 0));
      t = conn.Read(t, tenant, MakeObject(kObjDbDump, today, 0)) + Think(rng, 1, 30);
      t = conn.ListDir(t, tenant, ImagingObject(e.seed, tenant, 0));
      int n = 3 + static_cast<int>(rng.Below(8));
      for (int i = 0; i < n; ++i) {
        t = conn.Read(t, tenant,
                      ImagingObject(e.seed, tenant, static_cast<uint32_t>(rng.Below(200)))) +
            Think(rng, 1, 10);
      }
      break;
    }
    case Workload::kDormantRoutine: {
      const int tenant = c.tenant;
      t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0));
      t = conn.Read(t, tenant, MakeObject(kObjExport, today - 1, 0)) + Think(rng, 10, 60);
      t = conn.Read(t, tenant, MakeObject(kObjReport, today - 1, 0)) + Think(rng, 10, 60);
      break;
    }
    case Workload::kNone:
      break;
  }
  conn.Logout(t + Think(rng, 1, 120));
}

void ExpandPartnerPush(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  SshConnection conn(em, rng, s.host, s.user, s.ip, 1e8, s.start_ns);
  int64_t t = conn.Login(s.start_ns, kAuthPublickey);
  int64_t bytes = 0;
  for (int tenant : e.tenants_on_host[s.host]) {
    bytes += ObjectSize(e.seed, tenant, MakeObject(kObjOutbound, DayOf(t) - 1, 0), 1.0);
  }
  // The command on the host pushes the claims over scp; the host is the client.
  t += rng.Range(500, 3000) * kMs;
  FlowTracker push(em, s.host, EphemeralPort(rng), kPartnerIp, 22, t);
  int64_t end = t + static_cast<int64_t>(static_cast<double>(bytes) / 6e6 * 1e9);
  push.Transfer(t, end, bytes + bytes / 50, bytes / 500 + 3000, true);
  push.Finish(end + 50 * kMs, 3500, 2800);
  conn.Logout(end + rng.Range(200, 2000) * kMs);
}

void ExpandScan(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  int attempts = 1 + rng.Poisson(1.8);
  int64_t t = s.start_ns;
  for (int i = 0; i < attempts; ++i) {
    uint32_t user = kForeignUserBase +
                    (rng.Chance(0.25) ? 0 : static_cast<uint32_t>(rng.Below(e.guesses.size())));
    SshConnection conn(em, rng, s.host, user, s.ip, 1e6, t);
    t = conn.FailPassword(t + rng.Range(50, 400) * kMs);
    if (rng.Chance(0.3)) t = conn.FailPassword(t);
    t = conn.ClosePreauth(t) + rng.Range(1, 20) * kSec;
  }
}

UserAgent AgentFor(const Credential& c) {
  switch (c.role) {
    case Role::kCustomer:
      return kUaAwsCliWindows;
    case Role::kSupport:
      return kUaAwsCliLinux;
    case Role::kBackup:
      return kUaGoSdk;
    case Role::kEtl:
      return kUaBoto3;
    case Role::kDormantAdmin:
      return kUaAwsCliLinux;
  }
  return kUaAwsCliLinux;
}

void ExpandS3Read(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  const Credential& c = e.creds[s.user];
  Rng rng(s.key);
  const int tenant = s.tenant;
  const Tenant& tn = e.tenant(tenant);
  const UserAgent ua = AgentFor(c);
  int64_t t = s.start_ns;
  int64_t day = DataDay(t, rng, 3);
  Record& list = AddCloudTrail(em, RecordType::kCtListObjects, t, s.user, s.ip, ua);
  list.tenant = static_cast<uint16_t>(tenant);
  list.object = MakeObject(kObjExport, day, 0);
  t += Think(rng, 1, 8);
  const bool large = s.workload == Workload::kLargeExport;
  // The CLI syncs a day's folder: often all of that day's exports.
  int n = large ? static_cast<int>(rng.Range(20, 60)) : 1 + std::min(9, rng.Poisson(2.5));
  for (int i = 0; i < n; ++i) {
    uint32_t object;
    if (large) {
      object = MakeObject(kObjExport, day - i / tn.exports_per_day,
                          static_cast<uint32_t>(i % tn.exports_per_day));
    } else if (rng.Chance(0.75)) {
      object =
          MakeObject(kObjExport, day,
                     static_cast<uint32_t>(rng.Below(static_cast<uint64_t>(tn.exports_per_day))));
    } else {
      object = MakeObject(kObjReport, day, static_cast<uint32_t>(rng.Below(3)));
    }
    int64_t size = ObjectSize(e.seed, tenant, object, tn.size);
    Record& get = AddCloudTrail(em, RecordType::kCtGetObject, t, s.user, s.ip, ua);
    get.tenant = static_cast<uint16_t>(tenant);
    get.object = object;
    get.bytes = size;
    t += static_cast<int64_t>(static_cast<double>(size) / s.throughput * 1e9) + Think(rng, 1, 25);
  }
}

void ExpandS3Export(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const Tenant& tn = e.tenant(s.tenant);
  int64_t t = s.start_ns;
  const int64_t day = DayOf(t) - 1;
  auto put = [&](uint32_t object) {
    Record& r = AddCloudTrail(em, RecordType::kCtPutObject, t, s.user, s.ip, kUaBoto3);
    r.tenant = static_cast<uint16_t>(tn.number);
    r.object = object;
    r.bytes2 = ObjectSize(e.seed, tn.number, object, tn.size);
    t += static_cast<int64_t>(static_cast<double>(r.bytes2) / 8e7 * 1e9) +
         rng.Range(200, 3000) * kMs;
  };
  for (int i = 0; i < tn.exports_per_day; ++i)
    put(MakeObject(kObjExport, day, static_cast<uint32_t>(i)));
  for (uint32_t i = 0; i < 3; ++i) put(MakeObject(kObjReport, day, i));
}

void ExpandS3BackupCopy(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const Tenant& tn = e.tenant(s.tenant);
  int64_t t = s.start_ns;
  const int64_t day = DayOf(t) - 1;
  for (int i = 0; i < tn.exports_per_day; ++i) {
    uint32_t object = MakeObject(kObjExport, day, static_cast<uint32_t>(i));
    Record& r = AddCloudTrail(em, RecordType::kCtCopyObject, t, s.user, s.ip, kUaGoSdk);
    r.tenant = static_cast<uint16_t>(tn.number);
    r.object = object;
    r.flag = kCopyInternalBackup;
    r.bytes = ObjectSize(e.seed, tn.number, object, tn.size);
    t += rng.Range(300, 2500) * kMs;
  }
}

void ExpandConsole(const Session& s, Emitter& em) {
  Rng rng(s.key);
  int64_t t = s.start_ns;
  if (rng.Chance(0.04)) {
    Record& fail = AddCloudTrail(em, RecordType::kCtConsoleLogin, t, s.user, s.ip, kUaBrowser);
    fail.flag = 1;
    t += Think(rng, 8, 40);
  }
  AddCloudTrail(em, RecordType::kCtConsoleLogin, t, s.user, s.ip, kUaBrowser);
  if (rng.Chance(0.4)) {
    AddCloudTrail(em, RecordType::kCtAssumeRole, t + Think(rng, 20, 300), s.user, s.ip, kUaConsole);
  }
}

void ExpandFlowNoise(const Session& s, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  int n = rng.Poisson(6 * e.scale);
  for (int i = 0; i < n; ++i) {
    int64_t t = s.start_ns + rng.Range(0, kHour / kMs) * kMs;
    bool logs = rng.Chance(0.8);
    FlowTracker f(em, s.host, EphemeralPort(rng), logs ? kLogCollectorIp : kDnsIp, logs ? 6514 : 53,
                  t);
    int64_t out = logs ? static_cast<int64_t>(rng.LogUniform(2e4, 4e5))
                       : 80 + static_cast<int64_t>(rng.Below(200));
    f.Finish(t + rng.Range(5, 2000) * kMs, out, logs ? out / 50 + 400 : out * 3);
  }
}

}  // namespace

int Weekday(int64_t day_start_ns) {
  int64_t days = DayOf(day_start_ns);
  return static_cast<int>(((days + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
}

void PlanBenignDay(const Estate& estate, int day, std::vector<Session>* out) {
  const bool weekend = Weekday(estate.DayStart(day)) >= 5;
  PlanPeople(estate, day, weekend, out);
  PlanServices(estate, day, weekend, out);
  PlanBackground(estate, day, out);
}

void ExpandBenign(const Session& session, Emitter& em) {
  em.Begin(session);
  switch (session.kind) {
    case SessionKind::kSftp:
      ExpandSftp(session, em);
      return;
    case SessionKind::kSshCommand:
      ExpandPartnerPush(session, em);
      return;
    case SessionKind::kScan:
      ExpandScan(session, em);
      return;
    case SessionKind::kS3Read:
      ExpandS3Read(session, em);
      return;
    case SessionKind::kS3Export:
      ExpandS3Export(session, em);
      return;
    case SessionKind::kS3BackupCopy:
      ExpandS3BackupCopy(session, em);
      return;
    case SessionKind::kConsole:
      ExpandConsole(session, em);
      return;
    case SessionKind::kAssumeRole:
      AddCloudTrail(em, RecordType::kCtAssumeRole, session.start_ns, session.user, session.ip,
                    kUaBoto3);
      return;
    case SessionKind::kFlowNoise:
      ExpandFlowNoise(session, em);
      return;
    case SessionKind::kAttack:
      return;
  }
}

}  // namespace credwatch::sim
