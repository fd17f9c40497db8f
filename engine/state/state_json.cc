#include "state/state_json.h"

#include <array>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"
#include "common/strings.h"
#include "credwatch/time_util.h"
#include "state/encoding.h"
#include "state/profile_cache.h"
#include "state/records.h"

namespace credwatch::state {
namespace {

// The profile format written by profile::ProfileStore::SerializeProfile
// (engine/profile/profile_store.cc), version 1. Kept in step with it: a
// profile of another version is reported, never misread.
constexpr uint8_t kProfileMagic = 'P';
constexpr uint8_t kProfileVersion = 1;
constexpr int kFailureBuckets = 10;
constexpr int kFiveMinBuckets = 12, kHourBuckets = 24, kDayBuckets = 32;
constexpr int64_t kNever = INT64_MIN;
constexpr int64_t kNsPer5Min = 5 * kNsPerMinute;

void AppendTime(int64_t ns, std::string* out) {
  if (ns == kNever) {
    out->append("null");
  } else {
    AppendJsonString(FormatIso8601(ns), out);
  }
}

void AppendHex(uint64_t v, std::string* out) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "\"%016llx\"", static_cast<unsigned long long>(v));
  out->append(buf);
}

// A network key's value: 1<<56 | a.b.c (IPv4 /24) or 2<<56 | 6 bytes (/48).
std::string NetworkPrefix(uint64_t value) {
  char buf[64];
  if ((value >> 56) == 1) {
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.0/24", static_cast<unsigned>((value >> 16) & 0xff),
                  static_cast<unsigned>((value >> 8) & 0xff), static_cast<unsigned>(value & 0xff));
    return buf;
  }
  if ((value >> 56) == 2) {
    std::snprintf(buf, sizeof(buf), "%x:%x:%x::/48", static_cast<unsigned>((value >> 32) & 0xffff),
                  static_cast<unsigned>((value >> 16) & 0xffff), static_cast<unsigned>(value & 0xffff));
    return buf;
  }
  return "unknown";
}

size_t Mod(int64_t x, size_t n) {
  int64_t m = x % static_cast<int64_t>(n);
  return static_cast<size_t>(m < 0 ? m + static_cast<int64_t>(n) : m);
}

// The non-zero buckets of a ring (head - N, head] as [{"start", "value"}],
// oldest first.
template <typename T, size_t N>
void AppendRing(const std::array<T, N>& ring, int32_t head, int64_t width, std::string* out) {
  out->push_back('[');
  bool first = true;
  if (head != INT32_MIN) {
    for (int64_t b = int64_t{head} - static_cast<int64_t>(N) + 1; b <= head; ++b) {
      const T v = ring[Mod(b, N)];
      if (v == 0) continue;
      if (!first) out->push_back(',');
      first = false;
      out->append("{\"start\":");
      AppendTime(b * width, out);
      out->append(",\"value\":");
      AppendJsonInt(static_cast<int64_t>(v), out);
      out->push_back('}');
    }
  }
  out->push_back(']');
}

}  // namespace

