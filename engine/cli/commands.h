// The subcommands of the credwatch binary. Each returns the process exit code.
#ifndef CREDWATCH_CLI_COMMANDS_H_
#define CREDWATCH_CLI_COMMANDS_H_

namespace credwatch::cli {

constexpr int kExitOk = 0;
constexpr int kExitRejects = 1;
constexpr int kExitUsage = 2;
constexpr int kExitIo = 3;

int ReplayCommand(int argc, char** argv);
int SimulateCommand(int argc, char** argv);
int RulesCommand(int argc, char** argv);
int StateCommand(int argc, char** argv);
int RunCommand(int argc, char** argv);

}  // namespace credwatch::cli

#endif  // CREDWATCH_CLI_COMMANDS_H_
