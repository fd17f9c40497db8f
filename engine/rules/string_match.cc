#include "rules/string_match.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace credwatch::rules::internal {

std::string FoldCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = FoldChar(c);
  return out;
}

bool EqualsOp(std::string_view text, std::string_view pattern, bool cased) {
  if (text.size() != pattern.size()) return false;
  if (cased) return text == pattern;
  for (size_t i = 0; i < text.size(); ++i) {
    if (FoldChar(text[i]) != pattern[i]) return false;
  }
  return true;
}

bool StartsWithOp(std::string_view text, std::string_view pattern, bool cased) {
  if (text.size() < pattern.size()) return false;
  return EqualsOp(text.substr(0, pattern.size()), pattern, cased);
}

bool EndsWithOp(std::string_view text, std::string_view pattern, bool cased) {
  if (text.size() < pattern.size()) return false;
  return EqualsOp(text.substr(text.size() - pattern.size()), pattern, cased);
}

namespace {

// pattern[1..] against text at `at`, folded.
inline bool RestMatches(std::string_view text, size_t at, std::string_view pattern) {
  for (size_t j = 1; j < pattern.size(); ++j) {
    if (FoldChar(text[at + j]) != pattern[j]) return false;
  }
  return true;
}

}  // namespace

bool ContainsOp(std::string_view text, std::string_view pattern, bool cased) {
  if (pattern.empty()) return true;
  if (text.size() < pattern.size()) return false;
  if (cased) return text.find(pattern) != std::string_view::npos;
  const char first = pattern[0];
  const char first_upper = (first >= 'a' && first <= 'z') ? static_cast<char>(first - 32) : first;
  const size_t last_start = text.size() - pattern.size();
  size_t i = 0;
#if defined(__SSE2__)
  // Sixteen candidate positions at a time for the first character.
  const __m128i lower = _mm_set1_epi8(first);
  const __m128i upper = _mm_set1_epi8(first_upper);
  for (; i + 16 <= text.size() && i <= last_start; i += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(chunk, lower), _mm_cmpeq_epi8(chunk, upper))));
    while (mask != 0) {
      const size_t at = i + static_cast<size_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      if (at > last_start) return false;
      if (RestMatches(text, at, pattern)) return true;
    }
  }
#endif
  for (; i <= last_start; ++i) {
    const char c = text[i];
    if ((c == first || c == first_upper) && RestMatches(text, i, pattern)) return true;
  }
  return false;
}

uint64_t FoldHash(std::string_view s) {
  // Eight bytes at a time. OR-ing 0x20 into every byte maps 'A'..'Z' onto
  // 'a'..'z' (and a few punctuation pairs onto each other): strings that are
  // equal ignoring case hash the same, others rarely collide.
  constexpr uint64_t kFold = 0x2020202020202020ull;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ (w | kFold)) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  if (i < s.size()) {
    uint64_t w = 0;
    for (size_t k = i; k < s.size(); ++k) {
      w |= static_cast<uint64_t>(static_cast<uint8_t>(s[k]) | 0x20) << (8 * (k - i));
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  }
  h ^= h >> 29;
  return h;
}

bool FoldEq::operator()(std::string_view a, std::string_view b) const {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (FoldChar(a[i]) != FoldChar(b[i])) return false;
  }
  return true;
}

std::vector<PatternChar> ParsePlainValue(std::string_view raw) {
  std::vector<PatternChar> out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      const char n = raw[i + 1];
      if (n == '*' || n == '?' || n == '\\') {
        out.push_back({PatternChar::kLiteral, n});
        ++i;
        continue;
      }
      out.push_back({PatternChar::kLiteral, c});
      continue;
    }
    if (c == '*') {
      out.push_back({PatternChar::kStar, c});
    } else if (c == '?') {
      out.push_back({PatternChar::kOne, c});
    } else {
      out.push_back({PatternChar::kLiteral, c});
    }
  }
  return out;
}

std::string PatternText(const std::vector<PatternChar>& p) {
  std::string s;
  s.reserve(p.size());
  for (const PatternChar& pc : p) s.push_back(pc.c);
  return s;
}

bool HasWildcards(const std::vector<PatternChar>& p) {
  for (const PatternChar& pc : p) {
    if (pc.kind != PatternChar::kLiteral) return true;
  }
  return false;
}

Glob::Glob(const std::vector<PatternChar>& pattern, bool cased) : cased_(cased) {
  chars_.reserve(pattern.size());
  kinds_.reserve(pattern.size());
  for (const PatternChar& pc : pattern) {
    // Runs of '*' are one '*'.
    if (pc.kind == PatternChar::kStar && !kinds_.empty() && kinds_.back() == PatternChar::kStar) {
      continue;
    }
    chars_.push_back(cased ? pc.c : FoldChar(pc.c));
    kinds_.push_back(pc.kind);
  }
}

namespace {

// Length of the UTF-8 character starting at text[t] (1 for invalid bytes).
size_t Utf8Length(std::string_view text, size_t t) {
  const auto b = static_cast<uint8_t>(text[t]);
  size_t n = 1;
  if (b >= 0xF0) {
    n = 4;
  } else if (b >= 0xE0) {
    n = 3;
  } else if (b >= 0xC0) {
    n = 2;
  }
  if (t + n > text.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<uint8_t>(text[t + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

}  // namespace

bool Glob::Match(std::string_view text) const {
  const size_t m = kinds_.size();
  size_t p = 0;
  size_t t = 0;
  size_t star_p = m;  // none
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < m && kinds_[p] == PatternChar::kOne) {
      t += Utf8Length(text, t);
      ++p;
      continue;
    }
    if (p < m && kinds_[p] == PatternChar::kLiteral &&
        (cased_ ? text[t] : FoldChar(text[t])) == chars_[p]) {
      ++t;
      ++p;
      continue;
    }
    if (p < m && kinds_[p] == PatternChar::kStar) {
      star_p = p++;
      star_t = t;
      continue;
    }
    if (star_p != m) {
      p = star_p + 1;
      t = ++star_t;
      continue;
    }
    return false;
  }
  while (p < m && kinds_[p] == PatternChar::kStar) ++p;
  return p == m;
}

}  // namespace credwatch::rules::internal