absl::Status AppendProfileJson(std::string_view credential, std::string_view record,
                               std::string* out) {
  ProfileRecord rec;
  if (!DecodeProfileRecord(record, &rec)) {
    return absl::DataLossError(absl::StrCat("damaged profile record for '", Sv(credential), "'"));
  }
  Decoder in(rec.profile);
  uint8_t magic = 0, version = 0;
  if (!in.Get(&magic) || magic != kProfileMagic || !in.Get(&version)) {
    return absl::DataLossError(absl::StrCat("damaged profile of '", Sv(credential), "'"));
  }
  if (version != kProfileVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "profile of '", Sv(credential), "' has format ", version, "; this build shows format ",
        kProfileVersion));
  }
  int64_t first_active = 0, last_active = 0, latest = 0;
  uint64_t home_tenant = 0;
  int32_t failure_head = 0;
  std::array<uint16_t, kFailureBuckets> failures{};
  uint32_t n = 0;
  in.Get(&first_active);
  in.Get(&last_active);
  in.Get(&latest);
  in.Get(&home_tenant);
  in.Get(&failure_head);
  for (uint16_t& v : failures) in.Get(&v);
  in.Get(&n);
  if (!in.ok() || n > rec.profile.size() / 12) {
    return absl::DataLossError(absl::StrCat("damaged profile of '", Sv(credential), "'"));
  }
  struct Seen {
    uint64_t key;
    uint32_t last_seen_s;
  };
  std::vector<Seen> seen(n);
  for (Seen& s : seen) {
    in.Get(&s.key);
    in.Get(&s.last_seen_s);
  }
  uint8_t has_reads = 0;
  in.Get(&has_reads);
  int32_t five_min_head = INT32_MIN, hour_head = INT32_MIN, day_head = INT32_MIN;
  std::array<int64_t, kFiveMinBuckets> five_min{};
  std::array<int64_t, kHourBuckets> hours{};
  std::array<int64_t, kDayBuckets> days{};
  if (has_reads) {
    in.Get(&five_min_head);
    in.Get(&hour_head);
    in.Get(&day_head);
    for (int64_t& v : five_min) in.Get(&v);
    for (int64_t& v : hours) in.Get(&v);
    for (int64_t& v : days) in.Get(&v);
  }
  if (!in.Done()) {
    return absl::DataLossError(absl::StrCat("damaged profile of '", Sv(credential), "'"));
  }

  out->append("{\"credential\":");
  AppendJsonString(credential, out);
  out->append(",\"latest\":");
  AppendTime(latest, out);
  out->append(",\"first_active\":");
  AppendTime(first_active, out);
  out->append(",\"last_active\":");
  AppendTime(last_active, out);
  out->append(",\"home_tenant\":");
  if (home_tenant == 0) {
    out->append("null");
  } else {
    AppendHex(home_tenant, out);
  }
  static constexpr const char* kSets[] = {"networks", "hosts", "destinations", "tenants"};
  for (uint64_t kind = 0; kind < 4; ++kind) {
    absl::StrAppend(out, ",\"", kSets[kind], "\":[");
    bool first = true;
    for (const Seen& s : seen) {
      if ((s.key >> 62) != kind) continue;
      if (!first) out->push_back(',');
      first = false;
      const uint64_t value = s.key & ((uint64_t{1} << 62) - 1);
      if (kind == 0) {
        out->append("{\"prefix\":");
        AppendJsonString(NetworkPrefix(value), out);
      } else {
        out->append("{\"hash\":");
        AppendHex(value, out);
      }
      out->append(",\"last_seen\":");
      AppendTime(int64_t{s.last_seen_s} * kNsPerSecond, out);
      out->push_back('}');
    }
    out->push_back(']');
  }
  out->append(",\"failures\":");
  AppendRing(failures, failure_head, kNsPerMinute, out);
  out->append(",\"reads\":");
  if (!has_reads) {
    out->append("null");
  } else {
    out->append("{\"by_5min\":");
    AppendRing(five_min, five_min_head, kNsPer5Min, out);
    out->append(",\"by_hour\":");
    AppendRing(hours, hour_head, kNsPerHour, out);
    out->append(",\"by_day\":");
    AppendRing(days, day_head, kNsPerDay, out);
    out->push_back('}');
  }
  out->push_back('}');
  return absl::OkStatus();
}

