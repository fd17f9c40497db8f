#include <charconv>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "credwatch/config.h"
#include "replay/replay.h"

namespace credwatch::cli {
namespace {

constexpr const char* kReplayUsage = R"(usage: credwatch replay [options] PATH...

Reads every input (files, directories recursively in name order, .gz, or - for
stdin), merges them in event-time order and writes alerts (default) or the
normalized events. A summary goes to stderr.

options:
  --config FILE       site config (docs/config.md); default: none (no site facts)
  --format NAME       auto (default), cloudtrail, journald, syslog, ocsf, native, mapping
  --mapping FILE      the YAML mapping for --format mapping (docs/formats/mapping.md)
  --emit WHAT         alerts (default) or events
  --output FILE       where to write them; default stdout
  --report FILE       write the incident report (what each credential took) there
  --rules PATH        rule file or directory (repeatable as a comma list); overrides the config
  --max-disorder DUR  how far inputs may be out of order (default 10m)
  --dead-letter FILE  append rejected records there (source, offset, reason, first bytes)
  --shards N          detection threads (docs/runtime.md); default one per core; 0 runs
                      detection on the reading thread. The alerts do not depend on N.
                      With --state-dir a resume keeps the shards its state was written by
  --quiet             no summary on stderr

durable state (docs/state.md; alerts only):
  --state-dir DIR     commit state there and, when the same replay is run again after a
                      crash, resume where it stopped. Default: the config's state_dir if the
                      config sets one, else none (stateless)
  --no-state          stateless, even when the config sets state_dir
  --sync POLICY       commit (default): fsync each commit and the output; none: survives a
                      killed process, not a power loss
  --memory-budget SIZE  memory for state (default 512MiB); colder profiles are evicted
  --retention DUR     drop credentials idle this long (default 400d)
  --commit-interval DUR  commit once this much time (default 1s) ...
  --commit-events N   ... or this many events (default 300000) have passed
                      (defaults come from the config's `state:` keys when it sets them)

exit status: 0 done; 1 done but records were rejected; 2 usage/config/rule error;
3 input or output failure.
)";

// The durable-state flags; returns an error message, "" when fine.
std::string ApplyStateOptions(const Args& args, replay::ReplayOptions* opts) {
  state::StateOptions& st = opts->state;
  const bool config_sets_dir = opts->config.state_dir != Config{}.state_dir;
  if (args.Has("state-dir")) {
    st.dir = args.Get("state-dir");
    if (st.dir.empty()) return "--state-dir needs a directory";
  } else if (config_sets_dir && opts->emit == replay::Emit::kAlerts) {
    st.dir = opts->config.state_dir;
  }
  if (args.Has("no-state")) st.dir.clear();
  // The config's `state:` keys are the defaults of the flags.
  const std::string dir = st.dir;
  st = state::StateOptionsFromConfig(opts->config);
  st.dir = dir;
  if (!st.dir.empty() && opts->emit != replay::Emit::kAlerts) {
    return "--state-dir applies to --emit alerts only";
  }
  if (args.Has("sync") && !state::ParseSyncPolicy(args.Get("sync"), &st.sync)) {
    return "--sync takes 'commit' or 'none', not '" + args.Get("sync") + "'";
  }
  if (args.Has("memory-budget")) {
    auto v = ParseByteSize(args.Get("memory-budget"));
    if (!v.ok() || *v <= 0) return "--memory-budget takes a size such as 512MiB";
    st.memory_budget_bytes = *v;
  }
  struct {
    const char* flag;
    int64_t* target;
  } const durations[] = {{"retention", &st.retention_ns}, {"commit-interval", &st.commit_interval_ns}};
  for (const auto& d : durations) {
    if (!args.Has(d.flag)) continue;
    auto v = ParseDurationNs(args.Get(d.flag));
    if (!v.ok() || *v < 0) return std::string("--") + d.flag + " takes a duration such as 400d or 1s";
    *d.target = *v;
  }
  if (args.Has("commit-events")) {
    const std::string n = args.Get("commit-events");
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
    if (ec != std::errc() || ptr != n.data() + n.size() || v < 1) {
      return "--commit-events takes a whole number >= 1";
    }
    st.commit_events = v;
  }
  return "";
}

}  // namespace

int ReplayCommand(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 2,
                  {"config", "format", "mapping", "emit", "output", "report", "rules", "max-disorder",
                   "dead-letter", "shards", "state-dir", "sync", "memory-budget", "retention",
                   "commit-interval", "commit-events"},
                  {"quiet", "help", "no-state"}, &error)) {
    std::fprintf(stderr, "credwatch replay: %s\n\n%s", error.c_str(), kReplayUsage);
    return kExitUsage;
  }
  if (args.Has("help")) {
    std::fputs(kReplayUsage, stdout);
    return kExitOk;
  }
  replay::ReplayOptions opts;
  if (args.Has("config")) {
    auto config = LoadConfig(args.Get("config"));
    if (!config.ok()) {
      std::fprintf(stderr, "credwatch replay: %s\n", std::string(config.status().message()).c_str());
      return kExitUsage;
    }
    opts.config = *config;
  }
  if (args.Has("format")) {
    auto f = ParseFormat(args.Get("format"));
    if (!f) {
      std::fprintf(stderr, "credwatch replay: unknown --format '%s'\n", args.Get("format").c_str());
      return kExitUsage;
    }
    opts.format = *f;
  }
  if (args.Has("mapping")) {
    opts.mapping_file = args.Get("mapping");
    if (!args.Has("format")) opts.format = Format::kMapping;
  }
  std::string emit = args.Get("emit", "alerts");
  if (emit == "events") {
    opts.emit = replay::Emit::kEvents;
  } else if (emit != "alerts") {
    std::fprintf(stderr, "credwatch replay: --emit takes 'alerts' or 'events', not '%s'\n", emit.c_str());
    return kExitUsage;
  }
  if (args.Has("rules")) {
    opts.config.rules.clear();
    std::string list = args.Get("rules");
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      if (comma > pos) opts.config.rules.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  if (args.Has("max-disorder")) {
    auto d = ParseDurationNs(args.Get("max-disorder"));
    if (!d.ok()) {
      std::fprintf(stderr, "credwatch replay: --max-disorder: %s\n", std::string(d.status().message()).c_str());
      return kExitUsage;
    }
    opts.config.replay.max_disorder_ns = *d;
  }
  if (args.Has("dead-letter")) opts.config.dead_letter = args.Get("dead-letter");
  if (args.Has("shards") && !ParseShards(args.Get("shards"), "replay", &opts.shards)) return kExitUsage;
  if (std::string state_error = ApplyStateOptions(args, &opts); !state_error.empty()) {
    std::fprintf(stderr, "credwatch replay: %s\n", state_error.c_str());
    return kExitUsage;
  }
  opts.output = args.Get("output");
  opts.report = args.Get("report");
  opts.inputs = args.positional();
  if (opts.inputs.empty()) {
    std::fprintf(stderr, "credwatch replay: no input given (use - for stdin)\n\n%s", kReplayUsage);
    return kExitUsage;
  }
  auto summary = replay::RunReplay(opts);
  if (!summary.ok()) {
    std::fprintf(stderr, "credwatch replay: %s\n", std::string(summary.status().message()).c_str());
    return absl::IsInvalidArgument(summary.status()) || absl::IsNotFound(summary.status()) ||
                   absl::IsFailedPrecondition(summary.status())
               ? kExitUsage
               : kExitIo;
  }
  if (!args.Has("quiet")) std::fputs(replay::FormatSummary(*summary).c_str(), stderr);
  if (!summary->input_errors.empty()) return kExitIo;
  return summary->input.rejects() > 0 ? kExitRejects : kExitOk;
}

}  // namespace credwatch::cli
