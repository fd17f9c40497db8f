// The network side of `credwatch run`: syslog over TCP and UDP, HTTP NDJSON
// ingest, and the admin endpoint (/metrics, /healthz, /readyz).
//
//   boost::asio::io_context io;
//   IngestQueue queue(64 << 20);
//   Metrics metrics;
//   SyslogListenerOptions syslog_options;
//   syslog_options.url = "tcp://127.0.0.1:6514";
//   absl::StatusOr<std::unique_ptr<SyslogListener>> syslog =
//       SyslogListener::Start(io, syslog_options, &queue, &metrics);
//   if (!syslog.ok()) return syslog.status();  // bad URL, port in use, ...
//   std::thread io_thread([&] { io.run(); });
//   ...
//   (*syslog)->Stop();  // then drain and Close() the queue, then stop `io`
//
// Each listener binds in Start, so configuration and bind errors come back as
// a Status naming the address; from then on it accepts and reads on the
// caller's io_context, which may run on any number of threads. Inputs cut what
// they receive into IngestChunks of whole lines (ingest.h) and offer them with
// IngestQueue::TrySubmit, which never blocks an io thread:
//   - syslog TCP stops reading a connection while the queue is full and offers
//     the chunk again a few milliseconds later, so the sender's TCP window
//     closes and nothing is dropped;
//   - syslog UDP cannot push back: a datagram that finds the queue full is
//     dropped and counted (credwatch_syslog_udp_dropped_total);
//   - HTTP ingest answers 429 (Retry-After: 1) and the client retries.
//
// Metrics (all labelled input="<input name>" or listener="<kind> <address>"):
//   credwatch_input_received_bytes_total, credwatch_input_received_messages_total,
//   credwatch_input_rejects_total{reason=message_too_long|truncated|
//     too_many_connections|unauthorized|body_too_large|queue_busy|queue_closed|...},
//   credwatch_input_backpressure_total (times a full queue paused a TCP connection),
//   credwatch_syslog_udp_dropped_total, credwatch_listener_connections (gauge),
//   credwatch_http_responses_total{listener,code}.
//
// Thread-safety: Start, Stop, port and address are safe from any thread.
// Every connection, acceptor and UDP socket runs on its own strand.
//
// Lifetime: pending handlers hold pointers to the queue and the metrics, so
// both must outlive the io_context, not just the listener. Shutdown order:
// Stop() the listeners, let the pipeline drain the queue and Close() it (the
// pipeline calls or destroys every chunk's `done`, which posts the HTTP
// answer to the io_context, so that must still exist), then stop and destroy
// the io_context. Destroying a listener stops it.
//
// Not done: TLS (syslog over TLS, RFC 5425; HTTPS): put a TLS terminator in
// front or listen on loopback. No HTTP/2. Syslog TCP connections have no idle
// timeout (senders keep quiet connections open); max_connections bounds them.
#ifndef CREDWATCH_DAEMON_LISTENERS_H_
#define CREDWATCH_DAEMON_LISTENERS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "credwatch/decoder.h"
#include "daemon/ingest.h"
#include "daemon/metrics.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace credwatch::daemon {

// A parsed listen address. HOST is an IP literal (IPv6 in brackets) or
// "localhost", which means 127.0.0.1; no name lookups at bind time.
struct ListenAddress {
  bool udp = false;   // syslog URLs only: "udp://..."
  std::string ip;     // "127.0.0.1", "::1"
  uint16_t port = 0;  // 0: any free port (tests)
  bool loopback = false;
  std::string ToString() const;  // "127.0.0.1:6514", "[::1]:6514"
};

// "HOST:PORT" (HTTP ingest, admin). InvalidArgument with the reason otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view host_port);
// "tcp://HOST:PORT" or "udp://HOST:PORT".
absl::StatusOr<ListenAddress> ParseSyslogUrl(std::string_view url);

// RFC 6587 framing of one syslog TCP connection. Public for tests; the
// listener uses one per connection.
//
// A frame that starts with a digit is octet counted ("LEN SP MSG"); any other
// frame is non-transparent, ended by LF (a CR before the LF is dropped). If
// the digits are not followed by SP the frame is read as an LF-ended line, so
// a line that happens to start with a digit is not lost; one that starts
// with digits and a space is read as octet counted, the ambiguity RFC 6587
// leaves (syslog messages start with "<PRI>", so real senders don't meet
// it). CR and LF between frames are skipped; empty messages are dropped.
//
// Each message is appended to `out` as one line: trailing CR/LF removed,
// any other LF replaced by a space, then '\n'. A message longer than
// max_message_bytes is skipped whole (LEN bytes, or up to the next LF) and
// counted as too long.
//
// Not thread-safe; belongs to its connection's strand.
class SyslogFramer {
 public:
  struct Counts {
    uint64_t messages = 0;
    uint64_t too_long = 0;
    uint64_t truncated = 0;  // Finish() in the middle of an octet-counted frame
  };

  explicit SyslogFramer(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Consumes all of `data`; complete messages go to `out`, counts are added.
  void Feed(std::string_view data, std::string* out, Counts* counts);
  // End of stream: a last LF-framed message without its LF is kept; a cut
  // octet-counted frame is counted as truncated.
  void Finish(std::string* out, Counts* counts);

  // Appends `message` as one line as described above; false (nothing
  // appended) when it is empty after trimming. Also used for UDP datagrams.
  static bool AppendLine(std::string_view message, std::string* out);

 private:
  enum class State : uint8_t { kStart, kLength, kOctets, kSkipOctets, kLine, kSkipLine };

  void EmitLine(std::string_view line, std::string* out, Counts* counts);

  const size_t max_message_bytes_;
  State state_ = State::kStart;
  uint64_t remaining_ = 0;  // kLength: LEN so far; kOctets/kSkipOctets: bytes left
  std::string partial_;     // the message (or LEN digits) so far, across Feed calls
};

// What Stop, port and address mean for every listener below.
class Listener {
 public:
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  virtual ~Listener();

