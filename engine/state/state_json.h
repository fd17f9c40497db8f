// JSON views of durable state for `credwatch state show|export`
// (docs/state.md, "Inspecting state"). Internal header (engine/state, cli).
#ifndef CREDWATCH_STATE_STATE_JSON_H_
#define CREDWATCH_STATE_STATE_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "state/state_store.h"

namespace credwatch::state {

// Appends one `profiles` record as a JSON object (one line):
// {"credential", "latest", "first_active", "last_active", "home_tenant",
//  "networks", "hosts", "destinations", "tenants", "failures", "reads"}.
// Hosts, destinations and tenants are stored as hashes (profiles keep no
// names); networks are decoded to their /24 or /48 prefix. Fails on a
// damaged record or a profile format this build does not know.
absl::Status AppendProfileJson(std::string_view credential, std::string_view record,
                               std::string* out);

// Appends the summary of a state directory as one JSON object (one line):
// format, run, cursor (events, watermarks, per input the next offset),
// output, outbox and profile counts, whether correlation windows are saved.
absl::Status AppendStateSummaryJson(const StateStore& store, std::string* out);

// Re-indents one-line JSON with two spaces per level, for people.
std::string PrettyJson(std::string_view json);

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_STATE_JSON_H_
