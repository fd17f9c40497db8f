// The file input of `credwatch run`: follows log files named by globs and
// submits the complete lines appended to them to the IngestQueue, each chunk
// labelled with the file's identity and byte range, so that the pipeline can
// commit "this file up to here" together with the state those lines produced.
//
//   TailOptions opts;
//   opts.paths = {"/var/log/auth.log", "/var/log/nginx/*.log"};
//   opts.input_name = "file /var/log/auth.log";
//   opts.log = [](std::string_view msg) { LogWarning(msg); };
//   FileTailer tailer(std::move(opts), &queue);
//   tailer.Restore(committed_positions);   // from the state store; may be empty
//   std::thread t([&] { tailer.Run(stop); });   // std::atomic<bool> stop
//
// What it follows. Every poll expands the globs again, so files created
// later are picked up. A file is known by (device, inode) and a fingerprint
// of its first bytes (FileKey), never by its name:
//  - rename rotation (auth.log -> auth.log.1, new auth.log): the renamed file
//    stays open and is drained to its end before the new file at the path is
//    read (from offset 0); it is closed once it is at no matching path and
//    has not grown for `rotated_idle`. A final line without '\n' in it is
//    then submitted with a '\n' appended. Generations created and renamed
//    away between two polls (a writer rotating faster than poll_interval)
//    are found when the file at the path changes: siblings of the path
//    (below) modified since the previous poll, neither tracked nor a copy of
//    a tracked file, are read from 0, oldest first, before the new file.
//  - truncation and copytruncate: a file that shrinks, or whose first bytes
//    change, is read again from offset 0 (counted in `truncations`). Before
//    that, the lines between the old position and the end of the copy
//    (a sibling such as auth.log.1 with the same first bytes) are read from
//    the copy, so a copytruncate loses only what was written between the
//    copy and the truncation (which no reader can recover).
//  - rotation while the daemon was down: Restore() gives the committed
//    positions; the first poll looks for each file among the glob matches
//    and among the siblings of its path (auth.log.1, auth.log-20260101; not
//    compressed ones such as auth.log.2.gz, whose bytes are not the file's
//    bytes any more), by device and inode confirmed by the fingerprint, and
//    resumes it where it was committed. A file with the inode but other first
//    bytes is a new file (inode reuse) and is read from 0. A position whose
//    file is nowhere (compressed or deleted meanwhile) is counted in
//    `lost_rotated`. Glob matches with no position are read from 0. So are
//    the siblings that have no position modified at or after the newest
//    rotated file so resumed (its successors: the previous run had not
//    committed any of their lines, or they came and went while it was down),
//    oldest first; for a path with no rotated file resumed, those modified
//    since its pattern has been followed (TailPosition::followed_since:
//    runs killed before their first commit leave no position, whatever they
//    had read). A file resumed rotated has been idle for an unknown time:
//    its final line without '\n' is submitted as soon as a newer file at its
//    path has data (the writer moved on), not after `rotated_idle`, so that
//    restarts closer together than that still make progress.
//  - a closed file that comes back to a matching path (renamed back, or its
//    directory was unreadable for a while) resumes where it was closed.
//
// Chunks. Only complete lines are submitted (a partial last line is held
// until its '\n' arrives); begin_offset/end_offset are file offsets at line
// boundaries, and `stream` and `file_path` are the path the file was first
// seen at (auth.log for the renamed auth.log.1 too, so its format and syslog
// year carry over). A line longer than max_line_bytes is skipped up to its
// '\n' and counted, never buffered whole. Delivery is exactly once while the
// daemon runs and at least once across a crash: chunks submitted after the
// last commit are read again from the committed position.
//
// Backpressure: Submit blocks up to poll_interval while the queue is full;
// then the poll ends and the same bytes are read again at the next poll
// (nothing is held in memory, nothing lost or sent twice). Once the queue is
// closed, PollOnce does nothing and Run returns.
//
// Errors (a file or directory that cannot be read, EACCES, EIO) are counted
// in `read_errors` and logged once per path until the path reads again;
// they never stop the tailer.
//
// Thread-safety: Restore, PollOnce and Run from one thread (the tailer's).
// OpenFiles() and stats() from any thread; OpenFiles takes a mutex that the
// tailer holds only to publish a snapshot at the end of a poll.
#ifndef CREDWATCH_DAEMON_FILE_TAILER_H_
#define CREDWATCH_DAEMON_FILE_TAILER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "credwatch/decoder.h"
#include "daemon/ingest.h"

