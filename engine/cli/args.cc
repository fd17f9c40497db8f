#include "cli/args.h"

#include <charconv>
#include <cstdio>

namespace credwatch::cli {

bool Args::Parse(int argc, char** argv, int first, const std::set<std::string>& with_value,
                 const std::set<std::string>& booleans, std::string* error) {
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_inline = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    if (booleans.count(name)) {
      values_[name] = has_inline ? value : "true";
    } else if (with_value.count(name)) {
      if (!has_inline) {
        if (i + 1 >= argc) {
          *error = "--" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      *error = "unknown option --" + name;
      return false;
    }
  }
  return true;
}

std::string Args::Get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second;
}

bool ParseShards(const std::string& value, const char* command, int* shards) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size() || v < 0 || v > 1024) {
    std::fprintf(stderr, "credwatch %s: --shards takes a whole number 0..1024, not '%s'\n", command, value.c_str());
    return false;
  }
  *shards = v;
  return true;
}

}  // namespace credwatch::cli
