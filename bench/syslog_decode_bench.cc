// Throughput of the text-log decoders.
//
//   BM_SyslogDecode         loghub OpenSSH_2k.log, repeated, through the syslog decoder
//   BM_JournaldDecode       generated `journalctl -o json` lines through the journald decoder
//   BM_JournaldSimdjsonOnly the same lines, simdjson On-Demand iterate_many extracting
//                           the same fields and nothing else: the floor for the decoder
//   BM_JournaldSimdjsonPerLine  the same, one iterate() per line as the decoder does
//
// items/s are records (lines), bytes/s are input bytes. Build with
// -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_BENCH=ON.
#include <benchmark/benchmark.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "decode/decoders.h"
#include "simdjson.h"

namespace credwatch {
namespace {

// Records laid out back to back, newline separated, with padding after the
// last: each record is followed by at least kRecordPadding readable bytes.
struct Corpus {
  std::string buffer;
  std::vector<std::pair<size_t, size_t>> records;  // offset, length
  size_t bytes = 0;

  void Add(std::string_view line) {
    records.emplace_back(buffer.size(), line.size());
    buffer.append(line);
    buffer.push_back('\n');
    bytes += line.size() + 1;
  }
  void Seal() { buffer.append(kRecordPadding, ' '); }
  std::string_view Record(size_t i) const {
    return std::string_view(buffer.data() + records[i].first, records[i].second);
  }
};

const Corpus& OpenSshCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    std::ifstream in(std::string(CREDWATCH_DATASETS_DIR) + "/sshd/loghub/OpenSSH/OpenSSH_2k.log",
                     std::ios::binary);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    for (int rep = 0; rep < 50; ++rep) {
      for (const std::string& l : lines) c->Add(l);
    }
    c->Seal();
    return c;
  }();
  return *corpus;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A journal of a busy legacy file server: sshd guesses and logins, sftp
// transfers, and the cron / systemd lines around them.
const Corpus& JournalCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    std::mt19937 rng(42);
    int64_t us = 1714557600000000;
    std::vector<uint32_t> sftp_pids;  // sftp processes with a linked login
    auto add = [&](int i, std::string_view ident, std::string_view comm, uint32_t pid,
                   const std::string& message) {
      us += 1 + rng() % 2000000;
      std::string p = std::to_string(pid);
      c->Add("{\"__CURSOR\":\"s=6c1e4b0;i=" + std::to_string(i) +
             ";b=9f8e;m=3c2d;t=61a2b3c4d5e6f;x=4f3e2d1c\",\"__REALTIME_TIMESTAMP\":\"" +
             std::to_string(us) +
             "\",\"__MONOTONIC_TIMESTAMP\":\"4050607080\",\"_BOOT_ID\":"
             "\"9f8e7d6c5b4a39281706f5e4d3c2b1a0\",\"_TRANSPORT\":\"syslog\",\"PRIORITY\":\"6\","
             "\"SYSLOG_FACILITY\":\"10\",\"SYSLOG_IDENTIFIER\":" + Quote(ident) +
             ",\"_UID\":\"0\",\"_GID\":\"0\",\"_COMM\":" + Quote(comm) +
             ",\"_EXE\":\"/usr/sbin/sshd\",\"_CMDLINE\":\"sshd: worker [priv]\","
             "\"_CAP_EFFECTIVE\":\"1ffffffffff\",\"_SYSTEMD_CGROUP\":\"/system.slice/ssh.service\","
             "\"_SYSTEMD_UNIT\":\"ssh.service\",\"_SYSTEMD_SLICE\":\"system.slice\","
             "\"_MACHINE_ID\":\"0123456789abcdef0123456789abcdef\",\"_HOSTNAME\":\"fs1\","
             "\"SYSLOG_PID\":\"" + p + "\",\"_PID\":\"" + p + "\",\"MESSAGE\":" +
             Quote(message) + "}");
    };
    for (int i = 0; c->records.size() < 100000; ++i) {
      uint32_t pid = 1000 + rng() % 30000;
      std::string ip = "198.51." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
      std::string user = "t0" + std::to_string(10 + rng() % 90) + "-user" + std::to_string(rng() % 50);
      std::string port = std::to_string(1024 + rng() % 60000);
      unsigned kind = rng() % 100;
      if (kind < 40) {
        add(i, "sshd", "sshd", pid,
            "Failed password for invalid user " + user + " from " + ip + " port " + port + " ssh2");
      } else if (kind < 45) {
        // A login with its pam session and an internal-sftp child.
        add(i, "sshd", "sshd", pid,
            "Accepted password for " + user + " from " + ip + " port " + port + " ssh2");
        add(i, "sshd", "sshd", pid,
            "pam_unix(sshd:session): session opened for user " + user + "(uid=1001) by (uid=0)");
        add(i, "internal-sftp", "sshd", pid + 3,
            "session opened for local user " + user + " from [" + ip + "]");
        sftp_pids.push_back(pid + 3);
      } else if (kind < 70) {
        uint32_t sftp = sftp_pids.empty() ? pid : sftp_pids[rng() % sftp_pids.size()];
        add(i, "internal-sftp", "sshd", sftp,
            "close \"/srv/data/" + user + "/export-" + std::to_string(rng() % 1000) +
                ".csv\" bytes read " + std::to_string(rng() % 100000000) + " written 0");
      } else if (kind < 85) {
        add(i, "CRON", "cron", pid,
            "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)");
      } else {
        add(i, "systemd", "systemd", 1,
            "Started Session " + std::to_string(rng() % 10000) + " of User " + user + ".");
      }
    }
    c->Seal();
    return c;
  }();
  return *corpus;
}

