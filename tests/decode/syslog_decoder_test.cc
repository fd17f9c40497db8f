// The `syslog` decoder: header grammar, sshd / sftp mapping, session linking,
// year inference, limits, and the real-data oracles (loghub OpenSSH and
// Linux logs, mtail's sftp log and its golden counters).
#include <sys/stat.h>
#include <utime.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/sshd_messages.h"

namespace credwatch {

// Readable names in failure messages (RecordCodeName lives with the decoder
// registry, which this test does not link).
void PrintTo(RecordCode c, std::ostream* os) {
  static constexpr const char* kNames[] = {
      "ok",        "skipped_irrelevant", "invalid_json", "truncated", "line_too_long",
      "too_deep",  "invalid_utf8",       "wrong_type",   "missing_time", "bad_time",
      "unknown_shape", "field_too_large", "unparseable"};
  *os << kNames[static_cast<int>(c)];
}

namespace {

using ::testing::ElementsAre;

// An event with owned strings, so results outlive their batch.
struct Ev {
  int64_t time_ns = 0;
  Kind kind = Kind::kUnknown;
  Action action = Action::kUnknown;
  Outcome outcome = Outcome::kUnknown;
  std::string credential, host, session, object, src_ip, format;
  uint16_t src_port = 0;
  int64_t bytes = -1;
  uint64_t offset = 0;
};

Ev Own(const Event& e) {
  Ev o;
  o.time_ns = e.time_ns;
  o.kind = e.kind;
  o.action = e.action;
  o.outcome = e.outcome;
  o.credential = std::string(e.credential);
  o.host = std::string(e.host);
  o.session = std::string(e.session);
  o.object = std::string(e.object);
  o.src_ip = e.src_ip.is_valid() ? e.src_ip.ToString() : "";
  EXPECT_EQ(o.src_ip.empty(), e.src_ip_text.empty());
  o.format = std::string(e.format);
  o.src_port = e.src_port;
  o.bytes = e.bytes;
  o.offset = e.source_offset;
  return o;
}

struct LineResult {
  RecordCode code = RecordCode::kOk;
  std::string detail;
  std::vector<Ev> events;
};

// Feeds lines the way the reader does: each record followed by padding.
class Feeder {
 public:
  explicit Feeder(std::unique_ptr<Decoder> decoder, std::string source = "test.log")
      : decoder_(std::move(decoder)), source_(std::move(source)) {}

  LineResult Line(std::string_view line) {
    std::string buf(line);
    buf.append(kRecordPadding, '\0');
    EventBatch batch;
    RecordContext ctx{source_, offset_};
    offset_ += line.size() + 1;
    DecodeResult r = decoder_->Decode(std::string_view(buf.data(), line.size()), ctx, batch);
    LineResult out;
    out.code = r.code;
    out.detail = std::string(r.detail);
    for (const Event& e : batch) out.events.push_back(Own(e));
    // kOk means events were appended; anything else appends none.
    EXPECT_EQ(r.code == RecordCode::kOk, !batch.empty()) << line;
    return out;
  }

  std::vector<LineResult> Lines(const std::vector<std::string>& lines) {
    std::vector<LineResult> out;
    out.reserve(lines.size());
    for (const std::string& l : lines) out.push_back(Line(l));
    return out;
  }