absl::Status AppendStateSummaryJson(const StateStore& store, std::string* out) {
  out->append("{\"state_dir\":");
  AppendJsonString(store.dir(), out);
  absl::StrAppend(out, ",\"format\":", kStateFormatVersion);
  std::string value;
  auto got = store.Get(Family::kMeta, kRunKey, &value);
  if (!got.ok()) return got.status();
  out->append(",\"run\":");
  if (*got) {
    auto run = DecodeRunIdentity(value);
    if (!run.ok()) return run.status();
    out->append("{\"description\":");
    AppendJsonString(run->description, out);
    out->append(",\"fingerprint\":");
    AppendHex(run->fingerprint, out);
    out->push_back('}');
  } else {
    out->append("null");
  }
  got = store.Get(Family::kPositions, kCursorKey, &value);
  if (!got.ok()) return got.status();
  out->append(",\"cursor\":");
  if (*got) {
    auto c = DecodeCursor(value);
    if (!c.ok()) return c.status();
    absl::StrAppend(out, "{\"commits\":", c->commits, ",\"events\":", c->events,
                    ",\"watermarks\":", c->watermarks, ",\"watermark\":");
    AppendTime(c->watermark_ns, out);
    absl::StrAppend(out, ",\"detections\":", c->detections,
                    ",\"finished\":", c->finished ? "true" : "false", ",\"inputs\":[");
    bool first = true;
    absl::Status bad;
    absl::Status scanned = store.Scan(Family::kPositions, kInputKeyPrefix, [&](std::string_view, std::string_view v) {
      auto ic = DecodeInputCursor(v);
      if (!ic.ok()) {
        bad = ic.status();
        return false;
      }
      if (!first) out->push_back(',');
      first = false;
      out->append("{\"path\":");
      AppendJsonString(ic->identity.path, out);
      absl::StrAppend(out, ",\"device\":", ic->identity.device, ",\"inode\":", ic->identity.inode,
                      ",\"size\":", ic->identity.size, ",\"fingerprint\":");
      AppendHex(ic->identity.fingerprint, out);
      absl::StrAppend(out, ",\"next_offset\":", ic->next_offset, ",\"events\":", ic->events_read,
                      ",\"done\":", ic->done ? "true" : "false", "}");
      return true;
    });
    if (!scanned.ok()) return scanned;
    if (!bad.ok()) return bad;
    out->append("]}");
  } else {
    out->append("null");
  }
  got = store.Get(Family::kPositions, kOutputKey, &value);
  if (!got.ok()) return got.status();
  out->append(",\"output\":");
  if (*got) {
    auto o = DecodeOutputState(value);
    if (!o.ok()) return o.status();
    out->append("{\"path\":");
    AppendJsonString(o->path.empty() ? "stdout" : o->path, out);
    absl::StrAppend(out, ",\"confirmed_bytes\":", o->confirmed_bytes, ",\"alerts\":", o->next_seq, "}");
  } else {
    out->append("null");
  }
  int64_t outbox = 0, profiles = 0, detections = 0;
  bool windows = false;
  auto count = [](int64_t* n) {
    return [n](std::string_view, std::string_view) {
      ++*n;
      return true;
    };
  };
  if (auto s = store.Scan(Family::kOutbox, "", count(&outbox)); !s.ok()) return s;
  if (auto s = store.Scan(Family::kProfiles, "", count(&profiles)); !s.ok()) return s;
  if (auto s = store.Scan(Family::kJournal, kDetectionKeyPrefix, count(&detections)); !s.ok()) return s;
  absl::Status chunk_status;
  auto s = store.Scan(Family::kJournal, kJournalChunkKeyPrefix, [&](std::string_view, std::string_view v) {
    auto n = JournalChunkSize(v);
    if (!n.ok()) {
      chunk_status = n.status();
      return false;
    }
    detections += static_cast<int64_t>(*n);
    return true;
  });
  if (!s.ok()) return s;
  if (!chunk_status.ok()) return chunk_status;
  got = store.Get(Family::kWindows, absl::StrCat(Sv(kEvaluatorKeyPrefix), "0"), &value);
  if (!got.ok()) return got.status();
  windows = *got;
  absl::StrAppend(out, ",\"outbox\":", outbox, ",\"profiles\":", profiles,
                  ",\"detections_journaled\":", detections,
                  ",\"correlation_windows_saved\":", windows ? "true" : "false", "}");
  return absl::OkStatus();
}

std::string PrettyJson(std::string_view json) {
  std::string out;
  int depth = 0;
  bool in_string = false, escape = false;
  auto newline = [&] {
    out.push_back('\n');
    out.append(static_cast<size_t>(2 * depth), ' ');
  };
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        out.push_back(c);
        break;
      case '{':
      case '[':
        out.push_back(c);
        if (i + 1 < json.size() && (json[i + 1] == '}' || json[i + 1] == ']')) {
          out.push_back(json[++i]);
          break;
        }
        ++depth;
        newline();
        break;
      case '}':
      case ']':
        --depth;
        newline();
        out.push_back(c);
        break;
      case ',':
        out.push_back(c);
        newline();
        break;
      case ':':
        out.append(": ");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('\n');
  return out;
}

}  // namespace credwatch::state
