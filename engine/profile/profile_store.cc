#include "profile/profile_store.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/fixed_hash.h"
#include "credwatch/site.h"

namespace credwatch::profile {
namespace {

// Seen-set kinds, stored in the top two bits of an entry's key.
constexpr uint64_t kKindNetwork = 0;
constexpr uint64_t kKindHost = 1;
constexpr uint64_t kKindDestination = 2;
constexpr uint64_t kKindTenant = 3;
constexpr uint64_t kValueMask = (uint64_t{1} << 62) - 1;

// FixedHash seeds: one per value space, so equal bytes in two spaces differ.
constexpr uint64_t kSeedHost = 0x4057;
constexpr uint64_t kSeedIp = 0x1B;
constexpr uint64_t kSeedIpText = 0x1B7;
constexpr uint64_t kSeedAccount = 0xACC7;
constexpr uint64_t kSeedTenant = 0x7E4A;

constexpr int64_t kNsPer5Min = 5 * kNsPerMinute;
constexpr uint8_t kFormatVersion = 1;

uint64_t MakeKey(uint64_t kind, uint64_t value) { return kind << 62 | (value & kValueMask); }

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Bucket numbers fit int32 for every width >= 1 minute over the whole int64
// ns range (about 1.5e8 minutes).
int32_t BucketOf(int64_t t, int64_t width) { return static_cast<int32_t>(FloorDiv(t, width)); }

size_t Mod(int64_t x, size_t n) {
  int64_t m = x % static_cast<int64_t>(n);
  return static_cast<size_t>(m < 0 ? m + static_cast<int64_t>(n) : m);
}

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

int64_t SatSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
  return r;
}

uint16_t SatAdd(uint16_t a, uint16_t b) {
  uint32_t r = uint32_t{a} + b;
  return static_cast<uint16_t>(std::min<uint32_t>(r, UINT16_MAX));
}

uint32_t ToSeconds(int64_t t) {
  int64_t s = FloorDiv(t, kNsPerSecond);
  return static_cast<uint32_t>(std::clamp<int64_t>(s, 0, UINT32_MAX));
}

// Rings of buckets: `head` is the absolute number of the newest bucket and
// the ring holds (head - N, head]. Moving the head forward clears the
// buckets it passes; it never moves back.
template <typename T, size_t N>
void Advance(std::array<T, N>& ring, int32_t* head, int32_t bucket) {
  if (bucket <= *head) return;
  int64_t steps = int64_t{bucket} - *head;
  if (steps >= static_cast<int64_t>(N)) {
    ring.fill(0);
  } else {
    for (int64_t i = 1; i <= steps; ++i) ring[Mod(int64_t{*head} + i, N)] = 0;
  }
  *head = bucket;
}

// True if `bucket` is still inside the ring (after advancing to it if newer).
template <typename T, size_t N>
bool InRing(std::array<T, N>& ring, int32_t* head, int32_t bucket) {
  Advance(ring, head, bucket);
  return int64_t{*head} - bucket < static_cast<int64_t>(N);
}

// Adds `v` to `bucket` if it is still inside the ring; false if it fell out.
template <typename T, size_t N>
bool AddTo(std::array<T, N>& ring, int32_t* head, int32_t bucket, T v) {
  if (!InRing(ring, head, bucket)) return false;
  T& slot = ring[Mod(bucket, N)];
  slot = SatAdd(slot, v);
  return true;
}

template <size_t N>
int64_t SumLast(const std::array<int64_t, N>& ring, int32_t head, size_t count) {
  int64_t sum = 0;
  for (size_t i = 0; i < count && i < N; ++i) {
    sum = SatAdd(sum, ring[Mod(int64_t{head} - static_cast<int64_t>(i), N)]);
  }
  return sum;
}

bool MovesData(Action a) { return a == Action::kRead || a == Action::kCopy || a == Action::kSend; }

uint64_t NetworkKey(const IpAddress& ip) {
  const IpAddress p = ip.Prefix();
  const auto& b = p.bytes();
  uint64_t v;
  if (p.is_v4()) {
    v = uint64_t{1} << 56 | uint64_t{b[12]} << 16 | uint64_t{b[13]} << 8 | b[14];
  } else {
    v = uint64_t{2} << 56;
    for (int i = 0; i < 6; ++i) v |= uint64_t{b[i]} << (40 - 8 * i);
  }
  return MakeKey(kKindNetwork, v);
}

uint64_t IpHash(const IpAddress& ip) { return FixedHash(ip.bytes().data(), 16, kSeedIp); }

// Where data went, for profile.dst_new (mirrors BlastRadius::Add): dst.ip,
// else dst.account, else for a read by an external client its address. A
// destination the site marked internal (dst.external false) is not one.
uint64_t DestinationKey(const Event& e) {
  if (!MovesData(e.action) && e.kind != Kind::kNetwork) return 0;
  if (e.dst_ip.is_valid() || !e.dst_ip_text.empty() || !e.dst_account.empty()) {
    if (e.dst_external == Tri::kFalse) return 0;
    if (e.dst_ip.is_valid()) return MakeKey(kKindDestination, IpHash(e.dst_ip));
    if (!e.dst_ip_text.empty()) {
      return MakeKey(kKindDestination, FixedHash(e.dst_ip_text, kSeedIpText));
    }
    return MakeKey(kKindDestination, FixedHash(e.dst_account, kSeedAccount));
  }
  if (e.src_internal == Tri::kFalse && e.src_ip.is_valid()) {
    return MakeKey(kKindDestination, IpHash(e.src_ip));
  }
  return 0;
}

uint64_t TenantHash(std::string_view tenant) {
  uint64_t h = FixedHash(tenant, kSeedTenant);
  return h == 0 ? 1 : h;
}

using internal::Profile;
using internal::ReadHistory;
using internal::SeenEntry;
using SeenSet = std::vector<SeenEntry>;

SeenSet::iterator LowerBound(SeenSet& v, uint64_t key) {
  return std::lower_bound(v.begin(), v.end(), key,
                          [](const SeenEntry& a, uint64_t k) { return a.key() < k; });
}
SeenSet::const_iterator LowerBound(const SeenSet& v, uint64_t key) {
  return std::lower_bound(v.begin(), v.end(), key,
                          [](const SeenEntry& a, uint64_t k) { return a.key() < k; });
}

bool SeenContains(const SeenSet& v, uint64_t key) {
  auto it = LowerBound(v, key);
  return it != v.end() && it->key() == key;
}

// The run of `kind` entries in the sorted set.
std::pair<SeenSet::iterator, SeenSet::iterator> KindRange(SeenSet& v, uint64_t kind) {
  auto begin = LowerBound(v, kind << 62);
  auto end = kind == kKindTenant ? v.end() : LowerBound(v, (kind + 1) << 62);
  return {begin, end};
}

// The least recently seen entry of a range; ties go to the smaller key.
SeenSet::iterator Oldest(SeenSet::iterator begin, SeenSet::iterator end) {
  return std::min_element(begin, end, [](const SeenEntry& a, const SeenEntry& b) {
    return a.last_seen_s < b.last_seen_s;
  });
}

// Records `key` as seen at `t_s`. When its set already holds `cap` entries
// the least recently seen one makes room, unless the new value is older than
// all of them (a late event): then it is not stored.
void SeenUpsert(SeenSet& v, uint64_t key, uint32_t t_s, size_t cap) {
  auto it = LowerBound(v, key);
  if (it != v.end() && it->key() == key) {
    it->last_seen_s = std::max(it->last_seen_s, t_s);
    return;
  }
  auto [begin, end] = KindRange(v, key >> 62);
  if (static_cast<size_t>(end - begin) >= cap) {
    auto oldest = Oldest(begin, end);
    if (oldest == end || oldest->last_seen_s > t_s) return;
    v.erase(oldest);
    it = LowerBound(v, key);
  }
  SeenEntry entry;
  entry.key_hi = static_cast<uint32_t>(key >> 32);
  entry.key_lo = static_cast<uint32_t>(key);
  entry.last_seen_s = t_s;
  v.insert(it, entry);
}

void SeenTrim(SeenSet& v, uint64_t kind, size_t cap) {
  for (;;) {
    auto [begin, end] = KindRange(v, kind);
    if (static_cast<size_t>(end - begin) <= cap) return;
    v.erase(Oldest(begin, end));
  }
}

int32_t CountSince(const SeenSet& v, uint64_t kind, int64_t after_s) {
  auto it = LowerBound(v, kind << 62);
  int32_t n = 0;
  for (; it != v.end() && (it->key() >> 62) == kind; ++it) {
    if (int64_t{it->last_seen_s} > after_s) ++n;
  }
  return n;
}

// The credential's usual day: the lower median of the non-zero daily read
// totals of the `days` full UTC days before the newest day. Cached per day;
// a late read into a past day drops the cache.
int64_t Baseline(ReadHistory& r, int days) {
  if (r.baseline_day == r.day_head) return r.baseline;
  std::array<int64_t, ReadHistory::kDayBuckets> values;
  size_t n = 0;
  for (int d = 1; d <= days; ++d) {
    int64_t v = r.days[Mod(int64_t{r.day_head} - d, ReadHistory::kDayBuckets)];
    if (v > 0) values[n++] = v;
  }
  std::sort(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n));
  r.baseline = n == 0 ? 0 : values[(n - 1) / 2];
  r.baseline_day = r.day_head;
  return r.baseline;
}

