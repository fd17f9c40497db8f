// Alert sinks and the Delivery retry loop: what a user of `credwatch run`
// sees at each destination — rotated files holding every alert once and in
// order, RFC 5424 syslog messages, webhook POSTs that survive an outage
// without duplicates, and one sink that is down not holding back the others.
#include "daemon/sinks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credwatch::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// ------------------------------------------------------------------ helpers

std::string Line(uint64_t seq, int severity_id = 3) {
  return "{\"activity_id\":1,\"time\":1700000000000,\"severity_id\":" + std::to_string(severity_id) +
         ",\"finding_info\":{\"uid\":\"u" + std::to_string(seq) + "\"},\"seq\":" + std::to_string(seq) + "}\n";
}

std::string Lines(uint64_t from, uint64_t to) {
  std::string out;
  for (uint64_t s = from; s <= to; ++s) out += Line(s);
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "credwatch-sinks-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A loopback port nothing listens on (connections are refused).
uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A loopback socket of `type` bound to port 0; its port in *port.
int BoundSocket(int type, uint16_t* port) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  timeval tv = {5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A sink in memory whose test controls failures and hangs.
struct FakeSinkControl {
  std::mutex mu;
  std::condition_variable cv;
  std::string got;
  std::vector<std::string> batches;
  bool fail = false;
  bool block = false;
  int calls = 0;

  void Set(bool fail_now, bool block_now) {
    std::lock_guard<std::mutex> lock(mu);
    fail = fail_now;
    block = block_now;
    cv.notify_all();
  }
  std::string Got() {
    std::lock_guard<std::mutex> lock(mu);
    return got;
  }
  int Calls() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
};

// Unblocks a fake sink when a test ends early, so ~Delivery can join.
class Unblock {
 public:
  explicit Unblock(std::shared_ptr<FakeSinkControl> control) : control_(std::move(control)) {}
  ~Unblock() { control_->Set(false, false); }

 private:
  std::shared_ptr<FakeSinkControl> control_;
};

class FakeSink : public AlertSink {
 public:
  FakeSink(std::shared_ptr<FakeSinkControl> control, std::string name)
      : control_(std::move(control)), name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  absl::Status Deliver(std::string_view lines) override {
    std::unique_lock<std::mutex> lock(control_->mu);
    ++control_->calls;
    control_->cv.notify_all();
    control_->cv.wait(lock, [&] { return !control_->block; });
    if (control_->fail) return absl::UnavailableError("fake sink is down");
    control_->got.append(lines);
    control_->batches.emplace_back(lines);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<FakeSinkControl> control_;
  std::string name_;
};

// A tiny HTTP/1.1 server on 127.0.0.1:0. `status_for(i)` answers the i-th
// request (0-based); the bodies of 2xx answers are what it "accepted".
class TestHttpServer {
 public:
  explicit TestHttpServer(std::function<unsigned(int)> status_for) : status_for_(std::move(status_for)) {
    namespace ip = boost::asio::ip;
    acceptor_.open(ip::tcp::v4());
    acceptor_.set_option(ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestHttpServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/alerts") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string accepted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  int requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  boost::beast::http::request<boost::beast::http::string_body> last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(TestHttpServer* server, boost::asio::ip::tcp::socket socket)
        : server(server), socket(std::move(socket)) {}
    void Read() {
      req = {};
      boost::beast::http::async_read(socket, buffer, req,
                                     [self = shared_from_this()](boost::beast::error_code ec, size_t) {
                                       if (!ec) self->Respond();
                                     });
    }
    void Respond() {
      res = {};
      res.version(11);
      res.result(server->Handle(req));
      res.keep_alive(req.keep_alive());
      res.body() = res.result_int() < 300 ? "ok" : "try later";
      res.prepare_payload();
      boost::beast::http::async_write(socket, res, [self = shared_from_this()](boost::beast::error_code ec, size_t) {
        if (!ec && self->res.keep_alive()) self->Read();
      });
    }
    TestHttpServer* server;
    boost::asio::ip::tcp::socket socket;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::beast::error_code ec, boost::asio::ip::tcp::socket socket) {
      if (!ec) std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }
  unsigned Handle(const boost::beast::http::request<boost::beast::http::string_body>& req) {
    std::lock_guard<std::mutex> lock(mu_);
    const unsigned status = status_for_(requests_++);
    last_request_ = req;
    if (status >= 200 && status < 300) {
      accepted_ += req.body();
      bodies_.push_back(req.body());
    }
    return status;
  }

  std::function<unsigned(int)> status_for_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  int requests_ = 0;
  std::string accepted_;
  std::vector<std::string> bodies_;
  boost::beast::http::request<boost::beast::http::string_body> last_request_;
};

// ----------------------------------------------------------------- FileSink

// The files a FileSink left, oldest first: path.N ... path.1, path.
std::vector<std::string> RotatedFiles(const std::string& path, int max_keep) {
  std::vector<std::string> out;
  for (int i = max_keep + 1; i >= 1; --i) {
    std::string p = path + "." + std::to_string(i);
    if (fs::exists(p)) out.push_back(p);
  }
  if (fs::exists(path)) out.push_back(path);
  return out;
}

TEST(FileSinkTest, RotatesAtLineBoundariesAndKeepsEverythingInOrder) {
  TempDir dir;
  const std::string path = dir.path() + "/alerts.ndjson";
  FileSink::Options options;
  options.path = path;
  options.max_size = 400;
  options.keep = 20;
  auto sink = FileSink::Create(options);
  ASSERT_TRUE(sink.ok()) << sink.status();

  std::string all;
  uint64_t seq = 1;
  for (int batch = 1; seq <= 60; batch = batch % 5 + 1) {  // batches of 1..5 lines
    std::string lines = Lines(seq, seq + batch - 1);
    seq += batch;
    ASSERT_TRUE((*sink)->Deliver(lines).ok());
    all += lines;
  }

  std::vector<std::string> files = RotatedFiles(path, 30);
  ASSERT_GT(files.size(), 5u);
  ASSERT_LE(files.size(), 21u);
  std::string joined;
  for (const std::string& f : files) {
    std::string content = ReadFile(f);
    EXPECT_LE(content.size(), 400u) << f;
    ASSERT_FALSE(content.empty()) << f;
    EXPECT_EQ(content.back(), '\n') << f << ": a line was split";
    joined += content;
  }
  EXPECT_EQ(joined, all);
}

TEST(FileSinkTest, KeepsOnlyKeepRotatedFiles) {
  TempDir dir;
  const std::string path = dir.path() + "/alerts.ndjson";
  FileSink::Options options;
  options.path = path;
  options.max_size = 300;
  options.keep = 3;
  options.sync = false;
  auto sink = FileSink::Create(options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::string all;
  for (uint64_t s = 1; s <= 100; s += 2) {
    std::string lines = Lines(s, s + 1);
    ASSERT_TRUE((*sink)->Deliver(lines).ok());
    all += lines;
  }
  std::vector<std::string> files = RotatedFiles(path, 10);
  EXPECT_EQ(files.size(), 4u);  // path, path.1 .. path.3
  EXPECT_FALSE(fs::exists(path + ".4"));
  std::string joined;
  for (const std::string& f : files) joined += ReadFile(f);
  // The newest alerts, starting at a line, in order; the oldest were deleted.
  ASSERT_LT(joined.size(), all.size());
  EXPECT_EQ(all.substr(all.size() - joined.size()), joined);
  EXPECT_EQ(all[all.size() - joined.size() - 1], '\n');
  EXPECT_EQ(ReadFile(path).back(), '\n');
}

TEST(FileSinkTest, LineLongerThanMaxSizeGoesAloneIntoAFreshFile) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ndjson";
  FileSink::Options options;
  options.path = path;
  options.max_size = 100;
  auto sink = FileSink::Create(options);
  ASSERT_TRUE(sink.ok());
  const std::string small = Line(1);
  const std::string big = "{\"pad\":\"" + std::string(300, 'x') + "\"}\n";
  ASSERT_TRUE((*sink)->Deliver(small + big + small).ok());
  EXPECT_EQ(ReadFile(path + ".2"), small);
  EXPECT_EQ(ReadFile(path + ".1"), big);
  EXPECT_EQ(ReadFile(path), small);
}

TEST(FileSinkTest, CreatesTheFileWithMode0640) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ndjson";
  const mode_t old = ::umask(022);
  auto sink = FileSink::Create({.path = path});
  ::umask(old);
  ASSERT_TRUE(sink.ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ((*sink)->name(), "file " + path);
}

TEST(FileSinkTest, MissingDirectoryIsAClearError) {
  TempDir dir;
  auto sink = FileSink::Create({.path = dir.path() + "/no/such/dir/alerts.ndjson"});
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(sink.status().message()), HasSubstr("does not exist"));
  EXPECT_FALSE(fs::exists(dir.path() + "/no"));
}

TEST(FileSinkTest, DiskFullIsResourceExhaustedAndSaysWhatHappens) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto sink = FileSink::Create({.path = "/dev/full", .max_size = 0});
  ASSERT_TRUE(sink.ok()) << sink.status();
  absl::Status s = (*sink)->Deliver(Lines(1, 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("disk full"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("outbox"));
}

TEST(FileSinkTest, ReopensWhenTheFileIsMovedAway) {
  TempDir dir;
  const std::string path = dir.path() + "/a.ndjson";
  auto sink = FileSink::Create({.path = path});
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Deliver(Line(1)).ok());
  fs::rename(path, path + ".old");  // logrotate
  ASSERT_TRUE((*sink)->Deliver(Line(2)).ok());
  EXPECT_EQ(ReadFile(path + ".old"), Line(1));
  EXPECT_EQ(ReadFile(path), Line(2));
}

// --------------------------------------------------------------- StdoutSink

TEST(StdoutSinkTest, WritesWholeLinesToItsDescriptor) {
  StdoutSink stdout_sink;
  EXPECT_EQ(stdout_sink.name(), "stdout");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  StdoutSink sink(fds[1]);
  ASSERT_TRUE(sink.Deliver(Lines(1, 2)).ok());
  ::close(fds[1]);
  char buf[4096];
  ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), Lines(1, 2));
}

// --------------------------------------------------------------- SyslogSink

TEST(SyslogSinkTest, SeverityComesFromTheAlertsSeverityId) {
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 1)), 6);  // info -> informational
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 2)), 5);  // low -> notice
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 3)), 4);  // medium -> warning
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 4)), 3);  // high -> error
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 5)), 2);  // critical -> critical
  EXPECT_EQ(SyslogSeverityForAlert(Line(1, 6)), 1);  // fatal -> alert
  EXPECT_EQ(SyslogSeverityForAlert("{\"severity_id\":99}"), 5);
  EXPECT_EQ(SyslogSeverityForAlert("{\"severity_id\":0}"), 5);
  EXPECT_EQ(SyslogSeverityForAlert("{\"x\":1}"), 5);
  EXPECT_EQ(*SyslogFacilityFromName("authpriv"), 10);
  EXPECT_EQ(*SyslogFacilityFromName("local7"), 23);
  EXPECT_EQ(*SyslogFacilityFromName("4"), 4);
  EXPECT_FALSE(SyslogFacilityFromName("nope").ok());
}

