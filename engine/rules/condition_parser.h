// Parser of a Sigma detection `condition`. Internal header.
//
// Grammar (keywords are case-insensitive; precedence from loosest to
// tightest: or, and, not, "x of", parentheses):
//
//   condition  := or_expr END
//   or_expr    := and_expr { "or" and_expr }
//   and_expr   := not_expr { "and" not_expr }
//   not_expr   := "not" not_expr | primary
//   primary    := "(" or_expr ")" | quantified | IDENT
//   quantified := ( NUMBER | "all" | "any" ) "of" ( "them" | PATTERN )
//   IDENT      := [A-Za-z0-9_.-]+, not a keyword
//   PATTERN    := IDENT with '*' wildcards
//
// "1 of x*" / "any of x*" is an OR over the matching search identifiers,
// "all of x*" an AND, "N of x*" needs at least N; "them" stands for every
// identifier not starting with '_'. The obsolete Sigma 1 aggregations
// ("| count() > 5", "near") are rejected with a pointer to correlation rules.
#ifndef CREDWATCH_RULES_CONDITION_PARSER_H_
#define CREDWATCH_RULES_CONDITION_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

namespace credwatch::rules::internal {

struct ConditionAst {
  enum class Kind { kIdent, kAnd, kOr, kNot, kOf };
  Kind kind = Kind::kIdent;
  std::string text;  // kIdent: the identifier; kOf: the pattern ("" = them)
  int of_count = 1;  // kOf: N; 0 = all
  int column = 0;    // 1-based position in the condition text
  std::vector<ConditionAst> children;
};

struct ConditionError {
  int column = 0;  // 1-based
  std::string message;
  bool unsupported = false;
};

// Returns false and fills `error` when `text` does not follow the grammar.
bool ParseCondition(std::string_view text, ConditionAst* out, ConditionError* error);

}  // namespace credwatch::rules::internal

#endif  // CREDWATCH_RULES_CONDITION_PARSER_H_
