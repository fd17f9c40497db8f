// Helpers for tests that run the `credwatch` binary as a daemon: start it
// with a config, find its listeners in its structured log, talk HTTP and TCP
// to it over loopback, stop or kill it.
#ifndef CREDWATCH_TESTS_DAEMON_DAEMON_TEST_UTIL_H_
#define CREDWATCH_TESTS_DAEMON_DAEMON_TEST_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace credwatch::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline fs::path MakeScratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("credwatch_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `credwatch ARGS...` to completion.
inline RunResult RunCredwatch(const std::vector<std::string>& args, const fs::path& scratch) {
  const fs::path out_path = scratch / "run-stdout.txt";
  const fs::path err_path = scratch / "run-stderr.txt";
  std::vector<std::string> argv_s = {CREDWATCH_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  RunResult r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = Slurp(out_path);
  r.err = Slurp(err_path);
  return r;
}

// `credwatch run --config FILE` in the background, its stderr in a file.
class DaemonProcess {
 public:
  // The log may hold earlier runs' lines: this run's start after them.
  DaemonProcess(const fs::path& config, const fs::path& log) : log_(log), log_start_(Slurp(log).size()) {
    std::vector<std::string> argv_s = {CREDWATCH_BINARY, "run", "--config", config.string()};
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      int e = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int o = ::open("/dev/null", O_WRONLY);
      if (e < 0 || o < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~DaemonProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for the "started" log line; false if the process exited first or
  // `timeout` passed.
  bool WaitStarted(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (Log().find("\"msg\":\"started\"") != std::string::npos) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // The port of the listener whose log line has `what` (e.g. "\"input\":\"http\"",
  // "admin listening"): the digits after the last ':' of its "address".
  int PortOf(const std::string& what) const {
    std::string log = Log();
    size_t at = log.find(what);
    if (at == std::string::npos) return -1;
    size_t line_start = log.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    size_t addr = log.find("\"address\":\"", line_start);
    if (addr == std::string::npos) return -1;
    size_t end = log.find('"', addr + 11);
    std::string a = log.substr(addr + 11, end - addr - 11);
    return std::atoi(a.substr(a.rfind(':') + 1).c_str());
  }

  void Signal(int sig) { ::kill(pid_, sig); }

  // Waits for the exit; the exit code, -1 on a signal or timeout.
  int Wait(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    if (exited_) return exit_code_;
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  void Kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    exited_ = true;
    exit_code_ = -1;
  }

  // This run's log lines.
  std::string Log() const {
    std::string all = Slurp(log_);
    return all.size() > log_start_ ? all.substr(log_start_) : std::string();
  }

 private:
  fs::path log_;
  size_t log_start_ = 0;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request on a fresh connection ("Connection: close").
inline HttpResponse Http(int port, const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& extra_headers = "") {
  HttpResponse r;
  int fd = ConnectLoopback(port);
  if (fd < 0) return r;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                    extra_headers +
                    (method == "GET" ? std::string() : "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                    "\r\n" + body;
  if (!SendAll(fd, req)) {
    ::close(fd);
    return r;
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (resp.size() > 12 && resp.compare(0, 5, "HTTP/") == 0) r.status = std::atoi(resp.c_str() + 9);
  size_t hdr_end = resp.find("\r\n\r\n");
  if (hdr_end != std::string::npos) r.body = resp.substr(hdr_end + 4);
  return r;
}

// The sum of every series of a metric in Prometheus text, optionally only
// those whose labels contain `label_part`.
inline double MetricSum(const std::string& text, const std::string& name, const std::string& label_part = "") {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != ' ' && line[name.size()] != '{') continue;
    if (!label_part.empty() && line.find(label_part) == std::string::npos) continue;
    sum += std::atof(line.substr(line.rfind(' ') + 1).c_str());
  }
  return sum;
}

// Polls `cond` every 20 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace credwatch::testing

#endif  // CREDWATCH_TESTS_DAEMON_DAEMON_TEST_UTIL_H_
