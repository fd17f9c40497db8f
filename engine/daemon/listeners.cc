#include "daemon/listeners.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace credwatch::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

// ---------------------------------------------------------------------------
// Addresses

namespace {

absl::Status BadAddress(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad listen address \"", Sv(text), "\": ", Sv(why)));
}

absl::StatusOr<ListenAddress> ParseHostPort(std::string_view text, std::string_view shown) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return BadAddress(shown, "missing ']' after the IPv6 address");
    }
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return BadAddress(shown, "missing \":PORT\"");
    }
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return BadAddress(shown, "missing \":PORT\"");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return BadAddress(shown, "an IPv6 address needs brackets, as in [::1]:PORT");
    }
  }
  if (host.empty()) return BadAddress(shown, "missing host (0.0.0.0 listens on all interfaces)");
  uint32_t port_value = 0;
  if (port.empty() || port.size() > 5) {
    return BadAddress(shown, "the port must be a number 0-65535");
  }
  for (char c : port) {
    if (c < '0' || c > '9') return BadAddress(shown, "the port must be a number 0-65535");
    port_value = port_value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port_value > 65535) return BadAddress(shown, "the port must be a number 0-65535");

  ListenAddress out;
  out.port = static_cast<uint16_t>(port_value);
  asio::ip::address ip;
  if (absl::EqualsIgnoreCase(Sv(host), "localhost")) {
    ip = asio::ip::address_v4::loopback();
  } else {
    error_code ec;
    ip = asio::ip::make_address(std::string(host), ec);
    if (ec) {
      return BadAddress(shown, absl::StrCat("\"", Sv(host),
                                            "\" is not an IP address (host names other than "
                                            "localhost are not resolved)"));
    }
  }
  out.ip = ip.to_string();
  out.loopback = ip.is_loopback();
  return out;
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (ip.find(':') != std::string::npos) return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view host_port) {
  return ParseHostPort(host_port, host_port);
}

absl::StatusOr<ListenAddress> ParseSyslogUrl(std::string_view url) {
  bool udp = false;
  std::string_view rest;
  if (absl::StartsWithIgnoreCase(Sv(url), "tcp://")) {
    rest = url.substr(6);
  } else if (absl::StartsWithIgnoreCase(Sv(url), "udp://")) {
    udp = true;
    rest = url.substr(6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad syslog URL \"", Sv(url), "\": expected tcp://HOST:PORT or udp://HOST:PORT"));
  }
  if (rest.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad syslog URL \"", Sv(url), "\": a path is not allowed after HOST:PORT"));
  }
  absl::StatusOr<ListenAddress> address = ParseHostPort(rest, url);
  if (!address.ok()) return address.status();
  address->udp = udp;
  return address;
}

// ---------------------------------------------------------------------------
// SyslogFramer

namespace {
// "LEN SP": more digits than this is not a length but the start of a line.
constexpr size_t kMaxLengthDigits = 10;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

bool SyslogFramer::AppendLine(std::string_view message, std::string* out) {
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  if (message.empty()) return false;
  size_t start = out->size();
  out->append(message);
  std::replace(out->begin() + static_cast<std::ptrdiff_t>(start), out->end(), '\n', ' ');
  out->push_back('\n');
  return true;
}

void SyslogFramer::EmitLine(std::string_view line, std::string* out, Counts* counts) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > max_message_bytes_) {
    ++counts->too_long;
  } else if (AppendLine(line, out)) {
    ++counts->messages;
  }
}

void SyslogFramer::Feed(std::string_view data, std::string* out, Counts* counts) {
  size_t i = 0;
  const size_t n = data.size();
  while (i < n) {
    switch (state_) {
      case State::kStart: {
        char c = data[i];
        if (c == '\n' || c == '\r') {
          ++i;
        } else {
          partial_.clear();
          remaining_ = 0;
          state_ = IsDigit(c) ? State::kLength : State::kLine;
        }
        break;
      }
      case State::kLength: {
        char c = data[i];
        if (IsDigit(c) && partial_.size() < kMaxLengthDigits) {
          remaining_ = remaining_ * 10 + static_cast<uint64_t>(c - '0');
          partial_.push_back(c);
          ++i;
        } else if (c == ' ') {
          ++i;
          partial_.clear();
          if (remaining_ == 0) {
            state_ = State::kStart;
          } else if (remaining_ > max_message_bytes_) {
            ++counts->too_long;
            state_ = State::kSkipOctets;
          } else {
            state_ = State::kOctets;
          }
        } else {
          // Not "LEN SP": an LF-framed line that starts with digits, which
          // stay in partial_.
          state_ = State::kLine;
        }
        break;
      }
      case State::kOctets: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        remaining_ -= take;
        if (partial_.empty() && remaining_ == 0) {
          EmitLine(data.substr(i, take), out, counts);  // whole frame in this read: no copy
        } else {
          partial_.append(data.substr(i, take));
          if (remaining_ == 0) {
            EmitLine(partial_, out, counts);
            partial_.clear();
          }
        }
        i += take;
        if (remaining_ == 0) state_ = State::kStart;
        break;
      }
      case State::kSkipOctets: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        remaining_ -= take;
        i += take;
        if (remaining_ == 0) state_ = State::kStart;
        break;
      }
      case State::kLine: {
        const void* nl = std::memchr(data.data() + i, '\n', n - i);
        size_t end =
            nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - data.data()) : n;
        if (nl != nullptr) {
          if (partial_.empty()) {
            EmitLine(data.substr(i, end - i), out, counts);
          } else {
            partial_.append(data.substr(i, end - i));
            EmitLine(partial_, out, counts);
            partial_.clear();
          }
          i = end + 1;
          state_ = State::kStart;
        } else {
          partial_.append(data.substr(i));
          i = n;
          // One byte over is allowed while it may be the CR of a CR LF.
          if (partial_.size() > max_message_bytes_ &&
              !(partial_.size() == max_message_bytes_ + 1 && partial_.back() == '\r')) {
            ++counts->too_long;
            partial_.clear();
            state_ = State::kSkipLine;
          }
        }
        break;
      }
      case State::kSkipLine: {
        const void* nl = std::memchr(data.data() + i, '\n', n - i);
        if (nl == nullptr) {
          i = n;
        } else {
          i = static_cast<size_t>(static_cast<const char*>(nl) - data.data()) + 1;
          state_ = State::kStart;
        }
        break;
      }
    }
  }
}