// Rolls the read rings forward to `head`, adds `moved` bytes at time `t`
// where it still fits, and fills the read fields.
void UpdateReads(ReadHistory& r, int64_t head, int64_t t, int64_t moved,
                 const ProfileOptions& options, ProfileFields* f) {
  const int32_t head_day = BucketOf(head, kNsPerDay);
  Advance(r.five_min, &r.five_min_head, BucketOf(head, kNsPer5Min));
  Advance(r.hours, &r.hour_head, BucketOf(head, kNsPerHour));
  Advance(r.days, &r.day_head, head_day);
  if (moved > 0) {
    AddTo(r.five_min, &r.five_min_head, BucketOf(t, kNsPer5Min), moved);
    AddTo(r.hours, &r.hour_head, BucketOf(t, kNsPerHour), moved);
    const int32_t day = BucketOf(t, kNsPerDay);
    if (AddTo(r.days, &r.day_head, day, moved) && day < head_day) {
      r.baseline_day = INT32_MIN;  // a past day changed: recompute the baseline
    }
  }
  f->read_bytes_1h = SumLast(r.five_min, r.five_min_head, ReadHistory::kFiveMinBuckets);
  f->read_bytes_24h = SumLast(r.hours, r.hour_head, ReadHistory::kHourBuckets);
  f->read_bytes_7d = SumLast(r.days, r.day_head, 7);
  f->read_baseline_24h = Baseline(r, options.baseline_days);
  f->read_ratio_24h =
      static_cast<double>(f->read_bytes_24h) /
      static_cast<double>(std::max(f->read_baseline_24h, options.ratio_floor_bytes));
}

