// `credwatch state show|export`: what a state directory holds, as JSON.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "credwatch/config.h"
#include "state/state_json.h"
#include "state/state_store.h"

namespace credwatch::cli {
namespace {

constexpr const char* kStateUsage = R"(usage: credwatch state show [--config FILE | --state-dir DIR] [CREDENTIAL]
       credwatch state export [--config FILE | --state-dir DIR] [CREDENTIAL]

Reads a state directory (docs/state.md) without changing it; works while a
replay is using it (it sees the last commit).

show    with CREDENTIAL: that credential's profile, as indented JSON;
        without: the state's summary (run, cursor and input positions, output,
        outbox, number of profiles), as indented JSON
export  every profile (or CREDENTIAL's), one JSON object per line, sorted by
        credential

options:
  --config FILE    take state_dir from this config (default ./credwatch-state)
  --state-dir DIR  the state directory (overrides the config)

exit status: 0 done; 1 CREDENTIAL has no profile; 2 usage, or the state cannot be read.
)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "credwatch state: %s\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int StateCommand(int argc, char** argv) {
  if (argc < 3 || std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h") {
    std::fputs(kStateUsage, argc < 3 ? stderr : stdout);
    return argc < 3 ? kExitUsage : kExitOk;
  }
  const std::string sub = argv[2];
  if (sub != "show" && sub != "export") {
    std::fprintf(stderr, "credwatch state: unknown subcommand '%s'\n\n%s", sub.c_str(), kStateUsage);
    return kExitUsage;
  }
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 3, {"config", "state-dir"}, {"help"}, &error)) {
    std::fprintf(stderr, "credwatch state: %s\n\n%s", error.c_str(), kStateUsage);
    return kExitUsage;
  }
  if (args.Has("help")) {
    std::fputs(kStateUsage, stdout);
    return kExitOk;
  }
  if (args.positional().size() > 1) {
    std::fprintf(stderr, "credwatch state: at most one CREDENTIAL\n\n%s", kStateUsage);
    return kExitUsage;
  }
  std::string dir = Config{}.state_dir;
  if (args.Has("config")) {
    auto config = LoadConfig(args.Get("config"));
    if (!config.ok()) return Fail(std::string(config.status().message()));
    dir = config->state_dir;
  }
  if (args.Has("state-dir")) dir = args.Get("state-dir");
  auto store = state::StateStore::OpenReadOnly(dir);
  if (!store.ok()) return Fail(std::string(store.status().message()));

  std::string out;
  if (!args.positional().empty()) {
    const std::string& credential = args.positional()[0];
    std::string record;
    auto got = (*store)->Get(state::Family::kProfiles, credential, &record);
    if (!got.ok()) return Fail(std::string(got.status().message()));
    if (!*got) {
      std::fprintf(stderr, "credwatch state: no profile for '%s' in '%s'\n", credential.c_str(),
                   dir.c_str());
      return kExitRejects;
    }
    if (auto s = state::AppendProfileJson(credential, record, &out); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    std::fputs(sub == "show" ? state::PrettyJson(out).c_str() : (out + "\n").c_str(), stdout);
    return kExitOk;
  }
  if (sub == "show") {
    if (auto s = state::AppendStateSummaryJson(**store, &out); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    std::fputs(state::PrettyJson(out).c_str(), stdout);
    return kExitOk;
  }
  absl::Status failed;
  absl::Status scanned = (*store)->Scan(
      state::Family::kProfiles, "", [&](std::string_view key, std::string_view value) {
        out.clear();
        failed = state::AppendProfileJson(key, value, &out);
        if (!failed.ok()) return false;
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stdout);
        return true;
      });
  if (!scanned.ok()) return Fail(std::string(scanned.message()));
  if (!failed.ok()) return Fail(std::string(failed.message()));
  if (std::fflush(stdout) != 0) return Fail("writing the export failed");
  return kExitOk;
}

}  // namespace credwatch::cli
