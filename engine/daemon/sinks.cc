#include "daemon/sinks.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/strings.h"

#ifndef CREDWATCH_VERSION
#define CREDWATCH_VERSION "dev"
#endif

namespace credwatch::daemon {
namespace {

// Index just past the line starting at `pos` (its '\n' included); the end of
// `s` for an unterminated last line.
size_t LineEnd(std::string_view s, size_t pos) {
  size_t nl = s.find('\n', pos);
  return nl == std::string_view::npos ? s.size() : nl + 1;
}

// End of the longest run of whole lines from `pos` that fits in `max_bytes`;
// `pos` when not even the first line fits.
size_t CutLines(std::string_view s, size_t pos, uint64_t max_bytes) {
  size_t end = pos;
  while (end < s.size()) {
    size_t next = LineEnd(s, end);
    if (next - pos > max_bytes) break;
    end = next;
  }
  return end;
}

// write(2) until done; 0 or the errno. `*written` counts what got out.
int WriteFully(int fd, std::string_view bytes, size_t* written) {
  *written = 0;
  while (*written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + *written, bytes.size() - *written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    *written += static_cast<size_t>(n);
  }
  return 0;
}

std::string ErrnoText(int err) { return std::strerror(err); }

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// fsync of a directory so renames and creations in it survive power loss.
// Best effort: some file systems refuse it, and the data itself is synced.
void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// "host:port", "[v6]:port" or "host" (default_port).
absl::Status ParseHostPort(std::string_view authority, std::string_view default_port, std::string* host,
                           std::string* port) {
  std::string_view h = authority;
  std::string_view p = default_port;
  if (absl::StartsWith(Sv(authority), "[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("unclosed '[' in the address");
    h = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return absl::InvalidArgumentError("expected ':port' after ']'");
      p = rest.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    if (authority.find(':') != colon) {
      return absl::InvalidArgumentError("an IPv6 address needs brackets: [::1]:514");
    }
    h = authority.substr(0, colon);
    p = authority.substr(colon + 1);
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(Sv(p), &port_number) || port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port '", Sv(p), "'"));
  }
  if (h.empty()) return absl::InvalidArgumentError("no host");
  for (char c : h) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '/') {
      return absl::InvalidArgumentError("the host has a space, control character or '/'");
    }
  }
  *host = std::string(h);
  *port = std::to_string(port_number);
  return absl::OkStatus();
}

// RFC 5424 header fields are PRINTUSASCII (33..126) and not empty.
std::string HeaderField(std::string_view s, size_t max_len) {
  std::string out;
  for (char c : s.substr(0, max_len)) out += (c >= 33 && c <= 126) ? c : '_';
  return out.empty() ? "-" : out;
}

constexpr size_t kMaxDatagramMessage = 65000;

}  // namespace

// ---------------------------------------------------------------- FileSink

absl::StatusOr<std::unique_ptr<FileSink>> FileSink::Create(Options options) {
  if (options.path.empty()) return absl::InvalidArgumentError("file sink: path is empty");
  if (options.keep < 0) {
    return absl::InvalidArgumentError(absl::StrCat("file sink ", options.path, ": keep must be >= 0"));
  }
  std::string name = absl::StrCat("file ", options.path);
  std::unique_ptr<FileSink> sink(new FileSink(std::move(options), std::move(name)));
  if (absl::Status s = sink->Open(); !s.ok()) return s;
  return sink;
}

FileSink::~FileSink() { Close(); }

void FileSink::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status FileSink::Open() {
  const std::string& path = options_.path;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    const int err = errno;
    const std::string dir = ParentDir(path);
    if (err == ENOENT && ::access(dir.c_str(), F_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(name_, ": directory ", dir,
                       " does not exist; create it, writable by the daemon's user (the systemd unit's "
                       "LogsDirectory= makes /var/log/credwatch) — credwatch does not create it"));
    }
    if (err == EACCES || err == EPERM || err == EROFS) {
      return absl::PermissionDeniedError(absl::StrCat(name_, ": cannot open for writing: ", ErrnoText(err)));
    }
    return absl::ErrnoToStatus(err, absl::StrCat(name_, ": cannot open"));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat(name_, ": cannot stat"));
  }
  Close();
  fd_ = fd;
  size_ = static_cast<uint64_t>(st.st_size);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  regular_ = S_ISREG(st.st_mode);
  if (options_.sync && regular_) SyncDir(ParentDir(path));
  return absl::OkStatus();
}

