// Format names (credwatch/decoder.h): in the common library because the
// config names formats too.
#include <array>

#include "credwatch/decoder.h"

namespace credwatch {
namespace {

constexpr std::array<std::string_view, 7> kFormatNames = {
    "auto", "cloudtrail", "journald", "syslog", "ocsf", "native", "mapping"};

}  // namespace

std::string_view FormatName(Format f) { return kFormatNames[static_cast<size_t>(f)]; }

std::optional<Format> ParseFormat(std::string_view name) {
  for (size_t i = 0; i < kFormatNames.size(); ++i) {
    if (kFormatNames[i] == name) return static_cast<Format>(i);
  }
  return std::nullopt;
}

}  // namespace credwatch
