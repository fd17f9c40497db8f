// The ocsf decoder against the published OCSF examples and hand-written
// records of each class it reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"

namespace credwatch::decode {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(CREDWATCH_DATASETS_DIR) / "ocsf-examples";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Holds one record followed by the padding decoders may read.
class Record {
 public:
  explicit Record(std::string_view text) : buf_(text) { buf_.append(kRecordPadding, '\0'); }
  std::string_view view() const { return {buf_.data(), buf_.size() - kRecordPadding}; }

 private:
  std::string buf_;
};

std::string CodeName(RecordCode c) { return std::to_string(static_cast<int>(c)); }

}  // namespace
}  // namespace credwatch::decode

namespace credwatch {
// gtest prints RecordCode values through this (found by ADL).
void PrintTo(RecordCode c, std::ostream* os) { *os << "RecordCode(" << static_cast<int>(c) << ")"; }
}  // namespace credwatch

namespace credwatch::decode {
namespace {

class OcsfDecoderTest : public ::testing::Test {
 protected:
  DecodeResult Decode(std::string_view json) {
    Record r(json);
    return decoder_->Decode(r.view(), RecordContext{"test.ocsf", 42}, batch_);
  }
  // Decodes `json`, expects one event and returns it.
  const Event& DecodeOne(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, RecordCode::kOk) << r.detail << "\n" << json;
    EXPECT_EQ(batch_.size(), before + 1);
    static const Event kEmpty;
    return batch_.size() > before ? batch_[batch_.size() - 1] : kEmpty;
  }
  // Expects a reject with `code` that appends nothing.
  void ExpectReject(std::string_view json, RecordCode code, std::string_view detail_has = "") {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, code) << "got " << CodeName(r.code) << " (" << r.detail << ") for " << json;
    EXPECT_EQ(batch_.size(), before) << json;
    EXPECT_NE(std::string(r.detail).find(detail_has), std::string::npos)
        << "detail '" << r.detail << "' lacks '" << detail_has << "'";
  }

  DecoderOptions options_;
  std::unique_ptr<Decoder> decoder_ = MakeOcsfDecoder(options_);
  EventBatch batch_;
};

std::vector<fs::path> ExampleFiles(std::string_view ext) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kExamples)) {
    if (entry.is_regular_file() && entry.path().extension() == ext) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Two of the published mappings (AWS CloudTrail Authentication and API
// Activity) end their "api" object with a trailing comma, which is not JSON.
// The repair removes exactly that and nothing else.
std::string RemoveTrailingCommas(const std::string& json) {
  return std::regex_replace(json, std::regex(R"(,(\s*[}\]]))"), "$1");
}

TEST_F(OcsfDecoderTest, EveryPublishedExampleDecodes) {
  std::vector<fs::path> files = ExampleFiles(".ocsf");
  ASSERT_EQ(files.size(), 4u) << "datasets moved? " << kExamples;
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    // The file is a pretty-printed document: one record, newlines and all.
    DecodeOne(RemoveTrailingCommas(ReadFile(f)));
  }
  EXPECT_EQ(batch_.size(), files.size());
}

TEST_F(OcsfDecoderTest, PublishedExamplesWithTrailingCommasAreInvalidJson) {
  int invalid = 0;
  for (const fs::path& f : ExampleFiles(".ocsf")) {
    std::string text = ReadFile(f);
    if (RemoveTrailingCommas(text) == text) continue;
    ++invalid;
    SCOPED_TRACE(f.string());
    ExpectReject(text, RecordCode::kRejectInvalidJson);
  }
  EXPECT_EQ(invalid, 2);
}

TEST_F(OcsfDecoderTest, RawVendorRecordsAreNotOcsf) {
  for (const fs::path& f : ExampleFiles(".raw")) {
    SCOPED_TRACE(f.string());
    DecodeResult r = Decode(ReadFile(f));
    // JSON vendor records lack class_uid; the VPC flow log is CSV text.
    EXPECT_TRUE(r.code == RecordCode::kRejectUnknownShape ||
                r.code == RecordCode::kRejectInvalidJson)
        << CodeName(r.code) << " " << r.detail;
  }
  EXPECT_TRUE(batch_.empty());
}

TEST_F(OcsfDecoderTest, OktaLogonMapsToLogin) {
  const Event& e = DecodeOne(
      ReadFile(kExamples / "Okta/v1.3.0/System Logs/Authentication/samples/authentication.ocsf"));
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.action, Action::kLogin);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "John Doe");
  EXPECT_EQ(e.src_ip_text, "10.0.0.1");
  EXPECT_EQ(e.src_ip, *IpAddress::Parse("10.0.0.1"));
  EXPECT_EQ(e.session, "idxBager62CSveUkTxvgRtonA");
  EXPECT_TRUE(e.user_agent.starts_with("Mozilla/5.0 (Macintosh"));
  // Okta writes `time` in seconds; time_dt says which.
  EXPECT_EQ(e.time_ns, *ParseIso8601("2024-08-13T15:58:20Z"));
  EXPECT_EQ(e.format, "ocsf");
  EXPECT_EQ(e.source, "test.ocsf");
  EXPECT_EQ(e.source_offset, 42u);
  EXPECT_EQ(e.dst_ip_text, "");  // only flows have a destination
}

