// The `journald` decoder: journalctl -o json lines of sshd and internal-sftp,
// MESSAGE as text or bytes, JSON errors, and the sftp oracle replayed through
// journald framing.
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"

namespace credwatch {

void PrintTo(RecordCode c, std::ostream* os) {
  static constexpr const char* kNames[] = {
      "ok",        "skipped_irrelevant", "invalid_json", "truncated", "line_too_long",
      "too_deep",  "invalid_utf8",       "wrong_type",   "missing_time", "bad_time",
      "unknown_shape", "field_too_large", "unparseable"};
  *os << kNames[static_cast<int>(c)];
}

namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Entry {
  int64_t realtime_us = 1714557600000000;  // 2024-05-01T10:00:00Z
  int64_t source_us = 0;                   // 0 = no _SOURCE_REALTIME_TIMESTAMP
  std::string host = "fs1";
  std::string ident = "sshd";
  std::string comm = "sshd";
  uint32_t pid = 500;
  std::string message;
  std::string message_json;  // overrides `message` when set (bytes, null)
};

// A line as `journalctl -o json` writes it, with its many other fields.
std::string JournalLine(const Entry& e) {
  std::string m = e.message_json.empty() ? JsonString(e.message) : e.message_json;
  std::string pid = std::to_string(e.pid);
  std::string line =
      "{\"__CURSOR\":\"s=6c1e4b0;i=1a2b;b=9f8e;m=3c2d;t=61a2b3c4d5e6f;x=4f3e2d1c\","
      "\"__REALTIME_TIMESTAMP\":\"" + std::to_string(e.realtime_us) + "\","
      "\"__MONOTONIC_TIMESTAMP\":\"4050607080\",\"_BOOT_ID\":\"9f8e7d6c5b4a39281706f5e4d3c2b1a0\","
      "\"_TRANSPORT\":\"syslog\",\"PRIORITY\":\"6\",\"SYSLOG_FACILITY\":\"10\","
      "\"SYSLOG_IDENTIFIER\":" + JsonString(e.ident) + ",\"_UID\":\"0\",\"_GID\":\"0\","
      "\"_COMM\":" + JsonString(e.comm) + ",\"_EXE\":\"/usr/sbin/sshd\","
      "\"_CMDLINE\":\"sshd: alice [priv]\",\"_CAP_EFFECTIVE\":\"1ffffffffff\","
      "\"_SYSTEMD_CGROUP\":\"/system.slice/ssh.service\",\"_SYSTEMD_UNIT\":\"ssh.service\","
      "\"_SYSTEMD_SLICE\":\"system.slice\",\"_MACHINE_ID\":\"0123456789abcdef0123456789abcdef\","
      "\"_HOSTNAME\":" + JsonString(e.host) + ",\"SYSLOG_PID\":\"" + pid + "\","
      "\"_PID\":\"" + pid + "\",\"MESSAGE\":" + m;
  if (e.source_us != 0) {
    line += ",\"_SOURCE_REALTIME_TIMESTAMP\":\"" + std::to_string(e.source_us) + "\"";
  }
  return line + "}";
}

struct Ev {
  int64_t time_ns = 0;
  Kind kind = Kind::kUnknown;
  Action action = Action::kUnknown;
  Outcome outcome = Outcome::kUnknown;
  std::string credential, host, session, object, src_ip, format;
  uint16_t src_port = 0;
  int64_t bytes = -1;
};

struct LineResult {
  RecordCode code = RecordCode::kOk;
  std::string detail;
  std::vector<Ev> events;
};

class Feeder {
 public:
  explicit Feeder(const DecoderOptions& o = DecoderOptions{})
      : decoder_(decode::MakeJournaldDecoder(o)) {}

  LineResult Line(std::string_view line) {
    std::string buf(line);
    buf.append(kRecordPadding, '\0');
    EventBatch batch;
    DecodeResult r = decoder_->Decode(std::string_view(buf.data(), line.size()),
                                      RecordContext{"journal.json", 0}, batch);
    LineResult out{r.code, std::string(r.detail), {}};
    for (const Event& e : batch) {
      out.events.push_back(Ev{e.time_ns, e.kind, e.action, e.outcome, std::string(e.credential),
                              std::string(e.host), std::string(e.session),
                              std::string(e.object),
                              e.src_ip.is_valid() ? e.src_ip.ToString() : "",
                              std::string(e.format), e.src_port, e.bytes});
    }
    EXPECT_EQ(r.code == RecordCode::kOk, !batch.empty()) << line;
    return out;
  }
  LineResult Line(const Entry& e) { return Line(JournalLine(e)); }

