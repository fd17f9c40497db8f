// The cloudtrail decoder against real CloudTrail files (invictus-ir, Stratus
// Red Team, Panther's rule tests) and hand-written records for each mapping
// rule and each reason a record is rejected.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "credwatch/decoder.h"
#include "credwatch/detection.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

namespace fs = std::filesystem;
namespace od = simdjson::ondemand;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const fs::path kDatasets = CREDWATCH_DATASETS_DIR;

// The raw JSON text of each record in a CloudTrail file: the elements of a
// {"Records": [...]} delivery file or of a top-level array, as written.
std::vector<std::string> RecordsOf(const fs::path& path) {
  std::vector<std::string> records;
  simdjson::padded_string json;
  EXPECT_EQ(simdjson::padded_string::load(path.string()).get(json), simdjson::SUCCESS) << path;
  od::parser parser;
  od::document doc;
  EXPECT_EQ(parser.iterate(json).get(doc), simdjson::SUCCESS) << path;
  od::array array;
  od::json_type type = od::json_type::null;
  EXPECT_EQ(doc.type().get(type), simdjson::SUCCESS);
  if (type == od::json_type::object) {
    EXPECT_EQ(doc["Records"].get_array().get(array), simdjson::SUCCESS) << path;
  } else {
    EXPECT_EQ(doc.get_array().get(array), simdjson::SUCCESS) << path;
  }
  for (auto element : array) {
    od::object object;
    std::string_view raw;
    EXPECT_EQ(element.get_object().get(object), simdjson::SUCCESS) << path;
    EXPECT_EQ(object.raw_json().get(raw), simdjson::SUCCESS) << path;
    records.emplace_back(raw);
  }
  return records;
}

// `element` as JSON with the keys of every object in reverse order.
std::string Reversed(simdjson::dom::element element) {
  if (element.is_object()) {
    std::vector<std::string> fields;
    simdjson::dom::object object = element.get_object().value_unsafe();
    for (auto [key, value] : object) {
      fields.push_back("\"" + std::string(key) + "\":" + Reversed(value));
    }
    std::string out = "{";
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
      if (out.size() > 1) out += ",";
      out += *it;
    }
    return out + "}";
  }
  if (element.is_array()) {
    std::string out = "[";
    simdjson::dom::array array = element.get_array().value_unsafe();
    for (simdjson::dom::element item : array) {
      if (out.size() > 1) out += ",";
      out += Reversed(item);
    }
    return out + "]";
  }
  return simdjson::minify(element);
}

std::vector<fs::path> JsonFilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class CloudTrailDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override { decoder_ = MakeCloudTrailDecoder(options_); }

  // Decodes one record. The record and its padding stay alive as long as the
  // batch, as a reader keeps them.
  DecodeResult Decode(std::string_view json) {
    auto& buffer = buffers_.emplace_back(std::make_unique<std::string>(json));
    buffer->append(kRecordPadding, '\0');
    DecodeResult r = decoder_->Decode(std::string_view(buffer->data(), json.size()),
                                      RecordContext{"trail.json", 42}, batch_);
    detail_ = std::string(r.detail);
    return r;
  }

  // Decodes a record that must give exactly one event.
  // A copy: the batch may move its events when it grows. The strings stay
  // where they are.
  Event DecodeOne(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, RecordCode::kOk) << RecordCodeName(r.code) << ": " << r.detail;
    EXPECT_EQ(batch_.size(), before + 1);
    return batch_.size() == before + 1 ? batch_[before] : Event{};
  }

  // Decodes a record that must be rejected, and checks that nothing was added.
  RecordCode Reject(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(batch_.size(), before) << "a rejected record added an event";
    EXPECT_FALSE(r.detail.empty()) << "a reject must say what was wrong";
    return r.code;
  }

  void Reset(const DecoderOptions& options) {
    options_ = options;
    decoder_ = MakeCloudTrailDecoder(options_);
  }

  DecoderOptions options_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<std::unique_ptr<std::string>> buffers_;
  EventBatch batch_;
  std::string detail_;
};

// --- Real files -----------------------------------------------------------

TEST_F(CloudTrailDecoderTest, InvictusDatasetGivesOneEventPerRecordAndNoRejects) {
  std::vector<fs::path> files = JsonFilesIn(kDatasets / "cloudtrail-invictus" / "CloudTrail");
  ASSERT_EQ(files.size(), 55u);
  size_t records = 0;
  std::map<std::string, int> rejects;
  for (const fs::path& file : files) {
    for (const std::string& record : RecordsOf(file)) {
      ++records;
      DecodeResult r = Decode(record);
      if (r.code != RecordCode::kOk) rejects[std::string(RecordCodeName(r.code)) + " " + detail_]++;
    }
  }
  EXPECT_EQ(records, 2900u);
  EXPECT_EQ(batch_.size(), 2900u);
  EXPECT_TRUE(rejects.empty()) << rejects.begin()->first;

  int logins = 0;
  int failures = 0;
  std::multiset<std::string> shared_with;
  for (const Event& e : batch_) {
    EXPECT_FALSE(e.credential.empty()) << "no credential for an event at " << e.time_ns;
    EXPECT_FALSE(e.host.empty());
    EXPECT_NE(e.kind, Kind::kUnknown);
    EXPECT_NE(e.action, Action::kUnknown);
    EXPECT_EQ(e.format, "cloudtrail");
    if (e.kind == Kind::kAuth && e.action == Action::kLogin) ++logins;
    if (e.outcome == Outcome::kFailure) ++failures;
    if (e.action == Action::kCopy) shared_with.insert(std::string(e.dst_account));
  }
  EXPECT_EQ(logins, 51);     // 2 ConsoleLogin + 49 AssumeRole
  EXPECT_EQ(failures, 300);  // records with an errorCode
  // The attack tooling shared a snapshot, an AMI and an RDS snapshot and opened
  // a bucket policy to foreign accounts; the matching "remove" calls are not copies.
  EXPECT_THAT(shared_with,
              UnorderedElementsAre("012345678912", "012345678901", "193672423079", "193672423079"));
}

