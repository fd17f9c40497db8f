// CloudTrail decoding throughput, against what simdjson alone does with the
// same bytes.
//
//   BM_SimdjsonOnly      iterate_many over the NDJSON, pulling out the fields
//                        the decoder reads as strings/integers, nothing else
//                        (single-threaded, like a decoder).
//   BM_CloudTrailDecoder the cloudtrail decoder over the same lines, framed
//                        with memchr as a reader would, into reused batches.
//   BM_CloudTrailDecoderProjected  the same with four rule-projected paths.
//
// The corpus is ~50k synthetic records shaped like real CloudTrail (S3 data
// events, console logins, STS, management calls), ~1.3 KB each. Build in
// Release with -DCREDWATCH_BUILD_BENCH=ON; the decoder is expected to reach at
// least 60% of BM_SimdjsonOnly's bytes/s.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "simdjson.h"

namespace credwatch {
namespace {

namespace od = simdjson::ondemand;

constexpr int kRecords = 50'000;
constexpr size_t kBatchEvents = 1024;

// Deterministic pseudo-random numbers (the corpus is the same on every run).
class Lcg {
 public:
  uint32_t Next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state_ >> 33);
  }
  uint32_t Below(uint32_t n) { return Next() % n; }

 private:
  uint64_t state_ = 0x9E3779B97F4A7C15ULL;
};

