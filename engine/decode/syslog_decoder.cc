// The `syslog` decoder: classic /var/log/auth.log and /var/log/secure text.
//
// Grammar accepted (docs/formats/syslog.md is the user-facing reference):
//
//   line     = [ "<" PRI ">" ] ( rfc5424 / classic )
//   rfc5424  = "1" SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
//              SP STRUCTURED-DATA [ SP MSG ]          ; "-" is the nil value
//   classic  = STAMP SP+ [ HOST SP+ ] [ TAG [ "[" PID "]" ] ":" SP ] MSG
//   STAMP    = "Mmm dd hh:mm:ss" (RFC 3164, no year)
//            / "YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm)" (rsyslog's RFC 3339 files)
//
// RFC 3164 stamps carry no year: the first record's year is
// DecoderOptions::syslog_start_year, or when that is 0 the year that puts the
// first record at or before the reference time (the mtime of the source file
// when it is one, else now); SyslogYearTracker advances it on Dec -> Jan.
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "credwatch/decoder.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/sshd_messages.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

constexpr std::string_view kFormatName = "syslog";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "Jan".."Dec" -> 1..12, else 0. Compared as one 24-bit number.
int MonthFromAbbrev(const char* m) {
  auto key = [](char a, char b, char c) {
    return static_cast<uint32_t>(static_cast<unsigned char>(a)) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(b)) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(c));
  };
  static constexpr const char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const uint32_t k = key(m[0], m[1], m[2]);
  for (int i = 0; i < 12; ++i) {
    if (k == key(kMonths[3 * i], kMonths[3 * i + 1], kMonths[3 * i + 2])) return i + 1;
  }
  return 0;
}

// Month (1..12) of a time, UTC.
unsigned MonthOf(int64_t time_ns) {
  int year = YearOf(time_ns);
  int64_t day = time_ns / kNsPerDay - (time_ns % kNsPerDay < 0 ? 1 : 0);
  unsigned month = 1;
  for (unsigned m = 2; m <= 12; ++m) {
    if (DaysFromCivil(year, m, 1) <= day) month = m;
  }
  return month;
}

std::string_view SkipSpaces(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && s[n] == ' ') ++n;
  return s.substr(n);
}

// Splits off the token up to the next space.
std::string_view NextToken(std::string_view* s) {
  size_t sp = s->find(' ');
  std::string_view tok = s->substr(0, sp);
  s->remove_prefix(sp == std::string_view::npos ? s->size() : sp + 1);
  return tok;
}

bool ParsePid(std::string_view s, uint32_t* pid) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *pid = static_cast<uint32_t>(v);
  return true;
}

// "tag[pid]: msg", "tag: msg"; anything else is all message.
void SplitTag(std::string_view s, LogRecord* rec) {
  size_t end = s.find_first_of("[: ");
  if (end == std::string_view::npos || end == 0 || s[end] == ' ') {
    rec->message = s;
    return;
  }
  std::string_view tag = s.substr(0, end);
  std::string_view rest = s.substr(end);
  if (rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      rec->message = s;
      return;
    }
    rec->has_pid = ParsePid(rest.substr(1, close - 1), &rec->pid);
    rest.remove_prefix(close + 2);
  } else {
    rest.remove_prefix(1);  // ':'
  }
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  rec->program = tag;
  rec->message = rest;
}