TEST_F(CloudTrailDecoderTest, EveryStratusRecordDecodes) {
  std::vector<fs::path> files = JsonFilesIn(kDatasets / "cloudtrail-stratus");
  ASSERT_EQ(files.size(), 35u);
  size_t records = 0;
  for (const fs::path& file : files) {
    for (const std::string& record : RecordsOf(file)) {
      ++records;
      DecodeResult r = Decode(record);
      EXPECT_EQ(r.code, RecordCode::kOk) << file.filename() << ": " << detail_;
    }
  }
  EXPECT_EQ(records, 310u);
  EXPECT_EQ(batch_.size(), 310u);
}

TEST_F(CloudTrailDecoderTest, StratusExfiltrationBySharingIsACopyToTheForeignAccount) {
  // These files sort their keys: recipientAccountId comes before
  // requestParameters and userIdentity last, unlike CloudTrail's own order.
  const std::pair<const char*, const char*> cases[] = {
      {"aws.exfiltration.ec2-share-ebs-snapshot.json", "098797384747"},
      {"aws.exfiltration.ec2-share-ami.json", "846424999548"},
      {"aws.exfiltration.rds-share-snapshot.json", "503161813013"},
  };
  for (const auto& [file, account] : cases) {
    std::vector<std::string> records = RecordsOf(kDatasets / "cloudtrail-stratus" / file);
    ASSERT_EQ(records.size(), 1u) << file;
    const Event e = DecodeOne(records[0]);
    EXPECT_EQ(e.kind, Kind::kTransfer) << file;
    EXPECT_EQ(e.action, Action::kCopy) << file;
    EXPECT_EQ(e.dst_account, account) << file;
    EXPECT_EQ(e.credential, "christophe") << file;
    EXPECT_FALSE(e.object.empty()) << file;
  }
}

// Panther's CloudTrail rule-test events: (test name, raw record).
std::vector<std::pair<std::string, std::string>> PantherCloudTrailLogs() {
  std::vector<std::pair<std::string, std::string>> logs;
  std::ifstream in(kDatasets / "panther" / "rule_tests" / "AWS_CloudTrail.ndjson");
  EXPECT_TRUE(in) << "missing dataset";
  std::string line;
  od::parser parser;
  while (std::getline(in, line)) {
    simdjson::padded_string padded(line);
    od::document doc;
    std::string_view name;
    od::object log;
    std::string_view raw;
    EXPECT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS);
    EXPECT_EQ(doc["test_name"].get_string().get(name), simdjson::SUCCESS);
    EXPECT_EQ(doc["log"].get_object().get(log), simdjson::SUCCESS);
    EXPECT_EQ(log.raw_json().get(raw), simdjson::SUCCESS);
    logs.emplace_back(std::string(name), std::string(raw));
  }
  return logs;
}

TEST_F(CloudTrailDecoderTest, PantherRecordsDecodeOrAreRejectedForWhatTheyLack) {
  // Panther's rule tests hold partial records: some have no eventTime or no
  // eventName, two have "redacted" and "..." as their time. Those are rejected
  // for that reason; nothing else is.
  std::map<RecordCode, int> codes;
  for (const auto& [name, raw] : PantherCloudTrailLogs()) {
    RecordCode code = Decode(raw).code;
    ++codes[code];
    EXPECT_TRUE(code == RecordCode::kOk || code == RecordCode::kRejectMissingTime ||
                code == RecordCode::kRejectBadTime || code == RecordCode::kRejectUnknownShape)
        << name << ": " << RecordCodeName(code) << " " << detail_;
  }
  EXPECT_EQ(codes[RecordCode::kOk], 437);
  EXPECT_EQ(codes[RecordCode::kRejectMissingTime], 13);
  EXPECT_EQ(codes[RecordCode::kRejectBadTime], 2);
  EXPECT_EQ(codes[RecordCode::kRejectUnknownShape], 11);
}

TEST_F(CloudTrailDecoderTest, PantherSharingTestsAreCopiesExactlyWhenDataLeaves) {
  std::map<std::string, std::string> logs;
  for (auto& [name, raw] : PantherCloudTrailLogs()) logs.emplace(name, raw);
  const std::pair<const char*, const char*> copies[] = {
      {"S3 CopyObject to External Account Bucket", "111111111111"},
      {"Snapshot Made Publicly Accessible", "*"},
      {"Snapshot Mader Available to Single Person", "111122223333"},
      {"Snapshot shared with another account", "193672423079"},
  };
  for (const auto& [name, account] : copies) {
    ASSERT_TRUE(logs.count(name)) << name;
    const Event e = DecodeOne(logs[name]);
    EXPECT_EQ(e.action, Action::kCopy) << name;
    EXPECT_EQ(e.dst_account, account) << name;
  }
  for (const char* name : {"S3 CopyObject Same Account", "Snapshot Not Made Publicly Accessible",
                           "Snapshot shared with no accounts", "Different S3 Event"}) {
    ASSERT_TRUE(logs.count(name)) << name;
    const Event e = DecodeOne(logs[name]);
    EXPECT_TRUE(e.dst_account.empty()) << name << " -> " << e.dst_account;
  }
}

