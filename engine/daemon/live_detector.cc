#include "daemon/live_detector.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "alert/finding.h"
#include "runtime/rule_publisher.h"
#include "runtime/sharded_detector.h"
#include "state/durable_shard_state.h"

namespace credwatch::daemon {
namespace {

using state::AlertLine;
using state::StateBatch;

// 0 shards: the one-thread detector, on the caller's thread.
class OneThreadDetector final : public LiveDetector {
 public:
  OneThreadDetector(const state::DetectorOptions& options, std::shared_ptr<const rules::RuleSet> rules,
                    std::shared_ptr<const Site> site, state::StateStore* store)
      : detector_(options, std::move(rules), std::move(site), store) {}

  absl::Status Restore(uint64_t detection_seq) override {
    detector_.set_detection_seq(detection_seq);
    // Windows of another format or other rules: they start empty.
    if (auto windows = detector_.RestoreWindows(); !windows.ok()) return windows.status();
    return detector_.RestoreFolder();
  }
  void Process(Event& e) override { detector_.Process(e); }
  void AdvanceWatermark(int64_t watermark_ns) override { detector_.AdvanceWatermark(watermark_ns); }
  bool ReplaceRules(std::shared_ptr<const rules::RuleSet> rules) override {
    bool kept = false;
    detector_.ReplaceRules(std::move(rules), &kept);
    return kept;
  }
  absl::Status Collect(StateBatch* b, std::vector<AlertLine>* alerts) override {
    if (absl::Status s = detector_.Collect(b); !s.ok()) return s;
    for (AlertLine& a : detector_.TakeAlerts()) alerts->push_back(std::move(a));
    return absl::OkStatus();
  }
  void AfterCommit() override { detector_.AfterCommit(); }
  uint64_t detection_seq() const override { return detector_.detection_seq(); }
  rules::WindowsDropped windows_dropped() const override { return detector_.windows_dropped(); }
  absl::Status status() override { return detector_.status(); }
  uint32_t shards() const override { return 0; }

 private:
  state::DurableDetector detector_;
};

// N shards: the pipeline thread is the ShardedDetector's producer; its
// output thread journals the detections, collects the alerts and, at each
// commit marker, hands the shards' parts with them to Collect.
class ShardedLiveDetector final : public LiveDetector {
 public:
  ShardedLiveDetector(const state::DetectorOptions& options, std::shared_ptr<const rules::RuleSet> rules,
                      std::shared_ptr<const Site> site, state::StateStore* store, uint32_t shards)
      : store_(store),
        publisher_(std::move(rules)),
        shards_(shards),
        // Findings are forgotten one by one (expiry_): a record each.
        journal_writer_(/*chunked=*/options.forget_findings_after_ns == 0),
        expiry_(options) {
    runtime::ShardedDetectorOptions o;
    o.shards = static_cast<int>(shards);
    o.profile = options.profile;
    o.site = std::move(site);
    o.rules = &publisher_;
    o.state.make_state = [options, store](uint32_t k, uint32_t n) -> std::unique_ptr<runtime::ShardState> {
      return std::make_unique<state::DurableShardState>(options, store, k, n, INT64_MIN);
    };
    o.state.on_detection = [this](const Detection& d, const alert::AlertFolder& folder) {
      // As DurableDetector::Emit: with findings forgotten, every detection
      // keeps its evidences.
      journal_writer_.Put(detection_seq_, d, expiry_.enabled() || folder.UsesEvidences(d), &journal_);
      expiry_.Add(detection_seq_, d.time_ns);
      ++detection_seq_;
    };
    o.state.on_commit = [this](uint64_t number, std::vector<StateBatch>& parts, const rules::WindowsDropped& dropped) {
      OnCommit(number, parts, dropped);
    };
    detector_ = std::make_unique<runtime::ShardedDetector>(std::move(o), [this](const alert::Finding& f) {
      AlertLine& a = alerts_.emplace_back();
      alert::AppendFindingJson(f, &a.line);
      a.line.push_back('\n');
      a.rule_id = f.detection.rule_id;
      a.severity = f.detection.severity;
    });
  }

  // The shard and output threads are joined (the ShardedDetector, declared
  // last, goes first) before the fields their hooks use.
  ~ShardedLiveDetector() override = default;

  absl::Status Restore(uint64_t detection_seq) override {
    // Before the first event: the first round's ring publishes these to the
    // shard and output threads.
    detection_seq_ = detection_seq;
    {
      std::lock_guard<std::mutex> lock(mu_);
      landed_seq_ = detection_seq;
    }
    if (absl::Status s = detector_->RestoreState(); !s.ok()) return s;
    alert::AlertFolder& folder = detector_->mutable_folder();
    return state::ScanJournal(store_, [&](uint64_t seq, const Detection& d) {
      folder.Offer(d);
      expiry_.Add(seq, d.time_ns);
    });
  }

