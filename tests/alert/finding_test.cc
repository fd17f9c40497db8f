#include "alert/finding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alert/alert_folder.h"
#include "credwatch/detection.h"
#include "credwatch/event.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"

namespace credwatch::alert {
namespace {

// A small strict JSON reader for checking what the alert stage writes: it
// rejects anything RFC 8259 rejects (trailing data, raw control characters,
// bad escapes) and decodes strings, so tests compare real values.
struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json& operator[](std::string_view key) const {
    static const Json kMissing;
    for (const auto& [k, v] : members) {
      if (k == key) return v;
    }
    return kMissing;
  }
  const Json& operator[](size_t i) const {
    static const Json kMissing;
    return i < items.size() ? items[i] : kMissing;
  }
  bool Has(std::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return true;
    }
    return false;
  }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}
  std::optional<Json> Document() {
    Json v;
    Ws();
    if (!Value(&v, 0)) return std::nullopt;
    Ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void Ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Value(Json* v, int depth) {
    if (depth > 100 || i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      v->type = Json::Type::kObject;
      ++i_;
      Ws();
      if (Eat('}')) return true;
      for (;;) {
        Ws();
        std::string key;
        if (!String(&key)) return false;
        Ws();
        if (!Eat(':')) return false;
        Ws();
        Json member;
        if (!Value(&member, depth + 1)) return false;
        v->members.emplace_back(std::move(key), std::move(member));
        Ws();
        if (Eat('}')) return true;
        if (!Eat(',')) return false;
      }
    }
    if (c == '[') {
      v->type = Json::Type::kArray;
      ++i_;
      Ws();
      if (Eat(']')) return true;
      for (;;) {
        Ws();
        Json item;
        if (!Value(&item, depth + 1)) return false;
        v->items.push_back(std::move(item));
        Ws();
        if (Eat(']')) return true;
        if (!Eat(',')) return false;
      }
    }
    if (c == '"') {
      v->type = Json::Type::kString;
      return String(&v->str);
    }
    for (std::string_view w : {"true", "false", "null"}) {
      if (s_.substr(i_, w.size()) == w) {
        i_ += w.size();
        v->type = w == "null" ? Json::Type::kNull : Json::Type::kBool;
        v->boolean = w == "true";
        return true;
      }
    }
    size_t start = i_;
    Eat('-');
    size_t digits = i_;
    while (i_ < s_.size() && std::string_view("0123456789.eE+-").find(s_[i_]) != s_.npos) ++i_;
    if (i_ == digits) return false;
    v->type = Json::Type::kNumber;
    v->number = std::stod(std::string(s_.substr(start, i_ - start)));
    return true;
  }
  static void PutUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | cp >> 6));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | cp >> 12));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | cp >> 18));
      out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool Hex4(uint32_t* cp) {
    if (i_ + 4 > s_.size()) return false;
    *cp = static_cast<uint32_t>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
    i_ += 4;
    return true;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          PutUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// One NDJSON line: exactly one '\n', at the end, and one JSON object before it.
Json ParseLine(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  auto doc = JsonReader(std::string_view(line).substr(0, line.size() - 1)).Document();
  EXPECT_TRUE(doc.has_value()) << line;
  if (!doc) return Json{};
  EXPECT_EQ(doc->type, Json::Type::kObject);
  return *doc;
}

const int64_t kT0 = DaysFromCivil(2025, 2, 3) * kNsPerDay + 10 * kNsPerHour;

Event ReadEvent(std::string_view credential, std::string_view object_tenant, int64_t bytes) {
  Event e;
  e.time_ns = kT0;
  e.kind = Kind::kAccess;
  e.action = Action::kRead;
  e.outcome = Outcome::kSuccess;
  e.credential = credential;
  e.tenant = "t001";
  e.object = "/srv/data/patients.csv";
  e.object_tenant = object_tenant;
  e.bytes = bytes;
  e.src_ip_text = "45.77.1.2";
  e.src_ip = *IpAddress::Parse("45.77.1.2");
  e.src_internal = Tri::kFalse;
  e.host = "sftp01";
  return e;
}

Detection MakeDetection(std::string_view credential = "t001-alice") {
  Detection d;
  d.rule_id = "7f3c2a10-0000-4000-8000-000000000001";
  d.title = "Foreign tenant data read from a new network";
  d.severity = Severity::kCritical;
  d.attacks = {"T1078.004", "T1530"};
  d.group_key = std::string(credential);
  d.credential = std::string(credential);
  d.tenant = "t001";
  d.src_ip = "45.77.1.2";
  d.time_ns = kT0 + 123'456'789;
  d.first_seen_ns = kT0;
  d.last_seen_ns = kT0 + 123'456'789;
  Event e = ReadEvent(d.credential, "t002", 4096);
  d.blast.Add(e);
  d.evidences.push_back(EventToJson(e));
  return d;
}

TEST(Finding, WritesTheOcsfDetectionFindingSchema) {
  const Detection d = MakeDetection();
  const Json j = ParseLine(FindingToNdjson(NewFinding(d)));
  EXPECT_EQ(j["class_uid"].number, 2004);
  EXPECT_EQ(j["class_name"].str, "Detection Finding");
  EXPECT_EQ(j["category_uid"].number, 2);
  EXPECT_EQ(j["activity_id"].number, 1);
  EXPECT_EQ(j["activity_name"].str, "Create");
  EXPECT_EQ(j["type_uid"].number, 200401);
  EXPECT_EQ(j["time"].number, static_cast<double>((kT0 + 123'456'789) / 1'000'000));
  EXPECT_EQ(j["severity_id"].number, 5);
  EXPECT_EQ(j["severity"].str, "Critical");
  EXPECT_EQ(j["status_id"].number, 1);
  EXPECT_EQ(j["status"].str, "New");
  EXPECT_EQ(j["count"].number, 1);

  const Json& info = j["finding_info"];
  EXPECT_EQ(info["uid"].str, FindingUid(d.rule_id, d.group_key, d.time_ns));
  EXPECT_EQ(info["title"].str, d.title);
  EXPECT_EQ(info["analytic"]["uid"].str, d.rule_id);
  EXPECT_EQ(info["analytic"]["name"].str, d.title);
  EXPECT_EQ(info["analytic"]["type_id"].number, 1);
  EXPECT_EQ(info["analytic"]["type"].str, "Rule");
  EXPECT_EQ(info["first_seen_time"].number, static_cast<double>(kT0 / 1'000'000));
  EXPECT_EQ(info["last_seen_time"].number, static_cast<double>((kT0 + 123'456'789) / 1'000'000));
  ASSERT_EQ(info["attacks"].items.size(), 2u);
  EXPECT_EQ(info["attacks"][0]["technique"]["uid"].str, "T1078");
  EXPECT_EQ(info["attacks"][0]["sub_technique"]["uid"].str, "T1078.004");
  EXPECT_EQ(info["attacks"][1]["technique"]["uid"].str, "T1530");
  EXPECT_FALSE(info["attacks"][1].Has("sub_technique"));
  ASSERT_EQ(info["types"].items.size(), 2u);
  EXPECT_EQ(info["types"][1].str, "Data Exfiltration");

  EXPECT_EQ(j["actor"]["user"]["name"].str, "t001-alice");
  EXPECT_EQ(j["actor"]["user"]["org"]["name"].str, "t001");
  EXPECT_EQ(j["src_endpoint"]["ip"].str, "45.77.1.2");
  ASSERT_EQ(j["evidences"].items.size(), 1u);
  const Json& ev = j["evidences"][0]["data"];
  EXPECT_EQ(ev["credential"].str, "t001-alice");
  EXPECT_EQ(ev["object.tenant"].str, "t002");
  EXPECT_EQ(ev["bytes"].number, 4096);

  const Json& blast = j["unmapped"]["blast_radius"];
  ASSERT_EQ(blast["tenants"].items.size(), 1u);
  EXPECT_EQ(blast["tenants"][0].str, "t002");
  EXPECT_EQ(blast["objects"][0].str, "/srv/data/patients.csv");
  EXPECT_EQ(blast["objects_total"].number, 1);
  EXPECT_EQ(blast["bytes"].number, 4096);
  EXPECT_EQ(blast["destinations"][0].str, "45.77.1.2");
  EXPECT_EQ(j["unmapped"]["group_key"].str, "t001-alice");

  EXPECT_EQ(j["metadata"]["product"]["name"].str, "credwatch");
  EXPECT_EQ(j["metadata"]["product"]["vendor_name"].str, "credwatch");
  EXPECT_FALSE(j["metadata"]["product"]["version"].str.empty());
  EXPECT_EQ(j["metadata"]["version"].str, "1.1.0");
}

TEST(Finding, OptionalPartsAreLeftOut) {
  Detection d;
  d.rule_id = "r";
  d.title = "t";
  d.severity = Severity::kLow;
  d.credential = "bob";
  const Json j = ParseLine(FindingToNdjson(NewFinding(d)));
  EXPECT_EQ(j["severity_id"].number, 2);
  EXPECT_FALSE(j.Has("src_endpoint"));
  EXPECT_FALSE(j["actor"]["user"].Has("org"));
  EXPECT_TRUE(j["evidences"].items.empty());
  EXPECT_TRUE(j["finding_info"]["attacks"].items.empty());
  EXPECT_EQ(j["finding_info"]["types"].items.size(), 1u);
}

TEST(Finding, OutputIsByteDeterministic) {
  const std::string a = FindingToNdjson(NewFinding(MakeDetection()));
  const std::string b = FindingToNdjson(NewFinding(MakeDetection()));
  EXPECT_EQ(a, b);

  const std::string uid = FindingUid("rule", "key", 42);
  EXPECT_EQ(uid, FindingUid("rule", "key", 42));
  ASSERT_EQ(uid.size(), 36u);
  EXPECT_EQ(uid[8], '-');
  EXPECT_EQ(uid[14], '8');                                                    // version 8
  EXPECT_NE(std::string_view("89ab").find(uid[19]), std::string_view::npos);  // variant
  // Pinned: ids are durable (RocksDB outbox, SIEM de-duplication); changing
  // the scheme is a breaking change.
  EXPECT_EQ(uid, "e54b07d2-a21f-87f6-8516-b5bc5d6cae34");
  EXPECT_NE(uid, FindingUid("rule", "key", 43));
  EXPECT_NE(uid, FindingUid("rule2", "key", 42));
  EXPECT_NE(FindingUid("ab", "c", 1), FindingUid("a", "bc", 1));
}

TEST(Finding, AttackerControlledStringsCannotInjectFieldsOrLines) {
  const std::string evil = std::string("alice\",\"severity_id\":1}\n{\"class_uid\":2004,\"x\":\"") +
                           "\xff\xfe" + "\x01\r\\";
  Detection d = MakeDetection(evil);
  d.tenant = "t001\"}\n";
  d.title = "title\n\"";
  d.src_ip = "1.2.3.4\"}";
  d.attacks = {"T1078\"}"};
  d.blast.objects.push_back("obj\n\"");
  // An evidence that is not one single-line JSON object is embedded as text.
  d.evidences.push_back("{\"a\":1}\n{\"class_uid\":2004}");
  d.evidences.push_back("{\"a\":1} trailing");

  const std::string line = FindingToNdjson(NewFinding(d));
  const Json j = ParseLine(line);
  EXPECT_EQ(j["severity_id"].number, 5);
  EXPECT_EQ(j["class_uid"].number, 2004);
  const std::string expected_name =
      std::string("alice\",\"severity_id\":1}\n{\"class_uid\":2004,\"x\":\"") +
      "\xEF\xBF\xBD\xEF\xBF\xBD" + "\x01\r\\";
  EXPECT_EQ(j["actor"]["user"]["name"].str, expected_name);
  EXPECT_EQ(j["actor"]["user"]["org"]["name"].str, "t001\"}\n");
  EXPECT_EQ(j["finding_info"]["title"].str, "title\n\"");
  EXPECT_EQ(j["src_endpoint"]["ip"].str, "1.2.3.4\"}");
  ASSERT_EQ(j["evidences"].items.size(), 3u);
  EXPECT_EQ(j["evidences"][0]["data"]["credential"].str, expected_name);
  EXPECT_EQ(j["evidences"][1]["data"]["raw"].str, "{\"a\":1}\n{\"class_uid\":2004}");
  EXPECT_EQ(j["evidences"][2]["data"]["raw"].str, "{\"a\":1} trailing");
  // Exactly one top-level object: the injected keys did not appear.
  EXPECT_FALSE(j.Has("x"));
  int class_uids = 0;
  for (const auto& [k, v] : j.members) class_uids += k == "class_uid";
  EXPECT_EQ(class_uids, 1);
}

TEST(Finding, EvidenceCheckIsStrict) {
  EXPECT_TRUE(IsSingleLineJsonObject(R"({"a":[1,2.5e3,-0,true,null,{"b":"\u00e9\n"}]})"));
  EXPECT_TRUE(IsSingleLineJsonObject(" {} "));
  EXPECT_TRUE(IsSingleLineJsonObject("{\"k\":\"\xC3\xA9\"}"));
  EXPECT_FALSE(IsSingleLineJsonObject("[]"));
  EXPECT_FALSE(IsSingleLineJsonObject("\"s\""));
  EXPECT_FALSE(IsSingleLineJsonObject("{}{}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\n}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\"a\":01}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\"a\":\"\x01\"}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\"a\":\"\xff\"}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\"a\":\"\\x\"}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{\"a\":1,}"));
  EXPECT_FALSE(IsSingleLineJsonObject("{a:1}"));
  EXPECT_FALSE(IsSingleLineJsonObject(""));
  EXPECT_FALSE(IsSingleLineJsonObject(std::string(100, '{') + std::string(100, '}')));
}

TEST(AlertFolder, RepeatsFoldIntoTheOpenFinding) {
  AlertFolder folder;
  Detection d = MakeDetection();
  const Finding* first = folder.Offer(d);
  ASSERT_NE(first, nullptr);
  const std::string uid = first->uid;

  // A repeat an hour later: merged, not re-sent.
  Detection repeat = MakeDetection();
  repeat.severity = Severity::kHigh;
  repeat.time_ns = d.time_ns + kNsPerHour;
  repeat.last_seen_ns = repeat.time_ns;
  repeat.src_ip = "45.77.1.3";
  repeat.blast = {};
  Event e = ReadEvent(d.credential, "t003", 1 << 20);
  e.object = "/srv/data/other.csv";
  e.time_ns = repeat.time_ns;
  repeat.blast.Add(e);
  repeat.evidences = {EventToJson(e)};
  EXPECT_EQ(folder.Offer(repeat), nullptr);
  EXPECT_EQ(folder.size(), 1u);

  const Finding& f = *folder.Findings()[0];
  EXPECT_EQ(f.count, 2);
  EXPECT_EQ(f.uid, uid);
  EXPECT_EQ(f.detection.severity, Severity::kCritical);
  EXPECT_EQ(f.detection.first_seen_ns, d.first_seen_ns);
  EXPECT_EQ(f.detection.last_seen_ns, repeat.time_ns);
  EXPECT_EQ(f.detection.src_ip, "45.77.1.3");
  EXPECT_EQ(f.detection.blast.bytes, 4096 + (1 << 20));
  EXPECT_EQ(f.detection.blast.tenants, (std::vector<std::string>{"t002", "t003"}));
  EXPECT_EQ(f.detection.blast.objects_total, 2);
  EXPECT_EQ(f.detection.evidences.size(), 2u);
  const Json j = ParseLine(FindingToNdjson(f));
  EXPECT_EQ(j["count"].number, 2);
  EXPECT_EQ(j["unmapped"]["blast_radius"]["bytes"].number, 4096 + (1 << 20));
}

TEST(AlertFolder, RaisedSeverityIsEmittedAsAnUpdate) {
  AlertFolder folder;
  Detection d = MakeDetection();
  d.severity = Severity::kMedium;
  const Finding* first = folder.Offer(d);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(ParseLine(FindingToNdjson(*first))["activity_id"].number, 1);
  Detection worse = d;
  worse.severity = Severity::kCritical;
  worse.time_ns += kNsPerMinute;
  const Finding* update = folder.Offer(worse);
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update, first);
  const Json j = ParseLine(FindingToNdjson(*update));
  EXPECT_EQ(j["activity_id"].number, 2);
  EXPECT_EQ(j["type_uid"].number, 200402);
  EXPECT_EQ(j["severity_id"].number, 5);
  EXPECT_EQ(j["count"].number, 2);
  EXPECT_EQ(j["finding_info"]["uid"].str, first->uid);
  // The same severity again folds silently.
  worse.time_ns += kNsPerMinute;
  EXPECT_EQ(folder.Offer(worse), nullptr);
}