namespace credwatch::daemon {

// Options are fixed at construction.
struct TailOptions {
  // glob(3) patterns (with GLOB_BRACE); a plain path names one file, which
  // may not exist yet. Compressed matches (.gz, .bz2, .xz, .zst) are skipped.
  std::vector<std::string> paths;
  // The format of every file; kAuto (default): detected per file (stream).
  Format format = Format::kAuto;
  // IngestChunk::input. Default "": "file " followed by the patterns.
  std::string input_name;
  // Pause between polls when there was nothing left to read, and the longest
  // a Submit waits for queue space. Default 250 ms.
  std::chrono::milliseconds poll_interval{250};
  // Bytes of complete lines per chunk. Default 1 MiB. A single line longer
  // than this (up to max_line_bytes) makes a chunk of its own.
  size_t max_chunk_bytes = size_t{1} << 20;
  // Longer lines ('\n' not counted) are skipped. Default 1 MiB.
  size_t max_line_bytes = size_t{1} << 20;
  // A file renamed away (or deleted) is closed once it is at no matching
  // path and has neither grown nor been rotated for this long. Default 5 s:
  // time for the writer to reopen its log.
  std::chrono::milliseconds rotated_idle{5000};
  // Warnings (unreadable path, lost position). Default: none.
  std::function<void(std::string_view)> log;
};

// Where a file's committed data ends: the tailer's input from the state
// store (Restore) and its diagnostics (OpenFiles).
struct TailPosition {
  FileKey key;
  std::string path;     // IngestChunk::file_path
  uint64_t offset = 0;  // IngestChunk::end_offset of the last committed chunk
  // Set instead when this is no file's position but the time (the wall
  // clock of file mtimes) since which the pattern `path` (one of
  // TailOptions::paths) has been followed with this state; `key` and
  // `offset` are unused. Restore reads the rotated generations modified
  // since then that no position accounts for (see "rotation while the
  // daemon was down").
  std::optional<timespec> followed_since;
};

// Counters, read from any thread (relaxed).
struct TailStats {
  std::atomic<uint64_t> files_open{0};      // gauge
  std::atomic<uint64_t> bytes_read{0};      // bytes submitted (lines with their '\n')
  std::atomic<uint64_t> lines_too_long{0};  // lines skipped, longer than max_line_bytes
  std::atomic<uint64_t> truncations{0};     // files that shrank or were rewritten in place
  std::atomic<uint64_t> rotations{0};       // files that left their path (and copies read)
  std::atomic<uint64_t> read_errors{0};     // paths that could not be opened or read
  std::atomic<uint64_t> lost_rotated{0};    // restored positions whose file was gone
};

// The fingerprint in FileKey: FixedHash of a file's first
// min(kFingerprintBytes, size) bytes; 0 for an empty file.
inline constexpr size_t kFingerprintBytes = 1024;
uint64_t FileFingerprint(std::string_view first_bytes);

class FileTailer {
 public:
  // `queue` is not owned and must outlive the tailer.
  FileTailer(TailOptions options, IngestQueue* queue);
  ~FileTailer();  // closes the files; submits nothing more
  FileTailer(const FileTailer&) = delete;
  FileTailer& operator=(const FileTailer&) = delete;

  // The committed positions, before the first poll. Several positions for
  // one (device, inode) are fine: the largest offset wins. Entries with
  // followed_since for patterns not in TailOptions::paths are ignored.
  void Restore(const std::vector<TailPosition>& positions);

  // One scan: expand the globs, notice new, rotated and truncated files,
  // and submit the complete lines appended since the last poll. At most
  // 16 chunks per file per poll, so that one large backlog does not hold up
  // the others for long. True when something was submitted.
  bool PollOnce();

  // PollOnce until `stop` is set or the queue is closed, pausing
  // poll_interval whenever there was no backlog left.
  void Run(const std::atomic<bool>& stop);

  // The open files and how far each has been submitted (which may be ahead
  // of what the pipeline committed), as of the end of the last poll.
  std::vector<TailPosition> OpenFiles() const;

  const TailStats& stats() const { return stats_; }

 private:
  struct TailedFile;
  struct Match;
  enum class ReadResult : uint8_t { kDone, kMore, kBusy, kClosed, kError };

  std::vector<Match> ExpandGlobs();
  std::vector<Match> Siblings(const std::string& path);
  void ResolveRestored(const std::vector<Match>& matches, std::chrono::steady_clock::time_point now);
  std::unique_ptr<TailedFile> OpenMatch(const Match& m, std::chrono::steady_clock::time_point now);
  std::vector<std::unique_ptr<TailedFile>> MissedGenerations(const std::string& path,
                                                           const std::vector<Match>& matches, timespec since,
                                                           std::chrono::steady_clock::time_point now);
  std::unique_ptr<TailedFile> FindCopy(const FileKey& key, const std::string& path, uint64_t offset,
                                       std::chrono::steady_clock::time_point now);
  bool Refresh(TailedFile& f, std::chrono::steady_clock::time_point now,
               std::unique_ptr<TailedFile>* copy);
  ReadResult ReadAvailable(TailedFile& f, bool* submitted);
  ReadResult SubmitFinalLine(TailedFile& f, bool* submitted);
  SubmitResult SubmitBytes(TailedFile& f, const char* data, size_t len, bool add_newline);
  bool IsTracked(uint64_t device, uint64_t inode) const;
  void ReportError(const std::string& path, std::string_view what, int err);
  void PublishSnapshot();

  const TailOptions options_;
  IngestQueue* const queue_;
  TailStats stats_;

  // Tailer thread only.
  std::vector<std::unique_ptr<TailedFile>> files_;  // oldest first: the read order
  std::vector<TailPosition> restored_;
  // Files closed after rotation, newest last (at most 256): one that shows up
  // at a matching path again resumes where it was instead of starting over.
  std::deque<TailPosition> recently_closed_;
  bool restore_pending_ = false;
  // CLOCK_REALTIME_COARSE (the clock of file mtimes) at the first and at the
  // previous poll: a sibling modified since then is a generation to read.
  bool polled_ = false;
  timespec first_poll_wall_{};
  timespec prev_poll_wall_{};
  bool closed_ = false;   // the queue refused a chunk
  bool backlog_ = false;  // the last poll left data unread
  std::vector<char> buf_;  // read buffer, up to max(max_chunk_bytes, max_line_bytes + 1)
  absl::flat_hash_set<std::string> error_paths_;  // failed at the last poll (logged)
  absl::flat_hash_set<std::string> errors_now_;   // failed at this poll

  mutable std::mutex snapshot_mu_;
  std::vector<TailPosition> snapshot_;  // guarded by snapshot_mu_
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_FILE_TAILER_H_