void SyslogFramer::Finish(std::string* out, Counts* counts) {
  switch (state_) {
    case State::kLength:
    case State::kLine:
      if (!partial_.empty()) EmitLine(partial_, out, counts);
      break;
    case State::kOctets:
      ++counts->truncated;
      break;
    case State::kStart:
    case State::kSkipOctets:
    case State::kSkipLine:
      break;
  }
  partial_.clear();
  remaining_ = 0;
  state_ = State::kStart;
}

// ---------------------------------------------------------------------------
// Connections and the accept loop, shared by every TCP listener.

class Listener::Core {
 public:
  virtual ~Core() = default;
  virtual void Stop() = 0;
};

Listener::Listener(std::shared_ptr<Core> core, uint16_t port, std::string address)
    : core_(std::move(core)), port_(port), address_(std::move(address)) {}

Listener::~Listener() { Stop(); }

void Listener::Stop() {
  if (core_ != nullptr) core_->Stop();
}

namespace {

constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr auto kLingerTime = std::chrono::seconds(2);

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

class ConnectionSet;

// One accepted connection. Start and Close are called from the acceptor's
// strand and from Stop; implementations post to their own strand.
class Connection {
 public:
  virtual ~Connection();
  virtual void Start() = 0;
  virtual void Close() = 0;

 private:
  friend class ConnectionSet;
  std::shared_ptr<ConnectionSet> set_;  // keeps the set alive for ~Connection
};

// The open connections of one listener, for max_connections and Stop.
// Thread-safe.
class ConnectionSet : public std::enable_shared_from_this<ConnectionSet> {
 public:
  ConnectionSet(size_t max_connections, Gauge* open) : max_(max_connections), open_(open) {}

  // False when the listener stopped or is full; the caller drops `c`.
  bool Add(const std::shared_ptr<Connection>& c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ || connections_.size() >= max_) return false;
    connections_.emplace(c.get(), c);
    c->set_ = shared_from_this();
    open_->Set(static_cast<double>(connections_.size()));
    return true;
  }

  void Remove(Connection* c) {
    std::lock_guard<std::mutex> lock(mu_);
    connections_.erase(c);
    open_->Set(static_cast<double>(connections_.size()));
  }

  // Refuses new connections and closes the open ones.
  void CloseAll() {
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      for (auto& [ptr, weak] : connections_) {
        if (std::shared_ptr<Connection> c = weak.lock()) open.push_back(std::move(c));
      }
    }
    for (auto& c : open) c->Close();
  }

 private:
  const size_t max_;
  Gauge* const open_;
  std::mutex mu_;
  bool stopped_ = false;
  absl::flat_hash_map<Connection*, std::weak_ptr<Connection>> connections_;
};

Connection::~Connection() {
  if (set_ != nullptr) set_->Remove(this);
}

absl::Status BindError(std::string_view what, const ListenAddress& address, const error_code& ec) {
  std::string message =
      absl::StrCat("cannot listen for ", Sv(what), " on ", address.ToString(), ": ", ec.message());
  if (ec == asio::error::address_in_use) {
    return absl::UnavailableError(
        absl::StrCat(message, " (another process listens there; change the port)"));
  }
  if (ec == asio::error::access_denied) {
    return absl::PermissionDeniedError(
        absl::StrCat(message, " (ports below 1024 need CAP_NET_BIND_SERVICE; use a higher port)"));
  }
  if (ec == boost::system::errc::address_not_available) {
    return absl::UnavailableError(
        absl::StrCat(message, " (no interface has this address; check the host)"));
  }
  return absl::UnavailableError(message);
}

// A TCP acceptor on its own strand that hands each connection, on a new
// strand, to a session factory.
class TcpServer final : public Listener::Core, public std::enable_shared_from_this<TcpServer> {
 public:
  using MakeSession = std::function<std::shared_ptr<Connection>(tcp::socket)>;

