#include "replay/simulator/estate.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "replay/simulator/objects.h"
#include "replay/simulator/random.h"
#include "replay/simulator/record.h"

namespace credwatch::sim {
namespace {

constexpr std::string_view kFirstNames[] = {
    "anna",   "ben",    "carla",  "david",  "elena",  "felix", "greta", "hannah",  "ivan",
    "julia",  "karl",   "lena",   "marco",  "nina",   "oskar", "paula", "quentin", "rosa",
    "stefan", "tanja",  "ulrich", "vera",   "walter", "xenia", "yusuf", "zoe",     "amir",
    "birgit", "claus",  "dana",   "emil",   "frieda", "georg", "heike", "ines",    "jonas",
    "katja",  "lukas",  "maria",  "niklas", "olga",   "peter", "ruth",  "sofia",   "thomas",
    "ute",    "viktor", "wiebke", "jan",    "mia",    "noah",  "lea",   "elias",   "emma",
    "paul",   "clara",  "leon",   "sara",   "tim",    "eva"};
constexpr std::string_view kLastNames[] = {
    "miller",    "schmidt",  "mueller",  "weber",   "wagner",  "becker",   "hoffmann", "schulz",
    "koch",      "richter",  "klein",    "wolf",    "neumann", "schwarz",  "braun",    "zimmer",
    "krueger",   "hartmann", "lange",    "werner",  "krause",  "lehmann",  "koehler",  "maier",
    "fuchs",     "peters",   "jung",     "hahn",    "vogel",   "keller",   "frank",    "berger",
    "roth",      "beck",     "lorenz",   "baumann", "franke",  "albrecht", "ludwig",   "winter",
    "kraus",     "martin",   "simon",    "kaiser",  "jansen",  "seidel",   "brandt",   "haas",
    "schreiber", "graf",     "dietrich", "ziegler", "kuhn",    "pohl",     "engel",    "horn",
    "busch",     "bergmann", "thomas",   "sauer",   "arnold",  "wolff",    "pfeiffer", "lindner",
    "costa",     "novak",    "kowalski", "rossi",   "dubois",  "jensen",   "larsen",   "smith",
    "jones",     "brown",    "taylor",   "wilson",  "evans",   "walsh",    "murphy",   "kelly"};
constexpr std::string_view kGuesses[] = {
    "root", "admin",    "test",  "user",    "oracle", "postgres", "ubuntu",   "ftpuser",
    "sftp", "backup",   "guest", "support", "git",    "deploy",   "pi",       "administrator",
    "ehr",  "hl7",      "mirth", "mysql",   "tomcat", "jenkins",  "nagios",   "ansible",
    "dev",  "sftpuser", "ftp",   "upload",  "data",   "demo",     "operator", "service"};

uint32_t RandomIn(Rng& rng, std::initializer_list<uint32_t> first_octets) {
  uint32_t a = *(first_octets.begin() + rng.Below(first_octets.size()));
  return Ipv4(a, static_cast<uint32_t>(rng.Range(1, 255)), static_cast<uint32_t>(rng.Range(0, 256)),
              static_cast<uint32_t>(rng.Range(2, 254)));
}

std::string Hex32(uint64_t a, uint64_t b) {
  std::string s;
  AppendHexFixed(a, 16, false, &s);
  AppendHexFixed(b, 16, false, &s);
  return s;
}

void SetIdentity(uint64_t seed, uint32_t index, Credential* c) {
  c->access_key_id = "AKIA";
  AppendBase32Id(Key(seed, 51, index), 16, &c->access_key_id);
  c->principal_id = "AIDA";
  AppendBase32Id(Key(seed, 52, index), 17, &c->principal_id);
  c->key_fingerprint = (Key(seed, 53, index) & 3) == 0 ? "ED25519 SHA256:" : "RSA SHA256:";
  AppendBase64Chars(Key(seed, 54, index), 43, &c->key_fingerprint);
}

// Unique "<prefix><stem>", with a digit appended on collision.
std::string UniqueName(const std::string& prefix, const std::string& stem,
                       std::set<std::string>* taken) {
  std::string name = prefix + stem;
  for (int i = 2; !taken->insert(name).second; ++i) name = prefix + stem + std::to_string(i);
  return name;
}

void MaybeTravel(Rng& rng, int days, double chance, Credential* c) {
  if (days < 5 || !rng.Chance(chance)) return;
  c->travel_first_day = static_cast<int>(rng.Range(1, days - 2));
  c->travel_last_day = std::min(days - 1, c->travel_first_day + static_cast<int>(rng.Range(1, 5)));
  c->hotel_ip = RandomIn(rng, {31, 176});
}

void MaybeRemote(Rng& rng, int days, double chance, double prob_lo, double prob_hi, Credential* c) {
  if (!rng.Chance(chance)) return;
  c->home_ip = RandomIn(rng, {81, 85, 89, 92});
  c->home_prob = prob_lo + rng.Uniform() * (prob_hi - prob_lo);
  if (days >= 6 && rng.Chance(0.2)) {
    c->move_day = static_cast<int>(rng.Range(2, days - 2));
    c->new_home_ip = RandomIn(rng, {81, 85, 89, 92});
  }
}

}  // namespace

std::string_view Estate::UserName(uint32_t user) const {
  if (user >= kForeignUserBase) return guesses[user - kForeignUserBase].name;
  return creds[user].name;
}

bool Estate::UserExists(uint32_t user) const {
  return user < kForeignUserBase || guesses[user - kForeignUserBase].exists;
}

uint32_t Estate::UserUid(uint32_t user) const {
  return user < kForeignUserBase ? creds[user].uid : 0;
}

Estate BuildEstate(const SimulateOptions& options, double scale) {
  Estate e;
  e.seed = options.seed;
  e.days = options.days;
  e.start_ns = options.start_time_ns - (options.start_time_ns % kNsPerDay + kNsPerDay) % kNsPerDay;
  e.num_tenants = options.tenants;
  e.scale = scale;
  e.population = scale > 1 ? std::pow(scale, 2.0 / 3.0) : 1.0;
  e.intensity = scale / e.population;
  const uint64_t seed = options.seed;

  for (int i = 0; i < kNumLegacyHosts; ++i) {
    Host h;
    h.name = "ehr-legacy-0" + std::to_string(i + 1);
    h.ip = Ipv4(10, 20, 1, static_cast<uint32_t>(11 + i));
    h.sftp_server = i == kNumLegacyHosts - 1;  // the oldest box still execs sftp-server
    h.boot_id = Hex32(Key(seed, 21, i, 1), Key(seed, 21, i, 2));
    h.machine_id = Hex32(Key(seed, 21, i, 3), Key(seed, 21, i, 4));
    h.seqnum_id = Hex32(Key(seed, 21, i, 5), Key(seed, 21, i, 6));
    Rng rng(Key(seed, 22, i));
    h.boot_ns = e.start_ns - rng.Range(3, 200) * kNsPerDay - rng.Range(0, 86400) * 1'000'000'000LL;
    h.first_pid = static_cast<uint32_t>(rng.Range(1500, 20000));
    e.hosts.push_back(std::move(h));
  }
  e.tenants_on_host.resize(kNumLegacyHosts);

  auto cap = [](double v, int lo) {
    return std::clamp(static_cast<int>(std::lround(v)), lo, static_cast<int>(kMaxObjectSerial));
  };
  for (int n = 1; n <= options.tenants; ++n) {
    Rng rng(Key(seed, 31, n));
    Tenant t;
    t.number = n;
    t.id = "t";
    AppendPadded(static_cast<uint64_t>(n), 3, &t.id);
    t.bucket = t.id + "-ehr-exports";
    t.host = (n - 1) % kNumLegacyHosts;
    uint32_t b = 128 + static_cast<uint32_t>(n >> 8);
    uint32_t c = static_cast<uint32_t>(n & 255);
    t.egress[0] = Ipv4(62, b, c, 10);
    t.egress[1] = Ipv4(62, b, c, 11);
    t.size = rng.LogUniform(0.4, 2.2);
    t.archive_files = cap(30 * t.size * scale, 4);
    t.exports_per_day = cap((2 + 2 * t.size) * scale, 1);
    t.inbound_per_day = cap((5 + 10 * t.size) * scale, 1);
    e.tenants_on_host[static_cast<size_t>(t.host)].push_back(n);
    e.tenants.push_back(std::move(t));
  }

  std::set<std::string> taken;
  uint32_t next_customer_uid = 10001;
  for (const Tenant& t : e.tenants) {
    const int base = static_cast<int>(std::lround(3 + 4 * t.size));
    const int count = std::max(1, static_cast<int>(std::lround(base * e.population)));
    // Keeps the tenant's expected activity exactly proportional to scale.
    const double correction = base * e.population / count;
    for (int k = 0; k < count; ++k) {
      Rng rng(Key(seed, 41, t.number, k));
      Credential c;
      std::string stem(kFirstNames[rng.Below(std::size(kFirstNames))].substr(0, 1));
      stem += kLastNames[rng.Below(std::size(kLastNames))];
      c.name = UniqueName(t.id + "-", stem, &taken);
      c.uid = next_customer_uid++;
      c.tenant = t.number;
      c.role = Role::kCustomer;
      c.host = t.host;
      c.uses_sftp = rng.Chance(0.85);
      c.uses_s3 = !c.uses_sftp || rng.Chance(0.45);
      c.publickey = rng.Chance(0.15);
      c.night_shift = rng.Chance(0.07);
      c.sessions_per_workday = rng.LogUniform(0.5, 3.0) * e.intensity * correction;
      c.weekend_factor = c.night_shift ? 0.7 : rng.LogUniform(0.03, 0.25);
      c.typo_rate = c.publickey ? 0 : rng.LogUniform(0.01, 0.08);
      c.shift_start_hour =
          c.night_shift ? static_cast<int>(rng.Range(19, 22)) : static_cast<int>(rng.Range(6, 10));
      c.throughput = rng.LogUniform(8e6, 6e7);
      c.site_ip = t.egress[rng.Below(2)];
      MaybeRemote(rng, options.days, 0.3, 0.3, 0.9, &c);
      MaybeTravel(rng, options.days, 0.08, &c);
      e.customers.push_back(static_cast<uint32_t>(e.creds.size()));
      e.creds.push_back(std::move(c));
    }
  }

  const int support_count = std::max(
      1, static_cast<int>(std::lround(std::max(3.0, options.tenants / 3.0) * e.population)));
  for (int k = 0; k < support_count; ++k) {
    Rng rng(Key(seed, 42, k));
    Credential c;
    c.name = UniqueName("vendor-support-",
                        std::string(kFirstNames[rng.Below(std::size(kFirstNames))]), &taken);
    c.uid = static_cast<uint32_t>(5001 + k);
    c.role = Role::kSupport;
    c.uses_sftp = true;
    c.uses_s3 = rng.Chance(0.5);
    c.publickey = rng.Chance(0.5);
    c.sessions_per_workday = rng.LogUniform(2.0, 6.0) * e.intensity;
    c.weekend_factor = 0.05;
    c.typo_rate = c.publickey ? 0 : 0.03;
    c.shift_start_hour = static_cast<int>(rng.Range(7, 10));
    c.throughput = rng.LogUniform(3e7, 9e7);
    c.site_ip = kOfficeIps[k % 2];
    MaybeRemote(rng, options.days, 0.6, 0.3, 0.7, &c);
    MaybeTravel(rng, options.days, 0.1, &c);
    e.support.push_back(static_cast<uint32_t>(e.creds.size()));
    e.creds.push_back(std::move(c));
  }

  {
    Credential c;
    c.name = "svc-backup";
    c.uid = 996;
    c.role = Role::kBackup;
    c.uses_sftp = c.uses_s3 = c.publickey = true;
    c.throughput = 1.1e8;
    c.site_ip = kBackupHostIp;
    e.backup = static_cast<uint32_t>(e.creds.size());
    e.creds.push_back(std::move(c));
  }
  {
    Credential c;
    c.name = "svc-etl";
    c.uid = 995;
    c.role = Role::kEtl;
    c.uses_sftp = c.uses_s3 = c.publickey = true;
    c.throughput = 9e7;
    c.site_ip = kEtlHostIp;
    e.etl = static_cast<uint32_t>(e.creds.size());
    e.creds.push_back(std::move(c));
  }
  {
    const Tenant& t = e.tenant(std::min(7, options.tenants));
    Credential c;
    c.name = t.id + "-legacy-admin";
    c.uid = 1003;
    c.tenant = t.number;
    c.role = Role::kDormantAdmin;
    c.host = t.host;
    c.uses_sftp = true;
    c.throughput = 3e7;
    c.site_ip = t.egress[0];
    e.dormant = static_cast<uint32_t>(e.creds.size());
    e.creds.push_back(std::move(c));
  }
  for (uint32_t i = 0; i < e.creds.size(); ++i) SetIdentity(seed, i, &e.creds[i]);

  for (std::string_view g : kGuesses) {
    e.guesses.push_back(GuessedUser{std::string(g), g == "root"});
  }
  return e;
}

}  // namespace credwatch::sim
