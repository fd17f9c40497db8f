// The hardware ceiling for credwatch's JSON inputs: a simdjson-only pass
// (iterate_many) over NDJSON files that extracts the fields the decoders read
// and does nothing else. bench/run.sh compares `credwatch replay` to it.
//
//   credwatch_ceiling [--threads N] FILE...
//
// Files are loaded into memory first (the pass measures parsing, not I/O);
// with N threads each takes a contiguous slice of the bytes, cut at newlines.
// Prints one JSON object: {"threads","bytes","records","seconds","records_per_s","mb_per_s"}.
// With --e2e it also runs `credwatch replay` on the same files as a child
// process (peak memory from wait4) and writes OUT_PREFIX.json and .md.
#include <fcntl.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// Fields the cloudtrail, journald and ocsf decoders read (top level, and one
// level into the objects they descend into).
bool Wanted(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      // cloudtrail
      "eventTime", "eventSource", "eventName", "userIdentity", "sourceIPAddress", "userAgent",
      "requestParameters", "additionalEventData", "errorCode", "recipientAccountId", "resources",
      "responseElements",
      // journald
      "__REALTIME_TIMESTAMP", "_HOSTNAME", "SYSLOG_IDENTIFIER", "_PID", "MESSAGE",
      // ocsf
      "time", "class_uid", "activity_id", "status_id", "src_endpoint", "dst_endpoint", "traffic",
      "actor", "user", "device", "file", "api", "connection_info"};
  for (std::string_view k : kKeys) {
    if (k == key) return true;
  }
  return false;
}

// Reads a value the way a decoder would: strings unescaped, numbers parsed,
// objects walked one level with their scalars read.
size_t Touch(simdjson::ondemand::value v) {
  size_t n = 0;
  simdjson::ondemand::json_type t;
  if (v.type().get(t)) return 0;
  switch (t) {
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      if (!v.get_string().get(s)) n += s.size();
      break;
    }
    case simdjson::ondemand::json_type::number: {
      double d;
      if (!v.get_double().get(d)) n += 1;
      break;
    }
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object o;
      if (v.get_object().get(o)) break;
      for (auto field : o) {
        simdjson::ondemand::value inner;
        if (field.value().get(inner)) break;
        simdjson::ondemand::json_type it;
        if (inner.type().get(it)) break;
        if (it == simdjson::ondemand::json_type::string) {
          std::string_view s;
          if (!inner.get_string().get(s)) n += s.size();
        }
      }
      break;
    }
    default: break;
  }
  return n;
}

struct SliceResult {
  size_t records = 0;
  size_t touched = 0;
};

SliceResult Pass(const char* data, size_t len) {
  SliceResult r;
  simdjson::ondemand::parser parser;
  simdjson::padded_string buf(data, len);
  simdjson::ondemand::document_stream stream;
  if (parser.iterate_many(buf, 1 << 20).get(stream)) return r;
  for (auto doc : stream) {
    simdjson::ondemand::object o;
    if (doc.get_object().get(o)) continue;
    for (auto field : o) {
      std::string_view key;
      if (field.unescaped_key().get(key)) break;
      if (Wanted(key)) {
        simdjson::ondemand::value v;
        if (!field.value().get(v)) r.touched += Touch(v);
      }
    }
    ++r.records;
  }
  return r;
}