  void Process(Event& e) override {
    if (!stopped_) detector_->OnEvent(e);
  }
  void AdvanceWatermark(int64_t watermark_ns) override {
    if (stopped_) return;
    watermark_ns_ = watermark_ns;
    detector_->OnWatermark(watermark_ns);
  }
  bool ReplaceRules(std::shared_ptr<const rules::RuleSet> rules) override {
    // Every shard switches at the same point of the event sequence; its
    // windows carry over as on DurableDetector (the same test).
    const bool kept = rules::Evaluator::WindowsCarryOver(publisher_.Current(), rules);
    publisher_.Publish(std::move(rules));
    return kept;
  }

  absl::Status Collect(StateBatch* b, std::vector<AlertLine>* alerts) override {
    if (absl::Status s = status(); !s.ok()) return s;
    const uint64_t number = ++commits_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      expire_watermark_ns_ = watermark_ns_;
    }
    detector_->OnCommitPoint(number);
    std::unique_lock<std::mutex> lock(mu_);
    while (landed_number_ != number) {
      // A shard whose state failed sends no more commits.
      if (!detector_->ok()) {
        lock.unlock();
        return status();
      }
      landed_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    b->Append(std::move(landed_batch_));
    landed_batch_.Clear();
    for (AlertLine& a : landed_alerts_) alerts->push_back(std::move(a));
    landed_alerts_.clear();
    return absl::OkStatus();
  }
  void AfterCommit() override { detector_->CommitLanded(commits_); }

  uint64_t detection_seq() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return landed_seq_;
  }
  rules::WindowsDropped windows_dropped() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return landed_dropped_;
  }
  absl::Status status() override {
    if (detector_->ok()) return absl::OkStatus();
    // A shard failed: the threads are stopped, then its status is read.
    if (!stopped_) {
      stopped_ = true;
      detector_->Finish();
    }
    return detector_->status();
  }
  uint32_t shards() const override { return shards_; }

 private:
  // Output thread: every detection before commit marker `number` has been
  // journaled and every alert it made collected.
  void OnCommit(uint64_t number, std::vector<StateBatch>& parts, const rules::WindowsDropped& dropped) {
    StateBatch batch;
    for (StateBatch& p : parts) batch.Append(std::move(p));
    journal_writer_.Flush(&journal_);
    batch.Append(std::move(journal_));
    journal_.Clear();
    int64_t watermark_ns = INT64_MIN;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watermark_ns = expire_watermark_ns_;
    }
    // The folder is the output thread's own.
    expiry_.Expire(watermark_ns, &detector_->mutable_folder(), &batch);
    std::lock_guard<std::mutex> lock(mu_);
    landed_batch_ = std::move(batch);
    landed_alerts_ = std::exchange(alerts_, {});
    landed_seq_ = detection_seq_;
    landed_dropped_ = dropped;
    landed_number_ = number;
    landed_cv_.notify_all();
  }

  state::StateStore* store_;
  runtime::RuleSetPublisher publisher_;
  const uint32_t shards_;

  // Pipeline thread.
  uint64_t commits_ = 0;
  int64_t watermark_ns_ = INT64_MIN;
  bool stopped_ = false;

  // Output thread.
  uint64_t detection_seq_ = 0;
  StateBatch journal_;
  state::JournalWriter journal_writer_;
  state::JournalExpiry expiry_;
  std::vector<AlertLine> alerts_;

  // From the output thread to Collect.
  mutable std::mutex mu_;
  std::condition_variable landed_cv_;
  int64_t expire_watermark_ns_ = INT64_MIN;  // the watermark at the marker being collected
  uint64_t landed_number_ = 0;
  StateBatch landed_batch_;
  std::vector<AlertLine> landed_alerts_;
  uint64_t landed_seq_ = 0;
  rules::WindowsDropped landed_dropped_;

  // Last: destroyed (its threads joined) first.
  std::unique_ptr<runtime::ShardedDetector> detector_;
};

}  // namespace

std::unique_ptr<LiveDetector> LiveDetector::Make(const state::DetectorOptions& options,
                                                 std::shared_ptr<const rules::RuleSet> rules,
                                                 std::shared_ptr<const Site> site, state::StateStore* store,
                                                 uint32_t shards) {
  if (shards == 0) return std::make_unique<OneThreadDetector>(options, std::move(rules), std::move(site), store);
  return std::make_unique<ShardedLiveDetector>(options, std::move(rules), std::move(site), store, shards);
}

}  // namespace credwatch::daemon
