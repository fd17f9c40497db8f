// Bad input is data: damaged copies of real logs yield every intact event,
// counted rejects, and never a crash or a stall.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "credwatch/input.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

const std::string kData = CREDWATCH_DATASETS_DIR;

struct ReadResult {
  int64_t events = 0;
  InputStats stats;
  std::vector<std::string> credentials;
};

ReadResult ReadAll(const std::string& path, Format format = Format::kAuto, size_t chunk = 1 << 20) {
  InputOptions opts;
  opts.format = format;
  opts.chunk_bytes = chunk;
  auto reader = InputReader::Open(path, opts);
  EXPECT_TRUE(reader.ok()) << reader.status();
  ReadResult r;
  if (!reader.ok()) return r;
  EventBatch batch;
  int guard = 0;
  while ((*reader)->ReadBatch(batch, r.stats)) {
    for (const Event& e : batch) r.credentials.emplace_back(e.credential);
    r.events += static_cast<int64_t>(batch.size());
    batch.Clear();
    if (++guard > 1'000'000) {
      ADD_FAILURE() << "reader does not terminate on " << path;
      break;
    }
  }
  return r;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DamagedInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("credwatch_damaged_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::string WriteGz(const std::string& name, const std::string& bytes) {
    std::string p = (dir_ / name).string();
    gzFile gz = gzopen(p.c_str(), "wb");
    gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(gz);
    return p;
  }
  fs::path dir_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

const char* kGarbage[] = {
    "\x01\x02\x03 binary junk \xff\xfe",
    "{\"eventName\": \"GetObject\", \"truncated",
    "not a log line at all",
    "\xc3\x28 invalid utf-8 \xa0\xa1",
};

TEST_F(DamagedInputTest, SyslogWithGarbageLinesKeepsEveryIntactEvent) {
  std::string clean = Slurp(kData + "/sshd/loghub/OpenSSH/OpenSSH_2k.log");
  ReadResult base = ReadAll(Write("clean.log", clean), Format::kSyslog);
  ASSERT_GT(base.events, 500);
  EXPECT_EQ(base.stats.rejects(), 0);
  std::string damaged;
  int inserted = 0;
  auto lines = Lines(clean);
  for (size_t i = 0; i < lines.size(); ++i) {
    damaged += lines[i] + "\n";
    if (i % 97 == 0) {
      damaged += std::string(kGarbage[inserted % 4]) + "\n";
      ++inserted;
    }
  }
  ReadResult r = ReadAll(Write("garbage.log", damaged), Format::kSyslog);
  EXPECT_EQ(r.events, base.events);
  EXPECT_EQ(r.stats.rejects(), inserted);
  EXPECT_EQ(r.stats.records, base.stats.records + inserted);
}

TEST_F(DamagedInputTest, CloudTrailDeliveryFileTruncatedAnywhere) {
  std::string path;
  for (const auto& f : fs::directory_iterator(kData + "/cloudtrail-invictus/CloudTrail")) {
    if (fs::file_size(f) > 100'000) {
      path = f.path().string();
      break;
    }
  }
  ASSERT_FALSE(path.empty());
  std::string clean = Slurp(path);
  ReadResult base = ReadAll(path);
  ASSERT_GT(base.events, 20);
  ASSERT_EQ(base.stats.rejects(), 0);
  // Small chunks exercise records that straddle batch boundaries.
  ReadResult chunked = ReadAll(path, Format::kAuto, 4096);
  EXPECT_EQ(chunked.events, base.events);
  EXPECT_EQ(chunked.credentials, base.credentials);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20; ++i) {
    size_t cut = 20 + rng() % (clean.size() - 40);
    ReadResult r = ReadAll(Write("cut.json", clean.substr(0, cut)), Format::kCloudTrail, 8192);
    EXPECT_LE(r.events, base.events);
    EXPECT_GE(r.stats.rejects(), 1) << "cut at " << cut;
    // Every record that ends before the cut is intact and decoded.
    for (size_t k = 0; k < static_cast<size_t>(r.events); ++k) {
      EXPECT_EQ(r.credentials[k], base.credentials[k]);
    }
  }
}

TEST_F(DamagedInputTest, CloudTrailGzipTruncatedIsCountedNotFatal) {
  std::string path = kData + "/cloudtrail-stratus";
  std::string clean;
  for (const auto& f : fs::directory_iterator(path)) {
    if (f.path().extension() == ".json") {
      clean = Slurp(f.path().string());
      break;
    }
  }
  ASSERT_FALSE(clean.empty());
  std::string gz = WriteGz("full.json.gz", clean);
  ReadResult base = ReadAll(gz);
  ASSERT_GT(base.events, 0);
  EXPECT_EQ(base.stats.rejects(), 0);
  std::string bytes = Slurp(gz);
  std::string cut = Write("cut.json.gz", bytes.substr(0, bytes.size() * 2 / 3));
  ReadResult r = ReadAll(cut);
  EXPECT_LT(r.events, base.events);
  EXPECT_GE(r.stats.by_code[static_cast<size_t>(RecordCode::kRejectTruncated)], 1);
}

