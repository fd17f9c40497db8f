#include "credwatch/input.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <ctime>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"
#include "common/strings.h"
#include "credwatch/site.h"
#include "credwatch/time_util.h"

namespace credwatch {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeadBytes = 64 * 1024;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view s, size_t pos) {
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  return pos;
}

std::string_view SkipBom(std::string_view s) {
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  return s;
}

bool Contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

// Incremental scanner of one JSON value's extent: strings, escapes, nesting.
struct ValueScanner {
  int depth = 0;
  bool in_string = false;
  bool escape = false;

  // Scans data[pos..]; returns the end (one past the value's closing bracket)
  // of a container value, or npos when the value continues past the data.
  size_t Scan(std::string_view data, size_t pos) {
    const char* p = data.data();
    size_t n = data.size();
    for (size_t i = pos; i < n; ++i) {
      char c = p[i];
      if (in_string) {
        if (escape) {
          escape = false;
        } else if (c == '\\') {
          escape = true;
        } else if (c == '"') {
          in_string = false;
        } else {
          // Fast-forward over plain string bytes: to the next quote, or to a
          // backslash before it (searched only up to the quote, not to the
          // end of the buffer).
          const void* q = std::memchr(p + i, '"', n - i);
          size_t stop = q ? static_cast<size_t>(static_cast<const char*>(q) - p) : n;
          const void* b = std::memchr(p + i, '\\', stop - i);
          if (b) stop = static_cast<size_t>(static_cast<const char*>(b) - p);
          i = stop - 1;
        }
        continue;
      }
      switch (c) {
        case '"': in_string = true; break;
        case '{': case '[': ++depth; break;
        case '}': case ']':
          if (--depth == 0) return i + 1;
          break;
        default: break;
      }
    }
    return std::string_view::npos;
  }
};

// RFC 3164 lines carry no year. A log file is written up to its last
// modification, so the year of the file's mtime is the year of its last
// lines; if the first line's month is later in the year than the mtime's
// month, the file began in the previous year. Stdin uses the current year.
int GuessSyslogStartYear(const std::string& path, std::string_view head) {
  struct stat st;
  int64_t ref_ns = static_cast<int64_t>(std::time(nullptr)) * kNsPerSecond;
  if (path != "-" && ::stat(path.c_str(), &st) == 0) {
    ref_ns = static_cast<int64_t>(st.st_mtime) * kNsPerSecond;
  }
  int year = YearOf(ref_ns);
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  size_t pos = SkipSpace(head, 0);
  if (pos < head.size() && head[pos] == '<') {  // <PRI>
    size_t gt = head.find('>', pos);
    if (gt == std::string_view::npos) return year;
    pos = gt + 1;
  }
  if (pos + 3 > head.size()) return year;
  size_t m = kMonths.find(head.substr(pos, 3));
  if (m == std::string_view::npos || m % 3 != 0) return year;
  unsigned first_month = static_cast<unsigned>(m / 3 + 1);
  std::string stamp = FormatIso8601(ref_ns);  // YYYY-MM-...
  unsigned ref_month = static_cast<unsigned>((stamp[5] - '0') * 10 + (stamp[6] - '0'));
  return first_month > ref_month ? year - 1 : year;
}

}  // namespace

int64_t InputStats::rejects() const {
  int64_t n = 0;
  for (size_t i = 0; i < by_code.size(); ++i) {
    if (IsReject(static_cast<RecordCode>(i))) n += by_code[i];
  }
  return n;
}

void InputStats::Merge(const InputStats& other) {
  records += other.records;
  bytes += other.bytes;
  events += other.events;
  for (size_t i = 0; i < by_code.size(); ++i) by_code[i] += other.by_code[i];
}

absl::StatusOr<std::unique_ptr<DeadLetterWriter>> DeadLetterWriter::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open dead-letter file '", path, "': ", std::strerror(errno)));
  }
  return std::unique_ptr<DeadLetterWriter>(new DeadLetterWriter(f));
}

DeadLetterWriter::~DeadLetterWriter() { std::fclose(file_); }

void DeadLetterWriter::Write(std::string_view source, uint64_t offset, RecordCode code,
                             std::string_view detail, std::string_view record) {
  line_.clear();
  line_.append("{\"source\":");
  AppendJsonString(source, &line_);
  line_.append(",\"offset\":");
  AppendJsonInt(static_cast<int64_t>(offset), &line_);
  line_.append(",\"reason\":");
  AppendJsonString(RecordCodeName(code), &line_);
  line_.append(",\"detail\":");
  AppendJsonString(detail, &line_);
  line_.append(",\"head\":");
  AppendJsonString(record.substr(0, 256), &line_);
  line_.append("}\n");
  std::fwrite(line_.data(), 1, line_.size(), file_);
}