absl::Status FileSink::ReopenIfMoved() {
  if (fd_ >= 0) {
    struct stat st;
    if (::stat(options_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
      return absl::OkStatus();
    }
  }
  return Open();
}

absl::Status FileSink::Rotate() {
  const std::string& path = options_.path;
  auto numbered = [&](int i) { return absl::StrCat(path, ".", i); };
  auto remove = [&](const std::string& p) -> absl::Status {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat(name_, ": rotating: cannot delete ", p));
    }
    return absl::OkStatus();
  };
  auto move = [&](const std::string& from, const std::string& to) -> absl::Status {
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat(name_, ": rotating: cannot rename ", from, " to ", to));
    }
    return absl::OkStatus();
  };
  if (options_.keep == 0) {
    if (absl::Status s = remove(path); !s.ok()) return s;
  } else {
    if (absl::Status s = remove(numbered(options_.keep)); !s.ok()) return s;
    for (int i = options_.keep - 1; i >= 1; --i) {
      if (absl::Status s = move(numbered(i), numbered(i + 1)); !s.ok()) return s;
    }
    if (absl::Status s = move(path, numbered(1)); !s.ok()) return s;
  }
  Close();
  return Open();  // on failure fd_ stays -1 and the next Deliver opens again
}

absl::Status FileSink::WriteAll(std::string_view bytes) {
  size_t written = 0;
  const int err = WriteFully(fd_, bytes, &written);
  if (err == 0) return absl::OkStatus();
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(absl::StrCat(
        name_, ": disk full (", ErrnoText(err),
        "); nothing of this write was kept, the alerts stay in the outbox and are written once space is freed"));
  }
  return absl::ErrnoToStatus(err, absl::StrCat(name_, ": write failed"));
}

absl::Status FileSink::Sync() {
  if (::fdatasync(fd_) == 0) return absl::OkStatus();
  const int err = errno;
  if (err == EINVAL || err == EROFS) return absl::OkStatus();  // a pipe or device: nothing to sync
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(absl::StrCat(
        name_, ": disk full on fdatasync (", ErrnoText(err),
        "); the alerts stay in the outbox and are written once space is freed"));
  }
  return absl::ErrnoToStatus(err, absl::StrCat(name_, ": fdatasync failed"));
}

absl::Status FileSink::Deliver(std::string_view lines) {
  size_t pos = resume_.Skip(lines);
  if (absl::Status s = ReopenIfMoved(); !s.ok()) {
    resume_.Remember(lines, pos);
    return s;
  }
  // What this Deliver wrote to the open file starts at seg_pos in `lines`
  // and at seg_size in the file. On failure it is cut off again, so the file
  // never holds a partial or unconfirmed write; earlier files are synced.
  size_t seg_pos = pos;
  uint64_t seg_size = size_;
  auto fail = [&](absl::Status s) {
    if (fd_ >= 0 && regular_) {
      struct stat st;
      if (::ftruncate(fd_, static_cast<off_t>(seg_size)) == 0) {
        size_ = seg_size;
      } else if (::fstat(fd_, &st) == 0) {
        size_ = static_cast<uint64_t>(st.st_size);  // keep rotating by the real size
      }
    }
    resume_.Remember(lines, seg_pos);
    return s;
  };
  while (pos < lines.size()) {
    size_t end = lines.size();
    if (options_.max_size > 0 && regular_) {
      const uint64_t room = size_ < options_.max_size ? options_.max_size - size_ : 0;
      end = CutLines(lines, pos, room);
      if (end == pos) {
        if (size_ > 0) {
          if (options_.sync) {
            if (absl::Status s = Sync(); !s.ok()) return fail(std::move(s));
          }
          seg_pos = pos;
          if (absl::Status s = Rotate(); !s.ok()) {
            resume_.Remember(lines, pos);
            return s;
          }
          seg_size = size_;
          continue;
        }
        end = LineEnd(lines, pos);  // longer than max_size: alone in a fresh file
      }
    }
    if (absl::Status s = WriteAll(lines.substr(pos, end - pos)); !s.ok()) return fail(std::move(s));
    size_ += end - pos;
    pos = end;
  }
  if (options_.sync) {
    if (absl::Status s = Sync(); !s.ok()) return fail(std::move(s));
  }
  resume_.Clear();
  return absl::OkStatus();
}