  static absl::StatusOr<std::shared_ptr<TcpServer>> Bind(asio::io_context& io,
                                                         const ListenAddress& address,
                                                         std::string_view what,
                                                         std::shared_ptr<ConnectionSet> connections,
                                                         Counter* refused) {
    std::shared_ptr<TcpServer> server(new TcpServer(io, std::move(connections), refused));
    error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(address.ip, ec), address.port);
    server->acceptor_.open(endpoint.protocol(), ec);
    if (!ec) server->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) server->acceptor_.bind(endpoint, ec);
    if (!ec) server->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) server->port_ = server->acceptor_.local_endpoint(ec).port();
    if (ec) return BindError(what, address, ec);
    return server;
  }

  void Begin(MakeSession make_session) {
    make_session_ = std::move(make_session);
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Stop() override {
    connections_->CloseAll();
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      self->stopped_ = true;
      error_code ec;
      self->acceptor_.close(ec);
      self->retry_.cancel();
    });
  }

  uint16_t port() const { return port_; }

 private:
  TcpServer(asio::io_context& io, std::shared_ptr<ConnectionSet> connections, Counter* refused)
      : io_(io),
        acceptor_(asio::make_strand(io)),
        retry_(acceptor_.get_executor()),
        connections_(std::move(connections)),
        refused_(refused) {}

  void Accept() {
    if (stopped_) return;
    acceptor_.async_accept(asio::make_strand(io_),
                           [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  void OnAccept(const error_code& ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or buffers: wait a little rather than spin.
      retry_.expires_after(kAcceptRetry);
      retry_.async_wait([self = shared_from_this()](const error_code& wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    std::shared_ptr<Connection> session = make_session_(std::move(socket));
    if (connections_->Add(session)) {
      session->Start();
    } else {
      refused_->Add();  // dropping `session` closes its socket
    }
    Accept();
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  std::shared_ptr<ConnectionSet> connections_;
  Counter* const refused_;
  MakeSession make_session_;
  uint16_t port_ = 0;
  bool stopped_ = false;  // on the acceptor's strand
};

// ---------------------------------------------------------------------------
// Syslog

struct SyslogShared {
  std::string input;
  Format format = Format::kAuto;
  size_t max_message_bytes = 0;
  size_t chunk_bytes = 0;
  std::chrono::milliseconds busy_retry{5};
  IngestQueue* queue = nullptr;
  Counter* bytes = nullptr;
  Counter* messages = nullptr;
  Counter* too_long = nullptr;
  Counter* truncated = nullptr;
  Counter* queue_closed = nullptr;
  Counter* backpressure = nullptr;
  Counter* udp_dropped = nullptr;

  void Count(const SyslogFramer::Counts& c) const {
    if (c.messages != 0) messages->Add(c.messages);
    if (c.too_long != 0) too_long->Add(c.too_long);
    if (c.truncated != 0) truncated->Add(c.truncated);
  }
};

uint64_t CountLines(const std::string& bytes) {
  return static_cast<uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
}

// One syslog TCP connection: read, frame, submit; while the queue is full,
// stop reading and offer the chunk again after busy_retry.
class SyslogTcpSession final : public Connection,
                               public std::enable_shared_from_this<SyslogTcpSession> {
 public:
  SyslogTcpSession(tcp::socket socket, std::shared_ptr<const SyslogShared> shared)
      : socket_(std::move(socket)),
        retry_(socket_.get_executor()),
        shared_(std::move(shared)),
        framer_(shared_->max_message_bytes) {}

  void Start() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      tcp::endpoint peer = self->socket_.remote_endpoint(ec);
      self->peer_ = ec ? std::string("unknown") : EndpointString(peer);
      self->buffer_.resize(kReadBytes);
      self->Read();
    });
  }

  void Close() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->CloseSocket(); });
  }

 private:
  static constexpr size_t kReadBytes = 32 << 10;

  void Read() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    if (n > 0) {
      shared_->bytes->Add(n);
      SyslogFramer::Counts counts;
      framer_.Feed(std::string_view(buffer_.data(), n), &pending_, &counts);
      shared_->Count(counts);
    }
    if (ec || closed_) {
      EndInput();
    } else if (pending_.size() < shared_->chunk_bytes) {
      // More is ready: read it first, for fewer and larger chunks. Otherwise
      // submit now, so a quiet sender's messages don't wait.
      error_code avail_ec;
      if (socket_.available(avail_ec) > 0 && !avail_ec) return Read();
    }
    Submit();
  }

  void EndInput() {
    if (input_done_) return;
    input_done_ = true;
    SyslogFramer::Counts counts;
    framer_.Finish(&pending_, &counts);
    shared_->Count(counts);
  }

  // Offers what is pending, then reads on (or closes at the end of input).
  void Submit() {
    if (!held_.has_value() && !pending_.empty()) {
      held_.emplace();
      held_->input = shared_->input;
      held_->format = shared_->format;
      held_->stream = peer_;
      held_->bytes = std::move(pending_);
      pending_.clear();
    }
    if (held_.has_value()) {
      // TrySubmit moves the chunk only when it accepts it; a refused chunk
      // is still ours to offer again.
      switch (shared_->queue->TrySubmit(std::move(*held_))) {
        case SubmitResult::kAccepted:
          held_.reset();
          break;
        case SubmitResult::kBusy:
          shared_->backpressure->Add();
          retry_.expires_after(shared_->busy_retry);
          retry_.async_wait([self = shared_from_this()](const error_code&) { self->Submit(); });
          return;
        case SubmitResult::kClosed:
          // The daemon is stopping: what this connection holds is lost.
          shared_->queue_closed->Add(CountLines(held_->bytes));
          held_.reset();
          EndInput();
          break;
      }
    }
    if (closed_) EndInput();
    if (input_done_) {
      if (!pending_.empty()) return Submit();  // what Finish added
      return CloseSocket();
    }
    Read();
  }

  void CloseSocket() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer retry_;
  std::shared_ptr<const SyslogShared> shared_;
  SyslogFramer framer_;
  std::string peer_;
  std::vector<char> buffer_;
  std::string pending_;              // complete lines not yet offered
  std::optional<IngestChunk> held_;  // refused by a full queue, offered again
  bool input_done_ = false;          // EOF, error or Stop: nothing more to read
  bool closed_ = false;
};