 private:
  std::unique_ptr<Decoder> decoder_;
  std::string source_;
  uint64_t offset_ = 0;
};

DecoderOptions Year(int year) {
  DecoderOptions o;
  o.syslog_start_year = year;
  return o;
}

Feeder Syslog(int year = 2024) { return Feeder(decode::MakeSyslogDecoder(Year(year))); }

int64_t T(std::string_view iso) { return *ParseIso8601(iso); }

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string Dataset(std::string_view rel) {
  return std::string(CREDWATCH_DATASETS_DIR) + "/" + std::string(rel);
}

// ---------------------------------------------------------------------------
// Mapping of single lines

TEST(SyslogDecoder, AcceptedLoginBecomesAuthLoginSuccess) {
  Feeder f = Syslog(2024);
  LineResult r = f.Line(
      "Mar  5 09:01:02 web1 sshd[4242]: Accepted publickey for alice from 203.0.113.9 port "
      "50522 ssh2: ED25519 SHA256:abcdef");
  ASSERT_EQ(r.code, RecordCode::kOk) << r.detail;
  ASSERT_EQ(r.events.size(), 1u);
  const Ev& e = r.events[0];
  EXPECT_EQ(e.time_ns, T("2024-03-05T09:01:02Z"));
  EXPECT_EQ(e.kind, Kind::kAuth);
  EXPECT_EQ(e.action, Action::kLogin);
  EXPECT_EQ(e.outcome, Outcome::kSuccess);
  EXPECT_EQ(e.credential, "alice");
  EXPECT_EQ(e.src_ip, "203.0.113.9");
  EXPECT_EQ(e.src_port, 50522);
  EXPECT_EQ(e.host, "web1");
  EXPECT_EQ(e.session, "web1:4242");
  EXPECT_EQ(e.format, "syslog");
}

TEST(SyslogDecoder, AllLoginMethodsAreAccepted) {
  Feeder f = Syslog();
  for (std::string_view method :
       {"password", "publickey", "keyboard-interactive/pam", "keyboard-interactive",
        "hostbased", "gssapi-with-mic"}) {
    std::string line = "Mar  5 09:01:02 web1 sshd[1]: Accepted " + std::string(method) +
                       " for bob from 2001:db8::7 port 22 ssh2";
    LineResult r = f.Line(line);
    ASSERT_EQ(r.code, RecordCode::kOk) << line;
    EXPECT_EQ(r.events[0].credential, "bob");
    EXPECT_EQ(r.events[0].src_ip, "2001:db8::7");
  }
}

TEST(SyslogDecoder, FailedPasswordIsOneFailureAndInvalidUserLineIsNotCountedTwice) {
  Feeder f = Syslog();
  // The attempt is counted once, by its "Failed" line.
  LineResult invalid = f.Line("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from "
                              "173.234.31.186");
  EXPECT_EQ(invalid.code, RecordCode::kSkippedIrrelevant);
  LineResult none = f.Line("Dec 10 06:55:46 LabSZ sshd[24200]: Failed none for invalid user "
                           "webmaster from 173.234.31.186 port 38926 ssh2");
  EXPECT_EQ(none.code, RecordCode::kSkippedIrrelevant);
  LineResult failed = f.Line("Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid "
                             "user webmaster from 173.234.31.186 port 38926 ssh2");
  ASSERT_EQ(failed.code, RecordCode::kOk);
  ASSERT_EQ(failed.events.size(), 1u);
  EXPECT_EQ(failed.events[0].outcome, Outcome::kFailure);
  EXPECT_EQ(failed.events[0].action, Action::kLogin);
  EXPECT_EQ(failed.events[0].credential, "webmaster");
  EXPECT_EQ(failed.events[0].src_ip, "173.234.31.186");
  EXPECT_EQ(failed.events[0].src_port, 38926);
  EXPECT_EQ(failed.events[0].session, "LabSZ:24200");
  LineResult root = f.Line("Dec 10 06:55:48 LabSZ sshd[24201]: Failed password for root from "
                           "173.234.31.186 port 38927 ssh2");
  ASSERT_EQ(root.code, RecordCode::kOk);
  EXPECT_EQ(root.events[0].credential, "root");
}

TEST(SyslogDecoder, UserNameCannotForgeTheSourceAddress) {
  Feeder f = Syslog();
  LineResult r = f.Line(
      "Dec 10 06:55:48 h sshd[7]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 "
      "from 198.51.100.4 port 40000 ssh2");
  ASSERT_EQ(r.code, RecordCode::kOk);
  EXPECT_EQ(r.events[0].src_ip, "198.51.100.4");
  EXPECT_EQ(r.events[0].src_port, 40000);
  EXPECT_EQ(r.events[0].credential, "x from 6.6.6.6 port 1 ssh2");
}

TEST(SyslogDecoder, MessageRepeatedStandsForThatManyMoreFailures) {
  Feeder f = Syslog();
  LineResult r = f.Line(
      "Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for root "
      "from 5.36.59.76 port 42393 ssh2]");
  ASSERT_EQ(r.code, RecordCode::kOk);
  ASSERT_EQ(r.events.size(), 5u);
  for (const Ev& e : r.events) {
    EXPECT_EQ(e.credential, "root");
    EXPECT_EQ(e.outcome, Outcome::kFailure);
    EXPECT_EQ(e.src_ip, "5.36.59.76");
  }
  // A forged count cannot flood the engine.
  LineResult huge = f.Line(
      "Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 4000000000 times: [ Failed password "
      "for root from 5.36.59.76 port 42393 ssh2]");
  EXPECT_EQ(huge.events.size(), decode::kMaxRepeat);
}

TEST(SyslogDecoder, LastMessageRepeatedRepeatsThePreviousFailureOfThatHost) {
  Feeder f = Syslog();
  ASSERT_EQ(f.Line("Jun 14 15:16:01 combo sshd[19939]: Failed password for root from "
                   "218.188.2.4 port 1022 ssh2")
                .code,
            RecordCode::kOk);
  LineResult r = f.Line("Jun 14 15:16:09 combo last message repeated 3 times");
  ASSERT_EQ(r.code, RecordCode::kOk);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].credential, "root");
  EXPECT_EQ(r.events[0].src_ip, "218.188.2.4");
  EXPECT_EQ(r.events[0].time_ns, T("2024-06-14T15:16:09Z"));
  // Once another line came from the host, "last message" is that line.
  EXPECT_EQ(f.Line("Jun 14 15:16:10 combo cron[1]: (root) CMD (true)").code,
            RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(f.Line("Jun 14 15:16:11 combo last message repeated 2 times").code,
            RecordCode::kSkippedIrrelevant);
}

TEST(SyslogDecoder, Rfc5424WithStructuredDataAndBom) {
  Feeder f = Syslog();
  LineResult r = f.Line(
      "<38>1 2024-07-10T12:34:56.250+02:00 db7 sshd 3131 - [origin ip=\"10.0.0.2\" "
      "note=\"a \\] b\"][meta x=\"1\"] \xEF\xBB\xBF"
      "Accepted password for carol from 192.0.2.44 port 61000 ssh2");
  ASSERT_EQ(r.code, RecordCode::kOk) << r.detail;
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].time_ns, T("2024-07-10T10:34:56.250Z"));
  EXPECT_EQ(r.events[0].host, "db7");
  EXPECT_EQ(r.events[0].credential, "carol");
  EXPECT_EQ(r.events[0].session, "db7:3131");

  LineResult nil = f.Line("<38>1 - db7 sshd 3131 - - Accepted password for carol from "
                          "192.0.2.44 port 61000 ssh2");
  EXPECT_EQ(nil.code, RecordCode::kRejectMissingTime);
  LineResult no_sd_end = f.Line("<38>1 2024-07-10T12:34:56Z db7 sshd 3131 - [origin ip=\"1\" "
                                "Accepted password");
  EXPECT_EQ(no_sd_end.code, RecordCode::kRejectUnparseable);
  LineResult cron = f.Line("<78>1 2024-07-10T12:34:56Z db7 CRON 99 - - (root) CMD (x)");
  EXPECT_EQ(cron.code, RecordCode::kSkippedIrrelevant);
}