bool IsFailedLogin(const Event& e) {
  return e.outcome == Outcome::kFailure &&
         (e.action == Action::kLogin || (e.kind == Kind::kAuth && e.action == Action::kUnknown));
}

// Little-endian serialization helpers.
template <typename T>
void Put(std::string* out, T v) {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>(u >> (8 * i) & 0xff));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    using U = std::make_unsigned_t<T>;
    if (data_.size() - pos_ < sizeof(T)) return false;
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i));
    }
    pos_ += sizeof(T);
    *v = static_cast<T>(u);
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

ProfileStore::ProfileStore(ProfileOptions options)
    : options_(std::move(options)), sessions_(options_.sessions) {
  auto clamp_cap = [](size_t c) { return std::clamp<size_t>(c, 1, 1 << 16); };
  options_.max_networks = clamp_cap(options_.max_networks);
  options_.max_hosts = clamp_cap(options_.max_hosts);
  options_.max_destinations = clamp_cap(options_.max_destinations);
  options_.max_tenants = clamp_cap(options_.max_tenants);
  options_.baseline_days = std::clamp(options_.baseline_days, 1, ReadHistory::kDayBuckets - 1);
  options_.ratio_floor_bytes = std::max<int64_t>(options_.ratio_floor_bytes, 1);
  options_.learning_ns = std::max<int64_t>(options_.learning_ns, 0);
}

