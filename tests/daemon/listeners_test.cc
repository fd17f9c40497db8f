#include "daemon/listeners.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace credwatch::daemon {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using asio::ip::udp;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// Helpers

struct Received {
  std::string input;
  std::string stream;
  Format format = Format::kAuto;
  std::string bytes;
};

// The pipeline's stand-in: takes chunks, keeps them, calls done.
class Consumer {
 public:
  explicit Consumer(IngestQueue* queue) : queue_(queue) {}
  ~Consumer() { Stop(); }

  void Start(bool commit = true) {
    commit_ = commit;
    stop_ = false;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        std::optional<IngestChunk> chunk = queue_->Take(milliseconds(5));
        if (!chunk.has_value()) continue;
        {
          std::lock_guard<std::mutex> lock(mu_);
          received_.push_back({chunk->input, chunk->stream, chunk->format, chunk->bytes});
        }
        cv_.notify_all();
        if (chunk->done) chunk->done(commit_);
      }
    });
  }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Waits until the chunks hold at least `lines` lines; all of them then.
  std::vector<Received> WaitForLines(size_t lines, milliseconds timeout = milliseconds(20000)) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return CountLines() >= lines; });
    return received_;
  }

  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  size_t CountLines() const {
    size_t n = 0;
    for (const Received& r : received_)
      n += static_cast<size_t>(std::count(r.bytes.begin(), r.bytes.end(), '\n'));
    return n;
  }

  IngestQueue* const queue_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool commit_ = true;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
};

std::string Concat(const std::vector<Received>& chunks) {
  std::string all;
  for (const Received& r : chunks) all += r.bytes;
  return all;
}

class ListenersTest : public ::testing::Test {
 protected:
  void SetUp() override { RunIo(); }

  void TearDown() override {
    consumer_->Stop();
    // Chunks still queued hold HTTP sessions, whose sockets belong to io_.
    queue_->Close();
    while (queue_->Take(milliseconds(0)).has_value()) {
    }
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) t.join();
  }

  void RunIo() {
    work_.emplace(io_.get_executor());
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  // Replaces the queue; call before starting listeners.
  void UseQueue(size_t max_bytes) {
    queue_ = std::make_unique<IngestQueue>(max_bytes);
    consumer_ = std::make_unique<Consumer>(queue_.get());
  }

  tcp::socket Connect(uint16_t port) {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    s.set_option(tcp::no_delay(true));
    return s;
  }

  // Writes `data` in pieces of 1..max_piece bytes, pausing now and then so
  // the listener sees many separate reads.
  static void WriteInPieces(tcp::socket& s, std::string_view data, size_t max_piece,
                            uint32_t seed) {
    std::mt19937 rng(seed);
    size_t i = 0;
    int writes = 0;
    while (i < data.size()) {
      size_t k = std::min<size_t>(1 + rng() % max_piece, data.size() - i);
      asio::write(s, asio::buffer(data.data() + i, k));
      i += k;
      if (++writes % 64 == 0) std::this_thread::sleep_for(milliseconds(1));
    }
  }

  Metrics metrics_;
  std::unique_ptr<IngestQueue> queue_ = std::make_unique<IngestQueue>(64 << 20);
  std::unique_ptr<Consumer> consumer_ = std::make_unique<Consumer>(queue_.get());
  asio::io_context io_;
  asio::io_context client_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  bool keep_alive = false;
};