// -------------------------------------------------------------- StdoutSink

absl::Status StdoutSink::Deliver(std::string_view lines) {
  const size_t pos = resume_.Skip(lines);
  size_t written = 0;
  const int err = WriteFully(fd_, lines.substr(pos), &written);
  if (err != 0) {
    resume_.Remember(lines, pos + written);  // a torn line is completed by the retry
    return absl::ErrnoToStatus(err, "stdout: write failed");
  }
  resume_.Clear();
  return absl::OkStatus();
}

// -------------------------------------------------------------- SyslogSink

absl::StatusOr<int> SyslogFacilityFromName(std::string_view name) {
  static constexpr std::array<std::string_view, 24> kNames = {
      "kern",     "user", "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
      "uucp",     "cron", "authpriv", "ftp",  "ntp",    "security", "console", "solaris-cron",
      "local0",   "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
  const std::string lower = absl::AsciiStrToLower(Sv(name));
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (lower == kNames[i]) return static_cast<int>(i);
  }
  int n = 0;
  if (absl::SimpleAtoi(Sv(name), &n) && n >= 0 && n <= 23) return n;
  return absl::InvalidArgumentError(
      absl::StrCat("syslog facility '", Sv(name), "' is unknown: use a name (authpriv, daemon, local0..local7, ...) "
                   "or a number 0..23"));
}

int SyslogSeverityForAlert(std::string_view line) {
  constexpr std::string_view kKey = "\"severity_id\":";
  constexpr int kNotice = 5;
  size_t at = line.find(kKey);
  if (at == std::string_view::npos) return kNotice;
  size_t i = at + kKey.size();
  while (i < line.size() && line[i] == ' ') ++i;
  if (i >= line.size() || line[i] < '1' || line[i] > '6') return kNotice;
  if (i + 1 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '9') return kNotice;  // 10, 99, ...
  return 7 - (line[i] - '0');  // 1 info -> 6 ... 6 fatal -> 1
}

absl::StatusOr<std::unique_ptr<SyslogSink>> SyslogSink::Create(Options options) {
  std::unique_ptr<SyslogSink> sink(new SyslogSink());
  const std::string& target = options.target;
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "syslog target '", target, "': ", Sv(why), " (use udp://host:port, tcp://host:port or unix:///dev/log)"));
  };
  if (absl::StartsWith(target, "unix://")) {
    sink->transport_ = Transport::kUnix;
    sink->host_ = target.substr(7);
    if (sink->host_.empty() || sink->host_[0] != '/') return bad("needs an absolute socket path");
    if (sink->host_.size() >= sizeof(sockaddr_un{}.sun_path)) return bad("socket path too long");
  } else if (absl::StartsWith(target, "udp://") || absl::StartsWith(target, "tcp://")) {
    sink->transport_ = target[0] == 'u' ? Transport::kUdp : Transport::kTcp;
    std::string_view authority = std::string_view(target).substr(6);
    if (authority.find('/') != std::string_view::npos) return bad("no path allowed after host:port");
    if (absl::Status s = ParseHostPort(authority, "514", &sink->host_, &sink->port_); !s.ok()) {
      return bad(Sv(s.message()));
    }
  } else {
    return bad("unknown scheme");
  }
  if (options.facility < 0 || options.facility > 23) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog target '", target, "': facility ", options.facility, " is not in 0..23"));
  }
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return absl::InvalidArgumentError(absl::StrCat("syslog target '", target, "': timeout must be > 0"));
  }
  std::string hostname = options.hostname;
  if (hostname.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) hostname = buf;
  }
  sink->header_tail_ = absl::StrCat(" ", HeaderField(hostname, 255), " ", HeaderField(options.app_name, 48), " ",
                                    ::getpid(), " - - ");
  sink->name_ = absl::StrCat("syslog ", target);
  sink->options_ = std::move(options);
  return sink;
}

