#include "daemon/file_tailer.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "common/fixed_hash.h"

namespace credwatch::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// FixedHash seed of fingerprints ("credwatc"). Persisted in FileKey: never change.
constexpr uint64_t kFingerprintSeed = 0x6372656477617463ULL;
constexpr int kMaxReadsPerFilePerPoll = 16;
constexpr size_t kRecentlyClosed = 256;

#ifdef GLOB_BRACE
constexpr int kGlobFlags = GLOB_BRACE;
#else
constexpr int kGlobFlags = 0;
#endif

// Rotated logs that logrotate compressed: their bytes are not the file's
// bytes any more, so neither a position nor a tail applies to them.
bool IsCompressed(std::string_view name) {
  for (std::string_view suffix : {".gz", ".bz2", ".xz", ".zst"}) {
    if (name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix) return true;
  }
  return false;
}

std::string ErrorText(int err) { return std::generic_category().message(err); }

bool Before(const timespec& a, const timespec& b) {
  return std::tie(a.tv_sec, a.tv_nsec) < std::tie(b.tv_sec, b.tv_nsec);
}

// pread until `len` bytes or end of file; -1 (errno set) on error.
ssize_t PreadFull(int fd, char* buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

enum class PrefixCheck : uint8_t { kMatch, kDiffers, kError };

// Whether the first key.fingerprint_len bytes of `fd` are the ones `key`
// was computed from.
PrefixCheck CheckPrefix(int fd, const FileKey& key) {
  if (key.fingerprint_len == 0) return PrefixCheck::kMatch;
  if (key.fingerprint_len > kFingerprintBytes) return PrefixCheck::kDiffers;
  char buf[kFingerprintBytes];
  ssize_t n = PreadFull(fd, buf, key.fingerprint_len, 0);
  if (n < 0) return PrefixCheck::kError;
  if (static_cast<size_t>(n) < key.fingerprint_len) return PrefixCheck::kDiffers;
  return FileFingerprint(std::string_view(buf, key.fingerprint_len)) == key.fingerprint
             ? PrefixCheck::kMatch
             : PrefixCheck::kDiffers;
}

// Errors of directories glob(3) could not read, for the tailer on this thread.
thread_local std::vector<std::pair<std::string, int>>* t_glob_errors = nullptr;

int OnGlobError(const char* path, int err) {
  if (t_glob_errors != nullptr && err != ENOENT && err != ENOTDIR) t_glob_errors->emplace_back(path, err);
  return 0;  // go on with the other directories
}

TailOptions WithDefaults(TailOptions options) {
  if (options.input_name.empty()) {
    options.input_name = "file";
    for (const std::string& p : options.paths) options.input_name += " " + p;
  }
  if (options.max_chunk_bytes == 0) options.max_chunk_bytes = 1;
  return options;
}

}  // namespace

uint64_t FileFingerprint(std::string_view first_bytes) {
  if (first_bytes.empty()) return 0;
  return FixedHash(first_bytes, kFingerprintSeed);
}

// A regular file a glob or a directory listing found.
struct FileTailer::Match {
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  timespec mtime{};
  size_t pattern = 0;  // glob matches: its index in TailOptions::paths
};

// One open file. Invariants: offset <= scanned_to; bytes before `offset`
// were submitted (or skipped, too long); [offset, scanned_to) holds no '\n'
// (a partial line held back, or the read part of a line being skipped).
struct FileTailer::TailedFile {
  ~TailedFile() {
    if (fd >= 0) ::close(fd);
  }
  int fd = -1;
  FileKey key;
  std::string path;  // where it was first seen: IngestChunk::stream and file_path
  uint64_t offset = 0;
  uint64_t scanned_to = 0;
  uint64_t size_seen = 0;  // at the last fstat
  timespec mtime_seen{};
  bool skipping = false;  // inside a line longer than max_line_bytes
  bool rotated = false;   // at no matching path
  bool refreshed = false; // fstat worked this poll
  bool finished = false;  // rotated, drained and idle: to be closed
  // Opened by Restore (resumed, or a generation rotated after the last
  // commit) and not grown since: how long it has been idle is unknown, so a
  // last line without '\n' is final as soon as a newer file at its path has
  // data (the writer has moved on), instead of after rotated_idle.
  bool restored = false;
  Clock::time_point last_activity;  // last growth or rotation
};

