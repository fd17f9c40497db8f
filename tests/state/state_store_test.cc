// The state database: commits are atomic and survive reopening, and a
// state_dir that cannot be used is refused at start with a message that says
// why (locked by another process, read-only, incompatible version,
// corrupted, not ours); a full disk fails a commit without losing what was
// committed before. Also the profile cache: eviction and reload, and
// retention, change nothing an event sees.
#include "state/state_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "credwatch/event.h"
#include "credwatch/rules.h"
#include "credwatch/time_util.h"
#include "profile/profile_store.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "state/durable_detector.h"
#include "state/encoding.h"
#include "state/profile_cache.h"
#include "state/records.h"
#include "state/state_json.h"

namespace credwatch::state {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("credwatch_state_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

StateOptions Options(const std::string& dir) {
  StateOptions o;
  o.dir = dir;
  o.memory_budget_bytes = 16 << 20;
  return o;
}

std::string MustGet(const StateStore& store, Family f, std::string_view key) {
  std::string v;
  auto got = store.Get(f, key, &v);
  EXPECT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got.ok() && *got) << "missing key " << key;
  return v;
}

TEST(StateStoreTest, CommitIsAtomicAndSurvivesReopen) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE((*store)->created());
    StateBatch batch;
    batch.Put(Family::kProfiles, "t001-alice", "profile-a");
    batch.Put(Family::kPositions, "cursor", "cut-1");
    batch.Put(Family::kOutbox, SeqKey("", 1), "alert-1\n");
    StateBatch shard;
    shard.Put(Family::kProfiles, "t002-bob", "profile-b");
    batch.Append(std::move(shard));
    ASSERT_TRUE((*store)->Commit(batch).ok());
    EXPECT_TRUE(batch.empty());
    batch.Delete(Family::kOutbox, SeqKey("", 1));
    batch.Put(Family::kPositions, "cursor", "cut-2");
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  auto store = StateStore::Open(Options(dir.str()));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->created());
  EXPECT_EQ(MustGet(**store, Family::kProfiles, "t001-alice"), "profile-a");
  EXPECT_EQ(MustGet(**store, Family::kProfiles, "t002-bob"), "profile-b");
  EXPECT_EQ(MustGet(**store, Family::kPositions, "cursor"), "cut-2");
  int outbox = 0;
  ASSERT_TRUE((*store)->Scan(Family::kOutbox, "", [&](std::string_view, std::string_view) {
    ++outbox;
    return true;
  }).ok());
  EXPECT_EQ(outbox, 0);
  std::vector<std::string> keys;
  ASSERT_TRUE((*store)->Scan(Family::kProfiles, "t00", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"t001-alice", "t002-bob"}));
}


// A commit is built from the shards' parts: their changes apply in the order
// they were appended, so a later part's delete or rewrite of a key wins.
TEST(StateStoreTest, AppendedPartsApplyInOrder) {
  TempDir dir;
  auto store = StateStore::Open(Options(dir.str()));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string big(100000, 'x');
  StateBatch first;
  first.Put(Family::kProfiles, "a", "1");
  first.Put(Family::kProfiles, "b", "1");
  StateBatch second;
  second.Delete(Family::kProfiles, "a");
  second.Put(Family::kProfiles, "b", "2");
  second.Put(Family::kWindows, "c", big);
  StateBatch batch;
  batch.Append(std::move(first));
  batch.Append(std::move(second));
  EXPECT_TRUE(first.empty());
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.bytes(), 8 + big.size());  // "a1" "b1" "a" "b2" "c" and the value
  ASSERT_TRUE((*store)->Commit(batch).ok());
  std::string value;
  auto got = (*store)->Get(Family::kProfiles, "a", &value);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
  EXPECT_EQ(MustGet(**store, Family::kProfiles, "b"), "2");
  EXPECT_EQ(MustGet(**store, Family::kWindows, "c"), big);
}
TEST(StateStoreTest, LockedByAnotherProcessIsRefused) {
  TempDir dir;
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = StateStore::Open(Options(dir.str()));
    char c = store.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(3);
    if (::read(release[0], &c, 1) != 1) ::_exit(4);
    ::_exit(store.ok() ? 0 : 2);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y') << "the child could not open the state";
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  const std::string msg(store.status().message());
  EXPECT_NE(msg.find("locked by another credwatch process (pid " + std::to_string(child) + ")"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.str()), std::string::npos) << msg;
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Once the other process is gone, the directory opens.
  auto again = StateStore::Open(Options(dir.str()));
  EXPECT_TRUE(again.ok()) << again.status();
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

TEST(StateStoreTest, ReadOnlyDirectoryIsRefused) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
  }
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec |
                                  fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_NE(store.status().message().find("is read-only"), absl::string_view::npos)
      << store.status();
  // A new state_dir inside a read-only directory cannot be created either.
  auto nested = StateStore::Open(Options((dir.path() / "sub").string()));
  if (::geteuid() != 0) {  // root may create it anyway; the mode check above still holds
    EXPECT_FALSE(nested.ok());
    EXPECT_NE(nested.status().message().find("read-only"), absl::string_view::npos)
        << nested.status();
  }
  // Reading still works (credwatch state show).
  auto reader = StateStore::OpenReadOnly(dir.str());
  EXPECT_TRUE(reader.ok()) << reader.status();
}

