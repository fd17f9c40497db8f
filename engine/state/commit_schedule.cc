#include "state/commit_schedule.h"

#include <algorithm>
#include <cmath>

#include "common/fixed_hash.h"

namespace credwatch::state {
namespace {

constexpr uint64_t kSeed = 0x636f6d6d6974ULL;  // "commit"

}  // namespace

CommitSchedule::CommitSchedule(const StateOptions& options)
    : events_(std::max<int64_t>(options.commit_events, 1)),
      interval_(std::chrono::nanoseconds(std::max<int64_t>(options.commit_interval_ns, 0))),
      bits_(kBits / 64, 0) {
  // n distinct hashes into m bits set m (1 - e^(-n/m)) of them, expected.
  const int64_t limit = options.commit_credentials > 0
                            ? options.commit_credentials
                            : std::max<int64_t>(1024, options.memory_budget_bytes / (16 << 10));
  const double n = static_cast<double>(limit);
  const double m = static_cast<double>(kBits);
  ones_limit_ = std::max<uint64_t>(1, static_cast<uint64_t>(m * -std::expm1(-n / m)));
}

void CommitSchedule::OnEvent(const Event& e) {
  ++since_;
  if (e.credential.empty()) return;
  const uint64_t bit = FixedHash(e.credential, kSeed) & (kBits - 1);
  uint64_t& word = bits_[bit >> 6];
  const uint64_t mask = uint64_t{1} << (bit & 63);
  if ((word & mask) == 0) ++ones_;
  word |= mask;
}

bool CommitSchedule::Due() {
  const Clock::time_point now = Clock::now();
  if (since_ < events_ && ones_ < ones_limit_ && now - last_ < interval_) return false;
  since_ = 0;
  last_ = now;
  if (ones_ > 0) std::fill(bits_.begin(), bits_.end(), 0);
  ones_ = 0;
  return true;
}

uint64_t CommitSchedule::credentials() const {
  // The inverse: n = -m ln(1 - ones/m).
  const double m = static_cast<double>(kBits);
  const double ones = static_cast<double>(std::min(ones_, kBits - 1));  // saturated: a bound
  return static_cast<uint64_t>(-m * std::log1p(-ones / m));
}

}  // namespace credwatch::state