// The UDP socket: each datagram is one message. A batch of datagrams that
// are ready together becomes one chunk per sender.
class UdpSyslog final : public Listener::Core, public std::enable_shared_from_this<UdpSyslog> {
 public:
  static absl::StatusOr<std::shared_ptr<UdpSyslog>> Bind(
      asio::io_context& io, const ListenAddress& address, int receive_buffer_bytes,
      std::shared_ptr<const SyslogShared> shared) {
    std::shared_ptr<UdpSyslog> server(new UdpSyslog(io, std::move(shared)));
    error_code ec;
    udp::endpoint endpoint(asio::ip::make_address(address.ip, ec), address.port);
    if (!ec) server->socket_.open(endpoint.protocol(), ec);
    if (!ec && receive_buffer_bytes > 0) {
      server->socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes), ec);
    }
    if (!ec) server->socket_.bind(endpoint, ec);
    if (!ec) server->socket_.non_blocking(true, ec);
    if (!ec) server->port_ = server->socket_.local_endpoint(ec).port();
    if (ec) return BindError("syslog", address, ec);
    return server;
  }

  void Begin() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->buffer_.resize(kDatagramBytes);
      self->Receive();
    });
  }

  void Stop() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->closed_ = true;
      error_code ec;
      self->socket_.close(ec);
      self->retry_.cancel();
    });
  }

  uint16_t port() const { return port_; }

 private:
  static constexpr size_t kDatagramBytes = 64 << 10;  // above the largest UDP payload
  static constexpr int kMaxBatchDatagrams = 64;

  struct Batch {
    asio::ip::address from;
    std::string bytes;
    uint64_t messages = 0;
  };

  UdpSyslog(asio::io_context& io, std::shared_ptr<const SyslogShared> shared)
      : socket_(asio::make_strand(io)),
        retry_(socket_.get_executor()),
        shared_(std::move(shared)) {}

  void Receive() {
    socket_.async_receive_from(
        asio::buffer(buffer_), sender_,
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnReceive(ec, n); });
  }

  void OnReceive(const error_code& ec, size_t n) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // E.g. an ICMP error from an earlier send, or no buffers: not the end
      // of the socket. Wait a little so a lasting error doesn't spin.
      retry_.expires_after(kAcceptRetry);
      retry_.async_wait([self = shared_from_this()](const error_code& wait_ec) {
        if (!wait_ec && !self->closed_) self->Receive();
      });
      return;
    }
    Take(n);
    size_t total = n;
    for (int i = 1; i < kMaxBatchDatagrams && total < shared_->chunk_bytes; ++i) {
      error_code more_ec;  // would_block: nothing more is ready
      size_t m = socket_.receive_from(asio::buffer(buffer_), sender_, 0, more_ec);
      if (more_ec) break;
      Take(m);
      total += m;
    }
    SubmitBatches();
    Receive();
  }

  void Take(size_t n) {
    shared_->bytes->Add(n);
    if (n > shared_->max_message_bytes) {
      shared_->too_long->Add();
      return;
    }
    Batch* batch = nullptr;
    for (Batch& b : batches_) {
      if (b.from == sender_.address()) batch = &b;
    }
    if (batch == nullptr) {
      batch = &batches_.emplace_back();
      batch->from = sender_.address();
    }
    if (SyslogFramer::AppendLine(std::string_view(buffer_.data(), n), &batch->bytes)) {
      ++batch->messages;
      shared_->messages->Add();
    }
  }

  void SubmitBatches() {
    for (Batch& b : batches_) {
      if (b.bytes.empty()) continue;
      IngestChunk chunk;
      chunk.input = shared_->input;
      chunk.format = shared_->format;
      chunk.stream = b.from.to_string();
      chunk.bytes = std::move(b.bytes);
      // UDP has no way to slow the sender down: what the queue refuses is lost.
      if (shared_->queue->TrySubmit(std::move(chunk)) != SubmitResult::kAccepted) {
        shared_->udp_dropped->Add(b.messages);
      }
    }
    batches_.clear();
  }

  udp::socket socket_;
  asio::steady_timer retry_;
  std::shared_ptr<const SyslogShared> shared_;
  std::vector<char> buffer_;
  udp::endpoint sender_;
  std::vector<Batch> batches_;
  uint16_t port_ = 0;
  bool closed_ = false;  // on the socket's strand
};