HttpResult RoundTrip(tcp::socket& s, http::verb verb, std::string_view target, std::string body,
                     const std::map<std::string, std::string>& headers = {}, bool chunked = false) {
  http::request<http::string_body> req(verb, std::string(target), 11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  if (chunked) {
    req.chunked(true);
  } else {
    req.prepare_payload();
  }
  http::write(s, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(s, buffer, res, ec);
  HttpResult out;
  if (ec) return out;
  out.status = res.result_int();
  out.body = res.body();
  out.keep_alive = res.keep_alive();
  for (const auto& field : res)
    out.headers[std::string(field.name_string())] = std::string(field.value());
  return out;
}

HttpResult Request(tcp::socket s, http::verb verb, std::string_view target, std::string body = "",
                   const std::map<std::string, std::string>& headers = {}) {
  return RoundTrip(s, verb, target, std::move(body), headers);
}

// True when the peer closes the connection within `timeout`.
bool ClosedByPeer(tcp::socket& s, milliseconds timeout) {
  s.non_blocking(true);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char c;
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    size_t n = s.read_some(asio::buffer(&c, 1), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (ec) return true;  // eof or reset
    (void)n;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Addresses

TEST(ListenAddressTest, ParsesSyslogUrls) {
  absl::StatusOr<ListenAddress> a = ParseSyslogUrl("tcp://127.0.0.1:6514");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->udp);
  EXPECT_EQ(a->ip, "127.0.0.1");
  EXPECT_EQ(a->port, 6514);
  EXPECT_TRUE(a->loopback);

  a = ParseSyslogUrl("udp://0.0.0.0:514");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->udp);
  EXPECT_FALSE(a->loopback);

  a = ParseSyslogUrl("tcp://[::1]:6514");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ToString(), "[::1]:6514");
  EXPECT_TRUE(a->loopback);

  a = ParseSyslogUrl("tcp://localhost:601");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ip, "127.0.0.1");
}

TEST(ListenAddressTest, RejectsBadUrlsWithReason) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"http://127.0.0.1:514", "expected tcp://HOST:PORT or udp://HOST:PORT"},
      {"127.0.0.1:514", "expected tcp://"},
      {"tcp://127.0.0.1", "missing \":PORT\""},
      {"tcp://127.0.0.1:", "port must be a number"},
      {"tcp://127.0.0.1:65536", "port must be a number"},
      {"tcp://127.0.0.1:51x", "port must be a number"},
      {"tcp://:514", "missing host"},
      {"tcp://syslog.example.com:514", "not an IP address"},
      {"tcp://::1:514", "needs brackets"},
      {"tcp://[::1:514", "missing ']'"},
      {"tcp://127.0.0.1:514/x", "path is not allowed"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ListenAddress> a = ParseSyslogUrl(c.url);
    ASSERT_FALSE(a.ok()) << c.url;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(a.status().message().find(c.says), std::string::npos) << a.status();
    EXPECT_NE(a.status().message().find(c.url), std::string::npos) << a.status();
  }
}

// ---------------------------------------------------------------------------
// Framing

std::string FrameAll(std::string_view data, const std::vector<size_t>& cuts, size_t max,
                     SyslogFramer::Counts* counts) {
  SyslogFramer framer(max);
  std::string out;
  size_t begin = 0;
  for (size_t cut : cuts) {
    framer.Feed(data.substr(begin, cut - begin), &out, counts);
    begin = cut;
  }
  framer.Feed(data.substr(begin), &out, counts);
  framer.Finish(&out, counts);
  return out;
}