FileTailer::FileTailer(TailOptions options, IngestQueue* queue)
    : options_(WithDefaults(std::move(options))), queue_(queue) {}

FileTailer::~FileTailer() = default;

void FileTailer::Restore(const std::vector<TailPosition>& positions) {
  restored_ = positions;
  restore_pending_ = true;
}

std::vector<TailPosition> FileTailer::OpenFiles() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void FileTailer::PublishSnapshot() {
  std::vector<TailPosition> snapshot;
  snapshot.reserve(files_.size());
  for (const auto& f : files_) snapshot.push_back(TailPosition{f->key, f->path, f->offset});
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  snapshot_.swap(snapshot);
}

void FileTailer::ReportError(const std::string& path, std::string_view what, int err) {
  // Logged when a path starts failing; quiet while it keeps failing.
  if (!errors_now_.insert(path).second || error_paths_.contains(path)) return;
  stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
  if (options_.log) {
    options_.log("file input: " + std::string(what) + " " + path + ": " + ErrorText(err));
  }
}

bool FileTailer::IsTracked(uint64_t device, uint64_t inode) const {
  for (const auto& f : files_) {
    if (f->key.device == device && f->key.inode == inode) return true;
  }
  return false;
}

std::vector<FileTailer::Match> FileTailer::ExpandGlobs() {
  std::vector<Match> matches;
  std::vector<std::pair<std::string, int>> dir_errors;
  for (size_t pattern_index = 0; pattern_index < options_.paths.size(); ++pattern_index) {
    const std::string& pattern = options_.paths[pattern_index];
    glob_t g{};
    t_glob_errors = &dir_errors;
    int rc = ::glob(pattern.c_str(), kGlobFlags, &OnGlobError, &g);
    t_glob_errors = nullptr;
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::string path = g.gl_pathv[i];
        if (IsCompressed(path)) continue;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) {
          if (errno != ENOENT) ReportError(path, "cannot stat", errno);
          continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        matches.push_back(Match{std::move(path), static_cast<uint64_t>(st.st_dev),
                                static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                                st.st_mtim, pattern_index});
      }
    } else if (rc == GLOB_NOSPACE) {
      ReportError(pattern, "cannot expand", ENOMEM);
    }
    ::globfree(&g);
  }
  for (const auto& [dir, err] : dir_errors) ReportError(dir, "cannot read directory", err);
  return matches;
}

std::vector<FileTailer::Match> FileTailer::Siblings(const std::string& path) {
  std::vector<Match> siblings;
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string_view base = slash == std::string::npos ? std::string_view(path)
                                                     : std::string_view(path).substr(slash + 1);
  if (base.empty()) return siblings;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno != ENOENT && errno != ENOTDIR) ReportError(dir, "cannot read directory", errno);
    return siblings;
  }
  while (const dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.substr(0, base.size()) != base || IsCompressed(name)) continue;
    std::string full = dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
    struct stat st;
    if (::stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    siblings.push_back(Match{std::move(full), static_cast<uint64_t>(st.st_dev),
                             static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                             st.st_mtim});
  }
  ::closedir(d);
  return siblings;
}

std::unique_ptr<FileTailer::TailedFile> FileTailer::OpenMatch(const Match& m, Clock::time_point now) {
  int fd = ::open(m.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ReportError(m.path, "cannot open", errno);
    return nullptr;
  }
  auto f = std::make_unique<TailedFile>();
  f->fd = fd;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ReportError(m.path, "cannot stat", errno);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) return nullptr;
  f->key.device = static_cast<uint64_t>(st.st_dev);
  f->key.inode = static_cast<uint64_t>(st.st_ino);
  f->path = m.path;
  f->size_seen = static_cast<uint64_t>(st.st_size);
  f->mtime_seen = st.st_mtim;
  f->last_activity = now;
  // The fingerprint of what is there now; Refresh extends it as the file grows.
  char buf[kFingerprintBytes];
  ssize_t n = PreadFull(fd, buf, std::min<uint64_t>(kFingerprintBytes, f->size_seen), 0);
  if (n < 0) {
    ReportError(m.path, "cannot read", errno);
    return nullptr;
  }
  f->key.fingerprint_len = static_cast<uint32_t>(n);
  f->key.fingerprint = FileFingerprint(std::string_view(buf, static_cast<size_t>(n)));
  return f;
}