absl::StatusOr<std::vector<std::string>> ExpandInputs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    if (p == "-") {
      out.push_back(p);
      continue;
    }
    std::error_code ec;
    auto status = fs::status(p, ec);
    if (ec || !fs::exists(status)) {
      return absl::NotFoundError(absl::StrCat("input '", p, "' does not exist"));
    }
    if (fs::is_directory(status)) {
      std::vector<std::string> files;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) files.push_back(it->path().string());
      }
      if (ec) return absl::UnavailableError(absl::StrCat("cannot list '", p, "': ", ec.message()));
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

Format DetectFormat(std::string_view head) {
  head = SkipBom(head);
  size_t pos = SkipSpace(head, 0);
  if (pos == head.size()) return Format::kSyslog;
  char first = head[pos];
  if (first != '{' && first != '[') return Format::kSyslog;
  if (Contains(head, "\"__REALTIME_TIMESTAMP\"")) return Format::kJournald;
  if (Contains(head, "\"class_uid\"")) return Format::kOcsf;
  if (Contains(head, "\"Records\"") ||
      (Contains(head, "\"eventSource\"") && Contains(head, "\"eventName\""))) {
    return Format::kCloudTrail;
  }
  if (Contains(head, "\"time\"")) return Format::kNative;
  return Format::kAuto;
}

InputReader::~InputReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

absl::StatusOr<std::unique_ptr<InputReader>> InputReader::Open(const std::string& path,
                                                               const InputOptions& options) {
  std::unique_ptr<InputReader> r(new InputReader());
  r->path_ = path;
  r->options_ = options;
  gzFile gz = path == "-" ? gzdopen(dup(0), "rb") : gzopen(path.c_str(), "rb");
  if (!gz) {
    return absl::NotFoundError(absl::StrCat("cannot open input '", path, "': ", std::strerror(errno)));
  }
  gzbuffer(gz, 16 * 1024);  // many inputs may be open at once
  r->gz_ = gz;
  // Read the head for detection; it is replayed as the first bytes of the input.
  r->head_.resize(kHeadBytes);
  int n = gzread(gz, r->head_.data(), static_cast<unsigned>(kHeadBytes));
  if (n < 0) {
    int err = 0;
    const char* msg = gzerror(gz, &err);
    return absl::DataLossError(absl::StrCat("cannot read input '", path, "': ", msg ? msg : "error"));
  }
  r->head_.resize(static_cast<size_t>(n));
  if (static_cast<size_t>(n) < kHeadBytes) r->eof_ = gzeof(gz) || n == 0;

  r->format_ = options.format == Format::kAuto ? DetectFormat(r->head_) : options.format;
  if (r->format_ == Format::kAuto) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the format of '", path,
        "' (JSON that is not CloudTrail, journald, OCSF or native); name it with --format"));
  }
  std::string_view head = SkipBom(r->head_);
  size_t pos = SkipSpace(head, 0);
  if (r->format_ != Format::kSyslog && pos < head.size()) {
    if (head[pos] == '[') {
      r->framing_ = Framing::kJsonArray;
    } else if (head[pos] == '{') {
      size_t key = SkipSpace(head, pos + 1);
      if (head.substr(key, 9) == "\"Records\"") {
        r->framing_ = Framing::kRecordsArray;
      } else {
        // NDJSON, unless the first line is not a whole value (a pretty-printed
        // document): then values are framed by their brackets.
        size_t nl = head.find('\n', pos);
        ValueScanner scan;
        size_t end = scan.Scan(head.substr(0, nl == std::string_view::npos ? head.size() : nl), pos);
        if (end == std::string_view::npos && nl != std::string_view::npos) {
          r->framing_ = Framing::kJsonArray;
          r->in_array_ = true;  // top-level values, no enclosing array
          r->top_level_values_ = true;
        }
      }
    }
  }
  auto records = RecordDecoder::Create(r->format_, path, options, head);
  if (!records.ok()) return records.status();
  r->records_ = std::move(*records);
  return r;
}