void AppendRecord(Lcg& rng, int i, std::string* out) {
  char buf[4096];
  int n = 0;
  const uint32_t tenant = rng.Below(40);
  const uint32_t user = rng.Below(8);
  const uint32_t kind = rng.Below(100);
  const int day = 1 + i / 4000;
  const int sec = i % 86400;
  char time[32];
  std::snprintf(time, sizeof(time), "2025-02-%02dT%02d:%02d:%02dZ", day, sec / 3600, sec / 60 % 60,
                sec % 60);
  char ip[20];
  std::snprintf(ip, sizeof(ip), "%u.%u.%u.%u", 198 + rng.Below(4), rng.Below(256), rng.Below(256),
                1 + rng.Below(254));
  const char* error =
      rng.Below(50) == 0 ? R"("errorCode":"AccessDenied","errorMessage":"Access Denied",)" : "";
  if (kind < 55 || kind >= 95) {  // S3 data events: GetObject / PutObject / ListObjects
    const char* name = kind < 45 ? "GetObject" : kind < 55 ? "PutObject" : "ListObjects";
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"eventVersion":"1.09","userIdentity":{"type":"IAMUser",)"
        R"("principalId":"AIDA5BUILDER%04u%02u",)"
        R"("arn":"arn:aws:iam::111122223333:user/t%03u-user%u","accountId":"111122223333",)"
        R"("accessKeyId":"AKIA5EXAMPLE%04u%02u","userName":"t%03u-user%u"},"eventTime":"%s",)"
        R"("eventSource":"s3.amazonaws.com","eventName":"%s","awsRegion":"eu-west-1",)"
        R"("sourceIPAddress":"%s","userAgent":"[aws-sdk-java/2.20.0 Linux/5.10.205 )"
        R"(OpenJDK_64-Bit_Server_VM/17.0.6+10 java/17.0.6 vendor/Amazon.com_Inc. io/sync )"
        R"(http/Apache cfg/retry-mode/legacy]",%s"requestParameters":{"bucketName":")"
        R"(tenant-%03u-records",)"
        R"("Host":"tenant-%03u-records.s3.eu-west-1.amazonaws.com",)"
        R"("key":"exports/2025/02/%08d.csv"},)"
        R"("responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4",)"
        R"("CipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","bytesTransferredIn":%u,)"
        R"("AuthenticationMethod":"AuthHeader","x-amz-id-2":")"
        R"(mXv2Kx9yQ3aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdEFGHijkl=",)"
        R"("bytesTransferredOut":%u},"requestID":"8Z3Q%08X","eventID":"%08x-6c1d-4f5e-9a7b-%012x",)"
        R"("readOnly":true,"resources":[{"type":"AWS::S3::Object",)"
        R"("ARN":"arn:aws:s3:::tenant-%03u-records/exports/2025/02/%08d.csv"},)"
        R"({"accountId":"111122223333","type":"AWS::S3::Bucket",)"
        R"("ARN":"arn:aws:s3:::tenant-%03u-records"}],)"
        R"("eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333",)"
        R"("eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.2",)"
        R"("cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256",)"
        R"("clientProvidedHostHeader":"tenant-%03u-records.s3.eu-west-1.amazonaws.com"}})",
        tenant, user, tenant, user, tenant, user, tenant, user, time, name, ip, error, tenant,
        tenant, i, kind >= 45 && kind < 55 ? rng.Below(1 << 24) : 0,
        kind < 45 ? rng.Below(1 << 26) : 0, rng.Next(), rng.Next(), rng.Next(), tenant, i, tenant,
        tenant);
  } else if (kind < 65) {  // console login
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",)"
        R"("principalId":"AIDA5BUILDER%04u%02u",)"
        R"("arn":"arn:aws:iam::111122223333:user/t%03u-user%u","accountId":"111122223333",)"
        R"("userName":"t%03u-user%u"},"eventTime":"%s","eventSource":"signin.amazonaws.com",)"
        R"("eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"%s",)"
        R"("userAgent":"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:102.0) Gecko/20100101 Firefox/1)"
        R"(02.0",)"
        R"("requestParameters":null,"responseElements":{"ConsoleLogin":"%s"},)"
        R"("additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home",)"
        R"("MobileVersion":"No","MFAUsed":"No"},"eventID":"%08x-6c1d-4f5e-9a7b-%012x",)"
        R"("readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,)"
        R"("recipientAccountId":"111122223333","eventCategory":"Management",)"
        R"("tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256",)"
        R"("clientProvidedHostHeader":"signin.aws.amazon.com"}})",
        tenant, user, tenant, user, tenant, user, time, ip,
        rng.Below(5) == 0 ? "Failure" : "Success", rng.Next(), rng.Next());
  } else if (kind < 75) {  // STS AssumeRole by an assumed role
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"eventVersion":"1.08","userIdentity":{"type":"AssumedRole",)"
        R"("principalId":"AROA5ROLE%04u:worker-%u","arn":")"
        R"(arn:aws:sts::111122223333:assumed-role/etl-%03u/worker-%u",)"
        R"("accountId":"111122223333","accessKeyId":"ASIA5SESSION%04u%02u","sessionContext":{)"
        R"("sessionIssuer":{"type":"Role","principalId":"AROA5ROLE%04u",)"
        R"("arn":"arn:aws:iam::111122223333:role/etl-%03u","accountId":"111122223333",)"
        R"("userName":"etl-%03u"},)"
        R"("webIdFederationData":{},"attributes":{"creationDate":"%s",)"
        R"("mfaAuthenticated":"false"}}},)"
        R"("eventTime":"%s","eventSource":"sts.amazonaws.com","eventName":"AssumeRole",)"
        R"("awsRegion":"eu-west-1","sourceIPAddress":"%s","userAgent":")"
        R"(aws-cli/2.13.5 Python/3.11.4",)"
        R"("requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/reader-%03u",)"
        R"("roleSessionName":"worker-%u","durationSeconds":3600},)"
        R"("responseElements":{"credentials":{)"
        R"("accessKeyId":"ASIA5NEWKEY%05u","sessionToken":")"
        R"(IQoJb3JpZ2luX2VjECwaCXVzLWVhc3QtMSJGMEQCIBxqGB94lob6KrCdvS338BkpG/V/EV428vAUGdb3J3QPAiB)"
        R"(5yV3WYLn3SCYLtPc1QzMkLMXm3CYEBYaptXlg4O6ppCr0Agil",)"
        R"("expiration":"Feb 1, 2025, 1:00:00 PM"},"assumedRoleUser":{"assumedRoleId":")"
        R"(AROA5READ:worker-%u",)"
        R"("arn":"arn:aws:sts::111122223333:assumed-role/reader-%03u/worker-%u"}},)"
        R"("requestID":"%08x-1111-2222-3333-444455556666","eventID":"%08x-6c1d-4f5e-9a7b-%012x",)"
        R"("readOnly":true,"resources":[{"accountId":"111122223333","type":"AWS::IAM::Role",)"
        R"("ARN":"arn:aws:iam::111122223333:role/reader-%03u"}],"eventType":"AwsApiCall",)"
        R"("managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management")"
        R"(})",
        tenant, user, tenant, user, tenant, user, tenant, tenant, tenant, time, time, ip, tenant,
        user, rng.Below(100000), user, tenant, user, rng.Next(), rng.Next(), rng.Next(), tenant);
  } else {  // management calls
    static const char* const kCalls[] = {"DescribeInstances", "GetUser", "ListRoles",
                                         "DescribeSecurityGroups", "CreateTags"};
    const char* name = kCalls[rng.Below(5)];
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",)"
        R"("principalId":"AIDA5BUILDER%04u%02u",)"
        R"("arn":"arn:aws:iam::111122223333:user/t%03u-user%u","accountId":"111122223333",)"
        R"("accessKeyId":"AKIA5EXAMPLE%04u%02u","userName":"t%03u-user%u"},"eventTime":"%s",)"
        R"("eventSource":"ec2.amazonaws.com","eventName":"%s","awsRegion":"eu-west-1",)"
        R"("sourceIPAddress":"%s","userAgent":"aws-cli/2.13.5 Python/3.11.4 Linux/5.15 exe/x86_64.)"
        R"(ubuntu.22",)"
        R"(%s"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-0%015x"}]},)"
        R"("filterSet":{"items":[{"name":"tag:tenant","valueSet":{"items":[{"value":"t%03u")"
        R"(}]}}]}},)"
        R"("responseElements":null,"requestID":"%08x-1111-2222-3333-444455556666",)"
        R"("eventID":"%08x-6c1d-4f5e-9a7b-%012x","readOnly":true,"eventType":"AwsApiCall",)"
        R"("managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management")"
        R"(,)"
        R"("tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256",)"
        R"("clientProvidedHostHeader":"ec2.eu-west-1.amazonaws.com"}})",
        tenant, user, tenant, user, tenant, user, tenant, user, time, name, ip, error, rng.Next(),
        tenant, rng.Next(), rng.Next(), rng.Next());
  }
  out->append(buf, static_cast<size_t>(n));
  out->push_back('\n');
}