  Decoder& decoder() { return *decoder_; }

 private:
  std::unique_ptr<Decoder> decoder_;
};

Entry Sshd(uint32_t pid, std::string message, int64_t us = 1714557600000000) {
  Entry e;
  e.pid = pid;
  e.message = std::move(message);
  e.realtime_us = us;
  return e;
}

Entry Sftp(uint32_t pid, std::string message, int64_t us = 1714557600000000) {
  Entry e = Sshd(pid, std::move(message), us);
  e.ident = "internal-sftp";  // sshd's own process: _COMM stays "sshd"
  return e;
}

int64_t T(std::string_view iso) { return *ParseIso8601(iso); }

TEST(JournaldDecoder, SshdLoginAndInternalSftpSession) {
  Feeder f;
  Entry accepted = Sshd(500, "Accepted publickey for t001-alice from 198.51.100.7 port 50000 "
                             "ssh2: ED25519 SHA256:0a1b2c");
  accepted.source_us = 1714557599999123;  // when sshd logged it: preferred
  LineResult login = f.Line(accepted);
  ASSERT_EQ(login.code, RecordCode::kOk) << login.detail;
  ASSERT_EQ(login.events.size(), 1u);
  EXPECT_EQ(login.events[0].time_ns, 1714557599999123 * 1000);
  EXPECT_EQ(login.events[0].kind, Kind::kAuth);
  EXPECT_EQ(login.events[0].action, Action::kLogin);
  EXPECT_EQ(login.events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(login.events[0].credential, "t001-alice");
  EXPECT_EQ(login.events[0].src_ip, "198.51.100.7");
  EXPECT_EQ(login.events[0].src_port, 50000);
  EXPECT_EQ(login.events[0].host, "fs1");
  EXPECT_EQ(login.events[0].session, "fs1:500");
  EXPECT_EQ(login.events[0].format, "journald");

  EXPECT_EQ(f.Line(Sshd(500, "pam_unix(sshd:session): session opened for user "
                             "t001-alice(uid=1001) by t001-alice(uid=0)"))
                .code,
            RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(f.Line(Sftp(503, "session opened for local user t001-alice from [198.51.100.7]"))
                .code,
            RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(f.Line(Sftp(503, "open \"/srv/h1/patients.csv\" flags READ mode 0666")).code,
            RecordCode::kSkippedIrrelevant);
  LineResult read = f.Line(Sftp(
      503, "close \"/srv/h1/patients.csv\" bytes read 7340032 written 0", 1714557605000000));
  ASSERT_EQ(read.code, RecordCode::kOk) << read.detail;
  ASSERT_EQ(read.events.size(), 1u);
  EXPECT_EQ(read.events[0].time_ns, T("2024-05-01T10:00:05Z"));
  EXPECT_EQ(read.events[0].kind, Kind::kAccess);
  EXPECT_EQ(read.events[0].action, Action::kRead);
  EXPECT_EQ(read.events[0].bytes, 7340032);
  EXPECT_EQ(read.events[0].object, "/srv/h1/patients.csv");
  EXPECT_EQ(read.events[0].credential, "t001-alice");
  EXPECT_EQ(read.events[0].src_ip, "198.51.100.7");
  EXPECT_EQ(read.events[0].session, "fs1:500");
  // sftp-server logs paths unescaped: quotes inside a name stay in the path.
  LineResult upload =
      f.Line(Sftp(503, "close \"/srv/in/a \"q\".csv\" bytes read 0 written 512"));
  ASSERT_EQ(upload.code, RecordCode::kOk) << upload.detail;
  EXPECT_EQ(upload.events.at(0).object, "/srv/in/a \"q\".csv");
  EXPECT_EQ(upload.events.at(0).action, Action::kWrite);
  EXPECT_EQ(upload.events.at(0).bytes, 512);

  LineResult closed =
      f.Line(Sftp(503, "session closed for local user t001-alice from [198.51.100.7]"));
  ASSERT_EQ(closed.code, RecordCode::kOk);
  EXPECT_EQ(closed.events.at(0).action, Action::kLogout);
  EXPECT_EQ(closed.events.at(0).credential, "t001-alice");
  EXPECT_EQ(f.Line(Sshd(502, "Disconnected from user t001-alice 198.51.100.7 port 50000")).code,
            RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(f.Line(Sshd(500, "pam_unix(sshd:session): session closed for user t001-alice"))
                .code,
            RecordCode::kSkippedIrrelevant);

  LineResult fail = f.Line(Sshd(900, "Failed password for invalid user admin from 203.0.113.5 "
                                     "port 4711 ssh2"));
  ASSERT_EQ(fail.code, RecordCode::kOk);
  EXPECT_EQ(fail.events.at(0).outcome, Outcome::kFailure);
  EXPECT_EQ(fail.events.at(0).credential, "admin");
}

TEST(JournaldDecoder, JsonEscapesInTheMessageAreDecoded) {
  Feeder f;
  // journalctl escapes the quotes around sftp paths.
  LineResult r = f.Line(Sftp(7, "close \"/d/x\" bytes read 5 written 0"));
  ASSERT_EQ(r.code, RecordCode::kOk);
  EXPECT_EQ(r.events.at(0).object, "/d/x");
  // \u escapes too.
  std::string line = JournalLine(Sshd(8, "x"));
  std::string msg = "\"Failed password for \\u0062ob from 192.0.2.1 port 22 ssh2\"";
  line.replace(line.find("\"MESSAGE\":\"x\""), 13, "\"MESSAGE\":" + msg);
  LineResult bob = f.Line(line);
  ASSERT_EQ(bob.code, RecordCode::kOk) << bob.detail;
  EXPECT_EQ(bob.events.at(0).credential, "bob");
}

TEST(JournaldDecoder, FieldOrderDoesNotMatter) {
  Feeder f;
  LineResult r = f.Line(
      "{\"MESSAGE\":\"Failed password for root from 192.0.2.1 port 22 ssh2\",\"_PID\":\"77\","
      "\"_HOSTNAME\":\"web9\",\"SYSLOG_IDENTIFIER\":\"sshd\","
      "\"__REALTIME_TIMESTAMP\":\"1714557600000001\"}");
  ASSERT_EQ(r.code, RecordCode::kOk) << r.detail;
  EXPECT_EQ(r.events.at(0).host, "web9");
  EXPECT_EQ(r.events.at(0).session, "web9:77");
  EXPECT_EQ(r.events.at(0).time_ns, 1714557600000001000);
  // No SYSLOG_IDENTIFIER: the program is _COMM.
  LineResult comm = f.Line(
      "{\"__REALTIME_TIMESTAMP\":\"1714557600000000\",\"_COMM\":\"sshd\",\"_PID\":\"78\","
      "\"_HOSTNAME\":\"web9\",\"MESSAGE\":\"Failed password for root from 192.0.2.1 port 22 "
      "ssh2\"}");
  EXPECT_EQ(comm.code, RecordCode::kOk) << comm.detail;
}

TEST(JournaldDecoder, MessageAsByteArray) {
  Feeder f;
  auto bytes = [](std::string_view s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) out += ",";
      out += std::to_string(static_cast<unsigned char>(s[i]));
    }
    return out + "]";
  };
  Entry e = Sshd(9, "");
  e.message_json = bytes("Failed password for invalid user caf\xC3\xA9 from 192.0.2.1 port 22 "
                         "ssh2");
  LineResult ok = f.Line(e);
  ASSERT_EQ(ok.code, RecordCode::kOk) << ok.detail;
  EXPECT_EQ(ok.events.at(0).credential, "caf\xC3\xA9");

  e.message_json = bytes("Failed password for invalid user caf\xE9 from 192.0.2.1 port 22 ssh2");
  EXPECT_EQ(f.Line(e).code, RecordCode::kRejectInvalidUtf8);
  Entry cron = e;
  cron.ident = cron.comm = "CRON";
  EXPECT_EQ(f.Line(cron).code, RecordCode::kSkippedIrrelevant);  // not read further
  e.message_json = "[70,300]";
  EXPECT_EQ(f.Line(e).code, RecordCode::kRejectWrongType);
  e.message_json = "[70,\"a\"]";
  EXPECT_EQ(f.Line(e).code, RecordCode::kRejectWrongType);
  e.message_json = "null";  // journalctl leaves out large fields
  EXPECT_EQ(f.Line(e).code, RecordCode::kSkippedIrrelevant);
  e.message_json = "{\"a\":1}";
  EXPECT_EQ(f.Line(e).code, RecordCode::kRejectWrongType);
}

TEST(JournaldDecoder, BadRecordsGetTheirReason) {
  DecoderOptions o;
  o.limits.max_depth = 8;
  o.limits.max_record_bytes = 4096;
  o.limits.max_field_bytes = 1024;
  Feeder f(o);
  std::string good = JournalLine(Sshd(1, "Failed password for root from 192.0.2.1 port 2 ssh2"));
  ASSERT_EQ(f.Line(good).code, RecordCode::kOk);

  EXPECT_EQ(f.Line(good.substr(0, good.size() / 2)).code, RecordCode::kRejectTruncated);
  EXPECT_EQ(f.Line(good.substr(0, good.size() - 1)).code, RecordCode::kRejectTruncated);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"1\",").code, RecordCode::kRejectTruncated);
  EXPECT_EQ(f.Line("not json at all").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line("nul").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"1\" \"MESSAGE\":\"m\"}").code,
            RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line(good + " x").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line(good + " {\"x\":1} x").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line(good + " {\"x\":1}").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line(good + good).code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line(good + "  \r").code, RecordCode::kOk);
  EXPECT_EQ(f.Line("null x").code, RecordCode::kRejectInvalidJson);
  EXPECT_EQ(f.Line("[1,2,3]").code, RecordCode::kRejectUnknownShape);
  EXPECT_EQ(f.Line("\"MESSAGE\"").code, RecordCode::kRejectUnknownShape);
  EXPECT_EQ(f.Line("{\"foo\":\"bar\"}").code, RecordCode::kRejectUnknownShape);
  EXPECT_EQ(f.Line("{\"_HOSTNAME\":\"h\",\"MESSAGE\":\"x\"}").code,
            RecordCode::kRejectMissingTime);
  // Deep nesting is refused in fields the decoder reads and in those it skips;
  // brackets inside strings do not count.
  std::string deep = "{\"__REALTIME_TIMESTAMP\":\"1\",\"X\":" + std::string(20, '[') +
                     std::string(20, ']') + ",\"MESSAGE\":\"m\"}";
  EXPECT_EQ(f.Line(deep).code, RecordCode::kRejectTooDeep);
  std::string deep_message = "{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":" +
                             std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_EQ(f.Line(deep_message).code, RecordCode::kRejectTooDeep);
  Entry brackets = Sshd(1, "Failed password for [[[[[[[[[[[[[[[[[[[[ from 192.0.2.1 port 2 ssh2");
  EXPECT_EQ(f.Line(brackets).code, RecordCode::kOk);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"1\",\"_HOSTNAME\":5,\"MESSAGE\":\"m\"}").code,
            RecordCode::kRejectWrongType);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"soon\",\"MESSAGE\":\"m\"}").code,
            RecordCode::kRejectBadTime);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"99999999999999999999\",\"MESSAGE\":\"m\"}").code,
            RecordCode::kRejectBadTime);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":true,\"MESSAGE\":\"m\"}").code,
            RecordCode::kRejectWrongType);
  EXPECT_EQ(f.Line("{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"caf\xE9\"}").code,
            RecordCode::kRejectInvalidUtf8);
  std::string big = JournalLine(Sshd(1, "Failed password for " + std::string(2000, 'a') +
                                            " from 192.0.2.1 port 2 ssh2"));
  EXPECT_EQ(f.Line(big).code, RecordCode::kRejectFieldTooLarge);
  std::string huge = JournalLine(Sshd(1, std::string(5000, 'a')));
  EXPECT_EQ(f.Line(huge).code, RecordCode::kRejectLineTooLong);
  EXPECT_EQ(f.Line("   ").code, RecordCode::kSkippedIrrelevant);
  // Valid records of other programs, or sshd lines without an event.
  Entry cron = Sshd(2, "(root) CMD (run-parts /etc/cron.hourly)");
  cron.ident = cron.comm = "CRON";
  EXPECT_EQ(f.Line(cron).code, RecordCode::kSkippedIrrelevant);
  EXPECT_EQ(f.Line(Sshd(2, "Connection closed by 192.0.2.1 port 2 [preauth]")).code,
            RecordCode::kSkippedIrrelevant);
  // A damaged sshd message inside valid JSON.
  EXPECT_EQ(f.Line(Sshd(2, "Accepted password for x from")).code,
            RecordCode::kRejectUnparseable);
  // The decoder is still fine after all that.
  EXPECT_EQ(f.Line(good).code, RecordCode::kOk);
}

