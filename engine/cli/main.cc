// credwatch: one binary, subcommands. Exit codes (docs/cli.md):
//   0  done, nothing rejected
//   1  done, but some input records were rejected (see the summary / dead letters)
//   2  usage, configuration or rule error: nothing was processed
//   3  input or output failure during the run
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/args.h"
#include "cli/commands.h"

namespace {

constexpr const char* kUsage = R"(credwatch — catches stolen credentials taking data off legacy servers

usage: credwatch <command> [options]

commands:
  run       the daemon: tail files, receive syslog and HTTP, alert while it happens
  replay    replay historical logs in event time; alerts, events and an incident report
  simulate  write a labeled simulated month of a legacy estate (with the breach inside)
  rules     check | test: load a rule pack, or run its examples
  state     show | export: what a state directory holds (profiles as JSON)
  version   print the version

`credwatch <command> --help` describes a command. Documentation: README.md, docs/.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::printf("credwatch %s\n", CREDWATCH_VERSION);
    return 0;
  }
  if (cmd == "run") return credwatch::cli::RunCommand(argc, argv);
  if (cmd == "replay") return credwatch::cli::ReplayCommand(argc, argv);
  if (cmd == "simulate") return credwatch::cli::SimulateCommand(argc, argv);
  if (cmd == "rules") return credwatch::cli::RulesCommand(argc, argv);
  if (cmd == "state") return credwatch::cli::StateCommand(argc, argv);
  std::fprintf(stderr, "credwatch: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
