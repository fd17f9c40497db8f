// The mapping decoder: a YAML mapping turns a made-up application's JSON log
// into events; bad mapping files fail at load with file:line; bad records get
// reasons.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"

namespace credwatch {
// gtest prints RecordCode values through this (found by ADL).
void PrintTo(RecordCode c, std::ostream* os) { *os << "RecordCode(" << static_cast<int>(c) << ")"; }
}  // namespace credwatch

namespace credwatch::decode {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const fs::path kExampleMapping =
    fs::path(CREDWATCH_SOURCE_DIR) / "deploy" / "mappings" / "example-app.yaml";

// Writes `yaml` to a file of its own and returns the path.
std::string WriteMapping(std::string_view name, std::string_view yaml) {
  fs::path p = fs::path(::testing::TempDir()) / (std::string(name) + ".yaml");
  std::ofstream(p) << yaml;
  return p.string();
}

absl::StatusOr<std::unique_ptr<Decoder>> Load(const std::string& file,
                                              const Projection* projection = nullptr) {
  DecoderOptions options;
  options.mapping_file = file;
  options.projection = projection;
  return MakeMappingDecoder(options);
}

// The load error for a mapping whose text is `yaml`.
std::string LoadError(std::string_view name, std::string_view yaml) {
  std::string file = WriteMapping(name, yaml);
  auto decoder = Load(file);
  if (decoder.ok()) return "loaded without error";
  return std::string(decoder.status().message());
}

class MappingDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Load(kExampleMapping.string());
    ASSERT_TRUE(d.ok()) << d.status();
    decoder_ = *std::move(d);
  }

  DecodeResult Decode(std::string_view json) {
    std::string buf(json);
    buf.append(kRecordPadding, '\0');
    return decoder_->Decode(std::string_view(buf.data(), json.size()),
                            RecordContext{"ehr-audit.log", 7}, batch_);
  }
  const Event& DecodeOne(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, RecordCode::kOk) << r.detail << "\n" << json;
    EXPECT_EQ(batch_.size(), before + 1);
    static const Event kEmpty;
    return batch_.size() > before ? batch_[batch_.size() - 1] : kEmpty;
  }
  void ExpectReject(std::string_view json, RecordCode code, std::string_view detail_has) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, code) << r.detail << "\n" << json;
    EXPECT_THAT(std::string(r.detail), HasSubstr(std::string(detail_has)));
    EXPECT_EQ(batch_.size(), before);
  }

  std::unique_ptr<Decoder> decoder_;
  EventBatch batch_;
};

constexpr std::string_view kRead =
    R"({"ts":"2025-03-02T10:15:00.250Z","user":{"login":"t001-alice","org":"t001"},)"
    R"("client":{"addr":"203.0.113.50","port":51234,"ua":"curl/8.1"},)"
    R"("server":"ehr-legacy-01","session_id":"S-99","op":"GET",)"
    R"("resource":{"path":"/patients/t002/123.json"},"status":200,)"
    R"("resp":{"size":"1048576","rows":12},"trace":{"spans":[1,2,3]}})";

TEST_F(MappingDecoderTest, ExampleMappingDecodesTheAppLog) {
  const Event& e = DecodeOne(kRead);
  EXPECT_EQ(e.time_ns, *ParseIso8601("2025-03-02T10:15:00.250Z"));
  EXPECT_EQ(e.kind, Kind::kAccess);
  EXPECT_EQ(e.action, Action::kRead);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "t001-alice");
  EXPECT_EQ(e.tenant, "t001");
  EXPECT_EQ(e.src_ip, *IpAddress::Parse("203.0.113.50"));
  EXPECT_EQ(e.src_ip_text, "203.0.113.50");
  EXPECT_EQ(e.src_port, 51234);
  EXPECT_EQ(e.user_agent, "curl/8.1");
  EXPECT_EQ(e.host, "ehr-legacy-01");
  EXPECT_EQ(e.session, "S-99");
  EXPECT_EQ(e.object, "/patients/t002/123.json");
  EXPECT_EQ(e.bytes, 1048576);  // a string of digits
  EXPECT_EQ(e.records, 12);
  EXPECT_EQ(e.format, "ehr-app");
  EXPECT_EQ(e.source, "ehr-audit.log");
  EXPECT_EQ(e.source_offset, 7u);
}

