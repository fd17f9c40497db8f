#include "state/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "state/records.h"

namespace credwatch::state {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMarkerFile = "CREDWATCH_STATE";
constexpr const char* kLockFile = "credwatch.lock";
// The alert folder's journal has a family of its own (format 2): its keys
// only grow, so compaction moves its files down instead of merging them
// again with the windows' records at every flush.
constexpr const char* kFamilyNames[] = {"meta", "profiles", "windows", "positions", "outbox", "journal"};
static_assert(std::size(kFamilyNames) == kNumFamilies, "one name per Family");
// Older formats this build upgrades in place at Open. Format 1 kept the
// journal (kDetectionKeyPrefix) in the windows family; format 2 is format 3
// without journal rule records (its detections carry their rule inline,
// which this build still reads), and format 3 is format 4 without journal
// chunks (records.h; its one record per detection is still read): only
// their format number changes. An older build refuses a newer format as
// incompatible rather than misreading it.
constexpr int kFormatJournalInWindows = 1;
constexpr int kFormatRulesInline = 2;
constexpr int kFormatDetectionRecords = 3;
bool Upgradable(int format) {
  return format == kFormatJournalInWindows || format == kFormatRulesInline || format == kFormatDetectionRecords;
}
constexpr int64_t kMinBudget = int64_t{16} << 20;

// RocksDB's own log (warnings and errors), in the state directory's LOG. Its
// built-in log writer must not be used: Debian's RocksDB asserts when that
// writer is used again after a failed write, so a full disk aborted the
// process instead of stopping intake with a message. This one drops what
// it cannot write, and stops at a size cap.
class StateLog : public rocksdb::Logger {
 public:
  explicit StateLog(const fs::path& path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), file_(std::fopen(path.c_str(), "ae")) {}
  ~StateLog() override {
    if (file_) std::fclose(file_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!file_ || written_ > kMaxBytes) return;
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    const size_t n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    std::fwrite(stamp, 1, n, file_);
    const int m = std::vfprintf(file_, format, ap);
    std::fputc('\n', file_);
    std::fflush(file_);
    written_ += n + static_cast<size_t>(std::max(m, 0)) + 1;
  }

 private:
  static constexpr size_t kMaxBytes = size_t{4} << 20;
  std::mutex mu_;
  std::FILE* file_;
  size_t written_ = 0;
};

std::string Quote(std::string_view dir) { return absl::StrCat("'", Sv(dir), "'"); }

bool Contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

absl::Status ReadOnlyError(std::string_view dir, std::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "state_dir ", Quote(dir), " is read-only (", Sv(why),
      "): credwatch must write its state there. Make it writable, or give another --state-dir"));
}

absl::Status LockedError(std::string_view dir, std::string_view holder) {
  return absl::FailedPreconditionError(absl::StrCat(
      "state_dir ", Quote(dir), " is locked by another credwatch process", Sv(holder),
      ": only one process may use a state directory. Stop that process, or give this run "
      "another --state-dir"));
}

absl::Status CorruptedError(std::string_view dir, std::string_view detail) {
  return absl::DataLossError(absl::StrCat(
      "state_dir ", Quote(dir), " is corrupted (", Sv(detail),
      "). Restore it from a backup, or move it away to start over (a replay then begins "
      "from its first event)"));
}

absl::Status IncompatibleError(std::string_view dir, std::string_view detail) {
  return absl::FailedPreconditionError(absl::StrCat(
      "state_dir ", Quote(dir), " was written by an incompatible credwatch (", Sv(detail),
      "; this build reads state format ", kStateFormatVersion,
      "). Use the credwatch version that wrote it, or move the directory away to start over"));
}