TEST_F(OcsfDecoderTest, VpcFlowIsAnOutboundSend) {
  const Event& e =
      DecodeOne(ReadFile(kExamples / "AWS/v1.5.0/VPC Flowlogs/samples/vpcflowlog.ocsf"));
  EXPECT_EQ(e.kind, Kind::kNetwork);
  EXPECT_EQ(e.action, Action::kSend);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);  // action_id 1 Allowed
  EXPECT_EQ(e.time_ns, *ParseIso8601("2025-07-11T15:26:24Z"));
  EXPECT_EQ(e.src_ip_text, "1.2.3.4");
  EXPECT_EQ(e.src_port, 8080);
  EXPECT_EQ(e.dst_ip, *IpAddress::Parse("1.2.3.5"));
  EXPECT_EQ(e.dst_port, 8864);
  EXPECT_EQ(e.bytes, 38526);  // no bytes_out: the one-way flow's traffic.bytes
  EXPECT_EQ(e.host, "1.2.3.4");
  EXPECT_EQ(e.credential, "");
}

TEST_F(OcsfDecoderTest, CloudTrailApiReadAndConsoleChallenge) {
  const Event& api = DecodeOne(RemoveTrailingCommas(ReadFile(
      kExamples / "AWS/v1.5.0/CloudTrail/API Activity/samples/generic_api_activity.ocsf")));
  EXPECT_EQ(api.kind, Kind::kAccess);
  EXPECT_EQ(api.action, Action::kRead);
  EXPECT_EQ(api.outcome, Outcome::kSuccess);
  EXPECT_EQ(api.credential, "Level6");
  EXPECT_EQ(api.host, "directconnect.amazonaws.com");
  EXPECT_EQ(api.session, "AKIA3Z2XBVEXAMPLE");  // the access key, as in cloudtrail
  EXPECT_EQ(api.src_ip_text, "205.8.181.128");
  EXPECT_TRUE(api.user_agent.starts_with("Boto3/1.15.2"));
  EXPECT_EQ(api.time_ns, *ParseIso8601("2023-09-21T22:22:52Z"));

  const Event& auth = DecodeOne(RemoveTrailingCommas(
      ReadFile(kExamples / "AWS/v1.5.0/CloudTrail/Authentication/samples/authentication.ocsf")));
  EXPECT_EQ(auth.kind, Kind::kAuth);
  EXPECT_EQ(auth.action, Action::kUnknown);  // activity 99 CredentialChallenge
  EXPECT_EQ(auth.outcome, Outcome::kUnknown);
  EXPECT_EQ(auth.credential, "test");
  EXPECT_EQ(auth.host, "signin.amazonaws.com");
  EXPECT_EQ(auth.time_ns, *ParseIso8601("2024-09-19T16:32:46Z"));
}