SyslogSink::~SyslogSink() { Close(); }

void SyslogSink::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status SyslogSink::Connect() {
  Close();
  const auto timeout_ms = static_cast<int>(std::min<int64_t>(options_.timeout.count(), 1 << 30));
  int fd = -1;
  if (transport_ == Transport::kUnix) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(name_, ": socket"));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, host_.data(), host_.size());
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(name_, ": cannot connect: ", ErrnoText(err)));
    }
  } else {
    addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = transport_ == Transport::kTcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found); rc != 0) {
      return absl::UnavailableError(absl::StrCat(name_, ": cannot resolve ", host_, ": ", ::gai_strerror(rc)));
    }
    std::string last_error = "no address";
    for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) {
        last_error = ErrnoText(errno);
        continue;
      }
      int err = 0;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
          pollfd p = {fd, POLLOUT, 0};
          int rc;
          do {
            rc = ::poll(&p, 1, timeout_ms);
          } while (rc < 0 && errno == EINTR);
          socklen_t len = sizeof err;
          if (rc == 0) {
            err = ETIMEDOUT;
          } else if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
          }
        }
      }
      if (err != 0) {
        last_error = ErrnoText(err);
        ::close(fd);
        fd = -1;
        continue;
      }
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    ::freeaddrinfo(found);
    if (fd < 0) return absl::UnavailableError(absl::StrCat(name_, ": cannot connect: ", last_error));
  }
  timeval tv = {};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  fd_ = fd;
  return absl::OkStatus();
}

void SyslogSink::AppendMessage(std::string_view line, std::string* out) const {
  // Stamp and header per message; the time is when credwatch sent it (the
  // alert's own `time` is event time, inside the JSON).
  const int pri = options_.facility * 8 + SyslogSeverityForAlert(line);
  absl::StrAppend(out, "<", pri, ">1 ",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()), header_tail_);
  const size_t start = out->size();
  out->append(line);
  for (size_t i = start; i < out->size(); ++i) {
    if ((*out)[i] == '\n' || (*out)[i] == '\r') (*out)[i] = ' ';
  }
}

absl::Status SyslogSink::Deliver(std::string_view lines) {
  size_t pos = resume_.Skip(lines);
  if (fd_ >= 0 && transport_ == Transport::kTcp) {
    // A peer that closed (restarted collector) would swallow the next send.
    pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      char c;
      ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) Close();
    }
  }
  if (fd_ < 0) {
    if (absl::Status s = Connect(); !s.ok()) {
      resume_.Remember(lines, pos);
      return s;
    }
  }
  auto fail = [&](int err, size_t done) {
    Close();
    resume_.Remember(lines, done);
    return absl::UnavailableError(absl::StrCat(
        name_, ": send failed: ", err == EAGAIN || err == EWOULDBLOCK ? "timed out" : ErrnoText(err)));
  };
  std::string out;
  if (transport_ != Transport::kTcp) {
    for (; pos < lines.size(); pos = LineEnd(lines, pos)) {
      std::string_view line = lines.substr(pos, LineEnd(lines, pos) - pos);
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      if (line.empty()) continue;
      out.clear();
      AppendMessage(line, &out);
      if (out.size() > kMaxDatagramMessage) out.resize(kMaxDatagramMessage);
      ssize_t n;
      do {
        n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return fail(errno, pos);
    }
  } else {
    // All messages in one buffer; ends_[k] = (end in `out`, end in `lines`).
    std::vector<std::pair<size_t, size_t>> ends;
    std::string message;
    for (size_t p = pos; p < lines.size();) {
      const size_t next = LineEnd(lines, p);
      std::string_view line = lines.substr(p, next - p);
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      if (!line.empty()) {
        message.clear();
        AppendMessage(line, &message);
        absl::StrAppend(&out, message.size(), " ", message);
      }
      ends.emplace_back(out.size(), next);
      p = next;
    }
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        size_t done = pos;
        for (const auto& [out_end, line_end] : ends) {
          if (out_end > sent) break;
          done = line_end;
        }
        return fail(err, done);
      }
      sent += static_cast<size_t>(n);
    }
  }
  resume_.Clear();
  return absl::OkStatus();
}

