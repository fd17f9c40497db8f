// The durability promise, end to end: `credwatch replay --state-dir` killed
// (SIGKILL) at random points and run again until it finishes writes exactly
// the output a clean run writes (no alert lost, none twice) and leaves the
// same profiles (`credwatch state export`) as a clean stateful run.
//
// CREDWATCH_KILL_ITERATIONS (default 20) sets the number of kills;
// CREDWATCH_KILL_SEED replays a failing sequence (the seed is printed).
// Also, through the binary: a state_dir that cannot be used stops the replay
// at start with exit status 2 and a message, and a state of another replay
// is refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "replay/simulator/simulator.h"
#include "state/state_store.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  bool killed = false;
  int exit_code = -1;
  double seconds = 0;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the credwatch binary; SIGKILLs it after `kill_after_s` if that is >= 0.
RunResult RunCredwatch(const std::vector<std::string>& args, const fs::path& scratch,
                       double kill_after_s = -1) {
  const fs::path out_path = scratch / "stdout.txt";
  const fs::path err_path = scratch / "stderr.txt";
  std::vector<std::string> argv_s = {CREDWATCH_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  RunResult r;
  int status = 0;
  if (pid > 0) {
    if (kill_after_s < 0) {
      ::waitpid(pid, &status, 0);
    } else {
      const auto deadline = start + std::chrono::duration<double>(kill_after_s);
      while (true) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (Clock::now() >= deadline) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    r.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.out = Slurp(out_path);
  r.err = Slurp(err_path);
  return r;
}

class KillResumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("credwatch_kill_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    sim::SimulateOptions sopts;
    sopts.days = 30;
    sopts.tenants = 6;
    sopts.seed = 7;
    sopts.target_events = 40'000;
    sopts.out_dir = (root_ / "sim").string();
    auto sim = sim::Simulate(sopts);
    ASSERT_TRUE(sim.ok()) << sim.status();
    // A copy of the rule pack: the runs of one test must see the same rules.
    fs::copy(fs::path(CREDWATCH_SOURCE_DIR) / "rules", root_ / "rules", fs::copy_options::recursive);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // `credwatch replay` of the simulated estate, with extra flags.
  static std::vector<std::string> Replay(const std::vector<std::string>& extra,
                                         const std::string& rules = "rules") {
    const fs::path sim = root_ / "sim";
    std::vector<std::string> args = {"replay",  "--config", (sim / "credwatch.yaml").string(),
                                      "--rules", (root_ / rules).string(),
                                      "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const char* input : {"cloudtrail.ndjson", "cloudtrail", "journal.ndjson", "flows.ndjson"}) {
      args.push_back((sim / input).string());
    }
    return args;
  }

  static std::string Export(const fs::path& state_dir) {
    RunResult r = RunCredwatch({"state", "export", "--state-dir", state_dir.string()}, root_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  static void KillAndCompare(const std::string& rules, int iterations, const std::string& tag,
                             const std::string& shards);

  static inline fs::path root_;
};

// Kills `credwatch replay` at random points `iterations` times (in cycles of
// 5 to 8 kills, each finished by an unkilled run) and compares every
// cycle's output and profiles with clean runs'.
void KillResumeTest::KillAndCompare(const std::string& rules, int iterations, const std::string& tag,
                                    const std::string& shards) {
  // The reference: a clean run without state.
  const fs::path clean_out = root_ / (tag + "-clean.ndjson");
  RunResult clean = RunCredwatch(Replay({"--no-state", "--output", clean_out.string()}, rules), root_);
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const std::string expected = Slurp(clean_out);
  ASSERT_GT(std::count(expected.begin(), expected.end(), '\n'), 10) << "too few alerts to compare";

  // A clean run with state: the same output, and the reference profiles.
  // `shards` "any": each run (fresh or resumed) asks for 1 to 3 shards at
  // random; a resume keeps the shards its state was written by.
  const bool any_shards = shards == "any";
  const std::vector<std::string> commit_flags = {"--commit-events", "1000", "--commit-interval", "20ms"};
  const fs::path ref_state = root_ / (tag + "-ref-state");
  const fs::path ref_out = root_ / (tag + "-ref.ndjson");
  std::vector<std::string> ref_args = commit_flags;
  ref_args.insert(ref_args.end(), {"--shards", any_shards ? "2" : shards, "--state-dir", ref_state.string(),
                                   "--output", ref_out.string()});
  RunResult ref = RunCredwatch(Replay(ref_args, rules), root_);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  ASSERT_EQ(Slurp(ref_out), expected) << "a stateful run must write what a stateless one writes";
  const std::string expected_profiles = Export(ref_state);
  ASSERT_FALSE(expected_profiles.empty());

  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("CREDWATCH_KILL_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("kill test %s: seed %llu (CREDWATCH_KILL_SEED), %d kills, clean run %.2f s\n",
              tag.c_str(), static_cast<unsigned long long>(seed), iterations, ref.seconds);
  std::mt19937_64 rng(seed);
  // Kill anywhere from start-up (before the first commit) to the very end.
  std::uniform_real_distribution<double> when(0.05, ref.seconds * 1.05);

  int kills = 0, cycles = 0;
  while (kills < iterations) {
    const fs::path state_dir = root_ / (tag + "-state-" + std::to_string(cycles));
    const fs::path out = root_ / (tag + "-out-" + std::to_string(cycles) + ".ndjson");
    std::vector<std::string> args = commit_flags;
    args.insert(args.end(), {"--sync", cycles % 2 ? "none" : "commit", "--state-dir",
                             state_dir.string(), "--output", out.string()});
    auto with_shards = [&] {
      std::vector<std::string> a = args;
      a.insert(a.end(), {"--shards", any_shards ? std::to_string(1 + rng() % 3) : shards});
      return a;
    };
    const int kills_this_cycle = std::min(iterations - kills, 5 + static_cast<int>(rng() % 4));
    bool finished = false;
    std::string history;
    for (int k = 0; k < kills_this_cycle && !finished; ++k) {
      const double after = when(rng);
      RunResult r = RunCredwatch(Replay(with_shards(), rules), root_, after);
      history += "  killed after " + std::to_string(after) + " s: " +
                 (r.killed ? "killed" : "finished, exit " + std::to_string(r.exit_code)) + "\n";
      if (r.killed) {
        ++kills;
        if (rng() % 3 == 0) {
          // Without the saved windows the resume rebuilds the state from the
          // log (the path for a windows record this build cannot read; on
          // one shard whatever shards wrote the state).
          state::StateOptions o;
          o.dir = state_dir.string();
          auto store = state::StateStore::Open(o);
          ASSERT_TRUE(store.ok()) << store.status();
          state::StateBatch drop;
          ASSERT_TRUE((*store)->Scan(state::Family::kWindows, "evaluator/", [&](std::string_view key, std::string_view) {
            drop.Delete(state::Family::kWindows, key);
            return true;
          }).ok());
          ASSERT_TRUE((*store)->Commit(drop).ok());
          history += "  (windows dropped: rebuild resume)\n";
        }
      } else {
        ASSERT_EQ(r.exit_code, 0) << r.err << history;
        finished = true;
      }
    }
    if (!finished) {
      RunResult r = RunCredwatch(Replay(with_shards(), rules), root_);
      ASSERT_EQ(r.exit_code, 0) << r.err << history;
    }
    if (cycles == 0) {
      // Running it once more after it finished changes nothing.
      RunResult again = RunCredwatch(Replay(with_shards(), rules), root_);
      ASSERT_EQ(again.exit_code, 0) << again.err << history;
    }
    ASSERT_EQ(Slurp(out), expected) << "cycle " << cycles << " (seed " << seed << ")\n" << history;
    ASSERT_EQ(Export(state_dir), expected_profiles) << "cycle " << cycles << " (seed " << seed << ")\n"
                                                    << history;
    ++cycles;
  }
  EXPECT_GE(kills, iterations);
}

int KillIterations(int fallback) {
  if (const char* env = std::getenv("CREDWATCH_KILL_ITERATIONS")) return std::max(1, std::atoi(env));
  return fallback;
}

TEST_F(KillResumeTest, KilledAndResumedRunsWriteWhatACleanRunWrites) {
  // The shipped pack: correlation windows are open at most cuts. Most
  // resumes are fast (windows, profiles and the alert folder from the
  // database); for about a third the saved windows are dropped first, so the
  // resume rebuilds the state from the log.
  KillAndCompare("rules", KillIterations(20), "pack", "1");
}

TEST_F(KillResumeTest, KilledAndResumedShardedRunsWriteWhatACleanRunWrites) {
  // The same on the sharded runtime: each commit holds every shard's
  // profiles and windows at one cut of the merged sequence. Each run asks
  // for 1 to 3 shards; a resume runs on the shards the state was committed
  // by, whatever it asks. A third of the resumes lose the saved windows and
  // rebuild them on one shard.
  KillAndCompare("rules", KillIterations(20), "sharded", "any");
}

TEST_F(KillResumeTest, StateOnGivesTheSameAlertsAndProfilesOnOneTwoAndFourShards) {
  const fs::path clean_out = root_ / "shards-clean.ndjson";
  RunResult clean = RunCredwatch(Replay({"--no-state", "--output", clean_out.string()}), root_);
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const std::string expected = Slurp(clean_out);
  ASSERT_GT(std::count(expected.begin(), expected.end(), '\n'), 10);
  std::string first_profiles;
  for (const char* shards : {"1", "2", "4"}) {
    const fs::path dir = root_ / (std::string("shards-state-") + shards);
    const fs::path out = root_ / (std::string("shards-") + shards + ".ndjson");
    RunResult r = RunCredwatch(Replay({"--shards", shards, "--commit-events", "5000", "--state-dir", dir.string(),
                                       "--output", out.string()}),
                               root_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Slurp(out), expected) << shards << " shards";
    const std::string profiles = Export(dir);
    EXPECT_FALSE(profiles.empty());
    if (first_profiles.empty()) first_profiles = profiles;
    EXPECT_EQ(profiles, first_profiles) << shards << " shards";
    // A second run of the finished replay, asking for other shards, changes nothing.
    r = RunCredwatch(Replay({"--shards", "3", "--commit-events", "5000", "--state-dir", dir.string(), "--output",
                             out.string()}),
                     root_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Slurp(out), expected) << shards << " shards, run again";
  }
}

TEST_F(KillResumeTest, UnusableStateDirStopsTheReplayAtStart) {
  const fs::path out = root_ / "refused.ndjson";
  // Locked: this process holds the state directory.
  const fs::path locked = root_ / "locked-state";
  state::StateOptions o;
  o.dir = locked.string();
  auto holder = state::StateStore::Open(o);
  ASSERT_TRUE(holder.ok()) << holder.status();
  RunResult r = RunCredwatch(Replay({"--state-dir", locked.string(), "--output", out.string()}), root_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is locked by another credwatch process (pid " + std::to_string(::getpid())),
            std::string::npos)
      << r.err;
  holder->reset();

  // Incompatible version.
  {
    std::ofstream marker(locked / "CREDWATCH_STATE", std::ios::trunc);
    marker << "credwatch state\nformat 99\n";
  }
  r = RunCredwatch(Replay({"--state-dir", locked.string(), "--output", out.string()}), root_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("incompatible credwatch"), std::string::npos) << r.err;

  // Corrupted.
  const fs::path corrupt = root_ / "corrupt-state";
  o.dir = corrupt.string();
  ASSERT_TRUE(state::StateStore::Open(o).ok());
  std::ofstream(corrupt / "CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  r = RunCredwatch(Replay({"--state-dir", corrupt.string(), "--output", out.string()}), root_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is corrupted"), std::string::npos) << r.err;

  // Read-only.
  const fs::path ro = root_ / "ro-state";
  fs::create_directories(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  r = RunCredwatch(Replay({"--state-dir", ro.string(), "--output", out.string()}), root_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is read-only"), std::string::npos) << r.err;
  fs::permissions(ro, fs::perms::owner_all);
  EXPECT_FALSE(fs::exists(out)) << "nothing may be written when the state cannot be used";
}

TEST_F(KillResumeTest, StateOfAnotherReplayIsRefused) {
  const fs::path dir = root_ / "other-state";
  const fs::path out = root_ / "other.ndjson";
  RunResult r = RunCredwatch(
      Replay({"--state-dir", dir.string(), "--output", out.string(), "--max-disorder", "5m"}), root_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string written = Slurp(out);
  r = RunCredwatch(
      Replay({"--state-dir", dir.string(), "--output", out.string(), "--max-disorder", "20m"}), root_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("holds the state of another replay"), std::string::npos) << r.err;
  r = RunCredwatch(Replay({"--state-dir", dir.string(), "--output", (root_ / "elsewhere.ndjson").string(),
                           "--max-disorder", "5m"}),
                   root_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("Resume with the same --output"), std::string::npos) << r.err;
  EXPECT_EQ(Slurp(out), written) << "a refused run must leave the output alone";
}

// A real full disk (a small tmpfs): needs root and mount(2); skipped otherwise.
TEST_F(KillResumeTest, DiskFullStopsIntakeAndTheReplayResumesAfterwards) {
  const fs::path mnt = root_ / "small-fs";
  fs::create_directories(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=600k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here";
  }
  const fs::path dir = mnt / "state";
  const fs::path out = root_ / "diskfull.ndjson";
  std::vector<std::string> args = {"--state-dir", dir.string(), "--output", out.string(),
                                   "--commit-events", "1000", "--commit-interval", "20ms"};
  RunResult r = RunCredwatch(Replay(args), root_);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("disk full"), std::string::npos) << r.err;
  // Room again: the same command resumes from the last commit.
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0);
  r = RunCredwatch(Replay(args), root_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  RunResult clean = RunCredwatch(Replay({"--no-state", "--output", (root_ / "df-clean.ndjson").string()}), root_);
  ASSERT_EQ(clean.exit_code, 0);
  EXPECT_EQ(Slurp(out), Slurp(root_ / "df-clean.ndjson"));
  ::umount2(mnt.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace credwatch
