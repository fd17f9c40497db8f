// `credwatch run`: the daemon for log hosts (docs/daemon.md).
//
//   DaemonOptions opts;
//   opts.config_path = "/etc/credwatch/credwatch.yaml";
//   return RunDaemon(opts);   // returns when SIGTERM/SIGINT arrive, or on a fatal error
//
// Threads: one io thread (Boost.Asio: syslog and HTTP listeners, the admin
// listener, signals), one per file input (tail), the detection pipeline,
// one per alert sink (delivery), and the calling thread, which starts and
// stops the rest, reloads rules (SIGHUP, or a rule file changed) and pings
// the systemd watchdog while the pipeline is alive.
//
// Shutdown (SIGTERM/SIGINT): stop reading (tails, listeners), let the
// pipeline drain the ingest queue for at most daemon.stop_timeout, commit,
// let the sinks deliver what is committed (at most 10 s more), record what
// they confirmed, exit 0. Anything not delivered stays in the outbox for the
// next start.
#ifndef CREDWATCH_DAEMON_DAEMON_H_
#define CREDWATCH_DAEMON_DAEMON_H_

#include <string>
#include <vector>

namespace credwatch::daemon {

struct DaemonOptions {
  std::string config_path;
  // Overrides of the config (command-line flags); empty = the config's.
  std::vector<std::string> rules;
  std::string state_dir;
  int shards = -1;  // --shards; -1 = the config's
};

// Exit status: 0 stopped cleanly; 2 bad config or rules (the message says
// file:line and what to change); 3 cannot start (state_dir locked, port in
// use, ...) or a fatal error while running (disk full).
int RunDaemon(const DaemonOptions& options);

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_DAEMON_H_