ProfileStore::~ProfileStore() = default;

size_t ProfileStore::CapOf(uint64_t kind) const {
  switch (kind) {
    case kKindNetwork:
      return options_.max_networks;
    case kKindHost:
      return options_.max_hosts;
    case kKindDestination:
      return options_.max_destinations;
    default:
      return options_.max_tenants;
  }
}

uint32_t ProfileStore::IdFor(std::string_view credential) {
  auto it = index_.find(Sv(credential));
  if (it != index_.end()) return it->second;
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(profiles_.size());
    profiles_.emplace_back();
  }
  Profile& p = profiles_[id];
  p.name = std::string(credential);
  heap_bytes_ += HeapBytes(p);
  for (const std::string& glob : options_.multi_tenant_globs) {
    if (GlobMatch(glob, credential)) {
      p.multi_tenant = true;
      break;
    }
  }
  index_.emplace(absl::string_view(p.name), id);
  return id;
}

bool ProfileStore::Erase(std::string_view credential) {
  const uint32_t id = IdOf(credential);
  return id != kNoId && Erase(id);
}

bool ProfileStore::Erase(uint32_t id) {
  if (options_.track_sessions || id >= profiles_.size() || profiles_[id].name.empty()) return false;
  index_.erase(absl::string_view(profiles_[id].name));
  heap_bytes_ -= HeapBytes(profiles_[id]);
  profiles_[id] = Profile{};  // frees the name, the sets and the read history
  free_ids_.push_back(id);
  return true;
}

bool ProfileStore::CompactIfSparse(IdMoveFn moved) {
  if (options_.track_sessions || free_ids_.size() * 2 <= profiles_.size()) return false;
  std::vector<bool> erased(profiles_.size(), false);
  for (uint32_t id : free_ids_) erased[id] = true;
  std::deque<Profile> live;
  for (uint32_t id = 0; id < profiles_.size(); ++id) {
    if (erased[id]) continue;
    const auto to = static_cast<uint32_t>(live.size());
    if (to != id) moved(id, to);
    live.push_back(std::move(profiles_[id]));
  }
  profiles_ = std::move(live);
  std::vector<uint32_t>().swap(free_ids_);
  // Moved names (short ones live inside the string) have new addresses.
  absl::flat_hash_map<absl::string_view, uint32_t> index;
  index.reserve(profiles_.size());
  for (uint32_t id = 0; id < profiles_.size(); ++id) {
    index.emplace(absl::string_view(profiles_[id].name), id);
  }
  index_ = std::move(index);
  return true;
}

uint32_t ProfileStore::IdOf(std::string_view credential) const {
  auto it = index_.find(Sv(credential));
  return it == index_.end() ? kNoId : it->second;
}


bool ProfileStore::Contains(std::string_view credential) const { return IdOf(credential) != kNoId; }

void ProfileStore::Observe(Event& e) {
  if (e.credential.empty()) {
    e.profile = ProfileFields{};
    return;
  }
  Observe(IdFor(e.credential), e);
}