TEST_F(MappingDecoderTest, ValueMapsExactPrefixAndDefault) {
  // Fields in any order; "op" not in the map falls back to the default.
  const Event& put =
      DecodeOne(R"({"status":201,"op":"PUT","ts":"2025-03-02T10:15:01Z","user":{"login":"b"}})");
  EXPECT_EQ(put.action, Action::kWrite);
  EXPECT_EQ(put.outcome, Outcome::kSuccess);  // "2*"
  const Event& denied = DecodeOne(R"({"ts":"2025-03-02T10:15:02Z","op":"DELETE","status":403})");
  EXPECT_EQ(denied.action, Action::kDelete);
  EXPECT_EQ(denied.outcome, Outcome::kFailure);
  const Event& odd = DecodeOne(R"({"ts":"2025-03-02T10:15:03Z","op":"PATCH","status":500})");
  EXPECT_EQ(odd.action, Action::kRead);       // default
  EXPECT_EQ(odd.outcome, Outcome::kUnknown);  // not mapped, no default
  const Event& bare = DecodeOne(R"({"ts":"2025-03-02T10:15:04Z"})");
  EXPECT_EQ(bare.kind, Kind::kAccess);
  EXPECT_EQ(bare.action, Action::kRead);
  EXPECT_EQ(bare.credential, "");
  EXPECT_EQ(bare.bytes, -1);
  const Event& login = DecodeOne(
      R"({"ts":"2025-03-02T10:15:05Z","op":"LOGIN","status":401,"client":{"addr":null}})");
  EXPECT_EQ(login.action, Action::kLogin);
  EXPECT_EQ(login.outcome, Outcome::kFailure);
  EXPECT_EQ(login.src_ip_text, "");
}

TEST_F(MappingDecoderTest, BadRecordsGiveReasons) {
  ExpectReject(R"({"user":{"login":"a"}})", RecordCode::kRejectMissingTime, "ts");
  ExpectReject(R"({"ts":"last tuesday"})", RecordCode::kRejectBadTime, "ts");
  ExpectReject(R"({"ts":1740910500})", RecordCode::kRejectWrongType, "ts");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","resp":{"size":"a lot"}})",
               RecordCode::kRejectWrongType, "resp.size");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","resp":{"size":-3}})", RecordCode::kRejectWrongType,
               "resp.size");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","client":{"port":65536}})",
               RecordCode::kRejectWrongType, "client.port");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","user":{"login":{"first":"a"}}})",
               RecordCode::kRejectWrongType, "user.login");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","op":["GET"]})", RecordCode::kRejectWrongType, "op");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z","server":"a)", RecordCode::kRejectTruncated, "");
  ExpectReject(R"({"ts":"2025-03-02T10:15:00Z",})", RecordCode::kRejectInvalidJson, "");
  ExpectReject(R"("just a string")", RecordCode::kRejectUnknownShape, "object");
}

