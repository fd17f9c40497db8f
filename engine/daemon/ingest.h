// What the daemon's live inputs hand to the detection pipeline, and how the
// pipeline pushes back (docs/daemon.md).
//
// Every input (file tail, syslog listener, HTTP ingest) cuts what it receives
// into chunks of complete records, one record per line ('\n'-terminated, the
// terminator included), and submits them to an IngestQueue. The pipeline
// decodes and evaluates chunks in the order each input submitted them.
//
//   IngestChunk chunk;
//   chunk.input = "syslog tcp://127.0.0.1:6514";
//   chunk.format = Format::kAuto;
//   chunk.bytes = "<34>Oct 11 22:14:15 host sshd[1]: ...\n";
//   chunk.done = [](bool committed) { ... };    // optional
//   if (queue.TrySubmit(std::move(chunk)) == SubmitResult::kBusy) { ... 429 ... }
//
// Thread-safety: IngestQueue is safe from any number of producer threads; one
// consumer (the pipeline) takes chunks. Chunks are batches of records, so the
// queue's lock is taken per chunk, never per event.
#ifndef CREDWATCH_DAEMON_INGEST_H_
#define CREDWATCH_DAEMON_INGEST_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "credwatch/decoder.h"

namespace credwatch::daemon {

// A tailed file's identity: the same file across renames, told apart from a
// new file that reuses the inode by a fingerprint of its first bytes.
struct FileKey {
  uint64_t device = 0;
  uint64_t inode = 0;
  // FileFingerprint of the first min(1 KiB, size) bytes (so it changes while
  // a young file grows); 0 for an empty file.
  uint64_t fingerprint = 0;
  uint32_t fingerprint_len = 0;
  bool operator==(const FileKey&) const = default;
};

struct IngestChunk {
  // The input it came from, as the config names it ("file /var/log/auth.log",
  // "syslog tcp://127.0.0.1:6514", "http 127.0.0.1:8088"): the source of its
  // events in dead letters and the label of its metrics.
  std::string input;
  Format format = Format::kAuto;  // kAuto: detected from the first chunk of each stream
  // A stream within the input whose format and syslog year stay fixed: the
  // file path for tails, the peer for syslog connections, "" otherwise.
  std::string stream;
  // Complete records, each ending in '\n'.
  std::string bytes;
  // Tails only: the file this came from and the offset just past `bytes`,
  // committed with the state the chunk produced.
  std::optional<FileKey> file;
  std::string file_path;
  uint64_t begin_offset = 0;
  uint64_t end_offset = 0;
  // Called once, on the pipeline thread, after the state covering this chunk
  // was committed (true) or when the chunk will not be committed because the
  // daemon stops or failed (false). HTTP ingest answers the request from it.
  std::function<void(bool committed)> done;
};

enum class SubmitResult : uint8_t { kAccepted, kBusy, kClosed };

// Bounded multi-producer queue of chunks. Bounded by bytes, so a burst of
// large HTTP bodies and a burst of small syslog datagrams cost the same.
class IngestQueue {
 public:
  explicit IngestQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Network inputs: never blocks. kBusy when the queue is full (answer 429 /
  // stop reading the socket), kClosed once the daemon is stopping. On kBusy
  // and kClosed `chunk` is left untouched, so the caller can offer it again.
  SubmitResult TrySubmit(IngestChunk&& chunk) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return SubmitResult::kClosed;
    if (bytes_ > 0 && bytes_ + chunk.bytes.size() > max_bytes_) return SubmitResult::kBusy;
    Push(std::move(chunk));
    return SubmitResult::kAccepted;
  }

  // File tails: blocks while the queue is full (backpressure: the file waits
  // on disk), up to `timeout`. kBusy on timeout, kClosed once stopping.
  SubmitResult Submit(IngestChunk&& chunk, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!space_.wait_for(lock, timeout, [&] {
          return closed_ || bytes_ == 0 || bytes_ + chunk.bytes.size() <= max_bytes_;
        })) {
      return SubmitResult::kBusy;
    }
    if (closed_) return SubmitResult::kClosed;
    Push(std::move(chunk));
    return SubmitResult::kAccepted;
  }

  // The pipeline: waits up to `timeout` for a chunk.
  std::optional<IngestChunk> Take(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ready_.wait_for(lock, timeout, [&] { return !chunks_.empty() || closed_; })) return std::nullopt;
    if (chunks_.empty()) return std::nullopt;
    IngestChunk c = std::move(chunks_.front());
    chunks_.pop_front();
    bytes_ -= c.bytes.size();
    space_.notify_all();
    return c;
  }

  // Refuses further chunks; those queued can still be taken.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ready_.notify_all();
    space_.notify_all();
  }

  size_t bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }
  size_t chunks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_.size();
  }
  size_t max_bytes() const { return max_bytes_; }

 private:
  void Push(IngestChunk&& chunk) {
    bytes_ += chunk.bytes.size();
    chunks_.push_back(std::move(chunk));
    ready_.notify_one();
  }

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::deque<IngestChunk> chunks_;
  size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_INGEST_H_
