// The simulated site: hospitals (tenants), the vendor's legacy hosts, and every
// credential with the habits that drive its benign activity (working hours,
// home address, moves, travel, typo rate). Built once per run from the seed;
// read-only afterwards. Internal header.
//
// Network plan (docs/simulate.md lists it for readers of the output):
//   legacy hosts      ehr-legacy-01..04   10.20.1.11..14
//   backup host       backup-01           10.20.9.10
//   ETL host          etl-01              10.20.5.20
//   jump host         jump-01             10.20.7.41
//   analytics host    analytics-01        10.30.4.17
//   log collector                          10.20.0.40, DNS 10.20.0.53
//   vendor office egress                   198.51.100.23, 198.51.100.24
//   partner (trusted)                      203.0.113.10
//   hospitals' egress  62.128+n/256.n%256.10..11 (n = tenant number)
//   homes 81.x / 85.x / 89.x / 92.x, hotels 31.x / 176.x (stable per person)
#ifndef CREDWATCH_REPLAY_SIMULATOR_ESTATE_H_
#define CREDWATCH_REPLAY_SIMULATOR_ESTATE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "credwatch/time_util.h"
#include "replay/simulator/format.h"
#include "replay/simulator/simulator.h"

namespace credwatch::sim {

inline constexpr uint32_t kBackupHostIp = Ipv4(10, 20, 9, 10);
inline constexpr uint32_t kEtlHostIp = Ipv4(10, 20, 5, 20);
inline constexpr uint32_t kJumpHostIp = Ipv4(10, 20, 7, 41);
inline constexpr uint32_t kAnalyticsIp = Ipv4(10, 30, 4, 17);
inline constexpr uint32_t kLogCollectorIp = Ipv4(10, 20, 0, 40);
inline constexpr uint32_t kDnsIp = Ipv4(10, 20, 0, 53);
inline constexpr uint32_t kOfficeIps[] = {Ipv4(198, 51, 100, 23), Ipv4(198, 51, 100, 24)};
inline constexpr uint32_t kPartnerIp = Ipv4(203, 0, 113, 10);

inline constexpr std::string_view kAccountId = "111122223333";
inline constexpr std::string_view kForeignAccountId = "739184562071";
inline constexpr std::string_view kRegion = "eu-central-1";
inline constexpr std::string_view kBackupBucket = "ehrbackups";
inline constexpr std::string_view kForeignBucket = "dataxfer4471";
inline constexpr std::string_view kVpcEndpoint = "vpce-0a4c3e1f9b2d87e65";

inline constexpr int kNumLegacyHosts = 4;
// UTC offset of the hospitals' and the vendor's working day (CET, winter).
inline constexpr int kLocalUtcOffsetHours = 1;

struct Tenant {
  int number = 0;           // 1-based: t001 is 1
  std::string id;           // "t003"
  std::string bucket;       // "t003-ehr-exports"
  int host = 0;             // legacy host holding /srv/ehr/tNNN
  uint32_t egress[2] = {};  // the hospital's NAT addresses
  double size = 1;          // relative size: staff, data volume
  int archive_files = 0;    // stable catalog (imaging/ holds a tenth as many)
  int exports_per_day = 0;
  int inbound_per_day = 0;
};

struct Host {
  std::string name;  // "ehr-legacy-01"
  uint32_t ip = 0;
  bool sftp_server = false;  // true: "Subsystem sftp sftp-server -l INFO"; else internal-sftp
  std::string boot_id;       // 32 hex digits
  std::string machine_id;
  std::string seqnum_id;
  int64_t boot_ns = 0;  // monotonic clock origin
  uint32_t first_pid = 0;
};

enum class Role : uint8_t { kCustomer, kSupport, kBackup, kEtl, kDormantAdmin };

struct Credential {
  std::string name;             // "t003-jmiller"
  std::string access_key_id;    // "AKIA..." (IAM user key)
  std::string principal_id;     // "AIDA..."
  std::string key_fingerprint;  // "RSA SHA256:..." (publickey users)
  uint32_t uid = 0;
  int tenant = 0;  // 0 = vendor or service
  Role role = Role::kCustomer;
  int host = 0;  // customers: their tenant's host
  bool uses_sftp = false;
  bool uses_s3 = false;
  bool publickey = false;
  bool night_shift = false;
  double sessions_per_workday = 0;  // already multiplied by the run's intensity
  double weekend_factor = 0;
  double typo_rate = 0;      // chance a password login starts with a typo
  int shift_start_hour = 8;  // local
  double throughput = 2e7;   // bytes/s from the usual place
  uint32_t site_ip = 0;      // hospital egress or office
  // Remote work: a stable home address used on home_prob of the days.
  uint32_t home_ip = 0;
  double home_prob = 0;
  // Movers: from move_day on, new_home_ip replaces home_ip.
  int move_day = -1;
  uint32_t new_home_ip = 0;
  // Travellers: on days [travel_first_day, travel_last_day] they use hotel_ip.
  int travel_first_day = -1;
  int travel_last_day = -1;
  uint32_t hotel_ip = 0;
  bool attack_victim = false;  // chosen by the attack plan; no travel, no move
};

// A user name that is not a credential of the site: scanners' and sprayers'
// guesses. `exists` marks system accounts such as root.
struct GuessedUser {
  std::string name;
  bool exists = false;
};

struct Estate {
  uint64_t seed = 0;
  int days = 0;
  int64_t start_ns = 0;  // midnight UTC
  int num_tenants = 0;
  // Volume scaling (1 = natural): population multiplies the number of people,
  // intensity their activity; population * intensity = scale.
  double scale = 1;
  double population = 1;
  double intensity = 1;

  std::vector<Tenant> tenants;  // tenants[n - 1] is tNNN
  std::vector<Host> hosts;
  std::vector<std::vector<int>> tenants_on_host;  // tenant numbers per host
  std::vector<Credential> creds;
  std::vector<GuessedUser> guesses;
  std::vector<uint32_t> customers;  // indexes into creds
  std::vector<uint32_t> support;
  uint32_t backup = 0;   // svc-backup
  uint32_t etl = 0;      // svc-etl
  uint32_t dormant = 0;  // tNNN-legacy-admin

  const Tenant& tenant(int number) const { return tenants[static_cast<size_t>(number - 1)]; }
  std::string_view UserName(uint32_t user) const;
  // Whether `user` exists on the hosts (credentials and system accounts).
  bool UserExists(uint32_t user) const;
  uint32_t UserUid(uint32_t user) const;
  // Midnight UTC starting day `day` (0-based) of the stretch.
  int64_t DayStart(int day) const { return start_ns + day * kNsPerDay; }
};

// Builds the estate for `options` at volume `scale` (1 = natural).
Estate BuildEstate(const SimulateOptions& options, double scale);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_ESTATE_H_
