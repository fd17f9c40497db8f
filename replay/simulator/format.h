// Hand-rolled text formatting for the simulator's writers: integers, hex, IPv4
// addresses, civil dates and the timestamp forms the output formats use. All
// functions append to a caller-owned std::string that is reused between
// records, so formatting a record allocates nothing once the buffer has grown.
// Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_FORMAT_H_
#define CREDWATCH_REPLAY_SIMULATOR_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace credwatch::sim {

constexpr uint32_t Ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

struct CivilDate {
  int year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
CivilDate CivilFromDays(int64_t days_since_epoch);
// Days since the epoch of the UTC day that contains `time_ns`.
int64_t DayOf(int64_t time_ns);

void AppendUint(uint64_t v, std::string* out);
void AppendInt(int64_t v, std::string* out);
// Zero-padded to `width` digits (more digits if needed).
void AppendPadded(uint64_t v, int width, std::string* out);
// Lowercase hex without leading zeros ("0" for 0).
void AppendHex(uint64_t v, std::string* out);
// Exactly `digits` hex digits, lowercase or uppercase.
void AppendHexFixed(uint64_t v, int digits, bool upper, std::string* out);
void AppendIpv4(uint32_t ip, std::string* out);
std::string Ipv4String(uint32_t ip);
// "20250106".
void AppendDate8(int64_t days_since_epoch, std::string* out);
// "2025/01/06".
void AppendDateSlashed(int64_t days_since_epoch, std::string* out);
// A version-4 UUID from 128 random bits.
void AppendUuid(uint64_t hi, uint64_t lo, std::string* out);
// `n` characters of [A-Z2-7] (the alphabet of AWS key ids) from `bits`,
// re-mixed as needed.
void AppendBase32Id(uint64_t bits, int n, std::string* out);
// `n` characters of the base64 alphabet from `bits`, re-mixed as needed.
void AppendBase64Chars(uint64_t bits, int n, std::string* out);

// Formats event times; caches the date part of the last day seen, so a
// stream of records from the same day formats cheaply. Not thread-safe.
class TimeFormatter {
 public:
  // "2025-01-06T09:12:33Z" (the time truncated to the second).
  void AppendIsoSeconds(int64_t time_ns, std::string* out);
  // "Jan  6 09:12:33" (RFC 3164, day space-padded).
  void AppendSyslog(int64_t time_ns, std::string* out);

 private:
  void Prepare(int64_t day);
  int64_t cached_day_ = INT64_MIN;
  char iso_date_[11] = {};    // "2025-01-06"
  char syslog_date_[6] = {};  // "Jan  6"
};

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_FORMAT_H_
