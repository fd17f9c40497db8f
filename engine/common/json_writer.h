// Writing JSON text safely. Every string that came from input is
// attacker-controlled: JsonEscape makes it one valid JSON string whatever it
// holds (quotes, control characters, invalid UTF-8 -> U+FFFD), so no record
// can inject fields or lines into an output. Internal header.
#ifndef CREDWATCH_COMMON_JSON_WRITER_H_
#define CREDWATCH_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace credwatch {

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string_view s, std::string* out);
void AppendJsonInt(int64_t v, std::string* out);
// Shortest round-trip form; non-finite values become 0.
void AppendJsonDouble(double v, std::string* out);

}  // namespace credwatch

#endif  // CREDWATCH_COMMON_JSON_WRITER_H_
