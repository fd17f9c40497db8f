#include "rules/condition_parser.h"

#include <cctype>
#include <charconv>

#include "rules/string_match.h"

namespace credwatch::rules::internal {
namespace {

struct Token {
  enum class Kind { kWord, kLParen, kRParen, kEnd, kBad };
  Kind kind = Kind::kEnd;
  std::string_view text;
  int column = 0;
};

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == '*';
}

std::vector<Token> Tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.column = static_cast<int>(i) + 1;
    if (c == '(') {
      t.kind = Token::Kind::kLParen;
      t.text = s.substr(i, 1);
      ++i;
    } else if (c == ')') {
      t.kind = Token::Kind::kRParen;
      t.text = s.substr(i, 1);
      ++i;
    } else if (IsWordChar(c)) {
      size_t j = i;
      while (j < s.size() && IsWordChar(s[j])) ++j;
      t.kind = Token::Kind::kWord;
      t.text = s.substr(i, j - i);
      i = j;
    } else {
      t.kind = Token::Kind::kBad;
      t.text = s.substr(i, 1);
      ++i;
    }
    out.push_back(t);
  }
  Token end;
  end.column = static_cast<int>(s.size()) + 1;
  out.push_back(end);
  return out;
}

bool IsKeyword(std::string_view w, std::string_view kw) {
  return w.size() == kw.size() && EqualsOp(w, kw, false);
}

bool IsAnyKeyword(std::string_view w) {
  for (std::string_view kw : {"and", "or", "not", "of", "them", "all", "any"}) {
    if (IsKeyword(w, kw)) return true;
  }
  return false;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, ConditionError* error)
      : tokens_(std::move(tokens)), error_(error) {}

  bool Parse(ConditionAst* out) {
    if (!ParseOr(out, 0)) return false;
    if (Peek().kind != Token::Kind::kEnd)
      return Fail(Peek(), Unexpected(Peek()) + ": expected 'and', 'or' or the end");
    return true;
  }

 private:
  static constexpr int kMaxDepth = 64;

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() { return tokens_[pos_++]; }
  bool PeekKeyword(std::string_view kw) const {
    return Peek().kind == Token::Kind::kWord && IsKeyword(Peek().text, kw);
  }

  static std::string Unexpected(const Token& t) {
    if (t.kind == Token::Kind::kEnd) return "unexpected end of condition";
    return "unexpected '" + std::string(t.text) + "'";
  }

  bool Fail(const Token& t, std::string message, bool unsupported = false) {
    error_->column = t.column;
    error_->message = std::move(message);
    error_->unsupported = unsupported;
    return false;
  }

  bool ParseOr(ConditionAst* out, int depth) {
    if (depth > kMaxDepth) return Fail(Peek(), "condition nested too deeply");
    ConditionAst first;
    if (!ParseAnd(&first, depth)) return false;
    if (!PeekKeyword("or")) {
      *out = std::move(first);
      return true;
    }
    out->kind = ConditionAst::Kind::kOr;
    out->column = first.column;
    out->children.push_back(std::move(first));
    while (PeekKeyword("or")) {
      Next();
      ConditionAst next;
      if (!ParseAnd(&next, depth)) return false;
      out->children.push_back(std::move(next));
    }
    return true;
  }

  bool ParseAnd(ConditionAst* out, int depth) {
    ConditionAst first;
    if (!ParseNot(&first, depth)) return false;
    if (!PeekKeyword("and")) {
      *out = std::move(first);
      return true;
    }
    out->kind = ConditionAst::Kind::kAnd;
    out->column = first.column;
    out->children.push_back(std::move(first));
    while (PeekKeyword("and")) {
      Next();
      ConditionAst next;
      if (!ParseNot(&next, depth)) return false;
      out->children.push_back(std::move(next));
    }
    return true;
  }

  bool ParseNot(ConditionAst* out, int depth) {
    if (PeekKeyword("not")) {
      const Token& t = Next();
      if (depth > kMaxDepth) return Fail(t, "condition nested too deeply");
      out->kind = ConditionAst::Kind::kNot;
      out->column = t.column;
      out->children.emplace_back();
      return ParseNot(&out->children.back(), depth + 1);
    }
    return ParsePrimary(out, depth);
  }

  bool ParsePrimary(ConditionAst* out, int depth) {
    const Token& t = Peek();
    switch (t.kind) {
      case Token::Kind::kLParen: {
        Next();
        if (!ParseOr(out, depth + 1)) return false;
        if (Peek().kind != Token::Kind::kRParen) {
          return Fail(Peek(), Unexpected(Peek()) + ": expected ')' to close '(' at column " +
                                  std::to_string(t.column));
        }
        Next();
        return true;
      }
      case Token::Kind::kWord:
        break;
      default:
        return Fail(t, Unexpected(t) + ": expected a search identifier, 'not', '(' or 'x of'");
    }
    // Quantifier?
    int count = -1;
    if (IsKeyword(t.text, "all")) {
      count = 0;
    } else if (IsKeyword(t.text, "any")) {
      count = 1;
    } else {
      int n = 0;
      auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), n);
      if (r.ec == std::errc() && r.ptr == t.text.data() + t.text.size()) {
        if (n < 1) return Fail(t, "'" + std::string(t.text) + " of': the count must be at least 1");
        count = n;
      }
    }
    if (count >= 0) {
      Next();
      if (!PeekKeyword("of")) {
        return Fail(Peek(),
                    Unexpected(Peek()) + ": expected 'of' after '" + std::string(t.text) + "'");
      }
      Next();
      const Token& target = Peek();
      if (target.kind != Token::Kind::kWord ||
          (IsAnyKeyword(target.text) && !IsKeyword(target.text, "them"))) {
        return Fail(target,
                    Unexpected(target) + ": expected 'them' or a search identifier pattern");
      }
      Next();
      out->kind = ConditionAst::Kind::kOf;
      out->column = t.column;
      out->of_count = count;
      out->text = IsKeyword(target.text, "them") ? std::string() : std::string(target.text);
      return true;
    }
    if (IsKeyword(t.text, "near")) {
      return Fail(
          t, "'near' is the obsolete Sigma 1 syntax; write a temporal correlation rule instead",
          /*unsupported=*/true);
    }
    if (IsAnyKeyword(t.text)) {
      return Fail(t, Unexpected(t) + ": expected a search identifier");
    }
    if (t.text.find('*') != std::string_view::npos) {
      return Fail(
          t, "wildcard '" + std::string(t.text) + "' is only allowed after '1 of' or 'all of'");
    }
    Next();
    out->kind = ConditionAst::Kind::kIdent;
    out->column = t.column;
    out->text = std::string(t.text);
    return true;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  ConditionError* error_;
};

}  // namespace

bool ParseCondition(std::string_view text, ConditionAst* out, ConditionError* error) {
  if (const size_t bar = text.find('|'); bar != std::string_view::npos) {
    error->column = static_cast<int>(bar) + 1;
    error->message =
        "aggregation expressions ('| count() ...') are the obsolete Sigma 1 syntax; write a "
        "correlation rule (type: event_count) instead";
    error->unsupported = true;
    return false;
  }
  std::vector<Token> tokens = Tokenize(text);
  for (const Token& t : tokens) {
    if (t.kind == Token::Kind::kBad) {
      error->column = t.column;
      error->message = "unexpected character '" + std::string(t.text) + "' in condition";
      return false;
    }
  }
  if (tokens.size() == 1) {
    error->column = 1;
    error->message = "condition is empty";
    return false;
  }
  Parser parser(std::move(tokens), error);
  return parser.Parse(out);
}

}  // namespace credwatch::rules::internal