// ---------------------------------------------------------------------------
// HTTP: one session class for ingest and admin, parameterised by a handler.

using HttpRequestHeader = http::request_header<>;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;
// Answers one request. Callable once, from any thread.
using HttpReply = std::function<void(HttpResponse)>;

constexpr size_t kHeaderLimit = 16 << 10;

// What a listener does with requests. Called on connection strands, possibly
// several at once: implementations must be thread-safe.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Before the body is read. A response refuses the request; the connection
  // then closes, since its body was not read.
  virtual std::optional<HttpResponse> Screen(const HttpRequestHeader& header) const = 0;
  // The body is larger than the limit (Content-Length, or chunks so far).
  virtual HttpResponse TooLarge() const = 0;
  // A whole request passed Screen; `reply` answers it, now or later.
  virtual void Handle(HttpRequest&& request, HttpReply reply) const = 0;
};

struct HttpShared {
  std::string label;  // metrics label: "http 127.0.0.1:8088"
  uint64_t body_limit = 0;
  std::chrono::milliseconds timeout{60'000};
  std::unique_ptr<HttpHandler> handler;
  Metrics* metrics = nullptr;

  void CountResponse(unsigned code) const {
    metrics
        ->GetCounter("credwatch_http_responses_total", "HTTP responses sent, by status code.",
                     {{"listener", label}, {"code", std::to_string(code)}})
        ->Add();
  }
};

HttpResponse MakeResponse(http::status status, std::string_view content_type, std::string body) {
  HttpResponse res(status, 11);
  res.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  res.body() = std::move(body);
  return res;
}

std::string_view TargetPath(beast::string_view target) {
  std::string_view t(target.data(), target.size());
  size_t q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<const HttpShared> shared)
      : executor_(socket.get_executor()), stream_(std::move(socket)), shared_(std::move(shared)) {}

  void Start() override {
    asio::post(executor_, [self = shared_from_this()] { self->ReadHeader(); });
  }

  void Close() override {
    asio::post(executor_, [self = shared_from_this()] { self->CloseStream(); });
  }

