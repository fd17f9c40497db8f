#include "state/profile_cache.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "state/encoding.h"

namespace credwatch::state {
namespace {

constexpr char kRecordTag = 'C';
constexpr uint8_t kRecordVersion = 1;

}  // namespace

void EncodeProfileRecord(int64_t latest_ns, std::string_view profile, std::string* out) {
  out->clear();
  out->push_back(kRecordTag);
  out->push_back(static_cast<char>(kRecordVersion));
  PutFixed<int64_t>(out, latest_ns);
  out->append(profile.data(), profile.size());
}

bool DecodeProfileRecord(std::string_view bytes, ProfileRecord* out) {
  Decoder in(bytes);
  uint8_t tag = 0, version = 0;
  if (!in.Get(&tag) || tag != kRecordTag || !in.Get(&version) || version != kRecordVersion) {
    return false;
  }
  if (!in.Get(&out->latest_ns)) return false;
  out->profile = in.Rest();
  return !out->profile.empty();
}

ProfileCache::ProfileCache(profile::ProfileOptions options, StateStore* store,
                           ProfileCacheOptions cache)
    : options_(std::move(options)),
      store_(store),
      cache_(cache),
      profiles_(nullptr) {
  // Flows are attributed by the owner's runtime::HostSessions; without its
  // own session table the store can erase profiles in place.
  options_.track_sessions = false;
  profiles_ = std::make_unique<profile::ProfileStore>(options_);
  if (cache_.budget_bytes <= 0 && store_) cache_.budget_bytes = store_->profile_budget_bytes();
}

bool ProfileCache::Expired(int64_t latest_ns) const {
  if (watermark_ns_ == INT64_MIN || cache_.retention_ns <= 0) return false;
  int64_t horizon;
  if (__builtin_sub_overflow(watermark_ns_, cache_.retention_ns, &horizon)) return false;
  return latest_ns < horizon;
}

absl::Status ProfileCache::Observe(Event& e) {
  if (e.credential.empty()) {
    profiles_->Observe(e);
    return absl::OkStatus();
  }
  using profile::ProfileStore;
  uint32_t id = profiles_->IdOf(e.credential);
  bool expired_in_memory = false;
  if (id != ProfileStore::kNoId && Expired(entries_[id].latest_ns)) {
    // Idle past the retention: starts over like a credential never seen.
    // (Its record on disk is older still: deleting it is all there is to do.)
    deleted_.emplace_back(e.credential);
    Forget(id);
    ++stats_.expired;
    id = ProfileStore::kNoId;
    expired_in_memory = true;
  }
  if (id == ProfileStore::kNoId) {
    int64_t latest_ns = INT64_MIN;
    if (store_ && !expired_in_memory) {
      auto got = store_->Get(Family::kProfiles, e.credential, &scratch_);
      if (!got.ok()) return got.status();
      if (*got) {
        ProfileRecord record;
        if (!DecodeProfileRecord(scratch_, &record)) {
          return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(),
                                                  "' is corrupted: damaged profile record for '",
                                                  Sv(e.credential), "'"));
        }
        if (Expired(record.latest_ns)) {
          deleted_.emplace_back(e.credential);
          ++stats_.expired;
        } else {
          absl::Status s = profiles_->RestoreProfile(e.credential, record.profile);
          if (!s.ok()) {
            return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(),
                                                    "' is corrupted: profile of '",
                                                    Sv(e.credential), "': ", s.message()));
          }
          latest_ns = record.latest_ns;
          ++stats_.loads;
        }
      }
    }
    id = profiles_->IdFor(e.credential);
    if (id >= entries_.size()) entries_.resize(profiles_->id_limit());
    entries_[id] = Entry{.latest_ns = latest_ns};
  }
  Entry& entry = entries_[id];
  entry.latest_ns = std::max(entry.latest_ns, e.time_ns);
  entry.last_touch = ++clock_;
  if (!entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(id);
  }
  profiles_->Observe(id, e);
  return absl::OkStatus();
}

void ProfileCache::Forget(uint32_t id) {
  profiles_->Erase(id);
  entries_[id] = Entry{};  // not dirty: an id still listed in dirty_ is passed over
}

void ProfileCache::Compact() {
  if (!profiles_->CompactIfSparse([&](uint32_t from, uint32_t to) { entries_[to] = entries_[from]; })) {
    return;
  }
  entries_.resize(profiles_->id_limit());
  entries_.shrink_to_fit();
  // Ids moved: list the changed ones again by their new ids.
  dirty_.clear();
  for (uint32_t id = 0; id < entries_.size(); ++id) {
    if (entries_[id].dirty) dirty_.push_back(id);
  }
}

