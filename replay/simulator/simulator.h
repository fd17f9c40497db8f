// `credwatch simulate`: writes a labeled stretch of a hospital-software
// vendor's legacy estate — benign life plus the breach and its variants — in
// the formats credwatch reads, for replay tests and benchmarks.
//
//   credwatch::sim::SimulateOptions options;
//   options.out_dir = "/tmp/month";
//   options.seed = 7;
//   absl::StatusOr<credwatch::sim::SimulateSummary> summary =
//       credwatch::sim::Simulate(options);
//
// OUT_DIR then holds cloudtrail.ndjson, cloudtrail/*.json.gz, journal.ndjson,
// flows.ndjson, labels.json and credwatch.yaml (docs/simulate.md describes
// every file and the labels schema).
//
// Deterministic: the same options give byte-identical files on the same build.
// Streaming: memory does not grow with the number of events (it grows with
// the number of people in the estate and with one hour of records).
// Thread-compatible: concurrent calls must use different out_dirs.
#ifndef CREDWATCH_REPLAY_SIMULATOR_SIMULATOR_H_
#define CREDWATCH_REPLAY_SIMULATOR_SIMULATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace credwatch::sim {

// 2025-01-06T00:00:00Z, a Monday.
inline constexpr int64_t kDefaultStartTimeNs = 1736121600LL * 1'000'000'000LL;

struct SimulateOptions {
  // Length of the simulated stretch in days, 1..3660. With fewer than 10 days
  // the learning period before the first attack shrinks to days/2 (see
  // docs/simulate.md). Default 30.
  int days = 30;
  // Number of customer hospitals t001..tNNN, 1..999. Default 12.
  int tenants = 12;
  // Everything generated is a function of the options and this seed.
  uint64_t seed = 1;
  // About how many records to write in total; 0 = the estate's natural volume
  // (a few hundred thousand for the defaults). The benign population and its
  // activity scale; the attacks stay the same size.
  int64_t target_events = 0;
  // Created if missing. Files of an earlier run are overwritten, stale
  // delivery files in OUT_DIR/cloudtrail/ removed.
  std::string out_dir;
  // Start of the stretch, ns since the epoch, UTC. Rounded down to midnight.
  int64_t start_time_ns = kDefaultStartTimeNs;
  // The rule directory the written credwatch.yaml points at. Relative paths
  // are taken from the current directory; the config gets the path relative
  // to out_dir, because config paths resolve against the config file's
  // directory (docs/config.md). Default "rules": run simulate from the
  // repository root and the replay finds the project's rules from anywhere.
  std::string rules_dir = "rules";
};

struct SimulateSummary {
  int64_t events = 0;                       // records written, all files
  int64_t bytes = 0;                        // uncompressed bytes of those records (incl. newlines)
  int64_t journal_records = 0;              // journal.ndjson lines
  int64_t flow_records = 0;                 // flows.ndjson lines
  int64_t cloudtrail_ndjson_records = 0;    // cloudtrail.ndjson lines
  int64_t cloudtrail_delivery_records = 0;  // records inside cloudtrail/*.json.gz
  int64_t cloudtrail_delivery_files = 0;
  int attacks = 0;            // entries in labels.json "attacks"
  int benign_lookalikes = 0;  // entries in labels.json "benign_lookalikes"
  int64_t start_ns = 0;       // the simulated stretch [start_ns, end_ns)
  int64_t end_ns = 0;
  // Records written with event time at or after end_ns (sessions that began
  // before the end and were still open).
  int64_t records_after_end = 0;
};

// Generates the estate into options.out_dir. Fails on invalid options and on
// I/O errors (the files written so far are then incomplete).
absl::StatusOr<SimulateSummary> Simulate(const SimulateOptions& options);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_SIMULATOR_H_