 private:
  void ReadHeader() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // Screen sees the header before the Content-Length check, so an
    // unauthenticated client learns nothing from 413; the real limit is set
    // before the body is read. (Not boost::none: Beast 1.74 then refuses
    // every Content-Length.)
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    stream_.expires_after(shared_->timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(const error_code& ec) {
    if (ec) return OnReadError(ec);
    const HttpRequestHeader& header = parser_->get();
    version_ = parser_->get().version();
    keep_alive_ = parser_->get().keep_alive();
    std::optional<HttpResponse> refusal = shared_->handler->Screen(header);
    if (!refusal.has_value() && parser_->content_length().has_value() &&
        *parser_->content_length() > shared_->body_limit) {
      refusal = shared_->handler->TooLarge();
    }
    if (refusal.has_value()) {
      if (!parser_->is_done()) linger_ = true;  // a body is coming that we won't read
      return Write(std::move(*refusal));
    }
    parser_->body_limit(shared_->body_limit);
    if (!parser_->is_done() && beast::iequals(header[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(shared_->timeout);
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](const error_code& write_ec, size_t) {
                          if (write_ec) return self->CloseStream();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnBody({});
    stream_.expires_after(shared_->timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(const error_code& ec) {
    if (ec == http::error::body_limit) {
      linger_ = true;
      return Write(shared_->handler->TooLarge());
    }
    if (ec) return OnReadError(ec);
    stream_.expires_never();  // the pipeline may take a while; no read or write is pending
    const uint64_t request = ++awaited_request_;
    shared_->handler->Handle(
        parser_->release(), [self = shared_from_this(), request](HttpResponse res) {
          asio::post(self->executor_, [self, request, res = std::move(res)]() mutable {
            // Only the first answer to the request being waited for counts.
            if (request != self->awaited_request_) return;
            ++self->awaited_request_;
            self->Write(std::move(res));
          });
        });
  }

  void OnReadError(const error_code& ec) {
    if (ec == http::error::header_limit) {
      linger_ = true;
      return Write(MakeResponse(http::status::request_header_fields_too_large, "text/plain",
                                "request header exceeds 16 KiB\n"));
    }
    // A malformed request gets 400; a client that went away or idled out
    // just loses the connection.
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message && !closed_) {
      linger_ = true;
      version_ = 11;
      return Write(MakeResponse(http::status::bad_request, "text/plain",
                                absl::StrCat("bad request: ", ec.message(), "\n")));
    }
    CloseStream();
  }

  void Write(HttpResponse res) {
    if (closed_) return;
    res.version(version_);
    res.keep_alive(keep_alive_ && !linger_);
    res.set(http::field::server, "credwatch");
    res.prepare_payload();
    shared_->CountResponse(res.result_int());
    response_.emplace(std::move(res));
    stream_.expires_after(shared_->timeout);
    http::async_write(
        stream_, *response_,
        [self = shared_from_this()](const error_code& ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(const error_code& ec) {
    bool keep_alive = response_->keep_alive();
    response_.reset();
    if (ec) return CloseStream();
    if (linger_) return Linger();
    if (!keep_alive) return CloseStream();
    ReadHeader();
  }

  // After refusing a request whose body we didn't read: closing at once
  // would reset the connection and the client might never see the answer.
  // Stop sending, discard what still arrives for a while, then close.
  void Linger() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLingerTime);
    drain_ = std::make_unique<std::array<char, 4096>>();
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(*drain_),
                            [self = shared_from_this()](const error_code& ec, size_t) {
                              if (ec) return self->CloseStream();
                              self->Drain();
                            });
  }

  void CloseStream() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  const asio::any_io_executor executor_;  // the connection's strand
  beast::tcp_stream stream_;
  std::shared_ptr<const HttpShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<HttpResponse> response_;
  std::unique_ptr<std::array<char, 4096>> drain_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  uint64_t awaited_request_ = 0;  // the request whose reply Handle owes (odd: one is owed)
  bool linger_ = false;  // close after this response, draining the unread request
  bool closed_ = false;
};

absl::StatusOr<std::shared_ptr<TcpServer>> StartHttpServer(
    asio::io_context& io, const ListenAddress& address, std::string_view what,
    std::shared_ptr<const HttpShared> shared, size_t max_connections, Counter* refused) {
  Metrics* metrics = shared->metrics;
  auto connections = std::make_shared<ConnectionSet>(
      max_connections, metrics->GetGauge("credwatch_listener_connections", "Open connections.",
                                         {{"listener", shared->label}}));
  absl::StatusOr<std::shared_ptr<TcpServer>> server =
      TcpServer::Bind(io, address, what, std::move(connections), refused);
  if (!server.ok()) return server.status();
  (*server)->Begin([shared = std::move(shared)](tcp::socket socket) -> std::shared_ptr<Connection> {
    return std::make_shared<HttpSession>(std::move(socket), shared);
  });
  return server;
}

// --- HTTP ingest

std::string JsonError(std::string_view message) {
  return absl::StrCat("{\"accepted\":false,\"error\":\"", Sv(message), "\"}\n");
}

// Compares in time that depends only on the secret's length, so response
// timing does not tell how much of a guess was right.
bool ConstantTimeEquals(std::string_view given, std::string_view secret) {
  unsigned diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i) {
    char g = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned char>(g ^ secret[i]);
  }
  return diff == 0;
}

struct IngestCounters {
  Counter* bytes;
  Counter* messages;
  Counter* unauthorized;
  Counter* too_large;
  Counter* busy;
  Counter* closed;
  Counter* not_committed;
};

class IngestHandler final : public HttpHandler {
 public:
  IngestHandler(HttpIngestOptions options, std::string input, IngestQueue* queue,
                IngestCounters counters)
      : options_(std::move(options)),
        input_(std::move(input)),
        queue_(queue),
        counters_(counters) {}

  std::optional<HttpResponse> Screen(const HttpRequestHeader& header) const override {
    std::string_view path = TargetPath(header.target());
    if (path != "/v1/ingest" && path != "/ingest") {
      return MakeResponse(http::status::not_found, "application/json", JsonError("not found"));
    }
    if (header.method() != http::verb::post) {
      HttpResponse res =
          MakeResponse(http::status::method_not_allowed, "application/json", JsonError("use POST"));
      res.set(http::field::allow, "POST");
      return res;
    }
    if (!options_.token.empty() && !Authorized(header)) {
      counters_.unauthorized->Add();
      HttpResponse res = MakeResponse(http::status::unauthorized, "application/json",
                                      JsonError("missing or wrong bearer token"));
      res.set(http::field::www_authenticate, "Bearer realm=\"credwatch\"");
      return res;
    }
    return std::nullopt;
  }

  HttpResponse TooLarge() const override {
    counters_.too_large->Add();
    return MakeResponse(
        http::status::payload_too_large, "application/json",
        JsonError(absl::StrCat("body exceeds max_body_bytes (", options_.max_body_bytes,
                               "); send smaller batches")));
  }

  void Handle(HttpRequest&& request, HttpReply reply) const override {
    std::string body = std::move(request.body());
    const size_t received = body.size();
    counters_.bytes->Add(received);
    if (body.empty()) return reply(Accepted(0));
    if (body.back() != '\n') body.push_back('\n');
    counters_.messages->Add(CountLines(body));

    IngestChunk chunk;
    chunk.input = input_;
    chunk.format = options_.format;
    chunk.bytes = std::move(body);
    chunk.done = [reply, received, not_committed = counters_.not_committed](bool committed) {
      if (committed) return reply(Accepted(received));
      not_committed->Add();
      reply(Unavailable("not committed: the daemon is stopping or failed", "1"));
    };
    switch (queue_->TrySubmit(std::move(chunk))) {
      case SubmitResult::kAccepted:
        return;  // done answers
      case SubmitResult::kBusy: {
        counters_.busy->Add();
        HttpResponse res = MakeResponse(http::status::too_many_requests, "application/json",
                                        JsonError("queue full; retry"));
        res.set(http::field::retry_after, "1");
        return reply(std::move(res));
      }
      case SubmitResult::kClosed:
        counters_.closed->Add();
        return reply(Unavailable("the daemon is stopping", "5"));
    }
  }

 private:
  static HttpResponse Accepted(size_t bytes) {
    return MakeResponse(http::status::ok, "application/json",
                        absl::StrCat("{\"accepted\":true,\"bytes\":", bytes, "}\n"));
  }

  static HttpResponse Unavailable(std::string_view message, std::string_view retry_after) {
    HttpResponse res =
        MakeResponse(http::status::service_unavailable, "application/json", JsonError(message));
    res.set(http::field::retry_after, beast::string_view(retry_after.data(), retry_after.size()));
    return res;
  }

  bool Authorized(const HttpRequestHeader& header) const {
    auto it = header.find(http::field::authorization);
    if (it == header.end()) return false;
    std::string_view value(it->value().data(), it->value().size());
    value = Sv(absl::StripAsciiWhitespace(Sv(value)));
    if (!absl::StartsWithIgnoreCase(Sv(value), "bearer ")) return false;
    value = Sv(absl::StripAsciiWhitespace(Sv(value.substr(7))));
    return ConstantTimeEquals(value, options_.token);
  }

  const HttpIngestOptions options_;
  const std::string input_;
  IngestQueue* const queue_;
  const IngestCounters counters_;
};

// --- Admin

class AdminHandler final : public HttpHandler {
 public:
  explicit AdminHandler(AdminListenerOptions options) : options_(std::move(options)) {}

  std::optional<HttpResponse> Screen(const HttpRequestHeader& header) const override {
    std::string_view path = TargetPath(header.target());
    if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
      return MakeResponse(http::status::not_found, "text/plain", "not found\n");
    }
    if (header.method() != http::verb::get) {
      HttpResponse res = MakeResponse(http::status::method_not_allowed, "text/plain", "use GET\n");
      res.set(http::field::allow, "GET");
      return res;
    }
    return std::nullopt;
  }

  HttpResponse TooLarge() const override {
    return MakeResponse(http::status::payload_too_large, "text/plain",
                        "admin requests take no body\n");
  }

  void Handle(HttpRequest&& request, HttpReply reply) const override {
    std::string_view path = TargetPath(request.target());
    if (path == "/metrics") {
      if (!options_.metrics) {
        return reply(MakeResponse(http::status::not_found, "text/plain", "no metrics\n"));
      }
      return reply(MakeResponse(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                                options_.metrics()));
    }
    const std::function<bool()>& check = path == "/healthz" ? options_.healthy : options_.ready;
    if (!check || check()) return reply(MakeResponse(http::status::ok, "text/plain", "ok\n"));
    reply(MakeResponse(http::status::service_unavailable, "text/plain",
                       path == "/healthz" ? "unhealthy\n" : "not ready\n"));
  }

 private:
  const AdminListenerOptions options_;
};

constexpr char kRejectsName[] = "credwatch_input_rejects_total";
constexpr char kRejectsHelp[] = "Input refused or skipped, by reason.";

Counter* Reject(Metrics* metrics, const std::string& input, const char* reason) {
  return metrics->GetCounter(kRejectsName, kRejectsHelp, {{"input", input}, {"reason", reason}});
}

}  // namespace

// ---------------------------------------------------------------------------
// Start

absl::StatusOr<std::unique_ptr<SyslogListener>> SyslogListener::Start(boost::asio::io_context& io,
                                                                      SyslogListenerOptions options,
                                                                      IngestQueue* queue,
                                                                      Metrics* metrics) {
  absl::StatusOr<ListenAddress> address = ParseSyslogUrl(options.url);
  if (!address.ok()) return address.status();
  if (options.max_message_bytes == 0 || options.chunk_bytes == 0 || options.max_connections == 0 ||
      options.busy_retry.count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "syslog ", options.url,
        ": max_message_bytes, chunk_bytes, max_connections and busy_retry must be positive"));
  }