// Generations of `path` we never saw at it: siblings (auth.log.1,
// auth.log-20260101, not compressed) that are at no matching path, not
// tracked, not empty and modified at or after `since` -- created and renamed
// away between two polls, or after the last commit of a previous run. Read
// from 0 (a recently closed file that grew again: from where it was closed),
// with `path` as their stream, oldest first. A sibling whose first bytes are
// those of a tracked file of `path` is a copy of it (copytruncate): FindCopy's.
std::vector<std::unique_ptr<FileTailer::TailedFile>> FileTailer::MissedGenerations(
    const std::string& path, const std::vector<Match>& matches, timespec since, Clock::time_point now) {
  std::vector<std::unique_ptr<TailedFile>> found;
  for (const Match& m : Siblings(path)) {
    if (m.size == 0 || Before(m.mtime, since) || IsTracked(m.device, m.inode) ||
        std::any_of(matches.begin(), matches.end(),
                    [&](const Match& g) { return g.device == m.device && g.inode == m.inode; })) {
      continue;  // old, tracked, or read as a glob match
    }
    std::unique_ptr<TailedFile> f = OpenMatch(m, now);
    if (f == nullptr || IsTracked(f->key.device, f->key.inode) ||
        std::any_of(found.begin(), found.end(), [&](const auto& g) {
          return g->key.device == f->key.device && g->key.inode == f->key.inode;  // a hard link
        })) {
      continue;
    }
    const bool copy = std::any_of(files_.begin(), files_.end(), [&](const auto& g) {
      return g->path == path && CheckPrefix(g->fd, f->key) == PrefixCheck::kMatch;
    });
    if (copy) continue;
    auto closed = std::find_if(recently_closed_.begin(), recently_closed_.end(), [&](const TailPosition& p) {
      return p.key.device == f->key.device && p.key.inode == f->key.inode;
    });
    if (closed != recently_closed_.end()) {
      if (CheckPrefix(f->fd, closed->key) == PrefixCheck::kMatch && f->size_seen >= closed->offset) {
        f->offset = f->scanned_to = closed->offset;
      }
      recently_closed_.erase(closed);
    }
    f->path = path;
    found.push_back(std::move(f));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(a->mtime_seen.tv_sec, a->mtime_seen.tv_nsec, a->key.inode) <
           std::tie(b->mtime_seen.tv_sec, b->mtime_seen.tv_nsec, b->key.inode);
  });
  return found;
}

// The rotated copy of a file whose position was `offset` (copytruncate): a
// sibling not tailed yet with the same first bytes and at least `offset`
// bytes; the newest if several.
std::unique_ptr<FileTailer::TailedFile> FileTailer::FindCopy(const FileKey& key, const std::string& path,
                                                             uint64_t offset, Clock::time_point now) {
  if (key.fingerprint_len == 0 || offset == 0) return nullptr;
  std::unique_ptr<TailedFile> best;
  for (const Match& m : Siblings(path)) {
    if (m.size < offset || (m.device == key.device && m.inode == key.inode) ||
        IsTracked(m.device, m.inode) ||
        std::any_of(recently_closed_.begin(), recently_closed_.end(), [&](const TailPosition& p) {
          return p.key.device == m.device && p.key.inode == m.inode;  // read to its end already
        })) {
      continue;
    }
    std::unique_ptr<TailedFile> f = OpenMatch(m, now);
    if (f == nullptr || f->size_seen < offset || CheckPrefix(f->fd, key) != PrefixCheck::kMatch) continue;
    if (best == nullptr || std::tie(f->mtime_seen.tv_sec, f->mtime_seen.tv_nsec) >
                               std::tie(best->mtime_seen.tv_sec, best->mtime_seen.tv_nsec)) {
      best = std::move(f);
    }
  }
  if (best != nullptr) {
    best->path = path;
    best->offset = best->scanned_to = offset;
  }
  return best;
}

