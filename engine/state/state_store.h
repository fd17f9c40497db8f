// Durable engine state: one RocksDB database in `state_dir` (design.md,
// "State"; docs/state.md is the user reference).
//
//   state::StateOptions options;
//   options.dir = "/var/lib/credwatch";
//   auto store = state::StateStore::Open(options);
//   if (!store.ok()) { std::cerr << store.status().message(); }  // locked, read-only, ...
//   state::StateBatch batch;
//   batch.Put(state::Family::kProfiles, "t001-alice", profile_bytes);
//   batch.Put(state::Family::kPositions, "cursor", cursor_bytes);
//   batch.Put(state::Family::kOutbox, SeqKey("", 17), alert_line);
//   absl::Status s = (*store)->Commit(batch);  // all or nothing, synced per options.sync
//
// Column families (one per kind of state, so each can be scanned alone):
//   meta       format version and the identity of the run that owns the state
//   profiles   credential -> behaviour profile
//   windows    short-lived detection state: open correlation windows (one
//              record per shard) and the journal of detections the alert
//              folder has seen
//   positions  where the inputs stand: the merge cursor (event and
//              watermark counts) and, per input file, its identity (device,
//              inode, size, fingerprint of the first bytes, path) and the
//              offset of its next unprocessed record; the output file's
//              committed length
//   outbox     alerts produced but not yet confirmed written to the sink
//
// A commit is one WriteBatch: the state changes of a batch of events, the
// positions they cover and the alerts they produced go in together, so after
// a crash the state is always a consistent cut.
//
// Shards: a StateBatch is filled by one thread; a shard fills its own (its
// profiles, its windows record) and the committer Appends the shards' batches
// with the positions and the outbox into one Commit at a consistent cut
// ("every event up to merge position P is reflected").
//
// Failures at Open are refused with a message that says what to do: a
// state_dir locked by another process, read-only, written by an incompatible
// version, or corrupted. A commit that fails (disk full) leaves the state
// committed before it intact; the caller stops intake and reports it.
//
// Thread-safety: Get and Scan are safe from any number of threads at once
// (RocksDB is); Commit is called by one thread at a time (the committer).
// StateBatch is not thread-safe. rocksdb::Status never leaves engine/state:
// every error is an absl::Status.
#ifndef CREDWATCH_STATE_STATE_STORE_H_
#define CREDWATCH_STATE_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "credwatch/config.h"
#include "credwatch/time_util.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace credwatch::state {

// The on-disk format this build reads and writes. Kept in the marker file
// CREDWATCH_STATE and in the meta family; a state_dir of another format is
// refused at Open, except formats 1 to 3, which Open upgrades in place
// (2: the alert folder's journal has a family of its own; 3: journal rule
// records; 4: journal chunks, records.h).
inline constexpr int kStateFormatVersion = 4;

enum class SyncPolicy : uint8_t {
  // Nothing is fsynced: a commit survives the process being killed (the
  // operating system holds the write) but not a power loss or kernel crash.
  kNone,
  // Every commit is fsynced before its alerts go to the sink, and the output
  // file is fsynced before its alerts leave the outbox. Survives power loss.
  // The default: commits are batched, so this costs one fsync per commit.
  kCommit,
};
// "none" / "commit".
std::string_view SyncPolicyName(SyncPolicy p);
bool ParseSyncPolicy(std::string_view text, SyncPolicy* out);

struct StateOptions {
  // The state directory; created when missing. "" = no durable state.
  std::string dir;
  // Default kCommit. Fixed at Open.
  SyncPolicy sync = SyncPolicy::kCommit;
  // Memory for state, in bytes: 1/8 is RocksDB's block cache, 1/8 its
  // memtables (all column families together), the rest the profiles kept in
  // memory; colder profiles are evicted and reloaded on demand. Open
  // correlation windows and the alert folder are bounded by their own limits
  // (rules::CorrelationLimits, the fold window) and not counted here.
  // Default 512 MiB; at least 16 MiB is used.
  int64_t memory_budget_bytes = int64_t{512} << 20;
  // A credential with no event for this long (in event time, against the
  // watermark) is dropped with its profile. Default 400 days, so that a
  // credential dormant for a year still shows as dormant when it comes back.
  int64_t retention_ns = 400 * kNsPerDay;
  // Write-behind: commit at the first watermark after this much wall time or
  // this many events since the last commit, whichever comes first.
  // Defaults 1 s and 300000 events: the event count bounds a commit's batch
  // when events come faster than the interval (a replay). Alerts reach the
  // sink at commits, so the interval also bounds how long an alert waits.
  int64_t commit_interval_ns = kNsPerSecond;
  int64_t commit_events = 300'000;
  // ... or this many distinct credentials (estimated): bounds the batch,
  // which holds each changed profile (a replay; not a config key). Default
  // (0): memory_budget_bytes / 16 KiB, at least 1024 (32768 at 512 MiB).
  int64_t commit_credentials = 0;
  // Tests only: the RocksDB environment to use (fault injection). Not owned.
  rocksdb::Env* env_for_testing = nullptr;
};

