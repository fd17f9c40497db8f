// Output files and the per-format writers that turn Records into the text
// real systems emit: `journalctl -o json` lines, CloudTrail records (one per
// line, or in gzip {"Records":[...]} delivery files) and OCSF Network Activity.
// Writers format into large reused buffers and write them with fwrite/gzwrite;
// an I/O error is sticky and reported by Close/Finish. Not thread-safe.
// Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_WRITERS_H_
#define CREDWATCH_REPLAY_SIMULATOR_WRITERS_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "replay/simulator/estate.h"
#include "replay/simulator/format.h"
#include "replay/simulator/record.h"

namespace credwatch::sim {

// A plain file written through a 1 MiB buffer.
class OutputFile {
 public:
  OutputFile() = default;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  absl::Status Open(const std::string& path);
  // Format straight into buffer(), then call Commit().
  std::string* buffer() { return &buf_; }
  void Commit() {
    if (buf_.size() >= kFlushAt) Flush();
  }
  void Append(std::string_view s) {
    buf_.append(s.data(), s.size());
    Commit();
  }
  absl::Status Close();

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  void Flush();

  std::string path_;
  FILE* file_ = nullptr;
  std::string buf_;
  absl::Status status_;
};

// A gzip file (level 1: the simulator must keep up with benchmarks).
class GzOutputFile {
 public:
  GzOutputFile() = default;
  GzOutputFile(const GzOutputFile&) = delete;
  GzOutputFile& operator=(const GzOutputFile&) = delete;
  ~GzOutputFile();

  absl::Status Open(const std::string& path);
  bool is_open() const { return file_ != nullptr; }
  void Append(std::string_view s);
  absl::Status Close();

 private:
  void Flush();

  std::string path_;
  void* file_ = nullptr;  // gzFile
  std::string buf_;
  absl::Status status_;
};

class JournalWriter {
 public:
  JournalWriter(const Estate& estate, OutputFile* out);
  // Appends one line; returns its size in bytes.
  size_t Write(const Record& r);

 private:
  void AppendMessage(const Record& r, std::string* out);

  const Estate& estate_;
  OutputFile* out_;
  std::vector<uint64_t> seqnum_;  // per host
  TimeFormatter tf_;
  std::string path_;  // scratch
};

// CloudTrail records before `split_ns` go to cloudtrail.ndjson, the rest to
// delivery files cloudtrail/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz,
// one per 5-minute window (named after its end), at most 20,000 records each.
class CloudTrailWriter {
 public:
  CloudTrailWriter(const Estate& estate, std::string delivery_dir, int64_t split_ns,
                   OutputFile* ndjson);
  size_t Write(const Record& r);
  absl::Status Finish();

  int64_t ndjson_records() const { return ndjson_records_; }
  int64_t delivery_records() const { return delivery_records_; }
  int64_t delivery_files() const { return delivery_files_; }

 private:
  static constexpr int64_t kWindowNs = 5LL * 60 * 1'000'000'000;
  static constexpr int64_t kMaxRecordsPerFile = 20000;
  void Format(const Record& r, std::string* out);
  void AppendIdentity(const Record& r, bool with_key, std::string* out);
  void AppendTail(const Record& r, bool management, bool read_only, std::string_view host_header,
                  std::string* out);
  absl::Status OpenDeliveryFile(int64_t window, int part);

  const Estate& estate_;
  std::string delivery_dir_;
  int64_t split_ns_;
  OutputFile* ndjson_;
  GzOutputFile gz_;
  int64_t window_ = INT64_MIN;
  int part_ = 0;
  int64_t in_file_ = 0;
  int64_t ndjson_records_ = 0;
  int64_t delivery_records_ = 0;
  int64_t delivery_files_ = 0;
  TimeFormatter tf_;
  std::string line_;
  std::string scratch_;  // the record's "resources"
  std::string host_;     // the record's Host header
  absl::Status status_;
};

class FlowWriter {
 public:
  FlowWriter(const Estate& estate, OutputFile* out);
  size_t Write(const Record& r);

 private:
  const Estate& estate_;
  OutputFile* out_;
};

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_WRITERS_H_
