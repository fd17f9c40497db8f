#include "replay/simulator/scenarios.h"

#include <algorithm>
#include <cmath>

#include "credwatch/time_util.h"
#include "replay/simulator/format.h"
#include "replay/simulator/objects.h"

namespace credwatch::sim {
namespace {

enum Salt : uint64_t { kSaltPlan = 300, kSaltVictim, kSaltSession };

uint32_t PublicIp(Rng& rng, uint32_t first_octet) {
  return Ipv4(first_octet, static_cast<uint32_t>(rng.Range(1, 255)),
              static_cast<uint32_t>(rng.Range(0, 256)), static_cast<uint32_t>(rng.Range(2, 254)));
}

// Picks a customer for an attack: an active one, preferably of a hospital no
// other attack uses, preferably with the wanted traits.
uint32_t PickVictim(Estate* e, Rng& rng, std::vector<int>* used_tenants, bool want_password,
                    bool want_s3, bool want_shared_host) {
  std::vector<uint32_t> pool;
  for (int pass = 0; pass < 4 && pool.empty(); ++pass) {
    for (uint32_t idx : e->customers) {
      const Credential& c = e->creds[idx];
      if (c.attack_victim) continue;
      if (pass < 3 &&
          std::find(used_tenants->begin(), used_tenants->end(), c.tenant) != used_tenants->end()) {
        continue;
      }
      if (pass < 2 &&
          ((want_password && (c.publickey || !c.uses_sftp)) || (want_s3 && !c.uses_s3))) {
        continue;
      }
      if (pass < 1 && want_shared_host &&
          e->tenants_on_host[static_cast<size_t>(c.host)].size() < 2) {
        continue;
      }
      if (pass < 1 && (c.travel_first_day >= 0 || c.move_day >= 0)) continue;
      pool.push_back(idx);
    }
  }
  if (pool.empty()) pool = e->customers;  // tiny estate: share a victim
  // The more active half, so the credential has a profile to deviate from.
  std::stable_sort(pool.begin(), pool.end(), [&](uint32_t a, uint32_t b) {
    return e->creds[a].sessions_per_workday > e->creds[b].sessions_per_workday;
  });
  pool.resize((pool.size() + 1) / 2);
  uint32_t idx = pool[rng.Below(pool.size())];
  Credential& c = e->creds[idx];
  c.attack_victim = true;
  c.travel_first_day = c.travel_last_day = -1;
  c.move_day = -1;
  if (want_password) {
    c.uses_sftp = true;
    c.publickey = false;
  }
  if (want_s3) c.uses_s3 = true;
  used_tenants->push_back(c.tenant);
  return idx;
}

// Other tenants in random order (not `own`), at most `n`.
std::vector<int> OtherTenants(const Estate& e, Rng& rng, int own, int n) {
  std::vector<int> all;
  for (const Tenant& t : e.tenants) {
    if (t.number != own) all.push_back(t.number);
  }
  for (size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[rng.Below(i)]);
  if (static_cast<int>(all.size()) > n) all.resize(static_cast<size_t>(n));
  return all;
}

// Tenants on `host`, the victim's own first.
std::vector<int> TenantsOnHostOwnFirst(const Estate& e, int host, int own) {
  std::vector<int> out;
  for (int t : e.tenants_on_host[static_cast<size_t>(host)]) {
    if (t == own)
      out.insert(out.begin(), t);
    else
      out.push_back(t);
  }
  return out;
}

void AddUnique(std::vector<int>* v, int x) {
  if (std::find(v->begin(), v->end(), x) == v->end()) v->push_back(x);
}

// --- expansion --------------------------------------------------------------

int64_t Pause(Rng& rng, int64_t lo_ms, int64_t hi_ms) { return rng.Range(lo_ms, hi_ms) * kMs; }

void ExpandSftpBulk(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const int host = a.hosts[s.step];
  const int own = e.creds[a.user].tenant;
  SshConnection conn(em, rng, host, a.user, a.ip, 2.5e7, s.start_ns);
  int64_t t = conn.Login(s.start_ns, kAuthPassword);
  t = conn.StartSftp(t);
  const int64_t today = DayOf(s.start_ns);
  std::vector<int> here = TenantsOnHostOwnFirst(e, host, own);
  for (int tenant : here) {
    t = conn.ListDir(t, tenant, MakeObject(kObjDbDump, today, 0)) + Pause(rng, 500, 4000);
  }
  for (int tenant : here) {
    const Tenant& tn = e.tenant(tenant);
    t = conn.Read(t, tenant, MakeObject(kObjDbDump, today, 0)) + Pause(rng, 300, 3000);
    t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0));
    int n = std::min(8, tn.exports_per_day * 3);
    for (int i = 0; i < n; ++i) {
      uint32_t obj = MakeObject(kObjExport, today - 1 - i / tn.exports_per_day,
                                static_cast<uint32_t>(i % tn.exports_per_day));
      t = conn.Read(t, tenant, obj) + Pause(rng, 200, 2000);
    }
    for (uint32_t i = 0; i < 3; ++i) {
      t = conn.Read(t, tenant, ImagingObject(e.seed, tenant, i)) + Pause(rng, 200, 2000);
    }
  }
  conn.Logout(t + Pause(rng, 2000, 30000));
}

