#include "state/durable_replay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "alert/alert_folder.h"
#include "alert/finding.h"
#include "common/strings.h"
#include "credwatch/site.h"
#include "common/fixed_hash.h"
#include "credwatch/event_batch.h"
#include "replay/output.h"
#include "runtime/detection_order.h"
#include "runtime/host_sessions.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"
#include "runtime/spsc_ring.h"
#include "runtime/thread_name.h"
#include "state/encoding.h"
#include "state/durable_detector.h"
#include "state/durable_shard_state.h"
#include "state/commit_schedule.h"
#include "state/records.h"
#include "state/state_store.h"

namespace credwatch::state {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// The output of a durable replay: a file that can be cut back to the length
// the state confirms, or stdout (which cannot).
class AlertSink {
 public:
  static absl::StatusOr<std::unique_ptr<AlertSink>> Open(const std::string& path,
                                                         uint64_t confirmed, bool resume) {
    if (path.empty()) return std::unique_ptr<AlertSink>(new AlertSink(1, false, "stdout"));
    int fd = -1;
    if (resume) {
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && confirmed == 0) {
        fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      } else if (fd < 0 && errno == ENOENT) {
        return absl::FailedPreconditionError(absl::StrCat(
            "output '", path, "' is missing, but the state says ", confirmed,
            " bytes of alerts were written to it. Restore it, or move the state_dir away to "
            "start over"));
      }
    } else {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
    }
    std::unique_ptr<AlertSink> sink(new AlertSink(fd, true, path));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot stat '", path, "': ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      // A device or a pipe (/dev/null, a FIFO): like stdout, nothing to cut
      // back or sync.
      sink->regular_ = false;
      return sink;
    }
    if (static_cast<uint64_t>(st.st_size) < confirmed) {
      return absl::FailedPreconditionError(absl::StrCat(
          "output '", path, "' holds ", st.st_size, " bytes, but the state says ", confirmed,
          " bytes of alerts were written to it: it was changed outside credwatch. Restore it, "
          "or move the state_dir away to start over"));
    }
    // Bytes past the confirmed length were written after the last commit:
    // the resumed run writes them again.
    if (::ftruncate(fd, static_cast<off_t>(confirmed)) != 0 ||
        ::lseek(fd, static_cast<off_t>(confirmed), SEEK_SET) < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot cut back '", path, "': ", std::strerror(errno)));
    }
    return sink;
  }

  ~AlertSink() {
    if (owned_ && fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view bytes, bool sync) {
    if (!failed_.ok()) return failed_;
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Failed(errno);
      done += static_cast<size_t>(n);
    }
    if (sync && owned_ && regular_ && ::fdatasync(fd_) != 0) return Failed(errno);
    return absl::OkStatus();
  }

  absl::Status Close() {
    if (owned_ && fd_ >= 0) {
      const int rc = ::close(fd_);
      fd_ = -1;
      if (rc != 0 && failed_.ok()) return Failed(errno);
    }
    return failed_;
  }

 private:
  AlertSink(int fd, bool owned, std::string path) : fd_(fd), owned_(owned), path_(std::move(path)) {}
  absl::Status Failed(int err) {
    if (err == ENOSPC) {
      failed_ = absl::ResourceExhaustedError(absl::StrCat(
          "disk full writing '", path_, "'. Intake stopped; the committed state is intact and "
          "the unwritten alerts stay in its outbox. Free space and re-run the same command"));
    } else {
      failed_ = absl::DataLossError(absl::StrCat("writing '", path_, "' failed: ", std::strerror(err)));
    }
    return failed_;
  }
  int fd_;
  bool owned_;
  bool regular_ = true;  // a regular file: can be cut back and synced
  std::string path_;
  absl::Status failed_;
};