TEST(AlertFolder, OtherKeysAndLaterIncidentsOpenNewFindings) {
  AlertFolder folder;
  Detection a = MakeDetection("t001-alice");
  Detection b = MakeDetection("t001-bob");
  ASSERT_NE(folder.Offer(a), nullptr);
  ASSERT_NE(folder.Offer(b), nullptr);
  Detection other_rule = a;
  other_rule.rule_id = "another-rule";
  ASSERT_NE(folder.Offer(other_rule), nullptr);
  // 25 h later the window has closed: a new incident with a new id.
  Detection later = a;
  later.time_ns = a.time_ns + 25 * kNsPerHour;
  later.first_seen_ns = later.time_ns;
  later.last_seen_ns = later.time_ns;
  const Finding* again = folder.Offer(later);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(folder.size(), 4u);

  const auto all = folder.Findings();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]->detection.credential, "t001-alice");
  EXPECT_EQ(all[0]->detection.rule_id, "7f3c2a10-0000-4000-8000-000000000001");
  EXPECT_EQ(all[1]->detection.rule_id, "another-rule");
  EXPECT_EQ(all[2]->detection.credential, "t001-alice");
  EXPECT_EQ(all[2]->opened_ns, later.time_ns);
  EXPECT_EQ(all[3]->detection.credential, "t001-bob");
  EXPECT_NE(all[0]->uid, all[2]->uid);
}