void FileTailer::ResolveRestored(const std::vector<Match>& matches, Clock::time_point now) {
  std::vector<TailPosition> positions = std::move(restored_);
  restored_.clear();
  // Since when each pattern has been followed (by index in options_.paths).
  std::vector<std::optional<timespec>> followed_since(options_.paths.size());
  std::erase_if(positions, [&](const TailPosition& p) {
    if (!p.followed_since) return false;
    auto it = std::find(options_.paths.begin(), options_.paths.end(), p.path);
    if (it != options_.paths.end()) {
      followed_since[static_cast<size_t>(it - options_.paths.begin())] = p.followed_since;
    }
    return true;
  });
  // Group the positions of one (device, inode); within a group the largest
  // offset first. A group can hold positions of different files (a stale one
  // of a deleted file whose inode a new file reuses): the fingerprint decides.
  std::stable_sort(positions.begin(), positions.end(), [](const TailPosition& a, const TailPosition& b) {
    return std::tie(a.key.device, a.key.inode, b.offset) < std::tie(b.key.device, b.key.inode, a.offset);
  });
  for (size_t begin = 0; begin < positions.size();) {
    size_t end = begin;
    while (end < positions.size() && positions[end].key.device == positions[begin].key.device &&
           positions[end].key.inode == positions[begin].key.inode) {
      ++end;
    }
    const uint64_t device = positions[begin].key.device;
    const uint64_t inode = positions[begin].key.inode;
    // Where the inode is now: at a glob match, else next to its old path.
    const Match* found = nullptr;
    for (const Match& m : matches) {
      if (m.device == device && m.inode == inode) found = &m;
    }
    const bool found_at_glob = found != nullptr;
    std::vector<Match> siblings;
    for (size_t i = begin; i < end && found == nullptr; ++i) {
      siblings = Siblings(positions[i].path);
      for (const Match& m : siblings) {
        if (m.device == device && m.inode == inode) found = &m;
      }
    }
    std::unique_ptr<TailedFile> file;
    if (found != nullptr && !IsTracked(device, inode)) {
      file = OpenMatch(*found, now);
      if (file != nullptr && (file->key.device != device || file->key.inode != inode)) file = nullptr;
    }
    bool resumed = false;
    for (size_t i = begin; i < end; ++i) {
      const TailPosition& pos = positions[i];
      if (file != nullptr) {
        PrefixCheck check = CheckPrefix(file->fd, pos.key);
        if (check == PrefixCheck::kMatch && file->size_seen >= pos.offset) {
          // The file was renamed (found among siblings) or is where it was.
          if (!found_at_glob) file->path = pos.path;
          file->offset = file->scanned_to = pos.offset;
          files_.push_back(std::move(file));
          resumed = true;
          continue;
        }
        // Same file but shorter than its position: truncated while we were down.
        if (check == PrefixCheck::kMatch) stats_.truncations.fetch_add(1, std::memory_order_relaxed);
      }
      if (resumed) continue;
      // Not the file at its inode (gone, truncated, or the inode reused):
      // perhaps the copy a copytruncate left.
      if (std::unique_ptr<TailedFile> copy = FindCopy(pos.key, pos.path, pos.offset, now)) {
        files_.push_back(std::move(copy));
        continue;
      }
      stats_.lost_rotated.fetch_add(1, std::memory_order_relaxed);
      if (options_.log) {
        options_.log("file input: " + pos.path + " (inode " + std::to_string(inode) +
                     ") is gone since the daemon stopped; lines after offset " + std::to_string(pos.offset) +
                     " may be lost");
      }
    }
    begin = end;
  }
  auto at_glob = [&](const TailedFile& f) {
    return std::any_of(matches.begin(), matches.end(), [&](const Match& m) {
      return m.device == f.key.device && m.inode == f.key.inode;
    });
  };
  // The generations of a path rotated after the newest of its resumed
  // rotated files have no position when the previous run stopped before
  // committing any of their lines (or they came and went while we were
  // down): without them, everything between that file and the one now at
  // the path would be skipped. A path with no rotated file resumed (none of
  // its rotated generations committed, perhaps no line at all: the previous
  // runs were killed before their first commit) has them since its pattern
  // has been followed.
  std::vector<std::pair<std::string, timespec>> generations_since;
  for (const auto& f : files_) {
    f->restored = true;
    if (at_glob(*f)) continue;
    auto it = std::find_if(generations_since.begin(), generations_since.end(),
                           [&](const auto& p) { return p.first == f->path; });
    if (it == generations_since.end()) {
      generations_since.emplace_back(f->path, f->mtime_seen);
    } else if (Before(it->second, f->mtime_seen)) {
      it->second = f->mtime_seen;
    }
  }
  auto since_followed = [&](const std::string& path, size_t pattern) {
    if (!followed_since[pattern] || std::any_of(generations_since.begin(), generations_since.end(),
                                                [&](const auto& p) { return p.first == path; })) {
      return;
    }
    generations_since.emplace_back(path, *followed_since[pattern]);
  };
  for (const Match& m : matches) since_followed(m.path, m.pattern);
  for (size_t i = 0; i < options_.paths.size(); ++i) {
    // A plain path has generations even while nothing is at it (renamed away).
    if (options_.paths[i].find_first_of("*?[{") == std::string::npos) since_followed(options_.paths[i], i);
  }
  for (const auto& [path, since] : generations_since) {
    for (std::unique_ptr<TailedFile>& g : MissedGenerations(path, matches, since, now)) {
      g->restored = true;
      files_.push_back(std::move(g));
    }
  }
  // Per path, the older file first: the rotated one before its successor
  // (at the same mtime, the one no longer at a matching path).
  std::stable_sort(files_.begin(), files_.end(), [&](const auto& a, const auto& b) {
    const bool a_at = at_glob(*a);
    const bool b_at = at_glob(*b);
    return std::tie(a->mtime_seen.tv_sec, a->mtime_seen.tv_nsec, a_at) <
           std::tie(b->mtime_seen.tv_sec, b->mtime_seen.tv_nsec, b_at);
  });
}