TEST(SyslogFramerTest, SameLinesWhereverTheStreamIsCut) {
  auto octet = [](std::string_view msg) {
    return std::to_string(msg.size()) + " " + std::string(msg);
  };
  const std::string stream =
      "<13>lf one\n"
      "<13>crlf two\r\n"
      "\n\r\n" +
      octet("<13>octet\nwith lf") +  // one LF inside: becomes a space
      octet("<13>octet2\r\n") +      // trailing CR LF inside the frame is trimmed
      "2024-01-01 starts with digits\n"
      "0 "  // empty frame
      "12345678901 not a length\n"
      "<13>last without lf";
  const std::string expected =
      "<13>lf one\n"
      "<13>crlf two\n"
      "<13>octet with lf\n"
      "<13>octet2\n"
      "2024-01-01 starts with digits\n"
      "12345678901 not a length\n"
      "<13>last without lf\n";
  SyslogFramer::Counts counts;
  EXPECT_EQ(FrameAll(stream, {}, 1024, &counts), expected);
  EXPECT_EQ(counts.messages, 7u);
  for (size_t i = 1; i < stream.size(); ++i) {
    for (size_t j = i; j < stream.size(); j += 3) {
      SyslogFramer::Counts c;
      ASSERT_EQ(FrameAll(stream, {i, j}, 1024, &c), expected) << "cut at " << i << "," << j;
      ASSERT_EQ(c.messages, 7u);
    }
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  SyslogFramer::Counts c;
  EXPECT_EQ(FrameAll(stream, every_byte, 1024, &c), expected);
}

TEST(SyslogFramerTest, SkipsTooLongMessagesWhole) {
  const size_t max = 16;
  const std::string exact(16, 'e');
  const std::string stream = "ok1\n" + std::string(40, 'x') + "\n" + exact + "\r\n" + "17 " +
                             std::string(17, 'y') + "ok2\n" + "16 " + exact + std::string(17, 'z') +
                             "\r\nok3\n";
  for (size_t i = 1; i < stream.size(); ++i) {
    SyslogFramer::Counts counts;
    ASSERT_EQ(FrameAll(stream, {i}, max, &counts), "ok1\n" + exact + "\nok2\n" + exact + "\nok3\n")
        << "cut at " << i;
    EXPECT_EQ(counts.too_long, 3u) << "cut at " << i;
    EXPECT_EQ(counts.messages, 5u) << "cut at " << i;
  }
}

TEST(SyslogFramerTest, CutOctetFrameIsTruncated) {
  SyslogFramer::Counts counts;
  EXPECT_EQ(FrameAll("5 <1>a\n10 <1>b", {}, 100, &counts), "<1>a\n");
  EXPECT_EQ(counts.messages, 1u);
  EXPECT_EQ(counts.truncated, 1u);
}

// ---------------------------------------------------------------------------
// Syslog TCP / UDP

std::string SyslogLine(int i) {
  return "<38>Oct 11 22:14:15 host sshd[" + std::to_string(1000 + i) +
         "]: Accepted password for user" + std::to_string(i) + " from 10.0.0." +
         std::to_string(i % 250) + " port 22 ssh2";
}

TEST_F(ListenersTest, TcpLfFramingDeliversEveryMessageOnceInOrder) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  options.format = Format::kSyslog;
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_NE((*listener)->port(), 0);

  std::string sent;
  std::string expected;
  for (int i = 0; i < 400; ++i) {
    sent += SyslogLine(i) + (i % 3 == 0 ? "\r\n" : "\n");
    expected += SyslogLine(i) + "\n";
  }
  tcp::socket s = Connect((*listener)->port());
  const std::string peer = "127.0.0.1:" + std::to_string(s.local_endpoint().port());
  WriteInPieces(s, sent, 7, 1);

  std::vector<Received> chunks = consumer_->WaitForLines(400);
  EXPECT_EQ(Concat(chunks), expected);
  EXPECT_GT(chunks.size(), 1u);  // submitted as it arrived, not at EOF
  for (const Received& r : chunks) {
    EXPECT_EQ(r.input, "syslog tcp://127.0.0.1:0");
    EXPECT_EQ(r.stream, peer);
    EXPECT_EQ(r.format, Format::kSyslog);
  }
  const Labels labels = {{"input", "syslog tcp://127.0.0.1:0"}};
  EXPECT_EQ(metrics_.CounterValue("credwatch_input_received_messages_total", labels), 400u);
  EXPECT_EQ(metrics_.CounterValue("credwatch_input_received_bytes_total", labels), sent.size());
}

TEST_F(ListenersTest, TcpOctetCountingAcrossOddBoundaries) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  std::string sent;
  std::string expected;
  for (int i = 0; i < 400; ++i) {
    std::string msg = SyslogLine(i);
    std::string line = msg;
    if (i % 5 == 0) {  // a multi-line message stays one record
      msg += "\ncontinued " + std::to_string(i);
      line += " continued " + std::to_string(i);
    }
    sent += std::to_string(msg.size()) + " " + msg;
    expected += line + "\n";
  }
  tcp::socket s = Connect((*listener)->port());
  WriteInPieces(s, sent, 5, 2);

  EXPECT_EQ(Concat(consumer_->WaitForLines(400)), expected);
}