void RunDecoder(benchmark::State& state, Format format, const Corpus& corpus) {
  DecoderOptions options;
  options.syslog_start_year = 2015;
  auto decoder = format == Format::kSyslog ? decode::MakeSyslogDecoder(options)
                                           : decode::MakeJournaldDecoder(options);
  EventBatch batch;
  RecordContext ctx{"bench", 0};
  size_t events = 0, rejects = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < corpus.records.size(); ++i) {
      DecodeResult r = decoder->Decode(corpus.Record(i), ctx, batch);
      rejects += IsReject(r.code) ? 1 : 0;
      if (batch.size() >= 1024) {
        events += batch.size();
        batch.Clear();
      }
    }
    events += batch.size();
    batch.Clear();
  }
  if (rejects != 0) state.SkipWithError("corpus lines were rejected");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.bytes));
  state.counters["events/rec"] = static_cast<double>(events) /
                                 static_cast<double>(state.iterations() * corpus.records.size());
}

void BM_SyslogDecode(benchmark::State& state) {
  RunDecoder(state, Format::kSyslog, OpenSshCorpus());
}
BENCHMARK(BM_SyslogDecode)->Unit(benchmark::kMillisecond);

void BM_JournaldDecode(benchmark::State& state) {
  RunDecoder(state, Format::kJournald, JournalCorpus());
}
BENCHMARK(BM_JournaldDecode)->Unit(benchmark::kMillisecond);

namespace od = simdjson::ondemand;

// The fields the journald decoder reads, and nothing else.
template <typename Doc>
size_t ExtractFields(Doc& doc) {
  size_t sum = 0;
  od::object obj;
  if (doc.get_object().get(obj)) return 0;
  for (auto field : obj) {
    od::field f;
    if (std::move(field).get(f)) return 0;
    od::raw_json_string key = f.key();
    if (key == "__REALTIME_TIMESTAMP" || key == "_HOSTNAME" || key == "SYSLOG_IDENTIFIER" ||
        key == "_COMM" || key == "_PID" || key == "SYSLOG_PID" || key == "MESSAGE") {
      std::string_view v;
      if (f.value().get_string().get(v)) return 0;
      sum += v.size();
    }
  }
  return sum;
}

void BM_JournaldSimdjsonOnly(benchmark::State& state) {
  const Corpus& corpus = JournalCorpus();
  od::parser parser;
  size_t sum = 0;
  for (auto _ : state) {
    od::document_stream stream;
    if (parser.iterate_many(corpus.buffer.data(), corpus.bytes, od::DEFAULT_BATCH_SIZE)
            .get(stream)) {
      state.SkipWithError("iterate_many failed");
      return;
    }
    for (auto doc_result : stream) {
      od::document_reference doc;
      if (std::move(doc_result).get(doc)) {
        state.SkipWithError("bad document");
        return;
      }
      sum += ExtractFields(doc);
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.bytes));
}
BENCHMARK(BM_JournaldSimdjsonOnly)->Unit(benchmark::kMillisecond);

void BM_JournaldSimdjsonPerLine(benchmark::State& state) {
  const Corpus& corpus = JournalCorpus();
  od::parser parser;
  size_t sum = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < corpus.records.size(); ++i) {
      std::string_view r = corpus.Record(i);
      od::document doc;
      if (parser.iterate(simdjson::padded_string_view(r.data(), r.size(), r.size() + kRecordPadding))
              .get(doc)) {
        continue;
      }
      sum += ExtractFields(doc);
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.bytes));
}
BENCHMARK(BM_JournaldSimdjsonPerLine)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace credwatch

BENCHMARK_MAIN();