TEST(SyslogDecoder, PriBeforeClassicLineAndRfc3339Files) {
  Feeder f = Syslog(2019);
  LineResult pri = f.Line("<86>Mar  5 09:01:02 web1 sshd[9]: Failed password for eve from "
                          "192.0.2.1 port 3 ssh2");
  ASSERT_EQ(pri.code, RecordCode::kOk) << pri.detail;
  EXPECT_EQ(pri.events[0].time_ns, T("2019-03-05T09:01:02Z"));
  LineResult iso = f.Line("2024-03-01T10:00:00.123456+01:00 web2 sshd-session[77]: Failed "
                          "password for eve from 192.0.2.1 port 3 ssh2");
  ASSERT_EQ(iso.code, RecordCode::kOk) << iso.detail;
  EXPECT_EQ(iso.events[0].time_ns, T("2024-03-01T09:00:00.123456Z"));
  EXPECT_EQ(iso.events[0].host, "web2");
}

TEST(SyslogDecoder, YearAdvancesAtNewYear) {
  Feeder f = Syslog(2023);
  const std::string tail =
      " h sshd[5]: Failed password for root from 192.0.2.9 port 5 ssh2";
  LineResult dec = f.Line("Dec 31 23:59:59" + tail);
  LineResult jan = f.Line("Jan  1 00:00:01" + tail);
  LineResult late_dec = f.Line("Dec 31 23:59:58" + tail);  // arrives a little late
  LineResult feb = f.Line("Feb  1 00:00:00" + tail);
  EXPECT_EQ(dec.events.at(0).time_ns, T("2023-12-31T23:59:59Z"));
  EXPECT_EQ(jan.events.at(0).time_ns, T("2024-01-01T00:00:01Z"));
  EXPECT_EQ(late_dec.events.at(0).time_ns, T("2023-12-31T23:59:58Z"));
  EXPECT_EQ(feb.events.at(0).time_ns, T("2024-02-01T00:00:00Z"));
}

TEST(SyslogDecoder, ClockIsExactAcrossLinesOfTheSameDay) {
  Feeder f = Syslog(2024);
  const std::string tail = " h sshd[5]: Failed password for root from 192.0.2.9 port 5 ssh2";
  EXPECT_EQ(f.Line("Mar  5 23:59:59" + tail).events.at(0).time_ns, T("2024-03-05T23:59:59Z"));
  EXPECT_EQ(f.Line("Mar  5 00:00:01" + tail).events.at(0).time_ns, T("2024-03-05T00:00:01Z"));
  EXPECT_EQ(f.Line("Mar 05 12:30:00" + tail).events.at(0).time_ns, T("2024-03-05T12:30:00Z"));
  EXPECT_EQ(f.Line("Mar  6 00:00:00" + tail).events.at(0).time_ns, T("2024-03-06T00:00:00Z"));
  EXPECT_EQ(f.Line("Mar  6 10:00:60" + tail).events.at(0).time_ns, T("2024-03-06T10:00:59Z"));
  EXPECT_EQ(f.Line("Mar  6 24:00:00" + tail).code, RecordCode::kRejectBadTime);
  EXPECT_EQ(f.Line("Mar  6 10:61:00" + tail).code, RecordCode::kRejectBadTime);
  EXPECT_EQ(f.Line("Feb 29 10:00:00" + tail).events.at(0).time_ns, T("2024-02-29T10:00:00Z"));
}

TEST(SyslogDecoder, UnknownYearComesFromTheFileTimeAndNeverLiesInTheFuture) {
  // A file last written on 2021-01-05 that starts in December: the December
  // lines are from 2020, the January ones from 2021.
  std::string path = ::testing::TempDir() + "/syslog_year_test.log";
  { std::ofstream(path) << "x\n"; }
  struct utimbuf times;
  times.actime = times.modtime = static_cast<time_t>(T("2021-01-05T12:00:00Z") / kNsPerSecond);
  ASSERT_EQ(::utime(path.c_str(), &times), 0);
  Feeder f(decode::MakeSyslogDecoder(Year(0)), path);
  const std::string tail = " h sshd[5]: Failed password for root from 192.0.2.9 port 5 ssh2";
  EXPECT_EQ(f.Line("Dec 30 10:00:00" + tail).events.at(0).time_ns, T("2020-12-30T10:00:00Z"));
  EXPECT_EQ(f.Line("Jan  2 10:00:00" + tail).events.at(0).time_ns, T("2021-01-02T10:00:00Z"));
  std::remove(path.c_str());

  // Not a file (stdin, a listener): relative to now.
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Feeder live(decode::MakeSyslogDecoder(Year(0)), "udp:514");
  LineResult r = live.Line("Jan  1 00:00:00" + tail);
  ASSERT_EQ(r.code, RecordCode::kOk);
  EXPECT_EQ(YearOf(r.events[0].time_ns), YearOf(now));
  Feeder live2(decode::MakeSyslogDecoder(Year(0)), "udp:514");
  LineResult d = live2.Line("Dec 31 23:59:59" + tail);
  EXPECT_LE(d.events.at(0).time_ns, now);
}