  auto shared = std::make_shared<SyslogShared>();
  shared->input = options.input.empty() ? absl::StrCat("syslog ", options.url) : options.input;
  shared->format = options.format;
  shared->max_message_bytes = options.max_message_bytes;
  shared->chunk_bytes = options.chunk_bytes;
  shared->busy_retry = options.busy_retry;
  shared->queue = queue;
  const Labels labels = {{"input", shared->input}};
  shared->bytes = metrics->GetCounter("credwatch_input_received_bytes_total",
                                      "Bytes received from the network.", labels);
  shared->messages = metrics->GetCounter("credwatch_input_received_messages_total",
                                         "Messages (records) received.", labels);
  shared->too_long = Reject(metrics, shared->input, "message_too_long");
  shared->truncated = Reject(metrics, shared->input, "truncated");
  shared->queue_closed = Reject(metrics, shared->input, "queue_closed");
  shared->backpressure =
      metrics->GetCounter("credwatch_input_backpressure_total",
                          "Times a full queue paused reading a connection.", labels);
  shared->udp_dropped = metrics->GetCounter(
      "credwatch_syslog_udp_dropped_total",
      "UDP syslog messages dropped because the queue was full (UDP cannot push back).", labels);

  ListenAddress bound = *address;
  std::shared_ptr<Listener::Core> core;
  if (address->udp) {
    absl::StatusOr<std::shared_ptr<UdpSyslog>> udp =
        UdpSyslog::Bind(io, *address, options.udp_receive_buffer_bytes, shared);
    if (!udp.ok()) return udp.status();
    (*udp)->Begin();
    bound.port = (*udp)->port();
    core = *std::move(udp);
  } else {
    auto connections = std::make_shared<ConnectionSet>(
        options.max_connections,
        metrics->GetGauge("credwatch_listener_connections", "Open connections.",
                          {{"listener", shared->input}}));
    absl::StatusOr<std::shared_ptr<TcpServer>> tcp =
        TcpServer::Bind(io, *address, "syslog", std::move(connections),
                        Reject(metrics, shared->input, "too_many_connections"));
    if (!tcp.ok()) return tcp.status();
    (*tcp)->Begin([shared](tcp::socket socket) -> std::shared_ptr<Connection> {
      return std::make_shared<SyslogTcpSession>(std::move(socket), shared);
    });
    bound.port = (*tcp)->port();
    core = *std::move(tcp);
  }
  return std::unique_ptr<SyslogListener>(
      new SyslogListener(std::move(core), bound.port, bound.ToString()));
}

