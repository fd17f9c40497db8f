#include "credwatch/time_util.h"

#include <cstdio>

namespace credwatch {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int MonthFromAbbrev(std::string_view m) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (m.size() != 3) return 0;
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) return i + 1;
  }
  return 0;
}

std::optional<int64_t> Compose(int64_t y, int mo, int d, int h, int mi, int s, int64_t frac_ns) {
  if (mo < 1 || mo > 12 || d < 1 || d > static_cast<int>(DaysInMonth(y, static_cast<unsigned>(mo))) ||
      h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  if (s == 60) s = 59;  // leap second: fold into the previous one
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60 * kNsPerSecond + s * kNsPerSecond + frac_ns;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> ParseIso8601(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 19 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  size_t i = 19;
  int64_t frac = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    int64_t scale = 100'000'000;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int oh, om;
      int sign = s[i] == '-' ? -1 : 1;
      if (!Digits(s, i + 1, 2, &oh)) return std::nullopt;
      size_t j = i + 3;
      if (j < s.size() && s[j] == ':') ++j;
      if (!Digits(s, j, 2, &om) || oh > 23 || om > 59) return std::nullopt;
      offset_s = sign * (oh * 3600 + om * 60);
      i = j + 2;
    }
  }
  if (i != s.size()) return std::nullopt;
  auto t = Compose(y, mo, d, h, mi, sec, frac);
  if (!t) return std::nullopt;
  return *t - offset_s * kNsPerSecond;
}

std::optional<int64_t> ParseRfc3164Stamp(std::string_view s, int year) {
  // "Mmm dd hh:mm:ss" with dd space-padded ("Dec  1") or zero-padded.
  if (s.size() != 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':') {
    return std::nullopt;
  }
  int mo = MonthFromAbbrev(s.substr(0, 3));
  if (mo == 0) return std::nullopt;
  int d, h, mi, sec;
  if (s[4] == ' ') {
    if (!Digits(s, 5, 1, &d)) return std::nullopt;
  } else if (!Digits(s, 4, 2, &d)) {
    return std::nullopt;
  }
  if (!Digits(s, 7, 2, &h) || !Digits(s, 10, 2, &mi) || !Digits(s, 13, 2, &sec)) {
    return std::nullopt;
  }
  return Compose(year, mo, d, h, mi, sec, 0);
}

int SyslogYearTracker::YearFor(unsigned month) {
  if (last_month_ != 0 && month + 6 < last_month_) {
    ++year_;  // Dec -> Jan: a new year began
  } else if (last_month_ != 0 && month > last_month_ + 6) {
    return year_ - 1;  // a late December line after January: the old year
  }
  last_month_ = month;
  return year_;
}

int YearOf(int64_t time_ns) {
  int64_t days = time_ns / kNsPerDay;
  if (time_ns % kNsPerDay < 0) --days;
  // civil_from_days
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return static_cast<int>(y + (m <= 2));
}

std::string FormatIso8601(int64_t time_ns) {
  int64_t secs = time_ns / kNsPerSecond;
  int64_t frac = time_ns % kNsPerSecond;
  if (frac < 0) {
    frac += kNsPerSecond;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  // Hand-written digits: this runs for every evidence a correlation keeps.
  auto digits = [](char* p, int64_t v, int n) {
    for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  std::string out;
  if (y >= 0 && y <= 9999) {
    char buf[19];  // YYYY-MM-DDTHH:MM:SS
    digits(buf, y, 4);
    buf[4] = '-';
    digits(buf + 5, m, 2);
    buf[7] = '-';
    digits(buf + 8, d, 2);
    buf[10] = 'T';
    digits(buf + 11, rem / 3600, 2);
    buf[13] = ':';
    digits(buf + 14, rem / 60 % 60, 2);
    buf[16] = ':';
    digits(buf + 17, rem % 60, 2);
    out.assign(buf, sizeof(buf));
  } else {
    char buf[48];
    int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                          static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                          static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
    out.assign(buf, static_cast<size_t>(n));
  }
  if (frac != 0) {
    char f[10];
    f[0] = '.';
    if (frac % 1'000'000 == 0) {
      digits(f + 1, frac / 1'000'000, 3);
      out.append(f, 4);
    } else if (frac % 1000 == 0) {
      digits(f + 1, frac / 1000, 6);
      out.append(f, 7);
    } else {
      digits(f + 1, frac, 9);
      out.append(f, 10);
    }
  }
  out += 'Z';
  return out;
}

}  // namespace credwatch