TEST(SyslogDecoder, DamagedAndForeignLinesAreCountedNotDecoded) {
  Feeder f = Syslog();
  EXPECT_EQ(f.Line("this is not syslog").code, RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Dec 10 06:55").code, RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Dex 10 06:55:46 h sshd[1]: x").code, RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Feb 30 06:55:46 h sshd[1]: x").code, RecordCode::kRejectBadTime);
  EXPECT_EQ(f.Line("<999>Dec 10 06:55:46 h sshd[1]: x").code, RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sshd[1]: Failed password for \xC3\x28 from 1.2.3.4 "
                   "port 5 ssh2")
                .code,
            RecordCode::kRejectInvalidUtf8);
  // An sshd line we handle, but damaged: a reject, not a silent skip.
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sshd[1]: Accepted password for x from 1.2").code,
            RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sshd[1]: Failed password for x from 999.1.1.1 port 5 "
                   "ssh2")
                .code,
            RecordCode::kRejectUnparseable);
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sftp-server[1]: close \"/a\" bytes read x written 0")
                .code,
            RecordCode::kRejectUnparseable);
  // Valid syslog without a security event.
  for (std::string_view line : {
           "Dec 10 06:55:46 h CRON[77]: (root) CMD (run-parts /etc/cron.hourly)",
           "Dec 10 06:55:46 h sshd[1]: Connection closed by 1.2.3.4 [preauth]",
           "Dec 10 06:55:46 h sshd[1]: Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]",
           "Dec 10 06:55:46 h sshd[1]: pam_unix(sshd:auth): check pass; user unknown",
           "Dec 10 06:55:46 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= "
           "uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4",
           "Dec 10 06:55:46 h sshd[1]: Received disconnect from 1.2.3.4: 11: disconnected by user",
           "Dec 10 06:55:46 h sshd[1]: Server listening on 0.0.0.0 port 22.",
           "Jun 19 04:09:11 combo syslogd 1.4.1: restart.",
           "Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2",
           "Dec 10 06:55:46 h kernel: [ 1.0] eth0: link up",
           "Dec 10 06:55:46 h sftp-server[1]: open \"/a\" flags READ mode 0666",
           "Dec 10 06:55:46 h sftp-server[1]: close \"/a\" bytes read 0 written 0",
           "",
       }) {
    LineResult r = f.Line(line);
    EXPECT_EQ(r.code, RecordCode::kSkippedIrrelevant) << line << ": " << r.detail;
  }
}

TEST(SyslogDecoder, LimitsAreEnforced) {
  DecoderOptions o = Year(2024);
  o.limits.max_record_bytes = 200;
  o.limits.max_field_bytes = 16;
  Feeder f(decode::MakeSyslogDecoder(o));
  std::string long_line = "Dec 10 06:55:46 h sshd[1]: " + std::string(300, 'a');
  EXPECT_EQ(f.Line(long_line).code, RecordCode::kRejectLineTooLong);
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sshd[1]: Failed password for "
                   "averyveryverylongusername from 1.2.3.4 port 5 ssh2")
                .code,
            RecordCode::kRejectFieldTooLarge);
  EXPECT_EQ(f.Line("Dec 10 06:55:46 h sshd[1]: Failed password for short from 1.2.3.4 port "
                   "5 ssh2")
                .code,
            RecordCode::kOk);
}

// ---------------------------------------------------------------------------
// Session linking

// Modern OpenSSH with internal-sftp: the monitor (pid 500) logs the login,
// the sftp child (pid 503) logs the transfers, the network child (502) the
// disconnect.
TEST(SyslogDecoder, InternalSftpReadsCarryTheLoginOfTheirSession) {
  Feeder f = Syslog(2024);
  auto r = f.Lines({
      "May  1 10:00:00 fs1 sshd[500]: Accepted password for t001-alice from 198.51.100.7 port "
      "50000 ssh2",
      "May  1 10:00:00 fs1 sshd[500]: pam_unix(sshd:session): session opened for user "
      "t001-alice(uid=1001) by (uid=0)",
      "May  1 10:00:01 fs1 internal-sftp[503]: session opened for local user t001-alice from "
      "[198.51.100.7]",
      "May  1 10:00:02 fs1 internal-sftp[503]: open \"/srv/h1/patients.csv\" flags READ mode "
      "0666",
      "May  1 10:00:05 fs1 internal-sftp[503]: close \"/srv/h1/patients.csv\" bytes read "
      "7340032 written 0",
      "May  1 10:00:06 fs1 internal-sftp[503]: close \"/srv/up/x.bin\" bytes read 10 written "
      "2048",
      "May  1 10:00:07 fs1 internal-sftp[503]: opendir \"/srv/h2\"",
      "May  1 10:00:08 fs1 internal-sftp[503]: remove name \"/srv/up/x.bin\"",
      "May  1 10:00:09 fs1 internal-sftp[503]: session closed for local user t001-alice from "
      "[198.51.100.7]",
      "May  1 10:00:09 fs1 sshd[502]: Received disconnect from 198.51.100.7 port 50000:11: "
      "disconnected by user",
      "May  1 10:00:09 fs1 sshd[502]: Disconnected from user t001-alice 198.51.100.7 port 50000",
      "May  1 10:00:09 fs1 sshd[500]: pam_unix(sshd:session): session closed for user "
      "t001-alice",
  });
  std::vector<RecordCode> codes;
  for (const auto& r0 : r) codes.push_back(r0.code);
  EXPECT_THAT(codes, ElementsAre(RecordCode::kOk, RecordCode::kSkippedIrrelevant,
                                 RecordCode::kSkippedIrrelevant, RecordCode::kSkippedIrrelevant,
                                 RecordCode::kOk, RecordCode::kOk, RecordCode::kOk,
                                 RecordCode::kOk, RecordCode::kOk,
                                 RecordCode::kSkippedIrrelevant, RecordCode::kSkippedIrrelevant,
                                 RecordCode::kSkippedIrrelevant));
  const Ev& read = r[4].events.at(0);
  EXPECT_EQ(read.kind, Kind::kAccess);
  EXPECT_EQ(read.action, Action::kRead);
  EXPECT_EQ(read.bytes, 7340032);
  EXPECT_EQ(read.object, "/srv/h1/patients.csv");
  EXPECT_EQ(read.credential, "t001-alice");
  EXPECT_EQ(read.src_ip, "198.51.100.7");
  EXPECT_EQ(read.src_port, 50000);
  EXPECT_EQ(read.session, "fs1:500");
  EXPECT_EQ(read.host, "fs1");
  // Both directions of one close.
  ASSERT_EQ(r[5].events.size(), 2u);
  EXPECT_EQ(r[5].events[0].action, Action::kRead);
  EXPECT_EQ(r[5].events[0].bytes, 10);
  EXPECT_EQ(r[5].events[1].action, Action::kWrite);
  EXPECT_EQ(r[5].events[1].bytes, 2048);
  EXPECT_EQ(r[5].events[1].credential, "t001-alice");
  EXPECT_EQ(r[6].events.at(0).action, Action::kList);
  EXPECT_EQ(r[6].events.at(0).bytes, -1);
  EXPECT_EQ(r[7].events.at(0).action, Action::kDelete);
  // One logout for the session, however many lines say it ended.
  const Ev& logout = r[8].events.at(0);
  EXPECT_EQ(logout.action, Action::kLogout);
  EXPECT_EQ(logout.credential, "t001-alice");
  EXPECT_EQ(logout.session, "fs1:500");
}

