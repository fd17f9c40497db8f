#include "replay/simulator/format.h"

#include <cstring>

#include "credwatch/time_util.h"
#include "replay/simulator/random.h"

namespace credwatch::sim {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr const char* kMonthAbbrev[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void Put2(unsigned v, char* p) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

CivilDate CivilFromDays(int64_t days) {
  // Howard Hinnant's civil_from_days.
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2)), m, d};
}

int64_t DayOf(int64_t time_ns) {
  int64_t day = time_ns / kNsPerDay;
  if (time_ns % kNsPerDay < 0) --day;
  return day;
}

void AppendUint(uint64_t v, std::string* out) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char buf[20];
  char* end = buf + sizeof(buf);
  char* p = end;
  while (v >= 100) {
    const unsigned i = static_cast<unsigned>(v % 100) * 2;
    v /= 100;
    p -= 2;
    p[0] = kPairs[i];
    p[1] = kPairs[i + 1];
  }
  if (v >= 10) {
    const unsigned i = static_cast<unsigned>(v) * 2;
    p -= 2;
    p[0] = kPairs[i];
    p[1] = kPairs[i + 1];
  } else {
    *--p = static_cast<char>('0' + v);
  }
  out->append(p, static_cast<size_t>(end - p));
}

void AppendInt(int64_t v, std::string* out) {
  if (v < 0) {
    out->push_back('-');
    AppendUint(static_cast<uint64_t>(-(v + 1)) + 1, out);
  } else {
    AppendUint(static_cast<uint64_t>(v), out);
  }
}

void AppendPadded(uint64_t v, int width, std::string* out) {
  char buf[24];
  char* end = buf + sizeof(buf);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (int n = static_cast<int>(end - p); n < width && p > buf; ++n) *--p = '0';
  out->append(p, static_cast<size_t>(end - p));
}

void AppendHex(uint64_t v, std::string* out) {
  char buf[16];
  char* end = buf + sizeof(buf);
  char* p = end;
  do {
    *--p = kHexLower[v & 15];
    v >>= 4;
  } while (v != 0);
  out->append(p, static_cast<size_t>(end - p));
}

void AppendHexFixed(uint64_t v, int digits, bool upper, std::string* out) {
  const char* alphabet = upper ? kHexUpper : kHexLower;
  char buf[16];
  if (digits > 16) digits = 16;
  for (int i = digits - 1; i >= 0; --i) {
    buf[i] = alphabet[v & 15];
    v >>= 4;
  }
  out->append(buf, static_cast<size_t>(digits));
}

void AppendIpv4(uint32_t ip, std::string* out) {
  AppendUint(ip >> 24, out);
  out->push_back('.');
  AppendUint((ip >> 16) & 255, out);
  out->push_back('.');
  AppendUint((ip >> 8) & 255, out);
  out->push_back('.');
  AppendUint(ip & 255, out);
}

std::string Ipv4String(uint32_t ip) {
  std::string s;
  AppendIpv4(ip, &s);
  return s;
}

void AppendDate8(int64_t days, std::string* out) {
  CivilDate c = CivilFromDays(days);
  char buf[8];
  Put2(static_cast<unsigned>(c.year / 100), buf);
  Put2(static_cast<unsigned>(c.year % 100), buf + 2);
  Put2(c.month, buf + 4);
  Put2(c.day, buf + 6);
  out->append(buf, 8);
}

void AppendDateSlashed(int64_t days, std::string* out) {
  CivilDate c = CivilFromDays(days);
  char buf[10];
  Put2(static_cast<unsigned>(c.year / 100), buf);
  Put2(static_cast<unsigned>(c.year % 100), buf + 2);
  buf[4] = '/';
  Put2(c.month, buf + 5);
  buf[7] = '/';
  Put2(c.day, buf + 8);
  out->append(buf, 10);
}

void AppendUuid(uint64_t hi, uint64_t lo, std::string* out) {
  hi = (hi & ~0xF000ULL) | 0x4000ULL;        // version 4
  lo = (lo & ~(3ULL << 62)) | (2ULL << 62);  // variant 10
  AppendHexFixed(hi >> 32, 8, false, out);
  out->push_back('-');
  AppendHexFixed((hi >> 16) & 0xFFFF, 4, false, out);
  out->push_back('-');
  AppendHexFixed(hi & 0xFFFF, 4, false, out);
  out->push_back('-');
  AppendHexFixed(lo >> 48, 4, false, out);
  out->push_back('-');
  AppendHexFixed(lo & 0xFFFFFFFFFFFFULL, 12, false, out);
}

namespace {

// `n` characters of `alphabet` (2^bits_per_char letters), from a stream seeded by `seed`.
void AppendRandomChars(uint64_t seed, int n, const char* alphabet, int bits_per_char,
                       std::string* out) {
  const int per_word = 64 / bits_per_char;
  const uint64_t mask = (1ULL << bits_per_char) - 1;
  uint64_t state = seed;
  uint64_t bits = 0;
  for (int i = 0; i < n; ++i) {
    if (i % per_word == 0) {
      state += 0x9e3779b97f4a7c15ULL;
      bits = Mix64(state);
    }
    out->push_back(alphabet[bits & mask]);
    bits >>= bits_per_char;
  }
}

}  // namespace

void AppendBase32Id(uint64_t bits, int n, std::string* out) {
  AppendRandomChars(bits, n, kBase32, 5, out);
}

void AppendBase64Chars(uint64_t bits, int n, std::string* out) {
  AppendRandomChars(bits, n, kBase64, 6, out);
}

void TimeFormatter::Prepare(int64_t day) {
  cached_day_ = day;
  CivilDate c = CivilFromDays(day);
  Put2(static_cast<unsigned>(c.year / 100), iso_date_);
  Put2(static_cast<unsigned>(c.year % 100), iso_date_ + 2);
  iso_date_[4] = '-';
  Put2(c.month, iso_date_ + 5);
  iso_date_[7] = '-';
  Put2(c.day, iso_date_ + 8);
  iso_date_[10] = 'T';
  std::memcpy(syslog_date_, kMonthAbbrev[c.month - 1], 3);
  syslog_date_[3] = ' ';
  syslog_date_[4] = c.day < 10 ? ' ' : static_cast<char>('0' + c.day / 10);
  syslog_date_[5] = static_cast<char>('0' + c.day % 10);
}

void TimeFormatter::AppendIsoSeconds(int64_t time_ns, std::string* out) {
  int64_t day = DayOf(time_ns);
  if (day != cached_day_) Prepare(day);
  unsigned secs = static_cast<unsigned>((time_ns - day * kNsPerDay) / kNsPerSecond);
  char buf[20];
  std::memcpy(buf, iso_date_, 11);
  Put2(secs / 3600, buf + 11);
  buf[13] = ':';
  Put2(secs / 60 % 60, buf + 14);
  buf[16] = ':';
  Put2(secs % 60, buf + 17);
  buf[19] = 'Z';
  out->append(buf, 20);
}

void TimeFormatter::AppendSyslog(int64_t time_ns, std::string* out) {
  int64_t day = DayOf(time_ns);
  if (day != cached_day_) Prepare(day);
  unsigned secs = static_cast<unsigned>((time_ns - day * kNsPerDay) / kNsPerSecond);
  char buf[15];
  std::memcpy(buf, syslog_date_, 6);
  buf[6] = ' ';
  Put2(secs / 3600, buf + 7);
  buf[9] = ':';
  Put2(secs / 60 % 60, buf + 10);
  buf[12] = ':';
  Put2(secs % 60, buf + 13);
  out->append(buf, 15);
}

}  // namespace credwatch::sim
