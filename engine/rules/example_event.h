// Builds Events from the example events of a rule file (x-credwatch-tests):
// builtin field names ("credential", "src.ip", "profile.src_new", "time") set
// the normalized fields; any other name is a source field of the rule's
// namespace and goes to Event::extras under the RuleSet's id for it.
// Internal header; used by `rules test` and tests.
#ifndef CREDWATCH_RULES_EXAMPLE_EVENT_H_
#define CREDWATCH_RULES_EXAMPLE_EVENT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "credwatch/event_batch.h"
#include "rules/compiled.h"

namespace credwatch::rules::internal {

// Example events without a `time` follow each other one second apart from
// this instant (2025-01-01T00:00:00Z).
inline constexpr int64_t kExampleStartNs = 1735689600LL * 1'000'000'000LL;

// Appends the event to `batch` (strings in its arena). `default_time` is used
// when the event has no `time`. Fails on a value that does not fit its field.
absl::Status BuildExampleEvent(const RuleSetData& data, Namespace ns, const ExampleEvent& example,
                               int64_t default_time, EventBatch* batch);

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_EXAMPLE_EVENT_H_
