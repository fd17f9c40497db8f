// Drives a simulated stretch: plans each day's sessions (benign and attack),
// expands them an hour at a time in start order, and hands every record to a
// sink in (time, seq) order. Records of sessions that run past the hour wait
// in a buffer, so memory holds about one hour of records, whatever the
// length of the stretch. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_TIMELINE_H_
#define CREDWATCH_REPLAY_SIMULATOR_TIMELINE_H_

#include <cstdint>

#include "replay/simulator/estate.h"
#include "replay/simulator/record.h"
#include "replay/simulator/scenarios.h"

namespace credwatch::sim {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Called once per record, in non-decreasing time order.
  virtual void Consume(const Record& r) = 0;
};

struct TimelineStats {
  int64_t records = 0;
  int64_t attack_records = 0;
  int64_t records_after_end = 0;
  size_t peak_buffered = 0;  // most records held at once
};

TimelineStats RunTimeline(const Estate& estate, const AttackPlan& plan, RecordSink& sink);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_TIMELINE_H_