TEST(JournaldDecoder, EventStringsOutliveTheParserBuffer) {
  // One parser is reused for every record: event strings must not point into
  // its buffers.
  Feeder f;
  std::vector<std::string> lines;
  lines.push_back(JournalLine(Sshd(1, "Failed password for alice from 192.0.2.1 port 2 ssh2")));
  for (int i = 0; i < 50; ++i) {
    Entry e = Sshd(100 + i, "Failed password for zzzzzzzzzzzz from 192.0.2.9 port 9 ssh2");
    e.host = "overwritten-host-name";
    lines.push_back(JournalLine(e));
  }
  std::vector<std::string> padded;
  for (const std::string& l : lines) padded.push_back(l + std::string(kRecordPadding, ' '));
  EventBatch batch;
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(f.decoder()
                  .Decode(std::string_view(padded[i].data(), lines[i].size()),
                          RecordContext{"j", i}, batch)
                  .code,
              RecordCode::kOk);
  }
  ASSERT_EQ(batch.size(), 51u);
  EXPECT_EQ(batch[0].credential, "alice");
  EXPECT_EQ(batch[0].host, "fs1");
  EXPECT_EQ(batch[0].session, "fs1:1");
  EXPECT_EQ(batch[0].source_offset, 0u);
  EXPECT_EQ(batch[50].host, "overwritten-host-name");
}