TEST_F(OcsfDecoderTest, AuthenticationActivitiesAndStatus) {
  const Event& fail = DecodeOne(R"({"class_uid":3002,"activity_id":1,"time":1700000000000,
      "status_id":2,"user":{"name":"t001-alice"},"actor":{"user":{"name":"sshd"}},
      "device":{"hostname":"legacy-01"},"src_endpoint":{"ip":"203.0.113.9","port":50022}})");
  EXPECT_EQ(fail.action, Action::kLogin);
  EXPECT_EQ(fail.outcome, Outcome::kFailure);
  EXPECT_EQ(fail.credential, "t001-alice");  // the account logged in to, not the actor
  EXPECT_EQ(fail.host, "legacy-01");
  EXPECT_EQ(fail.src_port, 50022);
  EXPECT_EQ(fail.time_ns, 1700000000000 * 1'000'000);

  const Event& logoff = DecodeOne(R"({"class_uid":3002,"activity_name":"Logoff",
      "time_dt":"2023-11-14T22:13:20Z","status":"Success","session":{"uid":"s-7"},
      "user":{"name":"bob"},"dst_endpoint":{"hostname":"db-2","ip":"10.0.0.2"}})");
  EXPECT_EQ(logoff.action, Action::kLogout);
  EXPECT_EQ(logoff.outcome, Outcome::kSuccess);
  EXPECT_EQ(logoff.session, "s-7");
  EXPECT_EQ(logoff.host, "db-2");
  EXPECT_EQ(logoff.time_ns, 1700000000 * kNsPerSecond);
}

TEST_F(OcsfDecoderTest, FileSystemActivity) {
  const Event& read = DecodeOne(R"({"class_uid":1001,"activity_id":2,"time":1700000000000,
      "actor":{"user":{"name":"t001-alice"},"session":{"uid":"sftp-4711"}},
      "device":{"hostname":"legacy-01"},
      "file":{"path":"/srv/t002/patients.csv","name":"patients.csv","size":7340032}})");
  EXPECT_EQ(read.kind, Kind::kAccess);
  EXPECT_EQ(read.action, Action::kRead);
  EXPECT_EQ(read.object, "/srv/t002/patients.csv");
  EXPECT_EQ(read.bytes, 7340032);
  EXPECT_EQ(read.session, "sftp-4711");
  EXPECT_EQ(read.host, "legacy-01");

  const Event& update = DecodeOne(R"({"class_uid":1001,"activity_id":3,"time":1700000000000,
      "actor":{"user":{"name":"a"}},"file":{"name":"x.txt","size":10}})");
  EXPECT_EQ(update.action, Action::kWrite);
  EXPECT_EQ(update.object, "x.txt");
  EXPECT_EQ(update.bytes, -1);  // the size of a written file is not bytes moved

  EXPECT_EQ(DecodeOne(R"({"class_uid":1001,"activity_id":4,"time":1})").action, Action::kDelete);
  EXPECT_EQ(DecodeOne(R"({"class_uid":1001,"activity_id":14,"time":1})").action,
            Action::kUnknown);  // Open
}

TEST_F(OcsfDecoderTest, ApiActivity) {
  const Event& list = DecodeOne(R"({"class_uid":6003,"activity_id":2,"time":1700000000000,
      "api":{"operation":"ListObjects","service":{"name":"s3.amazonaws.com"}},
      "resources":[{"uid":"arn:aws:s3:::t002-records","type":"bucket"},{"uid":"other"}],
      "actor":{"user":{"name":"t001-svc","uid":"AIDA1"}}})");
  EXPECT_EQ(list.kind, Kind::kAccess);
  EXPECT_EQ(list.action, Action::kList);
  EXPECT_EQ(list.host, "s3.amazonaws.com");
  EXPECT_EQ(list.object, "arn:aws:s3:::t002-records");
  EXPECT_EQ(DecodeOne(R"({"class_uid":6003,"activity_id":1,"time":1})").action, Action::kWrite);
  EXPECT_EQ(DecodeOne(R"({"class_uid":6003,"activity_name":"Delete","time":1})").action,
            Action::kDelete);
  // No name: the uid names the credential.
  EXPECT_EQ(DecodeOne(R"({"class_uid":6003,"time":1,"actor":{"user":{"uid":"AIDA9"}}})").credential,
            "AIDA9");
}