TEST_F(ListenersTest, TcpTooLongMessagesAreSkippedAndCounted) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  options.max_message_bytes = 100;
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  const std::string exact(100, 'e');
  const std::string sent = "ok1\n" + std::string(5000, 'x') + "\n" + "ok2\n" + "300 " +
                           std::string(300, 'y') + "ok3\n" + exact + "\r\n" + "ok4\n";
  tcp::socket s = Connect((*listener)->port());
  WriteInPieces(s, sent, 13, 3);

  EXPECT_EQ(Concat(consumer_->WaitForLines(5)), "ok1\nok2\nok3\n" + exact + "\nok4\n");
  EXPECT_EQ(
      metrics_.CounterValue("credwatch_input_rejects_total", {{"input", "syslog tcp://127.0.0.1:0"},
                                                              {"reason", "message_too_long"}}),
      2u);
}

TEST_F(ListenersTest, TcpLastLineWithoutLfArrivesAtClose) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  {
    tcp::socket s = Connect((*listener)->port());
    asio::write(s, asio::buffer(std::string_view("a\nb")));
  }
  EXPECT_EQ(Concat(consumer_->WaitForLines(2)), "a\nb\n");
}

TEST_F(ListenersTest, TcpBackpressureLosesNothing) {
  UseQueue(4 << 10);  // far smaller than what is sent; no consumer yet
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  const int kLines = 40000;
  std::string sent;
  for (int i = 0; i < kLines; ++i) sent += SyslogLine(i) + "\n";
  tcp::socket s = Connect((*listener)->port());
  std::thread writer([&] { asio::write(s, asio::buffer(sent)); });

  std::this_thread::sleep_for(milliseconds(300));
  const Labels labels = {{"input", "syslog tcp://127.0.0.1:0"}};
  EXPECT_GT(metrics_.CounterValue("credwatch_input_backpressure_total", labels), 0u);
  EXPECT_LT(metrics_.CounterValue("credwatch_input_received_bytes_total", labels), sent.size());
  consumer_->Start();

  std::vector<Received> chunks = consumer_->WaitForLines(kLines);
  writer.join();
  EXPECT_EQ(Concat(chunks), sent);
  // About chunk_bytes (64 KiB): it may overshoot by one socket read.
  size_t largest = 0;
  for (const Received& r : chunks) largest = std::max(largest, r.bytes.size());
  EXPECT_LE(largest, 128u << 10);
}

TEST_F(ListenersTest, TcpConnectionsBeyondTheLimitAreClosed) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  options.max_connections = 1;
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  tcp::socket first = Connect((*listener)->port());
  asio::write(first, asio::buffer(std::string_view("first\n")));
  consumer_->WaitForLines(1);
  tcp::socket second = Connect((*listener)->port());
  EXPECT_TRUE(ClosedByPeer(second, milliseconds(5000)));
  EXPECT_EQ(
      metrics_.CounterValue("credwatch_input_rejects_total", {{"input", "syslog tcp://127.0.0.1:0"},
                                                              {"reason", "too_many_connections"}}),
      1u);
  asio::write(first, asio::buffer(std::string_view("again\n")));
  EXPECT_EQ(Concat(consumer_->WaitForLines(2)), "first\nagain\n");
}

TEST_F(ListenersTest, StopClosesListenerAndConnections) {
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  const uint16_t port = (*listener)->port();
  tcp::socket open = Connect(port);
  (*listener)->Stop();
  EXPECT_TRUE(ClosedByPeer(open, milliseconds(5000)));
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    tcp::socket s(client_io_);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    refused = static_cast<bool>(ec);
    if (!refused) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(refused);
}

