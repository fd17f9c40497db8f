// Decoders turn one framed raw record into zero or more normalized events.
//
//   auto decoder = credwatch::MakeDecoder(Format::kCloudTrail, options);
//   DecodeResult r = (*decoder)->Decode(record, ctx, batch);
//   if (r.code != RecordCode::kOk) counters.Count(r.code);
//
// One decoder instance per input stream: decoders for text logs keep the
// stream's session table (sshd/sftp process -> login) between records.
// Not thread-safe; a decoder belongs to the thread that reads its stream.
//
// Framing is not the decoder's job: the reader (credwatch/input.h) hands over
// one line, one element of a JSON array, or one element of a CloudTrail
// {"Records":[...]} file at a time. Records are followed in memory by at least
// kRecordPadding readable bytes (simdjson's padding), so JSON decoders can
// parse them in place.
#ifndef CREDWATCH_DECODER_H_
#define CREDWATCH_DECODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "credwatch/event_batch.h"

namespace credwatch {

constexpr size_t kRecordPadding = 64;  // == SIMDJSON_PADDING

enum class Format : uint8_t {
  kAuto, kCloudTrail, kJournald, kSyslog, kOcsf, kNative, kMapping
};
std::string_view FormatName(Format f);  // "cloudtrail", ...
std::optional<Format> ParseFormat(std::string_view name);

// What became of one record. kOk and kSkipped* are normal; the kReject* codes
// are bad input: counted, dead-lettered, and they set replay's exit status.
enum class RecordCode : uint8_t {
  kOk,                 // one or more events appended
  kSkippedIrrelevant,  // valid record that carries no security event
                       // (e.g. a cron line in auth.log, sshd "Connection closed")
  kRejectInvalidJson,
  kRejectTruncated,    // record cut short (last line of a file, a .gz cut off)
  kRejectLineTooLong,
  kRejectTooDeep,
  kRejectInvalidUtf8,
  kRejectWrongType,    // a field the format defines has the wrong JSON type
  kRejectMissingTime,
  kRejectBadTime,
  kRejectUnknownShape, // JSON that is not a record of this format
  kRejectFieldTooLarge,
  kRejectUnparseable,  // text line that does not follow the syslog grammar
  kNumCodes,
};
std::string_view RecordCodeName(RecordCode c);  // "invalid_json", ...
inline bool IsReject(RecordCode c) { return c >= RecordCode::kRejectInvalidJson; }

struct DecodeResult {
  RecordCode code = RecordCode::kOk;
  // For rejects: what was wrong, for the dead-letter file ("eventTime: not a
  // string"). Static storage or a view that stays valid until the next Decode.
  std::string_view detail;
};

// Source-namespace fields that loaded rules read (e.g. CloudTrail
// "requestParameters.attribute"). A decoder that supports projection copies the
// scalar value at each path into Event::extras with the given id; objects and
// arrays are copied as their raw JSON text. Built once by the rule compiler.
struct Projection {
  struct Path {
    std::string dotted;  // "userIdentity.type"
    uint16_t id;         // >= FieldId::kFirstExtra
    friend bool operator==(const Path&, const Path&) = default;
  };
  std::vector<Path> paths;
  friend bool operator==(const Projection&, const Projection&) = default;
};

// Limits on what one record may contain (design.md, "Errors and bad input").
struct DecodeLimits {
  size_t max_record_bytes = 1 << 20;  // longer records: kRejectLineTooLong
  size_t max_depth = 64;              // deeper nesting: kRejectTooDeep
  size_t max_field_bytes = 64 << 10;  // a longer string field: kRejectFieldTooLarge
};

struct DecoderOptions {
  DecodeLimits limits;
  const Projection* projection = nullptr;  // may be null; must outlive decoder
  int syslog_start_year = 0;  // RFC 3164 year for the first record; 0 = from file mtime
  std::string mapping_file;   // Format::kMapping: the YAML mapping
};

// Where a record came from.
struct RecordContext {
  std::string_view source;  // file path or listener name; must outlive the batch
  uint64_t offset = 0;      // byte offset of the record in the source
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual Format format() const = 0;
  // Decodes `record` (which has kRecordPadding readable bytes after it),
  // appending events to `out`. On a reject nothing is appended.
  virtual DecodeResult Decode(std::string_view record, const RecordContext& ctx,
                              EventBatch& out) = 0;
};

absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(Format format,
                                                     const DecoderOptions& options);

}  // namespace credwatch

#endif  // CREDWATCH_DECODER_H_