// ---------------------------------------------------------------------------
// What makes two replays the same run.
class RunHasher {
 public:
  void Add(std::string_view s) {
    h_ = FixedHash(s, h_ ^ s.size());
  }
  void AddInt(int64_t v) { Add(std::to_string(v)); }
  void AddFile(const std::string& path) {
    Add(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Add("<unreadable>");
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Add(ss.str());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0x5747E;
};

RunIdentity IdentifyRun(const replay::ReplayOptions& o, const std::vector<std::string>& files) {
  RunHasher h;
  h.AddInt(static_cast<int64_t>(files.size()));
  for (const std::string& f : files) h.Add(f);
  h.AddInt(static_cast<int64_t>(o.format));
  if (!o.mapping_file.empty()) h.AddFile(o.mapping_file);
  if (!o.config.path.empty()) h.AddFile(o.config.path);
  if (!o.config.site.tenants.credential_csv.empty()) h.AddFile(o.config.site.tenants.credential_csv);
  auto rules = ExpandInputs(o.config.rules);
  if (rules.ok()) {
    for (const std::string& r : *rules) h.AddFile(r);
  }
  h.AddInt(o.config.replay.max_disorder_ns);
  h.AddInt(o.config.profile.learning_period_ns);
  h.AddInt(o.state.retention_ns);
  RunIdentity run;
  run.fingerprint = h.value();
  run.description = absl::StrCat(files.size(), " input", files.size() == 1 ? "" : "s");
  if (!files.empty()) absl::StrAppend(&run.description, " (", files.front(), files.size() > 1 ? ", ..." : "", ")");
  if (!o.config.path.empty()) absl::StrAppend(&run.description, ", config ", o.config.path);
  if (!o.config.rules.empty()) absl::StrAppend(&run.description, ", rules ", o.config.rules.front());
  return run;
}

std::string OutputPath(const std::string& output) {
  if (output.empty() || output == "-") return "";
  std::error_code ec;
  fs::path abs = fs::absolute(output, ec);
  return ec ? output : abs.lexically_normal().string();
}

// ---------------------------------------------------------------------------
// What every durable replay keeps besides detection: the state database,
// the run it belongs to, where the inputs stood at the last commit, the
// output file and its outbox, and the committer thread that writes each
// commit and then its alerts while detection goes on.
class DurableRun {
 public:
  // Where a commit cuts the merged sequence.
  struct Cut {
    uint64_t events = 0;
    uint64_t watermarks = 0;
    int64_t watermark_ns = INT64_MIN;
    uint64_t detections = 0;  // journaled so far
    bool final = false;
    std::vector<replay::MergeInputPosition> positions;
  };

  DurableRun(const replay::ReplayOptions& options, std::unique_ptr<StateStore> store)
      : store_(std::move(store)), sync_(options.state.sync == SyncPolicy::kCommit) {}
  ~DurableRun() { StopCommitter(); }
  DurableRun(const DurableRun&) = delete;
  DurableRun& operator=(const DurableRun&) = delete;

  // Checks that the state belongs to this run and its inputs, cuts the
  // output back to its confirmed length and writes the outbox to it.
  absl::Status Open(const replay::ReplayOptions& options, const std::vector<std::string>& files);

  StateStore* store() const { return store_.get(); }
  bool resume() const { return resume_; }
  const Cursor& committed() const { return cursor_; }
  size_t rewritten_alerts() const { return rewritten_alerts_; }
  // The shards the committed windows were written by (1 when none say).
  uint32_t committed_shards() const { return committed_shards_; }
  // Called on the committer thread once commit `number` (Commit's) is on
  // disk and its alerts are written.
  void set_on_landed(std::function<void(uint64_t number)> f) { on_landed_ = std::move(f); }

  // Waits for the previous commit: its alerts are then confirmed written,
  // and the profiles it made clean may be evicted. Returns its failure.
  absl::Status WaitForCommitter();

  // One WriteBatch: `b` (the detector's changes) with the cut's positions,
  // `alerts` (taken) into the outbox and the confirmed ones out of it. Then
  // the new alerts go to the sink. The write runs on the committer thread;
  // call WaitForCommitter first. `shards`: who wrote the windows in `b`.
  void Commit(StateBatch* b, std::vector<std::string>* alerts, const Cut& cut, uint32_t shards,
              uint64_t number);

  // After the final commit: takes the alerts the sink has confirmed out of
  // the outbox, then closes the output.
  absl::Status Close(bool acknowledge);

  // The inputs no longer give the sequence the state was committed at.
  absl::Status Mismatch() const {
    return absl::FailedPreconditionError(absl::StrCat(
        "the inputs no longer give the event sequence the state in '", store_->dir(),
        "' was committed at (", cursor_.events, " events, ", cursor_.watermarks,
        " watermarks): a resumed replay must read the same inputs. Restore them, or move the "
        "state_dir away to start over"));
  }

 private:
  std::vector<InputCursor> InputPositions(const std::vector<replay::MergeInputPosition>& positions) const;
  void StartCommitter();
  void CommitLoop();
  void StopCommitter();

  std::unique_ptr<StateStore> store_;
  std::unique_ptr<AlertSink> sink_;
  const bool sync_;
  std::function<void(uint64_t)> on_landed_;

  // Identity of the run and of its inputs (in merge order).
  RunIdentity run_;
  bool run_recorded_ = false;
  bool shards_recorded_ = false;
  std::vector<FileIdentity> identities_;
  std::vector<InputCursor> written_inputs_;  // as the last commit wrote them

  bool resume_ = false;
  Cursor cursor_;  // the last commit's cut (the committed one until this run commits)
  uint32_t committed_shards_ = 1;
  size_t rewritten_alerts_ = 0;

  OutputState output_;
  uint64_t written_from_ = 0;  // outbox [from, to) written to the sink, not yet acknowledged
  uint64_t written_to_ = 0;

  // The committer thread and its one job (guarded by mu_; reap_ is the
  // caller's: a job was posted and its result not taken yet).
  bool reap_ = false;
  std::thread committer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool job_posted_ = false;  // a job waits for the committer
  bool inflight_ = false;    // posted and not finished
  bool stop_ = false;
  uint64_t job_number_ = 0;
  StateBatch job_batch_;
  std::string job_bytes_;
  absl::Status job_status_;
};

absl::Status DurableRun::Open(const replay::ReplayOptions& options, const std::vector<std::string>& files) {
  const std::string dir = store_->dir();
  run_ = IdentifyRun(options, files);
  identities_.reserve(files.size());
  for (const std::string& f : files) identities_.push_back(IdentifyFile(f));

  std::string value;
  auto got = store_->Get(Family::kMeta, kRunKey, &value);
  if (!got.ok()) return got.status();
  if (*got) {
    auto stored = DecodeRunIdentity(value);
    if (!stored.ok()) return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", stored.status().message()));
    if (stored->fingerprint != run_.fingerprint) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state_dir '", dir, "' holds the state of another replay (", stored->description,
          "); this one differs in its inputs, rules or config (", run_.description,
          "). Resume it with the same command, or give this replay another --state-dir"));
    }
    run_recorded_ = true;
  }
  got = store_->Get(Family::kMeta, kShardsKey, &value);
  if (!got.ok()) return got.status();
  if (*got && (!absl::SimpleAtoi(value, &committed_shards_) || committed_shards_ == 0)) {
    return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: bad shard count '", value, "'"));
  }