bool InputReader::Fill(std::vector<char>& buf) {
  // Chunks start small and double while reads fill them, so the many small
  // files of a CloudTrail delivery directory (all open at once in a replay
  // merge) do not each pin a full-size buffer.
  size_t want = std::min(next_chunk_, options_.chunk_bytes);
  size_t start = buf.size();
  buf.resize(start + want);
  size_t got = 0;
  if (head_pos_ < head_.size()) {
    size_t n = std::min(want, head_.size() - head_pos_);
    std::memcpy(buf.data() + start, head_.data() + head_pos_, n);
    head_pos_ += n;
    got += n;
    if (head_pos_ == head_.size()) std::string().swap(head_);
    if (head_.empty()) head_pos_ = 0;
  }
  while (got < want && !eof_) {
    int n = gzread(static_cast<gzFile>(gz_), buf.data() + start + got,
                   static_cast<unsigned>(want - got));
    if (n < 0) {
      gz_error_ = true;
      eof_ = true;
      break;
    }
    if (n == 0) {
      eof_ = true;
      int err = 0;
      gzerror(static_cast<gzFile>(gz_), &err);
      if (err == Z_BUF_ERROR) gz_error_ = true;  // compressed stream cut short
      break;
    }
    got += static_cast<size_t>(n);
  }
  buf.resize(start + got);
  if (got == want) next_chunk_ = std::min(next_chunk_ * 2, options_.chunk_bytes);
  return got > 0;
}

absl::StatusOr<std::unique_ptr<RecordDecoder>> RecordDecoder::Create(Format format,
                                                                     std::string source,
                                                                     const InputOptions& options,
                                                                     std::string_view head) {
  if (format == Format::kAuto) {
    return absl::InvalidArgumentError(absl::StrCat("no format for '", source, "'"));
  }
  std::unique_ptr<RecordDecoder> d(new RecordDecoder());
  d->format_ = format;
  d->source_ = std::move(source);
  d->max_record_bytes_ = options.decoder.limits.max_record_bytes;
  d->dead_letter_ = options.dead_letter;
  DecoderOptions dopts = options.decoder;
  if (options.projection_for) dopts.projection = options.projection_for(format);
  if (format == Format::kSyslog && dopts.syslog_start_year == 0) {
    dopts.syslog_start_year = GuessSyslogStartYear(d->source_, head);
  }
  auto decoder = MakeDecoder(format, dopts);
  if (!decoder.ok()) return decoder.status();
  d->decoder_ = std::move(*decoder);
  if (options.site) d->annotator_ = std::make_unique<SiteAnnotator>(options.site);
  return d;
}

RecordDecoder::~RecordDecoder() = default;

void RecordDecoder::Reject(RecordCode code, std::string_view detail, uint64_t offset,
                           std::string_view record, InputStats& stats) {
  ++stats.records;
  ++stats.by_code[static_cast<size_t>(code)];
  if (dead_letter_) dead_letter_->Write(source_, offset, code, detail, record);
}

void RecordDecoder::Decode(std::string_view record, uint64_t offset, EventBatch& batch,
                           InputStats& stats) {
  if (record.size() > max_record_bytes_) {
    Reject(RecordCode::kRejectLineTooLong, "record longer than limits.max_record_bytes", offset,
           record, stats);
    return;
  }
  size_t before = batch.size();
  DecodeResult r = decoder_->Decode(record, RecordContext{source_, offset}, batch);
  if (IsReject(r.code)) {
    while (batch.size() > before) batch.PopBack();
    Reject(r.code, r.detail, offset, record, stats);
    return;
  }
  ++stats.records;
  ++stats.by_code[static_cast<size_t>(r.code)];
  stats.events += static_cast<int64_t>(batch.size() - before);
  if (annotator_) {
    for (size_t i = before; i < batch.size(); ++i) annotator_->Annotate(batch[i], batch.arena());
  }
}

size_t InputReader::FrameLines(std::string_view data, bool at_eof, EventBatch& batch,
                               InputStats& stats) {
  const size_t max = options_.decoder.limits.max_record_bytes;
  size_t pos = 0;
  if (skipping_) {
    const void* nl = std::memchr(data.data(), '\n', data.size());
    if (!nl && !at_eof) return data.size();
    Reject(RecordCode::kRejectLineTooLong, "line longer than limits.max_record_bytes", skip_offset_,
           data.substr(0, 256), stats);
    skipping_ = false;
    pos = nl ? static_cast<size_t>(static_cast<const char*>(nl) - data.data()) + 1 : data.size();
  }
  while (pos < data.size()) {
    const void* nl = std::memchr(data.data() + pos, '\n', data.size() - pos);
    size_t end;
    if (nl) {
      end = static_cast<size_t>(static_cast<const char*>(nl) - data.data());
    } else if (at_eof) {
      end = data.size();
    } else {
      if (data.size() - pos > max) {
        skipping_ = true;
        skip_offset_ = carry_offset_ + pos;
        return data.size();
      }
      break;
    }
    std::string_view line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    uint64_t offset = carry_offset_ + pos;
    pos = nl ? end + 1 : end;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank line
    DecodeRecord(line, offset, batch, stats);
  }
  return pos;
}

