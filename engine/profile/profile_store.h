// Per-credential behaviour profiles in event time: the profile.* fields of
// design.md ("Site facts and behaviour profile"). docs/profiles.md is the
// user-facing definition of every field, cap and window.
//
//   ProfileStore store(ProfileOptions{});
//   for (Event& e : batch) {
//     if (e.kind == Kind::kNetwork && e.credential.empty()) {
//       store.LiveCredentialsOnHost(e, &owners);  // then Observe a copy per owner
//       continue;
//     }
//     store.Observe(e);  // fills e.profile, then learns from e
//   }
//
// Memory is bounded per credential: the "seen" sets (source networks, hosts,
// external destinations, object tenants) are capped and evict the least
// recently seen entry; read volumes live in fixed rings of buckets; failures
// in a ring of ten one-minute counters. A credential that only logs in costs
// about 200 bytes, one that reads about 850 (ApproxProfileBytes reports it);
// the hard ceiling with every set full is about 4 KiB.
//
// Thread-compatible, not thread-safe: one ProfileStore per shard thread,
// touched only by that thread. No locks. After a credential's profile exists
// Observe does not allocate, except when a new network / host / destination /
// tenant / session appears, or the credential's first read creates its read
// history.
#ifndef CREDWATCH_PROFILE_PROFILE_STORE_H_
#define CREDWATCH_PROFILE_PROFILE_STORE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "credwatch/event.h"
#include "credwatch/time_util.h"
#include "profile/session_table.h"

namespace credwatch::profile {

struct ProfileOptions {
  // A credential raises no "new" flags until this long after its first
  // successful activity. Default 7 days.
  int64_t learning_ns = 7 * kNsPerDay;
  // Caps of the per-credential seen sets (each >= 1). When a set is full the
  // least recently seen entry is evicted, so a very noisy credential may see
  // an old network flagged as new again. Defaults 64 each.
  size_t max_networks = 64;
  size_t max_hosts = 64;
  size_t max_destinations = 64;
  size_t max_tenants = 64;  // also the ceiling of profile.tenants_24h
  // Full UTC days of history (before today) behind read_baseline_24h, 1..31.
  // Default 28.
  int baseline_days = 28;
  // read_ratio_24h = read_bytes_24h / max(read_baseline_24h, this). Keeps a
  // credential without history from getting huge ratios. Default 1 MiB.
  int64_t ratio_floor_bytes = int64_t{1} << 20;
  // Credentials that legitimately span tenants (backup, support): never
  // tenant_foreign. Globs with '*' and '?', case-sensitive: "svc-backup",
  // "vendor-support*". Matched once, when a credential is first seen.
  std::vector<std::string> multi_tenant_globs;
  // Live sessions for attributing host-level flows.
  SessionOptions sessions;
  // Keep the live-session table (LiveCredentialsOnHost). Off where a
  // runtime::HostSessions attributes the flows before they reach the store
  // (the sharded runtime, durable state): it saves the table's memory and
  // time, and lets Erase reuse ids. Default on.
  bool track_sessions = true;
};

// Implementation detail of ProfileStore, not API (here because the store holds
// them by value).
namespace internal {

// One member of a seen set. The 64-bit key carries its set in the top two
// bits (so each set is a contiguous run of the sorted vector) and either
// the exact network prefix or a FixedHash of the value below them.
// Split in halves to keep the entry at 12 bytes.
struct SeenEntry {
  uint32_t key_hi = 0;
  uint32_t key_lo = 0;
  uint32_t last_seen_s = 0;  // event time, seconds since the epoch (clamped)
  uint64_t key() const { return uint64_t{key_hi} << 32 | key_lo; }
};

// Rolling read volume, created on the credential's first read. Each ring
// holds the buckets (head - N, head] of its width; `head` is the absolute
// bucket number (time / width) of the newest one.
struct ReadHistory {
  static constexpr int kFiveMinBuckets = 12;  // 1 h
  static constexpr int kHourBuckets = 24;     // 24 h
  static constexpr int kDayBuckets = 32;      // 7 d and the baseline
  // Heads first: they are read on every event, the rings only in part.
  int32_t five_min_head = INT32_MIN;
  int32_t hour_head = INT32_MIN;
  int32_t day_head = INT32_MIN;
  int32_t baseline_day = INT32_MIN;  // day_head the cached baseline is for
  int64_t baseline = 0;
  std::array<int64_t, kFiveMinBuckets> five_min{};
  std::array<int64_t, kHourBuckets> hours{};
  std::array<int64_t, kDayBuckets> days{};
};

struct Profile {
  static constexpr int kFailureBuckets = 10;  // one-minute buckets: 10 min
  static constexpr int64_t kNever = INT64_MIN;