TEST(StateStoreTest, IncompatibleVersionIsRefused) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
  }
  {
    std::ofstream marker(dir.path() / "CREDWATCH_STATE", std::ios::trunc);
    marker << "credwatch state\nformat 99\nwritten-by 9.0.0\n";
  }
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_NE(store.status().message().find("incompatible credwatch (state format 99"),
            absl::string_view::npos)
      << store.status();
  auto reader = StateStore::OpenReadOnly(dir.str());
  EXPECT_FALSE(reader.ok());
}

// State of format 1 (the alert folder's journal in the windows family) is
// upgraded in place at the first Open: nothing of it is lost, and the
// marker follows. A read-only look before that says what to do.
TEST(StateStoreTest, Format1IsUpgradedInPlace) {
  TempDir dir;
  const std::string detection = EncodeDetectionV1(Detection{}, true);
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
    StateBatch b;
    b.Put(Family::kWindows, SeqKey(kDetectionKeyPrefix, 7), detection);
    b.Put(Family::kWindows, "evaluator/0", "windows");
    b.Put(Family::kMeta, "format", "1");
    ASSERT_TRUE((*store)->Commit(b).ok());
  }
  {
    std::ofstream marker(dir.path() / "CREDWATCH_STATE", std::ios::trunc);
    marker << "credwatch state\nformat 1\nwritten-by 0.1.0\n";
  }
  auto reader = StateStore::OpenReadOnly(dir.str());
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("run `credwatch replay` or `credwatch run`"), absl::string_view::npos)
      << reader.status();

  auto store = StateStore::Open(Options(dir.str()));
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::string, std::string> journal, windows;
  auto into = [](std::map<std::string, std::string>* m) {
    return [m](std::string_view k, std::string_view v) {
      (*m)[std::string(k)] = v;
      return true;
    };
  };
  ASSERT_TRUE((*store)->Scan(Family::kJournal, "", into(&journal)).ok());
  ASSERT_TRUE((*store)->Scan(Family::kWindows, "", into(&windows)).ok());
  EXPECT_EQ(journal, (std::map<std::string, std::string>{{SeqKey(kDetectionKeyPrefix, 7), detection}}));
  EXPECT_EQ(windows, (std::map<std::string, std::string>{{"evaluator/0", "windows"}}));
  std::string format;
  ASSERT_TRUE((*store)->Get(Family::kMeta, "format", &format).ok());
  EXPECT_EQ(format, std::to_string(kStateFormatVersion));
  store->reset();
  std::ifstream marker(dir.path() / "CREDWATCH_STATE");
  std::stringstream text;
  text << marker.rdbuf();
  EXPECT_NE(text.str().find("format " + std::to_string(kStateFormatVersion) + "\n"), std::string::npos) << text.str();
  EXPECT_TRUE(StateStore::OpenReadOnly(dir.str()).ok());
}

// State of format 2 (journal detections with their rule inline) becomes
// format 3 at the first Open, and its journal still reads: a resume after
// an upgrade rebuilds the same alert folder.
// A state of `format` holding `b`, opened (so upgraded) by this build;
// the upgrade must have written the current format.
absl::StatusOr<std::unique_ptr<StateStore>> OpenAsOlderFormat(const TempDir& dir, int format, StateBatch& b) {
  {
    auto store = StateStore::Open(Options(dir.str()));
    if (!store.ok()) return store.status();
    b.Put(Family::kMeta, "format", std::to_string(format));
    if (absl::Status s = (*store)->Commit(b); !s.ok()) return s;
  }
  {
    std::ofstream marker(dir.path() / "CREDWATCH_STATE", std::ios::trunc);
    marker << "credwatch state\nformat " << format << "\nwritten-by 0.1.0\n";
  }
  auto store = StateStore::Open(Options(dir.str()));
  if (store.ok()) {
    EXPECT_EQ(MustGet(**store, Family::kMeta, "format"), std::to_string(kStateFormatVersion));
  }
  return store;
}

TEST(StateStoreTest, Format2IsUpgradedAndItsJournalStillReads) {
  TempDir dir;
  Detection d;
  d.rule_id = "r1";
  d.title = "Rule one";
  d.group_key = "t001-alice";
  d.time_ns = 42;
  StateBatch b;
  b.Put(Family::kJournal, SeqKey(kDetectionKeyPrefix, 1), EncodeDetectionV1(d));
  auto store = OpenAsOlderFormat(dir, 2, b);
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<std::string> rules;
  ASSERT_TRUE(ScanJournal(store->get(), [&](uint64_t, const Detection& got) {
    rules.push_back(got.rule_id + ": " + got.title);
  }).ok());
  EXPECT_EQ(rules, (std::vector<std::string>{"r1: Rule one"}));
  store->reset();
  std::ifstream marker(dir.path() / "CREDWATCH_STATE");
  std::stringstream text;
  text << marker.rdbuf();
  EXPECT_NE(text.str().find("format " + std::to_string(kStateFormatVersion) + "\n"), std::string::npos) << text.str();
}