TEST(AlertFolder, ExpiredFindingsAreForgottenAndLaterRepeatsOpenNewOnes) {
  // A daemon runs for months: findings older than the fold window must not
  // stay in memory, and forgetting one must not break folding of the others.
  AlertFolder folder;
  Detection a = MakeDetection("t001-alice");
  Detection b = MakeDetection("t001-bob");
  b.time_ns = a.time_ns + 2 * kNsPerHour;
  ASSERT_NE(folder.Offer(a), nullptr);
  ASSERT_NE(folder.Offer(b), nullptr);
  EXPECT_EQ(folder.Expire(a.time_ns + kNsPerHour), 1u);  // alice's only
  EXPECT_EQ(folder.size(), 1u);
  Detection b_repeat = b;
  b_repeat.time_ns += kNsPerHour;
  EXPECT_EQ(folder.Offer(b_repeat), nullptr) << "bob's open finding still folds repeats";
  const Finding* alice_again = folder.Offer(a);
  ASSERT_NE(alice_again, nullptr) << "a forgotten finding's repeat opens a new one";
  EXPECT_EQ(alice_again->count, 1);
  EXPECT_EQ(folder.size(), 2u);
  EXPECT_EQ(folder.Expire(INT64_MAX), 2u);
  EXPECT_EQ(folder.size(), 0u);
}