  std::string name;
  int64_t first_active_ns = kNever;  // first non-failure event
  int64_t last_active_ns = kNever;   // latest non-failure event
  int64_t latest_ns = kNever;        // newest event of any kind: the window head
  uint64_t home_tenant = 0;          // FixedHash of the latest `tenant`; 0 = unknown
  std::vector<SeenEntry> seen;       // sorted by key
  std::unique_ptr<ReadHistory> reads;
  int32_t failure_head = INT32_MIN;                  // absolute minute of the newest failure bucket
  std::array<uint16_t, kFailureBuckets> failures{};  // saturating
  bool multi_tenant = false;
};

}  // namespace internal

class ProfileStore {
 public:
  explicit ProfileStore(ProfileOptions options);
  ~ProfileStore();
  ProfileStore(const ProfileStore&) = delete;
  ProfileStore& operator=(const ProfileStore&) = delete;

  // Fills e.profile from the credential's history before `e` (the novelty
  // flags, idle_days, tenant_foreign), then folds `e` into the history; the
  // window fields (tenants_24h, read_*, failures_10m) include `e`.
  // An event without a credential is left with profile.valid == false.
  //
  // Late events: windows are kept as of the newest event time seen for the
  // credential. An event older than that is counted into the buckets that are
  // still inside their window and dropped from the ones it fell out of; it
  // never moves a window back, never clears data and never sets idle_days.
  void Observe(Event& e);

  // Profiles by id, for a layer that keeps something of its own per
  // credential (state::ProfileCache) without a second table of names: a
  // credential's id stays the same until Erase frees it (the next new
  // credential may reuse it) or CompactIfSparse moves it. Ids are below
  // id_limit(); an erased id has no name.
  static constexpr uint32_t kNoId = UINT32_MAX;
  uint32_t IdOf(std::string_view credential) const;  // kNoId if unknown
  uint32_t IdFor(std::string_view credential);       // creates an empty profile if unknown
  // Observe for the profile of `id` (IdFor(e.credential), which is not empty):
  // the same, without looking the name up again.
  void Observe(uint32_t id, Event& e);
  std::string_view NameOf(uint32_t id) const { return profiles_[id].name; }
  size_t id_limit() const { return profiles_.size(); }

  // For a host-level flow (kind network, no credential): appends the
  // credentials with a live session on flow.host at flow.time_ns, sorted and
  // unique. The caller Observes a copy of the flow per credential.
  void LiveCredentialsOnHost(const Event& flow, std::vector<std::string>* out) const;
  // The same without copying names: the views stay valid until the store
  // changes (Observe of a new credential, Erase, CompactIfSparse).
  void LiveCredentialsOnHost(const Event& flow, std::vector<std::string_view>* out) const;

  size_t credentials() const { return index_.size(); }
  // Drops the credential's profile (its memory is freed; the id is reused).
  // Only with track_sessions off: the session table refers to ids. Returns
  // false if the credential is unknown or sessions are tracked.
  bool Erase(std::string_view credential);
  bool Erase(uint32_t id);
  // When more than half of the slots are free (after a large eviction):
  // moves the profiles together and shrinks the index, returning the slots'
  // memory. Briefly holds both slot arrays. O(profiles). `moved(from, to)`
  // is called for each profile whose id changes, in increasing `from` order
  // (to < from). Returns whether it compacted.
  using IdMoveFn = absl::FunctionRef<void(uint32_t from, uint32_t to)>;
  bool CompactIfSparse(IdMoveFn moved = [](uint32_t, uint32_t) {});
  bool Contains(std::string_view credential) const;
  // Everything the store holds, including the session table.
  size_t ApproxMemoryBytes() const;
  // One credential's share (its profile, sets, read history, index slot);
  // 0 if unknown.
  size_t ApproxProfileBytes(std::string_view credential) const;
  size_t ApproxProfileBytes(uint32_t id) const;

  // For the durable-state layer. Credential names in byte order (views valid
  // until the store changes).
  std::vector<std::string_view> SortedCredentials() const;
  // Appends the credential's profile in a versioned little-endian binary
  // form; false if the credential is unknown. Live sessions are not part of
  // it (they are short-lived and rebuilt from the log).
  bool SerializeProfile(std::string_view credential, std::string* out) const;
  bool SerializeProfile(uint32_t id, std::string* out) const;  // false if erased
  // Creates or replaces the credential's profile from SerializeProfile bytes.
  // Sets over the current caps are trimmed (least recently seen first).
  absl::Status RestoreProfile(std::string_view credential, std::string_view bytes);

 private:
  using Profile = internal::Profile;

  size_t ProfileBytes(const Profile& p) const;
  size_t HeapBytes(const Profile& p) const;  // ProfileBytes without the slot
  size_t CapOf(uint64_t kind) const;

  ProfileOptions options_;
  std::deque<Profile> profiles_;  // by id; deque keeps names at fixed addresses
  std::vector<uint32_t> free_ids_;  // erased profiles' slots, for reuse
  size_t heap_bytes_ = 0;           // sum of HeapBytes over the slots
  absl::flat_hash_map<absl::string_view, uint32_t> index_;  // views of profiles_[i].name
  SessionTable sessions_;
  mutable std::vector<uint32_t> scratch_ids_;
};

}  // namespace credwatch::profile

#endif  // CREDWATCH_PROFILE_PROFILE_STORE_H_
