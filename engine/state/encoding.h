// Byte encodings of the records credwatch keeps in its state database:
// fixed-width little-endian integers and length-prefixed strings for values,
// big-endian integers for keys (so RocksDB's byte order is numeric order).
// Every record starts with a one-byte tag and a one-byte version, checked on
// decode: a record written by an incompatible build is an error, never
// misread. Internal header (engine/state only).
#ifndef CREDWATCH_STATE_ENCODING_H_
#define CREDWATCH_STATE_ENCODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace credwatch::state {

template <typename T>
void PutFixed(std::string* out, T v) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(v);
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

inline void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  PutFixed(out, bits);
}

inline void PutString(std::string* out, std::string_view s) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

inline void PutStrings(std::string* out, const std::vector<std::string>& v) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(v.size()));
  for (const std::string& s : v) PutString(out, s);
}

// Compact forms (newer records): LEB128 varints, signed values zigzagged,
// strings and lists with a varint length.
inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1); }
inline void PutVarString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}
inline void PutVarStrings(std::string* out, const std::vector<std::string>& v) {
  PutVarint(out, v.size());
  for (const std::string& s : v) PutVarString(out, s);
}

// A key that sorts numerically: the big-endian bytes of `v` after `prefix`.
inline std::string SeqKey(std::string_view prefix, uint64_t v) {
  std::string key(prefix);
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return key;
}

// The number a SeqKey(prefix, v) holds; 0 when `key` is not such a key.
inline uint64_t SeqFromKey(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 8 || key.substr(0, prefix.size()) != prefix) return 0;
  uint64_t v = 0;
  for (char c : key.substr(prefix.size())) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

// Reads what the Put functions wrote. Every Get returns false (and leaves the
// reader failed) when the input is too short: decoders check once at the end.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  template <typename T>
  bool Get(T* v) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    if (failed_ || data_.size() - pos_ < sizeof(T)) return Fail();
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i));
    }
    pos_ += sizeof(T);
    *v = static_cast<T>(u);
    return true;
  }
  bool GetDouble(double* v) {
    uint64_t bits = 0;
    if (!Get(&bits)) return false;
    std::memcpy(v, &bits, sizeof(bits));
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || data_.size() - pos_ < n) return Fail();
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool GetStrings(std::vector<std::string>* v) {
    uint32_t n = 0;
    // Each string costs at least its 4-byte length: a count beyond that is damage.
    if (!Get(&n) || n > (data_.size() - pos_) / 4) return Fail();
    v->resize(n);
    for (std::string& s : *v) {
      if (!GetString(&s)) return false;
    }
    return true;
  }
  bool GetVarint(uint64_t* v) {
    uint64_t u = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (failed_ || pos_ == data_.size()) return Fail();
      const auto byte = static_cast<unsigned char>(data_[pos_++]);
      u |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = u;
        return true;
      }
    }
    return Fail();  // more than 10 bytes
  }
  bool GetVarString(std::string* s) {
    std::string_view bytes;
    if (!GetVarBytes(&bytes)) return false;
    s->assign(bytes.data(), bytes.size());
    return true;
  }
  // As GetVarString, without a copy: `*s` points into the data.
  bool GetVarBytes(std::string_view* s) {
    uint64_t n = 0;
    if (!GetVarint(&n) || data_.size() - pos_ < n) return Fail();
    *s = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool GetVarStrings(std::vector<std::string>* v) {
    uint64_t n = 0;
    // Each string costs at least its length byte: a count beyond that is damage.
    if (!GetVarint(&n) || n > data_.size() - pos_) return Fail();
    v->resize(n);
    for (std::string& s : *v) {
      if (!GetVarString(&s)) return false;
    }
    return true;
  }
  // The bytes not read yet (and consumes them).
  std::string_view Rest() {
    std::string_view rest = failed_ ? std::string_view() : data_.substr(pos_);
    pos_ = data_.size();
    return rest;
  }
  // True when every read succeeded and nothing is left over.
  bool Done() const { return !failed_ && pos_ == data_.size(); }
  bool ok() const { return !failed_; }

 private:
  bool Fail() {
    failed_ = true;
    return false;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_ENCODING_H_
