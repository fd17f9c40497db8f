// sshd and sftp-server message text -> normalized events, shared by the
// `syslog` and `journald` decoders. Internal header.
//
// Two layers:
//  - ParseSshdMessage() is a pure parser of one message text ("Accepted
//    password for alice from 10.0.0.5 port 50000 ssh2") into an SshdMessage.
//  - SshdEventDecoder applies a parsed message to the stream's SessionTable
//    and appends events: it links the sftp process that logs `close "P" bytes
//    read N written M` to the sshd login that authenticated it, so the read
//    carries that login's credential, source address and session id.
//
//   SshdEventDecoder sshd("syslog", options.limits);
//   LogRecord rec{.time_ns = t, .host = "web1", .program = "sshd", .pid = 4242,
//                 .has_pid = true, .message = "Accepted password for ..."};
//   DecodeResult r = sshd.Decode(rec, ctx, batch);
//
// How records are linked (docs/formats/syslog.md has the user-facing version):
//  1. "Accepted <method> for U from IP port P" by sshd[M] on host H opens a
//     login session "H:M".
//  2. A process C that logs "session opened for local user U from [IP]"
//     (sftp-server, internal-sftp) or a pam "session opened for user U" is
//     linked to login M when C == M; otherwise to the most recent login on H
//     by U (from IP, when the line names one) that no other process claimed.
//  3. Logout lines (pam "session closed", "Disconnected from user",
//     "Received disconnect", "Connection closed by", sftp "session closed")
//     end the session of their process, or the login with the same address and
//     port; each login session yields at most one logout event.
//
// Not thread-safe: one SshdEventDecoder per input stream, like the decoders.
#ifndef CREDWATCH_DECODE_SSHD_MESSAGES_H_
#define CREDWATCH_DECODE_SSHD_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <deque>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"

namespace credwatch::decode {

// Which family of program logged a record, from its syslog tag /
// SYSLOG_IDENTIFIER: "sshd", "sshd-session", "sshd-auth", "sshd(pam_unix)",
// "/usr/sbin/sshd" -> kSshd; "sftp-server", "internal-sftp" -> kSftp.
enum class SshdProgram : uint8_t { kOther, kSshd, kSshdPam, kSftp };
SshdProgram ClassifyProgram(std::string_view program);

enum class SshdMessageKind : uint8_t {
  kIrrelevant,         // valid, but carries no security event
  kMalformed,          // a message we handle, damaged (reason in `error`)
  kLoginAccepted,      // Accepted <method> for U from IP port P
  kLoginFailed,        // Failed <method> for [invalid user] U from IP port P
  kDisconnect,         // Received disconnect / Disconnected / Connection closed
  kPamSessionOpened,   // pam_unix(sshd:session): session opened for user U
  kPamSessionClosed,   // pam_unix(sshd:session): session closed for user U
  kSftpSessionOpened,  // session opened for local user U from [IP]
  kSftpSessionClosed,  // session closed for local user U from [IP]
  kSftpTransfer,       // close "P" bytes read N written M
  kSftpList,           // opendir "P"
  kSftpRemove,         // remove name "P", rmdir name "P"
  kRepeatLast,         // "last message repeated N times" (sysklogd)
};

// One parsed message. Views point into the message text.
struct SshdMessage {
  SshdMessageKind kind = SshdMessageKind::kIrrelevant;
  std::string_view user;
  std::string_view method;   // "password", "publickey", ...
  std::string_view ip_text;  // as written; empty when absent or "UNKNOWN"
  IpAddress ip;
  uint16_t port = 0;         // 0 = absent
  std::string_view path;     // sftp object
  int64_t bytes_read = 0;
  int64_t bytes_written = 0;
  // How many times the event happened: "message repeated N times: [ msg ]"
  // (rsyslog, logged after the first copy) and "last message repeated N
  // times" stand for N more copies. Capped at kMaxRepeat.
  uint32_t repeat = 1;
  std::string_view error;    // kMalformed: what was wrong (static storage)
};

// Upper bound on the events one "repeated N times" line can produce, so a
// forged count cannot flood the engine.
inline constexpr uint32_t kMaxRepeat = 1000;

SshdMessage ParseSshdMessage(SshdProgram program, std::string_view text);

// One record after its syslog / journald framing is taken apart. `host` and
// `message` must stay valid as long as the batch the events go to.
struct LogRecord {
  int64_t time_ns = 0;
  std::string_view host;
  std::string_view program;  // syslog tag / SYSLOG_IDENTIFIER
  uint32_t pid = 0;
  bool has_pid = false;
  std::string_view message;
};

// The per-stream table of sshd and sftp processes. Bounded: at most
// `capacity` entries; when full, ended sessions are reused first, then the
// oldest entry (round robin). It owns copies of every string it keeps, so it
// outlives the records and batches that filled it. After the table is warm
// (each slot used once) it allocates only when a string is longer than any
// before it in that slot. Lookups by process, by user and by address are
// hash lookups; linking by user looks at the user's kMaxLinkCandidates most
// recent logins on the host.
class SessionTable {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  // Longer hosts or user names are not kept (their events still decode).
  static constexpr size_t kMaxKeptString = 256;
  static constexpr int kMaxLinkCandidates = 64;