// ------------------------------------------------------------- WebhookSink

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

struct WebhookSink::Client {
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  void Close() {
    if (!stream) return;
    beast::error_code ignored;
    stream->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.reset();
    buffer.clear();
  }
};

WebhookSink::WebhookSink() : client_(std::make_unique<Client>()) {}

WebhookSink::~WebhookSink() {
  if (client_) client_->Close();
}

absl::StatusOr<std::unique_ptr<WebhookSink>> WebhookSink::Create(Options options) {
  const std::string& url = options.url;
  if (absl::StartsWith(url, "https://")) {
    return absl::UnimplementedError(absl::StrCat(
        "webhook '", url, "': https is not supported yet (TLS is not built); use http:// to a local relay "
        "that forwards over TLS, or the file or syslog output"));
  }
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook '", url, "': ", Sv(why), " (expected http://host[:port][/path])"));
  };
  if (!absl::StartsWith(url, "http://")) return bad("unknown scheme");
  std::string_view rest = std::string_view(url).substr(7);
  rest = rest.substr(0, rest.find('#'));
  const size_t path_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_at);
  std::string target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (target[0] == '?') target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return bad("credentials in the URL are not supported; use token");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad("the path has a space or control character");
  }
  std::unique_ptr<WebhookSink> sink(new WebhookSink());
  if (absl::Status s = ParseHostPort(authority, "80", &sink->host_, &sink->port_); !s.ok()) return bad(Sv(s.message()));
  if (options.timeout <= std::chrono::milliseconds::zero()) return bad("timeout must be > 0");
  if (options.max_batch_bytes == 0) return bad("max_batch_bytes must be > 0");
  for (char c : options.token) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) return bad("the token has a control character");
  }
  sink->host_header_ = std::string(authority);
  // The query often carries a secret; the name goes to logs and metrics.
  sink->name_ = absl::StrCat("webhook http://", Sv(authority), target.substr(0, target.find('?')));
  sink->target_ = std::move(target);
  sink->options_ = std::move(options);
  return sink;
}

absl::Status WebhookSink::Post(std::string_view body) {
  Client& c = *client_;
  beast::error_code ec;
  auto failed = [&](std::string_view what) {
    c.Close();
    const std::string why = ec == beast::error::timeout
                                ? absl::StrCat("timed out after ", options_.timeout.count(), " ms")
                                : ec.message();
    return absl::UnavailableError(absl::StrCat(name_, ": ", Sv(what), ": ", why));
  };
  if (!c.stream) {
    asio::ip::tcp::resolver resolver(c.ioc);
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return failed(absl::StrCat("cannot resolve ", host_));
    c.stream.emplace(c.ioc);
    c.stream->expires_after(options_.timeout);
    c.ioc.restart();
    c.stream->async_connect(endpoints, [&](beast::error_code e, const asio::ip::tcp::endpoint&) { ec = e; });
    c.ioc.run();
    if (ec) return failed("cannot connect");
  }

  http::request<http::string_body> req{http::verb::post, target_, 11};
  req.set(http::field::host, host_header_);
  req.set(http::field::user_agent, "credwatch/" CREDWATCH_VERSION);
  req.set(http::field::content_type, "application/x-ndjson");
  if (!options_.token.empty()) req.set(http::field::authorization, absl::StrCat("Bearer ", options_.token));
  req.keep_alive(true);
  req.body().assign(body.data(), body.size());
  req.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  c.stream->expires_after(options_.timeout);
  c.ioc.restart();
  http::async_write(*c.stream, req, [&](beast::error_code e, size_t) {
    ec = e;
    if (e) return;
    http::async_read(*c.stream, c.buffer, parser, [&](beast::error_code e2, size_t) { ec = e2; });
  });
  c.ioc.run();
  // A 2xx with a huge body still counts; the rest of it is not read.
  const bool body_too_long = ec == http::error::body_limit && parser.is_header_done();
  if (ec && !body_too_long) return failed("request failed");
  const auto& res = parser.get();
  if (body_too_long || !res.keep_alive()) c.Close();
  const unsigned status = res.result_int();
  if (status >= 200 && status < 300) return absl::OkStatus();
  c.Close();
  std::string excerpt = res.body().substr(0, 200);
  for (char& ch : excerpt) {
    if (static_cast<unsigned char>(ch) < ' ') ch = ' ';
  }
  return absl::UnavailableError(absl::StrCat(name_, ": answered ", status, " ", std::string(res.reason()),
                                             excerpt.empty() ? "" : ": ", excerpt));
}

