#include "decode/sshd_messages.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"

namespace credwatch::decode {
namespace {

using MsgKind = SshdMessageKind;

// Prefix and suffix tests against literals: a memcmp of constant size for
// equality only, which the compiler expands inline (a string_view compare is
// a call into libc per test, and a message meets a dozen of them).
template <size_t N>
bool HasPrefix(std::string_view s, const char (&p)[N]) {
  return s.size() >= N - 1 && std::memcmp(s.data(), p, N - 1) == 0;
}

template <size_t N>
bool HasSuffix(std::string_view s, const char (&p)[N]) {
  return s.size() >= N - 1 && std::memcmp(s.data() + s.size() - (N - 1), p, N - 1) == 0;
}

template <size_t N>
bool ConsumePrefix(std::string_view* s, const char (&p)[N]) {
  if (!HasPrefix(*s, p)) return false;
  s->remove_prefix(N - 1);
  return true;
}

// Digits only (no sign, no spaces), no overflow.
template <typename T>
bool ParseDigits(std::string_view s, T* out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Leading digits of `s` into *out, consuming them.
template <typename T>
bool ConsumeDigits(std::string_view* s, T* out) {
  size_t n = 0;
  while (n < s->size() && (*s)[n] >= '0' && (*s)[n] <= '9') ++n;
  if (!ParseDigits(s->substr(0, n), out)) return false;
  s->remove_prefix(n);
  return true;
}

bool ConsumePort(std::string_view* s, uint16_t* port) {
  uint32_t p = 0;
  if (!ConsumeDigits(s, &p) || p == 0 || p > 65535) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

bool SetAddress(std::string_view text, SshdMessage* m) {
  auto ip = IpAddress::Parse(text);
  if (!ip) return false;
  m->ip = *ip;
  m->ip_text = text;
  return true;
}

// "IP port N" followed by the end, a space or a colon (" ssh2", ": RSA ...").
bool ParseAddrPortTail(std::string_view tail, SshdMessage* m) {
  size_t sp = tail.find(' ');
  if (sp == std::string_view::npos) return false;
  std::string_view addr = tail.substr(0, sp);
  std::string_view rest = tail.substr(sp);
  uint16_t port = 0;
  if (!ConsumePrefix(&rest, " port ") || !ConsumePort(&rest, &port)) return false;
  if (!rest.empty() && rest[0] != ' ' && rest[0] != ':') return false;
  if (!SetAddress(addr, m)) return false;
  m->port = port;
  return true;
}

// "<method> for <user> from <ip> port <n> ssh2[: key]". The user name comes
// from the network ("Failed password for invalid user <anything>"), so the
// address is taken from the right: a name cannot forge the source.
bool ParseLoginBody(std::string_view body, SshdMessage* m) {
  size_t sp = body.find(' ');
  if (sp == std::string_view::npos) return false;
  m->method = body.substr(0, sp);
  body.remove_prefix(sp);
  if (!ConsumePrefix(&body, " for ")) return false;
  size_t end = body.size();
  while (end > 0) {
    size_t pos = body.rfind(" from ", end - 1);
    if (pos == std::string_view::npos) return false;
    if (ParseAddrPortTail(body.substr(pos + 6), m)) {
      m->user = body.substr(0, pos);
      return true;
    }
    end = pos;
  }
  return false;
}

SshdMessage Malformed(std::string_view why) {
  SshdMessage m;
  m.kind = MsgKind::kMalformed;
  m.error = why;
  return m;
}

SshdMessage Parsed(MsgKind kind) {
  SshdMessage m;
  m.kind = kind;
  return m;
}

// A user name in a pam line: up to a space or "(uid=...)".
std::string_view PamUser(std::string_view s) {
  size_t end = s.find_first_of(" (");
  return s.substr(0, end);
}

// Address (and port when present) of a disconnect line, best effort: these
// lines only end a session, the process id is what links them.
void ParseDisconnectAddress(std::string_view s, SshdMessage* m) {
  size_t sp = s.find(' ');
  std::string_view addr = s.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : s.substr(sp);
  if (addr.ends_with(':')) addr.remove_suffix(1);
  if (!SetAddress(addr, m)) return;
  uint16_t port = 0;
  if (ConsumePrefix(&rest, " port ") && ConsumePort(&rest, &port)) m->port = port;
}

SshdMessage ParseSftp(std::string_view text) {
  SshdMessage m;
  bool opened = HasPrefix(text, "session opened for local user ");
  if (opened || HasPrefix(text, "session closed for local user ")) {
    m.kind = opened ? MsgKind::kSftpSessionOpened : MsgKind::kSftpSessionClosed;
    std::string_view rest = text.substr(30);
    size_t from = rest.rfind(" from [");
    if (from == std::string_view::npos) {
      m.user = rest;
    } else {
      m.user = rest.substr(0, from);
      std::string_view addr = rest.substr(from + 7);
      if (!addr.ends_with(']')) return Malformed("sftp session line: no ']' after the address");
      addr.remove_suffix(1);
      if (addr != "UNKNOWN" && !SetAddress(addr, &m)) {
        return Malformed("sftp session line: bad client address");
      }
    }
    if (m.user.empty()) return Malformed("sftp session line without a user");
    return m;
  }
  std::string_view rest = text;
  if (ConsumePrefix(&rest, "close \"")) {
    // The path is logged unescaped and may hold quotes: take the numbers
    // from the right.
    size_t pos = rest.rfind("\" bytes read ");
    if (pos == std::string_view::npos) return Malformed("sftp close without 'bytes read'");
    m.path = rest.substr(0, pos);
    std::string_view nums = rest.substr(pos + 13);
    if (!ConsumeDigits(&nums, &m.bytes_read) || !ConsumePrefix(&nums, " written ") ||
        !ConsumeDigits(&nums, &m.bytes_written) || !nums.empty()) {
      return Malformed("sftp close: bad 'bytes read N written M'");
    }
    m.kind = MsgKind::kSftpTransfer;
    return m;
  }
  MsgKind kind = MsgKind::kIrrelevant;
  if (ConsumePrefix(&rest, "opendir \"")) {
    kind = MsgKind::kSftpList;
  } else if (ConsumePrefix(&rest, "remove name \"") || ConsumePrefix(&rest, "rmdir name \"")) {
    kind = MsgKind::kSftpRemove;
  } else {
    // open (reported with its bytes at close), closedir, stat, rename, ...
    return m;
  }
  if (!rest.ends_with('"')) return Malformed("sftp line: unterminated path");
  rest.remove_suffix(1);
  m.kind = kind;
  m.path = rest;
  return m;
}

SshdMessage ParseSshd(std::string_view text) {
  // Most sshd lines are none of ours: one look at the first letter before
  // the prefix tests.
  if (text.empty()) return SshdMessage{};
  switch (text[0]) {
    case 'A': case 'F': case 'p': case '(': case 'R': case 'C': case 'D':
    case 's': case 'c': case 'o': case 'r':
      break;
    default:
      return SshdMessage{};
  }
  std::string_view rest = text;
  if (ConsumePrefix(&rest, "Accepted ")) {
    SshdMessage m;
    if (!ParseLoginBody(rest, &m) || m.user.empty()) {
      return Malformed("sshd Accepted line without 'for <user> from <ip> port <n>'");
    }
    m.kind = MsgKind::kLoginAccepted;
    return m;
  }
  if (ConsumePrefix(&rest, "Failed ")) {
    SshdMessage m;
    if (!ParseLoginBody(rest, &m)) {
      return Malformed("sshd Failed line without 'for <user> from <ip> port <n>'");
    }
    // "none" is the client asking which methods exist, logged before every
    // real attempt: not a guess at a secret.
    if (m.method == "none") return Parsed(MsgKind::kIrrelevant);
    if (!ConsumePrefix(&m.user, "invalid user ")) ConsumePrefix(&m.user, "illegal user ");
    if (m.user.empty()) return Malformed("sshd Failed line without a user");
    m.kind = MsgKind::kLoginFailed;
    return m;
  }
  // Everything before authentication completes ("Connection closed by ...
  // [preauth]", "Invalid user ...") carries no event: each guess is counted
  // by its "Failed <method>" line.
  if (HasSuffix(text, "[preauth]")) return Parsed(MsgKind::kIrrelevant);

  // pam_unix session lines: "pam_unix(sshd:session): session opened for user
  // U(uid=N) by (uid=0)", older "(pam_unix) session opened for user U by ...".
  if (ConsumePrefix(&rest, "pam_unix(sshd:session): ") ||
      ConsumePrefix(&rest, "(pam_unix) ")) {
    SshdMessage m;
    if (ConsumePrefix(&rest, "session opened for user ")) {
      m.kind = MsgKind::kPamSessionOpened;
    } else if (ConsumePrefix(&rest, "session closed for user ")) {
      m.kind = MsgKind::kPamSessionClosed;
    } else {
      return m;
    }
    m.user = PamUser(rest);
    if (m.user.empty()) return Malformed("pam session line without a user");
    return m;
  }
  if (ConsumePrefix(&rest, "Received disconnect from ") ||
      ConsumePrefix(&rest, "Connection closed by ") ||
      ConsumePrefix(&rest, "Closing connection to ")) {
    SshdMessage m = Parsed(MsgKind::kDisconnect);
    ParseDisconnectAddress(rest, &m);
    return m;
  }
  if (ConsumePrefix(&rest, "Disconnected from ")) {
    SshdMessage m = Parsed(MsgKind::kDisconnect);
    if (ConsumePrefix(&rest, "user ")) {
      // "Disconnected from user U IP port P": U and IP from the right.
      size_t port_pos = rest.rfind(" port ");
      std::string_view head = rest.substr(0, port_pos);
      size_t sp = head.rfind(' ');
      if (port_pos == std::string_view::npos || sp == std::string_view::npos) {
        return Malformed("sshd Disconnected line without 'U IP port N'");
      }
      m.user = head.substr(0, sp);
      ParseDisconnectAddress(rest.substr(sp + 1), &m);
    } else {
      ParseDisconnectAddress(rest, &m);
    }
    return m;
  }
  return ParseSftp(text);
}

SshdMessage ParsePam(std::string_view text) {
  // Old Red Hat: tag "sshd(pam_unix)", message "session opened for user U by
  // (uid=N)". Its "authentication failure" lines repeat what sshd logs as
  // "Failed password" and are not counted twice.
  SshdMessage m;
  std::string_view rest = text;
  if (ConsumePrefix(&rest, "session opened for user ")) {
    m.kind = MsgKind::kPamSessionOpened;
  } else if (ConsumePrefix(&rest, "session closed for user ")) {
    m.kind = MsgKind::kPamSessionClosed;
  } else {
    return m;
  }
  m.user = PamUser(rest);
  if (m.user.empty()) return Malformed("pam session line without a user");
  return m;
}

SshdMessage ParseOne(SshdProgram program, std::string_view text) {
  switch (program) {
    case SshdProgram::kSshd: return ParseSshd(text);
    case SshdProgram::kSshdPam: return ParsePam(text);
    case SshdProgram::kSftp: return ParseSftp(text);
    case SshdProgram::kOther: break;
  }
  return SshdMessage{};
}

uint32_t ClampRepeat(uint64_t n) {
  return static_cast<uint32_t>(std::min<uint64_t>(n, kMaxRepeat));
}

}  // namespace

SshdProgram ClassifyProgram(std::string_view program) {
  size_t slash = program.rfind('/');
  if (slash != std::string_view::npos) program.remove_prefix(slash + 1);
  if (program.empty() || (program[0] != 's' && program[0] != 'i')) return SshdProgram::kOther;
  if (program == "sshd" || program == "sshd-session" || program == "sshd-auth") {
    return SshdProgram::kSshd;
  }
  if (program == "sftp-server" || program == "internal-sftp") return SshdProgram::kSftp;
  if (program == "sshd(pam_unix)") return SshdProgram::kSshdPam;
  return SshdProgram::kOther;
}

SshdMessage ParseSshdMessage(SshdProgram program, std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  std::string_view rest = text;
  if (ConsumePrefix(&rest, "last message repeated ")) {
    // sysklogd; the line has no program tag.
    uint64_t n = 0;
    if (!ConsumeDigits(&rest, &n) || !HasPrefix(rest, " time")) return SshdMessage{};
    SshdMessage m = Parsed(MsgKind::kRepeatLast);
    m.repeat = ClampRepeat(n);
    return m;
  }
  if (program == SshdProgram::kOther) return SshdMessage{};
  if (ConsumePrefix(&rest, "message repeated ")) {
    // rsyslog: "message repeated N times: [ <message>]".
    uint64_t n = 0;
    if (!ConsumeDigits(&rest, &n) || !ConsumePrefix(&rest, " times: [") ||
        !rest.ends_with(']')) {
      return SshdMessage{};
    }
    rest.remove_suffix(1);
    ConsumePrefix(&rest, " ");
    SshdMessage m = ParseOne(program, rest);
    switch (m.kind) {
      case MsgKind::kLoginFailed:
      case MsgKind::kSftpTransfer:
      case MsgKind::kSftpList:
      case MsgKind::kSftpRemove:
        m.repeat = ClampRepeat(n);
        return m;
      case MsgKind::kMalformed:
        return m;
      default:
        // Session state changes happened with the first copy.
        return SshdMessage{};
    }
  }
  return ParseOne(program, text);
}

// ---------------------------------------------------------------------------
// SessionTable

SessionTable::SessionTable(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

uint64_t SessionTable::ProcessKey(std::string_view host, uint32_t pid) {
  uint64_t h = absl::HashOf(absl::string_view(host.data(), host.size()), pid);
  return h == 0 ? 1 : h;
}

uint64_t SessionTable::UserKey(std::string_view host, std::string_view user) {
  uint64_t h = absl::HashOf(absl::string_view(host.data(), host.size()),
                            absl::string_view(user.data(), user.size()));
  return h == 0 ? 1 : h;
}

uint64_t SessionTable::AddressKey(std::string_view host, const IpAddress& ip, uint16_t port) {
  uint64_t h = absl::HashOf(absl::string_view(host.data(), host.size()), ip.Hash(), port);
  return h == 0 ? 1 : h;
}

SessionTable::Session* SessionTable::Resolve(SlotRef ref) {
  if (ref.generation == 0 || ref.index >= slots_.size()) return nullptr;
  Session& s = slots_[ref.index];
  return s.generation == ref.generation ? &s : nullptr;
}

SessionTable::Session* SessionTable::Find(std::string_view host, uint32_t pid) {
  auto it = index_.find(ProcessKey(host, pid));
  if (it == index_.end()) return nullptr;
  Session& s = slots_[it->second];
  if (s.pid != pid || s.host != host) return nullptr;  // hash collision
  return &s;
}

uint32_t SessionTable::TakeSlot() {
  if (slots_.size() < capacity_) {
    uint32_t idx = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back().index = idx;
    slot_keys_.push_back(0);
    return idx;
  }
  // Reuse an ended session near the clock hand; else the one under it.
  uint32_t chosen = hand_;
  for (uint32_t i = 0; i < 8; ++i) {
    uint32_t idx = static_cast<uint32_t>((hand_ + i) % capacity_);
    if (slots_[idx].ended) {
      chosen = idx;
      break;
    }
  }
  hand_ = static_cast<uint32_t>((chosen + 1) % capacity_);
  uint64_t old_key = slot_keys_[chosen];
  if (old_key != 0) {
    auto it = index_.find(old_key);
    if (it != index_.end() && it->second == chosen) index_.erase(it);
    slot_keys_[chosen] = 0;
  }
  return chosen;
}

void SessionTable::Unindex(Session& s) {
  const SlotRef self = RefOf(s);
  if (s.user_key != 0) {
    auto it = user_head_.find(s.user_key);
    if (it != user_head_.end() && it->second.index == self.index &&
        it->second.generation == self.generation) {
      // The user's older logins stay findable.
      if (Resolve(s.prev_login) != nullptr) {
        it->second = s.prev_login;
      } else {
        user_head_.erase(it);
      }
    }
  }
  if (s.address_key != 0) {
    auto it = by_address_.find(s.address_key);
    if (it != by_address_.end() && it->second.index == self.index &&
        it->second.generation == self.generation) {
      by_address_.erase(it);
    }
  }
}

SessionTable::Session& SessionTable::Insert(std::string_view host, uint32_t pid) {
  uint64_t key = ProcessKey(host, pid);
  uint32_t idx;
  auto it = index_.find(key);
  if (it != index_.end()) {
    idx = it->second;
  } else {
    idx = TakeSlot();
    index_[key] = idx;
  }
  slot_keys_[idx] = key;
  Session& s = slots_[idx];
  Unindex(s);
  s.host.assign(host);  // keeps capacity: no allocation once warm
  s.pid = pid;
  s.generation = next_generation_++;
  s.credential.clear();
  s.session_id.clear();
  s.ip_text.clear();
  s.ip = IpAddress();
  s.port = 0;
  s.is_login = false;
  s.claimed = false;
  s.ended = false;
  s.login = SlotRef{};
  s.user_key = 0;
  s.address_key = 0;
  s.prev_login = SlotRef{};
  return s;
}

void SessionTable::RegisterLogin(Session& s) {
  s.is_login = true;
  s.user_key = UserKey(s.host, s.credential);
  SlotRef& head = user_head_[s.user_key];
  s.prev_login = head;
  head = RefOf(s);
  if (s.ip.is_valid() && s.port != 0) {
    s.address_key = AddressKey(s.host, s.ip, s.port);
    by_address_[s.address_key] = RefOf(s);
  }
}

SessionTable::Session* SessionTable::FindLogin(std::string_view host, std::string_view user,
                                               const IpAddress& ip, bool allow_claimed) {
  auto it = user_head_.find(UserKey(host, user));
  if (it == user_head_.end()) return nullptr;
  SlotRef ref = it->second;
  for (int n = 0; n < kMaxLinkCandidates; ++n) {
    Session* s = Resolve(ref);
    if (s == nullptr) break;  // the older logins were evicted
    // Newest first: the first that qualifies is the most recent.
    if (!s->ended && (allow_claimed || !s->claimed) && (!ip.is_valid() || s->ip == ip) &&
        s->host == host && s->credential == user) {
      return s;
    }
    ref = s->prev_login;
  }
  return nullptr;
}

SessionTable::Session* SessionTable::FindLoginByAddress(std::string_view host,
                                                        const IpAddress& ip, uint16_t port) {
  auto it = by_address_.find(AddressKey(host, ip, port));
  if (it == by_address_.end()) return nullptr;
  Session* s = Resolve(it->second);
  if (s == nullptr || s->port != port || !(s->ip == ip) || s->host != host) return nullptr;
  return s;
}

SessionTable::Session* SessionTable::LoginOf(Session& s) {
  if (s.login.generation == 0) return &s;
  return Resolve(s.login);  // null when evicted
}

void SessionTable::Link(Session& s, Session& login) {
  s.credential.assign(login.credential);
  s.session_id.assign(login.session_id);
  s.ip_text.assign(login.ip_text);
  s.ip = login.ip;
  s.port = login.port;
  s.login = RefOf(login);
  login.claimed = true;
}

// ---------------------------------------------------------------------------
// SshdEventDecoder

SshdEventDecoder::SshdEventDecoder(std::string_view format_name, const DecodeLimits& limits,
                                   size_t max_sessions)
    : format_name_(format_name), limits_(limits), sessions_(max_sessions) {}

namespace {

void AssignSessionId(std::string_view host, uint32_t pid, std::string* out) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), pid);
  (void)ec;
  out->assign(host);
  out->push_back(':');
  out->append(buf, end);
}

bool Keepable(std::string_view host, std::string_view user) {
  return host.size() <= SessionTable::kMaxKeptString &&
         user.size() <= SessionTable::kMaxKeptString;
}

}  // namespace

Event& SshdEventDecoder::NewEvent(const LogRecord& rec, const RecordContext& ctx,
                                  EventBatch& out) {
  Event& e = out.Add();
  e.time_ns = rec.time_ns;
  e.format = format_name_;
  e.source = ctx.source;
  e.source_offset = ctx.offset;
  e.host = rec.host;
  return e;
}

std::string_view SshdEventDecoder::ProcessSessionId(const LogRecord& rec, Arena& arena) {
  if (!rec.has_pid) return {};
  char* p = arena.Allocate(rec.host.size() + 1 + 10);
  if (!rec.host.empty()) std::memcpy(p, rec.host.data(), rec.host.size());
  char* q = p + rec.host.size();
  *q++ = ':';
  auto [end, ec] = std::to_chars(q, q + 10, rec.pid);
  (void)ec;
  return {p, static_cast<size_t>(end - p)};
}

void SshdEventDecoder::FillFromSession(const SessionTable::Session& s, Event& e, Arena& arena) {
  e.credential = arena.Copy(s.credential);
  e.session = arena.Copy(s.session_id);
  if (s.ip.is_valid()) {
    e.src_ip = s.ip;
    e.src_ip_text = arena.Copy(s.ip_text);
  }
  e.src_port = s.port;
}

DecodeResult SshdEventDecoder::Decode(const LogRecord& rec, const RecordContext& ctx,
                                      EventBatch& out) {
  SshdProgram program = ClassifyProgram(rec.program);
  SshdMessage m = ParseSshdMessage(program, rec.message);
  if (m.kind != SshdMessageKind::kRepeatLast && m.kind != SshdMessageKind::kLoginFailed &&
      last_failure_.valid && last_failure_.host == rec.host) {
    last_failure_.valid = false;  // "last message" now means another line
  }
  if (m.user.size() > limits_.max_field_bytes || m.path.size() > limits_.max_field_bytes) {
    return {RecordCode::kRejectFieldTooLarge, "sshd/sftp field longer than max_field_bytes"};
  }
  switch (m.kind) {
    case SshdMessageKind::kIrrelevant: return {RecordCode::kSkippedIrrelevant, {}};
    case SshdMessageKind::kMalformed: return {RecordCode::kRejectUnparseable, m.error};
    case SshdMessageKind::kLoginAccepted: return Accepted(rec, m, ctx, out);
    case SshdMessageKind::kLoginFailed: return Failed(rec, m, ctx, out);
    case SshdMessageKind::kPamSessionOpened: return PamOpened(rec, m, ctx, out);
    case SshdMessageKind::kSftpSessionOpened: return SftpOpened(rec, m);
    case SshdMessageKind::kDisconnect:
    case SshdMessageKind::kPamSessionClosed:
    case SshdMessageKind::kSftpSessionClosed: return Logout(rec, m, ctx, out);
    case SshdMessageKind::kSftpTransfer:
    case SshdMessageKind::kSftpList:
    case SshdMessageKind::kSftpRemove: return SftpAction(rec, m, ctx, out);
    case SshdMessageKind::kRepeatLast: return RepeatLast(rec, m, ctx, out);
  }
  return {RecordCode::kSkippedIrrelevant, {}};
}

DecodeResult SshdEventDecoder::Accepted(const LogRecord& rec, const SshdMessage& m,
                                        const RecordContext& ctx, EventBatch& out) {
  Event& e = NewEvent(rec, ctx, out);
  e.kind = Kind::kAuth;
  e.action = Action::kLogin;
  e.outcome = Outcome::kSuccess;
  e.credential = m.user;
  e.src_ip = m.ip;
  e.src_ip_text = m.ip_text;
  e.src_port = m.port;
  e.session = ProcessSessionId(rec, out.arena());
  if (rec.has_pid && Keepable(rec.host, m.user)) {
    SessionTable::Session& s = sessions_.Insert(rec.host, rec.pid);
    s.credential.assign(m.user);
    AssignSessionId(rec.host, rec.pid, &s.session_id);
    s.ip_text.assign(m.ip_text);
    s.ip = m.ip;
    s.port = m.port;
    sessions_.RegisterLogin(s);
  }
  return {RecordCode::kOk, {}};
}

DecodeResult SshdEventDecoder::Failed(const LogRecord& rec, const SshdMessage& m,
                                      const RecordContext& ctx, EventBatch& out) {
  Event& e = NewEvent(rec, ctx, out);
  e.kind = Kind::kAuth;
  e.action = Action::kLogin;
  e.outcome = Outcome::kFailure;
  e.credential = m.user;
  e.src_ip = m.ip;
  e.src_ip_text = m.ip_text;
  e.src_port = m.port;
  e.session = ProcessSessionId(rec, out.arena());
  const Event first = e;  // Add() below may move the batch's storage
  for (uint32_t i = 1; i < m.repeat; ++i) out.Add() = first;
  RememberFailure(rec, m);
  return {RecordCode::kOk, {}};
}

void SshdEventDecoder::RememberFailure(const LogRecord& rec, const SshdMessage& m) {
  if (!Keepable(rec.host, m.user)) {
    last_failure_.valid = false;
    return;
  }
  last_failure_.valid = true;
  last_failure_.host.assign(rec.host);
  last_failure_.user.assign(m.user);
  last_failure_.ip_text.assign(m.ip_text);
  last_failure_.ip = m.ip;
  last_failure_.port = m.port;
  if (rec.has_pid) {
    AssignSessionId(rec.host, rec.pid, &last_failure_.session_id);
  } else {
    last_failure_.session_id.clear();
  }
}

DecodeResult SshdEventDecoder::RepeatLast(const LogRecord& rec, const SshdMessage& m,
                                          const RecordContext& ctx, EventBatch& out) {
  if (!last_failure_.valid || last_failure_.host != rec.host) {
    return {RecordCode::kSkippedIrrelevant, {}};
  }
  Arena& arena = out.arena();
  Event& e = NewEvent(rec, ctx, out);
  e.kind = Kind::kAuth;
  e.action = Action::kLogin;
  e.outcome = Outcome::kFailure;
  e.credential = arena.Copy(last_failure_.user);
  e.src_ip = last_failure_.ip;
  e.src_ip_text = arena.Copy(last_failure_.ip_text);
  e.src_port = last_failure_.port;
  e.session = arena.Copy(last_failure_.session_id);
  const Event first = e;
  for (uint32_t i = 1; i < m.repeat; ++i) out.Add() = first;
  return {RecordCode::kOk, {}};
}

DecodeResult SshdEventDecoder::PamOpened(const LogRecord& rec, const SshdMessage& m,
                                         const RecordContext& ctx, EventBatch& out) {
  if (!rec.has_pid) return {RecordCode::kSkippedIrrelevant, {}};
  SessionTable::Session* existing = sessions_.Find(rec.host, rec.pid);
  if (existing != nullptr && !existing->ended) {
    return {RecordCode::kSkippedIrrelevant, {}};  // the Accepted line's own process
  }
  SessionTable::Session* s = nullptr;
  if (Keepable(rec.host, m.user)) {
    // Insert before searching: taking a slot may evict, never the login found.
    s = &sessions_.Insert(rec.host, rec.pid);
    // Older sshd opens the pam session in a child process: link it to the
    // login by host and user.
    SessionTable::Session* login = sessions_.FindLogin(rec.host, m.user, IpAddress(), false);
    if (login != nullptr) {
      sessions_.Link(*s, *login);
      return {RecordCode::kSkippedIrrelevant, {}};
    }
    s->credential.assign(m.user);
    AssignSessionId(rec.host, rec.pid, &s->session_id);
    // Not registered: without an Accepted line this login has no address to
    // check, and other processes of the user must not link to it.
    s->is_login = true;
  }
  // No "Accepted" line was seen (it went to another file, or the host logs
  // only pam lines): this line is the only trace of the login.
  Event& e = NewEvent(rec, ctx, out);
  e.kind = Kind::kAuth;
  e.action = Action::kLogin;
  e.outcome = Outcome::kSuccess;
  e.credential = m.user;
  e.session = ProcessSessionId(rec, out.arena());
  return {RecordCode::kOk, {}};
}

DecodeResult SshdEventDecoder::SftpOpened(const LogRecord& rec, const SshdMessage& m) {
  if (!rec.has_pid || !Keepable(rec.host, m.user)) return {RecordCode::kSkippedIrrelevant, {}};
  SessionTable::Session* existing = sessions_.Find(rec.host, rec.pid);
  if (existing != nullptr && !existing->ended) {
    // Linked already: by a pam line of the same process, or the sftp server
    // runs in the login's own process.
    return {RecordCode::kSkippedIrrelevant, {}};
  }
  SessionTable::Session& s = sessions_.Insert(rec.host, rec.pid);
  SessionTable::Session* login = sessions_.FindLogin(rec.host, m.user, m.ip, false);
  if (login == nullptr) login = sessions_.FindLogin(rec.host, m.user, m.ip, true);
  if (login != nullptr) {
    sessions_.Link(s, *login);
  } else {
    // No login seen: the sftp line's own user and address.
    s.credential.assign(m.user);
    AssignSessionId(rec.host, rec.pid, &s.session_id);
    s.ip_text.assign(m.ip_text);
    s.ip = m.ip;
  }
  return {RecordCode::kSkippedIrrelevant, {}};
}

DecodeResult SshdEventDecoder::Logout(const LogRecord& rec, const SshdMessage& m,
                                      const RecordContext& ctx, EventBatch& out) {
  SessionTable::Session* s = rec.has_pid ? sessions_.Find(rec.host, rec.pid) : nullptr;
  SessionTable::Session* target = nullptr;
  if (s != nullptr) {
    target = sessions_.LoginOf(*s);
    if (target == nullptr) target = s;
  } else if (m.ip.is_valid() && m.port != 0) {
    // The post-login child logs "Disconnected from user U IP port P" under
    // its own pid: the address and port name the login.
    target = sessions_.FindLoginByAddress(rec.host, m.ip, m.port);
  }
  if (target != nullptr) {
    bool ended = target->ended || (s != nullptr && s->ended);
    target->ended = true;
    if (s != nullptr) s->ended = true;
    if (ended) return {RecordCode::kSkippedIrrelevant, {}};
    Event& e = NewEvent(rec, ctx, out);
    e.kind = Kind::kAuth;
    e.action = Action::kLogout;
    FillFromSession(*target, e, out.arena());
    return {RecordCode::kOk, {}};
  }
  // A session we never saw open. Lines that name the user still end it;
  // the others (and sftp's own close line, which sshd's lines follow) do not.
  if (m.user.empty() || m.kind == SshdMessageKind::kSftpSessionClosed) {
    return {RecordCode::kSkippedIrrelevant, {}};
  }
  Event& e = NewEvent(rec, ctx, out);
  e.kind = Kind::kAuth;
  e.action = Action::kLogout;
  e.credential = m.user;
  if (m.ip.is_valid()) {
    e.src_ip = m.ip;
    e.src_ip_text = m.ip_text;
  }
  e.src_port = m.port;
  e.session = ProcessSessionId(rec, out.arena());
  if (rec.has_pid && Keepable(rec.host, m.user)) {
    // Remember the end, so the process's next logout line is not a second one.
    SessionTable::Session& t = sessions_.Insert(rec.host, rec.pid);
    t.credential.assign(m.user);
    AssignSessionId(rec.host, rec.pid, &t.session_id);
    t.ended = true;
  }
  return {RecordCode::kOk, {}};
}

DecodeResult SshdEventDecoder::SftpAction(const LogRecord& rec, const SshdMessage& m,
                                          const RecordContext& ctx, EventBatch& out) {
  struct Planned {
    Action action;
    int64_t bytes;
  } planned[2];
  int n = 0;
  switch (m.kind) {
    case SshdMessageKind::kSftpTransfer:
      if (m.bytes_read > 0) planned[n++] = {Action::kRead, m.bytes_read};
      if (m.bytes_written > 0) planned[n++] = {Action::kWrite, m.bytes_written};
      break;
    case SshdMessageKind::kSftpList: planned[n++] = {Action::kList, -1}; break;
    case SshdMessageKind::kSftpRemove: planned[n++] = {Action::kDelete, -1}; break;
    default: break;
  }
  if (n == 0) return {RecordCode::kSkippedIrrelevant, {}};  // opened and closed, no data

  SessionTable::Session* s = rec.has_pid ? sessions_.Find(rec.host, rec.pid) : nullptr;
  Arena& arena = out.arena();
  size_t first = out.size();
  for (int i = 0; i < n; ++i) {
    Event& e = NewEvent(rec, ctx, out);
    e.kind = Kind::kAccess;
    e.action = planned[i].action;
    e.outcome = Outcome::kSuccess;
    e.object = m.path;
    e.bytes = planned[i].bytes;
    if (s != nullptr) {
      FillFromSession(*s, e, arena);
    } else {
      // The session began before the log did: the data moved all the same.
      e.session = ProcessSessionId(rec, arena);
    }
  }
  for (uint32_t r = 1; r < m.repeat; ++r) {
    for (int i = 0; i < n; ++i) {
      const Event copy = out[first + static_cast<size_t>(i)];
      out.Add() = copy;
    }
  }
  return {RecordCode::kOk, {}};
}

}  // namespace credwatch::decode
