// Bridges between std::string_view (used throughout credwatch) and Debian's
// Abseil, which is built with its own absl::string_view
// (ABSL_OPTION_USE_STD_STRING_VIEW 0): absl::StrCat and friends do not take a
// std::string_view directly. Internal header.
#ifndef CREDWATCH_COMMON_STRINGS_H_
#define CREDWATCH_COMMON_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace credwatch {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace credwatch

#endif  // CREDWATCH_COMMON_STRINGS_H_
