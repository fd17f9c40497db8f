// A fixed (unseeded) 64-bit hash for keys that are stored, persisted or
// ordered: unlike absl::Hash it gives the same value in every process, so
// profile contents and anything derived from them are reproducible.
// FNV-1a over the bytes, finished with the SplitMix64 avalanche so that the
// high bits are usable. Not for hash tables facing adversarial keys. Internal.
#ifndef CREDWATCH_COMMON_FIXED_HASH_H_
#define CREDWATCH_COMMON_FIXED_HASH_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace credwatch {

inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline uint64_t FixedHash(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xCBF29CE484222325ULL ^ Mix64(seed);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001B3ULL;
  }
  return Mix64(h ^ n);
}

inline uint64_t FixedHash(std::string_view s, uint64_t seed) {
  return FixedHash(s.data(), s.size(), seed);
}

}  // namespace credwatch

#endif  // CREDWATCH_COMMON_FIXED_HASH_H_