  // Closes the acceptor or UDP socket and every connection. Returns at once;
  // the sockets close on their strands shortly after. A syslog TCP connection
  // still holding complete messages keeps offering them until the queue takes
  // them or is closed, so stop listeners before closing the queue.
  // Idempotent.
  void Stop();

  // The bound port (the real one when the options asked for port 0).
  uint16_t port() const { return port_; }
  // The bound address, "127.0.0.1:6514".
  const std::string& address() const { return address_; }

  // Internal: what Stop reaches. Defined in listeners.cc.
  class Core;

 protected:
  Listener(std::shared_ptr<Core> core, uint16_t port, std::string address);

 private:
  std::shared_ptr<Core> core_;
  uint16_t port_;
  std::string address_;
};

// Options are read at Start; none can change while the listener runs.
struct SyslogListenerOptions {
  // Required. "tcp://HOST:PORT" or "udp://HOST:PORT".
  std::string url;
  // The chunks' input name (metrics label, dead letters). Default "":
  // "syslog " + url.
  std::string input;
  // The chunks' format. Default kAuto (detected per stream).
  Format format = Format::kAuto;
  // Longer messages are skipped and counted (reason "message_too_long").
  // Default 64 KiB.
  size_t max_message_bytes = 64 << 10;
  // TCP: connections beyond this are accepted and closed at once, counted
  // (reason "too_many_connections"). Default 256.
  size_t max_connections = 256;
  // A connection submits once it holds this many bytes of complete messages,
  // or sooner when the socket has no more data ready. Default 64 KiB.
  size_t chunk_bytes = 64 << 10;
  // TCP: how long a connection paused by a full queue waits before offering
  // its chunk again. Default 5 ms.
  std::chrono::milliseconds busy_retry{5};
  // UDP: SO_RCVBUF to ask for, so bursts wait in the kernel rather than
  // being dropped there (capped by net.core.rmem_max). Default 0: the OS's.
  int udp_receive_buffer_bytes = 0;
};

// Syslog over TCP (RFC 6587, see SyslogFramer) or UDP (one datagram, one
// message). Each TCP connection is its own stream (chunk.stream =
// "IP:PORT" of the peer); for UDP the stream is the sender's IP.
class SyslogListener : public Listener {
 public:
  static absl::StatusOr<std::unique_ptr<SyslogListener>> Start(boost::asio::io_context& io,
                                                               SyslogListenerOptions options,
                                                               IngestQueue* queue,
                                                               Metrics* metrics);

 private:
  using Listener::Listener;
};

struct HttpIngestOptions {
  // "HOST:PORT". Default "127.0.0.1:8088".
  std::string address = "127.0.0.1:8088";
  // If non-empty, requests must carry "Authorization: Bearer <token>" (401
  // otherwise). Required when `address` is not loopback. Default "".
  std::string token;
  // Larger bodies get 413. Default 8 MiB.
  uint64_t max_body_bytes = 8 << 20;
  // The chunks' format. Default kAuto.
  Format format = Format::kAuto;
  // The chunks' input name. Default "": "http " + address.
  std::string input;
  // A request's header, and then its body, must arrive within this; an idle
  // keep-alive connection is closed after it. Default 60 s.
  std::chrono::milliseconds timeout{60'000};
  // Connections beyond this are accepted and closed at once. Default 256.
  size_t max_connections = 256;
};

// HTTP/1.1 NDJSON ingest. `POST /v1/ingest` (or `/ingest`): the body is one
// chunk of records, one per line (a last line without '\n' gets one). The
// answer waits until the pipeline has committed the chunk:
//   200 {"accepted":true,"bytes":N}   committed
//   429 Retry-After: 1                queue full, nothing taken
//   503 Retry-After: 1                taken but not committed (daemon stopping/failed)
//   503 Retry-After: 5                daemon stopping, nothing taken
//   401 (bad/missing token), 413 (body > max_body_bytes), 404, 405
// Refused requests (401/404/405/413) are answered before their body is read,
// and the connection is then closed.
class HttpIngestListener : public Listener {
 public:
  static absl::StatusOr<std::unique_ptr<HttpIngestListener>> Start(boost::asio::io_context& io,
                                                                   HttpIngestOptions options,
                                                                   IngestQueue* queue,
                                                                   Metrics* metrics);

 private:
  using Listener::Listener;
};

struct AdminListenerOptions {
  // "HOST:PORT". Default "127.0.0.1:9181".
  std::string address = "127.0.0.1:9181";
  // GET /metrics: 200 text/plain; version=0.0.4 with this text (404 if unset).
  std::function<std::string()> metrics;
  // GET /healthz and /readyz: 200 "ok" when true, 503 otherwise. Unset: 200.
  std::function<bool()> healthy;
  std::function<bool()> ready;
  // Idle keep-alive connections close after this. Default 60 s.
  std::chrono::milliseconds timeout{60'000};
  // Default 64.
  size_t max_connections = 64;
};

// The admin endpoint. The functions are called on io threads, possibly
// several at once; they must be thread-safe and quick.
class AdminListener : public Listener {
 public:
  static absl::StatusOr<std::unique_ptr<AdminListener>> Start(boost::asio::io_context& io,
                                                              AdminListenerOptions options,
                                                              Metrics* metrics);

 private:
  using Listener::Listener;
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_LISTENERS_H_