absl::StatusOr<std::unique_ptr<HttpIngestListener>> HttpIngestListener::Start(
    boost::asio::io_context& io, HttpIngestOptions options, IngestQueue* queue, Metrics* metrics) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.address);
  if (!address.ok()) return address.status();
  if (!address->loopback && options.token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP ingest beyond loopback requires token_file: ", options.address,
                     " is not a loopback address; set token_file or listen on 127.0.0.1"));
  }
  if (options.max_body_bytes == 0 || options.max_connections == 0 || options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("http ingest ", options.address,
                     ": max_body_bytes, max_connections and timeout must be positive"));
  }

  std::string input =
      options.input.empty() ? absl::StrCat("http ", options.address) : options.input;
  const Labels labels = {{"input", input}};
  IngestCounters counters{
      metrics->GetCounter("credwatch_input_received_bytes_total",
                          "Bytes received from the network.", labels),
      metrics->GetCounter("credwatch_input_received_messages_total", "Messages (records) received.",
                          labels),
      Reject(metrics, input, "unauthorized"),
      Reject(metrics, input, "body_too_large"),
      Reject(metrics, input, "queue_busy"),
      Reject(metrics, input, "queue_closed"),
      Reject(metrics, input, "not_committed"),
  };
  auto shared = std::make_shared<HttpShared>();
  shared->label = input;
  shared->body_limit = options.max_body_bytes;
  shared->timeout = options.timeout;
  shared->metrics = metrics;
  const size_t max_connections = options.max_connections;
  shared->handler = std::make_unique<IngestHandler>(std::move(options), input, queue, counters);

  absl::StatusOr<std::shared_ptr<TcpServer>> server =
      StartHttpServer(io, *address, "http ingest", shared, max_connections,
                      Reject(metrics, input, "too_many_connections"));
  if (!server.ok()) return server.status();
  ListenAddress bound = *address;
  bound.port = (*server)->port();
  return std::unique_ptr<HttpIngestListener>(
      new HttpIngestListener(*std::move(server), bound.port, bound.ToString()));
}

absl::StatusOr<std::unique_ptr<AdminListener>> AdminListener::Start(boost::asio::io_context& io,
                                                                    AdminListenerOptions options,
                                                                    Metrics* metrics) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.address);
  if (!address.ok()) return address.status();
  if (options.max_connections == 0 || options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin ", options.address, ": max_connections and timeout must be positive"));
  }
  auto shared = std::make_shared<HttpShared>();
  shared->label = absl::StrCat("admin ", options.address);
  shared->body_limit = 4 << 10;
  shared->timeout = options.timeout;
  shared->metrics = metrics;
  const size_t max_connections = options.max_connections;
  shared->handler = std::make_unique<AdminHandler>(std::move(options));

  absl::StatusOr<std::shared_ptr<TcpServer>> server = StartHttpServer(
      io, *address, "admin", shared, max_connections,
      metrics->GetCounter(kRejectsName, kRejectsHelp,
                          {{"input", shared->label}, {"reason", "too_many_connections"}}));
  if (!server.ok()) return server.status();
  ListenAddress bound = *address;
  bound.port = (*server)->port();
  return std::unique_ptr<AdminListener>(
      new AdminListener(*std::move(server), bound.port, bound.ToString()));
}

}  // namespace credwatch::daemon
