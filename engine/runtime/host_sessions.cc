#include "runtime/host_sessions.h"

#include <algorithm>

#include "common/strings.h"

namespace credwatch::runtime {

void HostSessions::Observe(const Event& e) {
  if (e.credential.empty()) return;
  auto it = ids_.find(Sv(e.credential));
  if (it == ids_.end()) {
    // A new credential: allocation is fine.
    names_.emplace_back(e.credential);
    it = ids_.emplace(Sv(std::string_view(names_.back())), static_cast<uint32_t>(names_.size() - 1)).first;
  }
  table_.OnEvent(e, it->second);
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
