// String primitives of Sigma value matching: ASCII case folding, the
// escape rules of plain values, and '*'/'?' wildcard patterns. No allocation
// at match time. Internal header.
#ifndef CREDWATCH_RULES_STRING_MATCH_H_
#define CREDWATCH_RULES_STRING_MATCH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace credwatch::rules::internal {

inline char FoldChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
std::string FoldCase(std::string_view s);

// `pattern` is already folded (lowercase) when !cased.
bool EqualsOp(std::string_view text, std::string_view pattern, bool cased);
bool StartsWithOp(std::string_view text, std::string_view pattern, bool cased);
bool EndsWithOp(std::string_view text, std::string_view pattern, bool cased);
bool ContainsOp(std::string_view text, std::string_view pattern, bool cased);

// A fast hash that ignores ASCII case, for in-process hash maps (it is not
// stable across platforms: never persist it or route by it).
uint64_t FoldHash(std::string_view s);
struct FoldHasher {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return static_cast<size_t>(FoldHash(s)); }
};
struct FoldEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

// A plain Sigma value after escape processing: its characters, each either a
// literal or a wildcard. Backslash rules (Sigma spec, "Escape Character"):
// "\*" and "\?" are literal, "\\" is one backslash, any other backslash is
// literal.
struct PatternChar {
  enum Kind : uint8_t { kLiteral, kStar, kOne };
  Kind kind;
  char c;
};
std::vector<PatternChar> ParsePlainValue(std::string_view raw);
// Only literals, '*' and '?' kept as characters (for messages and rules check).
std::string PatternText(const std::vector<PatternChar>& p);
bool HasWildcards(const std::vector<PatternChar>& p);

// A wildcard pattern compiled for matching. '*' matches any run of bytes, '?'
// exactly one UTF-8 character. Matching backtracks only to the last '*', so
// it costs at most O(text * pattern): no input can make it explode.
class Glob {
 public:
  Glob() = default;
  Glob(const std::vector<PatternChar>& pattern, bool cased);
  bool Match(std::string_view text) const;
  bool empty() const { return kinds_.empty(); }

 private:
  std::string chars_;           // folded unless cased_
  std::vector<uint8_t> kinds_;  // PatternChar::Kind per position
  bool cased_ = false;
};

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_STRING_MATCH_H_