  got = store_->Get(Family::kPositions, kCursorKey, &value);
  if (!got.ok()) return got.status();
  resume_ = *got;
  if (resume_) {
    auto cursor = DecodeCursor(value);
    if (!cursor.ok()) return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", cursor.status().message()));
    cursor_ = std::move(*cursor);
    if (cursor_.inputs != identities_.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state_dir '", dir, "' was committed for ", cursor_.inputs, " inputs; this run has ",
          identities_.size(), ". Resume with the same inputs, or move the state_dir away to start over"));
    }
    absl::Status bad;
    absl::Status scanned = store_->Scan(Family::kPositions, kInputKeyPrefix, [&](std::string_view, std::string_view v) {
      auto ic = DecodeInputCursor(v);
      if (!ic.ok()) {
        bad = absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", ic.status().message()));
        return false;
      }
      written_inputs_.push_back(std::move(*ic));
      return true;
    });
    if (!scanned.ok()) return scanned;
    if (!bad.ok()) return bad;
    if (written_inputs_.size() != identities_.size()) {
      return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", written_inputs_.size(),
                                              " input records for ", identities_.size(), " inputs"));
    }
    for (size_t i = 0; i < identities_.size(); ++i) {
      std::string diff = written_inputs_[i].identity.Difference(identities_[i]);
      if (!diff.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "input '", identities_[i].path, "' changed since the state in '", dir,
            "' was committed (", diff, "): a resumed replay must read the same inputs. Restore "
            "it, or move the state_dir away to start over"));
      }
    }
  } else if (run_recorded_) {
    return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: it names a run but has no cursor"));
  }

  // The output: cut back to what the state confirms, then the outbox.
  const std::string out_path = OutputPath(options.output);
  got = store_->Get(Family::kPositions, kOutputKey, &value);
  if (!got.ok()) return got.status();
  if (*got) {
    auto out = DecodeOutputState(value);
    if (!out.ok()) return absl::DataLossError(absl::StrCat("state_dir '", dir, "' is corrupted: ", out.status().message()));
    output_ = *out;
    if (output_.path != out_path) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state_dir '", dir, "' belongs to a replay that writes its alerts to ",
          output_.path.empty() ? std::string("stdout") : absl::StrCat("'", output_.path, "'"),
          "; this one writes to ", out_path.empty() ? std::string("stdout") : absl::StrCat("'", out_path, "'"),
          ". Resume with the same --output, or give another --state-dir"));
    }
  }
  output_.path = out_path;
  auto sink = AlertSink::Open(out_path, output_.confirmed_bytes, resume_);
  if (!sink.ok()) return sink.status();
  sink_ = std::move(*sink);
  std::string outbox;
  StateBatch ack;
  absl::Status outbox_scanned = store_->Scan(Family::kOutbox, "", [&](std::string_view key, std::string_view line) {
    outbox.append(line);
    ack.Delete(Family::kOutbox, key);
    return true;
  });
  if (!outbox_scanned.ok()) return outbox_scanned;
  rewritten_alerts_ = ack.size();
  if (!outbox.empty()) {
    if (absl::Status s = sink_->Append(outbox, sync_); !s.ok()) return s;
    output_.confirmed_bytes += outbox.size();
  }
  if (!ack.empty()) {
    ack.Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
    if (absl::Status s = store_->Commit(ack); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<InputCursor> DurableRun::InputPositions(const std::vector<replay::MergeInputPosition>& positions) const {
  std::vector<InputCursor> out(identities_.size());
  for (size_t i = 0; i < identities_.size(); ++i) out[i].identity = identities_[i];
  // The merge lists the inputs that opened, in the same order.
  size_t i = 0;
  for (const auto& p : positions) {
    while (i < out.size() && out[i].identity.path != p.path) ++i;
    if (i == out.size()) break;
    out[i].next_offset = p.next_offset;
    out[i].events_read = p.events_read;
    out[i].done = p.done;
    ++i;
  }
  return out;
}

void DurableRun::Commit(StateBatch* b, std::vector<std::string>* alerts, const Cut& cut, uint32_t shards,
                        uint64_t number) {
  if (!run_recorded_) {
    b->Put(Family::kMeta, kRunKey, EncodeRunIdentity(run_));
    run_recorded_ = true;
  }
  if (!shards_recorded_) {
    b->Put(Family::kMeta, kShardsKey, std::to_string(shards));
    shards_recorded_ = true;
  }
  for (uint64_t seq = written_from_; seq < written_to_; ++seq) b->Delete(Family::kOutbox, SeqKey("", seq));
  const uint64_t first_new = output_.next_seq;
  std::string bytes;
  for (const std::string& line : *alerts) {
    b->Put(Family::kOutbox, SeqKey("", output_.next_seq++), line);
    bytes += line;
  }
  alerts->clear();
  b->Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
  cursor_.commits += 1;
  cursor_.events = cut.events;
  cursor_.watermarks = cut.watermarks;
  cursor_.watermark_ns = cut.watermark_ns;
  cursor_.detections = cut.detections;
  cursor_.finished = cut.final;
  cursor_.inputs = static_cast<uint32_t>(identities_.size());
  b->Put(Family::kPositions, kCursorKey, EncodeCursor(cursor_));
  // Only the inputs that moved: most are done long before the end.
  std::vector<InputCursor> inputs = InputPositions(cut.positions);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputCursor& now = inputs[i];
    const InputCursor* was = i < written_inputs_.size() ? &written_inputs_[i] : nullptr;
    if (was && was->next_offset == now.next_offset && was->events_read == now.events_read &&
        was->done == now.done) {
      continue;
    }
    b->Put(Family::kPositions, InputKey(static_cast<uint32_t>(i)), EncodeInputCursor(now));
  }
  // Once committed the alerts go out; they leave the outbox in the next
  // commit, which waits for this one.
  written_inputs_ = std::move(inputs);
  written_from_ = first_new;
  written_to_ = output_.next_seq;
  StartCommitter();
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_batch_ = std::move(*b);
    job_bytes_ = std::move(bytes);
    job_number_ = number;
    job_posted_ = true;
    inflight_ = true;
  }
  reap_ = true;
  b->Clear();
  cv_.notify_all();
}