// rocksdb::Status -> absl::Status, with a message that says what to do.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view dir, std::string_view doing) {
  const std::string msg = s.ToString();
  if (s.IsCorruption()) return CorruptedError(dir, msg);
  if (s.IsNoSpace() || Contains(msg, "No space left")) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "state_dir ", Quote(dir), ": disk full while ", Sv(doing), " (", msg,
        "). Intake stopped; the state committed before is intact. Free space and re-run the "
        "same command to resume"));
  }
  if (s.IsIOError() && (Contains(msg, "lock") || Contains(msg, "LOCK"))) return LockedError(dir, "");
  if (s.IsPathNotFound() || Contains(msg, "No such file or directory")) {
    // The database names a file that is gone (CURRENT -> MANIFEST, MANIFEST -> SST).
    return CorruptedError(dir, absl::StrCat("a file of the database is missing: ", msg));
  }
  if (Contains(msg, "Read-only file system")) return ReadOnlyError(dir, "read-only file system");
  if (Contains(msg, "Permission denied")) return ReadOnlyError(dir, "permission denied");
  if (s.IsInvalidArgument() || s.IsNotSupported()) return IncompatibleError(dir, msg);
  return absl::UnavailableError(
      absl::StrCat("state_dir ", Quote(dir), ": ", Sv(doing), " failed: ", msg));
}

rocksdb::CompressionType PickCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

// The marker file: "credwatch state\nformat N\n". Returns the format, 0 when
// the file is absent, -1 when it is unreadable or malformed.
int ReadMarker(const fs::path& dir, std::string* text) {
  std::ifstream in(dir / kMarkerFile, std::ios::binary);
  if (!in) return 0;
  std::stringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  std::string line;
  std::istringstream lines(*text);
  if (!std::getline(lines, line) || line != "credwatch state") return -1;
  if (!std::getline(lines, line) || line.rfind("format ", 0) != 0) return -1;
  int v = 0;
  for (char c : line.substr(7)) {
    if (c < '0' || c > '9' || v > 100000) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::Status WriteMarker(const fs::path& dir) {
  const fs::path tmp = dir / (std::string(kMarkerFile) + ".tmp");
  const std::string text = absl::StrCat("credwatch state\nformat ", kStateFormatVersion,
                                        "\nwritten-by ", CREDWATCH_VERSION, "\n");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EROFS) return ReadOnlyError(dir.string(), std::strerror(errno));
    if (errno == EACCES || errno == EPERM) return ReadOnlyError(dir.string(), std::strerror(errno));
    return absl::UnavailableError(absl::StrCat("state_dir ", Quote(dir.string()),
                                               ": cannot write its marker: ", std::strerror(errno)));
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), (dir / kMarkerFile).c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("state_dir ", Quote(dir.string()),
                                               ": cannot write its marker: ", std::strerror(err)));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

// Checks the directory before RocksDB touches it: exists (or is created),
// is a directory, is writable.
absl::Status PrepareDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      if (ec.value() == EROFS || ec.value() == EACCES || ec.value() == EPERM) {
        return ReadOnlyError(dir, absl::StrCat("cannot create it: ", ec.message()));
      }
      return absl::UnavailableError(
          absl::StrCat("cannot create state_dir ", Quote(dir), ": ", ec.message()));
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot use state_dir ", Quote(dir), ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state_dir ", Quote(dir), " is not a directory"));
  }
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
    return ReadOnlyError(dir, "its file system is mounted read-only");
  }
  // Also for root, who may write anyway: a directory without write
  // permission is the operator saying "do not write here".
  if (::access(dir.c_str(), W_OK) != 0 || (st.st_mode & 0222) == 0) {
    return ReadOnlyError(dir, "no write permission");
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view SyncPolicyName(SyncPolicy p) { return p == SyncPolicy::kNone ? "none" : "commit"; }

bool ParseSyncPolicy(std::string_view text, SyncPolicy* out) {
  if (text == "none") {
    *out = SyncPolicy::kNone;
  } else if (text == "commit") {
    *out = SyncPolicy::kCommit;
  } else {
    return false;
  }
  return true;
}

StateOptions StateOptionsFromConfig(const Config& config) {
  StateOptions o;
  o.dir = config.state_dir;
  ParseSyncPolicy(config.state.sync, &o.sync);
  o.memory_budget_bytes = config.state.memory_budget_bytes;
  o.retention_ns = config.state.retention_ns;
  o.commit_interval_ns = config.state.commit_interval_ns;
  o.commit_events = config.state.commit_events;
  return o;
}

std::string_view FamilyName(Family f) { return kFamilyNames[static_cast<int>(f)]; }

namespace {
// A commit's buffer larger than this is freed once committed, not kept for
// the next commit (it is outside memory_budget); the next grows again in
// one step (StateBatch::Reserve).
constexpr size_t kKeptBatchBytes = size_t{1} << 20;
}  // namespace

void StateBatch::Reserve() {
  data_.reserve(last_bytes_ + last_bytes_ / 4);
  ops_.reserve(last_ops_ + last_ops_ / 4);
}

void StateBatch::Put(Family family, std::string_view key, std::string_view value) {
  if (ops_.empty()) Reserve();
  ops_.push_back(Op{family, false, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size()),
                    data_.size()});
  data_.append(key);
  data_.append(value);
}