TEST(SyslogDecoder, LogoutWithoutSftpComesFromTheFirstLineThatEndsTheSession) {
  Feeder f = Syslog(2024);
  auto r = f.Lines({
      "May  1 10:00:00 fs1 sshd[600]: Accepted publickey for bob from 192.0.2.8 port 40001 ssh2",
      "May  1 11:00:00 fs1 sshd[602]: Disconnected from user bob 192.0.2.8 port 40001",
      "May  1 11:00:00 fs1 sshd[600]: pam_unix(sshd:session): session closed for user bob",
      // A session we never saw begin still ends, once.
      "May  1 11:00:01 fs1 sshd[700]: pam_unix(sshd:session): session closed for user carol",
      "May  1 11:00:01 fs1 sshd[700]: Received disconnect from 192.0.2.9 port 4: 11: bye",
  });
  EXPECT_EQ(r[1].code, RecordCode::kOk);
  EXPECT_EQ(r[1].events.at(0).credential, "bob");
  EXPECT_EQ(r[1].events.at(0).session, "fs1:600");
  EXPECT_EQ(r[2].code, RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(r[3].code, RecordCode::kOk);
  EXPECT_EQ(r[3].events.at(0).credential, "carol");
  EXPECT_EQ(r[4].code, RecordCode::kSkippedIrrelevant);
}

TEST(SyslogDecoder, SftpSessionsLinkToTheRightLoginAmongMany) {
  Feeder f = Syslog(2024);
  auto r = f.Lines({
      "May  1 10:00:00 fs1 sshd[100]: Accepted password for alice from 192.0.2.1 port 1001 ssh2",
      "May  1 10:00:00 fs2 sshd[100]: Accepted password for alice from 192.0.2.2 port 1002 ssh2",
      "May  1 10:00:00 fs1 sshd[200]: Accepted password for bob from 192.0.2.3 port 1003 ssh2",
      "May  1 10:00:00 fs1 sshd[300]: Accepted password for alice from 192.0.2.4 port 1004 ssh2",
      "May  1 10:00:01 fs1 internal-sftp[101]: session opened for local user alice from "
      "[192.0.2.1]",
      "May  1 10:00:01 fs1 internal-sftp[201]: session opened for local user bob from [192.0.2.3]",
      "May  1 10:00:01 fs2 internal-sftp[101]: session opened for local user alice from "
      "[192.0.2.2]",
      "May  1 10:00:02 fs1 internal-sftp[101]: close \"/a\" bytes read 1 written 0",
      "May  1 10:00:02 fs1 internal-sftp[201]: close \"/b\" bytes read 2 written 0",
      "May  1 10:00:02 fs2 internal-sftp[101]: close \"/c\" bytes read 3 written 0",
      // An sftp process whose session began before the log did.
      "May  1 10:00:02 fs1 internal-sftp[999]: close \"/d\" bytes read 4 written 0",
  });
  EXPECT_EQ(r[7].events.at(0).src_ip, "192.0.2.1");
  EXPECT_EQ(r[7].events.at(0).session, "fs1:100");
  EXPECT_EQ(r[8].events.at(0).credential, "bob");
  EXPECT_EQ(r[8].events.at(0).session, "fs1:200");
  EXPECT_EQ(r[9].events.at(0).src_ip, "192.0.2.2");
  EXPECT_EQ(r[9].events.at(0).host, "fs2");
  EXPECT_EQ(r[9].events.at(0).session, "fs2:100");
  EXPECT_EQ(r[10].events.at(0).credential, "");
  EXPECT_EQ(r[10].events.at(0).session, "fs1:999");
  EXPECT_EQ(r[10].events.at(0).bytes, 4);
}

TEST(SyslogDecoder, SftpLinksByAddressAmongManyLoginsOfOneUser) {
  Feeder f = Syslog(2024);
  std::vector<std::string> lines;
  for (int i = 1; i <= 10; ++i) {
    lines.push_back("May  1 10:00:00 fs1 sshd[" + std::to_string(100 * i) +
                    "]: Accepted password for alice from 192.0.2." + std::to_string(i) +
                    " port " + std::to_string(2000 + i) + " ssh2");
  }
  lines.push_back("May  1 10:00:01 fs1 internal-sftp[301]: session opened for local user alice "
                  "from [192.0.2.3]");
  // A second sftp channel over the same connection.
  lines.push_back("May  1 10:00:01 fs1 internal-sftp[302]: session opened for local user alice "
                  "from [192.0.2.3]");
  // Address unknown: the most recent login nobody claimed.
  lines.push_back("May  1 10:00:01 fs1 sftp-server[1001]: session opened for local user alice "
                  "from [UNKNOWN]");
  lines.push_back("May  1 10:00:02 fs1 internal-sftp[301]: close \"/a\" bytes read 1 written 0");
  lines.push_back("May  1 10:00:02 fs1 internal-sftp[302]: close \"/b\" bytes read 1 written 0");
  lines.push_back("May  1 10:00:02 fs1 sftp-server[1001]: close \"/c\" bytes read 1 written 0");
  auto r = f.Lines(lines);
  EXPECT_EQ(r[13].events.at(0).session, "fs1:300");
  EXPECT_EQ(r[13].events.at(0).src_port, 2003);
  EXPECT_EQ(r[14].events.at(0).session, "fs1:300");
  EXPECT_EQ(r[15].events.at(0).session, "fs1:1000");
  EXPECT_EQ(r[15].events.at(0).src_ip, "192.0.2.10");
}

TEST(SessionTable, StaysBoundedAndKeepsRecentSessions) {
  decode::SshdEventDecoder sshd("syslog", DecodeLimits{}, /*max_sessions=*/8);
  EventBatch batch;
  RecordContext ctx{"t", 0};
  std::vector<std::string> messages;
  for (uint32_t pid = 1; pid <= 1000; ++pid) {
    std::string msg = "Accepted password for u" + std::to_string(pid) +
                      " from 192.0.2.1 port " + std::to_string(pid) + " ssh2";
    decode::LogRecord rec{.time_ns = pid, .host = "h", .program = "sshd", .pid = pid,
                          .has_pid = true, .message = msg};
    ASSERT_EQ(sshd.Decode(rec, ctx, batch).code, RecordCode::kOk);
    ASSERT_LE(sshd.sessions().size(), 8u);
  }
  std::string open = "session opened for local user u1000 from [192.0.2.1]";
  decode::LogRecord sftp{.time_ns = 1, .host = "h", .program = "internal-sftp", .pid = 5000,
                         .has_pid = true, .message = open};
  sshd.Decode(sftp, ctx, batch);
  std::string close = "close \"/x\" bytes read 9 written 0";
  sftp.message = close;
  batch.Clear();
  ASSERT_EQ(sshd.Decode(sftp, ctx, batch).code, RecordCode::kOk);
  EXPECT_EQ(batch[0].credential, "u1000");
  EXPECT_EQ(batch[0].session, "h:1000");
  EXPECT_LE(sshd.sessions().size(), 8u);
}

// ---------------------------------------------------------------------------
// Real data

// loghub OpenSSH_2k: the login failures and successes equal what the
// structured CSV's templates say, line by line. Counting policy:
// E1 "Accepted password" = success; E9/E10 "Failed password [for invalid
// user]" = one failure; E14 "message repeated N times: [ Failed password ...]"
// = N failures; E13 "Invalid user" and E8 "Failed none" are not separate
// attempts (the client's method probe and the line before its "Failed").
TEST(SyslogDecoderData, OpenSshCountsMatchTheLoghubTemplates) {
  auto lines = ReadLines(Dataset("sshd/loghub/OpenSSH/OpenSSH_2k.log"));
  auto csv = ReadLines(Dataset("sshd/loghub/OpenSSH/OpenSSH_2k.log_structured.csv"));
  ASSERT_EQ(lines.size(), 2000u);
  ASSERT_EQ(csv.size(), 2001u);
  std::vector<int> expected_failures(lines.size()), expected_successes(lines.size());
  int want_fail = 0, want_ok = 0;
  for (size_t i = 1; i < csv.size(); ++i) {
    std::string row = csv[i];
    if (!row.empty() && row.back() == '\r') row.pop_back();
    // LineId,Date,Day,Time,Component,Pid,Content,EventId,EventTemplate;
    // Content may hold commas, the template and id do not.
    size_t t = row.rfind(',');
    size_t id = row.rfind(',', t - 1);
    std::string event_id = row.substr(id + 1, t - id - 1);
    size_t line_no = std::stoul(row.substr(0, row.find(',')));
    int n = 0;
    if (event_id == "E9" || event_id == "E10") n = 1;
    if (event_id == "E14") {
      size_t p = row.find("message repeated ");
      n = std::stoi(row.substr(p + 17));
    }
    expected_failures[line_no - 1] = n;
    expected_successes[line_no - 1] = event_id == "E1" ? 1 : 0;
    want_fail += n;
    want_ok += expected_successes[line_no - 1];
  }
  Feeder f = Syslog(2015);
  auto results = f.Lines(lines);
  int got_fail = 0, got_ok = 0, rejects = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    int fail = 0, ok = 0;
    for (const Ev& e : results[i].events) {
      if (e.action != Action::kLogin) continue;
      if (e.outcome == Outcome::kFailure) ++fail;
      if (e.outcome == Outcome::kSuccess) ++ok;
      EXPECT_EQ(e.host, "LabSZ");
      EXPECT_FALSE(e.src_ip.empty()) << lines[i];
    }
    EXPECT_EQ(fail, expected_failures[i]) << "line " << i + 1 << ": " << lines[i];
    EXPECT_EQ(ok, expected_successes[i]) << "line " << i + 1 << ": " << lines[i];
    got_fail += fail;
    got_ok += ok;
    if (IsReject(results[i].code)) ++rejects;
  }
  EXPECT_EQ(got_fail, want_fail);
  EXPECT_EQ(got_ok, want_ok);
  EXPECT_EQ(want_fail, 528);  // 383 E9 + 135 E10 + 2 x 5 E14
  EXPECT_EQ(want_ok, 1);
  EXPECT_EQ(rejects, 0);
}

