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
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

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
#include "runtime/spsc_ring.h"
#include "runtime/thread_name.h"
#include "state/encoding.h"
#include "state/durable_detector.h"
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
// The detection and state side of a durable replay. It runs on its own
// thread (PipelinedDurableConsumer below); the merge thread hands it events,
// watermarks and commit points in order.
class DurableDetectionConsumer {
 public:
  DurableDetectionConsumer(const replay::ReplayOptions& options,
                           std::shared_ptr<const rules::RuleSet> rules,
                           std::shared_ptr<const Site> site, std::unique_ptr<StateStore> store,
                           int64_t* alerts)
      : store_(std::move(store)),
        detector_(DetectorOptionsFromConfig(options.config, options.state.retention_ns), std::move(rules), std::move(site), store_.get()),
        report_path_(options.report),
        alerts_(alerts),
        sync_(options.state.sync == SyncPolicy::kCommit),
        commit_events_(std::max<int64_t>(options.state.commit_events, 1)),
        commit_interval_(std::chrono::nanoseconds(std::max<int64_t>(options.state.commit_interval_ns, 0))) {}

  ~DurableDetectionConsumer() { StopCommitter(); }
  DurableDetectionConsumer(const DurableDetectionConsumer&) = delete;
  DurableDetectionConsumer& operator=(const DurableDetectionConsumer&) = delete;

  absl::Status Start(const replay::ReplayOptions& options, const std::vector<std::string>& files,
                     std::string* note);

  void OnEvent(Event& e) {
    if (!status_.ok()) return;
    ++events_;
    if (phase_ != Phase::kLive && events_ > skip_events_) {
      Fail(Mismatch());
      return;
    }
    if (phase_ == Phase::kSkip) {
      detector_.ObserveSkipped(e);
      return;
    }
    detector_.Process(e);
    TakeAlerts();
  }

  void OnWatermark(int64_t time_ns) {
    if (!status_.ok()) return;
    ++watermarks_;
    watermark_ns_ = time_ns;
    if (phase_ != Phase::kSkip) {
      detector_.AdvanceWatermark(time_ns);
      TakeAlerts();
    } else {
      detector_.SkipWatermark(time_ns);
    }
    if (phase_ != Phase::kLive) {
      // The cut of an unfinished run is at a watermark; a finished run's
      // is its end (Finish).
      if (watermarks_ == skip_watermarks_ && !cursor_.finished) {
        if (events_ != skip_events_) {
          Fail(Mismatch());
          return;
        }
        EnterLive();
      }
      return;
    }
  }

  // A cut the merge thread chose (right after a watermark) and where the
  // inputs stood at it. Only a live run commits.
  void OnCommitPoint(const std::vector<replay::MergeInputPosition>& positions) {
    if (status_.ok() && phase_ == Phase::kLive) Commit(/*final=*/false, positions);
  }

  absl::Status Finish(const std::vector<replay::MergeInputPosition>& positions) {
    WaitForCommitter();
    if (status_.ok()) {
      if (phase_ == Phase::kLive) {
        detector_.Flush();
        TakeAlerts();
        Commit(/*final=*/true, positions);
        if (status_.ok()) Acknowledge();
      } else if (!cursor_.finished || events_ != skip_events_ || watermarks_ != skip_watermarks_) {
        Fail(Mismatch());
      }
    }
    absl::Status closed = sink_->Close();
    if (status_.ok() && !closed.ok()) status_ = closed;
    if (status_.ok() && !report_path_.empty()) {
      auto report = replay::OutputFile::Open(report_path_);
      if (!report.ok()) return report.status();
      std::string text;
      alert::AppendIncidentReport(detector_.folder().Findings(), &text);
      (*report)->Write(text);
      status_ = (*report)->Close();
    }
    return status_;
  }

