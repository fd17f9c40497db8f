// Benign life on the estate: hospital staff on their working hours (from the
// hospital, from home, from a hotel), vendor support across tenants, the
// nightly backup, the ETL exports and partner push, large internal exports,
// internet scanners, and the hosts' background flows. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_ACTIVITY_H_
#define CREDWATCH_REPLAY_SIMULATOR_ACTIVITY_H_

#include <vector>

#include "replay/simulator/estate.h"
#include "replay/simulator/session.h"

namespace credwatch::sim {

// 0 = Monday .. 6 = Sunday.
int Weekday(int64_t day_start_ns);

// Appends the benign sessions that start on `day` (0-based) of the stretch.
void PlanBenignDay(const Estate& estate, int day, std::vector<Session>* out);

// Expands one benign session (kind != kAttack) into records.
void ExpandBenign(const Session& session, Emitter& em);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_ACTIVITY_H_