void ExpandS3External(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  int64_t t = s.start_ns;
  AddCloudTrail(em, RecordType::kCtListBuckets, t, a.user, a.ip, kUaRclone);
  t += Pause(rng, 1000, 6000);
  const int64_t today = DayOf(s.start_ns);
  for (int tenant : a.tenants) {
    const Tenant& tn = e.tenant(tenant);
    Record& list = AddCloudTrail(em, RecordType::kCtListObjects, t, a.user, a.ip, kUaRclone);
    list.tenant = static_cast<uint16_t>(tenant);
    list.object = MakeObject(kObjExport, today - 1, 0);
    t += Pause(rng, 300, 2500);
    int n = std::min(40, tn.exports_per_day * 10);
    for (int i = 0; i < n; ++i) {
      uint32_t obj = MakeObject(kObjExport, today - 1 - i / tn.exports_per_day,
                                static_cast<uint32_t>(i % tn.exports_per_day));
      int64_t size = ObjectSize(e.seed, tenant, obj, tn.size);
      Record& get = AddCloudTrail(em, RecordType::kCtGetObject, t, a.user, a.ip, kUaRclone);
      get.tenant = static_cast<uint16_t>(tenant);
      get.object = obj;
      get.bytes = size;
      get.exfil = true;
      // rclone over the attacker's link, a few transfers at a time.
      t += static_cast<int64_t>(static_cast<double>(size) / 4e7 * 1e9) + Pause(rng, 50, 800);
    }
  }
}

void ExpandS3CopyForeign(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  int64_t t = s.start_ns;
  const int64_t today = DayOf(s.start_ns);
  for (int tenant : a.tenants) {
    const Tenant& tn = e.tenant(tenant);
    Record& list = AddCloudTrail(em, RecordType::kCtListObjects, t, a.user, a.ip, kUaAwsCliLinux);
    list.tenant = static_cast<uint16_t>(tenant);
    list.object = MakeObject(kObjExport, today - 1, 0);
    t += Pause(rng, 500, 3000);
    int n = std::min(20, tn.exports_per_day * 5);
    for (int i = 0; i < n; ++i) {
      uint32_t obj = MakeObject(kObjExport, today - 1 - i / tn.exports_per_day,
                                static_cast<uint32_t>(i % tn.exports_per_day));
      Record& copy = AddCloudTrail(em, RecordType::kCtCopyObject, t, a.user, a.ip, kUaAwsCliLinux);
      copy.tenant = static_cast<uint16_t>(tenant);
      copy.object = obj;
      copy.flag = kCopyForeign;
      copy.bytes = ObjectSize(e.seed, tenant, obj, tn.size);
      copy.exfil = true;
      t += Pause(rng, 400, 2500);
    }
  }
  // Then the volume of one legacy host, as an EBS snapshot shared with the
  // same account.
  t += Pause(rng, 30000, 240000);
  Record& share =
      AddCloudTrail(em, RecordType::kCtModifySnapshotAttribute, t, a.user, a.ip, kUaAwsCliLinux);
  share.host = static_cast<uint8_t>(a.hosts.empty() ? 0 : a.hosts[0]);
  share.flag = kCopyForeign;
  share.exfil = true;
}

