// Behaviour profiles backed by the state database: a profile::ProfileStore
// holding the hot credentials in memory, the rest in the `profiles` family.
//
//   state::ProfileCache profiles(profile_options, store, {});
//   profiles.SetWatermark(w);             // at every watermark
//   absl::Status s = profiles.Observe(e); // loads the credential if evicted
//   ...
//   profiles.CollectDirty(&batch, n);     // at commit n: changed profiles
//   store->Commit(batch);
//   profiles.EvictIfOverBudget(n);        // drop cold ones written by commits <= n
//
// Memory: when the profiles in memory exceed the budget, the least recently
// touched ones whose commit is on disk are evicted (down to 3/4 of the
// budget); a writer that lags pins only what its commits in flight wrote.
// They are committed already, so eviction loses nothing: the next event of an
// evicted credential reloads it (one RocksDB read), and Serialize/Restore is
// exact, so the enrichment is the same as if it had stayed in memory.
//
// Retention: a credential whose newest event is older than the watermark
// minus `retention_ns` is dropped. The rule is applied on access (an event of
// such a credential starts from an empty profile) and by Sweep (which deletes
// the records), against the same watermark, so when a drop happens never
// changes what an event sees: the outcome depends only on the input.
//
// Record format (family `profiles`, key = credential): 'C', version 1, the
// newest event time (int64 LE), then ProfileStore::SerializeProfile's bytes.
//
// Not thread-safe: one ProfileCache per shard, like the ProfileStore inside.
#ifndef CREDWATCH_STATE_PROFILE_CACHE_H_
#define CREDWATCH_STATE_PROFILE_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "credwatch/event.h"
#include "profile/profile_store.h"
#include "state/state_store.h"

namespace credwatch::state {

struct ProfileCacheOptions {
  // Bytes of profiles to keep in memory (ProfileStore::ApproxMemoryBytes plus
  // this cache's index). Default: the store's profile budget.
  int64_t budget_bytes = 0;
  // See StateOptions::retention_ns. Default 400 days.
  int64_t retention_ns = 400 * kNsPerDay;
  // The credentials this cache owns (a shard's): Sweep leaves the records of
  // the others alone. Default: all.
  std::function<bool(std::string_view credential)> owns;
};

// A decoded `profiles` record.
struct ProfileRecord {
  int64_t latest_ns = 0;
  std::string_view profile;  // ProfileStore::SerializeProfile bytes
};
void EncodeProfileRecord(int64_t latest_ns, std::string_view profile, std::string* out);
bool DecodeProfileRecord(std::string_view bytes, ProfileRecord* out);

struct ProfileCacheStats {
  uint64_t loads = 0;      // profiles read back from the database
  uint64_t evictions = 0;  // profiles dropped from memory (still on disk)
  uint64_t expired = 0;    // profiles dropped for retention
};

class ProfileCache {
 public:
  // `store` may be null: then nothing is loaded, written or evicted.
  ProfileCache(profile::ProfileOptions options, StateStore* store, ProfileCacheOptions cache);

  // ProfileStore::Observe, after loading the credential's profile if it is
  // not in memory. Fails only when the database cannot be read or holds a
  // damaged record.
  absl::Status Observe(Event& e);
  // The merge's watermark, for retention. Call at every watermark.
  void SetWatermark(int64_t watermark_ns) { watermark_ns_ = watermark_ns; }

  // Adds the profiles changed since the last call (and the deletions of
  // expired ones) to `batch`, which will be commit number `commit`.
  void CollectDirty(StateBatch* batch, uint64_t commit = 0);
  // Evicts cold profiles when over budget: those whose latest version is in
  // a commit numbered `landed` or lower (on disk, so a reload reads it) and
  // unchanged since. Commits still in flight do not hold eviction back.
  // Returns how many were evicted.
  size_t EvictIfOverBudget(uint64_t landed = UINT64_MAX);
  // Deletes the records of expired credentials (a scan of the family; call
  // now and then, e.g. once per day of event time) into `batch`.
  absl::Status Sweep(StateBatch* batch);

  // Rebuilding state from the log (a resume that cannot restore every
  // component): while detached nothing is read from or written to the
  // store. Reattach() declares the profiles in memory equal to the committed
  // ones (all clean).
  void Detach();
  void Reattach();

  size_t memory_bytes() const;
  size_t in_memory() const { return profiles_->credentials(); }
  const ProfileCacheStats& stats() const { return stats_; }
  const profile::ProfileStore& profiles() const { return *profiles_; }

 private:
  // What the cache keeps per credential in memory, by ProfileStore id (the
  // store holds the names; an id without one is free).
  struct Entry {
    int64_t latest_ns = INT64_MIN;
    uint64_t last_touch = 0;
    uint64_t written_in = 0;  // the commit holding its latest version (0: loaded)
    bool dirty = false;
  };
  bool Expired(int64_t latest_ns) const;
  // Drops the profile of `id` from memory.
  void Forget(uint32_t id);
  // After erasures: lets the store move its profiles together, and the
  // entries with them.
  void Compact();

  profile::ProfileOptions options_;
  StateStore* store_;
  StateStore* detached_ = nullptr;
  ProfileCacheOptions cache_;
  std::unique_ptr<profile::ProfileStore> profiles_;
  std::vector<Entry> entries_;         // by ProfileStore id
  std::vector<uint32_t> dirty_;        // ids changed since the last CollectDirty
  std::vector<std::string> deleted_;   // expired, to delete at the next commit
  int64_t watermark_ns_ = INT64_MIN;
  uint64_t clock_ = 0;
  std::string scratch_;
  ProfileCacheStats stats_;
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_PROFILE_CACHE_H_
