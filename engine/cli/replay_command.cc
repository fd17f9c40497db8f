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
  --quiet             no summary on stderr

exit status: 0 done; 1 done but records were rejected; 2 usage/config/rule error;
3 input or output failure.
)";

}  // namespace

int ReplayCommand(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 2,
                  {"config", "format", "mapping", "emit", "output", "report", "rules", "max-disorder",
                   "dead-letter"},
                  {"quiet", "help"}, &error)) {
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
    return absl::IsInvalidArgument(summary.status()) || absl::IsNotFound(summary.status())
               ? kExitUsage
               : kExitIo;
  }
  if (!args.Has("quiet")) std::fputs(replay::FormatSummary(*summary).c_str(), stderr);
  if (!summary->input_errors.empty()) return kExitIo;
  return summary->input.rejects() > 0 ? kExitRejects : kExitOk;
}

}  // namespace credwatch::cli