absl::Status WebhookSink::Deliver(std::string_view lines) {
  size_t pos = resume_.Skip(lines);
  while (pos < lines.size()) {
    size_t end = CutLines(lines, pos, options_.max_batch_bytes);
    if (end == pos) end = LineEnd(lines, pos);  // one line longer than a batch: alone
    if (absl::Status s = Post(lines.substr(pos, end - pos)); !s.ok()) {
      resume_.Remember(lines, pos);
      return s;
    }
    pos = end;
  }
  // One connection per Deliver: an idle keep-alive connection that the
  // server closed meanwhile would fail the next POST for nothing.
  client_->Close();
  resume_.Clear();
  return absl::OkStatus();
}

// ---------------------------------------------------------------- MakeSink

absl::StatusOr<std::unique_ptr<AlertSink>> MakeSink(const SinkConfig& config) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("output '", config.type, "': ", Sv(why)));
  };
  if (config.type == "file") {
    if (config.path.empty()) return bad("needs a path");
    if (config.max_size < 0) return bad("max_size must be >= 0 (0 = never rotate)");
    if (config.keep < 0) return bad("keep must be >= 0");
    FileSink::Options o;
    o.path = config.path;
    o.max_size = static_cast<uint64_t>(config.max_size);
    o.keep = config.keep;
    o.sync = config.sync;
    return FileSink::Create(std::move(o));
  }
  if (config.type == "stdout") return std::make_unique<StdoutSink>();
  if (config.type == "syslog") {
    if (config.target.empty()) return bad("needs a target (udp://host:port, tcp://host:port, unix:///dev/log)");
    SyslogSink::Options o;
    o.target = config.target;
    o.facility = config.facility;
    o.timeout = config.timeout;
    return SyslogSink::Create(std::move(o));
  }
  if (config.type == "webhook") {
    if (config.url.empty()) return bad("needs a url");
    if (config.max_batch_bytes <= 0) return bad("max_batch_bytes must be > 0");
    WebhookSink::Options o;
    o.url = config.url;
    o.token = config.token;
    o.timeout = config.timeout;
    o.max_batch_bytes = static_cast<size_t>(config.max_batch_bytes);
    return WebhookSink::Create(std::move(o));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("output type '", config.type, "' is unknown: use file, stdout, syslog or webhook"));
}

// ---------------------------------------------------------------- Delivery

Delivery::Delivery(std::vector<std::unique_ptr<AlertSink>> sinks, std::vector<uint64_t> start_after,
                   DeliveryOptions options)
    : options_(options) {
  for (size_t i = 0; i < sinks.size(); ++i) {
    auto state = std::make_unique<SinkState>();
    state->sink = std::move(sinks[i]);
    state->delivered_through = i < start_after.size() ? start_after[i] : 0;
    sinks_.push_back(std::move(state));
  }
}

Delivery::~Delivery() { Stop(std::chrono::milliseconds::zero()); }

void Delivery::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (size_t i = 0; i < sinks_.size(); ++i) sinks_[i]->thread = std::thread(&Delivery::Run, this, i);
}

void Delivery::Stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      drain_deadline_ = std::chrono::steady_clock::now() + drain;
    }
    cv_.notify_all();
  }
  for (auto& s : sinks_) {
    if (s->thread.joinable()) s->thread.join();
  }
}

bool Delivery::Offer(uint64_t seq, std::string line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  if (seq <= last_offered_) return true;
  if (sinks_.empty() || seq <= AckedThroughLocked()) {  // every sink has it already
    last_offered_ = seq;
    return true;
  }
  if (line.empty() || line.back() != '\n') line.push_back('\n');
  if (queued_bytes_ > 0 && queued_bytes_ + line.size() > options_.max_queue_bytes) return false;
  queued_bytes_ += line.size();
  queue_.push_back(Entry{seq, std::move(line)});
  last_offered_ = seq;
  cv_.notify_all();
  return true;
}

