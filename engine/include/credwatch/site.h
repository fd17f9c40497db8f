// Site facts applied to every decoded event: which addresses are internal,
// which destinations are external, and which tenant owns a credential and an
// object (design.md, "Site facts and behaviour profile").
//
//   auto site = credwatch::Site::Create(config.site);   // compiles the patterns
//   credwatch::SiteAnnotator annotator(*site);           // one per decoding thread
//   annotator.Annotate(event, batch.arena());
//
// Site is immutable after Create and thread-safe. SiteAnnotator caches tenant
// lookups per credential; it is not thread-safe (one per thread).
#ifndef CREDWATCH_SITE_H_
#define CREDWATCH_SITE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "credwatch/config.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"

namespace re2 {
class RE2;
}

namespace credwatch {

class Site {
 public:
  // Fails with the offending pattern when a regex does not compile or has no
  // named group `tenant`, or when the CSV cannot be read.
  static absl::StatusOr<std::shared_ptr<const Site>> Create(const SiteConfig& config);
  ~Site();

  bool IsInternal(const IpAddress& ip) const;
  bool IsTrustedDestination(const IpAddress& ip) const;
  bool IsInternalAccount(std::string_view account) const;
  bool IsTrustedAccount(std::string_view account) const;
  // "" when no pattern matches.
  std::string_view CredentialTenant(std::string_view credential, std::string* scratch) const;
  std::string_view ObjectTenant(std::string_view object, std::string* scratch) const;
  bool IsMultiTenant(std::string_view credential) const;
  const SiteConfig& config() const { return config_; }

 private:
  Site() = default;
  SiteConfig config_;
  std::vector<Cidr> internal_;
  std::vector<Cidr> trusted_nets_;
  std::vector<std::string> trusted_accounts_;
  std::vector<std::unique_ptr<re2::RE2>> credential_res_;
  std::vector<std::unique_ptr<re2::RE2>> object_res_;
  absl::flat_hash_map<std::string, std::string> csv_;
};

class SiteAnnotator {
 public:
  explicit SiteAnnotator(std::shared_ptr<const Site> site) : site_(std::move(site)) {}
  // Sets src.internal, dst.external, tenant and object.tenant (unless the
  // record already carried them). New strings go into `arena`.
  void Annotate(Event& e, Arena& arena);

 private:
  // Credentials whose tenant is cached (~200 bytes each with the table);
  // past it the cache starts over. A hot set of this size hits.
  static constexpr size_t kMaxCached = 1 << 14;
  std::shared_ptr<const Site> site_;
  absl::flat_hash_map<std::string, std::string> tenant_cache_;
  std::string scratch_;
};

// Shell-style glob: `*` any run, `?` one character. Case-sensitive.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace credwatch

#endif  // CREDWATCH_SITE_H_
