// Compile stage of the rule loader: YAML detection and correlation sections
// into the structures of compiled.h. yaml-cpp throws; every entry point here
// is called inside the loader's try/catch, which turns an exception into a
// load message with file and line. Internal header.
#ifndef CREDWATCH_RULES_RULE_COMPILER_H_
#define CREDWATCH_RULES_RULE_COMPILER_H_

#include <string>
#include <string_view>
#include <vector>

#include "credwatch/rules.h"
#include "rules/compiled.h"
#include "yaml-cpp/yaml.h"

namespace credwatch::rules::internal {

// What went wrong with one rule, and where (1-based; 0 = unknown).
struct CompileIssue {
  int line = 0;
  int column = 0;
  std::string text;
  bool unsupported = false;
};

inline int LineOf(const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().line + 1; }
inline int ColumnOf(const YAML::Node& n) { return n.Mark().is_null() ? 0 : n.Mark().column + 1; }

// A YAML scalar with the type a plain (unquoted) scalar implies.
struct Scalar {
  enum class Kind : uint8_t { kString, kInt, kFloat, kBool, kNull };
  Kind kind = Kind::kString;
  std::string text;
  double number = 0;
  bool boolean = false;
};
Scalar ReadScalar(const YAML::Node& n);

// Field ids for every namespace. Builtin names resolve to FieldIds; source
// paths (CloudTrail, journald) are interned as extras ids in first-use order.
class FieldRegistry {
 public:
  // False (with a message) for a name the namespace does not have.
  bool Resolve(Namespace ns, std::string_view name, FieldRef* out, std::string* error);
  // The field keyword searches look at (journald MESSAGE for linux).
  bool KeywordField(Namespace ns, FieldRef* out, std::string* error);

  const std::vector<std::string>& paths() const { return paths_; }
  const std::vector<Namespace>& path_namespaces() const { return path_ns_; }

 private:
  std::vector<std::string> paths_;
  std::vector<Namespace> path_ns_;
  std::array<std::map<std::string, uint16_t, std::less<>>, kNumNamespaces> ids_;
};

struct CompileEnv {
  const LoadOptions* options = nullptr;
  FieldRegistry* fields = nullptr;
  std::vector<RegexSpec>* regexes = nullptr;
};

// Compiles a rule's `detection` section for namespace `ns`.
bool CompileDetection(const YAML::Node& detection, Namespace ns, CompileEnv& env,
                      DetectionRule* out, CompileIssue* issue);

// The type a builtin field has, for checking values at load time.
enum class BuiltinType : uint8_t { kString, kEnum, kIp, kInt, kDouble, kBool, kTime };
BuiltinType TypeOfBuiltin(FieldId id);

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_RULE_COMPILER_H_
