#include "credwatch/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "credwatch/ip_address.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

// A load error carries the YAML node's line.
struct ConfigError {
  int line;
  std::string message;
};

int LineOf(const YAML::Node& n) { return n.Mark().line + 1; }

[[noreturn]] void Fail(const YAML::Node& n, std::string message) {
  throw ConfigError{LineOf(n), std::move(message)};
}

std::string Scalar(const YAML::Node& n, std::string_view key) {
  if (!n.IsScalar()) Fail(n, absl::StrCat("'", Sv(key), "' must be a single value"));
  return n.as<std::string>();
}

std::vector<std::string> List(const YAML::Node& n, std::string_view key) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
    return out;
  }
  if (!n.IsSequence()) Fail(n, absl::StrCat("'", Sv(key), "' must be a list"));
  for (const auto& item : n) out.push_back(Scalar(item, key));
  return out;
}

// Walks a map, dispatching known keys and failing on unknown ones.
void ForEachKey(const YAML::Node& map, std::string_view where,
                const std::map<std::string, std::function<void(const YAML::Node&)>>& handlers) {
  if (map.IsNull()) return;
  if (!map.IsMap()) Fail(map, absl::StrCat("'", Sv(where), "' must be a map of keys"));
  for (const auto& kv : map) {
    std::string key = kv.first.as<std::string>();
    auto it = handlers.find(key);
    if (it == handlers.end()) {
      std::string known;
      for (const auto& [k, unused] : handlers) absl::StrAppend(&known, known.empty() ? "" : ", ", k);
      Fail(kv.first, absl::StrCat("unknown key '", key, "' in ", Sv(where), " (known: ", known, ")"));
    }
    it->second(kv.second);
  }
}

std::string Resolve(const fs::path& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || base.empty()) return p;
  return (base / p).lexically_normal().string();
}

int64_t Duration(const YAML::Node& n, std::string_view key) {
  auto d = ParseDurationNs(Scalar(n, key));
  if (!d.ok()) Fail(n, absl::StrCat("'", Sv(key), "': ", d.status().message()));
  return *d;
}

int64_t Bytes(const YAML::Node& n, std::string_view key) {
  auto b = ParseByteSize(Scalar(n, key));
  if (!b.ok()) Fail(n, absl::StrCat("'", Sv(key), "': ", b.status().message()));
  return *b;
}

void CheckCidrs(const YAML::Node& n, const std::vector<std::string>& items, std::string_view key,
                bool allow_accounts) {
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& s = items[i];
    if (Cidr::Parse(s)) continue;
    bool account = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    if (allow_accounts && account) continue;
    Fail(n.IsSequence() ? n[i] : n,
         absl::StrCat("'", Sv(key), "': '", s, "' is not ",
                      allow_accounts ? "an address, a CIDR or an account id" : "a CIDR like 10.0.0.0/8"));
  }
}

void ParseSite(const YAML::Node& node, SiteConfig& site) {
  ForEachKey(node, "site", {
      {"internal_networks", [&](const YAML::Node& n) {
         site.internal_networks = List(n, "internal_networks");
         CheckCidrs(n, site.internal_networks, "internal_networks", false);
       }},
      {"internal_accounts", [&](const YAML::Node& n) { site.internal_accounts = List(n, "internal_accounts"); }},
      {"trusted_destinations", [&](const YAML::Node& n) {
         site.trusted_destinations = List(n, "trusted_destinations");
         CheckCidrs(n, site.trusted_destinations, "trusted_destinations", true);
       }},
      {"tenants", [&](const YAML::Node& t) {
         ForEachKey(t, "site.tenants", {
             {"credential", [&](const YAML::Node& n) { site.tenants.credential_patterns = List(n, "credential"); }},
             {"object", [&](const YAML::Node& n) { site.tenants.object_patterns = List(n, "object"); }},
             {"credential_csv", [&](const YAML::Node& n) { site.tenants.credential_csv = Scalar(n, "credential_csv"); }},
             {"multi_tenant_credentials", [&](const YAML::Node& n) {
                site.tenants.multi_tenant_credentials = List(n, "multi_tenant_credentials");
              }},
         });
       }},
  });
}