  bool ok() const { return status_.ok(); }
  int64_t commit_events() const { return commit_events_; }
  Clock::duration commit_interval() const { return commit_interval_; }

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
      ++*alerts_;
    }
  }

  void EnterLive() {
    if (phase_ == Phase::kRebuild) detector_.ReattachProfiles();
    phase_ = Phase::kLive;
    detector_.set_live(true);
    pending_alerts_.clear();
  }

  std::vector<InputCursor> InputPositions(const std::vector<replay::MergeInputPosition>& positions) const {
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

  // One WriteBatch: state changes, positions, new alerts into the outbox and
  // the confirmed ones out of it. Then the new alerts go to the sink. The
  // write (RocksDB, then the sink) runs on the committer thread while
  // detection goes on; the next commit (and the end) waits for it first.
  void Commit(bool final, const std::vector<replay::MergeInputPosition>& positions) {
    WaitForCommitter();
    if (!status_.ok()) return;
    StateBatch& b = batch_;
    if (!run_recorded_) {
      b.Put(Family::kMeta, kRunKey, EncodeRunIdentity(run_));
      run_recorded_ = true;
    }
    if (absl::Status s = detector_.Collect(&b); !s.ok()) return Fail(s);
    for (uint64_t seq = written_from_; seq < written_to_; ++seq) b.Delete(Family::kOutbox, SeqKey("", seq));
    const uint64_t first_new = output_.next_seq;
    std::string bytes;
    for (const std::string& line : pending_alerts_) {
      b.Put(Family::kOutbox, SeqKey("", output_.next_seq++), line);
      bytes += line;
    }
    b.Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
    cursor_.commits += 1;
    cursor_.events = events_;
    cursor_.watermarks = watermarks_;
    cursor_.watermark_ns = watermark_ns_;
    cursor_.detections = detector_.detection_seq();
    cursor_.finished = final;
    cursor_.inputs = static_cast<uint32_t>(identities_.size());
    b.Put(Family::kPositions, kCursorKey, EncodeCursor(cursor_));
    // Only the inputs that moved: most are done long before the end.
    std::vector<InputCursor> inputs = InputPositions(positions);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const InputCursor& now = inputs[i];
      const InputCursor* was = i < written_inputs_.size() ? &written_inputs_[i] : nullptr;
      if (was && was->next_offset == now.next_offset && was->events_read == now.events_read &&
          was->done == now.done) {
        continue;
      }
      b.Put(Family::kPositions, InputKey(static_cast<uint32_t>(i)), EncodeInputCursor(now));
    }
    // Once committed the alerts go out; they leave the outbox in the next
    // commit, which waits for this one.
    written_inputs_ = std::move(inputs);
    pending_alerts_.clear();
    written_from_ = first_new;
    written_to_ = output_.next_seq;
    StartCommitter();
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_batch_ = std::move(b);
      job_bytes_ = std::move(bytes);
      job_posted_ = true;
      inflight_ = true;
    }
    reap_ = true;
    b.Clear();
    cv_.notify_all();
    if (final) WaitForCommitter();
  }

  void StartCommitter() {
    if (committer_.joinable()) return;
    committer_ = std::thread([this] { CommitLoop(); });
    runtime::NameThread(committer_, "cw-commit");
  }

  // The committer thread: store_->Commit, then the sink. Only it touches
  // job_batch_ and job_bytes_ between a post and the end of that job.
  void CommitLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return job_posted_ || stop_; });
      if (!job_posted_) return;  // stopping, nothing posted
      job_posted_ = false;
      lock.unlock();
      absl::Status s = store_->Commit(job_batch_);
      if (s.ok() && !job_bytes_.empty()) s = sink_->Append(job_bytes_, sync_);
      lock.lock();
      job_status_ = std::move(s);
      inflight_ = false;
      cv_.notify_all();
    }
  }

  // After the previous commit: its alerts are confirmed written, and the
  // profiles it made clean may be evicted.
  void WaitForCommitter() {
    if (!reap_) return;
    reap_ = false;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !inflight_; });
    absl::Status s = std::exchange(job_status_, absl::OkStatus());
    const size_t written = job_bytes_.size();
    job_bytes_.clear();
    job_batch_.Clear();
    lock.unlock();
    if (!s.ok()) return Fail(s);
    output_.confirmed_bytes += written;
    detector_.AfterCommit();
  }

  void StopCommitter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (committer_.joinable()) committer_.join();
  }

  // Takes the alerts the sink has confirmed out of the outbox.
  void Acknowledge() {
    if (written_from_ == written_to_) return;
    StateBatch b;
    for (uint64_t seq = written_from_; seq < written_to_; ++seq) b.Delete(Family::kOutbox, SeqKey("", seq));
    b.Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
    if (absl::Status s = store_->Commit(b); !s.ok()) return Fail(s);
    written_from_ = written_to_;
  }

  absl::Status Mismatch() const {
    return absl::FailedPreconditionError(absl::StrCat(
        "the inputs no longer give the event sequence the state in '", store_->dir(),
        "' was committed at (", skip_events_, " events, ", skip_watermarks_,
        " watermarks): a resumed replay must read the same inputs. Restore them, or move the "
        "state_dir away to start over"));
  }

  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  std::unique_ptr<StateStore> store_;
  DurableDetector detector_;
  std::unique_ptr<AlertSink> sink_;
  std::string report_path_;
  int64_t* alerts_;
  const bool sync_;
  const int64_t commit_events_;
  const Clock::duration commit_interval_;

  // Identity of the run and of its inputs (in merge order).
  RunIdentity run_;
  bool run_recorded_ = false;
  std::vector<FileIdentity> identities_;
  std::vector<InputCursor> written_inputs_;  // as the last commit wrote them

  // Position. The cut of the last commit, and where this process stands.
  Phase phase_ = Phase::kLive;
  Cursor cursor_;
  uint64_t skip_events_ = 0;
  uint64_t skip_watermarks_ = 0;
  uint64_t events_ = 0;
  uint64_t watermarks_ = 0;
  int64_t watermark_ns_ = INT64_MIN;

  // Write-behind.
  StateBatch batch_;
  std::vector<std::string> pending_alerts_;  // produced since the last commit
  OutputState output_;
  uint64_t written_from_ = 0;  // outbox [from, to) written to the sink, not yet acknowledged
  uint64_t written_to_ = 0;
  absl::Status status_;

  // The committer thread and its one job (guarded by mu_; reap_ is this
  // thread's: a job was posted and its result not taken yet).
  bool reap_ = false;
  std::thread committer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool job_posted_ = false;  // a job waits for the committer
  bool inflight_ = false;    // posted and not finished
  bool stop_ = false;
  StateBatch job_batch_;
  std::string job_bytes_;
  absl::Status job_status_;
};