TEST(AlertFolder, EvidencesAreCapped) {
  AlertFolder folder;
  Detection d = MakeDetection();
  folder.Offer(d);
  for (int i = 0; i < 40; ++i) {
    Detection r = d;
    r.time_ns += i + 1;
    r.evidences = {"{\"n\":" + std::to_string(i) + "}"};
    folder.Offer(r);
  }
  const Finding& f = *folder.Findings()[0];
  EXPECT_EQ(f.count, 41);
  EXPECT_EQ(f.detection.evidences.size(), Detection::kMaxEvidences);
  EXPECT_EQ(ParseLine(FindingToNdjson(f))["evidences"].items.size(), Detection::kMaxEvidences);
}

TEST(AlertFolder, RepeatsOfAFindingWithFullEvidencesNeedNoneToRebuildIt) {
  // What the durable journal relies on: leaving out the evidences that
  // UsesEvidences says are not read gives the same findings when the
  // detections are offered again.
  AlertFolder live, rebuilt;
  Detection d = MakeDetection();
  std::vector<bool> used;
  for (int i = 0; i < 40; ++i) {
    Detection r = d;
    r.time_ns += i;
    r.evidences = {"{\"n\":" + std::to_string(i) + "}"};
    if (i >= 30) r.time_ns += 25 * kNsPerHour;  // past the fold window: a second finding
    used.push_back(live.UsesEvidences(r));
    live.Offer(r);
    if (!used.back()) r.evidences.clear();
    rebuilt.Offer(r);
  }
  // The first finding fills its 16 evidences, the rest of its repeats need
  // none; the finding opened past the window needs them again.
  EXPECT_EQ(std::count(used.begin(), used.begin() + 30, true), static_cast<long>(Detection::kMaxEvidences));
  EXPECT_TRUE(used[30]);
  ASSERT_EQ(live.size(), 2u);
  ASSERT_EQ(rebuilt.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(FindingToNdjson(*rebuilt.Findings()[i]), FindingToNdjson(*live.Findings()[i]));
    EXPECT_EQ(rebuilt.Findings()[i]->count, live.Findings()[i]->count);
  }
}