// --- Mapping --------------------------------------------------------------

TEST_F(CloudTrailDecoderTest, ConsoleLoginFailureIsAFailedLoginOfTheUser) {
  const Event e = DecodeOne(R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",
    "principalId":"AIDACKCEVSQ6C2EXAMPLE","accountId":"111122223333","accessKeyId":"",
    "userName":"anaya"},"eventTime":"2022-11-10T16:24:34Z","eventSource":"signin.amazonaws.com",
    "eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10",
    "userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","requestParameters":null,
    "responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"Yes"},
    "eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"})");
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.action, Action::kLogin);
  EXPECT_EQ(e.outcome, Outcome::kFailure);
  EXPECT_EQ(e.credential, "anaya");
  EXPECT_EQ(e.session, "");  // an empty accessKeyId is no session
  EXPECT_EQ(e.time_ns, 1668097474LL * 1'000'000'000);
  EXPECT_EQ(e.host, "signin.amazonaws.com");
  EXPECT_EQ(e.src_ip_text, "192.0.2.10");
  EXPECT_EQ(e.src_ip, *IpAddress::Parse("192.0.2.10"));
  EXPECT_EQ(e.user_agent, "Mozilla/5.0");
  EXPECT_EQ(e.format, "cloudtrail");
  EXPECT_EQ(e.source, "trail.json");
  EXPECT_EQ(e.source_offset, 42u);
}

TEST_F(CloudTrailDecoderTest, ConsoleLoginSuccessAndRootCredential) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"Root","principalId":"123456789012",
    "arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"},
    "eventTime":"2019-01-01T00:00:00Z","eventSource":"signin.amazonaws.com",
    "eventName":"ConsoleLogin","sourceIPAddress":"111.111.111.111",
    "responseElements":{"ConsoleLogin":"Success"}})");
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "root");
}

TEST_F(CloudTrailDecoderTest, GetObjectIsAReadOfTheObjectWithItsBytes) {
  const Event e = DecodeOne(R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",
    "principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111111111111:user/t001-alice",
    "accountId":"111111111111","accessKeyId":"AKIAEXAMPLEKEY","userName":"t001-alice"},
    "eventTime":"2025-02-03T04:05:06.789Z","eventSource":"s3.amazonaws.com",
    "eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9",
    "userAgent":"[aws-cli/2.13.0]","requestParameters":{"bucketName":"patients-h01",
    "Host":"patients-h01.s3.eu-west-1.amazonaws.com","key":"2025/records.csv"},
    "responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4",
    "bytesTransferredIn":0,"bytesTransferredOut":73400320},
    "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::patients-h01/2025/records.csv"}],
    "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111111111111"})");
  EXPECT_EQ(e.kind, Kind::kAccess);
  EXPECT_EQ(e.action, Action::kRead);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.bytes, 73400320);
  EXPECT_EQ(e.object, "arn:aws:s3:::patients-h01/2025/records.csv");
  EXPECT_EQ(e.credential, "t001-alice");
  EXPECT_EQ(e.session, "AKIAEXAMPLEKEY");
  EXPECT_EQ(e.time_ns, 1738555506789000000LL);
  EXPECT_TRUE(e.dst_account.empty());
}

TEST_F(CloudTrailDecoderTest, S3ObjectCallsMapToWriteListDeleteAndCopy) {
  auto s3 = [](std::string_view name, std::string_view params, std::string_view extra = "") {
    return std::string(R"({"eventTime":"2025-01-01T00:00:00Z","eventSource":"s3.amazonaws.com",)") +
           R"("userIdentity":{"type":"IAMUser","userName":"bob"},"eventName":")" +
           std::string(name) + R"(","requestParameters":)" + std::string(params) +
           std::string(extra) + "}";
  };
  const Event put = DecodeOne(s3("PutObject", R"({"bucketName":"b","key":"k"})",
                                 R"(,"additionalEventData":{"bytesTransferredIn":1234.0})"));
  EXPECT_EQ(put.action, Action::kWrite);
  EXPECT_EQ(put.bytes, 1234);
  const Event list = DecodeOne(s3("ListObjectsV2", R"({"bucketName":"b","prefix":""})"));
  EXPECT_EQ(list.action, Action::kList);
  EXPECT_EQ(list.object, "arn:aws:s3:::b");
  const Event del = DecodeOne(s3("DeleteObjects", R"({"bucketName":"b","delete":""})"));
  EXPECT_EQ(del.action, Action::kDelete);
  const Event copy = DecodeOne(s3(
      "CopyObject", R"({"bucketName":"dst","key":"a/b.csv","x-amz-copy-source":"src/a/b.csv"})"));
  EXPECT_EQ(copy.kind, Kind::kTransfer);
  EXPECT_EQ(copy.action, Action::kCopy);
  EXPECT_EQ(copy.object, "arn:aws:s3:::dst/a/b.csv");  // the destination
  EXPECT_TRUE(copy.dst_account.empty());
}

