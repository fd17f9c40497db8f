#include "profile/session_table.h"

#include <algorithm>

#include "common/strings.h"
#include "common/fixed_hash.h"
#include "credwatch/time_util.h"

namespace credwatch::profile {
namespace {

constexpr uint64_t kSessionSeed = 0x5E55;

uint64_t SessionKey(std::string_view session) {
  if (session.empty()) return 0;
  uint64_t k = FixedHash(session, kSessionSeed);
  return k == 0 ? 1 : k;
}

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

}  // namespace

SessionTable::SessionTable(SessionOptions options) : options_(options) {
  options_.max_per_host = std::max<size_t>(options_.max_per_host, 8);
  options_.idle_ns = std::max<int64_t>(options_.idle_ns, 0);
  options_.grace_ns = std::max<int64_t>(options_.grace_ns, 0);
}

int64_t SessionTable::EndOf(const Times& s) const {
  return std::min(s.closed_ns, SatAdd(s.last_ns, options_.idle_ns));
}

bool SessionTable::IsLive(const Times& s, int64_t t) const {
  return s.opened_ns <= t && t <= s.closed_ns && t <= SatAdd(s.last_ns, options_.idle_ns);
}

void SessionTable::Sweep(Host& h) {
  absl::erase_if(h.sessions, [&](const auto& kv) {
    if (h.latest_ns <= SatAdd(EndOf(kv.second), options_.grace_ns)) return false;
    if (released_) released_->push_back(kv.first.credential);
    return true;
  });
  h.swept_ns = h.latest_ns;
}

void SessionTable::MakeRoom(Host& h) {
  Sweep(h);
  if (h.sessions.size() < options_.max_per_host) return;
  // Still full of live sessions: drop the least recently active eighth (all
  // sessions at or below the threshold time, so ties do not depend on order).
  scratch_.clear();
  for (const auto& [id, times] : h.sessions) scratch_.push_back(times.last_ns);
  const size_t n = scratch_.size() / 8;
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n),
                   scratch_.end());
  const int64_t threshold = scratch_[n];
  absl::erase_if(h.sessions, [&](const auto& kv) {
    if (kv.second.last_ns > threshold) return false;
    if (released_) released_->push_back(kv.first.credential);
    return true;
  });
}

bool SessionTable::OnEvent(const Event& e, uint32_t credential_id) {
  if (!Takes(e)) return false;
  const int64_t t = e.time_ns;
  const SessionId id{credential_id, SessionKey(e.session)};

  if (e.action == Action::kLogout) {
    auto it = hosts_.find(Sv(e.host));
    if (it == hosts_.end()) return false;
    Host& h = it->second;
    h.latest_ns = std::max(h.latest_ns, t);
    auto close = [t](Times& s) {
      if (s.closed_ns == kOpen) s.closed_ns = std::max(t, s.opened_ns);
    };
    if (id.key != 0) {
      auto s = h.sessions.find(id);
      if (s == h.sessions.end()) s = h.sessions.find(SessionId{credential_id, 0});
      if (s != h.sessions.end()) close(s->second);
      return false;
    }
    for (auto& [sid, times] : h.sessions) {
      if (sid.credential == credential_id) close(times);
    }
    return false;
  }

  auto it = hosts_.find(Sv(e.host));
  if (it == hosts_.end()) {
    it = hosts_.emplace(std::string(e.host), Host{}).first;  // a new host: allocation is fine
  }
  Host& h = it->second;
  h.latest_ns = std::max(h.latest_ns, t);
  // At most one sweep per grace period of the host's event time: ended
  // sessions stay between grace and twice grace, and the cost per event is
  // constant.
  if (SatAdd(h.swept_ns, std::max<int64_t>(options_.grace_ns, kNsPerSecond)) < h.latest_ns) Sweep(h);
  auto s = h.sessions.find(id);
  if (s != h.sessions.end()) {
    Times& times = s->second;
    if ((times.closed_ns != kOpen && t > times.closed_ns) ||
        (t > times.last_ns && t > SatAdd(times.last_ns, options_.idle_ns))) {
      // Activity after the logout or after the session expired: a new
      // session under the same id.
      times = Times{t, t, kOpen, e.src_ip};
      return false;
    }
    times.opened_ns = std::min(times.opened_ns, t);
    times.last_ns = std::max(times.last_ns, t);
    if (e.src_ip.is_valid()) times.client = e.src_ip;
    return false;
  }
  // An event older than what the last sweep dropped may belong to a session
  // that ended (and was dropped): it must not open one, or a late event
  // would reopen a closed session for the idle timeout.
  if (t < SatAdd(h.swept_ns, -options_.grace_ns)) return false;
  if (h.sessions.size() >= options_.max_per_host) MakeRoom(h);
  h.sessions.emplace(id, Times{t, t, kOpen, e.src_ip});
  return true;
}

void SessionTable::LiveOn(std::string_view host, int64_t time_ns, const IpAddress& peer,
                          std::vector<uint32_t>* ids) const {
  auto it = hosts_.find(Sv(host));
  if (it == hosts_.end()) return;
  const size_t first = ids->size();
  bool peer_matched = false;
  for (const auto& [id, times] : it->second.sessions) {
    if (!IsLive(times, time_ns)) continue;
    bool is_peer = peer.is_valid() && times.client == peer;
    if (is_peer && !peer_matched) {
      ids->resize(first);  // the peer's own sessions replace the bystanders
      peer_matched = true;
    }
    if (is_peer || !peer_matched) ids->push_back(id.credential);
  }
}

void SessionTable::Touch(std::string_view host, int64_t time_ns) {
  auto it = hosts_.find(Sv(host));
  if (it != hosts_.end()) it->second.latest_ns = std::max(it->second.latest_ns, time_ns);
}

size_t SessionTable::sessions() const {
  size_t n = 0;
  for (const auto& [name, h] : hosts_) n += h.sessions.size();
  return n;
}

size_t SessionTable::ApproxMemoryBytes() const {
  using HostSlot = std::pair<const std::string, Host>;
  using SessionSlot = std::pair<const SessionId, Times>;
  size_t bytes = sizeof(*this) + hosts_.capacity() * (sizeof(HostSlot) + 1) +
                 scratch_.capacity() * sizeof(int64_t);
  for (const auto& [name, h] : hosts_) {
    if (name.capacity() > 15) bytes += name.capacity() + 1;
    bytes += h.sessions.capacity() * (sizeof(SessionSlot) + 1);
  }
  return bytes;
}

}  // namespace credwatch::profile
