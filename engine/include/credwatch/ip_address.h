// IP addresses and CIDR networks, parsed without allocation.
//
//   auto ip = credwatch::IpAddress::Parse("198.51.100.7");
//   auto net = credwatch::Cidr::Parse("198.51.100.0/24");
//   if (ip && net && net->Contains(*ip)) { ... }
//
// IPv4 addresses are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d) so one
// comparison covers both families. Value types; thread-compatible.
#ifndef CREDWATCH_IP_ADDRESS_H_
#define CREDWATCH_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace credwatch {

class IpAddress {
 public:
  IpAddress() = default;  // the unspecified address "::", is_valid() false

  // Accepts dotted IPv4, IPv6 (with "::" and an embedded IPv4 tail), and
  // either one in brackets ("[::1]"). Zone ids ("%eth0") are ignored.
  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress FromV4(uint32_t host_order);

  bool is_valid() const { return valid_; }
  bool is_v4() const;
  // The network prefix used for "new source network": /24 for IPv4, /48 for IPv6.
  IpAddress Prefix(int v4_bits = 24, int v6_bits = 48) const;
  std::string ToString() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  uint64_t Hash() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.valid_ == b.valid_ && a.bytes_ == b.bytes_;
  }
  friend bool operator<(const IpAddress& a, const IpAddress& b) { return a.bytes_ < b.bytes_; }

 private:
  std::array<uint8_t, 16> bytes_{};
  bool valid_ = false;
};

// A network: address plus prefix length (in IPv6 bits; IPv4 prefixes are +96).
class Cidr {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
  static std::optional<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& ip) const;
  std::string ToString() const;

 private:
  IpAddress base_;
  int bits_ = 0;  // 0..128
};

}  // namespace credwatch

#endif  // CREDWATCH_IP_ADDRESS_H_
