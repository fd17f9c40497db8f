// Where the daemon's alerts go: sinks (file, stdout, syslog, webhook) and the
// Delivery loop that feeds them from the durable outbox.
//
// Every alert is one line: a complete JSON object followed by '\n'. The
// pipeline commits an alert to the outbox, then offers it to Delivery; one
// thread per sink delivers the lines in sequence order, batching whatever is
// queued, and retries failures with backoff. The pipeline deletes from the
// outbox what every sink has (AckedThrough) and, on restart, re-offers the
// rest; `start_after` keeps a sink from getting again what it already had.
//
//   std::vector<std::unique_ptr<AlertSink>> sinks;
//   SinkConfig file;
//   file.type = "file";
//   file.path = "/var/log/credwatch/alerts.ndjson";
//   absl::StatusOr<std::unique_ptr<AlertSink>> sink = MakeSink(file);
//   if (!sink.ok()) return sink.status();
//   sinks.push_back(*std::move(sink));
//   Delivery delivery(std::move(sinks), /*start_after=*/{saved_delivered_through});
//   delivery.Start();
//   while (!delivery.Offer(seq, line)) WaitABit();   // queue full: backpressure
//   ...
//   outbox.DeleteThrough(delivery.AckedThrough());
//   delivery.Stop(std::chrono::seconds(10));
//
// Delivery is at least once: a line is never lost once offered (it stays in
// the outbox until acked), but after a crash, or when a syslog/TCP peer drops
// the connection, a destination can see a line twice. Within one run, a
// failed Deliver that got part of a batch through is resumed where it stopped
// (see AlertSink::Deliver), so retries do not duplicate.
//
// Thread-safety: a sink is used by one thread at a time (Delivery gives each
// its own thread); sinks are not safe for concurrent Deliver calls. Delivery
// is safe from any thread.
#ifndef CREDWATCH_DAEMON_SINKS_H_
#define CREDWATCH_DAEMON_SINKS_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace credwatch::daemon {

// One destination for alert lines (each a complete JSON object + '\n').
class AlertSink {
 public:
  virtual ~AlertSink() = default;

  // How the destination is named in logs and metric labels:
  // "file /var/log/credwatch/alerts.ndjson", "webhook http://host:8080/hook".
  // Never holds a token or a URL's query string.
  virtual std::string_view name() const = 0;

  // Delivers `lines` (concatenated NDJSON, whole lines) durably enough for
  // this sink: ok means the destination has them (file written [+ fdatasync
  // if options.sync], webhook answered 2xx, syslog handed to the socket).
  // On error nothing may be assumed delivered; the caller retries the same
  // lines later. A sink that got a prefix of `lines` through before failing
  // remembers how far it got, keyed by the exact bytes of `lines`: the next
  // call with the same bytes resumes after that prefix, a call with other
  // bytes forgets it and starts from the beginning.
  virtual absl::Status Deliver(std::string_view lines) = 0;
};

namespace internal {

// How far a failed Deliver got, keyed by the exact bytes of its lines (see
// AlertSink::Deliver). Costs a copy of the lines only after a partial failure.
class ResumePoint {
 public:
  // Bytes at the start of `lines` already delivered: what Remember recorded
  // for the same bytes, else 0.
  size_t Skip(std::string_view lines) const { return done_ > 0 && lines == lines_ ? done_ : 0; }
  // The first `done` bytes of `lines` were delivered.
  void Remember(std::string_view lines, size_t done) {
    if (done == 0) return Clear();
    lines_.assign(lines);
    done_ = done;
  }
  void Clear() {
    std::string().swap(lines_);
    done_ = 0;
  }

 private:
  std::string lines_;
  size_t done_ = 0;
};

}  // namespace internal

