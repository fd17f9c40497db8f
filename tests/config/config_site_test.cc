#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "credwatch/config.h"
#include "credwatch/site.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    fs::path dir = fs::temp_directory_path() / ("credwatch_config_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::path p = dir / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

TEST_F(ConfigTest, LoadsTheIssueExampleAndResolvesPathsAgainstTheFile) {
  std::string path = Write("ok.yaml", R"(
state_dir: ./credwatch-state
rules: [rules/]
site:
  internal_networks: [10.0.0.0/8, 198.51.100.0/24]
  internal_accounts: ["111122223333"]
  trusted_destinations: []
  tenants:
    credential: ["^(?P<tenant>t[0-9]{3})-"]
    object: ["^/srv/ehr/(?P<tenant>[^/]+)/", "^arn:aws:s3:::(?P<tenant>[a-z0-9]+)-"]
    multi_tenant_credentials: ["svc-backup", "vendor-support*"]
profile: {learning_period: 3d}
replay: {max_disorder: 5m}
limits: {max_record_bytes: 64KiB}
)");
  auto c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->site.internal_networks.size(), 2u);
  EXPECT_EQ(c->profile.learning_period_ns, 3 * 86400LL * 1'000'000'000);
  EXPECT_EQ(c->replay.max_disorder_ns, 5 * 60LL * 1'000'000'000);
  EXPECT_EQ(c->limits.max_record_bytes, 64u * 1024);
  ASSERT_EQ(c->rules.size(), 1u);
  EXPECT_EQ(c->rules[0], (fs::path(path).parent_path() / "rules/").string());
}

TEST_F(ConfigTest, LoadsTheDaemonKeysOfTheIssue) {
  std::string path = Write("daemon.yaml", R"(
inputs:
  - {type: file, paths: ["/var/log/ehr/*.json", "/var/log/auth.log"], format: auto}
  - {type: syslog, listen: "tcp://127.0.0.1:6514"}      # also udp://
  - {type: http, listen: "127.0.0.1:8088", token_file: /etc/credwatch/ingest.token}
outputs:
  - {type: file, path: /var/log/credwatch/alerts.ndjson, max_size: 100MB, keep: 10}
  - {type: webhook, url: "http://127.0.0.1:9000/alerts"}
admin: {listen: "127.0.0.1:9109"}
state: {sync: none, memory_budget: 1GiB, retention: 90d, commit_interval: 200ms}
daemon: {queue_bytes: 8MiB, poll_interval: 100ms}
)");
  auto c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->inputs.size(), 3u);
  EXPECT_EQ(c->inputs[0].type, "file");
  EXPECT_EQ(c->inputs[0].paths.size(), 2u);
  EXPECT_EQ(c->inputs[0].line, 3);
  EXPECT_EQ(c->inputs[1].listen, "tcp://127.0.0.1:6514");
  EXPECT_EQ(c->inputs[2].token_file, "/etc/credwatch/ingest.token");
  ASSERT_EQ(c->outputs.size(), 2u);
  EXPECT_EQ(c->outputs[0].max_size, 100'000'000);
  EXPECT_EQ(c->outputs[1].url, "http://127.0.0.1:9000/alerts");
  EXPECT_EQ(c->admin.listen, "127.0.0.1:9109");
  EXPECT_EQ(c->state.sync, "none");
  EXPECT_EQ(c->state.memory_budget_bytes, int64_t{1} << 30);
  EXPECT_EQ(c->daemon.queue_bytes, 8 << 20);
}