bool Bool(const YAML::Node& n, std::string_view key) {
  std::string v = Scalar(n, key);
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  Fail(n, absl::StrCat("'", Sv(key), "' must be true or false, not '", v, "'"));
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

void ParseInputs(const YAML::Node& node, const fs::path& base, std::vector<InputConfig>& inputs) {
  if (!node.IsSequence()) Fail(node, "'inputs' must be a list of {type: file|syslog|http, ...}");
  for (const auto& item : node) {
    InputConfig in;
    in.line = LineOf(item);
    ForEachKey(item, "an input", {
        {"type", [&](const YAML::Node& n) { in.type = Scalar(n, "type"); }},
        {"paths", [&](const YAML::Node& n) {
           for (auto& p : List(n, "paths")) in.paths.push_back(Resolve(base, p));
         }},
        {"format", [&](const YAML::Node& n) {
           std::string f = Scalar(n, "format");
           if (f == "auto") {
             in.format = Format::kAuto;
           } else if (auto parsed = ParseFormat(f); parsed && *parsed != Format::kMapping) {
             in.format = *parsed;
           } else {
             Fail(n, absl::StrCat("unknown format '", f,
                                  "'; use auto, cloudtrail, journald, syslog, ocsf or native"));
           }
         }},
        {"listen", [&](const YAML::Node& n) { in.listen = Scalar(n, "listen"); }},
        {"token_file", [&](const YAML::Node& n) { in.token_file = Resolve(base, Scalar(n, "token_file")); }},
        {"max_message_bytes", [&](const YAML::Node& n) { in.max_message_bytes = Bytes(n, "max_message_bytes"); }},
        {"max_body_bytes", [&](const YAML::Node& n) { in.max_body_bytes = Bytes(n, "max_body_bytes"); }},
    });
    if (in.type == "file") {
      if (in.paths.empty()) Fail(item, "a file input needs 'paths' (a list of files or globs)");
    } else if (in.type == "syslog") {
      if (!StartsWith(in.listen, "tcp://") && !StartsWith(in.listen, "udp://")) {
        Fail(item, "a syslog input needs 'listen: tcp://HOST:PORT' or 'listen: udp://HOST:PORT'");
      }
    } else if (in.type == "http") {
      if (in.listen.empty()) Fail(item, "an http input needs 'listen: HOST:PORT'");
    } else {
      Fail(item, absl::StrCat("input type '", in.type, "' is not one of file, syslog, http"));
    }
    inputs.push_back(std::move(in));
  }
}

void ParseOutputs(const YAML::Node& node, const fs::path& base, std::vector<OutputConfig>& outputs) {
  if (!node.IsSequence()) Fail(node, "'outputs' must be a list of {type: file|stdout|syslog|webhook, ...}");
  for (const auto& item : node) {
    OutputConfig out;
    out.line = LineOf(item);
    ForEachKey(item, "an output", {
        {"type", [&](const YAML::Node& n) { out.type = Scalar(n, "type"); }},
        {"path", [&](const YAML::Node& n) { out.path = Resolve(base, Scalar(n, "path")); }},
        {"max_size", [&](const YAML::Node& n) { out.max_size = Bytes(n, "max_size"); }},
        {"keep", [&](const YAML::Node& n) {
           int64_t k = Bytes(n, "keep");
           if (k < 1 || k > 1000) Fail(n, "'keep' must be between 1 and 1000");
           out.keep = static_cast<int>(k);
         }},
        {"sync", [&](const YAML::Node& n) { out.sync = Bool(n, "sync"); }},
        {"url", [&](const YAML::Node& n) { out.url = Scalar(n, "url"); }},
        {"token_file", [&](const YAML::Node& n) { out.token_file = Resolve(base, Scalar(n, "token_file")); }},
        {"timeout", [&](const YAML::Node& n) { out.timeout_ns = Duration(n, "timeout"); }},
        {"target", [&](const YAML::Node& n) { out.target = Scalar(n, "target"); }},
    });
    if (out.type == "file") {
      if (out.path.empty()) Fail(item, "a file output needs 'path'");
    } else if (out.type == "webhook") {
      if (!StartsWith(out.url, "http://") && !StartsWith(out.url, "https://")) {
        Fail(item, "a webhook output needs 'url: http://HOST:PORT/PATH'");
      }
    } else if (out.type == "syslog") {
      if (!StartsWith(out.target, "unix://") && !StartsWith(out.target, "udp://") &&
          !StartsWith(out.target, "tcp://")) {
        Fail(item, "a syslog output's 'target' is unix:///dev/log, udp://HOST:PORT or tcp://HOST:PORT");
      }
    } else if (out.type != "stdout") {
      Fail(item, absl::StrCat("output type '", out.type, "' is not one of file, stdout, syslog, webhook"));
    }
    outputs.push_back(std::move(out));
  }
}

}  // namespace