TEST(MappingDecoder, TimeFormatsAndLooseNumbers) {
  auto d = Load(WriteMapping("unix", R"(
name: unix-app
time: {path: meta.when, format: unix_s}
kind: {const: auth}
action: {path: event}          # no map: the value is the action's name
outcome: {path: ok, map: {"true": success, "false": failure}}
fields:
  credential: who
  dst.ip: peer.ip
  dst.port: peer.port
  bytes: sent
)"));
  ASSERT_TRUE(d.ok()) << d.status();
  EventBatch batch;
  auto decode = [&](std::string json) {
    json.append(kRecordPadding, '\0');
    return (*d)->Decode(std::string_view(json.data(), json.size() - kRecordPadding), {}, batch);
  };
  ASSERT_EQ(decode(R"({"meta":{"when":1700000000.25},"event":"login","ok":true,"who":4711,
                       "peer":{"ip":"2001:db8::7","port":"22"},"sent":1.5e3})")
                .code,
            RecordCode::kOk);
  const Event& e = batch[0];
  EXPECT_EQ(e.time_ns, 1700000000 * kNsPerSecond + 250'000'000);
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.action, Action::kLogin);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "4711");  // a number names the credential as written
  EXPECT_EQ(e.dst_ip, *IpAddress::Parse("2001:db8::7"));
  EXPECT_EQ(e.dst_port, 22);
  EXPECT_EQ(e.bytes, 1500);
  EXPECT_EQ(e.format, "unix-app");
  EXPECT_EQ(decode(R"({"meta":{"when":"1700000000"},"event":"shout","ok":false})").code,
            RecordCode::kOk);
  EXPECT_EQ(batch[1].time_ns, 1700000000 * kNsPerSecond);  // a string of digits is fine
  EXPECT_EQ(batch[1].action, Action::kUnknown);
  EXPECT_EQ(batch[1].outcome, Outcome::kFailure);
  EXPECT_EQ(decode(R"({"meta":{"when":-1}})").code, RecordCode::kRejectBadTime);
  EXPECT_EQ(decode(R"({"meta":{"when":1e9}})").code, RecordCode::kRejectBadTime);
  EXPECT_EQ(decode(R"({"meta":{"when":99999999999999999999}})").code, RecordCode::kRejectBadTime);
  EXPECT_EQ(batch.size(), 2u);
}

TEST(MappingDecoder, MillisecondsAndNanoseconds) {
  for (auto [format, text, want] :
       {std::tuple{"unix_ms", "1700000000123", 1700000000123000000},
        std::tuple{"unix_us", "1700000000123456", 1700000000123456000},
        std::tuple{"unix_ns", "1700000000123456789", 1700000000123456789}}) {
    auto d = Load(
        WriteMapping(format, absl::StrCat("name: t\ntime: {path: t, format: ", format, "}\n")));
    ASSERT_TRUE(d.ok()) << d.status();
    EventBatch batch;
    std::string json = absl::StrCat("{\"t\":", text, "}");
    json.append(kRecordPadding, '\0');
    ASSERT_EQ(
        (*d)->Decode(std::string_view(json.data(), json.size() - kRecordPadding), {}, batch).code,
        RecordCode::kOk);
    EXPECT_EQ(batch[0].time_ns, want) << format;
  }
}

TEST(MappingDecoder, ProjectionAndSharedPaths) {
  Projection projection;
  projection.paths = {{"client", 1000}, {"trace.spans[1]", 1001}, {"op", 1002}};
  auto d = Load(kExampleMapping.string(), &projection);
  ASSERT_TRUE(d.ok()) << d.status();
  EventBatch batch;
  std::string json(kRead);
  json.append(kRecordPadding, '\0');
  ASSERT_EQ((*d)->Decode(std::string_view(json.data(), kRead.size()), {}, batch).code,
            RecordCode::kOk);
  const Event& e = batch[0];
  EXPECT_EQ(e.Extra(1000), R"({"addr":"203.0.113.50","port":51234,"ua":"curl/8.1"})");
  EXPECT_EQ(e.Extra(1001), "2");
  EXPECT_EQ(e.Extra(1002), "GET");
  EXPECT_EQ(e.src_port, 51234);  // client.* still mapped
  EXPECT_EQ(e.action, Action::kRead);
}

TEST(MappingDecoder, FormatOutlivesTheDecoder) {
  EventBatch batch;
  {
    auto d = Load(kExampleMapping.string());
    ASSERT_TRUE(d.ok()) << d.status();
    std::string json(kRead);
    json.append(kRecordPadding, '\0');
    ASSERT_EQ((*d)->Decode(std::string_view(json.data(), kRead.size()), {}, batch).code,
              RecordCode::kOk);
  }
  EXPECT_EQ(batch[0].format, "ehr-app");
}