// The options of a config's `state_dir` and `state:` keys (validated at
// load); `credwatch replay`'s flags override them, the daemon takes them.
StateOptions StateOptionsFromConfig(const Config& config);

enum class Family : uint8_t { kMeta, kProfiles, kWindows, kPositions, kOutbox, kJournal };
inline constexpr int kNumFamilies = 6;
std::string_view FamilyName(Family f);  // "meta", "profiles", ...

// The changes of one commit. Keys and values are copied into one buffer, so
// a batch allocates once (sized from its previous commit) or as it grows,
// never per change, and the thread that commits it frees one block. Not
// thread-safe.
class StateBatch {
 public:
  void Put(Family family, std::string_view key, std::string_view value);
  void Delete(Family family, std::string_view key);
  // Moves `other`'s changes after this batch's (a shard's batch into the commit).
  void Append(StateBatch&& other);
  // Keeps a small buffer for the next commit's changes; frees a large one.
  void Clear();
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  // Bytes of keys and values.
  size_t bytes() const { return data_.size(); }

 private:
  friend class StateStore;
  struct Op {
    Family family;
    bool del;
    uint32_t key_size;
    uint32_t value_size;
    size_t offset;  // of the key in data_; the value follows it
  };
  // The first change after Clear reserves about what the last commit held.
  void Reserve();
  std::vector<Op> ops_;
  std::string data_;
  size_t last_bytes_ = 0;
  size_t last_ops_ = 0;
};

struct StoreStats {
  uint64_t profiles_estimate = 0;  // RocksDB's estimate of the keys in profiles
  uint64_t disk_bytes = 0;         // SST files and WAL
};

class StateStore {
 public:
  // Opens (or creates) the state database in options.dir. Fails with
  // FailedPrecondition for a locked, read-only, incompatible or foreign
  // directory, DataLoss for a corrupted one, ResourceExhausted when the disk
  // is full; the message names the directory and says what to do.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const StateOptions& options);
  // Opens for reading only (`credwatch state show`). Takes no lock, so it
  // works while a replay runs; sees the last commit.
  static absl::StatusOr<std::unique_ptr<StateStore>> OpenReadOnly(const std::string& dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Writes `batch` atomically (synced per the sync policy) and clears it.
  // After a failure the store refuses further commits; what was committed
  // before stays.
  absl::Status Commit(StateBatch& batch);

  // Reads one value: true and `*value` when present, false when absent.
  absl::StatusOr<bool> Get(Family family, std::string_view key, std::string* value) const;
  // Calls fn(key, value) for every key starting with `prefix`, in key
  // order, until fn returns false.
  absl::Status Scan(Family family, std::string_view prefix,
                    const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

  // True when Open created the database (nothing was committed before).
  bool created() const { return created_; }
  const std::string& dir() const { return dir_; }
  const StateOptions& options() const { return options_; }
  // Shares of memory_budget (docs/state.md): profiles the owner may keep in
  // memory (3/8) and open correlation windows (2/8); RocksDB's block cache
  // and memtables take 1/8 each, and 1/8 is headroom.
  int64_t profile_budget_bytes() const;
  int64_t window_budget_bytes() const;
  StoreStats Stats() const;

 private:
  struct Impl;
  StateStore();
  absl::Status UpgradeFromFormat1();

  std::unique_ptr<Impl> impl_;
  StateOptions options_;
  std::string dir_;
  bool created_ = false;
  bool read_only_ = false;
  mutable absl::Status failed_;  // sticky commit failure
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_STATE_STORE_H_
