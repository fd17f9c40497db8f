// When a replay commits (state/durable_replay.cc): at a watermark, once
// StateOptions::commit_events events, commit_credentials distinct
// credentials or commit_interval_ns of wall time have passed since the last
// commit, whichever comes first.
//
//   CommitSchedule schedule(state_options);
//   schedule.OnEvent(e);                  // every event the merge delivers
//   if (schedule.Due()) { ...commit... }  // at every watermark
//
// The credentials bound the write-behind batch, which holds every profile
// changed since the last commit (about 1 KB each, three times over while a
// commit is built, written and copied by RocksDB): a stream where most
// events bring a credential of their own commits sooner than the event
// count says, and the batch stays a fraction of the memory budget. They
// are counted by linear counting (a bitmap of credential hashes), so no set
// of names is kept; the estimate is within a few percent up to about twice
// the bitmap's bits (2^19), the default limit of a 16 GiB budget.
//
// Not thread-safe: the merge thread's.
#ifndef CREDWATCH_STATE_COMMIT_SCHEDULE_H_
#define CREDWATCH_STATE_COMMIT_SCHEDULE_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "credwatch/event.h"
#include "state/state_store.h"

namespace credwatch::state {

class CommitSchedule {
 public:
  explicit CommitSchedule(const StateOptions& options);

  void OnEvent(const Event& e);
  // At a watermark: whether to commit now (and if so, the counts restart).
  bool Due();
  // Distinct credentials since the last commit, estimated.
  uint64_t credentials() const;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kBits = uint64_t{1} << 19;  // 64 KiB

  const int64_t events_;
  const Clock::duration interval_;
  int64_t since_ = 0;
  Clock::time_point last_ = Clock::now();
  std::vector<uint64_t> bits_;
  uint64_t ones_ = 0;        // bits set
  uint64_t ones_limit_ = 0;  // bits commit_credentials distinct hashes set, expected
};

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_COMMIT_SCHEDULE_H_