void ExpandLowAndSlow(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const int host = a.hosts[0];
  SshConnection conn(em, rng, host, a.user, a.ip, 6e6, s.start_ns);
  int64_t t = conn.Login(s.start_ns, kAuthPassword);
  t = conn.StartSftp(t);
  const int tenant = a.tenants[s.step % a.tenants.size()];
  const Tenant& tn = e.tenant(tenant);
  const int64_t day = DayOf(s.start_ns) - 1;
  t = conn.ListDir(t, tenant, MakeObject(kObjExport, day, 0)) + Pause(rng, 2000, 20000);
  int n = 3 + static_cast<int>(rng.Below(2));
  for (int i = 0; i < n; ++i) {
    uint32_t obj =
        i == 0 ? MakeObject(kObjReport, day, static_cast<uint32_t>(rng.Below(3)))
               : MakeObject(
                     kObjExport, day,
                     static_cast<uint32_t>(rng.Below(static_cast<uint64_t>(tn.exports_per_day))));
    t = conn.Read(t, tenant, obj) + Pause(rng, 5000, 60000);
  }
  conn.Logout(t + Pause(rng, 2000, 30000));
}

void ExpandDormant(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const int host = a.hosts[0];
  const int own = e.creds[a.user].tenant;
  SshConnection conn(em, rng, host, a.user, a.ip, 1.5e7, s.start_ns);
  int64_t t = s.start_ns;
  if (rng.Chance(0.6)) t = conn.FailPassword(t) + Pause(rng, 3000, 9000);
  t = conn.Login(t, kAuthPassword);
  t = conn.StartSftp(t);
  const int64_t today = DayOf(s.start_ns);
  for (int tenant : TenantsOnHostOwnFirst(e, host, own)) {
    const Tenant& tn = e.tenant(tenant);
    t = conn.ListDir(t, tenant, MakeObject(kObjDbDump, today, 0)) + Pause(rng, 1000, 8000);
    t = conn.Read(t, tenant, MakeObject(kObjDbDump, today, 0)) + Pause(rng, 1000, 8000);
    if (tenant == own) {
      for (int i = 0; i < std::min(4, tn.exports_per_day); ++i) {
        t = conn.Read(t, tenant, MakeObject(kObjExport, today - 1, static_cast<uint32_t>(i))) +
            Pause(rng, 500, 5000);
      }
    }
  }
  conn.Logout(t + Pause(rng, 2000, 30000));
}

void ExpandSpray(const Session& s, const Attack& a, Emitter& em) {
  const Estate& e = em.estate();
  Rng rng(s.key);
  const int host = a.hosts[0];
  int64_t t = s.start_ns;
  for (uint32_t user : a.spray_users) {
    SshConnection probe(em, rng, host, user, a.ip, 1e6, t);
    t = probe.FailPassword(t);
    t = probe.ClosePreauth(t) + Pause(rng, 15000, 70000);
  }
  SshConnection conn(em, rng, host, a.user, a.ip, 2e7, t);
  t = conn.Login(t, kAuthPassword);
  t = conn.StartSftp(t + Pause(rng, 60000, 300000));
  const int own = e.creds[a.user].tenant;
  const int64_t today = DayOf(s.start_ns);
  for (int tenant : TenantsOnHostOwnFirst(e, host, own)) {
    const Tenant& tn = e.tenant(tenant);
    t = conn.ListDir(t, tenant, MakeObject(kObjExport, today, 0)) + Pause(rng, 1000, 6000);
    int n = std::min(5, tn.exports_per_day * 2);
    for (int i = 0; i < n; ++i) {
      uint32_t obj = MakeObject(kObjExport, today - 1 - i / tn.exports_per_day,
                                static_cast<uint32_t>(i % tn.exports_per_day));
      t = conn.Read(t, tenant, obj) + Pause(rng, 300, 4000);
    }
    if (tenant == own)
      t = conn.Read(t, tenant, MakeObject(kObjDbDump, today, 0)) + Pause(rng, 300, 4000);
  }
  conn.Logout(t + Pause(rng, 2000, 20000));
}

}  // namespace

