// HostSessions: the live sessions of every credential on every host, kept
// where the events are still in one sequence (the runtime's producer), so
// that host-level flows can be attributed before they are routed.
//
//   HostSessions sessions(profile_options.sessions);
//   for (const Event& e : merged) {
//     if (IsHostFlow(e)) {
//       owners.clear();
//       sessions.LiveCredentialsOnHost(e, &owners);  // route one copy per owner
//     } else {
//       sessions.Observe(e);
//     }
//   }
//
// A flow (kind network, no credential) belongs to the credentials with a
// live session on its host, and when one of them is the flow's peer only to
// that one (profile::SessionTable). Which credentials those are depends on
// every credential's sessions on the host, so a shard, which holds only its
// own credentials, cannot decide it. This mirrors exactly what
// profile::ProfileStore does for the single-threaded path: the same
// SessionTable fed with the same events (ProfileStore::Observe feeds every
// event that has a credential), names sorted and unique. The replay tests
// compare the two paths, so a change to one that the other misses shows up.
//
// Thread-compatible: one instance, used by the producer thread only.
#ifndef CREDWATCH_RUNTIME_HOST_SESSIONS_H_
#define CREDWATCH_RUNTIME_HOST_SESSIONS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "credwatch/event.h"
#include "profile/session_table.h"

namespace credwatch::runtime {

// A host-level flow: attributed to credentials instead of judged as is.
inline bool IsHostFlow(const Event& e) {
  return e.kind == Kind::kNetwork && e.credential.empty() && !e.host.empty();
}

class HostSessions {
 public:
  explicit HostSessions(profile::SessionOptions options) : table_(options) {
    table_.TrackReleases(&released_);
  }
  HostSessions(const HostSessions&) = delete;
  HostSessions& operator=(const HostSessions&) = delete;

  // Folds one event that is not a host flow (as ProfileStore::Observe does).
  void Observe(const Event& e);

  // Appends the credentials `flow` belongs to, sorted and unique (as
  // ProfileStore::LiveCredentialsOnHost). Views stay valid until the next
  // Observe (a credential's name is freed with its last session).
  void LiveCredentialsOnHost(const Event& flow, std::vector<std::string_view>* out);

  // Credentials with a session in the table. Only those are kept: a
  // credential's name is freed with its last session, so memory follows the
  // sessions (bounded per host), not every credential ever seen.
  size_t credentials() const { return ids_.size(); }

 private:
  void Release(uint32_t id);

  profile::SessionTable table_;
  std::deque<std::string> names_;  // by id; deque keeps them at fixed addresses
  std::vector<uint32_t> refs_;     // by id: sessions in the table
  std::vector<uint32_t> free_ids_;
  absl::flat_hash_map<absl::string_view, uint32_t> ids_;  // views of names_
  std::vector<uint32_t> released_;  // the table's dropped sessions, by id
  std::vector<uint32_t> scratch_;
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_HOST_SESSIONS_H_