void DurableRun::StartCommitter() {
  if (committer_.joinable()) return;
  committer_ = std::thread([this] { CommitLoop(); });
  runtime::NameThread(committer_, "cw-commit");
}

// The committer thread: store_->Commit, then the sink. Only it touches
// job_batch_ and job_bytes_ between a post and the end of that job.
void DurableRun::CommitLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return job_posted_ || stop_; });
    if (!job_posted_) return;  // stopping, nothing posted
    job_posted_ = false;
    lock.unlock();
    absl::Status s = store_->Commit(job_batch_);
    if (s.ok() && !job_bytes_.empty()) s = sink_->Append(job_bytes_, sync_);
    if (s.ok() && on_landed_) on_landed_(job_number_);
    lock.lock();
    job_status_ = std::move(s);
    inflight_ = false;
    cv_.notify_all();
  }
}

absl::Status DurableRun::WaitForCommitter() {
  if (!reap_) return absl::OkStatus();
  reap_ = false;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !inflight_; });
  absl::Status s = std::exchange(job_status_, absl::OkStatus());
  const size_t written = job_bytes_.size();
  job_bytes_.clear();
  job_batch_.Clear();
  lock.unlock();
  if (s.ok()) output_.confirmed_bytes += written;
  return s;
}

void DurableRun::StopCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

absl::Status DurableRun::Close(bool acknowledge) {
  absl::Status status = WaitForCommitter();
  if (status.ok() && acknowledge && written_from_ != written_to_) {
    StateBatch b;
    for (uint64_t seq = written_from_; seq < written_to_; ++seq) b.Delete(Family::kOutbox, SeqKey("", seq));
    b.Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
    status = store_->Commit(b);
    if (status.ok()) written_from_ = written_to_;
  }
  absl::Status closed = sink_->Close();
  return status.ok() ? closed : status;
}

// Writes the incident report of `folder` to `path` (none when empty).
absl::Status WriteReport(const std::string& path, const alert::AlertFolder& folder) {
  if (path.empty()) return absl::OkStatus();
  auto report = replay::OutputFile::Open(path);
  if (!report.ok()) return report.status();
  std::string text;
  alert::AppendIncidentReport(folder.Findings(), &text);
  (*report)->Write(text);
  return (*report)->Close();
}

// Where the merged sequence stands in this process, against the cut a
// resume starts from (an earlier run processed the first `events` events
// and `watermarks` watermarks). Both consumers count with it, check with it
// that a resumed run's inputs still give the committed sequence, and take
// their commits' cuts from it.
class SequencePosition {
 public:
  enum class Watermark { kNotTheCut, kTheCut, kMismatch };

  void ResumeFrom(const Cursor& cut) {
    skip_events_ = cut.events;
    skip_watermarks_ = cut.watermarks;
    resumed_finished_ = cut.finished;
  }
  // Nothing was processed before: the run is live from the start.
  bool AtStart() const { return skip_events_ == 0 && skip_watermarks_ == 0; }
  // Counts an event. False when it lies past the cut (other inputs).
  bool OnEvent() {
    ++events_;
    return events_ <= skip_events_;
  }
  // Counts a watermark. The cut of an unfinished run is at a watermark (a
  // finished run's is its end): whether this is it, with the events before
  // it matching.
  Watermark OnWatermark(int64_t time_ns) {
    ++watermarks_;
    watermark_ns_ = time_ns;
    if (watermarks_ != skip_watermarks_ || resumed_finished_) return Watermark::kNotTheCut;
    return events_ == skip_events_ ? Watermark::kTheCut : Watermark::kMismatch;
  }
  // At the end of a run that never went past the cut: whether the earlier
  // run had finished exactly here.
  bool EndsAtCut() const {
    return resumed_finished_ && events_ == skip_events_ && watermarks_ == skip_watermarks_;
  }
  DurableRun::Cut Cut(bool final) const {
    DurableRun::Cut cut;
    cut.events = events_;
    cut.watermarks = watermarks_;
    cut.watermark_ns = watermark_ns_;
    cut.final = final;
    return cut;
  }