// A format-3 state (a record per detection) upgraded to format 4, then
// journaled in chunks by a replay: restored in seq order, and counted by
// `state show`'s summary. A chunk before the records it follows is damage.
TEST(StateStoreTest, Format3JournalThenChunksRestoreInOrder) {
  TempDir dir;
  auto detection = [](int i) {
    Detection d;
    d.rule_id = i % 2 ? "r-odd" : "r-even";
    d.title = "Rule";
    d.group_key = "t001-u" + std::to_string(i);
    d.time_ns = 1000 + i;
    return d;
  };
  JournalWriter old_writer(/*chunked=*/false);
  StateBatch b;
  for (int i = 0; i < 3; ++i) old_writer.Put(static_cast<uint64_t>(i), detection(i), true, &b);
  auto store = OpenAsOlderFormat(dir, 3, b);
  ASSERT_TRUE(store.ok()) << store.status();
  // Two commits of a chunked writer: seqs 3..6, then 7..9.
  JournalWriter writer(/*chunked=*/true);
  for (int commit = 0; commit < 2; ++commit) {
    StateBatch b;
    for (int i = commit == 0 ? 3 : 7; i < (commit == 0 ? 7 : 10); ++i) {
      writer.Put(static_cast<uint64_t>(i), detection(i), true, &b);
    }
    writer.Flush(&b);
    ASSERT_TRUE((*store)->Commit(b).ok());
  }
  int journal_records = 0;
  ASSERT_TRUE((*store)->Scan(Family::kJournal, "", [&](std::string_view, std::string_view) {
    ++journal_records;
    return true;
  }).ok());
  EXPECT_EQ(journal_records, 2 + 3 + 2) << "2 rule records, 3 detection records, 2 chunks";
  std::vector<std::string> got;
  ASSERT_TRUE(ScanJournal(store->get(), [&](uint64_t seq, const Detection& d) {
    got.push_back(std::to_string(seq) + " " + d.rule_id + " " + d.group_key);
  }).ok());
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back(std::to_string(i) + " " + detection(i).rule_id + " t001-u" + std::to_string(i));
  EXPECT_EQ(got, want);
  std::string summary;
  ASSERT_TRUE(AppendStateSummaryJson(**store, &summary).ok());
  EXPECT_NE(summary.find("\"detections_journaled\":10"), std::string::npos) << summary;

  // Damage: a chunk that starts inside the records before it, and a
  // truncated chunk.
  StateBatch bad;
  std::string chunk;
  ASSERT_TRUE((*store)->Get(Family::kJournal, SeqKey(kJournalChunkKeyPrefix, 7), &chunk).ok());
  bad.Put(Family::kJournal, SeqKey(kJournalChunkKeyPrefix, 1), chunk);
  ASSERT_TRUE((*store)->Commit(bad).ok());
  absl::Status s = ScanJournal(store->get(), [](uint64_t, const Detection&) {});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  bad.Delete(Family::kJournal, SeqKey(kJournalChunkKeyPrefix, 1));
  bad.Put(Family::kJournal, SeqKey(kJournalChunkKeyPrefix, 7), chunk.substr(0, chunk.size() - 1));
  ASSERT_TRUE((*store)->Commit(bad).ok());
  s = ScanJournal(store->get(), [](uint64_t, const Detection&) {});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("corrupted"), std::string::npos) << s;
}

TEST(StateStoreTest, UnknownColumnFamilyMeansANewerFormat) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
  }
  {
    // What a later credwatch might add.
    rocksdb::DBOptions dbo;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(dbo, dir.str(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(dbo, dir.str(), families, &handles, &db).ok());
    rocksdb::ColumnFamilyHandle* extra = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "shards", &extra).ok());
    handles.push_back(extra);
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("unknown column family 'shards'"), absl::string_view::npos)
      << store.status();
}

TEST(StateStoreTest, CorruptedDatabaseIsRefused) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
    StateBatch batch;
    batch.Put(Family::kProfiles, "t001-alice", "profile");
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  {
    std::ofstream current(dir.path() / "CURRENT", std::ios::trunc);
    current << "garbage";
  }
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
  EXPECT_NE(store.status().message().find("is corrupted"), absl::string_view::npos) << store.status();
  EXPECT_NE(store.status().message().find("move it away to start over"), absl::string_view::npos);
}

TEST(StateStoreTest, DamagedManifestIsRefused) {
  TempDir dir;
  {
    auto store = StateStore::Open(Options(dir.str()));
    ASSERT_TRUE(store.ok()) << store.status();
  }
  std::string manifest;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) manifest = e.path().string();
  }
  ASSERT_FALSE(manifest.empty());
  {
    std::fstream f(manifest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
  }
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
}

TEST(StateStoreTest, ForeignDirectoryIsRefused) {
  TempDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "notes.txt") << "not state";
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("is not empty and holds no credwatch state"),
            absl::string_view::npos)
      << store.status();
  EXPECT_TRUE(fs::exists(dir.path() / "notes.txt"));
}

// A file system that runs out of space on demand.
class FullDiskFs : public rocksdb::FileSystemWrapper {
 public:
  FullDiskFs(std::shared_ptr<rocksdb::FileSystem> base, std::atomic<bool>* full)
      : FileSystemWrapper(std::move(base)), full_(full) {}
  const char* Name() const override { return "FullDiskFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    if (*full_) return rocksdb::IOStatus::NoSpace("simulated full disk");
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new File(std::move(file), full_));
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> t, std::atomic<bool>* full)
        : FSWritableFileOwnerWrapper(std::move(t)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("simulated full disk");
      return target()->Append(data, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("simulated full disk");
      return target()->Append(data, o, info, dbg);
    }

   private:
    std::atomic<bool>* full_;
  };
  std::atomic<bool>* full_;
};