bool FileTailer::Refresh(TailedFile& f, Clock::time_point now, std::unique_ptr<TailedFile>* copy) {
  struct stat st;
  if (::fstat(f.fd, &st) != 0) {
    ReportError(f.path, "cannot stat", errno);
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == f.size_seen && st.st_mtim.tv_sec == f.mtime_seen.tv_sec &&
      st.st_mtim.tv_nsec == f.mtime_seen.tv_nsec) {
    return true;
  }
  // Shrunk, or the same inode with other first bytes: truncated (and maybe
  // written again past our offset before this poll).
  bool rewritten = size < f.size_seen || size < f.offset;
  if (!rewritten) {
    PrefixCheck check = CheckPrefix(f.fd, f.key);
    if (check == PrefixCheck::kError) {
      ReportError(f.path, "cannot read", errno);
      return false;
    }
    rewritten = check == PrefixCheck::kDiffers;
  }
  if (rewritten) {
    stats_.truncations.fetch_add(1, std::memory_order_relaxed);
    *copy = FindCopy(f.key, f.path, f.offset, now);
    f.offset = f.scanned_to = 0;
    f.skipping = false;
    f.key.fingerprint = 0;
    f.key.fingerprint_len = 0;
  }
  if (rewritten || size > f.size_seen) {
    f.last_activity = now;
    f.restored = false;  // written to since the restart: the writer may still finish its line
  }
  f.size_seen = size;
  f.mtime_seen = st.st_mtim;
  if (f.key.fingerprint_len < kFingerprintBytes && size > f.key.fingerprint_len) {
    char buf[kFingerprintBytes];
    ssize_t n = PreadFull(f.fd, buf, std::min<uint64_t>(kFingerprintBytes, size), 0);
    if (n < 0) {
      ReportError(f.path, "cannot read", errno);
      return false;
    }
    f.key.fingerprint_len = static_cast<uint32_t>(n);
    f.key.fingerprint = FileFingerprint(std::string_view(buf, static_cast<size_t>(n)));
  }
  return true;
}