  // A reference to a slot that notices when the slot was reused.
  struct SlotRef {
    uint32_t index = 0;
    uint32_t generation = 0;  // 0 = no slot
  };

  struct Session {
    uint32_t index = 0;  // position in the table
    std::string host;
    uint32_t pid = 0;
    uint32_t generation = 0;  // changes whenever the slot is reused
    std::string credential;
    std::string session_id;  // "host:pid" of the sshd login
    std::string ip_text;
    IpAddress ip;
    uint16_t port = 0;
    bool is_login = false;  // an sshd login (Accepted, or pam session opened)
    bool claimed = false;   // another process (sftp) was linked to this login
    bool ended = false;     // its logout event was emitted
    SlotRef login;          // linked processes: their login
    // Set by RegisterLogin: the indexes this login is in.
    uint64_t user_key = 0;
    uint64_t address_key = 0;
    SlotRef prev_login;     // the previous login of the same user on the host
  };

  explicit SessionTable(size_t capacity = kDefaultCapacity);

  Session* Find(std::string_view host, uint32_t pid);
  // A fresh entry for (host, pid), replacing any previous one. References to
  // other entries stay valid (the slot taken may be another entry's, though:
  // look other entries up after inserting).
  Session& Insert(std::string_view host, uint32_t pid);
  // Makes the login `s` (host, credential, ip, port filled in) findable by
  // FindLogin and FindLoginByAddress.
  void RegisterLogin(Session& s);
  // The most recent open registered login on `host` by `user` not claimed by
  // another process; when `ip` is valid it must match. With
  // `allow_claimed`, claimed logins qualify too (a second sftp channel over
  // the same connection).
  Session* FindLogin(std::string_view host, std::string_view user, const IpAddress& ip,
                     bool allow_claimed);
  // The registered login on `host` from exactly this address and port.
  Session* FindLoginByAddress(std::string_view host, const IpAddress& ip, uint16_t port);
  // The login a linked process belongs to (itself for a login); null when the
  // login was evicted.
  Session* LoginOf(Session& s);
  // Links `s` to `login`: copies what events need and marks the login claimed.
  void Link(Session& s, Session& login);
  size_t size() const { return index_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  static uint64_t ProcessKey(std::string_view host, uint32_t pid);
  static uint64_t UserKey(std::string_view host, std::string_view user);
  static uint64_t AddressKey(std::string_view host, const IpAddress& ip, uint16_t port);
  Session* Resolve(SlotRef ref);
  static SlotRef RefOf(const Session& s) { return {s.index, s.generation}; }
  void Unindex(Session& s);
  uint32_t TakeSlot();

  size_t capacity_;
  std::deque<Session> slots_;  // a deque: growing keeps Session& valid
  std::vector<uint64_t> slot_keys_;  // ProcessKey of each slot, 0 = free
  absl::flat_hash_map<uint64_t, uint32_t> index_;      // ProcessKey -> slot
  absl::flat_hash_map<uint64_t, SlotRef> user_head_;   // UserKey -> newest login
  absl::flat_hash_map<uint64_t, SlotRef> by_address_;  // AddressKey -> login
  uint32_t hand_ = 0;  // eviction clock hand
  uint32_t next_generation_ = 1;
};

// Applies parsed sshd / sftp messages to a SessionTable and appends events.
class SshdEventDecoder {
 public:
  // `format_name` is copied into Event::format and must be static storage.
  SshdEventDecoder(std::string_view format_name, const DecodeLimits& limits,
                   size_t max_sessions = SessionTable::kDefaultCapacity);

  // Returns kOk when events were appended, kSkippedIrrelevant for records of
  // other programs and for messages that carry no event, kRejectUnparseable
  // for damaged sshd / sftp messages, kRejectFieldTooLarge for fields over
  // the limit.
  DecodeResult Decode(const LogRecord& rec, const RecordContext& ctx, EventBatch& out);

  const SessionTable& sessions() const { return sessions_; }

 private:
  Event& NewEvent(const LogRecord& rec, const RecordContext& ctx, EventBatch& out);
  std::string_view ProcessSessionId(const LogRecord& rec, Arena& arena);
  void FillFromSession(const SessionTable::Session& s, Event& e, Arena& arena);
  DecodeResult Failed(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                      EventBatch& out);
  DecodeResult Accepted(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                        EventBatch& out);
  DecodeResult PamOpened(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                         EventBatch& out);
  DecodeResult SftpOpened(const LogRecord& rec, const SshdMessage& m);
  DecodeResult Logout(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                      EventBatch& out);
  DecodeResult SftpAction(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                          EventBatch& out);
  DecodeResult RepeatLast(const LogRecord& rec, const SshdMessage& m, const RecordContext& ctx,
                          EventBatch& out);
  void RememberFailure(const LogRecord& rec, const SshdMessage& m);

  std::string_view format_name_;
  DecodeLimits limits_;
  SessionTable sessions_;

  // The last failed login, for sysklogd's "last message repeated N times".
  // Owned copies; forgotten by the next record from the same host.
  struct LastFailure {
    bool valid = false;
    std::string host;
    std::string user;
    std::string ip_text;
    std::string session_id;
    IpAddress ip;
    uint16_t port = 0;
  } last_failure_;
};

}  // namespace credwatch::decode

#endif  // CREDWATCH_DECODE_SSHD_MESSAGES_H_