TEST(StateStoreTest, DiskFullFailsTheCommitAndKeepsCommittedState) {
  TempDir dir;
  std::atomic<bool> full{false};
  auto fs = std::make_shared<FullDiskFs>(rocksdb::FileSystem::Default(), &full);
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  {
    StateOptions o = Options(dir.str());
    o.env_for_testing = env.get();
    auto store = StateStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    StateBatch batch;
    batch.Put(Family::kPositions, "cursor", "cut-1");
    ASSERT_TRUE((*store)->Commit(batch).ok());
    full = true;
    batch.Put(Family::kPositions, "cursor", "cut-2");
    absl::Status s = (*store)->Commit(batch);
    EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
    EXPECT_NE(s.message().find("disk full"), absl::string_view::npos) << s;
    EXPECT_NE(s.message().find("committed before is intact"), absl::string_view::npos) << s;
    // The store stays stopped: no later commit can land half a state.
    full = false;
    batch.Put(Family::kPositions, "cursor", "cut-3");
    EXPECT_FALSE((*store)->Commit(batch).ok());
  }
  auto store = StateStore::Open(Options(dir.str()));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(MustGet(**store, Family::kPositions, "cursor"), "cut-1");
}

TEST(StateRecordsTest, RoundTrips) {
  Cursor c;
  c.commits = 3;
  c.events = 12345;
  c.watermarks = 17;
  c.watermark_ns = 1'700'000'000'000'000'000;
  c.detections = 9;
  c.inputs = 1;
  auto back = DecodeCursor(EncodeCursor(c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->events, 12345u);
  EXPECT_EQ(back->detections, 9u);
  EXPECT_EQ(back->inputs, 1u);
  std::string damaged = EncodeCursor(c);
  damaged.pop_back();
  EXPECT_FALSE(DecodeCursor(damaged).ok());

  InputCursor in;
  in.identity.path = "logs/a.ndjson";
  in.identity.readable = true;
  in.identity.device = 1;
  in.identity.inode = 2;
  in.identity.size = 3;
  in.identity.fingerprint = 4;
  in.identity.fingerprint_bytes = 5;
  in.next_offset = 6;
  in.events_read = 7;
  auto ib = DecodeInputCursor(EncodeInputCursor(in));
  ASSERT_TRUE(ib.ok()) << ib.status();
  EXPECT_EQ(ib->identity.Difference(in.identity), "");
  EXPECT_EQ(ib->next_offset, 6u);
  FileIdentity grown = in.identity;
  grown.size = 4;
  EXPECT_NE(in.identity.Difference(grown), "");

  Detection d;
  d.rule_id = "r1";
  d.severity = Severity::kCritical;
  d.group_key = "t001-alice";
  d.evidences = {"{\"a\":1}", "{\"b\":2}"};
  d.blast.tenants = {"t001", "t002"};
  d.blast.bytes = 42;
  auto dd = DecodeDetection(EncodeDetectionV1(d), JournalRules{});
  ASSERT_TRUE(dd.ok()) << dd.status();
  EXPECT_EQ(dd->rule_id, "r1");
  EXPECT_EQ(dd->severity, Severity::kCritical);
  EXPECT_EQ(dd->evidences, d.evidences);
  EXPECT_EQ(dd->blast.tenants, d.blast.tenants);
  EXPECT_EQ(dd->blast.bytes, 42);
}

// The journal's detections (version 2) name their rule by reference: every
// field comes back, the rule's from its own record; a detection whose rule
// record is missing, or a rule record that does not match its key, is
// damage, not a silently relabelled alert.
TEST(StateRecordsTest, JournalDetectionsNameTheirRule) {
  Detection d;
  d.rule_id = "0b1e5f3a-credential-spray";
  d.title = "Password spray, then a success";
  d.severity = Severity::kHigh;
  d.attacks = {"T1110.003", "T1078"};
  d.group_key = "t001-alice";
  d.credential = "t001-alice";
  d.tenant = "t001";
  d.src_ip = "203.0.113.9";
  d.time_ns = kNsPerDay * 20000 + 5;
  d.first_seen_ns = d.time_ns - 3 * kNsPerHour;
  d.last_seen_ns = d.time_ns + 7;
  d.evidences = {"{\"a\":1}"};
  d.blast.tenants = {"t001", "t002"};
  d.blast.objects = {"/exports/patients.csv"};
  d.blast.destinations = {"198.51.100.4"};
  d.blast.objects_total = 3;
  d.blast.bytes = int64_t{5} << 40;
  d.blast.records = 12;

  std::string rule;
  EncodeJournalRule(d, &rule);
  const uint64_t ref = JournalRuleRef(rule);
  JournalRules rules;
  ASSERT_TRUE(DecodeJournalRule(SeqKey(kJournalRuleKeyPrefix, ref), rule, &rules).ok());
  std::string record;
  EncodeDetection(d, /*evidences=*/true, ref, &record);
  EXPECT_LT(record.size(), EncodeDetectionV1(d).size() - d.rule_id.size() - d.title.size());
  auto back = DecodeDetection(record, rules);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rule_id, d.rule_id);
  EXPECT_EQ(back->title, d.title);
  EXPECT_EQ(back->attacks, d.attacks);
  EXPECT_EQ(back->severity, d.severity);
  EXPECT_EQ(back->group_key, d.group_key);
  EXPECT_EQ(back->credential, d.credential);
  EXPECT_EQ(back->tenant, d.tenant);
  EXPECT_EQ(back->src_ip, d.src_ip);
  EXPECT_EQ(back->time_ns, d.time_ns);
  EXPECT_EQ(back->first_seen_ns, d.first_seen_ns);
  EXPECT_EQ(back->last_seen_ns, d.last_seen_ns);
  EXPECT_EQ(back->evidences, d.evidences);
  EXPECT_EQ(back->blast.tenants, d.blast.tenants);
  EXPECT_EQ(back->blast.objects, d.blast.objects);
  EXPECT_EQ(back->blast.destinations, d.blast.destinations);
  EXPECT_EQ(back->blast.objects_total, 3);
  EXPECT_EQ(back->blast.bytes, int64_t{5} << 40);
  EXPECT_EQ(back->blast.records, 12);

  record.clear();
  EncodeDetection(d, /*evidences=*/false, ref, &record);
  back = DecodeDetection(record, rules);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->evidences.empty());

  EXPECT_FALSE(DecodeDetection(record, JournalRules{}).ok());
  JournalRules other;
  EXPECT_FALSE(DecodeJournalRule(SeqKey(kJournalRuleKeyPrefix, ref + 1), rule, &other).ok());
  EXPECT_FALSE(DecodeDetection(record.substr(0, record.size() - 1), rules).ok());
}