void ProfileStore::Observe(uint32_t id, Event& e) {
  e.profile = ProfileFields{};
  Profile& p = profiles_[id];
  const size_t heap_before = HeapBytes(p);
  ProfileFields& f = e.profile;
  const int64_t t = e.time_ns;
  const bool failure = e.outcome == Outcome::kFailure;
  f.valid = true;

  // What the history knew before this event.
  f.learning =
      p.first_active_ns == Profile::kNever || SatSub(t, p.first_active_ns) < options_.learning_ns;
  if (p.last_active_ns != Profile::kNever && t > p.last_active_ns) {
    f.idle_days = static_cast<double>(SatSub(t, p.last_active_ns)) / static_cast<double>(kNsPerDay);
  }
  // A flow's source is the server itself, not where the actor came from.
  const uint64_t net_key =
      e.kind != Kind::kNetwork && e.src_ip.is_valid() ? NetworkKey(e.src_ip) : 0;
  const uint64_t host_key = e.host.empty() ? 0 : MakeKey(kKindHost, FixedHash(e.host, kSeedHost));
  const uint64_t dst_key = DestinationKey(e);
  if (!f.learning) {
    f.src_new = net_key != 0 && !SeenContains(p.seen, net_key);
    f.host_new = host_key != 0 && !SeenContains(p.seen, host_key);
    f.dst_new = dst_key != 0 && !SeenContains(p.seen, dst_key);
  }
  if (!e.object_tenant.empty() && !p.multi_tenant) {
    if (!e.tenant.empty()) {
      f.tenant_foreign = e.object_tenant != e.tenant;
    } else if (p.home_tenant != 0) {
      f.tenant_foreign = TenantHash(e.object_tenant) != p.home_tenant;
    }
  }

  // Fold. Failures teach nothing (a failed attempt from a network must not
  // make the later successful login from it look familiar), but count as
  // failed logins.
  const int64_t head = p.latest_ns == Profile::kNever ? t : std::max(p.latest_ns, t);
  p.latest_ns = head;
  const uint32_t t_s = ToSeconds(t);
  if (!failure) {
    p.first_active_ns = p.first_active_ns == Profile::kNever ? t : std::min(p.first_active_ns, t);
    p.last_active_ns = p.last_active_ns == Profile::kNever ? t : std::max(p.last_active_ns, t);
    if (net_key != 0) SeenUpsert(p.seen, net_key, t_s, options_.max_networks);
    if (host_key != 0) SeenUpsert(p.seen, host_key, t_s, options_.max_hosts);
    if (dst_key != 0) SeenUpsert(p.seen, dst_key, t_s, options_.max_destinations);
    if (!e.tenant.empty()) p.home_tenant = TenantHash(e.tenant);
    if (!e.object_tenant.empty()) {
      SeenUpsert(p.seen, MakeKey(kKindTenant, TenantHash(e.object_tenant)), t_s,
                 options_.max_tenants);
    }
  }
  f.tenants_24h =
      CountSince(p.seen, kKindTenant, int64_t{ToSeconds(head)} - kNsPerDay / kNsPerSecond);

  // Read volume.
  const int64_t moved = !failure && MovesData(e.action) && e.bytes > 0 ? e.bytes : 0;
  if (moved > 0 && !p.reads) p.reads = std::make_unique<ReadHistory>();  // first read
  if (p.reads) UpdateReads(*p.reads, head, t, moved, options_, &f);

  // Failed logins.
  Advance(p.failures, &p.failure_head, BucketOf(head, kNsPerMinute));
  if (IsFailedLogin(e)) {
    AddTo(p.failures, &p.failure_head, BucketOf(t, kNsPerMinute), uint16_t{1});
  }
  for (uint16_t v : p.failures) f.failures_10m += v;

  if (options_.track_sessions) sessions_.OnEvent(e, id);
  heap_bytes_ += HeapBytes(p) - heap_before;  // unsigned wrap-around adds right
}

