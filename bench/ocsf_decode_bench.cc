// The ocsf decoder against the simdjson floor: ~50k generated OCSF records
// (Network Activity 4001 egress flows and Authentication 3002 logons) as
// NDJSON.
//
//   BM_SimdjsonOnly  iterate_many over the buffer, reading the same fields the
//                    decoder reads for these classes, by hand, into views
//   BM_OcsfDecoder   one Decode per line into an EventBatch, as a reader does
//
// After the runs the decoder's share of the floor is printed (target: >= 60%).
// Build with -DCREDWATCH_BUILD_BENCH=ON in a Release tree.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "decode/decoders.h"
#include "simdjson.h"

namespace credwatch {
namespace {

constexpr int kRecords = 50'000;

// Deterministic NDJSON: 70% outbound flows, 30% logons (a tenth failed), with
// the metadata and unmapped members real producers write.
const std::string& Corpus() {
  static const std::string* corpus = [] {
    auto* s = new std::string;
    std::mt19937_64 rng(42);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    int64_t time_ms = 1'700'000'000'000;
    for (int i = 0; i < kRecords; ++i) {
      time_ms += pick(2000);
      std::string host = absl::StrCat("legacy-", pick(40));
      std::string src = absl::StrCat("10.20.", pick(4), ".", 1 + pick(250));
      if (pick(10) < 7) {
        absl::StrAppend(
            s, R"({"activity_id":6,"activity_name":"Traffic","category_name":"Network Activity",)",
            R"("category_uid":4,"class_name":"Network Activity","class_uid":4001,)",
            R"("connection_info":{"boundary_id":3,"direction":"Outbound","direction_id":2,)",
            R"("protocol_num":6,"protocol_ver":"IPv4","tcp_flags":19},)",
            R"("dst_endpoint":{"ip":"198.51.)", pick(256), ".", pick(256), R"(","port":)",
            pick(2) ? 443 : 22, R"(,"svc_name":"-"},)",
            R"("metadata":{"product":{"name":"Flow Sensor","vendor_name":"Example"},)",
            R"("profiles":["host","datetime"],"version":"1.1.0"},)",
            R"("severity":"Informational","severity_id":1,)", R"("src_endpoint":{"hostname":")",
            host, R"(","ip":")", src, R"(","port":)", 32768 + pick(28000),
            R"(,"interface_uid":"eth0"},)", R"("time":)", time_ms, R"(,"traffic":{"bytes_in":)",
            pick(100000), R"(,"bytes_out":)", pick(50'000'000), R"(,"packets":)", 1 + pick(5000),
            "},", R"("type_name":"Network Activity: Traffic","type_uid":400106,)",
            R"("unmapped":{"flow_id":")", rng(), R"(","sensor":"s-)", pick(9), R"("}})", "\n");
      } else {
        bool ok = pick(10) != 0;
        std::string user = absl::StrCat("t", 100 + pick(60), "-user", pick(30));
        absl::StrAppend(
            s, R"({"activity_id":1,"activity_name":"Logon",)",
            R"("actor":{"process":{"name":"sshd","pid":)", 1000 + pick(60000),
            R"(},"session":{"uid":"sshd-)", pick(1'000'000), R"("}},)",
            R"("auth_protocol":"Password","auth_protocol_id":99,)",
            R"("category_name":"Identity & Access Management","category_uid":3,)",
            R"("class_name":"Authentication","class_uid":3002,)", R"("device":{"hostname":")", host,
            R"(","os":{"name":"Linux","type_id":100}},)",
            R"("http_request":{"user_agent":"SSH-2.0-OpenSSH_8.9p1"},)",
            R"("logon_type":"Network","logon_type_id":3,)",
            R"("metadata":{"product":{"name":"sshd","vendor_name":"OpenBSD"},)",
            R"("profiles":["host"],"version":"1.1.0"},)",
            R"("severity":"Informational","severity_id":1,)", R"("src_endpoint":{"ip":"203.0.113.)",
            pick(256), R"(","port":)", 32768 + pick(28000), "},", R"("status":")",
            ok ? "Success" : "Failure", R"(","status_id":)", ok ? 1 : 2, R"(,"time":)", time_ms,
            R"(,"type_uid":300201,)", R"("user":{"name":")", user, R"(","type_id":1}})", "\n");
      }
    }
    return s;
  }();
  return *corpus;
}

// The corpus with simdjson's padding after it.
const simdjson::padded_string& PaddedCorpus() {
  static const simdjson::padded_string* p = new simdjson::padded_string(Corpus());
  return *p;
}

// What both passes take from a record; folded into a checksum so neither
// pass can be optimized away.
struct Fields {
  int64_t class_uid = 0, time = 0, activity_id = 0, status_id = 0, direction_id = 0;
  int64_t src_port = 0, dst_port = 0, bytes_out = 0;
  std::string_view status, actor, user, session, src_ip, src_host, dst_ip, device_host, ua;

  uint64_t Sum() const {
    return static_cast<uint64_t>(class_uid + time + activity_id + status_id + direction_id +
                                 src_port + dst_port + bytes_out) +
           status.size() + actor.size() + user.size() + session.size() + src_ip.size() +
           src_host.size() + dst_ip.size() + device_host.size() + ua.size();
  }
};

namespace od = simdjson::ondemand;