// <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID SD MSG
const std::regex kRfc5424(R"(^<(\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z testhost credwatch (\d+) - - (.*)$)");

void ExpectMessage(const std::string& message, const std::string& line, int pri) {
  std::smatch m;
  ASSERT_TRUE(std::regex_match(message, m, kRfc5424)) << message;
  EXPECT_EQ(std::stoi(m[1]), pri) << message;
  EXPECT_EQ(std::stoi(m[2]), ::getpid());
  EXPECT_EQ(m[3].str(), line.substr(0, line.size() - 1));  // the JSON intact, without '\n'
}

TEST(SyslogSinkTest, UdpSendsOneRfc5424MessagePerAlertWithMappedPri) {
  uint16_t port = 0;
  int receiver = BoundSocket(SOCK_DGRAM, &port);
  auto sink = SyslogSink::Create({.target = "udp://127.0.0.1:" + std::to_string(port), .hostname = "testhost"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  EXPECT_EQ((*sink)->name(), "syslog udp://127.0.0.1:" + std::to_string(port));
  const std::vector<std::string> lines = {Line(1, 1), Line(2, 4), Line(3, 5), "{\"no_severity\":true}\n"};
  const std::vector<int> pris = {10 * 8 + 6, 10 * 8 + 3, 10 * 8 + 2, 10 * 8 + 5};
  std::string all;
  for (const auto& l : lines) all += l;
  ASSERT_TRUE((*sink)->Deliver(all).ok());
  for (size_t i = 0; i < lines.size(); ++i) {
    char buf[70000];
    ssize_t n = ::recv(receiver, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "message " << i;
    ExpectMessage(std::string(buf, n), lines[i], pris[i]);
  }
  ::close(receiver);
}

TEST(SyslogSinkTest, CarriageReturnsCannotSplitAMessage) {
  uint16_t port = 0;
  int receiver = BoundSocket(SOCK_DGRAM, &port);
  auto sink = SyslogSink::Create(
      {.target = "udp://127.0.0.1:" + std::to_string(port), .facility = 16, .hostname = "testhost"});
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Deliver("{\"a\":1,\r\"severity_id\":4}\n").ok());
  char buf[4096];
  ssize_t n = ::recv(receiver, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  const std::string message(buf, n);
  EXPECT_EQ(message.find_first_of("\r\n"), std::string::npos);
  EXPECT_THAT(message, ::testing::StartsWith("<131>1 "));  // local0.error
  ::close(receiver);
}

TEST(SyslogSinkTest, TcpFramesMessagesByOctetCounting) {
  uint16_t port = 0;
  int listener = BoundSocket(SOCK_STREAM, &port);
  ASSERT_EQ(::listen(listener, 4), 0);
  auto sink = SyslogSink::Create({.target = "tcp://127.0.0.1:" + std::to_string(port), .hostname = "testhost"});
  ASSERT_TRUE(sink.ok());
  const std::string lines = Line(1, 2) + Line(2, 6);
  ASSERT_TRUE((*sink)->Deliver(lines).ok());
  int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  timeval tv = {5, 0};
  ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  std::vector<std::string> messages;
  while (messages.size() < 2) {
    // Parse "LEN SP MSG" frames from what has arrived.
    size_t sp = got.find(' ');
    if (sp != std::string::npos) {
      const size_t len = std::stoul(got.substr(0, sp));
      if (got.size() >= sp + 1 + len) {
        messages.push_back(got.substr(sp + 1, len));
        got.erase(0, sp + 1 + len);
        continue;
      }
    }
    char buf[4096];
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, n);
  }
  ExpectMessage(messages[0], Line(1, 2), 85);
  ExpectMessage(messages[1], Line(2, 6), 81);
  EXPECT_TRUE(got.empty());
  ::close(conn);
  ::close(listener);
}

TEST(SyslogSinkTest, UnixDatagramSocket) {
  TempDir dir;
  const std::string path = dir.path() + "/log";
  int receiver = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(receiver, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv = {5, 0};
  ::setsockopt(receiver, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto sink = SyslogSink::Create({.target = "unix://" + path, .hostname = "testhost"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE((*sink)->Deliver(Line(7, 3)).ok());
  char buf[4096];
  ssize_t n = ::recv(receiver, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  ExpectMessage(std::string(buf, n), Line(7, 3), 84);
  ::close(receiver);
}

TEST(SyslogSinkTest, BadTargetsAreRefused) {
  for (const char* target : {"http://127.0.0.1:514", "udp://", "udp://host:0", "unix://relative/log",
                             "tcp://::1:514", "udp://host:514/path"}) {
    auto sink = SyslogSink::Create({.target = target});
    EXPECT_EQ(sink.status().code(), absl::StatusCode::kInvalidArgument) << target;
  }
  EXPECT_FALSE(SyslogSink::Create({.target = "udp://127.0.0.1:514", .facility = 24}).ok());
  EXPECT_TRUE(SyslogSink::Create({.target = "udp://[::1]:514"}).ok());
}

TEST(SyslogSinkTest, UnreachableTcpTargetIsUnavailable) {
  auto sink = SyslogSink::Create({.target = "tcp://127.0.0.1:" + std::to_string(ClosedPort())});
  ASSERT_TRUE(sink.ok());
  absl::Status s = (*sink)->Deliver(Line(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

// -------------------------------------------------------------- WebhookSink

TEST(WebhookSinkTest, PostsNdjsonWithBearerToken) {
  TestHttpServer server([](int) { return 200u; });
  auto sink = WebhookSink::Create({.url = server.url("/hook?key=secret"), .token = "tok123"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  EXPECT_EQ((*sink)->name(), "webhook http://127.0.0.1:" + std::to_string(server.port()) + "/hook");
  ASSERT_TRUE((*sink)->Deliver(Lines(1, 3)).ok());
  EXPECT_EQ(server.accepted(), Lines(1, 3));
  auto req = server.last_request();
  EXPECT_EQ(req.method(), boost::beast::http::verb::post);
  EXPECT_EQ(std::string(req.target()), "/hook?key=secret");
  EXPECT_EQ(std::string(req[boost::beast::http::field::content_type]), "application/x-ndjson");
  EXPECT_EQ(std::string(req[boost::beast::http::field::authorization]), "Bearer tok123");
}

TEST(WebhookSinkTest, Non2xxAndConnectionErrorsAreUnavailable) {
  TestHttpServer server([](int) { return 503u; });
  auto sink = WebhookSink::Create({.url = server.url()});
  ASSERT_TRUE(sink.ok());
  absl::Status s = (*sink)->Deliver(Line(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("503"));

  auto refused = WebhookSink::Create({.url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/"});
  ASSERT_TRUE(refused.ok());
  s = (*refused)->Deliver(Line(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot connect"));
}

TEST(WebhookSinkTest, TimesOutWhenTheServerNeverAnswers) {
  uint16_t port = 0;
  int listener = BoundSocket(SOCK_STREAM, &port);
  ASSERT_EQ(::listen(listener, 4), 0);  // the kernel accepts; nobody answers
  auto sink = WebhookSink::Create({.url = "http://127.0.0.1:" + std::to_string(port) + "/", .timeout = 300ms});
  ASSERT_TRUE(sink.ok());
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = (*sink)->Deliver(Line(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("timed out"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ::close(listener);
}

TEST(WebhookSinkTest, SplitsLargeDeliveriesAndResumesAfterPartialFailure) {
  // Requests 0 and 1 succeed, 2 fails, the rest succeed.
  TestHttpServer server([](int i) { return i == 2 ? 503u : 200u; });
  const size_t kMaxBatch = 2 * Line(10).size() + 10;  // two lines per POST
  auto sink = WebhookSink::Create({.url = server.url(), .max_batch_bytes = kMaxBatch});
  ASSERT_TRUE(sink.ok());
  const std::string lines = Lines(10, 19);  // 10 lines: 5 POSTs

  absl::Status first = (*sink)->Deliver(lines);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.accepted(), Lines(10, 13));  // two POSTs got through

  ASSERT_TRUE((*sink)->Deliver(lines).ok());  // the retry sends only the rest
  EXPECT_EQ(server.accepted(), lines);
  EXPECT_EQ(server.requests(), 6);
  for (const std::string& body : server.bodies()) {
    EXPECT_LE(body.size(), kMaxBatch);
    EXPECT_EQ(body.back(), '\n');
  }
}

TEST(WebhookSinkTest, PartialProgressIsForgottenForOtherLines) {
  TestHttpServer server([](int i) { return i == 1 ? 503u : 200u; });
  auto sink = WebhookSink::Create({.url = server.url(), .max_batch_bytes = Line(1).size()});
  ASSERT_TRUE(sink.ok());
  EXPECT_FALSE((*sink)->Deliver(Lines(1, 2)).ok());  // line 1 accepted, line 2 refused
  ASSERT_TRUE((*sink)->Deliver(Lines(1, 3)).ok());   // other bytes: all sent again
  EXPECT_EQ(server.accepted(), Lines(1, 1) + Lines(1, 3));
}

TEST(WebhookSinkTest, HttpsIsUnimplementedAndBadUrlsAreRefused) {
  auto https = WebhookSink::Create({.url = "https://example.invalid/hook"});
  EXPECT_EQ(https.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(https.status().message()), HasSubstr("TLS"));
  for (const char* url : {"ftp://x/", "http://", "http://user:pw@host/", "http://host:99999/", "http://a b/"}) {
    EXPECT_EQ(WebhookSink::Create({.url = url}).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

// ----------------------------------------------------------------- MakeSink

TEST(MakeSinkTest, BuildsEachTypeAndRefusesUnknownOnes) {
  TempDir dir;
  SinkConfig file;
  file.type = "file";
  file.path = dir.path() + "/a.ndjson";
  auto f = MakeSink(file);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->name(), "file " + file.path);

  SinkConfig out;
  out.type = "stdout";
  EXPECT_TRUE(MakeSink(out).ok());

  SinkConfig syslog;
  syslog.type = "syslog";
  syslog.target = "udp://127.0.0.1:514";
  EXPECT_TRUE(MakeSink(syslog).ok());

  SinkConfig hook;
  hook.type = "webhook";
  hook.url = "http://127.0.0.1:8080/x";
  EXPECT_TRUE(MakeSink(hook).ok());
  hook.url = "https://127.0.0.1/x";
  EXPECT_EQ(MakeSink(hook).status().code(), absl::StatusCode::kUnimplemented);

  SinkConfig bad;
  bad.type = "kafka";
  EXPECT_EQ(MakeSink(bad).status().code(), absl::StatusCode::kInvalidArgument);
  file.max_size = -1;
  EXPECT_EQ(MakeSink(file).status().code(), absl::StatusCode::kInvalidArgument);
}

// ----------------------------------------------------------------- Delivery

DeliveryOptions FastRetries() {
  DeliveryOptions o;
  o.initial_backoff = 5ms;
  o.max_backoff = 40ms;
  return o;
}

TEST(DeliveryTest, WebhookOutageEveryLineOnceInOrder) {
  // Down (503) for the first 4 requests, then up; one request in 7 fails later on.
  TestHttpServer server([](int i) { return i < 4 || i % 7 == 0 ? 503u : 200u; });
  auto sink = WebhookSink::Create({.url = server.url(), .max_batch_bytes = 3 * Line(100).size()});
  ASSERT_TRUE(sink.ok());
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(*std::move(sink));
  Delivery delivery(std::move(sinks), {}, FastRetries());

  std::string expected;
  for (uint64_t s = 1; s <= 30; ++s) {  // queued before the start: one big first batch
    ASSERT_TRUE(delivery.Offer(s, Line(s)));
    expected += Line(s);
  }
  delivery.Start();
  for (uint64_t s = 31; s <= 120; ++s) {  // and more while it retries
    std::string line = Line(s);
    line.pop_back();  // Offer adds the '\n'
    ASSERT_TRUE(delivery.Offer(s, line));
    expected += Line(s);
    if (s % 10 == 0) std::this_thread::sleep_for(3ms);
  }
  ASSERT_TRUE(delivery.WaitForAcked(120, 20s)) << delivery.Stats(0).last_error;
  EXPECT_EQ(delivery.AckedThrough(), 120u);
  EXPECT_EQ(delivery.DeliveredThrough(0), 120u);
  EXPECT_EQ(server.accepted(), expected);  // once each, in order

  SinkStats stats = delivery.Stats(0);
  EXPECT_EQ(stats.delivered_lines, 120u);
  EXPECT_GE(stats.failures, 1u);
  EXPECT_THAT(stats.last_error, HasSubstr("503"));
  EXPECT_EQ(stats.backlog_lines, 0u);
  EXPECT_EQ(delivery.queued_bytes(), 0u);
  delivery.Stop(1s);
}

TEST(DeliveryTest, StartAfterSkipsWhatASinkAlreadyHas) {
  auto a = std::make_shared<FakeSinkControl>();
  auto b = std::make_shared<FakeSinkControl>();
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>(a, "a"));
  sinks.push_back(std::make_unique<FakeSink>(b, "b"));
  Delivery delivery(std::move(sinks), {5, 2}, FastRetries());
  EXPECT_EQ(delivery.AckedThrough(), 2u);
  EXPECT_TRUE(delivery.Offer(1, Line(1)));  // both have it: not even queued
  EXPECT_TRUE(delivery.Offer(2, Line(2)));
  EXPECT_EQ(delivery.queued_bytes(), 0u);
  for (uint64_t s = 3; s <= 10; ++s) ASSERT_TRUE(delivery.Offer(s, Line(s)));
  delivery.Start();
  ASSERT_TRUE(delivery.WaitForAcked(10, 20s));
  EXPECT_EQ(a->Got(), Lines(6, 10));
  EXPECT_EQ(b->Got(), Lines(3, 10));
  EXPECT_EQ(delivery.DeliveredThrough(0), 10u);
  EXPECT_EQ(delivery.DeliveredThrough(1), 10u);
  EXPECT_TRUE(delivery.Offer(7, Line(7)));  // an old seq again: ignored
  delivery.Stop(1s);
  EXPECT_EQ(a->Got(), Lines(6, 10));
}

TEST(DeliveryTest, OneSinkDownDoesNotHoldBackTheOther) {
  auto hung = std::make_shared<FakeSinkControl>();
  auto down = std::make_shared<FakeSinkControl>();
  auto up = std::make_shared<FakeSinkControl>();
  hung->Set(/*fail=*/false, /*block=*/true);  // a webhook that never answers
  down->Set(/*fail=*/true, /*block=*/false);  // a webhook that refuses
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>(hung, "hung"));
  sinks.push_back(std::make_unique<FakeSink>(down, "down"));
  sinks.push_back(std::make_unique<FakeSink>(up, "up"));
  Delivery delivery(std::move(sinks), {}, FastRetries());
  Unblock unblock(hung);
  delivery.Start();
  for (uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE(delivery.Offer(s, Line(s)));

  ASSERT_TRUE(WaitUntil([&] { return delivery.DeliveredThrough(2) == 20; }));
  EXPECT_EQ(up->Got(), Lines(1, 20));
  ASSERT_TRUE(WaitUntil([&] { return down->Calls() >= 3; }));  // retried with backoff
  EXPECT_EQ(delivery.AckedThrough(), 0u);                      // held by the slow ones
  EXPECT_EQ(delivery.DeliveredThrough(0), 0u);
  SinkStats down_stats = delivery.Stats(1);
  EXPECT_EQ(down_stats.name, "down");
  EXPECT_GE(down_stats.failures, 2u);
  EXPECT_THAT(down_stats.last_error, HasSubstr("fake sink is down"));
  EXPECT_EQ(down_stats.backlog_lines, 20u);
  EXPECT_EQ(delivery.Stats(2).backlog_lines, 0u);

  hung->Set(false, false);
  down->Set(false, false);
  ASSERT_TRUE(delivery.WaitForAcked(20, 20s));
  EXPECT_EQ(hung->Got(), Lines(1, 20));
  EXPECT_EQ(down->Got(), Lines(1, 20));
  EXPECT_EQ(delivery.queued_bytes(), 0u);
  delivery.Stop(1s);
}

TEST(DeliveryTest, FullQueueRefusesOffersUntilDelivered) {
  auto control = std::make_shared<FakeSinkControl>();
  control->Set(false, true);
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>(control, "slow"));
  DeliveryOptions options = FastRetries();
  options.max_queue_bytes = 3 * Line(1).size();
  Delivery delivery(std::move(sinks), {}, options);
  Unblock unblock(control);
  delivery.Start();
  EXPECT_TRUE(delivery.Offer(1, Line(1)));
  EXPECT_TRUE(delivery.Offer(2, Line(2)));
  EXPECT_TRUE(delivery.Offer(3, Line(3)));
  EXPECT_FALSE(delivery.Offer(4, Line(4)));  // full: the pipeline waits
  control->Set(false, false);
  ASSERT_TRUE(delivery.WaitForAcked(3, 20s));
  EXPECT_TRUE(delivery.Offer(4, Line(4)));
  ASSERT_TRUE(delivery.WaitForAcked(4, 20s));
  EXPECT_EQ(control->Got(), Lines(1, 4));
  delivery.Stop(1s);
}

TEST(DeliveryTest, StopDrainsWhatIsQueued) {
  auto control = std::make_shared<FakeSinkControl>();
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>(control, "a"));
  Delivery delivery(std::move(sinks), {}, FastRetries());
  for (uint64_t s = 1; s <= 50; ++s) ASSERT_TRUE(delivery.Offer(s, Line(s)));
  delivery.Start();
  delivery.Stop(10s);
  EXPECT_EQ(control->Got(), Lines(1, 50));
  EXPECT_EQ(delivery.AckedThrough(), 50u);
  EXPECT_FALSE(delivery.Offer(51, Line(51)));  // stopped
}

TEST(DeliveryTest, StopGivesUpOnAFailingSinkAtTheDeadline) {
  auto control = std::make_shared<FakeSinkControl>();
  control->Set(true, false);
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<FakeSink>(control, "down"));
  DeliveryOptions options;  // default backoff: 100 ms up to 30 s
  Delivery delivery(std::move(sinks), {}, options);
  delivery.Start();
  ASSERT_TRUE(delivery.Offer(1, Line(1)));
  ASSERT_TRUE(WaitUntil([&] { return control->Calls() >= 1; }));
  const auto start = std::chrono::steady_clock::now();
  delivery.Stop(300ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(delivery.AckedThrough(), 0u);  // still in the outbox
}

}  // namespace
}  // namespace credwatch::daemon
