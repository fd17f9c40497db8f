// `credwatch replay`: reads historical logs, merges them in event-time order
// and runs them through the engine (or writes the normalized events).
//
//   credwatch::replay::ReplayOptions opts;
//   opts.inputs = {"logs/"};
//   opts.emit = Emit::kAlerts;
//   auto summary = credwatch::replay::RunReplay(opts);
//
// Inputs are nearly ordered: each may be out of order by up to
// config.replay.max_disorder. The merge holds events until every input's
// watermark (latest time seen minus max_disorder) has passed them, then hands
// them on in (time, input, position) order, so the output depends only on the
// input bytes. Records later than the allowed disorder are still processed
// (never dropped) and counted as late.
#ifndef CREDWATCH_REPLAY_REPLAY_H_
#define CREDWATCH_REPLAY_REPLAY_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "credwatch/config.h"
#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/input.h"
#include "credwatch/rules.h"
#include "state/state_store.h"

namespace credwatch::replay {

enum class Emit { kEvents, kAlerts };

// ReplayOptions::shards: one shard thread per core.
inline constexpr int kShardsPerCore = -1;

struct ReplayOptions {
  std::vector<std::string> inputs;  // files, directories, "-" for stdin
  Format format = Format::kAuto;
  std::string mapping_file;         // for Format::kMapping
  Config config;
  Emit emit = Emit::kAlerts;
  std::string output;               // "" or "-" = stdout
  std::string report;               // incident report file ("" = none)
  // Detection threads (docs/runtime.md): N >= 1 runs the sharded runtime
  // with N shard threads; 0 runs detection on the reading thread. The alerts
  // are the same either way. Default kShardsPerCore:
  // std::thread::hardware_concurrency().
  int shards = kShardsPerCore;
  // Durable state (docs/state.md): with state.dir set, alerts mode commits
  // its state there and a re-run of the same replay resumes after a crash.
  // Default: no state.dir, stateless.
  state::StateOptions state;
  // Source fields the rules read, per format (set by RunReplay from the rules).
  std::function<const Projection*(Format)> projection_for;
};

// Where one input of the merge stands (for durable state, engine/state).
struct MergeInputPosition {
  std::string path;
  // Every record before this byte offset of the (decompressed) input has
  // been delivered; later records may have been too (the merge reorders).
  uint64_t next_offset = 0;
  uint64_t events_read = 0;
  bool done = false;
};
// Fills in the positions of the inputs that opened, in merge order.
using MergeCursorFn = std::function<void(std::vector<MergeInputPosition>*)>;

// Receives merged events in event-time order. Implementations own what they
// keep: the event's strings are valid only during OnEvent.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual void OnEvent(Event& event) = 0;
  // All events at or before `time_ns` have been delivered.
  virtual void OnWatermark(int64_t time_ns) = 0;
  virtual absl::Status Finish() = 0;
  // Optional. Before the first event the merge hands over a function that
  // reports where the inputs stand; call it from OnWatermark (a consistent
  // cut). Valid until Finish returns.
  virtual void AttachCursor(MergeCursorFn cursor) { (void)cursor; }
  // Optional. False once the consumer cannot take more events (its state
  // store failed, e.g. disk full): the merge stops reading and calls Finish,
  // which reports why.
  virtual bool WantsMore() const { return true; }
};

// What a detection consumer counts while it runs; read after Finish.
struct DetectionTally {
  int64_t alerts = 0;
  rules::WindowsDropped windows_dropped;
};

struct ReplaySummary {
  InputStats input;
  int64_t inputs = 0;
  int64_t late_events = 0;   // later than max_disorder behind their input
  int64_t events_out = 0;
  int64_t alerts = 0;
  // Open correlation windows dropped before their end, at the per-rule
  // group limit and over memory_budget's window share (durable state).
  rules::WindowsDropped windows_dropped;
  double seconds = 0;
  std::map<std::string, int64_t> events_by_format;
  std::map<std::string, int64_t> events_by_action;
  std::vector<std::string> input_errors;  // inputs that could not be opened
  std::string state;  // durable state: how the run started (resumed, ...); "" = none
};

// Reads and merges the inputs, handing every event to `consumer`.
absl::StatusOr<ReplaySummary> MergeInputs(const ReplayOptions& options, EventConsumer& consumer);

// The whole command: merge, then emit events or alerts to options.output.
absl::StatusOr<ReplaySummary> RunReplay(const ReplayOptions& options);

// The summary printed on stderr.
std::string FormatSummary(const ReplaySummary& summary);

}  // namespace credwatch::replay

#endif  // CREDWATCH_REPLAY_REPLAY_H_