// RFC 5424 STRUCTURED-DATA: "-" or one or more "[id param="value" ...]".
bool SkipStructuredData(std::string_view* s) {
  if (s->starts_with('-')) {
    s->remove_prefix(1);
    return true;
  }
  size_t i = 0;
  if (i >= s->size() || (*s)[i] != '[') return false;
  while (i < s->size() && (*s)[i] == '[') {
    ++i;
    bool in_quotes = false;
    for (; i < s->size(); ++i) {
      char c = (*s)[i];
      if (in_quotes) {
        if (c == '\\') {
          ++i;  // escaped '"', '\' or ']'
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == ']') {
        break;
      }
    }
    if (i >= s->size()) return false;  // unterminated element
    ++i;                               // ']'
  }
  s->remove_prefix(i);
  return true;
}

class SyslogDecoder final : public Decoder {
 public:
  explicit SyslogDecoder(const DecoderOptions& options)
      : limits_(options.limits),
        start_year_(options.syslog_start_year),
        sshd_(kFormatName, options.limits) {}

  Format format() const override { return Format::kSyslog; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx,
                      EventBatch& out) override {
    if (record.size() > limits_.max_record_bytes) [[unlikely]] {
      return {RecordCode::kRejectLineTooLong, "line longer than max_record_bytes"};
    }
    while (!record.empty() && (record.back() == '\n' || record.back() == '\r')) {
      record.remove_suffix(1);
    }
    if (record.find_first_not_of(" \t") == std::string_view::npos) {
      return {RecordCode::kSkippedIrrelevant, {}};  // blank line
    }
    if (!simdjson::validate_utf8(record.data(), record.size())) [[unlikely]] {
      return {RecordCode::kRejectInvalidUtf8, "line is not valid UTF-8"};
    }
    LogRecord rec;
    DecodeResult header = ParseHeader(record, ctx, &rec);
    if (header.code != RecordCode::kOk) return header;
    return sshd_.Decode(rec, ctx, out);
  }

 private:
  DecodeResult ParseHeader(std::string_view s, const RecordContext& ctx, LogRecord* rec) {
    if (s.starts_with('<')) {
      size_t close = s.find('>');
      uint32_t pri = 0;
      if (close == std::string_view::npos || close < 2 || close > 4 ||
          !ParsePid(s.substr(1, close - 1), &pri) || pri > 191) {
        return {RecordCode::kRejectUnparseable, "bad <PRI>"};
      }
      s.remove_prefix(close + 1);
      if (s.starts_with("1 ")) return ParseRfc5424(s.substr(2), rec);
    }
    if (s.size() >= 19 && IsDigit(s[0]) && IsDigit(s[3]) && s[4] == '-' && s[7] == '-') {
      // rsyslog's RFC 3339 file format: "2024-03-01T10:00:00.123+01:00 host tag: msg".
      std::string_view stamp = NextToken(&s);
      auto t = ParseIso8601(stamp);
      if (!t) return {RecordCode::kRejectBadTime, "bad RFC 3339 timestamp"};
      rec->time_ns = *t;
    } else {
      // "Mmm dd hh:mm:ss", day space- or zero-padded.
      if (s.size() < 16 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' ||
          s[15] != ' ' || !(s[4] == ' ' || IsDigit(s[4])) || !IsDigit(s[5])) {
        return {RecordCode::kRejectUnparseable, "no syslog timestamp"};
      }
      int month = MonthFromAbbrev(s.data());
      if (month == 0) return {RecordCode::kRejectUnparseable, "no syslog timestamp"};
      int year = YearFor(static_cast<unsigned>(month), ctx);
      auto t = Rfc3164Time(s.substr(0, 15), year);
      if (!t) return {RecordCode::kRejectBadTime, "bad RFC 3164 timestamp"};
      rec->time_ns = *t;
      s.remove_prefix(16);
    }
    s = SkipSpaces(s);
    if (s.empty()) return {RecordCode::kRejectUnparseable, "nothing after the timestamp"};
    // The host, unless the token is already the tag ("sshd[12]:").
    size_t sp = s.find(' ');
    std::string_view first = s.substr(0, sp);
    if (!first.ends_with(':') && first.find('[') == std::string_view::npos) {
      rec->host = first;
      s = sp == std::string_view::npos ? std::string_view() : SkipSpaces(s.substr(sp));
    }
    SplitTag(s, rec);
    return {RecordCode::kOk, {}};
  }

  DecodeResult ParseRfc5424(std::string_view s, LogRecord* rec) {
    std::string_view stamp = NextToken(&s);
    std::string_view host = NextToken(&s);
    std::string_view app = NextToken(&s);
    std::string_view procid = NextToken(&s);
    std::string_view msgid = NextToken(&s);
    if (stamp.empty() || host.empty() || app.empty() || procid.empty() || msgid.empty() ||
        !SkipStructuredData(&s)) {
      return {RecordCode::kRejectUnparseable, "RFC 5424 header incomplete"};
    }
    if (!s.empty()) {
      if (s[0] != ' ') return {RecordCode::kRejectUnparseable, "RFC 5424: no space after SD"};
      s.remove_prefix(1);
    }
    if (stamp == "-") return {RecordCode::kRejectMissingTime, "RFC 5424 timestamp is '-'"};
    auto t = ParseIso8601(stamp);
    if (!t) return {RecordCode::kRejectBadTime, "bad RFC 5424 timestamp"};
    rec->time_ns = *t;
    if (host != "-") rec->host = host;
    if (app != "-") rec->program = app;
    rec->has_pid = procid != "-" && ParsePid(procid, &rec->pid);
    if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);  // BOM before UTF-8 MSG
    rec->message = s;
    return {RecordCode::kOk, {}};
  }

  // ParseRfc3164Stamp with the start of the day remembered: consecutive
  // lines nearly always share their "Mmm dd", and only the clock is parsed.
  std::optional<int64_t> Rfc3164Time(std::string_view stamp, int year) {
    int h = 0, m = 0, sec = 0;
    bool clock_ok = Digits2(stamp, 7, &h) && Digits2(stamp, 10, &m) && Digits2(stamp, 13, &sec) &&
                    h < 24 && m < 60 && sec <= 60;
    if (clock_ok && year == day_year_ && std::memcmp(stamp.data(), day_key_, 6) == 0) {
      if (sec == 60) sec = 59;  // as ParseRfc3164Stamp folds a leap second
      return day_start_ + (int64_t{h} * 3600 + m * 60 + sec) * kNsPerSecond;
    }
    auto t = ParseRfc3164Stamp(stamp, year);
    if (!t || !clock_ok) return t;
    if (sec == 60) sec = 59;
    std::memcpy(day_key_, stamp.data(), 6);
    day_year_ = year;
    day_start_ = *t - (int64_t{h} * 3600 + m * 60 + sec) * kNsPerSecond;
    return t;
  }

  static bool Digits2(std::string_view s, size_t pos, int* out) {
    if (!IsDigit(s[pos]) || !IsDigit(s[pos + 1])) return false;
    *out = (s[pos] - '0') * 10 + (s[pos + 1] - '0');
    return true;
  }

  int YearFor(unsigned month, const RecordContext& ctx) {
    if (!years_) {
      int start = start_year_;
      if (start == 0) {
        // The log cannot be newer than its file (or than now): the first
        // record gets the latest year that keeps it at or before that.
        int64_t ref = ReferenceTime(ctx.source);
        start = YearOf(ref);
        if (month > MonthOf(ref)) --start;
      }
      years_.emplace(start);
    }
    return years_->YearFor(month);
  }

  static int64_t ReferenceTime(std::string_view source) {
    if (!source.empty()) {
      struct stat st;
      std::string path(source);
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        return static_cast<int64_t>(st.st_mtim.tv_sec) * kNsPerSecond + st.st_mtim.tv_nsec;
      }
    }
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  DecodeLimits limits_;
  int start_year_;
  std::optional<SyslogYearTracker> years_;
  char day_key_[6] = {};  // "Mmm dd" of day_start_
  int day_year_ = 0;      // 0 = nothing cached
  int64_t day_start_ = 0;
  SshdEventDecoder sshd_;
};

}  // namespace

std::unique_ptr<Decoder> MakeSyslogDecoder(const DecoderOptions& options) {
  return std::make_unique<SyslogDecoder>(options);
}

}  // namespace credwatch::decode