TEST_F(DamagedInputTest, FlippedBytesInNdjsonDamageOnlyTheirRecords) {
  // Each flipped byte can damage at most the line it lands in (and, through
  // the sftp session table, the events that line would have linked).
  std::string path = kData + "/sshd/mtail/sftp_chroot.log";
  std::string clean = Slurp(path);
  ReadResult base = ReadAll(Write("sftp.log", clean), Format::kSyslog);
  ASSERT_GT(base.events, 10);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 10; ++round) {
    std::string damaged = clean;
    int flips = 5;
    for (int i = 0; i < flips; ++i) damaged[rng() % damaged.size()] ^= static_cast<char>(1 << (rng() % 8));
    ReadResult r = ReadAll(Write("flipped.log", damaged), Format::kSyslog);
    EXPECT_EQ(r.stats.records, r.stats.by_code[0] + r.stats.rejects() +
                                   r.stats.by_code[static_cast<size_t>(RecordCode::kSkippedIrrelevant)]);
    EXPECT_GE(r.events, base.events - 2 * flips) << "round " << round;
  }
}

TEST_F(DamagedInputTest, LineOverTheLimitIsRejectedAndReadingGoesOn) {
  std::string ok = R"({"time":"2025-01-06T09:00:00Z","kind":"auth","action":"login","outcome":"success","credential":"t001-a"})";
  std::string huge = R"({"time":"2025-01-06T09:00:00Z","credential":")" + std::string(3 << 20, 'x') + "\"}";
  std::string path = Write("huge.ndjson", ok + "\n" + huge + "\n" + ok + "\n");
  ReadResult r = ReadAll(path, Format::kNative, 256 * 1024);
  EXPECT_EQ(r.events, 2);
  EXPECT_EQ(r.stats.by_code[static_cast<size_t>(RecordCode::kRejectLineTooLong)], 1);
}

TEST_F(DamagedInputTest, DirectoriesAreReadInNameOrderAndFormatsDetected) {
  fs::create_directories(dir_ / "d" / "sub");
  std::string a = R"({"time":"2025-01-06T09:00:00Z","kind":"auth","action":"login","outcome":"success","credential":"a"})";
  Write("d/b.ndjson", a);
  Write("d/sub/c.log", "Jan  6 09:00:00 host sshd[1]: Accepted password for c from 10.0.0.1 port 22 ssh2\n");
  Write("d/.hidden", "ignored");
  auto files = ExpandInputs({(dir_ / "d").string()});
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ(fs::path((*files)[0]).filename(), "b.ndjson");
  EXPECT_EQ(DetectFormat(a), Format::kNative);
  EXPECT_EQ(DetectFormat("{\"Records\":[{\"eventName\":\"x\"}]}"), Format::kCloudTrail);
  EXPECT_EQ(DetectFormat("{\"__REALTIME_TIMESTAMP\":\"1\"}"), Format::kJournald);
  EXPECT_EQ(DetectFormat("{\"class_uid\":3002}"), Format::kOcsf);
  EXPECT_EQ(DetectFormat("Jan  6 09:00:00 host sshd[1]: x"), Format::kSyslog);
  EXPECT_EQ(DetectFormat("{\"foo\":1}"), Format::kAuto);
  EXPECT_FALSE(ExpandInputs({(dir_ / "missing").string()}).ok());
}

TEST_F(DamagedInputTest, ReplayExitStatusSaysRejectsHappened) {
  std::string ok = R"({"time":"2025-01-06T09:00:00Z","kind":"auth","action":"login","outcome":"success","credential":"a"})";
  std::string clean = Write("clean.ndjson", ok + "\n");
  std::string bad = Write("bad.ndjson", ok + "\n{broken\n");
  std::string bin = CREDWATCH_BINARY;
  auto run = [&](const std::string& args) {
    int rc = std::system((bin + " replay --quiet --emit events --output /dev/null " + args).c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run(clean), 0);
  EXPECT_EQ(run(bad), 1);
  EXPECT_EQ(run("--format nonsense " + clean), 2);
  EXPECT_EQ(run((dir_ / "nonexistent").string()), 2);
}

}  // namespace
}  // namespace credwatch