void StateBatch::Delete(Family family, std::string_view key) {
  if (ops_.empty()) Reserve();
  ops_.push_back(Op{family, true, static_cast<uint32_t>(key.size()), 0, data_.size()});
  data_.append(key);
}

void StateBatch::Append(StateBatch&& other) {
  if (ops_.empty()) {
    std::swap(ops_, other.ops_);
    std::swap(data_, other.data_);
  } else {
    const size_t base = data_.size();
    ops_.reserve(ops_.size() + other.ops_.size());
    for (Op op : other.ops_) {
      op.offset += base;
      ops_.push_back(op);
    }
    data_.append(other.data_);
  }
  other.Clear();
}

void StateBatch::Clear() {
  if (!ops_.empty()) {
    last_bytes_ = data_.size();
    last_ops_ = ops_.size();
  }
  if (data_.capacity() + ops_.capacity() * sizeof(Op) > kKeptBatchBytes) {
    std::string().swap(data_);
    std::vector<Op>().swap(ops_);
  } else {
    ops_.clear();
    data_.clear();
  }
}

struct StateStore::Impl {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // by Family
  std::shared_ptr<rocksdb::Cache> cache;
  int lock_fd = -1;

  ~Impl() {
    if (db) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      db->Close();
      delete db;
    }
    if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  }
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles[static_cast<size_t>(f)]; }
};

StateStore::StateStore() : impl_(std::make_unique<Impl>()) {}
StateStore::~StateStore() = default;

int64_t StateStore::profile_budget_bytes() const {
  // 3/8; with 2/8 windows, 1/8 block cache and 1/8 memtables that leaves
  // 1/8 for what the profiles' own accounting cannot see: credentials added
  // between commits, a hash table's transient double size while it grows,
  // allocator slack (measured ~10% over the share with 2M credentials,
  // bench/README.md).
  return std::max(options_.memory_budget_bytes, kMinBudget) / 8 * 3;
}