TEST_F(ListenersTest, BindErrorNamesTheAddress) {
  SyslogListenerOptions options;
  options.url = "tcp://127.0.0.1:0";
  auto first = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(first.ok()) << first.status();
  options.url = "tcp://127.0.0.1:" + std::to_string((*first)->port());
  auto second = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find((*first)->address()), std::string::npos)
      << second.status();

  auto bad = SyslogListener::Start(io_, SyslogListenerOptions{.url = "tcp://127.0.0.1"},
                                   queue_.get(), &metrics_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListenersTest, UdpDatagramsArrive) {
  consumer_->Start();
  SyslogListenerOptions options;
  options.url = "udp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  udp::socket s(client_io_, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), (*listener)->port());
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string msg = SyslogLine(i);
    expected += msg + "\n";
    if (i % 2 == 0) msg += "\n";
    s.send_to(asio::buffer(msg), to);
    if (i % 10 == 0) std::this_thread::sleep_for(milliseconds(1));
  }
  std::vector<Received> chunks = consumer_->WaitForLines(50);
  EXPECT_EQ(Concat(chunks), expected);
  for (const Received& r : chunks) {
    EXPECT_EQ(r.stream, "127.0.0.1");
    EXPECT_EQ(r.input, "syslog udp://127.0.0.1:0");
  }
}

TEST_F(ListenersTest, UdpDropsAreCountedWhenTheQueueIsFull) {
  UseQueue(100);
  IngestChunk filler;
  filler.bytes = std::string(100, 'f');
  ASSERT_EQ(queue_->TrySubmit(std::move(filler)), SubmitResult::kAccepted);
  SyslogListenerOptions options;
  options.url = "udp://127.0.0.1:0";
  auto listener = SyslogListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  udp::socket s(client_io_, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), (*listener)->port());
  for (int i = 0; i < 5; ++i) s.send_to(asio::buffer(SyslogLine(i)), to);
  const Labels labels = {{"input", "syslog udp://127.0.0.1:0"}};
  for (int i = 0;
       i < 500 && metrics_.CounterValue("credwatch_syslog_udp_dropped_total", labels) < 5; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(metrics_.CounterValue("credwatch_syslog_udp_dropped_total", labels), 5u);
}

// ---------------------------------------------------------------------------
// HTTP ingest

absl::StatusOr<std::unique_ptr<HttpIngestListener>> StartIngest(asio::io_context& io,
                                                                IngestQueue* queue,
                                                                Metrics* metrics,
                                                                HttpIngestOptions options = {}) {
  options.address = "127.0.0.1:0";
  return HttpIngestListener::Start(io, std::move(options), queue, metrics);
}

TEST_F(ListenersTest, HttpIngestAnswersAfterCommitAndKeepsAlive) {
  consumer_->Start();
  HttpIngestOptions options;
  options.format = Format::kCloudTrail;
  auto listener = StartIngest(io_, queue_.get(), &metrics_, options);
  ASSERT_TRUE(listener.ok()) << listener.status();

  tcp::socket s = Connect((*listener)->port());
  HttpResult r = RoundTrip(s, http::verb::post, "/v1/ingest", "{\"a\":1}\n{\"a\":2}");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "{\"accepted\":true,\"bytes\":15}\n");
  EXPECT_EQ(r.headers["Content-Type"], "application/json");
  EXPECT_TRUE(r.keep_alive);
  // Same connection, the short path, a chunked body.
  r = RoundTrip(s, http::verb::post, "/ingest?x=1", "{\"a\":3}\n", {}, /*chunked=*/true);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "{\"accepted\":true,\"bytes\":8}\n");

  std::vector<Received> chunks = consumer_->WaitForLines(3);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].bytes, "{\"a\":1}\n{\"a\":2}\n");
  EXPECT_EQ(chunks[0].input, "http 127.0.0.1:0");
  EXPECT_EQ(chunks[0].format, Format::kCloudTrail);
  EXPECT_EQ(chunks[1].bytes, "{\"a\":3}\n");
  EXPECT_EQ(metrics_.CounterValue("credwatch_http_responses_total",
                                  {{"listener", "http 127.0.0.1:0"}, {"code", "200"}}),
            2u);
  EXPECT_EQ(metrics_.CounterValue("credwatch_input_received_messages_total",
                                  {{"input", "http 127.0.0.1:0"}}),
            3u);
}

