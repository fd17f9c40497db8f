#include <gtest/gtest.h>

#include "common/json_writer.h"
#include "credwatch/detection.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"

namespace credwatch {
namespace {

TEST(IpAddress, ParsesV4AndV6AndRejectsJunk) {
  EXPECT_EQ(IpAddress::Parse("198.51.100.7")->ToString(), "198.51.100.7");
  EXPECT_EQ(IpAddress::Parse("2001:db8::1")->ToString(), "2001:db8::1");
  EXPECT_EQ(IpAddress::Parse("[::1]")->ToString(), "::1");
  EXPECT_EQ(IpAddress::Parse("::ffff:10.1.2.3")->ToString(), "10.1.2.3");
  EXPECT_FALSE(IpAddress::Parse("256.1.1.1"));
  EXPECT_FALSE(IpAddress::Parse("1.2.3"));
  EXPECT_FALSE(IpAddress::Parse("ec2.amazonaws.com"));
  EXPECT_FALSE(IpAddress::Parse("1:2:3:4:5:6:7:8:9"));
  EXPECT_FALSE(IpAddress::Parse("1::2::3"));
  EXPECT_FALSE(IpAddress::Parse(""));
}

TEST(Cidr, ContainsRespectsPrefix) {
  auto net = Cidr::Parse("198.51.100.0/24");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->Contains(*IpAddress::Parse("198.51.100.250")));
  EXPECT_FALSE(net->Contains(*IpAddress::Parse("198.51.101.1")));
  auto ten = Cidr::Parse("10.0.0.0/8");
  EXPECT_TRUE(ten->Contains(*IpAddress::Parse("10.200.3.4")));
  EXPECT_FALSE(ten->Contains(*IpAddress::Parse("11.0.0.1")));
  EXPECT_FALSE(ten->Contains(*IpAddress::Parse("2001:db8::1")));
  auto v6 = Cidr::Parse("2001:db8::/32");
  EXPECT_TRUE(v6->Contains(*IpAddress::Parse("2001:db8:ffff::1")));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33"));
  EXPECT_EQ(Cidr::Parse("10.1.2.3/8")->ToString(), "10.0.0.0/8");
}

TEST(IpAddress, PrefixGroupsNetworks) {
  EXPECT_EQ(IpAddress::Parse("81.2.3.4")->Prefix(), IpAddress::Parse("81.2.3.200")->Prefix());
  EXPECT_NE(IpAddress::Parse("81.2.3.4")->Prefix(), IpAddress::Parse("81.2.4.4")->Prefix());
}

TEST(Time, Iso8601RoundTripsAndRejectsBadDates) {
  auto t = ParseIso8601("2023-07-10T12:34:56Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, int64_t{1688992496} * kNsPerSecond);
  EXPECT_EQ(FormatIso8601(*t), "2023-07-10T12:34:56Z");
  EXPECT_EQ(*ParseIso8601("2023-07-10T14:34:56+02:00"), *t);
  EXPECT_EQ(FormatIso8601(*ParseIso8601("2023-07-10T12:34:56.123Z")), "2023-07-10T12:34:56.123Z");
  EXPECT_FALSE(ParseIso8601("2023-02-30T00:00:00Z"));
  EXPECT_FALSE(ParseIso8601("2023-07-10T25:00:00Z"));
  EXPECT_FALSE(ParseIso8601("yesterday"));
  EXPECT_FALSE(ParseIso8601("2023-07-10T12:34:56Zjunk"));
}

TEST(Time, Rfc3164WithYearRollover) {
  auto t = ParseRfc3164Stamp("Dec 10 06:55:46", 2024);
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatIso8601(*t), "2024-12-10T06:55:46Z");
  EXPECT_EQ(FormatIso8601(*ParseRfc3164Stamp("Jan  2 00:00:01", 2025)), "2025-01-02T00:00:01Z");
  EXPECT_FALSE(ParseRfc3164Stamp("Foo 10 06:55:46", 2024));
  SyslogYearTracker years(2024);
  EXPECT_EQ(years.YearFor(12), 2024);
  EXPECT_EQ(years.YearFor(1), 2025);   // rolled over
  EXPECT_EQ(years.YearFor(12), 2024);  // a straggler from the old year
  EXPECT_EQ(years.YearFor(1), 2025);
  EXPECT_EQ(YearOf(*ParseIso8601("2025-01-01T00:00:00Z")), 2025);
  EXPECT_EQ(YearOf(*ParseIso8601("2024-12-31T23:59:59Z")), 2024);
}

TEST(JsonWriter, EscapesEverythingAnInputCanHold) {
  std::string out;
  AppendJsonString("a\"b\\c\nd\x01\xff\xc3\xa9", &out);
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\\ufffd\xc3\xa9\"");
}

TEST(EventJson, WritesDesignFieldNames) {
  Event e;
  e.time_ns = *ParseIso8601("2025-01-06T09:00:00Z");
  e.kind = Kind::kAccess;
  e.action = Action::kRead;
  e.outcome = Outcome::kSuccess;
  e.credential = "t001-alice";
  e.src_ip = *IpAddress::Parse("81.2.3.4");
  e.src_ip_text = "81.2.3.4";
  e.src_internal = Tri::kFalse;
  e.bytes = 42;
  EXPECT_EQ(EventToJson(e),
            R"({"time":"2025-01-06T09:00:00Z","kind":"access","action":"read","outcome":"success",)"
            R"("credential":"t001-alice","src.ip":"81.2.3.4","src.internal":false,"bytes":42})");
  EXPECT_EQ(GetField(e, FieldId::kSrcIp).type, FieldValue::Type::kIp);
  EXPECT_EQ(GetField(e, FieldId::kBytes).i, 42);
  EXPECT_TRUE(GetField(e, FieldId::kTenant).absent());
  EXPECT_EQ(*BuiltinFieldByName("profile.src_new"), FieldId::kProfileSrcNew);
  EXPECT_EQ(BuiltinFieldName(FieldId::kObjectTenant), "object.tenant");
}

TEST(BlastRadius, ExternalReadCountsAsDataLeavingToTheReader) {
  Event e;
  e.action = Action::kRead;
  e.object = "/srv/ehr/t002/a.csv";
  e.object_tenant = "t002";
  e.bytes = 1000;
  e.src_internal = Tri::kFalse;
  e.src_ip_text = "185.1.2.3";
  BlastRadius b;
  b.Add(e);
  b.Add(e);
  EXPECT_EQ(b.bytes, 2000);
  EXPECT_EQ(b.objects_total, 2);
  EXPECT_EQ(b.objects.size(), 1u);
  ASSERT_EQ(b.destinations.size(), 1u);
  EXPECT_EQ(b.destinations[0], "185.1.2.3");
  EXPECT_EQ(b.tenants, std::vector<std::string>{"t002"});
}

TEST(Arena, ReusesChunksAfterReset) {
  Arena a(128);
  for (int i = 0; i < 10; ++i) a.Copy(std::string(100, 'x'));
  size_t reserved = a.bytes_reserved();
  a.Reset();
  for (int i = 0; i < 10; ++i) a.Copy(std::string(100, 'y'));
  EXPECT_EQ(a.bytes_reserved(), reserved);
}

}  // namespace
}  // namespace credwatch