int64_t StateStore::window_budget_bytes() const {
  return std::max(options_.memory_budget_bytes, kMinBudget) / 8 * 2;
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const StateOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("no state_dir given");
  const std::string& dir = options.dir;
  if (absl::Status s = PrepareDir(dir); !s.ok()) return s;

  std::unique_ptr<StateStore> store(new StateStore());
  store->options_ = options;
  store->dir_ = dir;
  Impl& impl = *store->impl_;

  // Our own lock first, so the message can name the process that holds it.
  const fs::path lock_path = fs::path(dir) / kLockFile;
  impl.lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (impl.lock_fd < 0) {
    if (errno == EACCES || errno == EPERM || errno == EROFS) {
      return ReadOnlyError(dir, std::strerror(errno));
    }
    return absl::UnavailableError(absl::StrCat("state_dir ", Quote(dir),
                                               ": cannot create its lock file: ",
                                               std::strerror(errno)));
  }
  if (::flock(impl.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    char buf[32] = {};
    ssize_t n = ::pread(impl.lock_fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
      std::string pid(buf, static_cast<size_t>(n));
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      if (!pid.empty()) holder = absl::StrCat(" (pid ", pid, ")");
    }
    return LockedError(dir, holder);
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(impl.lock_fd, 0) != 0 ||
      ::pwrite(impl.lock_fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    if (errno == ENOSPC) {
      return absl::ResourceExhaustedError(
          absl::StrCat("state_dir ", Quote(dir), ": disk full (cannot write its lock file)"));
    }
  }

  // The format marker: written into an empty directory before the database,
  // so a directory with a database but no marker is never ours.
  std::string marker_text;
  const int marker = ReadMarker(dir, &marker_text);
  const bool has_db = fs::exists(fs::path(dir) / "CURRENT");
  if (marker < 0) return CorruptedError(dir, "its CREDWATCH_STATE marker is unreadable");
  if (marker == 0) {
    if (has_db) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state_dir ", Quote(dir),
          " holds a database that is not credwatch state (no CREDWATCH_STATE marker). Give "
          "another --state-dir"));
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name != kLockFile && name != std::string(kMarkerFile) + ".tmp") {
        return absl::FailedPreconditionError(
            absl::StrCat("state_dir ", Quote(dir), " is not empty and holds no credwatch state (",
                         name, " is there, no CREDWATCH_STATE marker). Give an empty or new "
                         "directory"));
      }
    }
    if (absl::Status s = WriteMarker(dir); !s.ok()) return s;
  } else if (marker != kStateFormatVersion && !Upgradable(marker)) {
    return IncompatibleError(dir, absl::StrCat("state format ", marker));
  }

  const int64_t budget = std::max(options.memory_budget_bytes, kMinBudget);
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.paranoid_checks = true;
  // The memtables' 1/8: half for the ones being written, half for those
  // being flushed (RocksDB flushes the largest once the written ones pass
  // their half; measured 23 MB at a 64 MiB budget with a full 1/8 here).
  dbo.db_write_buffer_size = static_cast<size_t>(budget / 16);
  // A write-ahead log file is deleted only once every family's data in it
  // is flushed; the small families (positions, meta) would otherwise keep
  // every log file alive (GBs on a long replay). Past this size the
  // families holding the oldest file are flushed.
  dbo.max_total_wal_size = static_cast<uint64_t>(std::max<int64_t>(budget / 4, 32 << 20));
  dbo.max_background_jobs = 2;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.info_log = std::make_shared<StateLog>(fs::path(dir) / "LOG");
  if (options.env_for_testing) dbo.env = options.env_for_testing;

  impl.cache = rocksdb::NewLRUCache(static_cast<size_t>(budget / 8));
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = impl.cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  // Partitioned index and filters: a lookup loads one small partition, not
  // a whole file's index. With millions of credentials and a small block
  // cache, whole index blocks were evicted and read again on every miss
  // (terabytes of reads for 10M events over 1M credentials).
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  rocksdb::ColumnFamilyOptions cfo;
  cfo.write_buffer_size = static_cast<size_t>(std::max<int64_t>(budget / 32, 1 << 20));
  cfo.max_write_buffer_number = 2;
  cfo.compression = PickCompression();
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  if (has_db) {
    // A family this build does not know means a newer format.
    std::vector<std::string> existing;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(dbo, dir, &existing);
    if (!s.ok()) return FromRocks(s, dir, "opening the state database");
    for (const std::string& name : existing) {
      if (name == rocksdb::kDefaultColumnFamilyName) continue;
      if (std::find(std::begin(kFamilyNames), std::end(kFamilyNames), name) ==
          std::end(kFamilyNames)) {
        return IncompatibleError(dir, absl::StrCat("unknown column family '", name, "'"));
      }
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, cfo);
  for (const char* name : kFamilyNames) families.emplace_back(name, cfo);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(dbo, dir, families, &handles, &impl.db);
  if (!s.ok()) return FromRocks(s, dir, "opening the state database");
  impl.db->DestroyColumnFamilyHandle(handles[0]);  // default: unused
  impl.handles.assign(handles.begin() + 1, handles.end());

  std::string format;
  auto got = store->Get(Family::kMeta, "format", &format);
  if (!got.ok()) return got.status();
  if (!*got || format == std::to_string(kFormatRulesInline) || format == std::to_string(kFormatDetectionRecords)) {
    // A new state, or format 2 or 3: only the format number is written.
    store->created_ = !*got;
    StateBatch batch;
    batch.Put(Family::kMeta, "format", std::to_string(kStateFormatVersion));
    if (absl::Status c = store->Commit(batch); !c.ok()) return c;
  } else if (format == std::to_string(kFormatJournalInWindows)) {
    if (absl::Status u = store->UpgradeFromFormat1(); !u.ok()) return u;
  } else if (format != std::to_string(kStateFormatVersion)) {
    return IncompatibleError(dir, absl::StrCat("state format ", format));
  }
  // The marker follows the database (an upgrade killed between the two
  // left the marker behind).
  if (Upgradable(marker)) {
    if (absl::Status m = WriteMarker(dir); !m.ok()) return m;
  }
  return store;
}