TEST_F(ListenersTest, HttpIngestNotCommittedIs503) {
  consumer_->Start(/*commit=*/false);
  auto listener = StartIngest(io_, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  HttpResult r = Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest", "x\n");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.headers["Retry-After"], "1");
}

TEST_F(ListenersTest, HttpIngestHandlesExpect100Continue) {
  consumer_->Start();
  auto listener = StartIngest(io_, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  tcp::socket s = Connect((*listener)->port());
  asio::write(
      s, asio::buffer(std::string_view("POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                       "4\r\nExpect: 100-continue\r\n\r\n")));
  std::string got;
  asio::read_until(s, asio::dynamic_buffer(got), "\r\n\r\n");
  EXPECT_EQ(got.substr(0, 25), "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(s, asio::buffer(std::string_view("abc\n")));
  boost::beast::flat_buffer buffer;
  buffer.commit(asio::buffer_copy(buffer.prepare(got.size() - 25), asio::buffer(got.substr(25))));
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
}

TEST_F(ListenersTest, HttpIngestRequiresTheToken) {
  consumer_->Start();
  HttpIngestOptions options;
  options.token = "s3cret-token";
  auto listener = StartIngest(io_, queue_.get(), &metrics_, options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  const uint16_t port = (*listener)->port();

  HttpResult r = Request(Connect(port), http::verb::post, "/v1/ingest", "x\n");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.headers["WWW-Authenticate"], "Bearer realm=\"credwatch\"");
  EXPECT_FALSE(r.keep_alive);  // the body was not read
  r = Request(Connect(port), http::verb::post, "/v1/ingest", "x\n",
              {{"Authorization", "Bearer s3cret-tokem"}});
  EXPECT_EQ(r.status, 401u);
  r = Request(Connect(port), http::verb::post, "/v1/ingest", "x\n",
              {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(r.status, 401u);
  r = Request(Connect(port), http::verb::post, "/v1/ingest", "x\n",
              {{"Authorization", "s3cret-token"}});
  EXPECT_EQ(r.status, 401u);
  r = Request(Connect(port), http::verb::post, "/v1/ingest", "x\n",
              {{"Authorization", "Bearer s3cret-token"}});
  EXPECT_EQ(r.status, 200u);
  r = Request(Connect(port), http::verb::post, "/v1/ingest", "y\n",
              {{"Authorization", "bearer  s3cret-token "}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(Concat(consumer_->WaitForLines(2)), "x\ny\n");
  EXPECT_EQ(metrics_.CounterValue("credwatch_input_rejects_total",
                                  {{"input", "http 127.0.0.1:0"}, {"reason", "unauthorized"}}),
            4u);
}

TEST_F(ListenersTest, HttpIngestTooLargeBodyIs413) {
  consumer_->Start();
  HttpIngestOptions options;
  options.max_body_bytes = 1024;
  auto listener = StartIngest(io_, queue_.get(), &metrics_, options);
  ASSERT_TRUE(listener.ok()) << listener.status();

  HttpResult r =
      Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413u);
  EXPECT_NE(r.body.find("max_body_bytes (1024)"), std::string::npos) << r.body;
  // Chunked: found while reading the body.
  tcp::socket s = Connect((*listener)->port());
  r = RoundTrip(s, http::verb::post, "/v1/ingest", std::string(4096, 'x'), {}, /*chunked=*/true);
  EXPECT_EQ(r.status, 413u);
  // At the limit is fine.
  r = Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest",
              std::string(1023, 'x') + "\n");
  EXPECT_EQ(r.status, 200u);
}

TEST_F(ListenersTest, HttpIngestFullQueueIs429) {
  UseQueue(100);
  IngestChunk filler;
  filler.bytes = std::string(100, 'f');
  ASSERT_EQ(queue_->TrySubmit(std::move(filler)), SubmitResult::kAccepted);
  auto listener = StartIngest(io_, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();

  HttpResult r = Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest", "x\n");
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.headers["Retry-After"], "1");

  queue_->Close();
  r = Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest", "x\n");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.headers["Retry-After"], "5");
}

TEST_F(ListenersTest, HttpIngestOtherPathsAndMethods) {
  auto listener = StartIngest(io_, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  tcp::socket s = Connect((*listener)->port());
  HttpResult r = RoundTrip(s, http::verb::get, "/nope", "");
  EXPECT_EQ(r.status, 404u);
  EXPECT_TRUE(r.keep_alive);  // no body was left unread
  r = RoundTrip(s, http::verb::get, "/v1/ingest", "");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.headers["Allow"], "POST");
}

TEST_F(ListenersTest, HttpIngestHeaderOver16KiBIs431) {
  auto listener = StartIngest(io_, queue_.get(), &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  HttpResult r = Request(Connect((*listener)->port()), http::verb::post, "/v1/ingest", "x\n",
                         {{"X-Padding", std::string(20 << 10, 'p')}});
  EXPECT_EQ(r.status, 431u);
}

TEST_F(ListenersTest, HttpIngestClosesIdleConnections) {
  HttpIngestOptions options;
  options.timeout = milliseconds(200);
  auto listener = StartIngest(io_, queue_.get(), &metrics_, options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  tcp::socket s = Connect((*listener)->port());
  asio::write(
      s, asio::buffer(std::string_view("POST /v1/ingest HTTP/1.1\r\nHo")));  // and then nothing
  EXPECT_TRUE(ClosedByPeer(s, milliseconds(5000)));
}

TEST_F(ListenersTest, HttpIngestBeyondLoopbackNeedsToken) {
  HttpIngestOptions options;
  options.address = "0.0.0.0:0";
  auto refused = HttpIngestListener::Start(io_, options, queue_.get(), &metrics_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("HTTP ingest beyond loopback requires token_file"),
            std::string::npos)
      << refused.status();

  options.token = "t";
  auto allowed = HttpIngestListener::Start(io_, options, queue_.get(), &metrics_);
  EXPECT_TRUE(allowed.ok()) << allowed.status();
}

// ---------------------------------------------------------------------------
// Admin

TEST_F(ListenersTest, AdminServesMetricsAndHealth) {
  std::atomic<bool> healthy{true};
  AdminListenerOptions options;
  options.address = "127.0.0.1:0";
  options.metrics = [] { return std::string("# TYPE x counter\nx 1\n"); };
  options.healthy = [&] { return healthy.load(); };
  options.ready = [] { return false; };
  auto listener = AdminListener::Start(io_, options, &metrics_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  const uint16_t port = (*listener)->port();

  tcp::socket s = Connect(port);
  HttpResult r = RoundTrip(s, http::verb::get, "/metrics", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "# TYPE x counter\nx 1\n");
  EXPECT_EQ(r.headers["Content-Type"].rfind("text/plain; version=0.0.4", 0), 0u)
      << r.headers["Content-Type"];
  r = RoundTrip(s, http::verb::get, "/healthz", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "ok\n");
  healthy = false;
  r = RoundTrip(s, http::verb::get, "/healthz", "");
  EXPECT_EQ(r.status, 503u);
  r = RoundTrip(s, http::verb::get, "/readyz", "");
  EXPECT_EQ(r.status, 503u);
  r = RoundTrip(s, http::verb::get, "/other", "");
  EXPECT_EQ(r.status, 404u);
  r = RoundTrip(s, http::verb::post, "/metrics", "");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(metrics_.CounterValue("credwatch_http_responses_total",
                                  {{"listener", "admin 127.0.0.1:0"}, {"code", "503"}}),
            2u);
}

}  // namespace
}  // namespace credwatch::daemon