std::deque<Delivery::Entry>::const_iterator Delivery::FirstAfter(uint64_t seq) const {
  return std::upper_bound(queue_.begin(), queue_.end(), seq,
                          [](uint64_t s, const Entry& e) { return s < e.seq; });
}

uint64_t Delivery::AckedThroughLocked() const {
  if (sinks_.empty()) return last_offered_;  // nobody to wait for
  uint64_t acked = UINT64_MAX;
  for (const auto& s : sinks_) acked = std::min(acked, s->delivered_through);
  return acked;
}

void Delivery::PopAcked() {
  const uint64_t acked = AckedThroughLocked();
  while (!queue_.empty() && queue_.front().seq <= acked) {
    queued_bytes_ -= queue_.front().line.size();
    queue_.pop_front();
  }
}

void Delivery::Run(size_t index) {
  using Clock = std::chrono::steady_clock;
  SinkState& state = *sinks_[index];
  std::mt19937_64 rng(std::random_device{}() + index);
  std::chrono::milliseconds backoff = options_.initial_backoff;
  std::string batch;
  uint64_t batch_last_seq = 0;
  uint64_t batch_lines = 0;
  std::vector<std::string_view> views;

  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (batch_lines == 0) {
      cv_.wait(lock, [&] { return stopping_ || FirstAfter(state.delivered_through) != queue_.end(); });
      auto it = FirstAfter(state.delivered_through);
      if (it == queue_.end()) break;  // stopping and nothing left
      if (stopping_ && Clock::now() >= drain_deadline_) break;
      views.clear();
      size_t bytes = 0;
      for (; it != queue_.end(); ++it) {
        if (!views.empty() && bytes + it->line.size() > options_.max_batch_bytes) break;
        views.push_back(it->line);
        bytes += it->line.size();
        batch_last_seq = it->seq;
      }
      batch_lines = views.size();
      lock.unlock();
      // Safe without mu_: these entries are above this sink's
      // delivered_through, so nobody pops them (see queue_).
      batch.clear();
      batch.reserve(bytes);
      for (std::string_view v : views) batch.append(v);
    } else {
      lock.unlock();  // retry the very same bytes, so the sink can resume
    }

    absl::Status status = state.sink->Deliver(batch);

    lock.lock();
    if (status.ok()) {
      state.delivered_through = batch_last_seq;
      state.delivered_lines += batch_lines;
      batch_lines = 0;
      backoff = options_.initial_backoff;
      PopAcked();
      cv_.notify_all();  // WaitForAcked
      continue;
    }
    ++state.failures;
    state.last_error = status.ToString();
    const int64_t max_ms = std::max<int64_t>(backoff.count(), 1);
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(max_ms / 2, max_ms)(rng));
    backoff = std::min(backoff * 2, std::max(options_.max_backoff, options_.initial_backoff));
    const Clock::time_point wake = Clock::now() + delay;
    bool give_up = false;
    while (true) {
      const Clock::time_point now = Clock::now();
      if (stopping_ && now >= drain_deadline_) {
        give_up = true;
        break;
      }
      if (now >= wake) break;
      cv_.wait_until(lock, stopping_ ? std::min(wake, drain_deadline_) : wake);
    }
    if (give_up) break;
  }
}

uint64_t Delivery::DeliveredThrough(size_t sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  return sinks_[sink]->delivered_through;
}

uint64_t Delivery::AckedThrough() const {
  std::lock_guard<std::mutex> lock(mu_);
  return AckedThroughLocked();
}

bool Delivery::WaitForAcked(uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return AckedThroughLocked() >= seq; });
}

SinkStats Delivery::Stats(size_t sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  const SinkState& s = *sinks_[sink];
  SinkStats out;
  out.name = std::string(s.sink->name());
  out.delivered_lines = s.delivered_lines;
  out.failures = s.failures;
  out.last_error = s.last_error;
  out.delivered_through = s.delivered_through;
  out.backlog_lines = static_cast<uint64_t>(queue_.end() - FirstAfter(s.delivered_through));
  return out;
}

size_t Delivery::queued_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_bytes_;
}

}  // namespace credwatch::daemon