absl::Status StateStore::UpgradeFromFormat1() {
  // One batch: the journal moves to its family, and the format changes.
  StateBatch batch;
  absl::Status s = Scan(Family::kWindows, kDetectionKeyPrefix, [&](std::string_view key, std::string_view value) {
    batch.Put(Family::kJournal, key, value);
    batch.Delete(Family::kWindows, key);
    return true;
  });
  if (!s.ok()) return s;
  batch.Put(Family::kMeta, "format", std::to_string(kStateFormatVersion));
  return Commit(batch);
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::OpenReadOnly(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no state in ", Quote(dir), ": not a directory"));
  }
  std::string marker_text;
  const int marker = ReadMarker(dir, &marker_text);
  if (marker < 0) return CorruptedError(dir, "its CREDWATCH_STATE marker is unreadable");
  if (marker == 0 || !fs::exists(fs::path(dir) / "CURRENT")) {
    return absl::NotFoundError(absl::StrCat("no credwatch state in ", Quote(dir)));
  }
  if (Upgradable(marker)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir ", Quote(dir), " holds state format ", marker,
        " of an older credwatch, which this build upgrades when it runs on it: run `credwatch "
        "replay` or `credwatch run` with this state_dir once, then look again"));
  }
  if (marker != kStateFormatVersion) {
    return IncompatibleError(dir, absl::StrCat("state format ", marker));
  }
  std::unique_ptr<StateStore> store(new StateStore());
  store->dir_ = dir;
  store->options_.dir = dir;
  store->read_only_ = true;
  Impl& impl = *store->impl_;
  rocksdb::DBOptions dbo;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::ColumnFamilyOptions cfo;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, cfo);
  for (const char* name : kFamilyNames) families.emplace_back(name, cfo);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(dbo, dir, families, &handles, &impl.db);
  if (!s.ok()) return FromRocks(s, dir, "opening the state database");
  impl.db->DestroyColumnFamilyHandle(handles[0]);
  impl.handles.assign(handles.begin() + 1, handles.end());
  std::string format;
  auto got = store->Get(Family::kMeta, "format", &format);
  if (!got.ok()) return got.status();
  if (*got && format != std::to_string(kStateFormatVersion)) {
    return IncompatibleError(dir, absl::StrCat("state format ", format));
  }
  return store;
}

absl::Status StateStore::Commit(StateBatch& batch) {
  if (read_only_) return absl::FailedPreconditionError("state opened read-only");
  if (!failed_.ok()) return failed_;
  rocksdb::WriteBatch wb(batch.bytes() + 32 * batch.size() + 64);
  for (const StateBatch::Op& op : batch.ops_) {
    const rocksdb::Slice key(batch.data_.data() + op.offset, op.key_size);
    rocksdb::Status s = op.del ? wb.Delete(impl_->cf(op.family), key)
                               : wb.Put(impl_->cf(op.family), key,
                                        rocksdb::Slice(key.data() + op.key_size, op.value_size));
    if (!s.ok()) {
      failed_ = FromRocks(s, dir_, "building a commit");
      return failed_;
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync == SyncPolicy::kCommit;
  rocksdb::Status s = impl_->db->Write(wo, &wb);
  if (!s.ok()) {
    failed_ = FromRocks(s, dir_, "committing state");
    return failed_;
  }
  batch.Clear();
  return absl::OkStatus();
}

absl::StatusOr<bool> StateStore::Get(Family family, std::string_view key,
                                     std::string* value) const {
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf(family),
                                     rocksdb::Slice(key.data(), key.size()), value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, dir_, "reading state");
  return true;
}

absl::Status StateStore::Scan(
    Family family, std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(family)));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const std::string_view key(k.data(), k.size());
    if (key.substr(0, prefix.size()) != prefix) break;
    const rocksdb::Slice v = it->value();
    if (!fn(key, std::string_view(v.data(), v.size()))) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), dir_, "reading state");
  return absl::OkStatus();
}

StoreStats StateStore::Stats() const {
  StoreStats stats;
  uint64_t v = 0;
  if (impl_->db->GetIntProperty(impl_->cf(Family::kProfiles), "rocksdb.estimate-num-keys", &v)) {
    stats.profiles_estimate = v;
  }
  for (auto* h : impl_->handles) {
    if (impl_->db->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) stats.disk_bytes += v;
  }
  return stats;
}

}  // namespace credwatch::state
