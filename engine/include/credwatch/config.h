// credwatch's configuration file (YAML), as documented in docs/config.md.
//
//   absl::StatusOr<credwatch::Config> config = credwatch::LoadConfig("credwatch.yaml");
//   if (!config.ok()) { std::cerr << config.status().message(); }  // "file:line: ..."
//
// Every key is optional; defaults are documented beside each field. Unknown
// keys are errors (a typo must not silently fall back to a default).
// Relative paths are resolved against the directory of the config file.
// Value types; thread-compatible.
#ifndef CREDWATCH_CONFIG_H_
#define CREDWATCH_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "credwatch/decoder.h"

namespace credwatch {

struct TenantConfig {
  // RE2 patterns with a named group `tenant`, tried in order on the credential.
  std::vector<std::string> credential_patterns;
  // The same on object paths / keys / ARNs.
  std::vector<std::string> object_patterns;
  // A CSV of "credential,tenant" lines; exact matches win over patterns. "" = none.
  std::string credential_csv;
  // Globs (`*`, `?`) of credentials that legitimately span tenants (backup, support).
  std::vector<std::string> multi_tenant_credentials;
};

struct SiteConfig {
  std::vector<std::string> internal_networks;     // CIDRs; default none
  std::vector<std::string> internal_accounts;     // cloud account ids
  std::vector<std::string> trusted_destinations;  // CIDRs, addresses or account ids
  TenantConfig tenants;
};

struct ProfileConfig {
  int64_t learning_period_ns = 7LL * 86400 * 1'000'000'000;  // default 7d
};

struct ReplayConfig {
  // How far out of event-time order inputs may be (default 10m). Records later
  // than that are still processed, and counted as "late".
  int64_t max_disorder_ns = 10LL * 60 * 1'000'000'000;
};

// `state:` — durable state (docs/state.md); replay flags override these.
struct StateConfig {
  std::string sync = "commit";                        // "commit" (fsync per commit) | "none"
  int64_t memory_budget_bytes = int64_t{512} << 20;   // default 512MiB
  int64_t retention_ns = 400LL * 86400 * 1'000'000'000;  // default 400d
  int64_t commit_interval_ns = 1'000'000'000;         // default 1s
  int64_t commit_events = 300'000;                    // default 300000
};

// One entry of `inputs:` (the daemon, docs/daemon.md).
struct InputConfig {
  int line = 0;                      // where the entry is, for messages
  std::string type;                  // file | syslog | http
  std::vector<std::string> paths;    // file: globs
  Format format = Format::kAuto;     // default auto (detected per stream)
  std::string listen;                // syslog: tcp://HOST:PORT | udp://HOST:PORT; http: HOST:PORT
  std::string token_file;            // http: file holding the bearer token
  int64_t max_message_bytes = 64 << 10;  // syslog: default 64KiB
  int64_t max_body_bytes = 8 << 20;      // http: default 8MiB
};

// One entry of `outputs:` (the daemon).
struct OutputConfig {
  int line = 0;
  std::string type;                        // file | stdout | syslog | webhook
  std::string path;                        // file
  int64_t max_size = int64_t{100} << 20;   // file: rotate above this; default 100MiB; 0 = never
  int keep = 10;                           // file: rotated files kept; default 10
  bool sync = true;                        // file: fdatasync each delivery; default true
  std::string url;                         // webhook: http://HOST:PORT/PATH
  std::string token_file;                  // webhook: bearer token file; default none
  int64_t timeout_ns = 5'000'000'000;      // webhook: default 5s
  std::string target = "unix:///dev/log";  // syslog: unix://PATH | udp://H:P | tcp://H:P
};

// `admin:` — the daemon's admin listener (/metrics, /healthz, /readyz).
struct AdminConfig {
  std::string listen = "127.0.0.1:9109";  // "" or "off" = no admin listener
};

// `daemon:` — the rest of `credwatch run`.
struct DaemonConfig {
  int64_t queue_bytes = int64_t{64} << 20;   // ingest queue bound; default 64MiB
  int64_t poll_interval_ns = 250'000'000;    // file tail poll; default 250ms
  // A source that sent nothing for this long stops holding the watermark
  // back; default 30s.
  int64_t idle_source_ns = 30'000'000'000;
  // How far behind the slowest active source the event-time merge holds
  // events, so records out of order by up to this much are put in order.
  // Default 0 (an alert waits for nothing but the slowest source); set
  // replay.max_disorder for exactly replay's order (alerts wait that long).
  int64_t reorder_window_ns = 0;
  int64_t stop_timeout_ns = 30'000'000'000;  // drain on SIGTERM; default 30s
  bool watch_rules = true;                   // reload when a rule file changes; default true
  // Detection shard threads; 0 = on the pipeline thread; default -1, one
  // per core. A state_dir keeps the number it was started with.
  int shards = -1;
};

struct Config {
  std::string path;                          // the file this came from ("" = defaults)
  std::string state_dir = "./credwatch-state";
  std::vector<std::string> rules;            // files or directories; default none
  std::string dead_letter;                   // file for rejected records; "" = none
  SiteConfig site;
  ProfileConfig profile;
  ReplayConfig replay;
  DecodeLimits limits;
  StateConfig state;
  std::vector<InputConfig> inputs;
  std::vector<OutputConfig> outputs;
  AdminConfig admin;
  DaemonConfig daemon;
};

// Loads and validates a config file. Errors read "FILE:LINE: what is wrong;
// what to change".
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Parses "90s", "10m", "12h", "7d", "500ms" (a bare number is seconds).
absl::StatusOr<int64_t> ParseDurationNs(std::string_view text);
// Parses "512", "64KiB", "1MiB", "100MB", "2GiB".
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

}  // namespace credwatch

#endif  // CREDWATCH_CONFIG_H_
