// The detection path of `credwatch replay` with durable state: profiles,
// rules and folded alerts as in replay/detect_consumer.cc, written behind to
// the state database in batches and resumed from it after a crash
// (docs/state.md).
//
//   ReplayOptions opts = ...;            // opts.state.dir = "/var/lib/credwatch"
//   std::string note;
//   auto consumer = state::MakeDurableDetectionConsumer(opts, rules, &alerts, &note);
//   auto summary = replay::MergeInputs(opts, **consumer);
//
// Threads: the merge runs on the caller's thread; detection, the profiles
// and the commits on a second one, fed through a bounded ring of event
// batches (a full ring blocks the merge). The merge thread picks the commit
// points and sends, in-band, where the inputs stand at each.
//
// A commit happens at a watermark (a consistent cut of the merge) once
// StateOptions::commit_interval_ns or commit_events have passed, and at the
// end. One WriteBatch holds: the profiles changed since the last commit, the
// correlation groups that changed or closed (Evaluator::SerializeChanges), the
// detections offered to the alert folder, the merge cursor (events and
// watermarks delivered; per input that moved, its identity and next record
// offset), the new alerts (into the outbox), and the removal from the outbox
// of the alerts the output file has confirmed, with the file's confirmed
// length.
// Alerts are written to the output only after the commit that holds them,
// then fsynced (sync policy `commit`), and leave the outbox in the next
// commit.
//
// Resume (the same command run again on the same state_dir): the run must be
// the same (inputs with the same identity, rules, config, output), else it
// is refused. The output file is cut back to its confirmed length and the
// outbox written to it. The merge then runs again from the start (it is
// deterministic, so the event sequence is the same), and the first `events`
// events and `watermarks` watermarks of the cut are not processed again:
//   fast resume     (the normal case) the correlation windows are restored
//                   from the cut, profiles load from the database on demand,
//                   the alert folder is rebuilt from its journal, the
//                   live-session table from the skipped events (it depends on
//                   event fields only). Costs a re-read and decode of the
//                   committed prefix.
//   rebuild resume  when the windows record cannot be read by this build
//                   (another format): the prefix is processed again with
//                   output and commits suppressed and the database untouched;
//                   at the cut the state equals the committed one and the run
//                   goes on. Costs the prefix's processing time.
// Either way the alerts written across the killed and the resumed runs
// equal a clean run's, none twice (with --output FILE; a stream such as
// stdout cannot be cut back, so the outbox may repeat up to one commit of
// alerts there), and the profiles equal a clean run's.
#ifndef CREDWATCH_STATE_DURABLE_REPLAY_H_
#define CREDWATCH_STATE_DURABLE_REPLAY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "credwatch/rules.h"
#include "replay/replay.h"

namespace credwatch::state {

// Opens options.state (failing with its message on a locked, read-only,
// incompatible or corrupted state_dir, or a state of another run), prepares
// the output file and restores what the last commit holds. `note`, if given,
// receives one line about the resume for the summary ("" for a fresh start).
absl::StatusOr<std::unique_ptr<replay::EventConsumer>> MakeDurableDetectionConsumer(
    const replay::ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
    replay::DetectionTally* tally, std::string* note);

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_DURABLE_REPLAY_H_
