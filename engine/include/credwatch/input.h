// Reading inputs: files (plain or gzip), directories (recursive, in name
// order) and stdin ("-"), framed into records and decoded into event batches.
//
//   auto reader = credwatch::InputReader::Open("trail.json.gz", Format::kAuto, options);
//   credwatch::EventBatch batch;
//   while ((*reader)->ReadBatch(batch, stats)) { ... use batch ...; batch.Clear(); }
//
// Framing follows the detected format: one record per line (NDJSON, syslog
// text), the elements of a top-level JSON array, or the elements of a
// CloudTrail delivery file's {"Records":[...]} array, streamed so a 500 MB
// file never becomes one document. Every bad record is counted by reason in
// InputStats and, when a DeadLetterWriter is given, written there with its
// source and offset; reading always goes on.
//
// An InputReader is not thread-safe; one thread reads one input.
#ifndef CREDWATCH_INPUT_H_
#define CREDWATCH_INPUT_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "credwatch/decoder.h"
#include "credwatch/event_batch.h"

namespace credwatch {

class Site;
class SiteAnnotator;

// Counts of what happened to the records of one or more inputs.
struct InputStats {
  int64_t records = 0;
  int64_t bytes = 0;
  int64_t events = 0;
  std::array<int64_t, static_cast<size_t>(RecordCode::kNumCodes)> by_code{};

  int64_t rejects() const;
  void Merge(const InputStats& other);
};

// Appends one JSON line per rejected record: {"source","offset","reason",
// "detail","head"} where head is the first 256 bytes, escaped. Thread-compatible.
class DeadLetterWriter {
 public:
  static absl::StatusOr<std::unique_ptr<DeadLetterWriter>> Open(const std::string& path);
  ~DeadLetterWriter();
  void Write(std::string_view source, uint64_t offset, RecordCode code, std::string_view detail,
             std::string_view record);

 private:
  explicit DeadLetterWriter(std::FILE* f) : file_(f) {}
  std::FILE* file_;
  std::string line_;
};

// Expands files and directories (recursively, sorted by path) into the list
// of files to read; "-" stays as stdin. Hidden files are skipped.
absl::StatusOr<std::vector<std::string>> ExpandInputs(const std::vector<std::string>& paths);

// Guesses the format from the first bytes of an input: CloudTrail (records or
// a delivery file), journald JSON, OCSF, native, else syslog text.
Format DetectFormat(std::string_view head);

struct InputOptions {
  Format format = Format::kAuto;  // kAuto: detected from the first 64 KiB
  DecoderOptions decoder;
  // The source fields loaded rules read in a format (RuleSet::projection);
  // asked once the input's format is known. May be empty: no projection.
  std::function<const Projection*(Format)> projection_for;
  std::shared_ptr<const Site> site;     // may be null: no site annotation
  DeadLetterWriter* dead_letter = nullptr;
  size_t chunk_bytes = 1 << 20;   // raw bytes read per batch
};

// Decodes the records of one stream, one at a time: the decoder with its
// projection, the record limits, the site annotation and the accounting of
// rejects (counted, written to the dead-letter file) of an input, without its
// framing. InputReader uses one per file; the daemon one per live stream.
// Not thread-safe.
class RecordDecoder {
 public:
  // `format` must be known (not kAuto). `source` names the stream in
  // dead letters and events. `head`: the stream's first bytes, for the
  // syslog year when options.decoder.syslog_start_year is 0 (with the
  // file's mtime when `source` is a file path).
  static absl::StatusOr<std::unique_ptr<RecordDecoder>> Create(Format format, std::string source,
                                                               const InputOptions& options,
                                                               std::string_view head);
  ~RecordDecoder();

  // Decodes one record (with kRecordPadding readable bytes after it) that
  // starts at `offset` in the stream, appending its events to `batch`; a
  // reject appends nothing and is counted.
  void Decode(std::string_view record, uint64_t offset, EventBatch& batch, InputStats& stats);
  // Counts a record the framing had to reject.
  void Reject(RecordCode code, std::string_view detail, uint64_t offset, std::string_view record,
              InputStats& stats);

  Format format() const { return format_; }
  const std::string& source() const { return source_; }

 private:
  RecordDecoder() = default;
  Format format_ = Format::kAuto;
  std::string source_;
  size_t max_record_bytes_ = 0;
  DeadLetterWriter* dead_letter_ = nullptr;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<SiteAnnotator> annotator_;
};

class InputReader {
 public:
  // Opens the file ("-" = stdin) and detects its format and framing. Fails
  // when the file cannot be read or its format cannot be decided.
  static absl::StatusOr<std::unique_ptr<InputReader>> Open(const std::string& path,
                                                           const InputOptions& options);
  ~InputReader();

  // Reads up to options.chunk_bytes of raw input into `batch` (which must be
  // empty) and decodes the complete records in it. Returns false once the
  // input is exhausted and nothing was added.
  bool ReadBatch(EventBatch& batch, InputStats& stats);

  Format format() const { return format_; }
  const std::string& path() const { return path_; }
  // Byte offset (in the decompressed input) of the first record not yet
  // returned by ReadBatch: where durable state says reading stands.
  uint64_t next_record_offset() const { return carry_offset_; }

 private:
  enum class Framing { kLines, kJsonArray, kRecordsArray };
  InputReader() = default;
  // Reads more raw bytes after the carried-over tail; false at end of input.
  bool Fill(std::vector<char>& buf);
  void Reject(RecordCode code, std::string_view detail, uint64_t offset, std::string_view record,
              InputStats& stats) {
    records_->Reject(code, detail, offset, record, stats);
  }
  void DecodeRecord(std::string_view record, uint64_t offset, EventBatch& batch, InputStats& stats) {
    records_->Decode(record, offset, batch, stats);
  }
  size_t FrameLines(std::string_view data, bool at_eof, EventBatch& batch, InputStats& stats);
  size_t FrameArray(std::string_view data, bool at_eof, EventBatch& batch, InputStats& stats);

  std::string path_;
  Format format_ = Format::kAuto;
  Framing framing_ = Framing::kLines;
  InputOptions options_;
  std::unique_ptr<RecordDecoder> records_;
  void* gz_ = nullptr;          // gzFile when the input is gzip
  std::FILE* file_ = nullptr;   // otherwise
  bool owns_file_ = false;
  bool eof_ = false;
  bool gz_error_ = false;
  size_t next_chunk_ = 64 * 1024;  // grows to options_.chunk_bytes
  std::vector<char> carry_;     // bytes of an unfinished record from the previous batch
  uint64_t carry_offset_ = 0;   // input offset of carry_[0]
  std::string head_;            // first bytes, read for detection and replayed first
  size_t head_pos_ = 0;
  // Array framing state.
  bool in_array_ = false;       // inside the records array
  bool array_done_ = false;
  bool top_level_values_ = false;  // pretty-printed JSON documents, one after another
  // Oversized-record skipping.
  bool skipping_ = false;
  uint64_t skip_offset_ = 0;
  int skip_depth_ = 0;
  bool skip_in_string_ = false;
  bool skip_escape_ = false;
};

}  // namespace credwatch

#endif  // CREDWATCH_INPUT_H_