// --- ProfileCache ----------------------------------------------------------

const int64_t kT0 = DaysFromCivil(2024, 1, 1) * kNsPerDay;

struct Script {
  std::deque<std::string> strings;
  std::vector<Event> events;
  std::string_view Keep(std::string s) { return strings.emplace_back(std::move(s)); }
};

// A month of activity of 300 credentials, reads and logins from a few networks.
Script MakeScript() {
  Script s;
  for (int day = 0; day < 30; ++day) {
    for (int c = 0; c < 300; ++c) {
      if ((c + day) % 3 == 0) continue;
      Event e;
      e.credential = s.Keep("t00" + std::to_string(c % 7) + "-user" + std::to_string(c));
      e.tenant = s.Keep("t00" + std::to_string(c % 7));
      e.time_ns = kT0 + day * kNsPerDay + (c % 24) * kNsPerHour;
      e.kind = day % 2 ? Kind::kAccess : Kind::kAuth;
      e.action = day % 2 ? Action::kRead : Action::kLogin;
      e.outcome = Outcome::kSuccess;
      e.host = s.Keep("sftp0" + std::to_string(c % 3));
      e.bytes = (c + 1) * 1000 * (day % 5 + 1);
      e.object_tenant = s.Keep("t00" + std::to_string((c + day / 10) % 7));
      auto ip = IpAddress::Parse("10.1." + std::to_string((c + day / 7) % 5) + ".7");
      if (ip) e.src_ip = *ip;
      s.events.push_back(e);
    }
  }
  return s;
}

bool SameProfile(const ProfileFields& a, const ProfileFields& b) {
  return a.valid == b.valid && a.learning == b.learning && a.src_new == b.src_new &&
         a.host_new == b.host_new && a.dst_new == b.dst_new &&
         a.tenant_foreign == b.tenant_foreign && a.idle_days == b.idle_days &&
         a.tenants_24h == b.tenants_24h && a.failures_10m == b.failures_10m &&
         a.read_bytes_1h == b.read_bytes_1h && a.read_bytes_24h == b.read_bytes_24h &&
         a.read_bytes_7d == b.read_bytes_7d && a.read_baseline_24h == b.read_baseline_24h &&
         a.read_ratio_24h == b.read_ratio_24h;
}

// Feeds MakeScript's events to a cache with room for about 40 of its 300
// credentials and to a plain ProfileStore, asserting that every event sees
// the same profile from both. `after` runs after each event (n: how many so
// far). Returns the cache's stats.
ProfileCacheStats CompareWithPlain(const std::function<void(StateStore&, ProfileCache&, size_t n)>& after) {
  TempDir dir;
  auto store = StateStore::Open(Options(dir.str()));
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return {};
  profile::ProfileOptions popts;
  popts.learning_ns = 3 * kNsPerDay;
  ProfileCache cache(popts, store->get(), ProfileCacheOptions{40 * 1000, 400 * kNsPerDay});
  profile::ProfileStore plain(popts);
  Script script = MakeScript();
  size_t n = 0;
  for (Event e : script.events) {
    Event reference = e;
    plain.Observe(reference);
    EXPECT_TRUE(cache.Observe(e).ok());
    if (!SameProfile(e.profile, reference.profile)) {
      ADD_FAILURE() << "event " << n << " of " << e.credential << " saw another profile";
      break;
    }
    after(**store, cache, ++n);
    if (::testing::Test::HasFailure()) break;
  }
  return cache.stats();
}