// Golden counters of mtail's sftp example ("counter NAME [{username=U}] VALUE
// TIME"). mtail's per-user counters key on the /home/<user>/ path of the file;
// the byte and file totals must match exactly. Credentials come from the
// login each sftp process is linked to.
TEST(SyslogDecoderData, SftpChrootBytesMatchMtailGolden) {
  std::map<std::string, int64_t> golden;
  for (const std::string& line : ReadLines(Dataset("sshd/mtail/sftp_chroot.golden"))) {
    std::istringstream in(line);
    std::string word, name, label;
    int64_t value = 0;
    if (!(in >> word >> name) || word != "counter") continue;
    std::string next;
    in >> next;
    if (next.starts_with("{username=")) {
      label = next.substr(10, next.size() - 11);
      in >> value;
    } else {
      value = std::stoll(next);
    }
    golden[name + (label.empty() ? "" : "/" + label)] = value;
  }
  ASSERT_EQ(golden["user_bytes_read/user1"], 74809241);

  Feeder f = Syslog(2008);
  auto results = f.Lines(ReadLines(Dataset("sshd/mtail/sftp_chroot.log")));
  std::map<std::string, int64_t> got;
  std::map<std::string, int64_t> read_by_credential;
  int logins = 0, logouts = 0;
  for (const LineResult& r : results) {
    EXPECT_FALSE(IsReject(r.code)) << r.detail;
    for (const Ev& e : r.events) {
      EXPECT_EQ(e.host, "upload");
      if (e.action == Action::kLogin && e.outcome == Outcome::kSuccess) ++logins;
      if (e.action == Action::kLogout) ++logouts;
      if (e.action != Action::kRead && e.action != Action::kWrite) continue;
      std::string dir = e.action == Action::kRead ? "read" : "written";
      got["bytes_" + dir] += e.bytes;
      got["files_" + dir] += 1;
      if (e.object.starts_with("/home/")) {
        std::string owner = e.object.substr(6, e.object.find('/', 6) - 6);
        got["user_bytes_" + dir + "/" + owner] += e.bytes;
        got["user_files_" + dir + "/" + owner] += 1;
      }
      if (e.action == Action::kRead) read_by_credential[e.credential] += e.bytes;
    }
  }
  for (const auto& [name, value] : golden) {
    if (name.starts_with("login_count") || name.starts_with("logout_count")) continue;
    EXPECT_EQ(got[name], value) << name;
  }
  for (const auto& [name, value] : got) EXPECT_TRUE(golden.count(name)) << name;
  // The golden counts sftp sessions per local user; one sshd login each.
  EXPECT_EQ(logins, golden["login_count/user1"] + golden["login_count/user2"] +
                        golden["login_count/user3"]);
  EXPECT_EQ(logouts, golden["logout_count/user2"] + golden["logout_count/user3"]);
  // Linked to their logins: user1's reads came from 192.168.0.2 (sshd[22479]).
  EXPECT_EQ(read_by_credential["user1"], 74809241);
  for (const LineResult& r : results) {
    for (const Ev& e : r.events) {
      if (e.credential == "user1" && e.action == Action::kRead) {
        EXPECT_EQ(e.src_ip, "192.168.0.2");
        EXPECT_EQ(e.src_port, 1195);
        EXPECT_EQ(e.session, "upload:22479");
      }
      if (e.object == "/home/user5/incoming/b/c/d/e/f/g") {
        // sshd[22707] authenticated user7; its sftp child 22709 ran as user3.
        EXPECT_EQ(e.credential, "user7");
        EXPECT_EQ(e.src_ip, "192.168.0.4");
      }
      if (e.session == "upload:22440") {
        EXPECT_EQ(e.credential, "");  // its session began before the log
      }
    }
  }
}