TEST(MappingLoad, ErrorsNameFileLineAndFix) {
  std::string file = WriteMapping("unknown_field", R"(name: app
time: {path: ts, format: iso8601}
fields:
  credential: user
  usr: user.name
)");
  auto d = Load(file);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), StartsWith(file + ":5: unknown field 'usr'"));
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("credential, tenant, src.ip"));

  EXPECT_THAT(LoadError("bad_format", "name: app\ntime:\n  path: ts\n  format: epoch\n"),
              AllOf(HasSubstr("bad_format.yaml:4: time format 'epoch'"), HasSubstr("unix_ms")));
  EXPECT_THAT(LoadError("no_time_path", "name: app\ntime:\n  format: unix_s\n"),
              HasSubstr("no_time_path.yaml:3: time needs a 'path'"));
  EXPECT_THAT(LoadError("no_time", "name: app\nfields:\n  host: h\n"),
              HasSubstr("no_time.yaml:1: missing 'time'"));
  EXPECT_THAT(LoadError("no_name", "time: {path: t, format: unix_s}\n"),
              HasSubstr("no_name.yaml:1: missing 'name'"));
  EXPECT_THAT(LoadError("typo_key", "name: app\ntime: {path: t, format: unix_s}\nfeilds: {}\n"),
              HasSubstr("typo_key.yaml:3: unknown key 'feilds'"));
  EXPECT_THAT(LoadError("bad_action", R"(name: app
time: {path: t, format: unix_s}
action:
  path: op
  map:
    GET: reed
)"),
              HasSubstr("bad_action.yaml:6: 'reed' is not a valid action; use one of login"));
  EXPECT_THAT(LoadError("bad_kind", "name: app\ntime: {path: t, format: unix_s}\nkind: file\n"),
              HasSubstr("bad_kind.yaml:3: 'file' is not a valid kind"));
  EXPECT_THAT(LoadError("computed", R"(name: app
time: {path: t, format: unix_s}
fields:
  src.internal: net.inside
)"),
              HasSubstr("computed.yaml:4: field 'src.internal' is computed by credwatch"));
  EXPECT_THAT(LoadError("action_in_fields",
                        "name: app\ntime: {path: t, format: unix_s}\nfields:\n  action: op\n"),
              HasSubstr("action_in_fields.yaml:4: map 'action' with the top-level 'action:'"));
  EXPECT_THAT(LoadError("bad_path",
                        "name: app\ntime: {path: t, format: unix_s}\nfields:\n"
                        "  host: a..b\n"),
              HasSubstr("bad_path.yaml:4: bad JSON path 'a..b'"));
  EXPECT_THAT(LoadError("bad_index", "name: app\ntime: {path: 'x[y]', format: unix_s}\n"),
              HasSubstr("bad_index.yaml:2: bad JSON path 'x[y]'"));
  EXPECT_THAT(LoadError("both",
                        "name: app\ntime: {path: t, format: unix_s}\n"
                        "outcome: {const: success, path: s}\n"),
              HasSubstr("both.yaml:3: outcome: use either const or path"));
  EXPECT_THAT(LoadError("empty_path",
                        "name: app\ntime: {path: t, format: unix_s}\nfields:\n"
                        "  host:\n"),
              HasSubstr("empty_path.yaml:4: field 'host' needs a JSON path"));
  EXPECT_THAT(LoadError("syntax", "name: app\ntime: {path: t, format: unix_s\nfields: x\n"),
              HasSubstr("syntax.yaml:"));
  EXPECT_THAT(LoadError("not_a_map", "- name: app\n"), HasSubstr("not_a_map.yaml:1: a mapping "
                                                                 "file is a YAML map"));
  EXPECT_THAT(LoadError("bad_name", "name: my app\ntime: {path: t, format: unix_s}\n"),
              HasSubstr("bad_name.yaml:1: name may use letters"));
}

TEST(MappingLoad, MissingFileAndNoFile) {
  auto missing = Load("/nonexistent/dir/app.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/dir/app.yaml"));
  auto none = Load("");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("needs a mapping file"));
}

}  // namespace
}  // namespace credwatch::decode