SubmitResult FileTailer::SubmitBytes(TailedFile& f, const char* data, size_t len, bool add_newline) {
  IngestChunk chunk;
  chunk.input = options_.input_name;
  chunk.format = options_.format;
  chunk.stream = f.path;
  chunk.bytes.reserve(len + (add_newline ? 1 : 0));
  chunk.bytes.append(data, len);
  if (add_newline) chunk.bytes.push_back('\n');
  chunk.file = f.key;
  chunk.file_path = f.path;
  chunk.begin_offset = f.offset;
  chunk.end_offset = f.offset + len;
  const size_t bytes = chunk.bytes.size();
  SubmitResult r = queue_->Submit(std::move(chunk), options_.poll_interval);
  if (r == SubmitResult::kAccepted) {
    f.offset += len;
    f.scanned_to = std::max(f.scanned_to, f.offset);
    stats_.bytes_read.fetch_add(bytes, std::memory_order_relaxed);
  }
  return r;
}

FileTailer::ReadResult FileTailer::ReadAvailable(TailedFile& f, bool* submitted) {
  const size_t max_line = options_.max_line_bytes;
  uint64_t size = f.size_seen;
  bool whole_line = false;  // the next read must hold a line longer than max_chunk_bytes
  for (int reads = 0;; ++reads) {
    if (f.skipping ? f.offset >= size : f.scanned_to >= size) return ReadResult::kDone;
    if (reads == kMaxReadsPerFilePerPoll) return ReadResult::kMore;
    const size_t cap = whole_line ? max_line + 1 : options_.max_chunk_bytes;
    if (buf_.size() < cap) buf_.resize(cap);
    const uint64_t base = f.offset;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - base, cap));
    const ssize_t got = PreadFull(f.fd, buf_.data(), want, base);
    if (got < 0) {
      ReportError(f.path, "cannot read", errno);
      return ReadResult::kError;
    }
    const size_t n = static_cast<size_t>(got);
    if (n < want) size = base + n;  // shrunk since the fstat: the next Refresh sees it
    if (n == 0) return ReadResult::kDone;
    const char* data = buf_.data();

    if (f.skipping) {
      const char* nl = static_cast<const char*>(std::memchr(data, '\n', n));
      if (nl != nullptr) {
        f.offset = base + static_cast<uint64_t>(nl - data) + 1;
        f.skipping = false;
      } else {
        f.offset = base + n;
      }
      f.scanned_to = std::max(f.scanned_to, f.offset);
      continue;
    }

    // [0, complete): lines to submit. A buffer longer than max_line_bytes may
    // hold a too-long line; then only the lines before it go in this chunk.
    size_t complete = 0;
    size_t overlong_end = 0;
    if (n > max_line) {
      while (complete < n) {
        const char* nl = static_cast<const char*>(std::memchr(data + complete, '\n', n - complete));
        if (nl == nullptr) break;
        const size_t end = static_cast<size_t>(nl - data) + 1;
        if (end - complete - 1 > max_line) {
          overlong_end = end;
          break;
        }
        complete = end;
      }
    } else {
      const char* nl = static_cast<const char*>(::memrchr(data, '\n', n));
      complete = nl == nullptr ? 0 : static_cast<size_t>(nl - data) + 1;
    }
    if (complete > 0) {
      SubmitResult r = SubmitBytes(f, data, complete, /*add_newline=*/false);
      if (r == SubmitResult::kBusy) return ReadResult::kBusy;
      if (r == SubmitResult::kClosed) return ReadResult::kClosed;
      *submitted = true;
      whole_line = false;
    }
    if (overlong_end > 0) [[unlikely]] {
      stats_.lines_too_long.fetch_add(1, std::memory_order_relaxed);
      f.offset = base + overlong_end;
      f.scanned_to = std::max(f.scanned_to, f.offset);
      continue;
    }
    const size_t rest = n - complete;  // no '\n' in it
    if (base + n >= size && rest <= max_line) {
      f.scanned_to = size;  // hold the partial line until its '\n' arrives
      return ReadResult::kDone;
    }
    if (complete > 0) continue;  // read on from the next line
    if (n > max_line) [[unlikely]] {
      // No '\n' in more than max_line_bytes: skip the line, whatever follows.
      stats_.lines_too_long.fetch_add(1, std::memory_order_relaxed);
      f.skipping = true;
      f.offset = f.scanned_to = base + n;
      whole_line = false;
      continue;
    }
    whole_line = true;  // a line longer than max_chunk_bytes: read it whole
  }
}