// Hand-written extraction: the fastest code one would write for these fields.
bool ReadEndpoint(od::value v, std::string_view* ip, int64_t* port, std::string_view* host) {
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return false;
    if (k == "ip") {
      if (f.value().get_string().get(*ip)) return false;
    } else if (k == "port") {
      if (f.value().get_int64().get(*port)) return false;
    } else if (k == "hostname" && host != nullptr) {
      if (f.value().get_string().get(*host)) return false;
    }
  }
  return true;
}

bool Extract(od::document_reference doc, Fields* out) {
  od::object root;
  if (doc.get_object().get(root)) return false;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value v = field.value();
    if (key == "class_uid") {
      if (v.get_int64().get(out->class_uid)) return false;
    } else if (key == "time") {
      if (v.get_int64().get(out->time)) return false;
    } else if (key == "activity_id") {
      if (v.get_int64().get(out->activity_id)) return false;
    } else if (key == "status_id") {
      if (v.get_int64().get(out->status_id)) return false;
    } else if (key == "status") {
      if (v.get_string().get(out->status)) return false;
    } else if (key == "src_endpoint") {
      if (!ReadEndpoint(v, &out->src_ip, &out->src_port, &out->src_host)) return false;
    } else if (key == "dst_endpoint") {
      if (!ReadEndpoint(v, &out->dst_ip, &out->dst_port, nullptr)) return false;
    } else if (key == "user") {
      std::string_view name;
      if (v["name"].get_string().get(name)) return false;
      out->user = name;
    } else if (key == "actor") {
      od::object actor;
      if (v.get_object().get(actor)) return false;
      for (auto f : actor) {
        std::string_view k;
        if (f.unescaped_key().get(k)) return false;
        if (k == "session") {
          if (f.value()["uid"].get_string().get(out->session)) return false;
        } else if (k == "user") {
          if (f.value()["name"].get_string().get(out->actor)) return false;
        }
      }
    } else if (key == "device") {
      if (v["hostname"].get_string().get(out->device_host)) return false;
    } else if (key == "http_request") {
      if (v["user_agent"].get_string().get(out->ua)) return false;
    } else if (key == "connection_info") {
      if (v["direction_id"].get_int64().get(out->direction_id)) return false;
    } else if (key == "traffic") {
      if (v["bytes_out"].get_int64().get(out->bytes_out)) return false;
    }
  }
  return true;
}

void BM_SimdjsonOnly(benchmark::State& state) {
  const simdjson::padded_string& corpus = PaddedCorpus();
  od::parser parser;
  uint64_t sum = 0;
  for (auto _ : state) {
    od::document_stream stream;
    if (parser.iterate_many(corpus, 1 << 20).get(stream)) state.SkipWithError("iterate_many");
    int64_t n = 0;
    for (auto doc_result : stream) {
      od::document_reference ref;
      Fields f;
      if (std::move(doc_result).get(ref) || !Extract(ref, &f)) {
        state.SkipWithError("extract");
        break;
      }
      sum += f.Sum();
      ++n;
    }
    if (n != kRecords) state.SkipWithError("record count");
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.size()));
}
BENCHMARK(BM_SimdjsonOnly)->Unit(benchmark::kMillisecond);

void BM_OcsfDecoder(benchmark::State& state) {
  const simdjson::padded_string& corpus = PaddedCorpus();
  std::unique_ptr<Decoder> decoder = decode::MakeOcsfDecoder(DecoderOptions{});
  EventBatch batch;
  uint64_t sum = 0;
  for (auto _ : state) {
    const char* p = corpus.data();
    const char* end = p + corpus.size();
    int64_t n = 0;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) nl = end;
      // Each line is followed by the rest of the buffer and its padding.
      DecodeResult r =
          decoder->Decode(std::string_view(p, nl - p),
                          RecordContext{"bench", static_cast<uint64_t>(p - corpus.data())}, batch);
      if (r.code != RecordCode::kOk) {
        state.SkipWithError("decode");
        break;
      }
      const Event& e = batch[batch.size() - 1];
      sum += static_cast<uint64_t>(e.time_ns + e.bytes) + e.credential.size() + e.host.size();
      if (batch.size() == 4096) batch.Clear();
      ++n;
      p = nl + 1;
    }
    if (n != kRecords) state.SkipWithError("record count");
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.size()));
}
BENCHMARK(BM_OcsfDecoder)->Unit(benchmark::kMillisecond);

// Prints the usual table and remembers items/s per benchmark for the ratio.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("items_per_second");
      // One run, or the mean of --benchmark_repetitions.
      if (it != run.counters.end() &&
          (run.aggregate_name.empty() || run.aggregate_name == "mean")) {
        items_per_second[run.run_name.function_name] = it->second.value;
      }
    }
  }
  std::map<std::string, double> items_per_second;
};

}  // namespace
}  // namespace credwatch

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  credwatch::RatioReporter reporter;
  std::printf("corpus: %d records, %zu bytes\n", credwatch::kRecords, credwatch::Corpus().size());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto& ips = reporter.items_per_second;
  if (ips.count("BM_SimdjsonOnly") && ips.count("BM_OcsfDecoder")) {
    std::printf("decoder / simdjson-only: %.1f%% (target >= 60%%)\n",
                100.0 * ips["BM_OcsfDecoder"] / ips["BM_SimdjsonOnly"]);
  }
  benchmark::Shutdown();
  return 0;
}
