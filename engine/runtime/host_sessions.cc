#include "runtime/host_sessions.h"

#include <algorithm>

#include "common/strings.h"

namespace credwatch::runtime {

void HostSessions::Observe(const Event& e) {
  if (e.credential.empty()) return;
  auto it = ids_.find(Sv(e.credential));
  if (it == ids_.end()) {
    // Nothing to close for a credential without a session (but the host's
    // clock moves, as in ProfileStore's table), nothing kept of an event
    // that opens none.
    if (!profile::SessionTable::Opens(e)) {
      if (profile::SessionTable::Takes(e)) table_.Touch(e.host, e.time_ns);  // a logout
      return;
    }
    // A credential without a session: allocation is fine.
    uint32_t id;
    if (!free_ids_.empty()) {
      id = free_ids_.back();
      free_ids_.pop_back();
      names_[id].assign(e.credential.data(), e.credential.size());
    } else {
      id = static_cast<uint32_t>(names_.size());
      names_.emplace_back(e.credential);
      refs_.push_back(0);
    }
    it = ids_.emplace(Sv(std::string_view(names_[id])), id).first;
  }
  const uint32_t id = it->second;
  if (table_.OnEvent(e, id)) ++refs_[id];
  for (uint32_t r : released_) {
    if (--refs_[r] == 0) Release(r);
  }
  released_.clear();
  if (refs_[id] == 0 && ids_.contains(Sv(std::string_view(names_[id])))) Release(id);
}

void HostSessions::Release(uint32_t id) {
  ids_.erase(Sv(std::string_view(names_[id])));
  std::string().swap(names_[id]);
  free_ids_.push_back(id);
}

void HostSessions::LiveCredentialsOnHost(const Event& flow, std::vector<std::string_view>* out) {
  scratch_.clear();
  table_.LiveOn(flow.host, flow.time_ns, flow.dst_ip, &scratch_);
  const size_t first = out->size();
  for (uint32_t id : scratch_) out->push_back(names_[id]);
  std::sort(out->begin() + static_cast<std::ptrdiff_t>(first), out->end());
  out->erase(std::unique(out->begin() + static_cast<std::ptrdiff_t>(first), out->end()), out->end());
}

}  // namespace credwatch::runtime