FileTailer::ReadResult FileTailer::SubmitFinalLine(TailedFile& f, bool* submitted) {
  const size_t len = static_cast<size_t>(f.size_seen - f.offset);  // <= max_line_bytes, else skipped
  if (buf_.size() < len) buf_.resize(len);
  const ssize_t n = PreadFull(f.fd, buf_.data(), len, f.offset);
  if (n < 0) {
    ReportError(f.path, "cannot read", errno);
    return ReadResult::kError;
  }
  if (static_cast<size_t>(n) != len) return ReadResult::kError;  // shrunk: the next poll sees it
  SubmitResult r = SubmitBytes(f, buf_.data(), len, /*add_newline=*/true);
  if (r == SubmitResult::kBusy) return ReadResult::kBusy;
  if (r == SubmitResult::kClosed) return ReadResult::kClosed;
  *submitted = true;
  return ReadResult::kDone;
}

bool FileTailer::PollOnce() {
  if (closed_) return false;
  const Clock::time_point now = Clock::now();
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &wall);  // before the scan: what changes later is newer
  bool changed = false;  // worth a new snapshot
  std::vector<Match> matches = ExpandGlobs();
  const bool restoring = restore_pending_;
  if (restore_pending_) {
    restore_pending_ = false;
    ResolveRestored(matches, now);
    changed = true;
  }

  // Growth, truncation, copytruncate (whose copy is read first).
  for (size_t i = 0; i < files_.size(); ++i) {
    std::unique_ptr<TailedFile> copy;
    files_[i]->refreshed = Refresh(*files_[i], now, &copy);
    if (copy != nullptr) {
      copy->refreshed = true;
      files_.insert(files_.begin() + static_cast<ptrdiff_t>(i), std::move(copy));
      ++i;
      changed = true;
    }
  }

  // Files not tailed yet, oldest first; read from the start.
  std::vector<const Match*> fresh;
  for (const Match& m : matches) {
    if (!IsTracked(m.device, m.inode)) fresh.push_back(&m);
  }
  std::stable_sort(fresh.begin(), fresh.end(), [](const Match* a, const Match* b) {
    return std::tie(a->mtime.tv_sec, a->mtime.tv_nsec) < std::tie(b->mtime.tv_sec, b->mtime.tv_nsec);
  });

  // A path whose file changed since the last poll (a new file at it, or ours
  // left it) may have had whole generations created and renamed away in
  // between: they are read before the new file.
  if (polled_ && !restoring) {
    std::vector<std::string> paths;
    for (const Match* m : fresh) paths.push_back(m->path);
    for (const auto& f : files_) {
      if (f->rotated) continue;
      const bool at_path = std::any_of(matches.begin(), matches.end(), [&](const Match& m) {
        return m.device == f->key.device && m.inode == f->key.inode;
      });
      if (!at_path) paths.push_back(f->path);
    }
    std::sort(paths.begin(), paths.end());
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
    // A second of slack for file systems whose clock is not ours (NFS), but
    // nothing from before the first poll: those rotations predate us.
    timespec since = prev_poll_wall_;
    since.tv_sec -= 1;
    if (Before(since, first_poll_wall_)) since = first_poll_wall_;
    for (const std::string& path : paths) {
      for (std::unique_ptr<TailedFile>& g : MissedGenerations(path, matches, since, now)) {
        g->refreshed = true;
        files_.push_back(std::move(g));
        changed = true;
      }
    }
  }
  if (!polled_) first_poll_wall_ = wall;
  prev_poll_wall_ = wall;
  polled_ = true;
  for (const Match* m : fresh) {
    std::unique_ptr<TailedFile> f = OpenMatch(*m, now);
    if (f == nullptr || IsTracked(f->key.device, f->key.inode)) continue;  // a duplicate match
    // Back at a matching path after we closed it (a directory unreadable for
    // a while, a rename back): resume unless the inode holds another file now.
    auto closed = std::find_if(recently_closed_.begin(), recently_closed_.end(), [&](const TailPosition& p) {
      return p.key.device == f->key.device && p.key.inode == f->key.inode;
    });
    if (closed != recently_closed_.end()) {
      if (CheckPrefix(f->fd, closed->key) == PrefixCheck::kMatch && f->size_seen >= closed->offset) {
        f->path = closed->path;
        f->offset = f->scanned_to = closed->offset;
      }
      recently_closed_.erase(closed);
    }
    f->refreshed = true;
    files_.push_back(std::move(f));
    changed = true;
  }

  // Rotation: a file at no matching path any more (renamed or deleted).
  for (const auto& f : files_) {
    const bool at_path = std::any_of(matches.begin(), matches.end(), [&](const Match& m) {
      return m.device == f->key.device && m.inode == f->key.inode;
    });
    if (!at_path && !f->rotated) {
      f->rotated = true;
      f->last_activity = now;
      stats_.rotations.fetch_add(1, std::memory_order_relaxed);
    } else if (at_path) {
      f->rotated = false;
    }
  }

  // Read, oldest first. A path whose older file still has lines to give
  // (backlog, or a held last line of a rotated file) waits for it.
  bool submitted = false;
  backlog_ = false;
  std::vector<const std::string*> waiting;
  for (size_t i = 0; i < files_.size(); ++i) {
    TailedFile& f = *files_[i];
    if (!f.refreshed) continue;
    if (std::any_of(waiting.begin(), waiting.end(), [&](const std::string* p) { return *p == f.path; })) {
      continue;
    }
    ReadResult r = ReadAvailable(f, &submitted);
    if (r == ReadResult::kDone && f.rotated && now - f.last_activity >= options_.rotated_idle &&
        f.scanned_to >= f.size_seen) {
      if (!f.skipping && f.offset < f.size_seen) r = SubmitFinalLine(f, &submitted);
      if (r == ReadResult::kDone) f.finished = true;
    } else if (r == ReadResult::kDone && f.rotated && f.restored && !f.skipping && f.scanned_to >= f.size_seen &&
               f.offset < f.size_seen &&
               std::any_of(files_.begin() + static_cast<ptrdiff_t>(i) + 1, files_.end(),
                           [&](const auto& g) { return g->path == f.path && g->size_seen > 0; })) {
      r = SubmitFinalLine(f, &submitted);  // kept open until idle, like any rotated file
    }
    if (r == ReadResult::kClosed) {
      closed_ = true;
      break;
    }
    if (r == ReadResult::kBusy) {
      backlog_ = true;
      break;
    }
    if (r == ReadResult::kMore) {
      backlog_ = true;
      waiting.push_back(&f.path);
    } else if (r == ReadResult::kDone && f.rotated && !f.finished && !f.skipping &&
               f.offset < f.size_seen) {
      waiting.push_back(&f.path);
    }
  }
  for (const auto& f : files_) {
    if (!f->finished) continue;
    recently_closed_.push_back(TailPosition{f->key, f->path, f->offset});
    if (recently_closed_.size() > kRecentlyClosed) recently_closed_.pop_front();
  }
  if (std::erase_if(files_, [](const auto& f) { return f->finished; }) > 0) changed = true;
  stats_.files_open.store(files_.size(), std::memory_order_relaxed);
  error_paths_.swap(errors_now_);
  errors_now_.clear();
  if (changed || submitted) PublishSnapshot();
  return submitted;
}

void FileTailer::Run(const std::atomic<bool>& stop) {
  using std::chrono::milliseconds;
  while (!stop.load(std::memory_order_relaxed) && !closed_) {
    PollOnce();
    if (backlog_) continue;
    // Sleep in slices so that a stop is seen within 50 ms.
    const Clock::time_point deadline = Clock::now() + options_.poll_interval;
    for (Clock::time_point t = Clock::now(); t < deadline && !stop.load(std::memory_order_relaxed);
         t = Clock::now()) {
      std::this_thread::sleep_for(std::min<Clock::duration>(deadline - t, milliseconds(50)));
    }
  }
}

}  // namespace credwatch::daemon