TEST_F(CloudTrailDecoderTest, CopyObjectIntoABucketOfAnotherAccountNamesThatAccount) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"AssumedRole",
    "arn":"arn:aws:sts::222222222222:assumed-role/AppRole/worker-7","accountId":"222222222222",
    "accessKeyId":"ASIAEXAMPLE"},"eventTime":"2024-01-15T12:00:00Z",
    "eventSource":"s3.amazonaws.com","eventName":"CopyObject","sourceIPAddress":"1.2.3.4",
    "requestParameters":{"bucketName":"exfil-drop","key":"db.csv",
      "x-amz-copy-source":"patients/db.csv"},
    "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::patients/db.csv"},
      {"accountId":"222222222222","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::patients"},
      {"type":"AWS::S3::Object","ARN":"arn:aws:s3:::exfil-drop/db.csv"},
      {"accountId":"999988887777","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::exfil-drop"}],
    "recipientAccountId":"222222222222"})");
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "999988887777");
  EXPECT_EQ(e.object, "arn:aws:s3:::exfil-drop/db.csv");

  // Copying *from* a foreign bucket into one of ours sends nothing out.
  const Event in = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"bob"},
    "eventTime":"2024-01-15T12:00:00Z","eventSource":"s3.amazonaws.com",
    "eventName":"CopyObject","requestParameters":{"bucketName":"ours","key":"k",
      "x-amz-copy-source":"theirs/k"},
    "resources":[{"accountId":"999988887777","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::theirs"},
      {"accountId":"222222222222","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::ours"}],
    "recipientAccountId":"222222222222"})");
  EXPECT_EQ(in.action, Action::kCopy);
  EXPECT_TRUE(in.dst_account.empty());
}

TEST_F(CloudTrailDecoderTest, SnapshotSharedWithAForeignAccountIsACopyToIt) {
  constexpr std::string_view kShare = R"({"eventVersion":"1.08","userIdentity":{
    "type":"IAMUser","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027",
    "accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"},
    "eventTime":"2023-07-10T12:11:28Z","eventSource":"ec2.amazonaws.com",
    "eventName":"ModifySnapshotAttribute","sourceIPAddress":"192.168.10.20",
    "requestParameters":{"snapshotId":"snap-083d3b857c13988bc","createVolumePermission":
      {"add":{"items":[{"userId":"012345678912"}]}},"attributeType":"CREATE_VOLUME_PERMISSION"},
    "responseElements":{"_return":true},"recipientAccountId":"123837392027"})";
  const Event e = DecodeOne(kShare);
  EXPECT_EQ(e.kind, Kind::kTransfer);
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "012345678912");
  EXPECT_EQ(e.object, "snap-083d3b857c13988bc");
  EXPECT_EQ(e.credential, "bert-jan");

  // Taking the permission away again is not a copy.
  std::string unshare(kShare);
  unshare.replace(unshare.find("\"add\""), 5, "\"remove\"");
  const Event removed = DecodeOne(unshare);
  EXPECT_EQ(removed.kind, Kind::kAccess);
  EXPECT_EQ(removed.action, Action::kWrite);
  EXPECT_TRUE(removed.dst_account.empty());

  // Made public: shared with everyone.
  const Event pub = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"x"},
    "eventTime":"2019-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com",
    "eventName":"ModifySnapshotAttribute","requestParameters":{"createVolumePermission":
      {"add":{"items":[{"group":"all"}]}},"snapshotId":"snap-1"},
    "recipientAccountId":"123456789012"})");
  EXPECT_EQ(pub.action, Action::kCopy);
  EXPECT_EQ(pub.dst_account, "*");
}

TEST_F(CloudTrailDecoderTest, SharingWithTheOwnAccountIsNotACopy) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"x",
    "accountId":"123456789012"},"eventTime":"2019-01-01T00:00:00Z",
    "eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute",
    "requestParameters":{"imageId":"ami-1","launchPermission":
      {"add":{"items":[{"userId":"123456789012"}]}}}})");
  EXPECT_EQ(e.action, Action::kWrite);
  EXPECT_TRUE(e.dst_account.empty());
}

TEST_F(CloudTrailDecoderTest, DbSnapshotRestorePermissionIsACopy) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"bert-jan",
    "accountId":"123837392027"},"eventTime":"2023-07-10T12:22:06Z",
    "eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute",
    "requestParameters":{"dBSnapshotIdentifier":"exfiltration","valuesToAdd":["193672423079"],
      "attributeName":"restore"},"recipientAccountId":"123837392027"})");
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "193672423079");
  EXPECT_EQ(e.object, "exfiltration");
}