std::string_view AttackKindName(AttackKind kind) {
  switch (kind) {
    case AttackKind::kSftpBulkExfiltration:
      return "sftp_bulk_exfiltration";
    case AttackKind::kS3ExternalDownload:
      return "s3_external_download";
    case AttackKind::kS3CopyToForeignAccount:
      return "s3_copy_to_foreign_account";
    case AttackKind::kLowAndSlow:
      return "low_and_slow";
    case AttackKind::kDormantAccountRevived:
      return "dormant_account_revived";
    case AttackKind::kPasswordSprayThenLogin:
      return "password_spray_then_login";
  }
  return "";
}

AttackPlan PlanAttacks(Estate* e) {
  AttackPlan plan;
  Rng rng(Key(e->seed, kSaltPlan));
  const int days = e->days;
  const int learn = days >= 10 ? 7 : days / 2;
  const int window = days - learn;  // >= 1
  plan.learning_days = learn;
  const int64_t end_ns = e->DayStart(days);
  auto day_at = [&](double f) {
    return learn + std::min(window - 1, static_cast<int>(std::floor(f * window)));
  };
  // Start `hour:minute` UTC on `day` (plus up to ten minutes), no later than
  // `margin` before the end of the stretch.
  auto at = [&](int day, int hour, int minute, int64_t margin) {
    int64_t t = e->DayStart(day) + hour * kHour + minute * kMin + rng.Range(0, 600) * kSec;
    return std::max(e->DayStart(learn), std::min(t, end_ns - margin));
  };
  std::vector<int> used;

  // Planned in the order they happen in a month; ids follow the kinds' order
  // in the issue.
  Attack breach, s3_external, s3_copy, slow, dormant, spray;

  spray.kind = AttackKind::kPasswordSprayThenLogin;
  spray.user = PickVictim(e, rng, &used, true, false, true);
  spray.ip = PublicIp(rng, 45);
  spray.hosts = {e->creds[spray.user].host};
  spray.starts = {at(day_at(0.10), 2, 10, 4 * kHour)};
  {
    std::vector<uint32_t> names;
    for (uint32_t g = 0; g < e->guesses.size(); ++g) {
      if (rng.Chance(0.75)) names.push_back(kForeignUserBase + g);
    }
    std::vector<uint32_t> real = e->customers;
    for (size_t i = real.size(); i > 1; --i) std::swap(real[i - 1], real[rng.Below(i)]);
    int taken = 0;
    for (uint32_t u : real) {
      if (u != spray.user && taken < 12) {
        names.push_back(u);
        ++taken;
      }
    }
    for (size_t i = names.size(); i > 1; --i) std::swap(names[i - 1], names[rng.Below(i)]);
    spray.spray_users = std::move(names);
  }
  for (int t : TenantsOnHostOwnFirst(*e, spray.hosts[0], e->creds[spray.user].tenant)) {
    AddUnique(&spray.tenants, t);
  }

  dormant.kind = AttackKind::kDormantAccountRevived;
  dormant.user = e->dormant;
  e->creds[e->dormant].attack_victim = true;
  dormant.ip = PublicIp(rng, 5);
  dormant.hosts = {e->creds[e->dormant].host};
  dormant.starts = {at(day_at(0.25), 21, 15, 4 * kHour)};
  for (int t : TenantsOnHostOwnFirst(*e, dormant.hosts[0], e->creds[e->dormant].tenant)) {
    AddUnique(&dormant.tenants, t);
  }

  s3_external.kind = AttackKind::kS3ExternalDownload;
  s3_external.user = PickVictim(e, rng, &used, false, true, false);
  s3_external.ip = PublicIp(rng, 45);
  s3_external.starts = {at(day_at(0.40), 3, 20, 4 * kHour)};
  s3_external.tenants = {e->creds[s3_external.user].tenant};
  for (int t : OtherTenants(*e, rng, s3_external.tenants[0], 5)) s3_external.tenants.push_back(t);

  slow.kind = AttackKind::kLowAndSlow;
  slow.user = PickVictim(e, rng, &used, true, false, true);
  slow.ip = PublicIp(rng, 193);
  slow.hosts = {e->creds[slow.user].host};
  {
    const int own = e->creds[slow.user].tenant;
    for (int t : TenantsOnHostOwnFirst(*e, slow.hosts[0], own)) {
      if (t != own) slow.tenants.push_back(t);
    }
    if (slow.tenants.empty()) slow.tenants.push_back(own);
    if (window >= 3) {
      const int first = learn + static_cast<int>(std::floor(0.3 * window));
      const int nights = std::min(5, days - first);
      for (int k = 0; k < nights; ++k) slow.starts.push_back(at(first + k, 1, 5, 2 * kHour));
    } else {
      const int64_t w0 = e->DayStart(learn);
      const int64_t span = end_ns - w0;
      for (int k = 0; k < 3; ++k) {
        slow.starts.push_back(w0 + (k + 1) * span / 4 + rng.Range(0, 600) * kSec);
      }
    }
  }

  s3_copy.kind = AttackKind::kS3CopyToForeignAccount;
  s3_copy.user = e->etl;
  s3_copy.ip = kJumpHostIp;
  s3_copy.hosts = {static_cast<int>(rng.Below(kNumLegacyHosts))};
  s3_copy.starts = {at(day_at(0.60), 11, 5, 4 * kHour)};
  s3_copy.tenants = OtherTenants(*e, rng, 0, std::max(1, std::min(6, e->num_tenants / 2)));
  s3_copy.destination = std::string("account ") + std::string(kForeignAccountId) + " (s3://" +
                        std::string(kForeignBucket) + ", snapshot shared)";

  breach.kind = AttackKind::kSftpBulkExfiltration;
  breach.user = PickVictim(e, rng, &used, true, false, true);
  breach.ip = PublicIp(rng, 185);
  {
    const int own_host = e->creds[breach.user].host;
    breach.hosts.push_back(own_host);
    for (int k = 1; k < kNumLegacyHosts && breach.hosts.size() < 3; ++k) {
      int h = (own_host + k) % kNumLegacyHosts;
      if (!e->tenants_on_host[static_cast<size_t>(h)].empty()) breach.hosts.push_back(h);
    }
    int64_t t0 = at(day_at(0.80), 22, 40, 6 * kHour);
    for (size_t k = 0; k < breach.hosts.size(); ++k) {
      breach.starts.push_back(t0 + static_cast<int64_t>(k) * 45 * kMin + rng.Range(0, 300) * kSec);
      for (int t : TenantsOnHostOwnFirst(*e, breach.hosts[k], e->creds[breach.user].tenant)) {
        AddUnique(&breach.tenants, t);
      }
    }
  }

  for (Attack* a : {&breach, &s3_external, &s3_copy, &slow, &dormant, &spray}) {
    if (a->destination.empty()) a->destination = Ipv4String(a->ip);
    std::string id(1, 'A');
    AppendUint(plan.attacks.size() + 1, &id);
    a->id = std::move(id);
    plan.attacks.push_back(std::move(*a));
  }
  return plan;
}

