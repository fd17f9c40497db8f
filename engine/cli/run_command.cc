// `credwatch run`: the daemon (engine/daemon, docs/daemon.md).
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "daemon/daemon.h"

namespace credwatch::cli {
namespace {

constexpr const char* kRunUsage = R"(usage: credwatch run --config FILE [options]

Runs the daemon for log hosts: tails files, receives syslog (TCP/UDP) and HTTP
NDJSON, keeps per-credential state in the state_dir, writes alerts to the
configured outputs and serves /metrics, /healthz and /readyz on the admin
listener. Everything is configured in FILE (docs/config.md, docs/daemon.md;
deploy/credwatch.yaml is a commented example).

options:
  --config FILE     the configuration (required)
  --rules PATHS     rule files or directories, comma-separated (overrides the config's)
  --state-dir DIR   the state directory (overrides the config's)
  --shards N        detection threads (overrides daemon.shards; default one per
                    core; 0 detects on the pipeline thread). A state_dir keeps
                    the number it was started with.

signals: SIGHUP reloads the rules (a broken rule set is refused and the running
one kept); SIGTERM or SIGINT drain, commit and exit.

exit status: 0 stopped cleanly; 2 bad config or rules; 3 cannot start (state_dir
locked, port in use, ...) or a fatal error while running (disk full).
)";

}  // namespace

int RunCommand(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 2, {"config", "rules", "state-dir", "shards"}, {"help"}, &error)) {
    std::fprintf(stderr, "credwatch run: %s\n\n%s", error.c_str(), kRunUsage);
    return kExitUsage;
  }
  if (args.Has("help")) {
    std::fputs(kRunUsage, stdout);
    return kExitOk;
  }
  if (!args.Has("config")) {
    std::fprintf(stderr, "credwatch run: --config FILE is required\n\n%s", kRunUsage);
    return kExitUsage;
  }
  daemon::DaemonOptions opts;
  opts.config_path = args.Get("config");
  if (args.Has("rules")) {
    const std::string list = args.Get("rules");
    for (size_t pos = 0; pos <= list.size();) {
      size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      if (comma > pos) opts.rules.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  if (args.Has("state-dir")) opts.state_dir = args.Get("state-dir");
  if (args.Has("shards") && !ParseShards(args.Get("shards"), "run", &opts.shards)) return kExitUsage;
  return daemon::RunDaemon(opts);
}

}  // namespace credwatch::cli
