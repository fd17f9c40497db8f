#include "replay/simulator/labels.h"

#include <algorithm>
#include <cmath>

#include "common/json_writer.h"
#include "credwatch/time_util.h"
#include "replay/simulator/format.h"

namespace credwatch::sim {
namespace {

bool IsDataRead(RecordType t) {
  return t == RecordType::kSftpClose || t == RecordType::kCtGetObject ||
         t == RecordType::kCtCopyObject;
}

void JsonKey(std::string_view key, std::string* out) {
  AppendJsonString(key, out);
  out->push_back(':');
}

void Time(int64_t ns, std::string* out) {
  if (ns == INT64_MAX || ns == INT64_MIN) {
    out->append("null");
  } else {
    AppendJsonString(FormatIso8601(ns), out);
  }
}

void TenantList(const Estate& e, const std::vector<bool>& tenants, std::string* out) {
  out->push_back('[');
  bool first = true;
  for (size_t n = 1; n < tenants.size(); ++n) {
    if (!tenants[n]) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(e.tenant(static_cast<int>(n)).id, out);
  }
  out->push_back(']');
}

std::string LookDescription(uint8_t kind, const Estate& e, uint32_t user) {
  const Credential* c = user < e.creds.size() ? &e.creds[user] : nullptr;
  auto day = [&](int d) { return FormatIso8601(e.DayStart(d)).substr(0, 10); };
  switch (kind) {
    case kLookNightlyBackup:
      return "svc-backup pulls every hospital's database dump and new files from each legacy "
             "host to backup-01 (10.20.9.10) from 01:30 UTC, a full backup on Sundays: "
             "multi-tenant, large and at night, but internal and routine.";
    case kLookBackupCopy:
      return "svc-backup copies each hospital's new exports to s3://ehrbackups in the vendor's "
             "own account 111122223333 (CopyObject to an internal destination).";
    case kLookSupportMultiTenant:
      return "Vendor support engineer reading several hospitals' files for tickets, from the "
             "office (198.51.100.0/24) or home; listed in multi_tenant_credentials.";
    case kLookPartnerUpload:
      return "Daily claims push at 05:15 UTC: svc-etl logs in to each legacy host, which then "
             "sends the claims files to the trusted partner 203.0.113.10 (outbound flows).";
    case kLookLargeInternalExport:
      return "A large read (database dump, imaging, many exports) to an internal address.";
    case kLookRemoteWorker:
      return c ? "Works from a stable home address (" + Ipv4String(c->home_ip) + ") on some days."
               : "";
    case kLookMover:
      return c ? "Works from home on some days; the home address changed from " +
                     Ipv4String(c->home_ip) + " to " + Ipv4String(c->new_home_ip) + " on " +
                     day(c->move_day) + "."
               : "";
    case kLookTraveller:
      return c ? "Travelling: worked from the hotel address " + Ipv4String(c->hotel_ip) + " from " +
                     day(c->travel_first_day) + " to " + day(c->travel_last_day) + "."
               : "";
    case kLookPasswordTypo:
      return "Mistyped the password: 'Failed password' followed within seconds by 'Accepted "
             "password' on the same connection.";
    case kLookInternetScan:
      return "Internet background: scanners guessing common user names (root, admin, ...) "
             "against the legacy hosts from many addresses; never successful.";
    case kLookEtlPickup:
      return "svc-etl collects inbound lab results of every hospital on each legacy host every "
             "two hours from etl-01 (10.20.5.20): multi-tenant reads, internal.";
    case kLookNightShift:
      return "Night-shift hospital staff working outside office hours from the hospital.";
    default:
      return "";
  }
}

}  // namespace

std::string_view LookalikeName(uint8_t lookalike) {
  switch (lookalike) {
    case kLookNightlyBackup:
      return "nightly_backup";
    case kLookBackupCopy:
      return "backup_copy_internal_bucket";
    case kLookSupportMultiTenant:
      return "support_multi_tenant";
    case kLookPartnerUpload:
      return "partner_upload";
    case kLookLargeInternalExport:
      return "large_internal_export";
    case kLookRemoteWorker:
      return "remote_worker";
    case kLookMover:
      return "moved_home";
    case kLookTraveller:
      return "traveller";
    case kLookPasswordTypo:
      return "password_typo";
    case kLookInternetScan:
      return "internet_scanning";
    case kLookEtlPickup:
      return "etl_multi_tenant_pickup";
    case kLookNightShift:
      return "night_shift";
    default:
      return "";
  }
}

LabelTracker::LabelTracker(const Estate& estate, const AttackPlan& plan)
    : estate_(estate), plan_(plan), attacks_(plan.attacks.size()) {
  for (AttackStats& a : attacks_)
    a.tenants.assign(static_cast<size_t>(estate.num_tenants) + 1, false);
}

void LabelTracker::Observe(const Record& r) {
  if (r.attack >= 0) {
    AttackStats& a = attacks_[static_cast<size_t>(r.attack)];
    a.start = std::min(a.start, r.time_ns);
    a.end = std::max(a.end, r.time_ns);
    ++a.records;
    if (r.exfil) {
      a.first_exfiltration = std::min(a.first_exfiltration, r.time_ns);
      if (IsDataRead(r.type)) {
        a.bytes += r.bytes;
        ++a.objects;
        if (r.tenant > 0) a.tenants[r.tenant] = true;
      }
    }
    return;
  }
  if (r.user == estate_.dormant && IsJournal(r.type)) dormant_last_benign_ = r.time_ns;
  if (r.lookalike == kLookNone) return;
  const uint32_t user = r.lookalike == kLookInternetScan ? kAggregateUser : r.user;
  LookStats& s = looks_[{r.lookalike, user}];
  if (s.tenants.empty()) s.tenants.assign(static_cast<size_t>(estate_.num_tenants) + 1, false);
  s.first = std::min(s.first, r.time_ns);
  s.last = std::max(s.last, r.time_ns);
  ++s.records;
  int64_t day = DayOf(r.time_ns);
  if (day != s.last_day) {
    s.last_day = day;
    ++s.days;
  }
  if (IsDataRead(r.type)) s.bytes += r.bytes;
  if (IsFlow(r.type) && r.lookalike == kLookPartnerUpload && r.ip == kPartnerIp) s.bytes += r.bytes;
  if (r.tenant > 0 && !IsFlow(r.type)) s.tenants[r.tenant] = true;
  if (!IsFlow(r.type) && r.ip != 0 && s.source_ips.size() < 4 &&
      std::find(s.source_ips.begin(), s.source_ips.end(), r.ip) == s.source_ips.end()) {
    s.source_ips.push_back(r.ip);
  }
}

std::string LabelTracker::LabelsJson(int64_t start_ns, int64_t end_ns) const {
  const Estate& e = estate_;
  std::string out = "{\n  ";
  JsonKey("seed", &out);
  AppendUint(e.seed, &out);
  out += ",\n  ";
  JsonKey("start", &out);
  Time(start_ns, &out);
  out += ",\n  ";
  JsonKey("end", &out);
  Time(end_ns, &out);
  out += ",\n  ";
  JsonKey("days", &out);
  AppendInt(e.days, &out);
  out += ",\n  ";
  JsonKey("tenants", &out);
  AppendInt(e.num_tenants, &out);
  out += ",\n  ";
  JsonKey("learning_days", &out);
  AppendInt(plan_.learning_days, &out);
  out += ",\n  ";
  JsonKey("attacks", &out);
  out += "[";
  for (size_t i = 0; i < plan_.attacks.size(); ++i) {
    const Attack& a = plan_.attacks[i];
    const AttackStats& s = attacks_[i];
    out += i ? ",\n    {" : "\n    {";
    JsonKey("id", &out);
    AppendJsonString(a.id, &out);
    out += ",";
    JsonKey("kind", &out);
    AppendJsonString(AttackKindName(a.kind), &out);
    out += ",";
    JsonKey("credential", &out);
    AppendJsonString(e.UserName(a.user), &out);
    out += ",";
    JsonKey("start", &out);
    Time(s.start, &out);
    out += ",";
    JsonKey("first_exfiltration", &out);
    Time(s.first_exfiltration, &out);
    out += ",";
    JsonKey("end", &out);
    Time(s.end, &out);
    out += ",\n     ";
    JsonKey("source_ip", &out);
    AppendJsonString(Ipv4String(a.ip), &out);
    out += ",";
    JsonKey("destination", &out);
    AppendJsonString(a.destination, &out);
    out += ",";
    JsonKey("hosts", &out);
    out += "[";
    if (a.kind == AttackKind::kS3ExternalDownload) {
      out += "\"s3.amazonaws.com\"";
    } else if (a.kind == AttackKind::kS3CopyToForeignAccount) {
      out += "\"s3.amazonaws.com\",\"ec2.amazonaws.com\"";
    } else {
      for (size_t h = 0; h < a.hosts.size(); ++h) {
        if (h) out += ",";
        AppendJsonString(e.hosts[static_cast<size_t>(a.hosts[h])].name, &out);
      }
    }
    out += "],";
    JsonKey("tenants", &out);
    TenantList(e, s.tenants, &out);
    out += ",\n     ";
    JsonKey("bytes", &out);
    AppendInt(s.bytes, &out);
    out += ",";
    JsonKey("objects", &out);
    AppendInt(s.objects, &out);
    out += ",";
    JsonKey("records", &out);
    AppendInt(s.records, &out);
    out += ",";
    JsonKey("sessions", &out);
    AppendInt(static_cast<int64_t>(a.starts.size()), &out);
    if (a.kind == AttackKind::kPasswordSprayThenLogin) {
      out += ",";
      JsonKey("spray_user_names", &out);
      AppendInt(static_cast<int64_t>(a.spray_users.size()), &out);
    }
    if (a.kind == AttackKind::kDormantAccountRevived && dormant_last_benign_ != INT64_MIN &&
        s.start != INT64_MAX) {
      out += ",";
      JsonKey("idle_days", &out);
      double idle = static_cast<double>(s.start - dormant_last_benign_) / kNsPerDay;
      AppendJsonDouble(std::round(idle * 100) / 100, &out);
    }
    out += ",\n     ";
    JsonKey("description", &out);
    AppendJsonString(DescribeAttack(a, e), &out);
    out += "}";
  }
  out += "\n  ],\n  ";
  JsonKey("benign_lookalikes", &out);
  out += "[";
  bool first = true;
  for (const auto& [key, s] : looks_) {
    const auto [kind, user] = key;
    out += first ? "\n    {" : ",\n    {";
    first = false;
    JsonKey("kind", &out);
    AppendJsonString(LookalikeName(kind), &out);
    out += ",";
    JsonKey("credential", &out);
    if (user == kAggregateUser) {
      out += "null";
    } else {
      AppendJsonString(e.UserName(user), &out);
    }
    out += ",";
    JsonKey("start", &out);
    Time(s.first, &out);
    out += ",";
    JsonKey("end", &out);
    Time(s.last, &out);
    out += ",";
    JsonKey("source_ips", &out);
    out += "[";
    for (size_t i = 0; i < s.source_ips.size(); ++i) {
      if (i) out += ",";
      AppendJsonString(Ipv4String(s.source_ips[i]), &out);
    }
    out += "],";
    JsonKey("tenants", &out);
    TenantList(e, s.tenants, &out);
    out += ",";
    JsonKey("days", &out);
    AppendInt(s.days, &out);
    out += ",";
    JsonKey("records", &out);
    AppendInt(s.records, &out);
    out += ",";
    JsonKey("bytes", &out);
    AppendInt(s.bytes, &out);
    out += ",";
    JsonKey("description", &out);
    AppendJsonString(LookDescription(kind, e, user), &out);
    out += "}";
  }
  out += "\n  ]\n}\n";
  return out;
}

std::string ReplayConfigYaml(const Estate& estate, const AttackPlan& plan,
                             const std::string& rules_path) {
  std::string y;
  y += "# Replay config for a stretch written by `credwatch simulate` (seed ";
  AppendUint(estate.seed, &y);
  y += ").\n";
  y += "# Paths resolve against this file's directory: the state goes next to the\n";
  y += "# data, the rules are the project's rules/ as seen from here.\n";
  y += "# Inputs: cloudtrail.ndjson, then cloudtrail/ (the later half), journal.ndjson,\n";
  y += "# flows.ndjson. The first attack comes after ";
  AppendInt(plan.learning_days, &y);
  y += " days of benign history.\n";
  y += "state_dir: ./credwatch-state\n";
  y += "rules: [";
  y += rules_path;
  y += "]\n";
  y += "site:\n";
  y += "  internal_networks: [10.0.0.0/8, 198.51.100.0/24]\n";
  y += "  internal_accounts: [\"";
  y += kAccountId;
  y += "\"]\n";
  y += "  trusted_destinations: [";
  y += Ipv4String(kPartnerIp);
  y += "]\n";
  y += "  tenants:\n";
  y += "    credential: [\"^(?P<tenant>t[0-9]{3})-\"]\n";
  y += "    object: [\"^/srv/ehr/(?P<tenant>[^/]+)/\", \"^arn:aws:s3:::(?P<tenant>[a-z0-9]+)-\"]\n";
  y += "    multi_tenant_credentials: [\"svc-backup\", \"vendor-support*\"]\n";
  if (plan.learning_days >= 1) {
    y += "profile:\n";
    y += "  learning_period: ";
    AppendInt(plan.learning_days, &y);
    y += "d";
    if (plan.learning_days < 7) y += "  # shortened with the stretch (docs/simulate.md)";
    y += "\n";
  } else {
    y += "# A one-day stretch has no learning period before its attacks: every credential\n";
    y += "# is still learning when they happen (docs/simulate.md).\n";
  }
  return y;
}

}  // namespace credwatch::sim
