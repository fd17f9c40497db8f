#include "state/profile_cache.h"

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

// What an index entry costs besides the profile: the key string, the slot
// and the control byte at the table's 7/8 maximum load.
size_t EntryBytes(const std::string& name) {
  constexpr size_t kSlot = sizeof(std::string) + 24;
  return kSlot * 8 / 7 + 1 + (name.capacity() > 15 ? name.capacity() + 17 : 0);
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

void ProfileCache::CollectDirty(StateBatch* batch) {
  // Deletions first: a credential dropped and seen again is written after.
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  std::string blob, record;
  for (const std::string& name : dirty_) {
    auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.dirty) continue;
    it->second.dirty = false;
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
  for (auto& [name, entry] : entries_) entry.dirty = false;
  dirty_.clear();
}

size_t ProfileCache::memory_bytes() const {
  size_t bytes = profiles_->ApproxMemoryBytes() + dirty_.capacity() * sizeof(std::string);
  for (const auto& [name, entry] : entries_) bytes += EntryBytes(name);
  return bytes;
}

size_t ProfileCache::EvictIfOverBudget() {
  if (!store_ || cache_.budget_bytes <= 0) return 0;
  const auto budget = static_cast<size_t>(cache_.budget_bytes);
  if (memory_bytes() <= budget) return 0;
  // Keep the most recently touched (and every dirty one) within 3/4 of the budget.
  std::vector<std::pair<uint64_t, const std::string*>> order;
  order.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) order.emplace_back(entry.last_touch, &name);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  const size_t target = budget / 4 * 3;
  size_t used = sizeof(profile::ProfileStore);
  std::vector<const std::string*> evict;
  for (const auto& [touch, name] : order) {
    const Entry& entry = entries_.at(*name);
    const size_t cost = profiles_->ApproxProfileBytes(*name) + EntryBytes(*name);
    if (!entry.dirty && used + cost > target) {
      evict.push_back(name);
      continue;
    }
    used += cost;
  }
  if (evict.empty()) return 0;
  for (const std::string* name : evict) {
    profiles_->Erase(*name);
    entries_.erase(*name);  // frees *name: last
  }
  // Return the memory of the evicted ones (free slots, index capacity).
  profiles_->Compact();
  entries_.rehash(0);
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
      entries_.erase(name);
      profiles_->Erase(name);
    }
    profiles_->Compact();
    for (std::string& name : expired_in_memory) deleted_.push_back(std::move(name));
    stats_.expired += expired_in_memory.size();
  }
  for (const std::string& name : deleted_) batch->Delete(Family::kProfiles, name);
  deleted_.clear();
  if (!store_) return absl::OkStatus();
  absl::Status damaged;
  absl::Status s = store_->Scan(Family::kProfiles, "", [&](std::string_view key, std::string_view value) {
    if (entries_.contains(Sv(key))) return true;
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
