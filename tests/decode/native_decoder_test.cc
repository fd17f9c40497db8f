// The native decoder: flat JSON objects with the normalized field names, and
// the round trip with AppendEventJson (what `replay --emit events` writes).
#include <memory>
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

namespace credwatch::decode {
namespace {

using ::testing::HasSubstr;

class NativeDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override { decoder_ = MakeNativeDecoder(options_); }

  DecodeResult Decode(std::string_view json) {
    auto& buffer = buffers_.emplace_back(std::make_unique<std::string>(json));
    buffer->append(kRecordPadding, '\0');
    DecodeResult r = decoder_->Decode(std::string_view(buffer->data(), json.size()),
                                      RecordContext{"events.ndjson", 7}, batch_);
    detail_ = std::string(r.detail);
    return r;
  }

  // A copy: the batch may move its events when it grows. The strings stay
  // where they are.
  Event DecodeOne(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(r.code, RecordCode::kOk) << RecordCodeName(r.code) << ": " << r.detail;
    EXPECT_EQ(batch_.size(), before + 1);
    return batch_.size() == before + 1 ? batch_[before] : Event{};
  }

  RecordCode Reject(std::string_view json) {
    size_t before = batch_.size();
    DecodeResult r = Decode(json);
    EXPECT_EQ(batch_.size(), before) << "a rejected record added an event";
    EXPECT_FALSE(r.detail.empty());
    return r.code;
  }

  DecoderOptions options_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<std::unique_ptr<std::string>> buffers_;
  EventBatch batch_;
  std::string detail_;
};

constexpr std::string_view kFull = R"({"time":"2025-03-01T09:30:00.250Z","kind":"transfer",
  "action":"copy","outcome":"success","credential":"t001-alice","tenant":"t001",
  "src.ip":"198.51.100.7","src.port":50122,"src.internal":false,"host":"legacy-db-01",
  "session":"sshd[4242]","object":"/srv/h02/patients.csv","object.tenant":"h02",
  "bytes":73400320,"records":120000,"dst.ip":"203.0.113.50","dst.port":22,
  "dst.account":"999988887777","dst.external":true,"user_agent":"OpenSSH_8.9"})";

TEST_F(NativeDecoderTest, EveryFieldMapsToItsNamesake) {
  const Event e = DecodeOne(kFull);
  EXPECT_EQ(e.time_ns, *ParseIso8601("2025-03-01T09:30:00.250Z"));
  EXPECT_EQ(e.kind, Kind::kTransfer);
  EXPECT_EQ(e.action, Action::kCopy);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "t001-alice");
  EXPECT_EQ(e.tenant, "t001");
  EXPECT_EQ(e.src_ip, *IpAddress::Parse("198.51.100.7"));
  EXPECT_EQ(e.src_ip_text, "198.51.100.7");
  EXPECT_EQ(e.src_port, 50122);
  EXPECT_EQ(e.src_internal, Tri::kFalse);
  EXPECT_EQ(e.host, "legacy-db-01");
  EXPECT_EQ(e.session, "sshd[4242]");
  EXPECT_EQ(e.object, "/srv/h02/patients.csv");
  EXPECT_EQ(e.object_tenant, "h02");
  EXPECT_EQ(e.bytes, 73400320);
  EXPECT_EQ(e.records, 120000);
  EXPECT_EQ(e.dst_ip, *IpAddress::Parse("203.0.113.50"));
  EXPECT_EQ(e.dst_port, 22);
  EXPECT_EQ(e.dst_account, "999988887777");
  EXPECT_EQ(e.dst_external, Tri::kTrue);
  EXPECT_EQ(e.user_agent, "OpenSSH_8.9");
  EXPECT_EQ(e.format, "native");
  EXPECT_EQ(e.source, "events.ndjson");
  EXPECT_EQ(e.source_offset, 7u);
}

TEST_F(NativeDecoderTest, AbsentFieldsStayAbsent) {
  const Event e = DecodeOne(R"({"time":"2025-03-01T09:30:00Z","credential":"bob",
    "bytes":null})");
  EXPECT_EQ(e.kind, Kind::kUnknown);
  EXPECT_EQ(e.bytes, -1);
  EXPECT_EQ(e.records, -1);
  EXPECT_EQ(e.src_port, 0);
  EXPECT_EQ(e.src_internal, Tri::kUnset);
  EXPECT_FALSE(e.src_ip.is_valid());
  EXPECT_TRUE(e.host.empty());
}

TEST_F(NativeDecoderTest, TimeIsIsoTextOrIntegerNanoseconds) {
  EXPECT_EQ(DecodeOne(R"({"time":1740821400250000000})").time_ns, 1740821400250000000LL);
  EXPECT_EQ(DecodeOne(R"({"time":"2025-03-01T10:30:00.25+01:00"})").time_ns, 1740821400250000000LL);
}