struct Corpus {
  simdjson::padded_string ndjson;  // padded: every line has >= 64 bytes after it
  size_t records = 0;
};

const Corpus& GetCorpus() {
  static const Corpus* corpus = [] {
    std::string text;
    Lcg rng;
    for (int i = 0; i < kRecords; ++i) AppendRecord(rng, i, &text);
    auto* c = new Corpus{simdjson::padded_string(text), static_cast<size_t>(kRecords)};
    return c;
  }();
  return *corpus;
}

// The fields the decoder reads, pulled out with plain On-Demand calls.
void Extract(od::object obj, size_t* sink);

void ExtractObject(od::value v, size_t* sink) {
  od::object obj;
  if (v.get_object().get(obj) == simdjson::SUCCESS) Extract(obj, sink);
}

void ExtractString(od::value v, size_t* sink) {
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) *sink += s.size();
}

void Extract(od::object obj, size_t* sink) {
  for (auto field : obj) {
    od::raw_json_string key = field.key();
    od::value v = field.value();
    if (key == "eventTime" || key == "eventName" || key == "eventSource" ||
        key == "sourceIPAddress" || key == "userAgent" || key == "errorCode" ||
        key == "recipientAccountId" || key == "type" || key == "userName" || key == "arn" ||
        key == "principalId" || key == "accountId" || key == "accessKeyId" || key == "invokedBy" ||
        key == "bucketName" || key == "key" || key == "ConsoleLogin" || key == "ARN") {
      ExtractString(v, sink);
    } else if (key == "bytesTransferredOut" || key == "bytesTransferredIn") {
      int64_t n;
      if (v.get_int64().get(n) == simdjson::SUCCESS) *sink += static_cast<size_t>(n);
    } else if (key == "userIdentity" || key == "requestParameters" || key == "responseElements" ||
               key == "additionalEventData" || key == "sessionContext" || key == "sessionIssuer") {
      ExtractObject(v, sink);
    } else if (key == "resources") {
      od::array arr;
      if (v.get_array().get(arr) != simdjson::SUCCESS) continue;
      for (auto element : arr) {
        od::object r;
        if (element.get_object().get(r) == simdjson::SUCCESS) Extract(r, sink);
      }
    }
  }
}

