#include "replay/simulator/timeline.h"

#include <algorithm>
#include <vector>

#include "replay/simulator/activity.h"
#include "replay/simulator/session.h"

namespace credwatch::sim {
namespace {

class Timeline {
 public:
  Timeline(const Estate& estate, const AttackPlan& plan, RecordSink& sink)
      : estate_(estate), plan_(plan), sink_(sink), emitter_(estate, &pending_) {}

  TimelineStats Run() {
    const int64_t end_ns = estate_.DayStart(estate_.days);
    std::vector<Session> sessions;
    for (int day = 0; day < estate_.days; ++day) {
      sessions.clear();
      PlanBenignDay(estate_, day, &sessions);
      PlanAttackDay(plan_, estate_, day, &sessions);
      std::sort(sessions.begin(), sessions.end(), [](const Session& a, const Session& b) {
        return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.key < b.key;
      });
      size_t next = 0;
      for (int hour = 0; hour < 24; ++hour) {
        const int64_t slice_end = estate_.DayStart(day) + (hour + 1) * kHour;
        while (next < sessions.size() && sessions[next].start_ns < slice_end) {
          const Session& s = sessions[next++];
          if (s.kind == SessionKind::kAttack) {
            ExpandAttack(s, plan_, emitter_);
          } else {
            ExpandBenign(s, emitter_);
          }
        }
        Flush(slice_end, end_ns);
      }
    }
    Flush(INT64_MAX, end_ns);
    return stats_;
  }

 private:
  // Hands over every pending record older than `limit`.
  void Flush(int64_t limit, int64_t end_ns) {
    stats_.peak_buffered = std::max(stats_.peak_buffered, pending_.size());
    std::sort(pending_.begin(), pending_.end(), [](const Record& a, const Record& b) {
      return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.seq < b.seq;
    });
    size_t n = 0;
    for (; n < pending_.size() && pending_[n].time_ns < limit; ++n) {
      const Record& r = pending_[n];
      ++stats_.records;
      if (r.attack >= 0) ++stats_.attack_records;
      if (r.time_ns >= end_ns) ++stats_.records_after_end;
      sink_.Consume(r);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  const Estate& estate_;
  const AttackPlan& plan_;
  RecordSink& sink_;
  std::vector<Record> pending_;
  Emitter emitter_;
  TimelineStats stats_;
};

}  // namespace

TimelineStats RunTimeline(const Estate& estate, const AttackPlan& plan, RecordSink& sink) {
  Timeline t(estate, plan, sink);
  return t.Run();
}

}  // namespace credwatch::sim
