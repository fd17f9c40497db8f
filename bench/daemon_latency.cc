// Ingest-to-alert latency of `credwatch run` over TCP loopback at fixed rates
// (issue: p99 <= 10 ms at 100k events/s).
//
//   credwatch_latency [--rates 10000,50000,100000] [--seconds 10] [--sync none|commit]
//                     [--commit-interval 2ms] [--shards N] [--out bench/results/latency.json]
// (--shards: the daemon's daemon.shards; default its own, one per core.)
//
// For each rate: starts the daemon (the credwatch binary next to this one)
// with a syslog TCP input, a webhook output pointing at a receiver in this
// process and a one-rule pack that alerts on every successful login of a
// `bench-N` credential. A sender writes sshd "Accepted" lines at the rate,
// paced per millisecond; one line in 1000 is such a trigger with a fresh N
// (so no alert folds into another). Latency = time the webhook received the
// alert naming bench-N minus the time its line was handed to the socket:
// everything in between (framing, queue, decode, profile, rules, the commit
// that makes the alert durable, delivery, HTTP) is inside it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Listen(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 64);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  // Each millisecond's lines leave at once (as a syslog relay sends them),
  // not when Nagle's algorithm and delayed ACKs let them.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// The webhook receiver: records when each bench-N alert arrived.
class Receiver {
 public:
  Receiver() { fd_ = Listen(&port_); }
  ~Receiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  int port() const { return port_; }
  std::unordered_map<long, Clock::time_point> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(seen_, {});
  }

 private:
  void Run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string buf;
      char tmp[1 << 16];
      while (true) {
        size_t hdr = buf.find("\r\n\r\n");
        if (hdr != std::string::npos) {
          size_t cl = 0;
          size_t at = buf.find("Content-Length:");
          if (at == std::string::npos) at = buf.find("content-length:");
          if (at != std::string::npos && at < hdr) cl = std::strtoul(buf.c_str() + at + 15, nullptr, 10);
          if (buf.size() >= hdr + 4 + cl) {
            const auto now = Clock::now();
            std::string body = buf.substr(hdr + 4, cl);
            buf.erase(0, hdr + 4 + cl);
            Record(body, now);
            const char* ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            ::send(c, ok, std::strlen(ok), MSG_NOSIGNAL);
            continue;
          }
        }
        ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
      }
      ::close(c);
    }
  }
  void Record(const std::string& body, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t at = body.find("\"name\":\"bench-"); at != std::string::npos;
         at = body.find("\"name\":\"bench-", at + 1)) {
      seen_.emplace(std::strtol(body.c_str() + at + 14, nullptr, 10), now);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::unordered_map<long, Clock::time_point> seen_;
};

struct Result {
  int rate = 0;
  double seconds = 0;
  long sent = 0;
  long triggers = 0;
  long alerts = 0;
  double achieved_rate = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

Result RunAt(int rate, int seconds, const std::string& sync, const std::string& commit_interval, const std::string& shards,
             const fs::path& scratch, const std::string& binary) {
  Result r;
  r.rate = rate;
  fs::remove_all(scratch);
  fs::create_directories(scratch / "rules");
  Receiver receiver;
  receiver.Start();
  std::ofstream(scratch / "rules" / "bench.yml")
      << "title: Bench trigger\nid: 9e1c0b00-0000-4000-8000-00000000be01\nlevel: high\n"
         "logsource: {product: credwatch}\ndetection:\n  sel: {action: login, outcome: success, "
         "credential|startswith: bench-}\n  condition: sel\n";
  std::ofstream(scratch / "credwatch.yaml")
      << "state_dir: " << (scratch / "state").string() << "\nrules: [" << (scratch / "rules").string()
      << "]\ninputs:\n  - {type: syslog, listen: \"tcp://127.0.0.1:0\", format: syslog}\n"
      << "outputs:\n  - {type: webhook, url: \"http://127.0.0.1:" << receiver.port() << "/alerts\"}\n"
      << "admin: {listen: off}\nstate: {sync: " << sync << ", commit_interval: " << commit_interval << "}\n"
      << (shards.empty() ? "" : "daemon: {shards: " + shards + "}\n");
  const fs::path log = scratch / "daemon.log";
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    ::execl(binary.c_str(), binary.c_str(), "run", "--config", (scratch / "credwatch.yaml").c_str(), nullptr);
    ::_exit(127);
  }
  int port = -1;
  for (int i = 0; i < 500 && port < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::string text = Slurp(log);
    size_t at = text.find("\"input\":\"syslog\"");
    if (at == std::string::npos) continue;
    size_t addr = text.find("\"address\":\"", at);
    size_t end = text.find('"', addr + 11);
    std::string a = text.substr(addr + 11, end - addr - 11);
    port = std::atoi(a.substr(a.rfind(':') + 1).c_str());
  }
  int fd = port > 0 ? Connect(port) : -1;
  if (fd < 0) {
    std::fprintf(stderr, "daemon did not start:\n%s\n", Slurp(log).c_str());
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return r;
  }