TEST_F(CloudTrailDecoderTest, BucketPolicyGrantingAForeignAccountIsACopy) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"bert-jan"},
    "eventTime":"2023-07-10T12:22:41Z","eventSource":"s3.amazonaws.com",
    "eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Version":"2012-10-17",
      "Statement":[
        {"Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Effect":"Deny","Action":"s3:*"},
        {"Principal":{"Service":"cloudtrail.amazonaws.com"},"Effect":"Allow"},
        {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123837392027:role/own",
          "arn:aws:iam::193672423079:root"]},"Action":["s3:GetObject"]}]},
      "bucketName":"stratus-red-team-bdbp-lhfzvgcamn"},
    "recipientAccountId":"123837392027"})");
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "193672423079");  // not the denied one, not our own
  EXPECT_EQ(e.object, "arn:aws:s3:::stratus-red-team-bdbp-lhfzvgcamn");

  const Event service_only = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"b"},
    "eventTime":"2023-07-10T11:59:58Z","eventSource":"s3.amazonaws.com",
    "eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":
      {"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"}}},
      "bucketName":"trail-bucket"},"recipientAccountId":"123837392027"})");
  EXPECT_EQ(service_only.action, Action::kWrite);
  EXPECT_TRUE(service_only.dst_account.empty());
}

TEST_F(CloudTrailDecoderTest, ReplicationToAnotherAccountIsACopy) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"ops"},
    "eventTime":"2024-05-01T00:00:00Z","eventSource":"s3.amazonaws.com",
    "eventName":"PutBucketReplication","requestParameters":{"bucketName":"records",
      "ReplicationConfiguration":{"Role":"arn:aws:iam::111111111111:role/r",
        "Rule":{"Status":"Enabled","Destination":{"Bucket":"arn:aws:s3:::elsewhere",
          "Account":"777766665555"}}}},"recipientAccountId":"111111111111"})");
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "777766665555");
}

TEST_F(CloudTrailDecoderTest, AssumedRoleCredentialIsRoleAndSession) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"AssumedRole",
    "principalId":"AROATFQR7NSCWWVLB7BES:aws-go-sdk-1688990082523310002",
    "arn":"arn:aws:sts::123837392027:assumed-role/stratus-ec2-role/aws-go-sdk-1688990082523310002",
    "accountId":"123837392027","accessKeyId":"ASIATFQR7NSCWLLE7IWW",
    "sessionContext":{"sessionIssuer":{"type":"Role","userName":"stratus-ec2-role"},
      "attributes":{"mfaAuthenticated":"false"}}},
    "eventTime":"2023-07-10T11:55:00Z","eventSource":"ec2.amazonaws.com",
    "eventName":"DescribeInstances","sourceIPAddress":"3.4.5.6"})");
  EXPECT_EQ(e.credential, "stratus-ec2-role/aws-go-sdk-1688990082523310002");
  EXPECT_EQ(e.session, "ASIATFQR7NSCWLLE7IWW");
  EXPECT_EQ(e.action, Action::kRead);

  // Without an ARN: the issuing role and the session from principalId.
  const Event no_arn = DecodeOne(R"({"userIdentity":{"type":"AssumedRole",
    "principalId":"AROAEXAMPLE:jane@example.com","sessionContext":{"sessionIssuer":
      {"userName":"AWSReservedSSO_Admin"}}},"eventTime":"2022-03-29T17:16:36Z",
    "eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin"})");
  EXPECT_EQ(no_arn.credential, "AWSReservedSSO_Admin/jane@example.com");
}

TEST_F(CloudTrailDecoderTest, ServiceCallsKeepTheServiceNameAsSource) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"AWSService",
    "invokedBy":"inspector2.amazonaws.com"},"eventTime":"2023-07-10T11:55:24Z",
    "eventSource":"sts.amazonaws.com","eventName":"AssumeRole",
    "sourceIPAddress":"inspector2.amazonaws.com","userAgent":"inspector2.amazonaws.com"})");
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.action, Action::kLogin);
  EXPECT_EQ(e.credential, "inspector2.amazonaws.com");
  EXPECT_EQ(e.src_ip_text, "inspector2.amazonaws.com");
  EXPECT_FALSE(e.src_ip.is_valid());
}

TEST_F(CloudTrailDecoderTest, OtherCallsTakeTheirActionFromTheVerb) {
  auto call = [](std::string_view name, std::string_view error = "") {
    std::string r = R"({"userIdentity":{"type":"IAMUser","userName":"u"},)"
                    R"("eventTime":"2023-01-01T00:00:00Z","eventSource":"iam.amazonaws.com",)";
    if (!error.empty()) r += R"("errorCode":")" + std::string(error) + R"(",)";
    return r + R"("eventName":")" + std::string(name) + R"("})";
  };
  EXPECT_EQ(DecodeOne(call("GetSecretValue")).action, Action::kRead);
  EXPECT_EQ(DecodeOne(call("HeadObject")).action, Action::kRead);
  EXPECT_EQ(DecodeOne(call("ListUsers")).action, Action::kList);
  EXPECT_EQ(DecodeOne(call("TerminateInstances")).action, Action::kDelete);
  EXPECT_EQ(DecodeOne(call("RemoveRoleFromInstanceProfile")).action, Action::kDelete);
  EXPECT_EQ(DecodeOne(call("CreateAccessKey")).action, Action::kWrite);
  EXPECT_EQ(DecodeOne(call("GetSessionToken")).kind, Kind::kAuth);
  EXPECT_EQ(DecodeOne(call("AssumeRoleWithSAML")).action, Action::kLogin);
  const Event denied = DecodeOne(call("CreateUser", "AccessDenied"));
  EXPECT_EQ(denied.kind, Kind::kAccess);
  EXPECT_EQ(denied.outcome, Outcome::kFailure);
}