 private:
  uint64_t skip_events_ = 0;
  uint64_t skip_watermarks_ = 0;
  bool resumed_finished_ = false;
  uint64_t events_ = 0;
  uint64_t watermarks_ = 0;
  int64_t watermark_ns_ = INT64_MIN;
};

// One line about a resume for the summary.
std::string ResumeNote(const DurableRun& run, bool fast, uint32_t shards) {
  const Cursor& c = run.committed();
  return absl::StrCat("state: resumed from commit ", c.commits, " in ", run.store()->dir(), " (", c.events,
                      " events already processed", c.finished ? ", the run had finished" : "",
                      run.rewritten_alerts() ? absl::StrCat(", ", run.rewritten_alerts(), " alerts rewritten from the outbox") : "",
                      "; ", fast ? "fast resume" : "rebuilding state from the log",
                      shards > 1 ? absl::StrCat(", ", shards, " shards") : "", ")");
}

// ---------------------------------------------------------------------------
// The detection and state side of a durable replay on one shard. It runs on
// its own thread (PipelinedDurableConsumer below); the merge thread hands it
// events, watermarks and commit points in order.
class DurableDetectionConsumer {
 public:
  DurableDetectionConsumer(const replay::ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
                           std::shared_ptr<const Site> site, std::unique_ptr<DurableRun> run, replay::DetectionTally* tally)
      : run_(std::move(run)),
        detector_(DetectorOptionsFromConfig(options.config, options.state.retention_ns), std::move(rules),
                  std::move(site), run_->store()),
        report_path_(options.report),
        tally_(tally) {}

  // Restores what the last commit holds. `note` as MakeDurableDetectionConsumer's.
  absl::Status Start(std::string* note);

  void OnEvent(Event& e) {
    if (!status_.ok()) return;
    if (!position_.OnEvent() && phase_ != Phase::kLive) return Fail(run_->Mismatch());
    if (phase_ == Phase::kSkip) {
      detector_.ObserveSkipped(e);
      return;
    }
    detector_.Process(e);
    TakeAlerts();
  }

  void OnWatermark(int64_t time_ns) {
    if (!status_.ok()) return;
    const SequencePosition::Watermark at = position_.OnWatermark(time_ns);
    if (phase_ != Phase::kSkip) {
      detector_.AdvanceWatermark(time_ns);
      TakeAlerts();
    } else {
      detector_.SkipWatermark(time_ns);
    }
    if (phase_ == Phase::kLive) return;
    if (at == SequencePosition::Watermark::kMismatch) return Fail(run_->Mismatch());
    if (at == SequencePosition::Watermark::kTheCut) EnterLive();
  }

  // A cut the merge thread chose (right after a watermark) and where the
  // inputs stood at it. Only a live run commits.
  void OnCommitPoint(const std::vector<replay::MergeInputPosition>& positions) {
    if (status_.ok() && phase_ == Phase::kLive) Commit(/*final=*/false, positions);
  }

  absl::Status Finish(const std::vector<replay::MergeInputPosition>& positions) {
    const bool live = phase_ == Phase::kLive;
    if (status_.ok()) {
      if (live) {
        detector_.Flush();
        TakeAlerts();
        Commit(/*final=*/true, positions);
      } else if (!position_.EndsAtCut()) {
        Fail(run_->Mismatch());
      }
    }
    absl::Status closed = run_->Close(/*acknowledge=*/status_.ok() && live);
    if (status_.ok()) status_ = closed;
    tally_->windows_dropped = detector_.windows_dropped();
    if (status_.ok()) status_ = WriteReport(report_path_, detector_.folder());
    return status_;
  }

  bool ok() const { return status_.ok(); }

 private:
  enum class Phase {
    kSkip,     // fast resume: events before the cut only feed the session table
    kRebuild,  // rebuild resume: processed again, nothing written
    kLive,
  };

  // The alerts of the last event or watermark: kept for the next commit.
  void TakeAlerts() {
    if (absl::Status s = detector_.status(); !s.ok()) return Fail(s);
    for (AlertLine& a : detector_.TakeAlerts()) {
      pending_alerts_.push_back(std::move(a.line));
      ++tally_->alerts;
    }
  }

  void EnterLive() {
    if (phase_ == Phase::kRebuild) detector_.ReattachProfiles();
    phase_ = Phase::kLive;
    detector_.set_live(true);
    pending_alerts_.clear();
  }

  // Waits for the previous commit (then evicts what it made clean), collects
  // the detector's changes and hands the commit to the committer thread.
  void Commit(bool final, const std::vector<replay::MergeInputPosition>& positions) {
    if (absl::Status s = run_->WaitForCommitter(); !s.ok()) return Fail(s);
    detector_.AfterCommit();
    if (absl::Status s = detector_.Collect(&batch_); !s.ok()) return Fail(s);
    DurableRun::Cut cut = position_.Cut(final);
    cut.detections = detector_.detection_seq();
    cut.positions = positions;
    run_->Commit(&batch_, &pending_alerts_, cut, /*shards=*/1, ++commits_);
  }

  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  std::unique_ptr<DurableRun> run_;
  DurableDetector detector_;
  std::string report_path_;
  replay::DetectionTally* tally_;

