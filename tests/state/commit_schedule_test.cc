// A replay's commit points: the event count, the wall-clock interval, and
// the distinct credentials that bound the write-behind batch.
#include "state/commit_schedule.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "credwatch/event.h"
#include "credwatch/time_util.h"
#include "state/state_store.h"

namespace credwatch::state {
namespace {

StateOptions Limits(int64_t events, int64_t credentials) {
  StateOptions o;
  o.commit_events = events;
  o.commit_credentials = credentials;
  o.commit_interval_ns = 3600 * kNsPerSecond;  // never, in a test
  return o;
}

// Feeds events until the schedule is due (checking at every event, as if
// each were followed by a watermark); returns how many it took, 0 if never
// within `max`.
int64_t EventsUntilDue(CommitSchedule& schedule, int64_t max,
                       const std::function<std::string(int64_t)>& credential) {
  std::string name;
  for (int64_t i = 1; i <= max; ++i) {
    name = credential(i);
    Event e;
    e.credential = name;
    schedule.OnEvent(e);
    if (schedule.Due()) return i;
  }
  return 0;
}

TEST(CommitScheduleTest, ManyDistinctCredentialsCommitBeforeTheEventCount) {
  CommitSchedule schedule(Limits(300'000, 20'000));
  auto distinct = [](int64_t i) { return "user" + std::to_string(i); };
  const int64_t first = EventsUntilDue(schedule, 300'000, distinct);
  EXPECT_NEAR(static_cast<double>(first), 20'000, 20'000 * 0.05) << "the estimate is within 5%";
  // The counts restart at a commit: the next credentials are new again.
  const int64_t second = EventsUntilDue(schedule, 300'000, [&](int64_t i) { return distinct(first + i); });
  EXPECT_NEAR(static_cast<double>(second), 20'000, 20'000 * 0.05);
}

TEST(CommitScheduleTest, TheDefaultCredentialLimitFollowsTheMemoryBudget) {
  StateOptions o = Limits(300'000, 0);
  o.memory_budget_bytes = int64_t{64} << 20;  // 64 MiB / 16 KiB = 4096
  CommitSchedule schedule(o);
  const int64_t n = EventsUntilDue(schedule, 300'000, [](int64_t i) { return "u" + std::to_string(i); });
  EXPECT_NEAR(static_cast<double>(n), 4096, 4096 * 0.05);
}

TEST(CommitScheduleTest, FewCredentialsCommitAtTheEventCount) {
  CommitSchedule schedule(Limits(50'000, 20'000));
  // 500 credentials in turn, and events without one (host flows).
  auto few = [](int64_t i) { return i % 3 == 0 ? std::string() : "user" + std::to_string(i % 500); };
  EXPECT_EQ(EventsUntilDue(schedule, 200'000, few), 50'000);
  EXPECT_LE(schedule.credentials(), 10u) << "restarted at the commit";
  EXPECT_EQ(EventsUntilDue(schedule, 200'000, few), 50'000);
}

TEST(CommitScheduleTest, EstimatesDistinctCredentials) {
  CommitSchedule schedule(Limits(10'000'000, 10'000'000));
  Event e;
  std::string name;
  for (int i = 0; i < 300'000; ++i) {
    name = "svc-" + std::to_string(i % 150'000);  // each twice
    e.credential = name;
    schedule.OnEvent(e);
  }
  EXPECT_NEAR(static_cast<double>(schedule.credentials()), 150'000, 150'000 * 0.03);
}

}  // namespace
}  // namespace credwatch::state