TEST_F(CloudTrailDecoderTest, EscapedStringsAreUnescaped) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"al\u0069ce"},
    "eventTime":"2023-01-01T00:00:00Z","eventSource":"s3.amazonaws.com",
    "eventName":"GetObject","userAgent":"say \"hi\"\n",
    "requestParameters":{"bucketName":"b","key":"dir\/f\u00e9.txt"}})");
  EXPECT_EQ(e.credential, "alice");
  EXPECT_EQ(e.user_agent, "say \"hi\"\n");
  EXPECT_EQ(e.object, "arn:aws:s3:::b/dir/f\xc3\xa9.txt");
}

TEST_F(CloudTrailDecoderTest, ProjectedFieldsAreCopiedIntoExtras) {
  Projection projection;
  projection.paths = {
      {"eventName", 1000},
      {"userIdentity.type", 1001},
      {"requestParameters.attribute", 1002},
      {"responseElements.ConsoleLogin", 1003},
      {"requestParameters", 1004},
      {"additionalEventData.bytesTransferredOut", 1005},
      {"tlsDetails.tlsVersion", 1006},
      {"readOnly", 1007},
      {"requestParameters.createVolumePermission", 1008},
      {"errorCode", 1009},
  };
  DecoderOptions options;
  options.projection = &projection;
  Reset(options);
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","userName":"u"},
    "eventTime":"2023-07-10T12:11:28Z","eventSource":"ec2.amazonaws.com",
    "eventName":"ModifySnapshotAttribute","requestParameters":{"snapshotId":"snap-1",
      "attribute":"createVolumePermission","createVolumePermission":{"add":{"items":[
      {"userId":"012345678912"}]}}},"additionalEventData":{"bytesTransferredOut":12},
    "readOnly":false,"tlsDetails":{"tlsVersion":"TLSv1.3"},"recipientAccountId":"123837392027"})");
  EXPECT_EQ(e.Extra(1000), "ModifySnapshotAttribute");
  EXPECT_EQ(e.Extra(1001), "IAMUser");
  EXPECT_EQ(e.Extra(1002), "createVolumePermission");
  EXPECT_EQ(e.Extra(1003), std::nullopt);  // not in the record
  EXPECT_EQ(e.Extra(1004), R"({"snapshotId":"snap-1",
      "attribute":"createVolumePermission","createVolumePermission":{"add":{"items":[
      {"userId":"012345678912"}]}}})");
  EXPECT_EQ(e.Extra(1005), "12");
  EXPECT_EQ(e.Extra(1006), "TLSv1.3");
  EXPECT_EQ(e.Extra(1007), "false");
  EXPECT_EQ(e.Extra(1008), R"({"add":{"items":[
      {"userId":"012345678912"}]}})");
  EXPECT_EQ(e.Extra(1009), std::nullopt);
  // The mapping still saw everything the projection copied.
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.dst_account, "012345678912");

  const Event login = DecodeOne(R"({"eventTime":"2023-07-10T12:27:45Z",
    "eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
    "userIdentity":{"type":"IAMUser","userName":"u"},"errorCode":"Failed",
    "responseElements":{"ConsoleLogin":"Failure"}})");
  EXPECT_EQ(login.Extra(1003), "Failure");
  EXPECT_EQ(login.Extra(1009), "Failed");
  EXPECT_EQ(login.Extra(1004), std::nullopt);
  EXPECT_EQ(login.outcome, Outcome::kFailure);
}

constexpr std::string_view kGood = R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",
  "userName":"bob"},"eventTime":"2023-07-10T12:11:28Z","eventSource":"s3.amazonaws.com",
  "eventName":"GetObject","sourceIPAddress":"192.0.2.1","userAgent":"cli",
  "requestParameters":{"bucketName":"b","key":"k"},"recipientAccountId":"123"})";

std::string Replace(std::string_view s, std::string_view from, std::string_view to) {
  std::string out(s);
  size_t pos = out.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) out.replace(pos, from.size(), to);
  return out;
}

TEST_F(CloudTrailDecoderTest, KeyOrderDoesNotMatter) {
  // Every invictus record with the keys of all its objects reversed (eventName
  // after requestParameters and resources, Effect after Principal, ...)
  // decodes to the same event.
  simdjson::dom::parser dom;
  int compared = 0;
  for (const fs::path& file : JsonFilesIn(kDatasets / "cloudtrail-invictus" / "CloudTrail")) {
    for (const std::string& record : RecordsOf(file)) {
      simdjson::dom::element element;
      ASSERT_EQ(dom.parse(record).get(element), simdjson::SUCCESS);
      std::string reversed = Reversed(element);
      std::string as_written = EventToJson(DecodeOne(record));
      EXPECT_EQ(EventToJson(DecodeOne(reversed)), as_written) << reversed;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 2900);
}

TEST_F(CloudTrailDecoderTest, EscapedKeysMeanWhatTheyUnescapeTo) {
  const Event e = DecodeOne(R"({"userIdentity":{"type":"IAMUser","user\u004eame":"bob"},
    "eventTime":"2023-01-01T00:00:00Z","event\u0053ource":"s3.amazonaws.com",
    "eventName":"GetObject","err\u006frCode":"AccessDenied",
    "requestParameters":{"bucketName":"b","k\u0065y":"k"}})");
  EXPECT_EQ(e.credential, "bob");
  EXPECT_EQ(e.host, "s3.amazonaws.com");
  EXPECT_EQ(e.outcome, Outcome::kFailure);
  EXPECT_EQ(e.object, "arn:aws:s3:::b/k");
}