  Phase phase_ = Phase::kLive;
  SequencePosition position_;
  uint64_t commits_ = 0;

  StateBatch batch_;
  std::vector<std::string> pending_alerts_;  // produced since the last commit
  absl::Status status_;
};

absl::Status DurableDetectionConsumer::Start(std::string* note) {
  if (!run_->resume()) return absl::OkStatus();
  const Cursor& cut = run_->committed();
  position_.ResumeFrom(cut);
  detector_.set_detection_seq(cut.detections);
  bool fast = cut.finished;
  // Windows written by several shards are rebuilt here, on one.
  if (!fast && run_->committed_shards() == 1) {
    auto loaded = detector_.RestoreWindows();
    if (!loaded.ok()) return loaded.status();
    fast = *loaded;
  }
  if (fast) {
    // The alert folder from its journal, in the order it saw the detections.
    if (absl::Status s = detector_.RestoreFolder(); !s.ok()) return s;
    phase_ = Phase::kSkip;
  } else {
    phase_ = Phase::kRebuild;
    detector_.set_live(false);
    detector_.DetachProfiles();
  }
  if (position_.AtStart()) EnterLive();
  if (note) *note = ResumeNote(*run_, fast, 1);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The merge thread's side of a one-shard durable replay: it copies each
// event into a batch and hands full batches to the worker thread, which runs
// detection and the state commits (its committer thread writes them), so
// decoding and merging overlap with them. It also chooses the commit points
// (CommitSchedule): it records where the inputs stand (the merge cursor,
// which only this thread may read) and sends that cut in-band, so the worker
// commits exactly the events before it. Batches are reused through a second
// ring; a full ring blocks the merge (backpressure), nothing is dropped.
class PipelinedDurableConsumer : public replay::EventConsumer {
 public:
  PipelinedDurableConsumer(std::unique_ptr<DurableDetectionConsumer> worker, const StateOptions& state)
      : worker_(std::move(worker)), schedule_(state), work_(kBatches), free_(kBatches) {
    batches_.reserve(kBatches);
    for (size_t i = 0; i < kBatches; ++i) batches_.push_back(std::make_unique<WorkBatch>());
    for (size_t i = 1; i < kBatches; ++i) free_.Push(batches_[i].get());
    current_ = batches_[0].get();
    thread_ = std::thread([this] { Work(); });
    runtime::NameThread(thread_, "cw-state");
  }

  ~PipelinedDurableConsumer() override { Stop(); }

  void OnEvent(Event& e) override {
    current_->events.AddCopy(e);
    current_->ops.push_back(Op{Op::kEvent, static_cast<int64_t>(current_->events.size() - 1)});
    schedule_.OnEvent(e);
    if (current_->events.size() >= kBatchEvents) Send();
  }

  void OnWatermark(int64_t time_ns) override {
    current_->ops.push_back(Op{Op::kWatermark, time_ns});
    if (!schedule_.Due()) return;
    current_->cuts.emplace_back();
    if (cursor_) cursor_(&current_->cuts.back());
    current_->ops.push_back(Op{Op::kCommit, static_cast<int64_t>(current_->cuts.size() - 1)});
    Send();
  }
  absl::Status Finish() override {
    std::vector<replay::MergeInputPosition> positions;
    if (cursor_) cursor_(&positions);
    Stop();
    return worker_->Finish(positions);
  }

  void AttachCursor(replay::MergeCursorFn cursor) override { cursor_ = std::move(cursor); }
  bool WantsMore() const override { return !failed_.load(std::memory_order_acquire); }

 private:
  static constexpr size_t kBatches = 8;
  static constexpr size_t kBatchEvents = 1024;

  struct Op {
    enum Kind : uint8_t { kEvent, kWatermark, kCommit } kind;
    int64_t value;  // event index, watermark time or index into cuts
  };
  struct WorkBatch {
    EventBatch events;
    std::vector<Op> ops;
    std::vector<std::vector<replay::MergeInputPosition>> cuts;
    void Clear() {
      events.Clear();
      ops.clear();
      cuts.clear();
    }
  };

  void Send() {
    work_.Push(current_);
    current_ = nullptr;
    free_.Pop(&current_);
  }

  // Sends what is buffered and joins the worker. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    if (current_ != nullptr && !current_->ops.empty()) {
      work_.Push(current_);
      current_ = nullptr;
    }
    work_.Close();
    thread_.join();
  }

  // The worker thread: the only one that touches worker_ until Stop.
  void Work() {
    WorkBatch* b = nullptr;
    while (work_.Pop(&b)) {
      for (const Op& op : b->ops) {
        if (!worker_->ok()) break;
        switch (op.kind) {
          case Op::kEvent:
            worker_->OnEvent(b->events[static_cast<size_t>(op.value)]);
            break;
          case Op::kWatermark:
            worker_->OnWatermark(op.value);
            break;
          case Op::kCommit:
            worker_->OnCommitPoint(b->cuts[static_cast<size_t>(op.value)]);
            break;
        }
      }
      if (!worker_->ok()) failed_.store(true, std::memory_order_release);
      b->Clear();
      free_.Push(b);
    }
  }

  std::unique_ptr<DurableDetectionConsumer> worker_;
  CommitSchedule schedule_;
  replay::MergeCursorFn cursor_;

  std::vector<std::unique_ptr<WorkBatch>> batches_;
  runtime::SpscRing<WorkBatch*> work_;  // merge -> worker
  runtime::SpscRing<WorkBatch*> free_;  // worker -> merge, for reuse
  WorkBatch* current_ = nullptr;        // being filled by the merge thread
  std::thread thread_;
  std::atomic<bool> failed_{false};
};