void BM_SimdjsonOnly(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  od::parser parser;
  parser.threaded = false;  // a decoder runs on one thread
  size_t docs = 0;
  for (auto _ : state) {
    size_t sink = 0;
    od::document_stream stream;
    if (parser.iterate_many(corpus.ndjson.data(), corpus.ndjson.size(), 1 << 20).get(stream)) {
      state.SkipWithError("iterate_many failed");
      return;
    }
    docs = 0;
    for (auto doc_result : stream) {
      od::document_reference doc;
      od::object obj;
      if (std::move(doc_result).get(doc) || doc.get_object().get(obj)) {
        state.SkipWithError("bad document");
        return;
      }
      Extract(obj, &sink);
      ++docs;
    }
    benchmark::DoNotOptimize(sink);
  }
  if (docs != corpus.records) state.SkipWithError("not every record was read");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.ndjson.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records));
}
BENCHMARK(BM_SimdjsonOnly)->Unit(benchmark::kMillisecond);

// Diagnostic: the same extraction, but one parser.iterate() per line as the
// Decoder interface hands records over. The gap to BM_SimdjsonOnly is the
// cost of per-record parsing; the gap to BM_CloudTrailDecoder is the decoder.
void BM_SimdjsonPerRecord(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  od::parser parser;
  size_t docs = 0;
  for (auto _ : state) {
    size_t sink = 0;
    const char* p = corpus.ndjson.data();
    const char* end = p + corpus.ndjson.size();
    docs = 0;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) nl = end;
      size_t len = static_cast<size_t>(nl - p);
      od::document doc;
      od::object obj;
      if (parser.iterate(p, len, len + simdjson::SIMDJSON_PADDING).get(doc) ||
          doc.get_object().get(obj)) {
        state.SkipWithError("bad document");
        return;
      }
      Extract(obj, &sink);
      ++docs;
      p = nl + 1;
    }
    benchmark::DoNotOptimize(sink);
  }
  if (docs != corpus.records) state.SkipWithError("not every record was read");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.ndjson.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records));
}
BENCHMARK(BM_SimdjsonPerRecord)->Unit(benchmark::kMillisecond);

void RunDecoder(benchmark::State& state, const DecoderOptions& options) {
  const Corpus& corpus = GetCorpus();
  auto decoder = MakeDecoder(Format::kCloudTrail, options);
  if (!decoder.ok()) {
    state.SkipWithError("no decoder");
    return;
  }
  EventBatch batch;
  RecordContext ctx{"bench.ndjson", 0};
  size_t events = 0;
  for (auto _ : state) {
    const char* p = corpus.ndjson.data();
    const char* end = p + corpus.ndjson.size();
    events = 0;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) nl = end;
      if (batch.size() == kBatchEvents) batch.Clear();
      ctx.offset = static_cast<uint64_t>(p - corpus.ndjson.data());
      DecodeResult r =
          (*decoder)->Decode(std::string_view(p, static_cast<size_t>(nl - p)), ctx, batch);
      if (r.code != RecordCode::kOk) [[unlikely]] {
        state.SkipWithError("record rejected");
        return;
      }
      ++events;
      p = nl + 1;
    }
    benchmark::DoNotOptimize(batch.size());
  }
  if (events != corpus.records) state.SkipWithError("not every record was decoded");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.ndjson.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * corpus.records));
}

void BM_CloudTrailDecoder(benchmark::State& state) { RunDecoder(state, DecoderOptions{}); }
BENCHMARK(BM_CloudTrailDecoder)->Unit(benchmark::kMillisecond);

void BM_CloudTrailDecoderProjected(benchmark::State& state) {
  Projection projection;
  projection.paths = {{"eventName", 1000},
                      {"userIdentity.type", 1001},
                      {"requestParameters.key", 1002},
                      {"tlsDetails.tlsVersion", 1003}};
  DecoderOptions options;
  options.projection = &projection;
  RunDecoder(state, options);
}
BENCHMARK(BM_CloudTrailDecoderProjected)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace credwatch

BENCHMARK_MAIN();
