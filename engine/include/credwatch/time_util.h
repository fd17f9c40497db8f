// Event-time parsing. All times are int64 ns since the Unix epoch, UTC.
//
//   auto t = credwatch::ParseIso8601("2023-07-10T12:34:56Z");   // CloudTrail
//   auto t = credwatch::ParseRfc3164Stamp("Dec 10 06:55:46", year_hint);
//
// Pure functions; thread-safe.
#ifndef CREDWATCH_TIME_UTIL_H_
#define CREDWATCH_TIME_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace credwatch {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kNsPerMinute = 60 * kNsPerSecond;
constexpr int64_t kNsPerHour = 60 * kNsPerMinute;
constexpr int64_t kNsPerDay = 24 * kNsPerHour;

// Days since 1970-01-01 for a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; also a space instead of
// 'T'. No offset means UTC. Rejects out-of-range fields.
std::optional<int64_t> ParseIso8601(std::string_view s);

// Classic syslog "Mmm dd hh:mm:ss" (day may be space-padded). RFC 3164 has no
// year: the caller passes the year to assume.
std::optional<int64_t> ParseRfc3164Stamp(std::string_view s, int year);

// RFC 3164 year inference for one stream. Starts at `start_year`; when the
// month goes backwards by more than six months between consecutive records
// (Dec -> Jan) the year advances by one. The result is documented in the
// syslog format reference.
class SyslogYearTracker {
 public:
  explicit SyslogYearTracker(int start_year) : year_(start_year) {}
  // Returns the year to use for a record stamped in `month` (1..12).
  int YearFor(unsigned month);

 private:
  int year_;
  unsigned last_month_ = 0;
};

// The civil year of a time (UTC).
int YearOf(int64_t time_ns);

// "2023-07-10T12:34:56.123456789Z"; fraction trimmed to what is nonzero
// in groups of three digits (ms, us, ns), none if whole seconds.
std::string FormatIso8601(int64_t time_ns);

}  // namespace credwatch

#endif  // CREDWATCH_TIME_UTIL_H_
