// A small command-line parser for the subcommands: "--flag value",
// "--flag=value", boolean "--flag", and positional arguments. Internal.
#ifndef CREDWATCH_CLI_ARGS_H_
#define CREDWATCH_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

namespace credwatch::cli {

class Args {
 public:
  // `with_value` lists the flags that take a value, `booleans` those that don't.
  // Returns false with `error` set on an unknown flag or a missing value.
  bool Parse(int argc, char** argv, int first, const std::set<std::string>& with_value,
             const std::set<std::string>& booleans, std::string* error);
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// --shards N (replay, run): a whole number 0..1024 into `*shards`. False,
// with the message on stderr naming `command`, when it is not one.
bool ParseShards(const std::string& value, const char* command, int* shards);

}  // namespace credwatch::cli

#endif  // CREDWATCH_CLI_ARGS_H_
