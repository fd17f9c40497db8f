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

// The heap block of an index key (short names live inside the string).
size_t NameHeapBytes(const std::string& name) {
  return name.capacity() > 15 ? name.capacity() + 17 : 0;
}

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
  auto it = entries_.find(Sv(e.credential));
  if (it != entries_.end() && Expired(it->second.latest_ns)) {
    // Idle past the retention: starts over like a credential never seen.
    std::string name(e.credential);
    name_heap_bytes_ -= NameHeapBytes(it->first);
    entries_.erase(it);
    profiles_->Erase(name);
    deleted_.push_back(std::move(name));
    ++stats_.expired;
    it = entries_.end();
  }
  if (it == entries_.end()) {
    Entry entry;
    if (store_) {
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
          entry.latest_ns = record.latest_ns;
          ++stats_.loads;
        }
      }
    }
    it = entries_.emplace(std::string(e.credential), entry).first;
    name_heap_bytes_ += NameHeapBytes(it->first);
  }
  Entry& entry = it->second;
  entry.latest_ns = std::max(entry.latest_ns, e.time_ns);
  entry.last_touch = ++clock_;
  if (!entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(it->first);
  }
  profiles_->Observe(e);
  return absl::OkStatus();
}

void ProfileCache::CollectDirty(StateBatch* batch, uint64_t commit) {
  // Deletions first: a credential dropped and seen again is written after.
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  std::string blob, record;
  for (const std::string& name : dirty_) {
    auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.dirty) continue;
    it->second.dirty = false;
    it->second.written_in = commit;
    blob.clear();
    if (!profiles_->SerializeProfile(name, &blob)) continue;
    EncodeProfileRecord(it->second.latest_ns, blob, &record);
    batch->Put(Family::kProfiles, name, record);
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
  for (auto& [name, entry] : entries_) {
    entry.dirty = false;
    entry.written_in = 0;
  }
  dirty_.clear();
}

size_t ProfileCache::memory_bytes() const {
  using Slot = std::pair<const std::string, Entry>;
  // Tables by capacity: what they hold, not what they could hold at best.
  size_t bytes = profiles_->ApproxMemoryBytes() + entries_.capacity() * (sizeof(Slot) + 1) +
                 (dirty_.capacity() + deleted_.capacity()) * sizeof(std::string);
  return bytes + name_heap_bytes_;
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
  std::vector<std::pair<uint64_t, const std::string*>> order;
  order.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) order.emplace_back(entry.last_touch, &name);
  std::sort(order.begin(), order.end());
  const size_t target = budget / 4 * 3;
  std::vector<const std::string*> evict;
  using Slot = std::pair<const std::string, Entry>;
  for (const auto& [touch, name] : order) {
    if (used <= target) break;
    const Entry& entry = entries_.at(*name);
    if (entry.dirty || entry.written_in > landed) continue;
    // Its whole share: heap blocks, and the slots, which the next
    // credentials reuse or compaction returns.
    const size_t freed = profiles_->ApproxProfileBytes(*name) + (sizeof(Slot) + 1) * 8 / 7 +
                         NameHeapBytes(*name);
    used -= std::min(used, freed);
    evict.push_back(name);
  }
  if (evict.empty()) return 0;
  for (const std::string* name : evict) {
    profiles_->Erase(*name);
    name_heap_bytes_ -= NameHeapBytes(*name);
    entries_.erase(*name);  // frees *name: last
  }
  profiles_->CompactIfSparse();
  if (entries_.size() * 4 < entries_.capacity()) entries_.rehash(0);
#if defined(__GLIBC__)
  // The evicted profiles were many small blocks among live ones: give the
  // whole free pages back, or resident memory keeps the high-water mark.
  malloc_trim(0);
#endif
  stats_.evictions += evict.size();
  return evict.size();
}

absl::Status ProfileCache::Sweep(StateBatch* batch) {
  if (watermark_ns_ == INT64_MIN) return absl::OkStatus();
  std::vector<std::string> expired_in_memory;
  for (const auto& [name, entry] : entries_) {
    if (Expired(entry.latest_ns)) expired_in_memory.push_back(name);
  }
  if (!expired_in_memory.empty()) {
    for (const std::string& name : expired_in_memory) {
      if (auto it = entries_.find(name); it != entries_.end()) {
        name_heap_bytes_ -= NameHeapBytes(it->first);
        entries_.erase(it);
      }
      profiles_->Erase(name);
    }
    profiles_->CompactIfSparse();
    for (std::string& name : expired_in_memory) deleted_.push_back(std::move(name));
    stats_.expired += expired_in_memory.size();
  }
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  if (!store_) return absl::OkStatus();
  absl::Status damaged;
  absl::Status s = store_->Scan(Family::kProfiles, "", [&](std::string_view key, std::string_view value) {
    if (entries_.contains(Sv(key)) || (cache_.owns && !cache_.owns(key))) return true;
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