absl::Status DurableDetectionConsumer::Start(const replay::ReplayOptions& options,
                                             const std::vector<std::string>& files,
                                             std::string* note) {
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

  got = store_->Get(Family::kPositions, kCursorKey, &value);
  if (!got.ok()) return got.status();
  const bool resume = *got;
  if (resume) {
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
  auto sink = AlertSink::Open(out_path, output_.confirmed_bytes, resume);
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
  const size_t unconfirmed = ack.size();
  if (!outbox.empty()) {
    if (absl::Status s = sink_->Append(outbox, sync_); !s.ok()) return s;
    output_.confirmed_bytes += outbox.size();
  }
  if (!ack.empty()) {
    ack.Put(Family::kPositions, kOutputKey, EncodeOutputState(output_));
    if (absl::Status s = store_->Commit(ack); !s.ok()) return s;
  }

  if (!resume) return absl::OkStatus();
  skip_events_ = cursor_.events;
  skip_watermarks_ = cursor_.watermarks;
  detector_.set_detection_seq(cursor_.detections);
  bool fast = cursor_.finished;
  if (!fast) {
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
  if (skip_events_ == 0 && skip_watermarks_ == 0) EnterLive();
  if (note) {
    *note = absl::StrCat("state: resumed from commit ", cursor_.commits, " in ", dir, " (",
                         cursor_.events, " events already processed",
                         cursor_.finished ? ", the run had finished" : "",
                         unconfirmed ? absl::StrCat(", ", unconfirmed, " alerts rewritten from the outbox") : "",
                         "; ", fast ? "fast resume" : "rebuilding state from the log",
                         ")");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The merge thread's side of a durable replay: it copies each event into a
// batch and hands full batches to the worker thread, which runs detection
// and the state commits (its committer thread writes them), so decoding and
// merging overlap with them. It also chooses the commit points: after
// a watermark, once commit_events events or commit_interval have passed, it
// records where the inputs stand (the merge cursor, which only this thread
// may read) and sends that cut in-band, so the worker commits exactly the
// events before it. Batches are reused through a second ring; a full ring
// blocks the merge (backpressure), nothing is dropped.
class PipelinedDurableConsumer : public replay::EventConsumer {
 public:
  explicit PipelinedDurableConsumer(std::unique_ptr<DurableDetectionConsumer> worker)
      : worker_(std::move(worker)),
        commit_events_(worker_->commit_events()),
        commit_interval_(worker_->commit_interval()),
        work_(kBatches),
        free_(kBatches) {
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
    ++events_since_commit_;
    if (current_->events.size() >= kBatchEvents) Send();
  }

  void OnWatermark(int64_t time_ns) override {
    current_->ops.push_back(Op{Op::kWatermark, time_ns});
    const Clock::time_point now = Clock::now();
    if (events_since_commit_ < commit_events_ && now - last_commit_ < commit_interval_) return;
    current_->cuts.emplace_back();
    if (cursor_) cursor_(&current_->cuts.back());
    current_->ops.push_back(Op{Op::kCommit, static_cast<int64_t>(current_->cuts.size() - 1)});
    events_since_commit_ = 0;
    last_commit_ = now;
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
  const int64_t commit_events_;
  const Clock::duration commit_interval_;
  replay::MergeCursorFn cursor_;

  std::vector<std::unique_ptr<WorkBatch>> batches_;
  runtime::SpscRing<WorkBatch*> work_;  // merge -> worker
  runtime::SpscRing<WorkBatch*> free_;  // worker -> merge, for reuse
  WorkBatch* current_ = nullptr;        // being filled by the merge thread
  std::thread thread_;
  std::atomic<bool> failed_{false};

  int64_t events_since_commit_ = 0;
  Clock::time_point last_commit_ = Clock::now();
};

}  // namespace

absl::StatusOr<std::unique_ptr<replay::EventConsumer>> MakeDurableDetectionConsumer(
    const replay::ReplayOptions& options, std::shared_ptr<const rules::RuleSet> rules,
    int64_t* alerts, std::string* note) {
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
  auto consumer = std::make_unique<DurableDetectionConsumer>(options, std::move(rules), *site,
                                                             std::move(*store), alerts);
  if (note) note->clear();
  if (absl::Status s = consumer->Start(options, *files, note); !s.ok()) return s;
  return std::unique_ptr<replay::EventConsumer>(
      std::make_unique<PipelinedDurableConsumer>(std::move(consumer)));
}

}  // namespace credwatch::state