TEST_F(CloudTrailDecoderTest, EscapesAreFoundWhereverTheyAre) {
  // Strings are checked for escapes a word at a time: put one at every offset
  // of strings of every length around a word.
  for (size_t length = 1; length <= 20; ++length) {
    for (size_t pos = 0; pos < length; ++pos) {
      std::string raw(length, 'a');
      std::string expected = raw;
      raw.replace(pos, 1, "\\t");
      expected[pos] = '\t';
      const Event e = DecodeOne(std::string(R"({"eventTime":"2023-01-01T00:00:00Z",)") +
                                R"("eventSource":"s3.amazonaws.com","eventName":"GetObject",)" +
                                R"("userAgent":")" + raw + R"(","x":"\u0041"})");
      EXPECT_EQ(e.user_agent, expected) << raw;
    }
  }
}

TEST_F(CloudTrailDecoderTest, TimesOfOneDayAndOfOtherDaysParseAlike) {
  // The decoder keeps the day of the last time; every time must still come
  // out as ParseIso8601 says, including the invalid ones.
  const char* times[] = {"2023-07-10T12:11:28Z",      "2023-07-10T12:11:29Z",
                         "2023-07-10T23:59:59Z",      "2023-07-11T00:00:00Z",
                         "2023-07-10T00:00:00Z",      "2023-07-10T12:11:28z",
                         "2023-07-10T12:11:28+02:00", "2023-07-10T12:11:28.5Z",
                         "2023-07-10 12:11:28Z",      "2023-07-10T12:11:60Z"};
  for (const char* t : times) {
    const Event e = DecodeOne(Replace(kGood, "2023-07-10T12:11:28Z", t));
    EXPECT_EQ(e.time_ns, *ParseIso8601(t)) << t;
  }
  DecodeOne(kGood);
  for (const char* t : {"2023-07-10T24:00:00Z", "2023-07-10T12:60:00Z", "2023-07-10T1a:00:00Z",
                        "2023-07-10T12-00:00Z"}) {
    EXPECT_EQ(Reject(Replace(kGood, "2023-07-10T12:11:28Z", t)), RecordCode::kRejectBadTime) << t;
  }
}

TEST_F(CloudTrailDecoderTest, ProjectionReachesPartsTheMappingSkips) {
  // An AssumeRole's requestParameters and responseElements mean nothing to
  // the mapping, so the decoder skips them, unless a rule reads them.
  Projection projection;
  projection.paths = {{"requestParameters.roleArn", 1000},
                      {"responseElements.assumedRoleUser", 1001},
                      {"resources", 1002}};
  DecoderOptions options;
  options.projection = &projection;
  Reset(options);
  const Event e =
      DecodeOne(R"({"eventTime":"2023-07-10T11:55:24Z","eventSource":"sts.amazonaws.com",
    "eventName":"AssumeRole","userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},
    "requestParameters":{"roleArn":"arn:aws:iam::123:role/r","roleSessionName":"s"},
    "responseElements":{"credentials":{"accessKeyId":"ASIA"},"assumedRoleUser":{"arn":"x"}},
    "resources":[{"ARN":"arn:aws:iam::123:role/r"}]})");
  EXPECT_EQ(e.Extra(1000), "arn:aws:iam::123:role/r");
  EXPECT_EQ(e.Extra(1001), R"({"arn":"x"})");
  EXPECT_EQ(e.Extra(1002), R"([{"ARN":"arn:aws:iam::123:role/r"}])");
  EXPECT_EQ(e.object, "arn:aws:iam::123:role/r");
}

// --- Bad input ------------------------------------------------------------

TEST_F(CloudTrailDecoderTest, NoMutationOfARealRecordBreaksTheDecoder) {
  // Every prefix of a real sharing record, and the record with each byte
  // replaced by characters that matter to JSON: each gives one event or a
  // reject that appends nothing, never a crash (run under the sanitizers).
  std::vector<std::string> records =
      RecordsOf(kDatasets / "cloudtrail-stratus" / "aws.exfiltration.ec2-share-ebs-snapshot.json");
  ASSERT_EQ(records.size(), 1u);
  const std::string& record = records[0];
  auto check = [&](std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(batch_.size(), before + (r.code == RecordCode::kOk ? 1 : 0)) << json;
    if (batch_.size() > 512) batch_.Clear();
  };
  for (size_t n = 0; n < record.size(); ++n) check(std::string_view(record).substr(0, n));
  for (size_t i = 0; i < record.size(); ++i) {
    for (char c : {'"', '\\', '{', '}', '[', ']', ':', ',', 'n', '\0', '\xff'}) {
      std::string mutated = record;
      mutated[i] = c;
      check(mutated);
    }
  }
  DecodeOne(record);
}

TEST_F(CloudTrailDecoderTest, GoodRecordDecodes) { DecodeOne(kGood); }

TEST_F(CloudTrailDecoderTest, TruncatedRecordIsRejectedAsTruncated) {
  for (size_t cut : {kGood.size() - 1, kGood.size() / 2, size_t{1}}) {
    EXPECT_EQ(Reject(kGood.substr(0, cut)), RecordCode::kRejectTruncated) << cut;
  }
  // Cut inside a string.
  EXPECT_EQ(Reject(kGood.substr(0, kGood.find("GetObject") + 3)), RecordCode::kRejectTruncated);
}

