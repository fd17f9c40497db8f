// Live sessions per host, in event time, so that host-level flows (OCSF
// Network Activity 4001: an egress flow from a server, with no user on it)
// can be attributed to the credentials that were logged in on that host.
//
//   SessionTable sessions(options);
//   sessions.OnEvent(login_event, credential_id);      // opens
//   sessions.LiveOn("sftp01", flow.time_ns, &ids);     // who was on sftp01
//
// A session is (credential, session id) on one host. It opens with a
// successful login, or with the first successful activity of the credential
// on the host when the login itself was not seen (a log that starts
// mid-session). Any later successful non-network activity of the same
// credential and session on the host refreshes it; a logout closes it; it
// expires after `idle_ns` without activity. A session is live at time t when
// opened <= t <= closed and t <= last activity + idle_ns.
//
// A logout with a session id closes that session, or the credential's
// session without an id if there is no such session; a logout without an id
// closes all of the credential's sessions on the host.
//
// Ended sessions are kept for `grace_ns` past their end (so a flow record
// that arrives a little late is still attributed). A host holds at most
// `max_per_host` sessions: when it is full, ended sessions are dropped first,
// then the least recently active eighth, so a busy host (a cloud API
// endpoint with thousands of keys) costs O(1) amortized per event.
//
// Not thread-safe: one instance per shard, owned by that shard's
// ProfileStore. No locks.
#ifndef CREDWATCH_PROFILE_SESSION_TABLE_H_
#define CREDWATCH_PROFILE_SESSION_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "credwatch/event.h"

namespace credwatch::profile {

struct SessionOptions {
  // A session with no activity for this long is over. Default 12 h.
  int64_t idle_ns = int64_t{12} * 3600 * 1'000'000'000;
  // How long an ended session is kept for late flow records. Default 10 min.
  int64_t grace_ns = int64_t{10} * 60 * 1'000'000'000;
  // Sessions kept per host (>= 8). Default 1024.
  size_t max_per_host = 1024;
};

class SessionTable {
 public:
  explicit SessionTable(SessionOptions options);

  // Folds one event of `credential_id` (an id owned by the caller). Failures,
  // network-kind events and events without a host are ignored: a flow must
  // not keep alive the session it is attributed to.
  // Returns true when it added a session for `credential_id` (its first, or
  // another on a host or with another session id).
  bool OnEvent(const Event& e, uint32_t credential_id);
  // Whether OnEvent looks at `e` at all: failures, network-kind events and
  // events without a host are ignored.
  static bool Takes(const Event& e) {
    return !e.host.empty() && e.kind != Kind::kNetwork && e.outcome != Outcome::kFailure;
  }
  // Whether OnEvent would keep anything of `e` (a logout only closes).
  static bool Opens(const Event& e) { return Takes(e) && e.action != Action::kLogout; }

  // What a logout of a credential without sessions does to the table: the
  // host's clock moves (as OnEvent would), nothing else.
  void Touch(std::string_view host, int64_t time_ns);

  // With tracking on, the credential id of every session the table drops
  // (expired, or evicted when a host is full) is appended to `*released`,
  // so an owner that counts sessions per id can free ids no session uses.
  void TrackReleases(std::vector<uint32_t>* released) { released_ = released; }

  // Appends the ids of the credentials with a live session on `host` at
  // `time_ns`, unordered and possibly repeated (the caller sorts names). When
  // `peer` is valid and some live sessions' client address equals it (a flow
  // from the host to the client that is downloading), only those are
  // appended: the flow is that client's session, not its neighbours'.
  void LiveOn(std::string_view host, int64_t time_ns, const IpAddress& peer,
              std::vector<uint32_t>* ids) const;

  size_t hosts() const { return hosts_.size(); }
  size_t sessions() const;
  size_t ApproxMemoryBytes() const;

 private:
  static constexpr int64_t kOpen = INT64_MAX;

  struct SessionId {
    uint32_t credential = 0;
    uint64_t key = 0;  // FixedHash of the session id; 0 = none given
    friend bool operator==(const SessionId& a, const SessionId& b) {
      return a.credential == b.credential && a.key == b.key;
    }
    template <typename H>
    friend H AbslHashValue(H h, const SessionId& s) {
      return H::combine(std::move(h), s.credential, s.key);
    }
  };
  struct Times {
    int64_t opened_ns = 0;
    int64_t last_ns = 0;
    int64_t closed_ns = kOpen;
    IpAddress client;  // the session's source address, if its events carry one
  };
  // Iteration order of `sessions` is never observable: LiveOn's caller sorts,
  // and eviction goes by time thresholds.
  struct Host {
    int64_t latest_ns = INT64_MIN;
    int64_t swept_ns = INT64_MIN;  // latest_ns at the last Sweep
    absl::flat_hash_map<SessionId, Times> sessions;
  };

  bool IsLive(const Times& s, int64_t t) const;
  int64_t EndOf(const Times& s) const;
  // Drops the sessions that ended more than grace before the host's latest
  // event (no flow can be attributed to them any more), so LiveOn scans live
  // sessions, not a table full of ended ones.
  void Sweep(Host& h);
  void MakeRoom(Host& h);

  SessionOptions options_;
  absl::flat_hash_map<std::string, Host> hosts_;
  std::vector<int64_t> scratch_;  // MakeRoom's, reused
  std::vector<uint32_t>* released_ = nullptr;
};

}  // namespace credwatch::profile

#endif  // CREDWATCH_PROFILE_SESSION_TABLE_H_