void ProfileStore::LiveCredentialsOnHost(const Event& flow,
                                         std::vector<std::string_view>* out) const {
  scratch_ids_.clear();
  sessions_.LiveOn(flow.host, flow.time_ns, flow.dst_ip, &scratch_ids_);
  const size_t first = out->size();
  for (uint32_t id : scratch_ids_) out->push_back(profiles_[id].name);
  std::sort(out->begin() + static_cast<std::ptrdiff_t>(first), out->end());
  out->erase(std::unique(out->begin() + static_cast<std::ptrdiff_t>(first), out->end()),
             out->end());
}

void ProfileStore::LiveCredentialsOnHost(const Event& flow, std::vector<std::string>* out) const {
  std::vector<std::string_view> names;
  LiveCredentialsOnHost(flow, &names);
  for (std::string_view n : names) out->emplace_back(n);
}

size_t ProfileStore::ProfileBytes(const Profile& p) const {
  constexpr size_t kHeapBlockOverhead = 16;  // malloc's bookkeeping per block
  size_t bytes = sizeof(Profile);
  if (p.name.capacity() > 15) bytes += p.name.capacity() + 1 + kHeapBlockOverhead;
  if (p.seen.capacity() > 0) bytes += p.seen.capacity() * sizeof(SeenEntry) + kHeapBlockOverhead;
  if (p.reads) bytes += sizeof(ReadHistory) + kHeapBlockOverhead;
  return bytes;
}

size_t ProfileStore::HeapBytes(const Profile& p) const { return ProfileBytes(p) - sizeof(Profile); }

size_t ProfileStore::ApproxProfileBytes(std::string_view credential) const {
  const uint32_t id = IdOf(credential);
  return id == kNoId ? 0 : ApproxProfileBytes(id);
}

size_t ProfileStore::ApproxProfileBytes(uint32_t id) const {
  if (id >= profiles_.size() || profiles_[id].name.empty()) return 0;
  // Its index slot (plus control byte) at the table's 7/8 maximum load.
  using Slot = std::pair<const absl::string_view, uint32_t>;
  return ProfileBytes(profiles_[id]) + (sizeof(Slot) + 1) * 8 / 7;
}

size_t ProfileStore::ApproxMemoryBytes() const {
  using Slot = std::pair<const absl::string_view, uint32_t>;
  // Erased slots count as empty profiles; tables by capacity, not size.
  // O(1): the profiles' heap blocks are summed as they change.
  size_t bytes = sizeof(*this) + index_.capacity() * (sizeof(Slot) + 1) +
                 free_ids_.capacity() * sizeof(uint32_t) + profiles_.size() * sizeof(Profile) +
                 heap_bytes_;
  return bytes + sessions_.ApproxMemoryBytes();
}

std::vector<std::string_view> ProfileStore::SortedCredentials() const {
  std::vector<std::string_view> names;
  names.reserve(index_.size());
  for (const auto& [name, id] : index_) names.push_back(profiles_[id].name);
  std::sort(names.begin(), names.end());
  return names;
}

bool ProfileStore::SerializeProfile(std::string_view credential, std::string* out) const {
  const uint32_t id = IdOf(credential);
  return id != kNoId && SerializeProfile(id, out);
}