struct Ceiling {
  int threads = 1;
  size_t bytes = 0, records = 0, checksum = 0;
  double seconds = 0;
  double records_per_s() const { return seconds > 0 ? static_cast<double>(records) / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

Ceiling RunCeiling(const std::string& all, int threads) {
  std::vector<std::pair<size_t, size_t>> slices;
  size_t start = 0;
  for (int t = 0; t < threads; ++t) {
    size_t end = t + 1 == threads ? all.size()
                                  : all.size() * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
    if (end < all.size()) {
      size_t nl = all.find('\n', end);
      end = nl == std::string::npos ? all.size() : nl + 1;
    }
    end = std::max(end, start);
    slices.emplace_back(start, end - start);
    start = end;
  }
  std::vector<SliceResult> results(slices.size());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (size_t i = 0; i < slices.size(); ++i) {
    pool.emplace_back([&, i] { results[i] = Pass(all.data() + slices[i].first, slices[i].second); });
  }
  for (auto& th : pool) th.join();
  Ceiling c;
  c.threads = threads;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.bytes = all.size();
  for (const auto& r : results) {
    c.records += r.records;
    c.checksum += r.touched;
  }
  return c;
}

// Runs `argv` as a child with stdout to /dev/null, returns its stderr, wall
// seconds and peak resident memory (KiB).
std::string RunChild(std::vector<std::string> args, double* wall, long* max_rss_kib, int* status) {
  int err_pipe[2];
  if (pipe(err_pipe) != 0) return "";
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(err_pipe[1], 2);
    close(err_pipe[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err_pipe[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(err_pipe[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(err_pipe[0]);
  struct rusage usage;
  wait4(pid, status, 0, &usage);
  *wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *max_rss_kib = usage.ru_maxrss;
  return out;
}

long long NumberBefore(const std::string& text, const std::string& suffix) {
  size_t p = text.find(suffix);
  if (p == std::string::npos || p == 0) return 0;
  size_t b = p;
  while (b > 0 && (std::isdigit(static_cast<unsigned char>(text[b - 1])) || text[b - 1] == '.')) --b;
  return std::atoll(text.substr(b, p - b).c_str());
}

std::string Machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, cpu = "unknown";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s, %u cores, %.1f GiB", cpu.c_str(),
                std::thread::hardware_concurrency(),
                static_cast<double>(pages) * static_cast<double>(page) / (1 << 30));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  // credwatch_ceiling [--threads N] FILE...               ceiling only, one JSON line
  // credwatch_ceiling --e2e BINARY CONFIG OUT_PREFIX FILE... the whole comparison
  int threads = 1;
  std::string binary, config, prefix;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--e2e") == 0 && i + 3 < argc) {
      binary = argv[++i];
      config = argv[++i];
      prefix = argv[++i];
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr,
                 "usage: credwatch_ceiling [--threads N] FILE...\n"
                 "       credwatch_ceiling --e2e CREDWATCH_BINARY CONFIG OUT_PREFIX FILE...\n");
    return 2;
  }
  std::string all;
  auto load = [&]() {
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "credwatch_ceiling: cannot read %s\n", f.c_str());
        std::exit(2);
      }
      std::stringstream ss;
      ss << in.rdbuf();
      all += ss.str();
      if (!all.empty() && all.back() != '\n') all += '\n';
    }
  };
  if (binary.empty()) {
    load();
    Ceiling c = RunCeiling(all, threads);
    std::printf("{\"threads\":%d,\"bytes\":%zu,\"records\":%zu,\"seconds\":%.4f,\"records_per_s\":%.0f,"
                "\"mb_per_s\":%.1f,\"checksum\":%zu}\n",
                c.threads, c.bytes, c.records, c.seconds, c.records_per_s(), c.mb_per_s(), c.checksum);
    return 0;
  }
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> args = {binary, "replay", "--config", config, "--rules",
                                   std::string(CREDWATCH_SOURCE_DIR) + "/rules", "--output", "/dev/null"};
  args.insert(args.end(), files.begin(), files.end());
  double wall = 0;
  long rss_kib = 0;
  int status = 0;
  // The child runs before this process loads the files: a forked child's
  // ru_maxrss would otherwise count the parent's pages.
  std::string summary = RunChild(args, &wall, &rss_kib, &status);
  load();
  Ceiling one = RunCeiling(all, 1);
  Ceiling many = RunCeiling(all, cores);
  long long records = NumberBefore(summary, " records,");
  long long events = NumberBefore(summary, " events,");
  long long alerts = NumberBefore(summary, " alerts");
  double rps = wall > 0 ? static_cast<double>(records) / wall : 0;
  double eps = wall > 0 ? static_cast<double>(events) / wall : 0;
  double mbps = wall > 0 ? static_cast<double>(all.size()) / wall / 1e6 : 0;
  std::string machine = Machine();
  std::FILE* j = std::fopen((prefix + ".json").c_str(), "w");
  std::FILE* m = std::fopen((prefix + ".md").c_str(), "w");
  if (!j || !m) {
    std::fprintf(stderr, "credwatch_ceiling: cannot write %s.{json,md}\n", prefix.c_str());
    return 2;
  }
  std::fprintf(j,
               "{\"machine\":\"%s\",\"records\":%zu,\"bytes\":%zu,"
               "\"ceiling_1core\":{\"records_per_s\":%.0f,\"mb_per_s\":%.1f},"
               "\"ceiling_all_cores\":{\"cores\":%d,\"records_per_s\":%.0f,\"mb_per_s\":%.1f},"
               "\"replay\":{\"records_per_s\":%.0f,\"events_per_s\":%.0f,\"mb_per_s\":%.1f,\"seconds\":%.3f,"
               "\"peak_rss_mib\":%.1f,\"alerts\":%lld,\"exit_status\":%d},"
               "\"ratio_vs_1core\":%.3f,\"ratio_vs_all_cores\":%.3f}\n",
               machine.c_str(), one.records, one.bytes, one.records_per_s(), one.mb_per_s(), cores,
               many.records_per_s(), many.mb_per_s(), rps, eps, mbps, wall,
               static_cast<double>(rss_kib) / 1024.0, alerts, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               rps / std::max(1.0, one.records_per_s()), rps / std::max(1.0, many.records_per_s()));
  std::fprintf(m,
               "# credwatch end-to-end benchmark: %zu records (%.1f MB)\n\n"
               "Machine: %s. One run; these machines are shared and noisy, so compare the ratios "
               "within the run.\n\n"
               "| pass | records/s | MB/s |\n|---|---:|---:|\n"
               "| simdjson-only ceiling, 1 core | %.0f | %.1f |\n"
               "| simdjson-only ceiling, %d cores | %.0f | %.1f |\n"
               "| `credwatch replay`, full rule pack | %.0f | %.1f |\n\n"
               "Replay reaches %.0f%% of the one-core ceiling and %.0f%% of the %d-core ceiling; "
               "%.0f events/s (records that carry a security event), peak memory %.1f MiB, %lld alerts.\n",
               one.records, static_cast<double>(one.bytes) / 1e6, machine.c_str(), one.records_per_s(),
               one.mb_per_s(), cores, many.records_per_s(), many.mb_per_s(), rps, mbps,
               100 * rps / std::max(1.0, one.records_per_s()), 100 * rps / std::max(1.0, many.records_per_s()),
               cores, eps, static_cast<double>(rss_kib) / 1024.0, alerts);
  std::fclose(j);
  std::fclose(m);
  std::printf("%s", summary.c_str());
  return 0;
}