// Appends to a file, rotating by size: path -> path.1 -> ... -> path.keep.
//
// The file is opened (created with mode 0640, subject to the umask) when the
// sink is created; its directory must exist — the sink never creates it. A
// rotation happens before a write that would take the file past max_size,
// always between lines: a line never straddles two files, and a line longer
// than max_size goes alone into a fresh file. If the file is moved or deleted
// behind the sink's back (logrotate), the next Deliver reopens `path`.
class FileSink final : public AlertSink {
 public:
  struct Options {
    // Required. The file to append to.
    std::string path;
    // Rotate before a write would make the file larger than this. 0 = never.
    // Default 100 MiB.
    uint64_t max_size = uint64_t{100} << 20;
    // Rotated files kept (path.1 newest .. path.keep oldest); the one that
    // would become path.keep+1 is deleted. 0 = the full file is deleted.
    // Default 10.
    int keep = 10;
    // fdatasync after each Deliver (and before each rotation), so an ok
    // survives power loss. Default true.
    bool sync = true;
  };

  // InvalidArgument for a bad option, FailedPrecondition when the directory
  // does not exist, PermissionDenied when it cannot be written.
  static absl::StatusOr<std::unique_ptr<FileSink>> Create(Options options);
  ~FileSink() override;

  std::string_view name() const override { return name_; }
  // ResourceExhausted when the disk is full (ENOSPC/EDQUOT): nothing of the
  // failing write is left in the file, and the caller retries later.
  absl::Status Deliver(std::string_view lines) override;

  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

 private:
  FileSink(Options options, std::string name) : options_(std::move(options)), name_(std::move(name)) {}
  absl::Status Open();
  absl::Status ReopenIfMoved();
  absl::Status Rotate();
  absl::Status WriteAll(std::string_view bytes);
  absl::Status Sync();
  void Close();

  const Options options_;
  const std::string name_;
  int fd_ = -1;
  uint64_t size_ = 0;  // of the open file
  uint64_t dev_ = 0;   // identity of the open file, to notice it was moved
  uint64_t ino_ = 0;
  bool regular_ = false;  // only regular files rotate (not /dev/stdout, a FIFO)
  internal::ResumePoint resume_;
};

// Writes to a file descriptor, by default 1 (stdout). Retries EINTR and
// partial writes. The daemon should ignore SIGPIPE so a closed pipe is an
// error (EPIPE) rather than the end of the process.
class StdoutSink final : public AlertSink {
 public:
  explicit StdoutSink(int fd = 1) : fd_(fd) {}
  std::string_view name() const override { return "stdout"; }
  absl::Status Deliver(std::string_view lines) override;

 private:
  const int fd_;  // not owned
  internal::ResumePoint resume_;
};

// Syslog facility codes (RFC 5424 section 6.2.1).
inline constexpr int kSyslogFacilityAuthpriv = 10;
// "kern", "user", ..., "authpriv", "local0".."local7", or a number 0..23.
absl::StatusOr<int> SyslogFacilityFromName(std::string_view name);
// The syslog severity (RFC 5424) for an alert line, from its first
// `"severity_id":N` (OCSF): 1 info -> 6 informational, 2 low -> 5 notice,
// 3 medium -> 4 warning, 4 high -> 3 error, 5 critical -> 2 critical,
// 6 fatal -> 1 alert; anything else -> 5 notice.
int SyslogSeverityForAlert(std::string_view line);

// Sends each alert line as one RFC 5424 message:
//   <PRI>1 2024-05-01T12:00:00.123456Z HOSTNAME credwatch PID - - {"activity_id":1,...}
// PRI = facility * 8 + SyslogSeverityForAlert(line). Raw CR/LF inside a line
// become spaces, so nothing splits a message.
//
// Targets: `udp://host:port` (one datagram per message), `tcp://host:port`
// (RFC 6587 octet counting: "LEN SP MSG"), `unix:///dev/log` (datagram).
// Datagram messages longer than 65000 bytes are truncated. The socket is
// opened on first use and reopened after an error. Ok means handed to the
// socket: syslog has no acknowledgement, so a datagram can still be dropped
// and a TCP connection that breaks can lose what the kernel had not sent.
class SyslogSink final : public AlertSink {
 public:
  struct Options {
    // Required. udp://host:port, tcp://host:port or unix:///path.
    std::string target;
    // Default authpriv (10), as for other authentication messages.
    int facility = kSyslogFacilityAuthpriv;
    // HOSTNAME field. Default "": gethostname().
    std::string hostname;
    // APP-NAME field. Default "credwatch".
    std::string app_name = "credwatch";
    // Budget for connecting (TCP) and for each send. Default 5 s.
    std::chrono::milliseconds timeout{5000};
  };

