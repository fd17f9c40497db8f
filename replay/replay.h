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

namespace credwatch::replay {

enum class Emit { kEvents, kAlerts };

struct ReplayOptions {
  std::vector<std::string> inputs;  // files, directories, "-" for stdin
  Format format = Format::kAuto;
  std::string mapping_file;         // for Format::kMapping
  Config config;
  Emit emit = Emit::kAlerts;
  std::string output;               // "" or "-" = stdout
  std::string report;               // incident report file ("" = none)
  // Source fields the rules read, per format (set by RunReplay from the rules).
  std::function<const Projection*(Format)> projection_for;
};

// Receives merged events in event-time order. Implementations own what they
// keep: the event's strings are valid only during OnEvent.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual void OnEvent(Event& event) = 0;
  // All events at or before `time_ns` have been delivered.
  virtual void OnWatermark(int64_t time_ns) = 0;
  virtual absl::Status Finish() = 0;
};

struct ReplaySummary {
  InputStats input;
  int64_t inputs = 0;
  int64_t late_events = 0;   // later than max_disorder behind their input
  int64_t events_out = 0;
  int64_t alerts = 0;
  double seconds = 0;
  std::map<std::string, int64_t> events_by_format;
  std::map<std::string, int64_t> events_by_action;
  std::vector<std::string> input_errors;  // inputs that could not be opened
};

// Reads and merges the inputs, handing every event to `consumer`.
absl::StatusOr<ReplaySummary> MergeInputs(const ReplayOptions& options, EventConsumer& consumer);

// The whole command: merge, then emit events or alerts to options.output.
absl::StatusOr<ReplaySummary> RunReplay(const ReplayOptions& options);

// The summary printed on stderr.
std::string FormatSummary(const ReplaySummary& summary);

}  // namespace credwatch::replay

#endif  // CREDWATCH_REPLAY_REPLAY_H_