// ---------------------------------------------------------------------------
// A durable replay on several shards: the runtime::ShardedDetector with a
// DurableShardState per shard. The merge thread is the detector's producer
// and picks the commit points (CommitSchedule); the detector's output thread
// journals the detections, writes the alert lines, and builds each commit
// from the shards' parts, the journal and the alerts, for the committer
// thread. Resume is fast resume only (a state whose windows this build
// cannot read is rebuilt on one shard, MakeDurableDetectionConsumer).
class ShardedDurableConsumer : public replay::EventConsumer {
 public:
  ShardedDurableConsumer(const replay::ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
                         std::shared_ptr<const Site> site, std::unique_ptr<DurableRun> run, uint32_t shards,
                         replay::DetectionTally* tally)
      : run_(std::move(run)),
        publisher_(std::move(rules)),
        schedule_(options.state),
        shards_(shards),
        report_path_(options.report),
        tally_(tally) {
    const DetectorOptions dopts = DetectorOptionsFromConfig(options.config, options.state.retention_ns);
    runtime::ShardedDetectorOptions o;
    o.shards = static_cast<int>(shards);
    o.profile = dopts.profile;
    o.site = std::move(site);
    o.rules = &publisher_;
    StateStore* store = run_->store();
    // The profiles' clock at the cut a resume starts from.
    const int64_t clock = run_->resume() ? run_->committed().watermark_ns : INT64_MIN;
    o.state.make_state = [dopts, store, clock](uint32_t k, uint32_t n) -> std::unique_ptr<runtime::ShardState> {
      return std::make_unique<DurableShardState>(dopts, store, k, n, clock);
    };
    o.state.on_detection = [this](const Detection& d, const alert::AlertFolder& folder) { Journal(d, folder); };
    o.state.on_commit = [this](uint64_t number, std::vector<StateBatch>& parts, const rules::WindowsDropped&) {
      Commit(number, parts);
    };
    detector_ = std::make_unique<runtime::ShardedDetector>(std::move(o),
                                                           [this](const alert::Finding& f) { Alert(f); });
    run_->set_on_landed([this](uint64_t number) { detector_->CommitLanded(number); });
  }

  ~ShardedDurableConsumer() override {
    // Joins the shard and output threads, then the committer (which tells
    // the detector what landed), before what they use goes away.
    detector_->Finish();
    (void)run_->WaitForCommitter();
  }

  // Restores what the last commit holds. `note` as MakeDurableDetectionConsumer's.
  absl::Status Start(std::string* note) {
    if (absl::Status s = detector_->RestoreState(); !s.ok()) return s;
    if (!run_->resume()) return absl::OkStatus();
    const Cursor& cut = run_->committed();
    position_.ResumeFrom(cut);
    detection_seq_ = cut.detections;
    alert::AlertFolder& folder = detector_->mutable_folder();
    if (absl::Status s = ScanJournal(run_->store(), [&](uint64_t, const Detection& d) { folder.Offer(d); });
        !s.ok()) {
      return s;
    }
    live_ = position_.AtStart();
    if (note) *note = ResumeNote(*run_, /*fast=*/true, shards_);
    return absl::OkStatus();
  }

  void OnEvent(Event& e) override {
    if (!status_.ok()) return;
    const bool before_cut = position_.OnEvent();
    if (live_) {
      schedule_.OnEvent(e);
      detector_->OnEvent(e);
      return;
    }
    if (!before_cut) return Fail(run_->Mismatch());
    detector_->ObserveSkipped(e);
  }

  void OnWatermark(int64_t time_ns) override {
    if (!status_.ok()) return;
    const SequencePosition::Watermark at = position_.OnWatermark(time_ns);
    if (!live_) {
      if (at == SequencePosition::Watermark::kMismatch) return Fail(run_->Mismatch());
      live_ = at == SequencePosition::Watermark::kTheCut;
      return;
    }
    detector_->OnWatermark(time_ns);
    if (!schedule_.Due()) return;
    PushCut(/*final=*/false);
    detector_->OnCommitPoint(++commits_);
  }

  absl::Status Finish() override {
    absl::Status status = status_;
    if (status.ok() && live_) {
      PushCut(/*final=*/true);
      detector_->Finish(++commits_);
    } else {
      detector_->Finish();  // nothing after the cut: no commit
      if (status.ok() && !position_.EndsAtCut()) status = run_->Mismatch();
    }
    // The output thread is joined: its fields are this thread's now.
    tally_->windows_dropped = detector_->stats().windows_dropped;
    if (status.ok()) status = detector_->status();
    if (status.ok()) status = commit_status_;
    absl::Status closed = run_->Close(/*acknowledge=*/status.ok() && live_);
    if (status.ok()) status = closed;
    if (status.ok()) status = WriteReport(report_path_, detector_->folder());
    return status;
  }

  void AttachCursor(replay::MergeCursorFn cursor) override { cursor_ = std::move(cursor); }
  bool WantsMore() const override {
    return status_.ok() && detector_->ok() && !commit_failed_.load(std::memory_order_acquire);
  }

