// Record-code names and the decoder factory (format names: common/format.cc).
#include <array>

#include "absl/strings/str_cat.h"
#include "credwatch/decoder.h"
#include "common/strings.h"
#include "decode/decoders.h"

namespace credwatch {
namespace {

constexpr std::array<std::string_view, static_cast<size_t>(RecordCode::kNumCodes)> kCodeNames = {
    "ok",
    "skipped_irrelevant",
    "invalid_json",
    "truncated",
    "line_too_long",
    "too_deep",
    "invalid_utf8",
    "wrong_type",
    "missing_time",
    "bad_time",
    "unknown_shape",
    "field_too_large",
    "unparseable",
};

}  // namespace

std::string_view RecordCodeName(RecordCode c) { return kCodeNames[static_cast<size_t>(c)]; }

absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(Format format,
                                                     const DecoderOptions& options) {
  switch (format) {
    case Format::kCloudTrail: return decode::MakeCloudTrailDecoder(options);
    case Format::kNative: return decode::MakeNativeDecoder(options);
    case Format::kJournald: return decode::MakeJournaldDecoder(options);
    case Format::kSyslog: return decode::MakeSyslogDecoder(options);
    case Format::kOcsf: return decode::MakeOcsfDecoder(options);
    case Format::kMapping: return decode::MakeMappingDecoder(options);
    case Format::kAuto: break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("no decoder for format '", Sv(FormatName(format)),
                   "': detect the format first or name one with --format"));
}

}  // namespace credwatch
