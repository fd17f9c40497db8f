#include "credwatch/ip_address.h"

#include <cstdio>
#include <cstring>

namespace credwatch {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool ParseV4(std::string_view s, uint8_t out[4]) {
  int part = 0;
  size_t i = 0;
  while (part < 4) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    unsigned v = 0;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      if (v > 255 || i - start >= 3) return false;
      ++i;
    }
    if (i - start > 1 && s[start] == '0') return false;  // no octal-looking octets
    out[part++] = static_cast<uint8_t>(v);
    if (part < 4) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseV6(std::string_view s, uint8_t out[16]) {
  uint16_t groups[8] = {};
  int n = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
    if (i == s.size()) {
      std::memset(out, 0, 16);
      return true;
    }
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    if (n >= 8) return false;
    // An embedded IPv4 tail.
    size_t next_colon = s.find(':', i);
    std::string_view token = s.substr(i, next_colon == std::string_view::npos ? s.npos : next_colon - i);
    if (token.find('.') != std::string_view::npos) {
      if (next_colon != std::string_view::npos || n > 6) return false;
      uint8_t v4[4];
      if (!ParseV4(token, v4)) return false;
      groups[n++] = static_cast<uint16_t>(v4[0] << 8 | v4[1]);
      groups[n++] = static_cast<uint16_t>(v4[2] << 8 | v4[3]);
      i = s.size();
      break;
    }
    if (token.empty() || token.size() > 4) return false;
    unsigned v = 0;
    for (char c : token) {
      int h = HexValue(c);
      if (h < 0) return false;
      v = v << 4 | static_cast<unsigned>(h);
    }
    groups[n++] = static_cast<uint16_t>(v);
    i += token.size();
    if (i < s.size()) {
      ++i;  // ':'
      if (i < s.size() && s[i] == ':') {
        if (gap >= 0) return false;
        gap = n;
        ++i;
      } else if (i == s.size()) {
        return false;  // trailing single ':'
      }
    }
  }
  if (gap < 0 && n != 8) return false;
  if (gap >= 0 && n > 7) return false;
  uint16_t full[8] = {};
  if (gap < 0) {
    std::memcpy(full, groups, sizeof(full));
  } else {
    int tail = n - gap;
    for (int k = 0; k < gap; ++k) full[k] = groups[k];
    for (int k = 0; k < tail; ++k) full[8 - tail + k] = groups[gap + k];
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<uint8_t>(full[k] >> 8);
    out[2 * k + 1] = static_cast<uint8_t>(full[k] & 0xff);
  }
  return true;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (size_t pct = text.find('%'); pct != std::string_view::npos) text = text.substr(0, pct);
  if (text.empty() || text.size() > 45) return std::nullopt;
  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    uint8_t v4[4];
    if (!ParseV4(text, v4)) return std::nullopt;
    std::memcpy(ip.bytes_.data(), kV4MappedPrefix.data(), 12);
    std::memcpy(ip.bytes_.data() + 12, v4, 4);
  } else if (!ParseV6(text, ip.bytes_.data())) {
    return std::nullopt;
  }
  ip.valid_ = true;
  return ip;
}

IpAddress IpAddress::FromV4(uint32_t host_order) {
  IpAddress ip;
  std::memcpy(ip.bytes_.data(), kV4MappedPrefix.data(), 12);
  ip.bytes_[12] = static_cast<uint8_t>(host_order >> 24);
  ip.bytes_[13] = static_cast<uint8_t>(host_order >> 16);
  ip.bytes_[14] = static_cast<uint8_t>(host_order >> 8);
  ip.bytes_[15] = static_cast<uint8_t>(host_order);
  ip.valid_ = true;
  return ip;
}

bool IpAddress::is_v4() const {
  return valid_ && std::memcmp(bytes_.data(), kV4MappedPrefix.data(), 12) == 0;
}

IpAddress IpAddress::Prefix(int v4_bits, int v6_bits) const {
  IpAddress out = *this;
  int bits = is_v4() ? 96 + v4_bits : v6_bits;
  for (int b = 0; b < 16; ++b) {
    int keep = bits - 8 * b;
    if (keep >= 8) continue;
    out.bytes_[b] = keep <= 0 ? 0 : static_cast<uint8_t>(out.bytes_[b] & (0xff << (8 - keep)));
  }
  return out;
}

std::string IpAddress::ToString() const {
  if (!valid_) return "";
  char buf[64];
  if (is_v4()) {
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", bytes_[12], bytes_[13], bytes_[14], bytes_[15]);
    return buf;
  }
  // RFC 5952: lowercase, the longest run (>1) of zero groups as "::".
  uint16_t g[8];
  for (int k = 0; k < 8; ++k) g[k] = static_cast<uint16_t>(bytes_[2 * k] << 8 | bytes_[2 * k + 1]);
  int best = -1, best_len = 1;
  for (int k = 0; k < 8;) {
    if (g[k] != 0) { ++k; continue; }
    int j = k;
    while (j < 8 && g[j] == 0) ++j;
    if (j - k > best_len) { best = k; best_len = j - k; }
    k = j;
  }
  std::string out;
  for (int k = 0; k < 8; ++k) {
    if (k == best) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof(buf), "%x", g[k]);
    out += buf;
  }
  return out;
}

uint64_t IpAddress::Hash() const {
  uint64_t a, b;
  std::memcpy(&a, bytes_.data(), 8);
  std::memcpy(&b, bytes_.data() + 8, 8);
  uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 29);
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto ip = IpAddress::Parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  Cidr c;
  c.base_ = *ip;
  int max_bits = ip->is_v4() ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view b = text.substr(slash + 1);
    if (b.empty() || b.size() > 3) return std::nullopt;
    bits = 0;
    for (char ch : b) {
      if (ch < '0' || ch > '9') return std::nullopt;
      bits = bits * 10 + (ch - '0');
    }
    if (bits > max_bits) return std::nullopt;
  }
  c.bits_ = ip->is_v4() ? bits + 96 : bits;
  c.base_ = c.base_.Prefix(c.bits_ - 96, c.bits_);
  return c;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (!ip.is_valid()) return false;
  const auto& a = ip.bytes();
  const auto& b = base_.bytes();
  int full = bits_ / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = bits_ % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

std::string Cidr::ToString() const {
  int shown = base_.is_v4() ? bits_ - 96 : bits_;
  return base_.ToString() + "/" + std::to_string(shown);
}

}  // namespace credwatch