// mtail's sftp log replayed as journald records: the same parser gives the
// same bytes per credential as the syslog decoder does on the text.
std::vector<std::string> SftpChrootAsJournal() {
  std::ifstream in(std::string(CREDWATCH_DATASETS_DIR) + "/sshd/mtail/sftp_chroot.log");
  EXPECT_TRUE(in.good());
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    // "Aug 19 02:16:40 upload sftp-server[22480]: msg"
    Entry e;
    e.realtime_us = *ParseRfc3164Stamp(line.substr(0, 15), 2008) / 1000;
    size_t host_end = line.find(' ', 16);
    e.host = line.substr(16, host_end - 16);
    size_t bracket = line.find('[', host_end);
    e.ident = e.comm = line.substr(host_end + 1, bracket - host_end - 1);
    size_t close = line.find("]: ", bracket);
    e.pid = static_cast<uint32_t>(std::stoul(line.substr(bracket + 1, close - bracket - 1)));
    e.message = line.substr(close + 3);
    out.push_back(JournalLine(e));
  }
  return out;
}

TEST(JournaldDecoderData, SftpChrootThroughJournald) {
  Feeder f;
  std::map<std::string, int64_t> read_by_credential, read_by_owner;
  int64_t written = 0;
  for (const std::string& line : SftpChrootAsJournal()) {
    LineResult r = f.Line(line);
    ASSERT_FALSE(IsReject(r.code)) << line << ": " << r.detail;
    for (const Ev& e : r.events) {
      if (e.action == Action::kRead) {
        read_by_credential[e.credential] += e.bytes;
        read_by_owner[e.object.substr(6, e.object.find('/', 6) - 6)] += e.bytes;
      }
      if (e.action == Action::kWrite) written += e.bytes;
    }
  }
  EXPECT_EQ(read_by_credential["user1"], 74809241);
  EXPECT_EQ(read_by_owner["user1"], 74809241);
  EXPECT_EQ(read_by_owner["user6"], 3307508);
  EXPECT_EQ(read_by_owner["user5"], 54272);
  EXPECT_EQ(written, 739840);
}