TEST_F(ConfigTest, TheShippedExampleConfigLoads) {
  // deploy/credwatch.yaml is installed as /etc/credwatch/credwatch.yaml: it
  // must stay valid as keys change.
  auto c = LoadConfig(CREDWATCH_SOURCE_DIR "/deploy/credwatch.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state_dir, "/var/lib/credwatch");
  EXPECT_EQ(c->inputs.size(), 3u);
  EXPECT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(c->admin.listen, "127.0.0.1:9109");
}

TEST_F(ConfigTest, BadDaemonEntriesFailWithTheirLineAndWhatToWrite) {
  struct Case {
    const char* text;
    int line;
    const char* says;
  } const cases[] = {
      {"inputs:\n  - {type: file}\n", 2, "needs 'paths'"},
      {"inputs:\n  - {type: syslog, listen: \"127.0.0.1:514\"}\n", 2, "tcp://HOST:PORT"},
      {"inputs:\n  - {type: kafka}\n", 2, "not one of file, syslog, http"},
      {"inputs:\n  - {type: file, paths: [a], format: xml}\n", 2, "unknown format 'xml'"},
      {"outputs:\n  - {type: webhook, url: \"ftp://x\"}\n", 2, "http://HOST:PORT/PATH"},
      {"outputs:\n  - type: file\n    path: a\n    keep: 0\n", 4, "between 1 and 1000"},
      {"state: {sync: sometimes}\n", 1, "'commit'"},
  };
  for (const Case& c : cases) {
    std::string path = Write("bad.yaml", c.text);
    auto loaded = LoadConfig(path);
    ASSERT_FALSE(loaded.ok()) << c.text;
    std::string msg(loaded.status().message());
    EXPECT_NE(msg.find(path + ":" + std::to_string(c.line) + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

TEST_F(ConfigTest, UnknownKeyFailsWithFileLineAndTheKnownKeys) {
  std::string path = Write("typo.yaml", "site:\n  internal_network: [10.0.0.0/8]\n");
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_NE(msg.find(path + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'internal_network'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("internal_networks"), std::string::npos) << msg;
}

TEST_F(ConfigTest, BadValuesNameTheLineAndTheFix) {
  auto bad_cidr = LoadConfig(Write("cidr.yaml", "site:\n  internal_networks:\n    - 10.0.0.0/8\n    - 10.0.0/33\n"));
  ASSERT_FALSE(bad_cidr.ok());
  EXPECT_NE(std::string(bad_cidr.status().message()).find(":4:"), std::string::npos)
      << bad_cidr.status();
  auto bad_duration = LoadConfig(Write("dur.yaml", "replay:\n  max_disorder: 10 minutes\n"));
  ASSERT_FALSE(bad_duration.ok());
  EXPECT_NE(std::string(bad_duration.status().message()).find("10m"), std::string::npos);
  auto not_yaml = LoadConfig(Write("bad.yaml", "site: [unclosed\n"));
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_FALSE(LoadConfig("/nonexistent/credwatch.yaml").ok());
}

TEST(Durations, ParseUnits) {
  EXPECT_EQ(*ParseDurationNs("90s"), 90LL * 1'000'000'000);
  EXPECT_EQ(*ParseDurationNs("7d"), 7LL * 86400 * 1'000'000'000);
  EXPECT_EQ(*ParseDurationNs("500ms"), 500LL * 1'000'000);
  EXPECT_FALSE(ParseDurationNs("7 days").ok());
  EXPECT_FALSE(ParseDurationNs("-1s").ok());
  EXPECT_EQ(*ParseByteSize("1MiB"), 1 << 20);
  EXPECT_EQ(*ParseByteSize("100MB"), 100'000'000);
  EXPECT_FALSE(ParseByteSize("1 parsec").ok());
}

SiteConfig ExampleSite() {
  SiteConfig s;
  s.internal_networks = {"10.0.0.0/8", "198.51.100.0/24"};
  s.internal_accounts = {"111122223333"};
  s.trusted_destinations = {"203.0.113.10", "444455556666"};
  s.tenants.credential_patterns = {"^(?P<tenant>t[0-9]{3})-"};
  s.tenants.object_patterns = {"^/srv/ehr/(?P<tenant>[^/]+)/", "^arn:aws:s3:::(?P<tenant>[a-z0-9]+)-"};
  s.tenants.multi_tenant_credentials = {"svc-backup", "vendor-support*"};
  return s;
}

TEST(Site, AnnotatesInternalExternalAndTenants) {
  auto site = Site::Create(ExampleSite());
  ASSERT_TRUE(site.ok()) << site.status();
  SiteAnnotator annotator(*site);
  Arena arena;
  Event e;
  e.credential = "t003-jmiller";
  e.src_ip = *IpAddress::Parse("185.220.101.7");
  e.object = "/srv/ehr/t001/patients/2025-01.csv";
  e.dst_ip = *IpAddress::Parse("10.1.2.3");
  annotator.Annotate(e, arena);
  EXPECT_EQ(e.src_internal, Tri::kFalse);
  EXPECT_EQ(e.dst_external, Tri::kFalse);
  EXPECT_EQ(e.tenant, "t003");
  EXPECT_EQ(e.object_tenant, "t001");

  Event copy;
  copy.credential = "svc-etl";
  copy.src_ip = *IpAddress::Parse("198.51.100.20");
  copy.dst_account = "999988887777";
  copy.object = "arn:aws:s3:::t002-ehr-exports/x.csv";
  annotator.Annotate(copy, arena);
  EXPECT_EQ(copy.src_internal, Tri::kTrue);
  EXPECT_EQ(copy.dst_external, Tri::kTrue);
  EXPECT_EQ(copy.tenant, "");
  EXPECT_EQ(copy.object_tenant, "t002");

  Event partner;
  partner.dst_ip = *IpAddress::Parse("203.0.113.10");
  annotator.Annotate(partner, arena);
  EXPECT_EQ(partner.dst_external, Tri::kFalse);
  Event trusted_account;
  trusted_account.dst_account = "444455556666";
  annotator.Annotate(trusted_account, arena);
  EXPECT_EQ(trusted_account.dst_external, Tri::kFalse);

  EXPECT_TRUE((*site)->IsMultiTenant("vendor-support-anna"));
  EXPECT_TRUE((*site)->IsMultiTenant("svc-backup"));
  EXPECT_FALSE((*site)->IsMultiTenant("svc-backup2"));
}

TEST(Site, PatternWithoutTenantGroupIsRejectedWithTheFix) {
  SiteConfig s;
  s.tenants.credential_patterns = {"^(t[0-9]{3})-"};
  auto site = Site::Create(s);
  ASSERT_FALSE(site.ok());
  EXPECT_NE(std::string(site.status().message()).find("(?P<tenant>"), std::string::npos);
  s.tenants.credential_patterns = {"^(?P<tenant>t[0-9"};
  EXPECT_FALSE(Site::Create(s).ok());
}

TEST(Glob, StarAndQuestionMark) {
  EXPECT_TRUE(GlobMatch("vendor-support*", "vendor-support-anna"));
  EXPECT_TRUE(GlobMatch("t00?-*", "t003-jmiller"));
  EXPECT_FALSE(GlobMatch("t00?-*", "t0103-x"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_FALSE(GlobMatch("a*b", "acd"));
}

}  // namespace
}  // namespace credwatch