void PlanAttackDay(const AttackPlan& plan, const Estate& estate, int day,
                   std::vector<Session>* out) {
  const int64_t lo = estate.DayStart(day), hi = estate.DayStart(day + 1);
  for (size_t i = 0; i < plan.attacks.size(); ++i) {
    const Attack& a = plan.attacks[i];
    for (size_t k = 0; k < a.starts.size(); ++k) {
      if (a.starts[k] < lo || a.starts[k] >= hi) continue;
      Session s;
      s.kind = SessionKind::kAttack;
      s.start_ns = RoundUs(a.starts[k]);
      s.key = Key(estate.seed, kSaltSession, i, k);
      s.user = a.user;
      s.ip = a.ip;
      s.attack = static_cast<int8_t>(i);
      s.step = static_cast<uint16_t>(k);
      s.host = static_cast<uint8_t>(a.hosts.empty() ? 0 : a.hosts[std::min(k, a.hosts.size() - 1)]);
      out->push_back(s);
    }
  }
}

void ExpandAttack(const Session& session, const AttackPlan& plan, Emitter& em) {
  em.Begin(session);
  const Attack& a = plan.attacks[static_cast<size_t>(session.attack)];
  switch (a.kind) {
    case AttackKind::kSftpBulkExfiltration:
      ExpandSftpBulk(session, a, em);
      return;
    case AttackKind::kS3ExternalDownload:
      ExpandS3External(session, a, em);
      return;
    case AttackKind::kS3CopyToForeignAccount:
      ExpandS3CopyForeign(session, a, em);
      return;
    case AttackKind::kLowAndSlow:
      ExpandLowAndSlow(session, a, em);
      return;
    case AttackKind::kDormantAccountRevived:
      ExpandDormant(session, a, em);
      return;
    case AttackKind::kPasswordSprayThenLogin:
      ExpandSpray(session, a, em);
      return;
  }
}

