// Deterministic randomness for the simulator. Every draw comes from a
// generator seeded by hashing (run seed, what is being decided), so a session's
// records depend only on the seed and the session's identity, never on the
// order in which other sessions were expanded. Internal header.
//
//   Rng rng(Key(seed, day, actor, kSaltPlan));
//   int sessions = rng.Poisson(2.5);
//
// Value types; not thread-safe (one generator per decision).
#ifndef CREDWATCH_REPLAY_SIMULATOR_RANDOM_H_
#define CREDWATCH_REPLAY_SIMULATOR_RANDOM_H_

#include <cmath>
#include <cstdint>

namespace credwatch::sim {

// The splitmix64 finalizer: a bijective 64-bit mixer.
constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Hash of a tuple of integers; order matters.
constexpr uint64_t Key(uint64_t a) { return Mix64(a + 0x9e3779b97f4a7c15ULL); }
template <typename... Rest>
constexpr uint64_t Key(uint64_t a, uint64_t b, Rest... rest) {
  return Key(Mix64(a + 0x9e3779b97f4a7c15ULL) ^ (b * 0xd6e8feb86659fd93ULL), rest...);
}

// Uniform double in [0, 1) from 64 random bits.
constexpr double UnitFromBits(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

__extension__ typedef unsigned __int128 Uint128;

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& w : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      w = Mix64(x);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<Uint128>(Next()) * n) >> 64);
  }
  // Uniform in [lo, hi); hi > lo.
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo)));
  }
  double Uniform() { return UnitFromBits(Next()); }
  bool Chance(double p) { return Uniform() < p; }
  // Log-uniform in [lo, hi).
  double LogUniform(double lo, double hi) { return lo * std::exp(Uniform() * std::log(hi / lo)); }
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }
  double Normal() {
    // Box-Muller; one value per call keeps the stream simple.
    double u1 = 1.0 - Uniform();
    double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  int Poisson(double lambda) {
    if (lambda <= 0) return 0;
    if (lambda > 40) {
      double v = lambda + std::sqrt(lambda) * Normal();
      return v < 0 ? 0 : static_cast<int>(v + 0.5);
    }
    const double limit = std::exp(-lambda);
    double p = Uniform();
    int k = 0;
    while (p > limit) {
      p *= Uniform();
      ++k;
    }
    return k;
  }
  // Rounds x up or down at random so that the expectation is x.
  int64_t StochasticRound(double x) {
    double f = std::floor(x);
    return static_cast<int64_t>(f) + (Chance(x - f) ? 1 : 0);
  }

 private:
  static constexpr uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_RANDOM_H_