TEST_F(NativeDecoderTest, RoundTripsWhatAppendEventJsonWrites) {
  // Every event the decoder produced, written back and decoded again, is the
  // same event.
  const Event first = DecodeOne(kFull);
  std::string json = EventToJson(first);
  const Event second = DecodeOne(json);
  EXPECT_EQ(EventToJson(second), json);
  EXPECT_EQ(second.time_ns, first.time_ns);
  EXPECT_EQ(second.src_ip, first.src_ip);
  EXPECT_EQ(second.dst_ip, first.dst_ip);

  // A hand-built event with text that needs escaping and a host name as source.
  Event e;
  e.time_ns = 1'700'000'000'123'456'789;
  e.kind = Kind::kAuth;
  e.action = Action::kLogin;
  e.outcome = Outcome::kFailure;
  e.credential = "we\"ird\\name\n";
  e.src_ip_text = "ec2.amazonaws.com";
  e.host = "h\xc3\xa9te";
  e.bytes = 0;
  e.src_internal = Tri::kTrue;
  std::string text = EventToJson(e);
  const Event back = DecodeOne(text);
  EXPECT_EQ(back.credential, e.credential);
  EXPECT_EQ(back.host, e.host);
  EXPECT_EQ(back.time_ns, e.time_ns);
  EXPECT_EQ(back.bytes, 0);
  EXPECT_EQ(back.src_ip_text, "ec2.amazonaws.com");
  EXPECT_FALSE(back.src_ip.is_valid());
  Event same = back;  // the decoder names itself and the reader's source
  same.format = e.format;
  same.source = e.source;
  same.source_offset = e.source_offset;
  EXPECT_EQ(EventToJson(same), text);
}

TEST_F(NativeDecoderTest, UnknownKeysAreIgnoredOrProjected) {
  Projection projection;
  projection.paths = {{"app.name", 1000}, {"geo", 1001}, {"ticket.id", 1002}};
  options_.projection = &projection;
  decoder_ = MakeNativeDecoder(options_);
  const Event e = DecodeOne(R"({"time":"2025-03-01T09:30:00Z","app.name":"billing",
    "geo":{"country":"NL"},"ticket":{"id":42,"title":"x"},"other":[1,2,3],
    "format":"cloudtrail","source":"elsewhere","offset":99})");
  EXPECT_EQ(e.Extra(1000), "billing");
  EXPECT_EQ(e.Extra(1001), R"({"country":"NL"})");
  EXPECT_EQ(e.Extra(1002), "42");
  EXPECT_EQ(e.num_extras, 3);
  // Where the record came from is the reader's to say, not the record's.
  EXPECT_EQ(e.format, "native");
  EXPECT_EQ(e.source, "events.ndjson");
}

TEST_F(NativeDecoderTest, EscapedKeysAndValuesMeanWhatTheyUnescapeTo) {
  const Event e = DecodeOne(R"({"ti\u006de":"2025-03-01T09:30:00Z","cr\u0065dential":"b\u00f6b",
    "src\u002eip":"10.0.0.1"})");
  EXPECT_EQ(e.time_ns, *ParseIso8601("2025-03-01T09:30:00Z"));
  EXPECT_EQ(e.credential,
            "b\xc3\xb6"
            "b");
  EXPECT_EQ(e.src_ip, *IpAddress::Parse("10.0.0.1"));
}

TEST_F(NativeDecoderTest, KnownKeyWithTheWrongTypeIsRejected) {
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","bytes":"12"})"),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("bytes"));
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","credential":7})"),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("credential"));
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","src.internal":"no"})"),
            RecordCode::kRejectWrongType);
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","src.port":70000})"),
            RecordCode::kRejectWrongType);
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","bytes":1.5})"), RecordCode::kRejectWrongType);
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","records":-3})"),
            RecordCode::kRejectWrongType);
  EXPECT_EQ(Reject(R"({"time":true})"), RecordCode::kRejectWrongType);
}

TEST_F(NativeDecoderTest, UnknownKindActionOrOutcomeIsRejectedWithTheField) {
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","kind":"exfil"})"),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("kind"));
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","action":"steal"})"),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("action"));
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","outcome":"maybe"})"),
            RecordCode::kRejectWrongType);
  EXPECT_THAT(detail_, HasSubstr("outcome"));
}

TEST_F(NativeDecoderTest, MissingOrBadTimeIsRejected) {
  EXPECT_EQ(Reject(R"({"kind":"auth","credential":"bob"})"), RecordCode::kRejectMissingTime);
  EXPECT_EQ(Reject(R"({"time":null})"), RecordCode::kRejectMissingTime);
  EXPECT_EQ(Reject(R"({"time":"last tuesday"})"), RecordCode::kRejectBadTime);
}

TEST_F(NativeDecoderTest, BadJsonIsRejectedWithItsReason) {
  std::string full(kFull);
  EXPECT_EQ(Reject(std::string_view(full).substr(0, full.size() - 1)),
            RecordCode::kRejectTruncated);
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","host":"h)"
                   "\xfe"
                   R"("})"),
            RecordCode::kRejectInvalidUtf8);
  EXPECT_EQ(Reject(R"({"time":"2025-03-01T09:30:00Z","x":)" + std::string(80, '[') +
                   std::string(80, ']') + "}"),
            RecordCode::kRejectTooDeep);
  EXPECT_EQ(
      Reject(R"({"time":"2025-03-01T09:30:00Z","host":")" + std::string(65537, 'h') + R"("})"),
      RecordCode::kRejectFieldTooLarge);
  EXPECT_EQ(Reject(R"([{"time":"2025-03-01T09:30:00Z"}])"), RecordCode::kRejectUnknownShape);
  EXPECT_EQ(Reject(R"({"time" "2025-03-01T09:30:00Z"})"), RecordCode::kRejectInvalidJson);
  DecodeOne(R"({"time":"2025-03-01T09:30:00Z"})");
}

}  // namespace
}  // namespace credwatch::decode