size_t InputReader::FrameArray(std::string_view data, bool at_eof, EventBatch& batch,
                               InputStats& stats) {
  const size_t max = options_.decoder.limits.max_record_bytes;
  size_t pos = 0;
  if (skipping_) {
    ValueScanner scan{skip_depth_, skip_in_string_, skip_escape_};
    size_t end = scan.Scan(data, 0);
    if (end == std::string_view::npos && !at_eof) {
      skip_depth_ = scan.depth;
      skip_in_string_ = scan.in_string;
      skip_escape_ = scan.escape;
      return data.size();
    }
    Reject(RecordCode::kRejectLineTooLong, "record longer than limits.max_record_bytes",
           skip_offset_, data.substr(0, 256), stats);
    skipping_ = false;
    pos = end == std::string_view::npos ? data.size() : end;
  }
  if (!in_array_ && !array_done_) {
    // Find the records array: '[' at the top, or {"Records":[ for CloudTrail.
    size_t p = SkipSpace(data, data.size() - SkipBom(data).size());
    if (framing_ == Framing::kRecordsArray) {
      p = data.find('[', p);
      if (p == std::string_view::npos) {
        if (!at_eof && data.size() < 4096) return 0;
        Reject(RecordCode::kRejectUnknownShape, "no Records array", carry_offset_, data, stats);
        array_done_ = true;
        return data.size();
      }
    } else if (p >= data.size() || data[p] != '[') {
      if (!at_eof && p >= data.size()) return 0;
      Reject(RecordCode::kRejectUnknownShape, "expected a JSON array", carry_offset_, data, stats);
      array_done_ = true;
      return data.size();
    }
    in_array_ = true;
    pos = p + 1;
  }
  while (in_array_ && pos < data.size()) {
    pos = SkipSpace(data, pos);
    if (pos >= data.size()) break;
    char c = data[pos];
    if (c == ',') {
      ++pos;
      continue;
    }
    if (c == ']') {
      in_array_ = false;
      array_done_ = true;
      pos = data.size();  // the closing "}" of a delivery file and trailing space
      break;
    }
    size_t start = pos;
    size_t end;
    if (c == '{' || c == '[') {
      ValueScanner scan;
      end = scan.Scan(data, start);
      if (end == std::string_view::npos) {
        if (at_eof) {
          Reject(RecordCode::kRejectTruncated, "input ends inside a record", carry_offset_ + start,
                 data.substr(start), stats);
          return data.size();
        }
        if (data.size() - start > max) {
          skipping_ = true;
          skip_offset_ = carry_offset_ + start;
          skip_depth_ = scan.depth;
          skip_in_string_ = scan.in_string;
          skip_escape_ = scan.escape;
          return data.size();
        }
        return start;  // carry the partial record to the next batch
      }
    } else {
      // A scalar where a record should be: up to the next ',' or ']'.
      end = data.find_first_of(",]\n", start);
      if (end == std::string_view::npos) {
        if (!at_eof) return start;
        end = data.size();
      }
    }
    DecodeRecord(data.substr(start, end - start), carry_offset_ + start, batch, stats);
    pos = end;
  }
  if (in_array_ && at_eof && pos >= data.size()) {
    // The array never closed: the input was cut short after a whole record.
    if (!top_level_values_) {
      Reject(RecordCode::kRejectTruncated, "input ends before the array closes",
             carry_offset_ + data.size(), {}, stats);
    }
    in_array_ = false;
    array_done_ = true;
  }
  return pos;
}

bool InputReader::ReadBatch(EventBatch& batch, InputStats& stats) {
  if (eof_ && carry_.empty() && head_.empty()) return false;
  std::vector<char>& buf = batch.raw();
  buf.assign(carry_.begin(), carry_.end());
  size_t before = buf.size();
  Fill(buf);
  size_t data_size = buf.size();
  stats.bytes += static_cast<int64_t>(data_size - before);
  bool at_eof = eof_ && head_.empty();
  buf.resize(data_size + kRecordPadding, '\0');
  std::string_view data(buf.data(), data_size);
  size_t consumed = framing_ == Framing::kLines ? FrameLines(data, at_eof, batch, stats)
                                                : FrameArray(data, at_eof, batch, stats);
  if (at_eof) consumed = data_size;
  carry_.assign(buf.begin() + static_cast<ptrdiff_t>(consumed), buf.begin() + static_cast<ptrdiff_t>(data_size));
  carry_offset_ += consumed;
  if (at_eof && gz_error_) {
    Reject(RecordCode::kRejectTruncated, "compressed input is cut short or corrupt", carry_offset_,
           {}, stats);
    gz_error_ = false;
  }
  return data_size > 0 || !at_eof;
}

}  // namespace credwatch
