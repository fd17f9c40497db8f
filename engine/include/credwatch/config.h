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

struct Config {
  std::string path;                          // the file this came from ("" = defaults)
  std::string state_dir = "./credwatch-state";
  std::vector<std::string> rules;            // files or directories; default none
  std::string dead_letter;                   // file for rejected records; "" = none
  SiteConfig site;
  ProfileConfig profile;
  ReplayConfig replay;
  DecodeLimits limits;
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