absl::StatusOr<int64_t> ParseDurationNs(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", Sv(text), "' is not a duration; write e.g. 90s, 10m, 12h or 7d"));
  }
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  int64_t scale;
  if (unit.empty() || unit == "s") scale = 1'000'000'000;
  else if (unit == "ms") scale = 1'000'000;
  else if (unit == "m") scale = 60LL * 1'000'000'000;
  else if (unit == "h") scale = 3600LL * 1'000'000'000;
  else if (unit == "d") scale = 86400LL * 1'000'000'000;
  else {
    return absl::InvalidArgumentError(absl::StrCat("'", Sv(text), "' is not a duration: unknown unit '",
                                                   Sv(unit), "'; write e.g. 90s, 10m, 12h or 7d"));
  }
  if (value > INT64_MAX / scale) return absl::InvalidArgumentError("duration too large");
  return value * scale;
}

absl::StatusOr<int64_t> ParseByteSize(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", Sv(text), "' is not a size; write e.g. 4096, 64KiB, 1MiB or 100MB"));
  }
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  static const std::map<std::string_view, int64_t> kUnits = {
      {"", 1}, {"B", 1}, {"KB", 1000}, {"KiB", 1024}, {"MB", 1000 * 1000}, {"MiB", 1 << 20},
      {"GB", 1000LL * 1000 * 1000}, {"GiB", 1LL << 30}, {"TB", 1000LL * 1000 * 1000 * 1000},
      {"TiB", 1LL << 40}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown size unit '", Sv(unit), "'; use B, KB, KiB, MB, MiB, GB, GiB"));
  }
  if (value > INT64_MAX / it->second) return absl::InvalidArgumentError("size too large");
  return value * it->second;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  Config config;
  config.path = path;
  fs::path base = fs::path(path).parent_path();
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the config file"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  try {
    ForEachKey(root, "the config", {
        {"state_dir", [&](const YAML::Node& n) { config.state_dir = Resolve(base, Scalar(n, "state_dir")); }},
        {"rules", [&](const YAML::Node& n) {
           for (auto& r : List(n, "rules")) config.rules.push_back(Resolve(base, r));
         }},
        {"dead_letter", [&](const YAML::Node& n) { config.dead_letter = Resolve(base, Scalar(n, "dead_letter")); }},
        {"site", [&](const YAML::Node& n) { ParseSite(n, config.site); }},
        {"profile", [&](const YAML::Node& n) {
           ForEachKey(n, "profile", {
               {"learning_period", [&](const YAML::Node& v) {
                  config.profile.learning_period_ns = Duration(v, "learning_period");
                }},
           });
         }},
        {"replay", [&](const YAML::Node& n) {
           ForEachKey(n, "replay", {
               {"max_disorder", [&](const YAML::Node& v) {
                  config.replay.max_disorder_ns = Duration(v, "max_disorder");
                }},
           });
         }},
        {"state", [&](const YAML::Node& n) {
           ForEachKey(n, "state", {
               {"sync", [&](const YAML::Node& v) {
                  config.state.sync = Scalar(v, "sync");
                  if (config.state.sync != "commit" && config.state.sync != "none") {
                    Fail(v, "'sync' must be 'commit' (fsync every commit) or 'none'");
                  }
                }},
               {"memory_budget", [&](const YAML::Node& v) {
                  config.state.memory_budget_bytes = Bytes(v, "memory_budget");
                }},
               {"retention", [&](const YAML::Node& v) { config.state.retention_ns = Duration(v, "retention"); }},
               {"commit_interval", [&](const YAML::Node& v) {
                  config.state.commit_interval_ns = Duration(v, "commit_interval");
                }},
               {"commit_events", [&](const YAML::Node& v) {
                  config.state.commit_events = Bytes(v, "commit_events");
                  if (config.state.commit_events < 1) Fail(v, "'commit_events' must be at least 1");
                }},
           });
         }},
        {"inputs", [&](const YAML::Node& n) { ParseInputs(n, base, config.inputs); }},
        {"outputs", [&](const YAML::Node& n) { ParseOutputs(n, base, config.outputs); }},
        {"admin", [&](const YAML::Node& n) {
           ForEachKey(n, "admin", {
               {"listen", [&](const YAML::Node& v) { config.admin.listen = Scalar(v, "listen"); }},
           });
         }},
        {"daemon", [&](const YAML::Node& n) {
           ForEachKey(n, "daemon", {
               {"queue_bytes", [&](const YAML::Node& v) { config.daemon.queue_bytes = Bytes(v, "queue_bytes"); }},
               {"poll_interval", [&](const YAML::Node& v) {
                  config.daemon.poll_interval_ns = Duration(v, "poll_interval");
                }},
               {"idle_source", [&](const YAML::Node& v) {
                  config.daemon.idle_source_ns = Duration(v, "idle_source");
                }},
               {"reorder_window", [&](const YAML::Node& v) {
                  config.daemon.reorder_window_ns = Duration(v, "reorder_window");
                }},
               {"stop_timeout", [&](const YAML::Node& v) {
                  config.daemon.stop_timeout_ns = Duration(v, "stop_timeout");
                }},
               {"watch_rules", [&](const YAML::Node& v) { config.daemon.watch_rules = Bool(v, "watch_rules"); }},
               {"shards", [&](const YAML::Node& v) {
                  int n = -1;
                  if (!absl::SimpleAtoi(Scalar(v, "shards"), &n) || n < 0 || n > 1024) {
                    Fail(v, "'shards' must be a whole number 0..1024 (0: detection on the pipeline thread)");
                  }
                  config.daemon.shards = static_cast<int>(n);
                }},
           });
         }},
        {"limits", [&](const YAML::Node& n) {
           ForEachKey(n, "limits", {
               {"max_record_bytes", [&](const YAML::Node& v) {
                  config.limits.max_record_bytes = static_cast<size_t>(Bytes(v, "max_record_bytes"));
                }},
               {"max_depth", [&](const YAML::Node& v) {
                  config.limits.max_depth = static_cast<size_t>(Bytes(v, "max_depth"));
                }},
               {"max_field_bytes", [&](const YAML::Node& v) {
                  config.limits.max_field_bytes = static_cast<size_t>(Bytes(v, "max_field_bytes"));
                }},
           });
         }},
    });
    if (!config.site.tenants.credential_csv.empty()) {
      config.site.tenants.credential_csv = Resolve(base, config.site.tenants.credential_csv);
    }
  } catch (const ConfigError& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.line, ": ", e.message));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.mark.line + 1, ": ", e.msg));
  }
  return config;
}

}  // namespace credwatch