// loghub Linux_2k (an old Red Hat /var/log/messages): many programs, sshd
// only through pam_unix. Every line is valid syslog.
TEST(SyslogDecoderData, LinuxMessagesDecodeWithoutRejects) {
  auto lines = ReadLines(Dataset("sshd/loghub/Linux/Linux_2k.log"));
  ASSERT_EQ(lines.size(), 2000u);
  Feeder f = Syslog(2005);
  auto results = f.Lines(lines);
  int logins = 0, logouts = 0, failures = 0, skipped = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_FALSE(IsReject(results[i].code)) << lines[i] << ": " << results[i].detail;
    if (results[i].code == RecordCode::kSkippedIrrelevant) ++skipped;
    for (const Ev& e : results[i].events) {
      EXPECT_EQ(e.host, "combo");
      EXPECT_EQ(e.credential, "test");
      if (e.action == Action::kLogin && e.outcome == Outcome::kSuccess) ++logins;
      if (e.action == Action::kLogin && e.outcome == Outcome::kFailure) ++failures;
      if (e.action == Action::kLogout) ++logouts;
    }
  }
  // 36 "sshd(pam_unix) session opened for user test" with no Accepted line
  // anywhere in the file, and their 36 closes.
  EXPECT_EQ(logins, 36);
  EXPECT_EQ(logouts, 36);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(skipped, 2000 - 72);
  // The year carried over from June into July: no rollover.
  EXPECT_EQ(YearOf(results[91].events.at(0).time_ns), 2005);
}