TEST(JournaldDecoderData, DamagedJournal) {
  std::vector<std::string> clean = SftpChrootAsJournal();
  std::mt19937 rng(11);
  std::vector<std::string> lines;
  std::vector<int> index;
  for (size_t i = 0; i < clean.size(); ++i) {
    if (i % 19 == 3) {
      std::string junk = clean[rng() % clean.size()];
      junk.resize(rng() % junk.size());  // a cut-off record
      lines.push_back(junk);
      index.push_back(-1);
    }
    if (i % 23 == 7) {
      lines.push_back("\x01\xff garbage }");
      index.push_back(-1);
    }
    lines.push_back(clean[i]);
    index.push_back(static_cast<int>(i));
  }
  lines.back().resize(lines.back().size() - 10);  // truncated last line
  index.back() = -1;

  Feeder ref;
  std::vector<LineResult> want;
  for (const std::string& l : clean) want.push_back(ref.Line(l));
  Feeder f;
  int damaged_rejected = 0, damaged = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    LineResult got = f.Line(lines[i]);
    if (index[i] < 0) {
      ++damaged;
      damaged_rejected += IsReject(got.code) ? 1 : 0;
      continue;
    }
    const LineResult& w = want[static_cast<size_t>(index[i])];
    ASSERT_EQ(got.code, w.code) << lines[i];
    ASSERT_EQ(got.events.size(), w.events.size());
    for (size_t k = 0; k < w.events.size(); ++k) {
      EXPECT_EQ(got.events[k].credential, w.events[k].credential);
      EXPECT_EQ(got.events[k].bytes, w.events[k].bytes);
      EXPECT_EQ(got.events[k].src_ip, w.events[k].src_ip);
    }
  }
  // Cut-off and garbage records are all rejects (a record cut to nothing is a
  // blank line, skipped).
  EXPECT_GE(damaged_rejected, damaged - 1);
  EXPECT_EQ(f.Line(lines.back()).code, RecordCode::kRejectTruncated);
}

}  // namespace
}  // namespace credwatch