std::string DescribeAttack(const Attack& a, const Estate& e) {
  const std::string user(e.UserName(a.user));
  const std::string ip = Ipv4String(a.ip);
  auto hosts = [&] {
    std::string s;
    for (size_t i = 0; i < a.hosts.size(); ++i) {
      if (i) s += ", ";
      s += e.hosts[static_cast<size_t>(a.hosts[i])].name;
    }
    return s;
  };
  switch (a.kind) {
    case AttackKind::kSftpBulkExfiltration:
      return "The breach: " + user + "'s stolen password used from " + ip +
             " (never seen before) at night to log in to " + hosts() +
             " and pull database dumps, exports and imaging of " +
             std::to_string(a.tenants.size()) + " hospitals over sftp.";
    case AttackKind::kS3ExternalDownload:
      return user + "'s access key used with rclone from " + ip +
             " to list the buckets and download " + std::to_string(a.tenants.size()) +
             " hospitals' exports (GetObject).";
    case AttackKind::kS3CopyToForeignAccount:
      return "svc-etl's access key used from the internal jump host " + ip +
             " to copy exports of " + std::to_string(a.tenants.size()) + " hospitals to bucket " +
             std::string(kForeignBucket) + " of foreign account " + std::string(kForeignAccountId) +
             " (CopyObject), then share an EBS snapshot of " + hosts() + " with that account.";
    case AttackKind::kLowAndSlow:
      return user + " used from " + ip + " on " + std::to_string(a.starts.size()) +
             " nights to take a few files of other hospitals from " + hosts() +
             " each time (about a customer's normal day of volume): below volume thresholds, "
             "but a new source and foreign tenants.";
    case AttackKind::kDormantAccountRevived:
      return "The legacy account " + user + ", unused since the first day, logs in to " + hosts() +
             " from " + ip + " and reads the database dumps of the hospitals on that host.";
    case AttackKind::kPasswordSprayThenLogin:
      return "Password spray from " + ip + " against " + hosts() + " (" +
             std::to_string(a.spray_users.size()) +
             " user names, one attempt each), then a successful "
             "password login as " +
             user + " from the same address and sftp downloads.";
  }
  return "";
}

}  // namespace credwatch::sim
