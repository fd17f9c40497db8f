#include <cstdio>
#include <iostream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "credwatch/rules.h"

namespace credwatch::cli {
namespace {

constexpr const char* kRulesUsage = R"(usage: credwatch rules check [--strict] PATH...
       credwatch rules test PATH...

check  loads every *.yml/*.yaml under PATH (files or directories) and prints
       one line per file: loaded, unsupported (with the reason) or error (with
       file:line and what to change). --strict also fails on unsupported rules.
test   runs each rule's `x-credwatch-tests` examples (docs/rules.md) and prints
       PASS/FAIL per example.

exit status: 0 all good; 1 a rule has an error or an example failed; 2 usage.
)";

}  // namespace

int RulesCommand(int argc, char** argv) {
  if (argc < 3 || std::string(argv[2]) == "--help") {
    std::fputs(kRulesUsage, argc < 3 ? stderr : stdout);
    return argc < 3 ? kExitUsage : kExitOk;
  }
  std::string sub = argv[2];
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 3, {}, {"strict", "help"}, &error)) {
    std::fprintf(stderr, "credwatch rules: %s\n\n%s", error.c_str(), kRulesUsage);
    return kExitUsage;
  }
  if (args.positional().empty()) {
    std::fprintf(stderr, "credwatch rules %s: no PATH given\n\n%s", sub.c_str(), kRulesUsage);
    return kExitUsage;
  }
  if (sub == "check") return rules::RunRulesCheck(args.positional(), std::cout, args.Has("strict"));
  if (sub == "test") return rules::RunRulesTest(args.positional(), std::cout);
  std::fprintf(stderr, "credwatch rules: unknown subcommand '%s'\n\n%s", sub.c_str(), kRulesUsage);
  return kExitUsage;
}

}  // namespace credwatch::cli