TEST_F(OcsfDecoderTest, NetworkActivityDirection) {
  const Event& out = DecodeOne(R"({"class_uid":4001,"activity_id":6,"time":1700000000000,
      "src_endpoint":{"hostname":"legacy-01","ip":"10.1.2.3","port":40000},
      "dst_endpoint":{"ip":"198.51.100.7","port":443},
      "traffic":{"bytes_out":900000000,"bytes_in":1200,"bytes":900001200}})");
  EXPECT_EQ(out.action, Action::kSend);
  EXPECT_EQ(out.bytes, 900000000);  // bytes_out wins over the two-way total
  EXPECT_EQ(out.host, "legacy-01");
  EXPECT_EQ(out.dst_ip_text, "198.51.100.7");

  const Event& in = DecodeOne(R"({"class_uid":4001,"time":1,
      "connection_info":{"direction_id":1},"traffic":{"bytes_out":500},
      "src_endpoint":{"ip":"203.0.113.1"},"dst_endpoint":{"ip":"10.1.2.3","hostname":"web-1"}})");
  EXPECT_EQ(in.action, Action::kUnknown);
  EXPECT_EQ(in.bytes, -1);
  EXPECT_EQ(in.host, "web-1");

  const Event& denied = DecodeOne(R"({"class_uid":4001,"time":1,"action_id":2,
      "connection_info":{"direction":"Outbound"},"traffic":{"bytes":60}})");
  EXPECT_EQ(denied.action, Action::kSend);
  EXPECT_EQ(denied.outcome, Outcome::kFailure);
  EXPECT_EQ(denied.bytes, 60);
}

TEST_F(OcsfDecoderTest, OtherClassesAreSkippedNotRejected) {
  DecodeResult r = Decode(R"({"class_uid":2004,"time":1700000000000,"finding_info":{}})");
  EXPECT_EQ(r.code, RecordCode::kSkippedIrrelevant);
  EXPECT_TRUE(batch_.empty());
}

TEST_F(OcsfDecoderTest, RejectsSayWhy) {
  ExpectReject(R"({"time":1,"user":{"name":"x"}})", RecordCode::kRejectUnknownShape, "class_uid");
  ExpectReject(R"({"class_uid":-3,"time":1})", RecordCode::kRejectUnknownShape, "class_uid");
  ExpectReject(R"([{"class_uid":3002}])", RecordCode::kRejectUnknownShape, "object");
  ExpectReject(R"({"class_uid":"3002","time":1})", RecordCode::kRejectWrongType, "class_uid");
  ExpectReject(R"({"class_uid":3002})", RecordCode::kRejectMissingTime, "time");
  ExpectReject(R"({"class_uid":3002,"time":null})", RecordCode::kRejectMissingTime, "time");
  ExpectReject(R"({"class_uid":3002,"time":"2024-01-01T00:00:00Z"})", RecordCode::kRejectWrongType,
               "time");
  ExpectReject(R"({"class_uid":3002,"time":-5})", RecordCode::kRejectBadTime, "time");
  ExpectReject(R"({"class_uid":3002,"time":99999999999999999999})", RecordCode::kRejectBadTime,
               "time");
  ExpectReject(R"({"class_uid":3002,"time":9999999999})", RecordCode::kRejectBadTime, "time");
  ExpectReject(R"({"class_uid":3002,"time":1.5})", RecordCode::kRejectWrongType, "time");
  ExpectReject(R"({"class_uid":3002,"time_dt":"yesterday"})", RecordCode::kRejectBadTime,
               "time_dt");
  ExpectReject(R"({"class_uid":3002,"time":1,"src_endpoint":{"port":70000}})",
               RecordCode::kRejectWrongType, "src_endpoint.port");
  ExpectReject(R"({"class_uid":3002,"time":1,"actor":{"user":{"name":["a"]}}})",
               RecordCode::kRejectWrongType, "actor.user.name");
  ExpectReject(R"({"class_uid":4001,"time":1,"traffic":{"bytes_out":-1}})",
               RecordCode::kRejectWrongType, "traffic.bytes_out");
}