TEST(ProfileCacheTest, EvictionAndReloadChangeNothingAnEventSees) {
  size_t evicted = 0;
  const ProfileCacheStats stats = CompareWithPlain([&](StateStore& store, ProfileCache& cache, size_t n) {
    if (n % 500 != 0) return;  // a commit
    StateBatch batch;
    cache.CollectDirty(&batch);
    ASSERT_TRUE(store.Commit(batch).ok());
    evicted += cache.EvictIfOverBudget();
    EXPECT_LE(cache.memory_bytes(), 40u * 1000 + 20'000);
  });
  EXPECT_GT(evicted, 1000u);
  EXPECT_GT(stats.loads, 1000u);
}

TEST(ProfileCacheTest, EvictionGoesOnWhileCommitsAreInFlight) {
  // As on the sharded runtime: the commits collected at the last markers
  // are still being written. Profiles they wrote must stay until they land:
  // a reload would read an older version, and the events would see it. The
  // writer here lags 240 events, more than the 200 between a credential's
  // events, so a profile evicted too early is reloaded stale. Profiles
  // written by landed commits may go: eviction does not wait for the writer
  // to catch up.
  std::deque<StateBatch> in_flight;
  uint64_t commit = 0, landed = 0;
  size_t evicted = 0;
  const ProfileCacheStats stats = CompareWithPlain([&](StateStore& store, ProfileCache& cache, size_t n) {
    if (n % 20 != 0) return;
    evicted += cache.EvictIfOverBudget(landed);
    cache.CollectDirty(&in_flight.emplace_back(), ++commit);
    if (in_flight.size() > 12) {
      ASSERT_TRUE(store.Commit(in_flight.front()).ok());
      in_flight.pop_front();
      ++landed;
    }
  });
  EXPECT_GT(evicted, 500u);
  EXPECT_GT(stats.loads, 500u);
}

TEST(ProfileCacheTest, RetentionDropsIdleCredentialsWheneverTheSweepRuns) {
  TempDir dir;
  auto store = StateStore::Open(Options(dir.str()));
  ASSERT_TRUE(store.ok()) << store.status();
  profile::ProfileOptions popts;
  popts.learning_ns = kNsPerDay;
  ProfileCache cache(popts, store->get(), ProfileCacheOptions{1 << 20, 10 * kNsPerDay});
  Script s;
  auto event = [&](std::string name, int64_t t) {
    Event e;
    e.credential = s.Keep(std::move(name));
    e.time_ns = t;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = Outcome::kSuccess;
    e.host = "sftp01";
    return e;
  };
  for (const char* name : {"returns", "swept", "active"}) {
    Event e = event(name, kT0);
    ASSERT_TRUE(cache.Observe(e).ok());
  }
  StateBatch batch;
  cache.CollectDirty(&batch);
  ASSERT_TRUE((*store)->Commit(batch).ok());
  cache.SetWatermark(kT0 + 9 * kNsPerDay);
  Event active = event("active", kT0 + 9 * kNsPerDay);
  ASSERT_TRUE(cache.Observe(active).ok());
  EXPECT_NEAR(active.profile.idle_days, 9.0, 1e-9);  // inside the retention: remembered

  // Eleven days after their last event: "returns" is dropped when it comes
  // back (before any sweep), "swept" by the sweep; the outcome is the same.
  cache.SetWatermark(kT0 + 11 * kNsPerDay);
  Event back = event("returns", kT0 + 11 * kNsPerDay);
  ASSERT_TRUE(cache.Observe(back).ok());
  EXPECT_TRUE(back.profile.learning) << "a dropped credential starts over";
  EXPECT_EQ(back.profile.idle_days, 0);
  ASSERT_TRUE(cache.Sweep(&batch).ok());
  cache.CollectDirty(&batch);
  ASSERT_TRUE((*store)->Commit(batch).ok());
  std::string v;
  auto got = (*store)->Get(Family::kProfiles, "swept", &v);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got) << "idle past the retention";
  for (const char* kept : {"active", "returns"}) {
    got = (*store)->Get(Family::kProfiles, kept, &v);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(*got) << kept;
  }
  Event swept = event("swept", kT0 + 11 * kNsPerDay);
  ASSERT_TRUE(cache.Observe(swept).ok());
  EXPECT_TRUE(swept.profile.learning);
  EXPECT_GE(cache.stats().expired, 2u);
}

// Evaluator::RestoreChanges from a record store kept as an ordered map.
absl::Status RestoreFromRecords(rules::Evaluator& ev, const std::string& header,
                                const std::map<std::string, std::string>& records) {
  return ev.RestoreChanges(header, [&](const rules::StateRecordVisitor& visit) {
    for (const auto& [k, v] : records) {
      if (!visit(k, v)) return;
    }
  });
}