  // InvalidArgument for a bad target or facility. Does not connect yet.
  static absl::StatusOr<std::unique_ptr<SyslogSink>> Create(Options options);
  ~SyslogSink() override;

  std::string_view name() const override { return name_; }
  // Unavailable when the target cannot be reached or the send fails.
  absl::Status Deliver(std::string_view lines) override;

  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

 private:
  enum class Transport : uint8_t { kUdp, kTcp, kUnix };
  SyslogSink() = default;
  absl::Status Connect();
  void Close();
  // The message for one line (without its '\n'), without any framing.
  void AppendMessage(std::string_view line, std::string* out) const;

  Options options_;
  std::string name_;
  Transport transport_ = Transport::kUdp;
  std::string host_;  // or the socket path for kUnix
  std::string port_;
  std::string header_tail_;  // " HOSTNAME APP PID - - "
  int fd_ = -1;
  internal::ResumePoint resume_;
};

// POSTs alert lines to an HTTP endpoint as `application/x-ndjson`.
//
// A Deliver larger than max_batch_bytes is split at line boundaries into
// several POSTs, sent one after the other on one connection; all must be
// answered 2xx for ok. When some were accepted before one failed, the sink
// remembers the accepted prefix (see AlertSink::Deliver), so the retry of the
// same lines sends only the rest. Redirects are not followed.
class WebhookSink final : public AlertSink {
 public:
  struct Options {
    // Required. http://host[:port][/path][?query]. https:// is refused
    // (Unimplemented) until TLS is built.
    std::string url;
    // Sent as `Authorization: Bearer <token>` when not empty. Default "".
    std::string token;
    // Budget for connecting and for each POST (send + answer). Default 5 s.
    std::chrono::milliseconds timeout{5000};
    // Largest POST body; a single longer line is sent alone. Default 1 MiB.
    size_t max_batch_bytes = size_t{1} << 20;
  };

  // InvalidArgument for a bad URL or option, Unimplemented for https. Does
  // not connect yet.
  static absl::StatusOr<std::unique_ptr<WebhookSink>> Create(Options options);
  ~WebhookSink() override;

  std::string_view name() const override { return name_; }
  // Unavailable with the reason on a connection error, a timeout or a
  // non-2xx answer.
  absl::Status Deliver(std::string_view lines) override;

  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

 private:
  struct Client;  // Beast/Asio state, kept out of this header
  WebhookSink();
  absl::Status Post(std::string_view body);

  Options options_;
  std::string name_;
  std::string host_;
  std::string port_;
  std::string host_header_;
  std::string target_;  // path and query
  std::unique_ptr<Client> client_;
  internal::ResumePoint resume_;
};

// A sink as the config describes it (YAML `outputs:`; parsed elsewhere).
// Fields that do not apply to `type` are ignored. Defaults are the sinks'.
struct SinkConfig {
  std::string type;  // "file" | "stdout" | "syslog" | "webhook"
  // file
  std::string path;
  int64_t max_size = static_cast<int64_t>(FileSink::Options{}.max_size);  // bytes; 0 = never rotate
  int keep = FileSink::Options{}.keep;
  bool sync = FileSink::Options{}.sync;
  // syslog
  std::string target;  // udp://host:port | tcp://host:port | unix:///dev/log
  int facility = kSyslogFacilityAuthpriv;
  // webhook
  std::string url;  // http://host:port/path
  std::string token;
  int64_t max_batch_bytes = static_cast<int64_t>(WebhookSink::Options{}.max_batch_bytes);
  // syslog and webhook
  std::chrono::milliseconds timeout = WebhookSink::Options{}.timeout;
};

// InvalidArgument naming the field for a bad config, and whatever the sink's
// Create returns.
absl::StatusOr<std::unique_ptr<AlertSink>> MakeSink(const SinkConfig& config);

struct DeliveryOptions {
  // Most bytes of lines held in memory for the sinks. Past it Offer returns
  // false and the pipeline must wait and offer again (the alert is safe in
  // the outbox meanwhile). A single line is always accepted into an empty
  // queue. Default 256 MiB.
  size_t max_queue_bytes = size_t{256} << 20;
  // Most bytes handed to one Deliver call (at least one line). Default 4 MiB.
  size_t max_batch_bytes = size_t{4} << 20;
  // Retry delay after a sink's first failure, doubled after each further
  // one up to max_backoff; each delay is drawn from [d/2, d] (jitter).
  // Defaults 100 ms and 30 s.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
};