void ProfileCache::CollectDirty(StateBatch* batch, uint64_t commit) {
  // Deletions first: a credential dropped and seen again is written after.
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  std::string blob, record;
  for (uint32_t id : dirty_) {
    Entry& entry = entries_[id];
    if (!entry.dirty) continue;
    entry.dirty = false;
    entry.written_in = commit;
    blob.clear();
    if (!profiles_->SerializeProfile(id, &blob)) continue;
    EncodeProfileRecord(entry.latest_ns, blob, &record);
    batch->Put(Family::kProfiles, profiles_->NameOf(id), record);
  }
  dirty_.clear();
}

void ProfileCache::Detach() {
  if (store_) detached_ = store_;
  store_ = nullptr;
}

void ProfileCache::Reattach() {
  if (detached_) store_ = detached_;
  detached_ = nullptr;
  for (Entry& entry : entries_) {
    entry.dirty = false;
    entry.written_in = 0;
  }
  dirty_.clear();
}

size_t ProfileCache::memory_bytes() const {
  // By capacity: what the vectors hold, not what they could hold at best.
  return profiles_->ApproxMemoryBytes() + entries_.capacity() * sizeof(Entry) +
         dirty_.capacity() * sizeof(uint32_t) + deleted_.capacity() * sizeof(std::string);
}

size_t ProfileCache::EvictIfOverBudget(uint64_t landed) {
  if (!store_ || cache_.budget_bytes <= 0) return 0;
  const auto budget = static_cast<size_t>(cache_.budget_bytes);
  size_t used = memory_bytes();
  if (used <= budget) return 0;
  // Least recently touched first, down to 3/4 of the budget. Dirty ones,
  // and those whose commit is not on disk yet, stay. An evicted profile frees its heap
  // blocks; its slots stay for the credentials that come next, so the
  // tables do not grow past the most profiles ever held between commits.
  std::vector<std::pair<uint64_t, uint32_t>> order;  // (last touch, id)
  order.reserve(profiles_->credentials());
  for (uint32_t id = 0; id < entries_.size(); ++id) {
    if (!profiles_->NameOf(id).empty()) order.emplace_back(entries_[id].last_touch, id);
  }
  std::sort(order.begin(), order.end());
  const size_t target = budget / 4 * 3;
  size_t evicted = 0;
  for (const auto& [touch, id] : order) {
    if (used <= target) break;
    const Entry& entry = entries_[id];
    if (entry.dirty || entry.written_in > landed) continue;
    // Its whole share: heap blocks, and the slots, which the next
    // credentials reuse or compaction returns.
    const size_t freed = profiles_->ApproxProfileBytes(id) + sizeof(Entry);
    used -= std::min(used, freed);
    Forget(id);
    ++evicted;
  }
  if (evicted == 0) return 0;
  Compact();
#if defined(__GLIBC__)
  // The evicted profiles were many small blocks among live ones: give the
  // whole free pages back, or resident memory keeps the high-water mark.
  malloc_trim(0);
#endif
  stats_.evictions += evicted;
  return evicted;
}

absl::Status ProfileCache::Sweep(StateBatch* batch) {
  if (watermark_ns_ == INT64_MIN) return absl::OkStatus();
  size_t expired_in_memory = 0;
  for (uint32_t id = 0; id < entries_.size(); ++id) {
    if (profiles_->NameOf(id).empty() || !Expired(entries_[id].latest_ns)) continue;
    deleted_.emplace_back(profiles_->NameOf(id));
    Forget(id);
    ++expired_in_memory;
  }
  if (expired_in_memory > 0) {
    Compact();
    stats_.expired += expired_in_memory;
  }
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  if (!store_) return absl::OkStatus();
  absl::Status damaged;
  absl::Status s = store_->Scan(Family::kProfiles, "", [&](std::string_view key, std::string_view value) {
    if (profiles_->Contains(key) || (cache_.owns && !cache_.owns(key))) return true;
    ProfileRecord record;
    if (!DecodeProfileRecord(value, &record)) {
      damaged = absl::DataLossError(absl::StrCat("state_dir '", store_->dir(),
                                                 "' is corrupted: damaged profile record for '",
                                                 Sv(key), "'"));
      return false;
    }
    if (Expired(record.latest_ns)) {
      batch->Delete(Family::kProfiles, key);
      ++stats_.expired;
    }
    return true;
  });
  if (!s.ok()) return s;
  return damaged;
}

}  // namespace credwatch::state
