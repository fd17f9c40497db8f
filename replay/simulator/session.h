// Sessions and the primitives that expand them into Records: one sshd
// connection on a legacy host (failed attempts, login, sftp operations,
// disconnect), the host's flow records for that connection, and single
// CloudTrail calls. Benign activity (activity.cc) and the attacks
// (scenarios.cc) are written in terms of these. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_SESSION_H_
#define CREDWATCH_REPLAY_SIMULATOR_SESSION_H_

#include <cstdint>
#include <vector>

#include "replay/simulator/estate.h"
#include "replay/simulator/random.h"
#include "replay/simulator/record.h"

namespace credwatch::sim {

enum class SessionKind : uint8_t {
  kSftp,          // a login to a legacy host with an sftp session
  kSshCommand,    // a login that runs a command (the partner push)
  kScan,          // internet background: failed guesses against a host
  kS3Read,        // ListObjects + GetObject
  kS3Export,      // svc-etl's nightly PutObject of a tenant's exports
  kS3BackupCopy,  // svc-backup's CopyObject of the exports to ehrbackups
  kConsole,       // ConsoleLogin (+ AssumeRole)
  kAssumeRole,    // svc-etl's hourly AssumeRole
  kFlowNoise,     // a host's log shipping and DNS flows for one hour
  kAttack,        // one session of an attack (scenarios.cc)
};

enum class Workload : uint8_t {
  kNone,
  kCustomerDaily,
  kSupportTicket,
  kBackupNightly,
  kEtlPickup,
  kLargeExport,
  kDormantRoutine,
};

// One planned unit of activity. Everything about its records is decided by
// its fields and an Rng seeded with `key`.
struct Session {
  int64_t start_ns = 0;
  uint64_t key = 0;  // unique per session; seeds its Rng
  uint32_t user = 0;
  uint32_t ip = 0;          // where the actor connects from
  double throughput = 2e7;  // bytes/s of the actor's link
  uint16_t tenant = 0;      // primary tenant of the work
  uint16_t step = 0;        // attack: which of its sessions
  SessionKind kind = SessionKind::kSftp;
  Workload workload = Workload::kNone;
  uint8_t host = 0;
  uint8_t lookalike = kLookNone;
  uint8_t typos = 0;  // failed password attempts before the login
  int8_t attack = -1;
};

inline int64_t RoundUs(int64_t ns) { return ns - ns % 1000; }
inline int64_t RoundMs(int64_t ns) { return ns - ns % 1'000'000; }
inline int64_t RoundSec(int64_t ns) { return ns - ns % 1'000'000'000; }
inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kSec = 1'000'000'000;
inline constexpr int64_t kMin = 60 * kSec;
inline constexpr int64_t kHour = 60 * kMin;

// Appends the Records of one session at a time to a buffer, stamping each with
// the next sequence number and the session's attack/look-alike tags. Owns the
// per-host counters (pids, logind sessions) that advance in session start
// order. Not thread-safe.
class Emitter {
 public:
  Emitter(const Estate& estate, std::vector<Record>* out);

  void Begin(const Session& s) {
    attack_ = s.attack;
    lookalike_ = s.lookalike;
    user_ = s.user;
  }
  // Appends a record stamped with the session's actor and tags. The
  // reference is valid until the next Add.
  Record& Add(RecordType type, int64_t time_ns);
  // Reserves `n` consecutive pids on `host` and returns the first.
  uint32_t AllocatePids(int host, uint32_t n);
  uint32_t NextLogindSession(int host) { return ++logind_[static_cast<size_t>(host)]; }
  void set_lookalike(uint8_t l) { lookalike_ = l; }
  uint8_t lookalike() const { return lookalike_; }
  bool in_attack() const { return attack_ >= 0; }
  const Estate& estate() const { return estate_; }

 private:
  const Estate& estate_;
  std::vector<Record>* out_;
  uint64_t seq_ = 0;
  int8_t attack_ = -1;
  uint8_t lookalike_ = kLookNone;
  uint32_t user_ = 0;  // the session's actor; records may override
  std::vector<uint32_t> next_pid_;
  std::vector<uint32_t> logind_;
};

// The flow records a legacy host exports for one TCP connection: a Traffic
// record for every 5-minute export interval that carried bytes and a Close
// record at the end.
class FlowTracker {
 public:
  static constexpr int64_t kInterval = 5 * kMin;

  FlowTracker(Emitter& em, int host, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
              int64_t start_ns);
  // Bytes moved between t0 and t1, spread evenly over the interval; `data`
  // marks file content (as opposed to protocol chatter).
  void Transfer(int64_t t0, int64_t t1, int64_t bytes_out, int64_t bytes_in, bool data);
  void Finish(int64_t t, int64_t overhead_out, int64_t overhead_in);

 private:
  void FlushUntil(int64_t t);
  void Emit(RecordType type, int64_t t);

  Emitter& em_;
  int host_;
  uint16_t src_port_;
  uint32_t dst_ip_;
  uint16_t dst_port_;
  int64_t interval_start_;
  int64_t next_boundary_;
  int64_t out_ = 0, in_ = 0;
  bool data_ = false;
};

// One sshd connection to a legacy host from `client_ip`, driven step by step.
// Every step takes the current time and returns the time after it.
class SshConnection {
 public:
  // `start_ns`: when the TCP connection opens (the first step's time).
  SshConnection(Emitter& em, Rng& rng, int host, uint32_t user, uint32_t client_ip,
                double throughput, int64_t start_ns);

  // A wrong password (or an unknown user) on this connection.
  int64_t FailPassword(int64_t t);
  // Ends a connection that never logged in.
  int64_t ClosePreauth(int64_t t);
  int64_t Login(int64_t t, AuthMethod method);
  int64_t StartSftp(int64_t t);
  int64_t ListDir(int64_t t, int tenant, uint32_t object_in_dir);
  // Downloads `object` of `tenant`; returns the time of the close.
  int64_t Read(int64_t t, int tenant, uint32_t object);
  int64_t Write(int64_t t, int tenant, uint32_t object);
  // Ends the sftp session (if any) and the login, and closes the flow.
  int64_t Logout(int64_t t);

 private:
  Record& Journal(RecordType type, int64_t t);

  Emitter& em_;
  Rng& rng_;
  int host_;
  uint32_t user_;
  uint32_t ip_;
  uint16_t port_;
  double throughput_;
  uint32_t pid_ = 0;
  uint32_t child_ = 0;
  uint32_t logind_ = 0;
  bool sftp_ = false;
  FlowTracker flow_;
};

// A client port as Linux picks them.
inline uint16_t EphemeralPort(Rng& rng) { return static_cast<uint16_t>(rng.Range(32768, 61000)); }

// One CloudTrail call by `user` from `ip`, second resolution.
Record& AddCloudTrail(Emitter& em, RecordType type, int64_t t, uint32_t user, uint32_t ip,
                      UserAgent agent);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_SESSION_H_