TEST_F(OcsfDecoderTest, MalformedJsonIsRejected) {
  ExpectReject(R"({"class_uid":3002,"time":1,})", RecordCode::kRejectInvalidJson);
  ExpectReject(R"({"class_uid" 3002,"time":1})", RecordCode::kRejectInvalidJson);
  ExpectReject(R"({"class_uid":3002,"time":1,)", RecordCode::kRejectTruncated);
  ExpectReject(R"({"class_uid":3002,"time":1,"user":{"name":"a")", RecordCode::kRejectTruncated);
  ExpectReject(R"({"class_uid":3002,"time":1,"user":{"name":"a)", RecordCode::kRejectTruncated);
  ExpectReject(R"({"class_uid":3002,"time":1} {"class_uid":3002})", RecordCode::kRejectInvalidJson,
               "after");
  ExpectReject(R"({"class_uid":3002,"time":12x4})", RecordCode::kRejectInvalidJson);
  ExpectReject(R"({"class_uid":3002,"time":1,"status":nul})", RecordCode::kRejectInvalidJson);
  ExpectReject("{\"class_uid\":3002,\"time\":1,\"user\":{\"name\":\"\xff\xfe\"}}",
               RecordCode::kRejectInvalidUtf8);
  ExpectReject("", RecordCode::kRejectInvalidJson);
}