  // Lines with a current syslog timestamp (the event time moves with the
  // wall clock, as on a live host).
  std::vector<std::pair<long, Clock::time_point>> sent_triggers;
  sent_triggers.reserve(static_cast<size_t>(rate / 1000 * seconds + 16));
  const auto start = Clock::now();
  const int per_ms = std::max(1, rate / 1000);
  long seq = 0, trigger = 0;
  std::string batch;
  char stamp[32];
  for (long ms = 0; ms < static_cast<long>(seconds) * 1000; ++ms) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(ms));
    time_t now = ::time(nullptr);
    struct tm tm;
    ::localtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    batch.clear();
    long trigger_here = -1;
    for (int i = 0; i < per_ms; ++i, ++seq) {
      if (seq % 1000 == 0) {
        trigger_here = trigger++;
        batch += "<38>" + std::string(stamp) + " ehr-legacy-01 sshd[4242]: Accepted password for bench-" +
                 std::to_string(trigger_here) + " from 10.9.8.7 port 50000 ssh2\n";
      } else {
        batch += "<38>" + std::string(stamp) + " ehr-legacy-01 sshd[" + std::to_string(1000 + seq % 5000) +
                 "]: Accepted publickey for t001-user" + std::to_string(seq % 2000) + " from 10.1." +
                 std::to_string(seq % 200) + ".9 port 40000 ssh2\n";
      }
    }
    const auto t = Clock::now();
    size_t done = 0;
    while (done < batch.size()) {
      ssize_t n = ::send(fd, batch.data() + done, batch.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (trigger_here >= 0) sent_triggers.emplace_back(trigger_here, t);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.sent = seq;
  r.triggers = trigger;
  r.achieved_rate = static_cast<double>(seq) / r.seconds;
  // Wait for the stragglers, then stop the daemon.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ::close(fd);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  auto seen = receiver.Take();
  std::vector<double> lat;
  for (const auto& [n, t] : sent_triggers) {
    auto it = seen.find(n);
    if (it == seen.end()) continue;
    lat.push_back(std::chrono::duration<double, std::milli>(it->second - t).count());
  }
  r.alerts = static_cast<long>(lat.size());
  r.p50_ms = Percentile(lat, 0.50);
  r.p99_ms = Percentile(lat, 0.99);
  r.p999_ms = Percentile(lat, 0.999);
  r.max_ms = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> rates = {10000, 50000, 100000};
  int seconds = 10;
  std::string sync = "none", commit_interval = "2ms", shards, out;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rates") {
      rates.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) rates.push_back(std::atoi(item.c_str()));
    } else if (k == "--seconds") {
      seconds = std::atoi(v.c_str());
    } else if (k == "--sync") {
      sync = v;
    } else if (k == "--commit-interval") {
      commit_interval = v;
    } else if (k == "--shards") {
      shards = v;
    } else if (k == "--out") {
      out = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const std::string binary = (fs::path(argv[0]).parent_path() / "credwatch").string();
  const fs::path scratch = fs::temp_directory_path() / ("credwatch_latency_" + std::to_string(::getpid()));
  std::string json = "{\"sync\":\"" + sync + "\",\"commit_interval\":\"" + commit_interval +
                     "\",\"shards\":\"" + (shards.empty() ? "default" : shards) + "\",\"runs\":[";
  std::printf("| rate (events/s) | achieved | triggers | alerts | p50 ms | p99 ms | p99.9 ms | max ms |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < rates.size(); ++i) {
    Result r = RunAt(rates[i], seconds, sync, commit_interval, shards, scratch, binary);
    std::printf("| %d | %.0f | %ld | %ld | %.2f | %.2f | %.2f | %.2f |\n", r.rate, r.achieved_rate, r.triggers,
                r.alerts, r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms);
    std::fflush(stdout);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"rate\":%d,\"achieved\":%.0f,\"sent\":%ld,\"triggers\":%ld,\"alerts\":%ld,"
                  "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}",
                  i ? "," : "", r.rate, r.achieved_rate, r.sent, r.triggers, r.alerts, r.p50_ms, r.p99_ms,
                  r.p999_ms, r.max_ms);
    json += buf;
  }
  json += "]}\n";
  fs::remove_all(scratch);
  if (!out.empty()) std::ofstream(out) << json;
  return 0;
}