bool ProfileStore::SerializeProfile(uint32_t id, std::string* out) const {
  if (id >= profiles_.size() || profiles_[id].name.empty()) return false;
  const Profile* p = &profiles_[id];
  Put<uint8_t>(out, 'P');
  Put<uint8_t>(out, kFormatVersion);
  Put<int64_t>(out, p->first_active_ns);
  Put<int64_t>(out, p->last_active_ns);
  Put<int64_t>(out, p->latest_ns);
  Put<uint64_t>(out, p->home_tenant);
  Put<int32_t>(out, p->failure_head);
  for (uint16_t v : p->failures) Put<uint16_t>(out, v);
  Put<uint32_t>(out, static_cast<uint32_t>(p->seen.size()));
  for (const SeenEntry& s : p->seen) {
    Put<uint64_t>(out, s.key());
    Put<uint32_t>(out, s.last_seen_s);
  }
  Put<uint8_t>(out, p->reads ? 1 : 0);
  if (p->reads) {
    const ReadHistory& r = *p->reads;
    Put<int32_t>(out, r.five_min_head);
    Put<int32_t>(out, r.hour_head);
    Put<int32_t>(out, r.day_head);
    for (int64_t v : r.five_min) Put<int64_t>(out, v);
    for (int64_t v : r.hours) Put<int64_t>(out, v);
    for (int64_t v : r.days) Put<int64_t>(out, v);
  }
  return true;
}

absl::Status ProfileStore::RestoreProfile(std::string_view credential, std::string_view bytes) {
  if (credential.empty()) return absl::InvalidArgumentError("empty credential name");
  Reader in(bytes);
  auto bad = [](std::string_view what) {
    return absl::DataLossError(absl::StrCat("profile record: ", Sv(what)));
  };
  uint8_t magic = 0, version = 0;
  if (!in.Get(&magic) || magic != 'P') return bad("not a profile");
  if (!in.Get(&version) || version != kFormatVersion) return bad("unknown version");
  Profile p;
  if (!in.Get(&p.first_active_ns) || !in.Get(&p.last_active_ns) || !in.Get(&p.latest_ns) ||
      !in.Get(&p.home_tenant) || !in.Get(&p.failure_head)) {
    return bad("truncated header");
  }
  for (uint16_t& v : p.failures) {
    if (!in.Get(&v)) return bad("truncated failures");
  }
  uint32_t n = 0;
  if (!in.Get(&n) || n > in.remaining() / 12) return bad("bad seen count");
  p.seen.reserve(n);
  uint64_t previous = 0;
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t key = 0;
    SeenEntry s;
    if (!in.Get(&key) || !in.Get(&s.last_seen_s)) return bad("truncated seen set");
    if (key == 0 || (i > 0 && key <= previous)) return bad("seen set not sorted");
    previous = key;
    s.key_hi = static_cast<uint32_t>(key >> 32);
    s.key_lo = static_cast<uint32_t>(key);
    p.seen.push_back(s);
  }
  uint8_t has_reads = 0;
  if (!in.Get(&has_reads) || has_reads > 1) return bad("bad read flag");
  if (has_reads) {
    auto r = std::make_unique<ReadHistory>();
    if (!in.Get(&r->five_min_head) || !in.Get(&r->hour_head) || !in.Get(&r->day_head)) {
      return bad("truncated read heads");
    }
    for (int64_t& v : r->five_min) {
      if (!in.Get(&v)) return bad("truncated read history");
    }
    for (int64_t& v : r->hours) {
      if (!in.Get(&v)) return bad("truncated read history");
    }
    for (int64_t& v : r->days) {
      if (!in.Get(&v)) return bad("truncated read history");
    }
    p.reads = std::move(r);
  }
  if (in.remaining() != 0) return bad("trailing bytes");
  for (uint64_t kind = 0; kind < 4; ++kind) SeenTrim(p.seen, kind, CapOf(kind));

  const uint32_t id = IdFor(credential);
  // Field by field: the index holds a view of target.name, which stays put.
  Profile& target = profiles_[id];
  const size_t heap_before = HeapBytes(target);
  target.first_active_ns = p.first_active_ns;
  target.last_active_ns = p.last_active_ns;
  target.latest_ns = p.latest_ns;
  target.home_tenant = p.home_tenant;
  target.seen = std::move(p.seen);
  target.reads = std::move(p.reads);
  target.failure_head = p.failure_head;
  target.failures = p.failures;
  heap_bytes_ += HeapBytes(target) - heap_before;
  return absl::OkStatus();
}

}  // namespace credwatch::profile