TEST_F(OcsfDecoderTest, LimitsAreEnforced) {
  options_.limits.max_record_bytes = 200;
  options_.limits.max_depth = 8;
  options_.limits.max_field_bytes = 16;
  decoder_ = MakeOcsfDecoder(options_);
  ExpectReject(R"({"class_uid":3002,"time":1,"unmapped":")" + std::string(200, 'x') + "\"}",
               RecordCode::kRejectLineTooLong);
  // Deep nesting is caught even where the decoder would skip it.
  ExpectReject(R"({"class_uid":3002,"time":1,"unmapped":[[[[[[[[[[1]]]]]]]]]]})",
               RecordCode::kRejectTooDeep);
  // Brackets inside strings are not nesting.
  DecodeOne(R"({"class_uid":3002,"time":1,"message":"[[[[[[[[[[[[{{{{"})");
  ExpectReject(R"({"class_uid":3002,"time":1,"user":{"name":"abcdefghijklmnopq"}})",
               RecordCode::kRejectFieldTooLarge, "user.name");
  DecodeOne(R"({"class_uid":3002,"time":1,"user":{"name":"abcdefghijklmnop"}})");
}

TEST_F(OcsfDecoderTest, EscapedStringsAreUnescapedAndOutliveTheParser) {
  DecodeOne(R"({"class_uid":3002,"time":1,"user":{"name":"dom\\t001-\u0061lice"}})");
  // The next record reuses the parser's buffers: the first event must not
  // point into them.
  DecodeOne(R"({"class_uid":3002,"time":2,"user":{"name":"zzzzzzzzzzzzzzzzzzzzzzzzz"}})");
  EXPECT_EQ(batch_[0].credential, "dom\\t001-alice");
}

TEST_F(OcsfDecoderTest, EscapedKeysMatch) {
  const Event& e = DecodeOne(R"({"class_uid":3002,"ti\u006de":5,"us\u0065r":{"name":"x"}})");
  EXPECT_EQ(e.time_ns, 5 * kNsPerSecond);
  EXPECT_EQ(e.credential, "x");
}

TEST_F(OcsfDecoderTest, EveryTruncationIsRejected) {
  // A record cut anywhere (the end of a .gz cut off) is never half-decoded.
  std::string full =
      ReadFile(kExamples / "Okta/v1.3.0/System Logs/Authentication/samples/authentication.ocsf");
  size_t end = full.find_last_of('}');
  for (size_t n = 0; n < end; ++n) {
    DecodeResult r = Decode(std::string_view(full).substr(0, n));
    ASSERT_TRUE(IsReject(r.code)) << "prefix of " << n << " bytes decoded";
  }
  EXPECT_TRUE(batch_.empty());
}

TEST_F(OcsfDecoderTest, DamagedRecordsNeverHalfDecode) {
  // Random byte damage (seeded): each record either decodes to one event or
  // is rejected with nothing appended; the sanitizer builds check the reads.
  const std::string original =
      ReadFile(kExamples / "AWS/v1.5.0/VPC Flowlogs/samples/vpcflowlog.ocsf");
  const std::string_view alphabet = "{}[]\":,\\0-9eE.tnfu \x01\xff";
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = original;
    for (int k = 0; k < 1 + i % 4; ++k) {
      damaged[rng() % damaged.size()] = alphabet[rng() % alphabet.size()];
    }
    size_t before = batch_.size();
    DecodeResult r = Decode(damaged);
    ASSERT_EQ(batch_.size(), before + (IsReject(r.code) ? 0 : 1)) << damaged;
  }
  EXPECT_EQ(Decode(R"({123:4})").code, RecordCode::kRejectInvalidJson);
  // Inside what the decoder reads, every token is checked. (Members it skips
  // are checked for structure only: docs/formats/ocsf.md.)
  EXPECT_EQ(Decode(R"({"class_uid":3002,"time":1,"user":{tru:1}})").code,
            RecordCode::kRejectInvalidJson);
  EXPECT_EQ(Decode(R"({"class_uid":3002,"time":1,"user":{"name":tru}})").code,
            RecordCode::kRejectInvalidJson);
}

TEST_F(OcsfDecoderTest, ProjectionCopiesRequestedPaths) {
  Projection projection;
  projection.paths = {{"metadata.product.name", 1000},
                      {"api.operation", 1001},
                      {"cloud", 1002},
                      {"class_uid", 1003},
                      {"observables[1].value", 1004},
                      {"unmapped.readOnly", 1005},
                      // Also read by the decoder (api.service.name): the
                      // object is walked and copied whole.
                      {"api", 1006}};
  options_.projection = &projection;
  decoder_ = MakeOcsfDecoder(options_);
  const Event& e = DecodeOne(RemoveTrailingCommas(ReadFile(
      kExamples / "AWS/v1.5.0/CloudTrail/API Activity/samples/generic_api_activity.ocsf")));
  EXPECT_EQ(e.Extra(1000), "CloudTrail");
  EXPECT_EQ(e.Extra(1001), "DescribeDirectConnectGateways");
  ASSERT_TRUE(e.Extra(1002));
  EXPECT_TRUE(e.Extra(1002)->starts_with("{")) << *e.Extra(1002);
  EXPECT_TRUE(e.Extra(1002)->ends_with("}")) << *e.Extra(1002);
  EXPECT_NE(e.Extra(1002)->find("\"us-east-1\""), std::string_view::npos);
  EXPECT_EQ(e.Extra(1003), "6003");
  EXPECT_EQ(e.Extra(1004), "205.8.181.128");
  EXPECT_FALSE(e.Extra(1005));  // not in this record
  ASSERT_TRUE(e.Extra(1006));
  EXPECT_TRUE(e.Extra(1006)->starts_with("{\n        \"operation\"")) << *e.Extra(1006);
  EXPECT_TRUE(e.Extra(1006)->ends_with("}")) << *e.Extra(1006);
  EXPECT_NE(e.Extra(1006)->find("directconnect.amazonaws.com"), std::string_view::npos);
  EXPECT_EQ(e.host, "directconnect.amazonaws.com");
  EXPECT_EQ(e.kind, Kind::kAccess);  // the built-in read of class_uid still works
}

}  // namespace
}  // namespace credwatch::decode