// Damaged copies of OpenSSH_2k: every intact line decodes exactly as in the
// clean file, and the damaged lines are counted.
class DamagedOpenSsh : public ::testing::Test {
 protected:
  void SetUp() override {
    clean_ = ReadLines(Dataset("sshd/loghub/OpenSSH/OpenSSH_2k.log"));
    Feeder f = Syslog(2015);
    clean_results_ = f.Lines(clean_);
  }

  // Compares the results of intact lines with the clean decode.
  void ExpectIntactLinesUnchanged(const std::vector<LineResult>& got,
                                  const std::vector<int>& clean_index) {
    for (size_t i = 0; i < got.size(); ++i) {
      if (clean_index[i] < 0) continue;
      const LineResult& want = clean_results_[static_cast<size_t>(clean_index[i])];
      ASSERT_EQ(got[i].code, want.code) << clean_[static_cast<size_t>(clean_index[i])];
      ASSERT_EQ(got[i].events.size(), want.events.size());
      for (size_t k = 0; k < want.events.size(); ++k) {
        EXPECT_EQ(got[i].events[k].time_ns, want.events[k].time_ns);
        EXPECT_EQ(got[i].events[k].action, want.events[k].action);
        EXPECT_EQ(got[i].events[k].outcome, want.events[k].outcome);
        EXPECT_EQ(got[i].events[k].credential, want.events[k].credential);
        EXPECT_EQ(got[i].events[k].src_ip, want.events[k].src_ip);
        EXPECT_EQ(got[i].events[k].session, want.events[k].session);
      }
    }
  }

  std::vector<std::string> clean_;
  std::vector<LineResult> clean_results_;
};

TEST_F(DamagedOpenSsh, TruncatedLastLine) {
  std::vector<std::string> lines = clean_;
  lines.back().resize(lines.back().size() / 2);
  Feeder f = Syslog(2015);
  auto got = f.Lines(lines);
  std::vector<int> index(lines.size());
  for (size_t i = 0; i < index.size(); ++i) index[i] = static_cast<int>(i);
  index.back() = -1;
  ExpectIntactLinesUnchanged(got, index);
  // "Dec 10 11:04:45 LabSZ sshd[25539]: Failed password fo": cut in the
  // middle of a failure line, it is a reject rather than a wrong event.
  EXPECT_TRUE(IsReject(got.back().code)) << lines.back();
}

TEST_F(DamagedOpenSsh, GarbageLinesInserted) {
  std::mt19937 rng(20250101);
  std::vector<std::string> lines;
  std::vector<int> index;
  std::vector<size_t> garbage;
  for (size_t i = 0; i < clean_.size(); ++i) {
    if (i % 37 == 5) {
      std::string junk;
      size_t n = 1 + rng() % 200;
      for (size_t k = 0; k < n; ++k) junk.push_back(static_cast<char>(rng() % 256));
      for (char& c : junk) {
        if (c == '\n') c = '#';
      }
      if (rng() % 2) junk[0] = 'x';  // some ASCII-led, some binary
      garbage.push_back(lines.size());
      lines.push_back(junk);
      index.push_back(-1);
    }
    lines.push_back(clean_[i]);
    index.push_back(static_cast<int>(i));
  }
  Feeder f = Syslog(2015);
  auto got = f.Lines(lines);
  ExpectIntactLinesUnchanged(got, index);
  for (size_t g : garbage) EXPECT_TRUE(IsReject(got[g].code)) << lines[g];
}

TEST_F(DamagedOpenSsh, RandomBytesFlipped) {
  std::mt19937 rng(7);
  std::vector<std::string> lines = clean_;
  std::vector<int> index(lines.size());
  std::set<size_t> damaged;
  for (size_t i = 0; i < lines.size(); ++i) {
    index[i] = static_cast<int>(i);
    // Lines that change session state would legitimately change the events
    // of later intact lines of the same session; damage the others.
    if (lines[i].find("Accepted") != std::string::npos ||
        lines[i].find("session") != std::string::npos || rng() % 10 != 0) {
      continue;
    }
    std::string& l = lines[i];
    size_t pos = rng() % l.size();
    l[pos] = static_cast<char>(l[pos] ^ static_cast<char>(1 + rng() % 255));
    index[i] = -1;
    damaged.insert(i);
  }
  ASSERT_GT(damaged.size(), 100u);
  Feeder f = Syslog(2015);
  auto got = f.Lines(lines);
  ExpectIntactLinesUnchanged(got, index);
  size_t rejected = 0;
  for (size_t i : damaged) rejected += IsReject(got[i].code) ? 1 : 0;
  // Most flips land in free text and leave a valid line; the rest are
  // rejects. No intact line is rejected (checked above).
  EXPECT_GT(rejected, 10u);
}

}  // namespace
}  // namespace credwatch