// What /metrics shows for one sink.
struct SinkStats {
  std::string name;
  uint64_t delivered_lines = 0;    // since Start
  uint64_t failures = 0;           // failed Deliver calls since Start
  std::string last_error;          // of the latest failure; "" = none yet
  uint64_t backlog_lines = 0;      // queued, not yet delivered to this sink
  uint64_t delivered_through = 0;  // DeliveredThrough()
};

// The retry loop between the outbox and the sinks.
//
// Owns the sinks. Each sink has its own thread and its own position in one
// shared queue, so a sink that is down or slow does not hold back the others;
// it only holds AckedThrough, and, once its backlog fills the queue, Offer.
// Lines go to each sink in seq order, as many per Deliver as are queued (up
// to max_batch_bytes). A failed batch is retried as the same bytes, so the
// sink can resume a partly delivered batch.
//
// Thread-safety: every method is safe from any thread; Start and Stop are
// meant for the thread that owns the Delivery.
class Delivery {
 public:
  // `start_after[i]`: sink i already has every seq <= it (its saved
  // DeliveredThrough); those are skipped for it. Empty = all 0. A missing
  // entry counts as 0.
  Delivery(std::vector<std::unique_ptr<AlertSink>> sinks, std::vector<uint64_t> start_after = {},
           DeliveryOptions options = {});
  // Stop(0) if still running: finishes the Deliver calls in flight.
  ~Delivery();

  // Starts the sink threads. Lines offered before are kept.
  void Start();
  // Refuses further Offers, delivers what is queued until every sink is done
  // or `drain` has passed (a Deliver in flight then is still waited for, up
  // to the sink's own timeout), and joins the threads. Idempotent.
  void Stop(std::chrono::milliseconds drain);

  // Queues an alert line (a '\n' is added if missing) for every sink whose
  // DeliveredThrough is below `seq`. Seqs must increase; a seq not above the
  // last accepted one is ignored (returns true). Returns false, keeping
  // nothing, when the queue is full or Stop was called: the pipeline offers
  // the line again later.
  bool Offer(uint64_t seq, std::string line);

  // The highest seq that sink `sink` has, every lower offered seq included
  // (start_after until it gets something). Persist it for start_after.
  uint64_t DeliveredThrough(size_t sink) const;
  // Min over the sinks of DeliveredThrough: every sink has everything <= it;
  // 0 = nothing. The pipeline may delete the outbox through it.
  uint64_t AckedThrough() const;
  // Waits until AckedThrough() >= seq or `timeout` passes; true if reached.
  bool WaitForAcked(uint64_t seq, std::chrono::milliseconds timeout) const;

  size_t sink_count() const { return sinks_.size(); }
  SinkStats Stats(size_t sink) const;
  size_t queued_bytes() const;

  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

 private:
  struct Entry {
    uint64_t seq;
    std::string line;
  };
  struct SinkState {
    std::unique_ptr<AlertSink> sink;
    std::thread thread;
    // Guarded by mu_.
    uint64_t delivered_through = 0;
    uint64_t delivered_lines = 0;
    uint64_t failures = 0;
    std::string last_error;
  };

  void Run(size_t sink);
  // The first queued entry above `seq`. Requires mu_.
  std::deque<Entry>::const_iterator FirstAfter(uint64_t seq) const;
  uint64_t AckedThroughLocked() const;
  // Drops entries every sink has. Requires mu_.
  void PopAcked();

  const DeliveryOptions options_;
  std::vector<std::unique_ptr<SinkState>> sinks_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // new entries, acks, stop
  // Invariants: seqs strictly increase; every entry is above AckedThrough,
  // so an entry a sink still has to deliver is never popped — a sink thread
  // may read such an entry's line without mu_ (deque push_back and pop_front
  // never move other elements).
  std::deque<Entry> queue_;
  size_t queued_bytes_ = 0;
  uint64_t last_offered_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_SINKS_H_