// Open correlation windows survive a serialize/restore round trip at any
// point: the detections after it are the ones an uninterrupted evaluator
// makes.
TEST(EvaluatorStateTest, RoundTripAtAnyPointChangesNoDetection) {
  auto rules = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_GT((*rules)->num_correlation_rules(), 0u);
  Script s;
  for (int i = 0; i < 120; ++i) {
    Event e;
    e.credential = s.Keep("t001-u" + std::to_string(i % 4));
    e.tenant = s.Keep("t00" + std::to_string(i % 3));
    // Objects reach the blast radius in no particular order.
    e.object = s.Keep("/srv/ehr/t001/rec-" + std::to_string((i * 7) % 13));
    e.time_ns = kT0 + i * 20 * kNsPerSecond;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = i % 9 == 8 ? Outcome::kSuccess : Outcome::kFailure;
    e.host = "sftp01";
    e.format = "native";
    e.src_ip_text = s.Keep("203.0.113." + std::to_string(i % 7));
    e.src_ip = *IpAddress::Parse(e.src_ip_text);
    e.profile.valid = true;
    s.events.push_back(e);
  }
  auto key = [](const std::vector<Detection>& ds) {
    std::vector<std::string> out;
    for (const Detection& d : ds) {
      std::string k = d.rule_id + "|" + d.group_key + "|" + std::to_string(d.time_ns) + "|" +
                      std::to_string(d.first_seen_ns) + "|" + std::to_string(d.last_seen_ns);
      for (const auto& ev : d.evidences) k += "|" + ev;
      for (const auto* list : {&d.blast.tenants, &d.blast.objects, &d.blast.destinations}) {
        k += "|";
        for (const auto& v : *list) k += v + ",";
      }
      k += "|" + std::to_string(d.blast.objects_total);
      out.push_back(k);
    }
    return out;
  };
  // Processes events [from, to) with a watermark after every fourth.
  auto run = [&](rules::Evaluator& ev, size_t from, size_t to, std::vector<Detection>* out) {
    for (size_t i = from; i < to; ++i) {
      ev.Process(s.events[i], out);
      if (i % 4 == 3) ev.AdvanceWatermark(s.events[i].time_ns - 5 * kNsPerMinute, out);
    }
  };
  std::vector<Detection> expected;
  {
    rules::Evaluator whole(*rules);
    run(whole, 0, s.events.size(), &expected);
    whole.AdvanceWatermark(INT64_MAX, &expected);
  }
  ASSERT_FALSE(expected.empty());
  for (size_t cut : {1u, 7u, 20u, 45u, 64u, 101u}) {
    std::vector<Detection> got;
    std::string bytes;
    {
      rules::Evaluator first(*rules);
      run(first, 0, cut, &got);
      first.SerializeState(&bytes);
    }
    rules::Evaluator second(*rules);
    ASSERT_TRUE(second.RestoreState(bytes).ok()) << "cut " << cut;
    run(second, cut, s.events.size(), &got);
    second.AdvanceWatermark(INT64_MAX, &got);
    EXPECT_EQ(key(got), key(expected)) << "cut " << cut;
  }
  // Damaged bytes, or bytes of other rules, are refused.
  std::string bytes;
  {
    rules::Evaluator ev(*rules);
    std::vector<Detection> out;
    run(ev, 0, 30, &out);
    ev.SerializeState(&bytes);
  }
  rules::Evaluator fresh(*rules);
  EXPECT_TRUE(absl::IsDataLoss(fresh.RestoreState(bytes.substr(0, bytes.size() - 5))));
  auto other = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules/credwatch/brute_force_then_success.yml"});
  ASSERT_TRUE(other.ok()) << other.status();
  rules::Evaluator elsewhere(*other);
  EXPECT_TRUE(absl::IsFailedPrecondition(elsewhere.RestoreState(bytes)));

  // The incremental form, as durable state commits it: the changes of
  // several commits applied to one record store, restored at a cut, give
  // the same detections; and the store holds exactly the open groups.
  for (size_t commit_every : {1u, 5u, 16u}) {
    for (size_t cut : {7u, 45u, 101u}) {
      std::map<std::string, std::string> records;
      std::string header;
      std::vector<Detection> got;
      auto commit = [&](rules::Evaluator& ev) {
        ev.SerializeChanges(
            false, &header, [&](std::string_view k, std::string_view v) { records[std::string(k)] = v; },
            [&](std::string_view k) { records.erase(std::string(k)); });
      };
      {
        rules::Evaluator first(*rules);
        for (size_t i = 0; i < cut; ++i) {
          run(first, i, i + 1, &got);
          if (i % commit_every == 0) commit(first);
        }
        commit(first);
        // The store holds exactly what a full write of the open groups holds.
        std::map<std::string, std::string> full;
        std::string full_header;
        first.SerializeChanges(
            true, &full_header, [&](std::string_view k, std::string_view v) { full[std::string(k)] = v; },
            [](std::string_view) {});
        EXPECT_EQ(records, full) << "every " << commit_every << ", cut " << cut;
      }
      rules::Evaluator second(*rules);
      ASSERT_TRUE(RestoreFromRecords(second, header, records).ok()) << "cut " << cut;
      // Go on committing after the restore: closed groups leave the store.
      for (size_t i = cut; i < s.events.size(); ++i) {
        run(second, i, i + 1, &got);
        if (i % commit_every == 0) commit(second);
      }
      second.AdvanceWatermark(INT64_MAX, &got);
      commit(second);
      EXPECT_EQ(key(got), key(expected)) << "every " << commit_every << ", cut " << cut;
      EXPECT_TRUE(records.empty()) << "closed windows left records behind";
    }
  }
  // A damaged record is refused.
  {
    rules::Evaluator ev(*rules);
    std::vector<Detection> out;
    run(ev, 0, 30, &out);
    std::string header;
    std::map<std::string, std::string> records;
    ev.SerializeChanges(
        true, &header, [&](std::string_view k, std::string_view v) { records[std::string(k)] = v; },
        [](std::string_view) {});
    ASSERT_FALSE(records.empty());
    auto restores = [&](const std::map<std::string, std::string>& r) {
      rules::Evaluator fresh(*rules);
      return RestoreFromRecords(fresh, header, r);
    };
    ASSERT_TRUE(restores(records).ok());
    auto truncated = records;
    truncated.begin()->second.resize(truncated.begin()->second.size() - 3);
    EXPECT_TRUE(absl::IsDataLoss(restores(truncated)));
    // A group missing one of its blast radius values or evidences is refused
    // too (whichever record goes, the restore notices).
    for (size_t drop = 0; drop < records.size(); drop += 7) {
      auto missing = records;
      missing.erase(std::next(missing.begin(), static_cast<long>(drop)));
      EXPECT_TRUE(absl::IsDataLoss(restores(missing))) << "without record " << drop;
    }
    rules::Evaluator other_rules(*other);
    EXPECT_TRUE(absl::IsFailedPrecondition(other_rules.RestoreChanges(header, [](const rules::StateRecordVisitor&) {})));
  }
}