TEST(IncidentReport, ScopesWhatEachCredentialTook) {
  AlertFolder folder;
  Detection a = MakeDetection("t001-alice");
  folder.Offer(a);
  Detection a2 = a;
  a2.rule_id = "exfil-volume";
  a2.title = "Read volume far above the usual day";
  a2.blast = {};
  Event e = ReadEvent("t001-alice", "t003", int64_t{2} << 30);
  e.object = "/srv/data/t003/records.db";
  a2.blast.Add(e);
  folder.Offer(a2);
  Detection low = MakeDetection("t002-bob");
  low.severity = Severity::kLow;
  low.evidences.clear();
  folder.Offer(low);

  std::string report;
  AppendIncidentReport(folder.Findings(), &report);
  std::string again;
  AppendIncidentReport(folder.Findings(), &again);
  EXPECT_EQ(report, again);

  const size_t alice = report.find("## Credential t001-alice (Critical)");
  const size_t bob = report.find("## Credential t002-bob (Low)");
  ASSERT_NE(alice, std::string::npos) << report;
  ASSERT_NE(bob, std::string::npos) << report;
  EXPECT_LT(alice, bob);  // most severe first
  const std::string section = report.substr(alice, bob - alice);
  EXPECT_NE(section.find("Tenants touched (2): t002, t003"), std::string::npos) << section;
  EXPECT_NE(section.find("Objects: 2 accessed"), std::string::npos) << section;
  EXPECT_NE(section.find("/srv/data/t003/records.db"), std::string::npos);
  EXPECT_NE(section.find("2147487744 bytes (2.00 GiB)"), std::string::npos) << section;
  EXPECT_NE(section.find("Destinations (1): 45.77.1.2"), std::string::npos);
  EXPECT_NE(section.find("exfil-volume"), std::string::npos);
  EXPECT_NE(section.find("7f3c2a10-0000-4000-8000-000000000001"), std::string::npos);
  EXPECT_NE(section.find("First seen: 2025-02-03T10:00:00Z"), std::string::npos) << section;
}

TEST(IncidentReport, CraftedNamesCannotAddHeadingsOrRows) {
  AlertFolder folder;
  Detection d = MakeDetection("evil\n# Injected heading\n| x | y |\xff");
  folder.Offer(d);
  std::string report;
  AppendIncidentReport(folder.Findings(), &report);
  size_t start = 0;
  while (start < report.size()) {
    size_t end = report.find('\n', start);
    if (end == std::string::npos) end = report.size();
    std::string_view line(report.data() + start, end - start);
    EXPECT_NE(line.substr(0, 10), "# Injected") << report;
    EXPECT_NE(line.substr(0, 3), "| x") << report;
    start = end + 1;
  }
  EXPECT_NE(
      report.find("evil\xEF\xBF\xBD\\# Injected heading\xEF\xBF\xBD\\| x \\| y \\|\xEF\xBF\xBD"),
      std::string::npos)
      << report;
}

}  // namespace
}  // namespace credwatch::alert