TEST_F(CloudTrailDecoderTest, InvalidUtf8IsRejected) {
  EXPECT_EQ(Reject(Replace(kGood, "cli", "cl\xff")), RecordCode::kRejectInvalidUtf8);
  // Also where the decoder does not look.
  EXPECT_EQ(Reject(Replace(kGood, "1.08", "1.\xc3\x28")), RecordCode::kRejectInvalidUtf8);
}

TEST_F(CloudTrailDecoderTest, NestingDeeperThanTheLimitIsRejected) {
  // The root object is level 1: 63 nested arrays inside it is exactly 64.
  auto nested = [](int levels) {
    return std::string(levels, '[') + "1" + std::string(levels, ']');
  };
  DecodeOne(Replace(kGood, R"("eventVersion":"1.08")", R"("x":)" + nested(63)));
  EXPECT_EQ(Reject(Replace(kGood, R"("eventVersion":"1.08")", R"("x":)" + nested(64))),
            RecordCode::kRejectTooDeep);
  // Brackets inside strings do not count.
  DecodeOne(Replace(kGood, "cli", std::string(200, '[')));
}

TEST_F(CloudTrailDecoderTest, WrongTypeOfADefinedFieldIsRejected) {
  EXPECT_EQ(Reject(Replace(kGood, R"("GetObject")", "5")), RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("eventName"));
  EXPECT_EQ(Reject(Replace(kGood, R"("2023-07-10T12:11:28Z")", "1689000000")),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("eventTime"));
  EXPECT_EQ(Reject(Replace(kGood, R"({"type":"IAMUser",
  "userName":"bob"})",
                           R"("bob")")),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("userIdentity"));
}

TEST_F(CloudTrailDecoderTest, MissingOrBadTimeIsRejected) {
  EXPECT_EQ(Reject(Replace(kGood, R"("eventTime":"2023-07-10T12:11:28Z",)", "")),
            RecordCode::kRejectMissingTime);
  EXPECT_EQ(Reject(Replace(kGood, R"("2023-07-10T12:11:28Z")", "null")),
            RecordCode::kRejectMissingTime);
  EXPECT_EQ(Reject(Replace(kGood, "2023-07-10T12:11:28Z", "yesterday")),
            RecordCode::kRejectBadTime);
  EXPECT_EQ(Reject(Replace(kGood, "2023-07-10T12:11:28Z", "2023-13-10T12:11:28Z")),
            RecordCode::kRejectBadTime);
}

TEST_F(CloudTrailDecoderTest, FieldLargerThanTheLimitIsRejected) {
  std::string huge(70 * 1024, 'a');
  EXPECT_EQ(Reject(Replace(kGood, "cli", huge)), RecordCode::kRejectFieldTooLarge);
  EXPECT_THAT(detail_, HasSubstr("userAgent"));
  // Escaped strings are measured after unescaping.
  std::string escaped;
  for (int i = 0; i < 20 * 1024; ++i) escaped += "\\n";  // 40 KiB raw, 20 KiB unescaped
  DecodeOne(Replace(kGood, "cli", escaped));
  EXPECT_EQ(batch_[batch_.size() - 1].user_agent.size(), 20u * 1024);
}

TEST_F(CloudTrailDecoderTest, RecordLongerThanTheLimitIsRejected) {
  DecoderOptions options;
  options.limits.max_record_bytes = 100;
  Reset(options);
  EXPECT_EQ(Reject(kGood), RecordCode::kRejectLineTooLong);
}

TEST_F(CloudTrailDecoderTest, JsonThatIsNotACloudTrailRecordIsUnknownShape) {
  EXPECT_EQ(Reject(R"([{"eventName":"GetObject"}])"), RecordCode::kRejectUnknownShape);
  EXPECT_EQ(Reject(R"("GetObject")"), RecordCode::kRejectUnknownShape);
  EXPECT_EQ(Reject(R"({"time":"2023-07-10T12:11:28Z","kind":"auth"})"),
            RecordCode::kRejectUnknownShape);
  EXPECT_EQ(Reject(Replace(kGood, R"("eventSource":"s3.amazonaws.com",)", "")),
            RecordCode::kRejectUnknownShape);
  // A whole delivery file handed over as one record.
  EXPECT_EQ(Reject(std::string(R"({"Records":[)") + std::string(kGood) + "]}"),
            RecordCode::kRejectUnknownShape);
}

TEST_F(CloudTrailDecoderTest, MalformedJsonIsRejectedAndTheNextRecordStillDecodes) {
  EXPECT_EQ(Reject(Replace(kGood, R"("eventName":)", R"("eventName" )")),
            RecordCode::kRejectInvalidJson);
  EXPECT_EQ(Reject(std::string(kGood) + " {}"), RecordCode::kRejectInvalidJson);
  EXPECT_EQ(Reject(Replace(kGood, R"("key":"k")", R"("key":"k\q")")),
            RecordCode::kRejectInvalidJson);
  EXPECT_EQ(Reject(""), RecordCode::kRejectInvalidJson);
  const Event e = DecodeOne(kGood);
  EXPECT_EQ(e.credential, "bob");
}

}  // namespace
}  // namespace credwatch::decode