// A commit writes what the open groups gained since the last one, not the
// groups whole: a long-open window fed one event per commit costs about one
// evidence per commit, however many evidences and blast radius values it
// already holds (whole groups made commits of hot windows as large as the
// state and slowed durable replay by a quarter).
TEST(EvaluatorStateTest, ACommitWritesWhatTheOpenGroupsGained) {
  auto rules = rules::LoadRuleSet({std::string(CREDWATCH_SOURCE_DIR) + "/rules"});
  ASSERT_TRUE(rules.ok()) << rules.status();
  rules::Evaluator ev(*rules);
  Script s;
  // Failures of one credential from one address, 3 minutes apart: the
  // brute-force count (5 in 10 minutes) and the spray count (10 credentials
  // in an hour) never fire, so both windows stay open throughout.
  for (int i = 0; i < 200; ++i) {
    Event e;
    e.credential = "t001-alice";
    e.tenant = "t001";
    e.object = s.Keep("/srv/ehr/t001/rec-" + std::to_string(i));
    e.time_ns = kT0 + i * 3 * kNsPerMinute;
    e.kind = Kind::kAuth;
    e.action = Action::kLogin;
    e.outcome = Outcome::kFailure;
    e.host = "sftp01";
    e.format = "native";
    e.src_ip_text = "203.0.113.9";
    e.src_ip = *IpAddress::Parse(e.src_ip_text);
    e.profile.valid = true;
    s.events.push_back(e);
  }
  std::map<std::string, std::string> records;
  std::string header;
  size_t largest_late_commit = 0;
  std::vector<Detection> out;
  for (size_t i = 0; i < s.events.size(); ++i) {
    ev.Process(s.events[i], &out);
    ev.AdvanceWatermark(s.events[i].time_ns, &out);
    size_t bytes = 0;
    ev.SerializeChanges(
        false, &header,
        [&](std::string_view k, std::string_view v) {
          bytes += k.size() + v.size();
          records[std::string(k)] = v;
        },
        [&](std::string_view k) { records.erase(std::string(k)); });
    if (i >= 20) largest_late_commit = std::max(largest_late_commit, bytes);
  }
  EXPECT_TRUE(out.empty()) << "the windows were to stay open";
  EXPECT_EQ(ev.stats().groups, 2u);
  size_t stored = 0;
  for (const auto& [k, v] : records) stored += k.size() + v.size();
  // The two groups hold 8 evidences and 100 objects each.
  EXPECT_LT(largest_late_commit * 8, stored) << "a commit rewrote whole groups";
  // And what was written restores the same windows.
  rules::Evaluator restored(*rules);
  ASSERT_TRUE(RestoreFromRecords(restored, header, records).ok());
  std::string a, b;
  ev.SerializeState(&a);
  restored.SerializeState(&b);
  EXPECT_EQ(a, b);
}

// `credwatch state show` reads the profile format of ProfileStore: this
// breaks when that format changes without the reader following.
TEST(StateJsonTest, ShowsWhatTheProfileHolds) {
  profile::ProfileStore store({});
  Event e;
  e.credential = "t001-alice";
  e.tenant = "t001";
  e.time_ns = kT0 + kNsPerHour;
  e.kind = Kind::kAccess;
  e.action = Action::kRead;
  e.outcome = Outcome::kSuccess;
  e.host = "sftp01";
  e.bytes = 5000;
  e.object_tenant = "t002";
  e.src_ip = *IpAddress::Parse("198.51.100.7");
  store.Observe(e);
  std::string blob, record, json;
  ASSERT_TRUE(store.SerializeProfile("t001-alice", &blob));
  EncodeProfileRecord(e.time_ns, blob, &record);
  ASSERT_TRUE(AppendProfileJson("t001-alice", record, &json).ok());
  EXPECT_NE(json.find("\"credential\":\"t001-alice\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"latest\":\"2024-01-01T01:00:00"), std::string::npos) << json;
  EXPECT_NE(json.find("\"prefix\":\"198.51.100.0/24\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"by_day\":[{\"start\":\"2024-01-01T00:00:00"), std::string::npos) << json;
  EXPECT_NE(json.find("\"value\":5000"), std::string::npos) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos);
  std::string pretty = PrettyJson(json);
  EXPECT_NE(pretty.find("\n  \"credential\": \"t001-alice\""), std::string::npos) << pretty;
  std::string damaged = record.substr(0, record.size() - 3);
  json.clear();
  EXPECT_FALSE(AppendProfileJson("t001-alice", damaged, &json).ok());
}

}  // namespace
}  // namespace credwatch::state
