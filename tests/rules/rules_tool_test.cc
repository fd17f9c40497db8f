// `credwatch rules check` and `credwatch rules test` as library functions.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/rules_test_util.h"

namespace credwatch::rules {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Testdata(const std::string& p) {
  return std::string(CREDWATCH_SOURCE_DIR) + "/tests/rules/testdata/" + p;
}

TEST(RulesToolTest, TestRunsTheExamplesOfEveryRule) {
  std::ostringstream out;
  const int rc = RunRulesTest({Testdata("pack")}, out);
  EXPECT_EQ(rc, 0) << out.str();
  EXPECT_THAT(out.str(), HasSubstr("PASS "));
  EXPECT_THAT(out.str(), HasSubstr("rule 'One Credential Reads Data Of Many Tenants': three "
                                   "foreign tenants in twenty minutes"));
  EXPECT_THAT(
      out.str(),
      HasSubstr("rule 'EBS Snapshot Shared With Another Account': shared with a foreign account"));
  EXPECT_THAT(out.str(), HasSubstr("10 passed, 0 failed"));
  EXPECT_THAT(out.str(), Not(HasSubstr("FAIL")));
}

TEST(RulesToolTest, TestReportsFailuresWithTheirPlace) {
  std::ostringstream out;
  const int rc = RunRulesTest({Testdata("failing")}, out);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(
      out.str(),
      HasSubstr("wrong_expectation.yml:12 rule 'Any Failed Login': success is not a failure "
                "(expected a match, got 0)"));
  EXPECT_THAT(out.str(),
              HasSubstr("bad example event, line 18: field 'action' = 'fly': not an action"));
  EXPECT_THAT(out.str(), HasSubstr("0 passed, 2 failed"));
}

TEST(RulesToolTest, CheckListsFilesAndTotals) {
  std::ostringstream out;
  const int rc =
      RunRulesCheck({Testdata("pack"), std::string(CREDWATCH_DATASETS_DIR) + "/sigma/rules"}, out);
  EXPECT_EQ(rc, 0) << out.str();
  EXPECT_THAT(out.str(), HasSubstr("OK          "));
  EXPECT_THAT(out.str(), HasSubstr("cred_cross_tenant_exfiltration.yml (2 loaded)"));
  EXPECT_THAT(out.str(), HasSubstr("UNSUPPORTED "));
  EXPECT_THAT(out.str(),
              HasSubstr("lnx_cron_crontab_file_modification.yml (0 loaded, 1 unsupported)"));
  EXPECT_THAT(out.str(), HasSubstr("82 files: 79 rules loaded, 4 unsupported, 0 with errors"));
  std::ostringstream strict;
  EXPECT_EQ(RunRulesCheck({std::string(CREDWATCH_DATASETS_DIR) + "/sigma/rules"}, strict,
                          /*strict=*/true),
            1);
}

TEST(RulesToolTest, CheckFailsOnErrorsAndNamesThem) {
  const std::string dir = ::testing::TempDir() + "/credwatch_rules_check";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bad.yml") << testing::RuleText(
      "sel:\n  credential|containz: x\ncondition: sel");
  std::ostringstream out;
  EXPECT_EQ(RunRulesCheck({dir}, out), 1);
  EXPECT_THAT(out.str(), HasSubstr("ERROR       " + dir + "/bad.yml (0 loaded, 1 with errors)"));
  EXPECT_THAT(
      out.str(),
      HasSubstr(dir +
                "/bad.yml:8:5: error: rule 'test rule r1': unknown value modifier 'containz'"));
  std::ostringstream missing;
  EXPECT_EQ(RunRulesCheck({dir + "/nope"}, missing), 1);
  EXPECT_THAT(missing.str(), HasSubstr("no such file or directory"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace credwatch::rules
