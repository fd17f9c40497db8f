#include "credwatch/site.h"

#include <re2/re2.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace credwatch {
namespace {

absl::Status CompileTenantPatterns(const std::vector<std::string>& patterns, std::string_view what,
                                   std::vector<std::unique_ptr<re2::RE2>>& out) {
  for (const std::string& p : patterns) {
    auto re = std::make_unique<re2::RE2>(p, re2::RE2::Quiet);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat("site.tenants.", Sv(what), ": pattern '", p,
                                                     "' does not compile: ", re->error()));
    }
    if (re->NamedCapturingGroups().count("tenant") == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("site.tenants.", Sv(what), ": pattern '", p,
                       "' has no named group 'tenant'; write e.g. ^(?P<tenant>t[0-9]{3})-"));
    }
    out.push_back(std::move(re));
  }
  return absl::OkStatus();
}

std::string_view MatchTenant(const std::vector<std::unique_ptr<re2::RE2>>& res,
                             std::string_view text, std::string* scratch) {
  for (const auto& re : res) {
    int group = re->NamedCapturingGroups().at("tenant");
    re2::StringPiece groups[8];
    int n = std::min(group + 1, 8);
    if (group < 8 && re->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(),
                               re2::RE2::UNANCHORED, groups, n)) {
      scratch->assign(groups[group].data(), groups[group].size());
      return *scratch;
    }
  }
  return {};
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Site::~Site() = default;

absl::StatusOr<std::shared_ptr<const Site>> Site::Create(const SiteConfig& config) {
  std::shared_ptr<Site> site(new Site());
  site->config_ = config;
  for (const auto& n : config.internal_networks) {
    auto c = Cidr::Parse(n);
    if (!c) return absl::InvalidArgumentError(absl::StrCat("site.internal_networks: '", n, "' is not a CIDR"));
    site->internal_.push_back(*c);
  }
  for (const auto& d : config.trusted_destinations) {
    if (auto c = Cidr::Parse(d)) {
      site->trusted_nets_.push_back(*c);
    } else {
      site->trusted_accounts_.push_back(d);
    }
  }
  if (auto s = CompileTenantPatterns(config.tenants.credential_patterns, "credential",
                                     site->credential_res_); !s.ok()) {
    return s;
  }
  if (auto s = CompileTenantPatterns(config.tenants.object_patterns, "object", site->object_res_);
      !s.ok()) {
    return s;
  }
  if (!config.tenants.credential_csv.empty()) {
    std::ifstream in(config.tenants.credential_csv);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("site.tenants.credential_csv: cannot read '",
                                              config.tenants.credential_csv, "'"));
    }
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      size_t comma = line.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == line.size()) {
        return absl::InvalidArgumentError(absl::StrCat(config.tenants.credential_csv, ":", line_no,
                                                       ": expected 'credential,tenant'"));
      }
      site->csv_[line.substr(0, comma)] = line.substr(comma + 1);
    }
  }
  return std::shared_ptr<const Site>(std::move(site));
}

bool Site::IsInternal(const IpAddress& ip) const {
  for (const Cidr& c : internal_) {
    if (c.Contains(ip)) return true;
  }
  return false;
}

bool Site::IsTrustedDestination(const IpAddress& ip) const {
  for (const Cidr& c : trusted_nets_) {
    if (c.Contains(ip)) return true;
  }
  return false;
}

bool Site::IsInternalAccount(std::string_view account) const {
  for (const auto& a : config_.internal_accounts) {
    if (a == account) return true;
  }
  return false;
}

bool Site::IsTrustedAccount(std::string_view account) const {
  for (const auto& a : trusted_accounts_) {
    if (a == account) return true;
  }
  return false;
}

std::string_view Site::CredentialTenant(std::string_view credential, std::string* scratch) const {
  if (!csv_.empty()) {
    auto it = csv_.find(absl::string_view(credential.data(), credential.size()));
    if (it != csv_.end()) return it->second;
  }
  return MatchTenant(credential_res_, credential, scratch);
}

std::string_view Site::ObjectTenant(std::string_view object, std::string* scratch) const {
  return MatchTenant(object_res_, object, scratch);
}

bool Site::IsMultiTenant(std::string_view credential) const {
  for (const auto& g : config_.tenants.multi_tenant_credentials) {
    if (GlobMatch(g, credential)) return true;
  }
  return false;
}

void SiteAnnotator::Annotate(Event& e, Arena& arena) {
  const Site& site = *site_;
  if (e.src_internal == Tri::kUnset && e.src_ip.is_valid()) {
    e.src_internal = site.IsInternal(e.src_ip) ? Tri::kTrue : Tri::kFalse;
  }
  if (e.dst_external == Tri::kUnset) {
    if (e.dst_ip.is_valid()) {
      bool inside = site.IsInternal(e.dst_ip) || site.IsTrustedDestination(e.dst_ip);
      e.dst_external = inside ? Tri::kFalse : Tri::kTrue;
    } else if (!e.dst_account.empty()) {
      bool inside = site.IsInternalAccount(e.dst_account) || site.IsTrustedAccount(e.dst_account);
      e.dst_external = inside ? Tri::kFalse : Tri::kTrue;
    }
  }
  if (e.tenant.empty() && !e.credential.empty()) {
    absl::string_view key(e.credential.data(), e.credential.size());
    auto it = tenant_cache_.find(key);
    if (it == tenant_cache_.end()) {
      if (tenant_cache_.size() >= kMaxCached) tenant_cache_.clear();
      it = tenant_cache_.emplace(std::string(key),
                                 std::string(site.CredentialTenant(e.credential, &scratch_))).first;
    }
    if (!it->second.empty()) e.tenant = arena.Copy(it->second);
  }
  if (e.object_tenant.empty() && !e.object.empty()) {
    std::string_view t = site.ObjectTenant(e.object, &scratch_);
    if (!t.empty()) e.object_tenant = arena.Copy(t);
  }
}

}  // namespace credwatch