 private:
  // Merge thread: where the inputs stand at a commit marker, for the output
  // thread's Commit.
  void PushCut(bool final) {
    DurableRun::Cut cut = position_.Cut(final);
    if (cursor_) cursor_(&cut.positions);
    std::lock_guard<std::mutex> lock(cuts_mu_);
    cuts_.push_back(std::move(cut));
  }

  // Output thread, in output order.
  // (Without the evidences of a repeat whose finding's are full, as
  // DurableDetector::Emit.)
  void Journal(const Detection& d, const alert::AlertFolder& folder) {
    journal_writer_.Put(detection_seq_++, d, folder.UsesEvidences(d), &journal_);
  }
  void Alert(const alert::Finding& f) {
    std::string& line = pending_alerts_.emplace_back();
    alert::AppendFindingJson(f, &line);
    line.push_back('\n');
    ++tally_->alerts;
  }
  void Commit(uint64_t number, std::vector<StateBatch>& parts) {
    DurableRun::Cut cut;
    {
      std::lock_guard<std::mutex> lock(cuts_mu_);
      cut = std::move(cuts_.front());
      cuts_.pop_front();
    }
    if (!commit_status_.ok()) return;
    if (absl::Status s = run_->WaitForCommitter(); !s.ok()) {
      commit_status_ = s;
      commit_failed_.store(true, std::memory_order_release);
      return;
    }
    for (StateBatch& p : parts) batch_.Append(std::move(p));
    journal_writer_.Flush(&journal_);
    batch_.Append(std::move(journal_));
    journal_.Clear();
    cut.detections = detection_seq_;
    run_->Commit(&batch_, &pending_alerts_, cut, shards_, number);
  }

  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  std::unique_ptr<DurableRun> run_;
  runtime::RuleSetPublisher publisher_;
  CommitSchedule schedule_;
  const uint32_t shards_;
  std::string report_path_;
  replay::DetectionTally* tally_;
  replay::MergeCursorFn cursor_;

  // Merge thread. (The output thread commits, so this thread keeps its own
  // copy of the resumed cut in position_.)
  bool live_ = true;
  SequencePosition position_;
  uint64_t commits_ = 0;
  absl::Status status_;

  std::mutex cuts_mu_;
  std::deque<DurableRun::Cut> cuts_;  // sent by the merge thread, not yet committed

  // Output thread (then, after Finish joined it, the merge thread).
  uint64_t detection_seq_ = 0;
  StateBatch journal_;                       // detections since the last commit
  JournalWriter journal_writer_{/*chunked=*/true};
  std::vector<std::string> pending_alerts_;  // alerts since the last commit
  StateBatch batch_;
  absl::Status commit_status_;
  std::atomic<bool> commit_failed_{false};

  // Last: destroyed (its threads joined) first.
  std::unique_ptr<runtime::ShardedDetector> detector_;
};

uint32_t DurableShards(int requested) {
  if (requested == 0) return 1;  // the reading thread: one shard
  if (requested > 0) return static_cast<uint32_t>(requested);
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

absl::StatusOr<std::unique_ptr<replay::EventConsumer>> MakeDurableDetectionConsumer(
    const replay::ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
    replay::DetectionTally* tally, std::string* note) {
  auto files = ExpandInputs(options.inputs.empty() ? std::vector<std::string>{"-"} : options.inputs);
  if (!files.ok()) return files.status();
  for (const std::string& f : *files) {
    if (f == "-") {
      return absl::InvalidArgumentError(
          "durable state (--state-dir) needs files as input: stdin cannot be read again to "
          "resume. Give files, or run without --state-dir");
    }
  }
  auto site = Site::Create(options.config.site);
  if (!site.ok()) return site.status();
  auto store = StateStore::Open(options.state);
  if (!store.ok()) return store.status();
  auto run = std::make_unique<DurableRun>(options, std::move(*store));
  if (absl::Status s = run->Open(options, *files); !s.ok()) return s;
  if (note) note->clear();

  // A resume runs on the shards its state was committed by (the windows are
  // split by shard); --shards applies to a fresh start. Windows the shards
  // cannot read (another format, or written by the one-shard detector of an
  // older build) go to the one-shard detector, which restores its own or
  // rebuilds them from the log, and continues on one shard.
  uint32_t shards = DurableShards(options.shards);
  bool sharded = true;
  if (run->resume()) {
    shards = run->committed_shards();
    auto readable = DurableShardState::CanRestore(run->store(), shards);
    if (!readable.ok()) return readable.status();
    if (!*readable) {
      sharded = run->committed().finished && shards > 1;
      if (!sharded) shards = 1;
    }
  }
  if (sharded) {
    auto consumer = std::make_unique<ShardedDurableConsumer>(options, std::move(rules), *site, std::move(run),
                                                             shards, tally);
    if (absl::Status s = consumer->Start(note); !s.ok()) return s;
    return std::unique_ptr<replay::EventConsumer>(std::move(consumer));
  }
  auto consumer = std::make_unique<DurableDetectionConsumer>(options, std::move(rules), *site, std::move(run), tally);
  if (absl::Status s = consumer->Start(note); !s.ok()) return s;
  return std::unique_ptr<replay::EventConsumer>(
      std::make_unique<PipelinedDurableConsumer>(std::move(consumer), options.state));
}

}  // namespace credwatch::state
