#include "state/durable_detector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "alert/finding.h"
#include "state/encoding.h"
#include "state/records.h"

namespace credwatch::state {
namespace {

constexpr std::string_view kEvaluatorKey = "evaluator/0";  // one shard

rules::EvaluatorOptions EvaluatorOptionsFor(const StateStore& store) {
  rules::EvaluatorOptions o;
  o.window_budget_bytes = static_cast<size_t>(store.window_budget_bytes());
  return o;
}

}  // namespace

DetectorOptions DetectorOptionsFromConfig(const Config& config, int64_t retention_ns) {
  DetectorOptions d;
  d.profile.learning_ns = config.profile.learning_period_ns;
  d.profile.multi_tenant_globs = config.site.tenants.multi_tenant_credentials;
  d.retention_ns = retention_ns;
  return d;
}

DurableDetector::DurableDetector(const DetectorOptions& options,
                                 std::shared_ptr<const rules::RuleSet> rules,
                                 std::shared_ptr<const Site> site, StateStore* store)
    : options_(options),
      evaluator_(std::make_unique<rules::Evaluator>(rules, EvaluatorOptionsFor(*store))),
      order_(std::make_unique<runtime::DetectionOrder>(*rules)),
      site_(std::move(site)),
      store_(store),
      profiles_(options.profile, store,
                ProfileCacheOptions{store->profile_budget_bytes(), options.retention_ns}),
      sessions_(options.profile.sessions),
      // A daemon forgets detections one by one: a record each.
      journal_writer_(/*chunked=*/options.forget_findings_after_ns == 0),
      expiry_(options) {}

absl::StatusOr<bool> DurableDetector::RestoreWindows() {
  std::string value;
  auto got = store_->Get(Family::kWindows, kEvaluatorKey, &value);
  if (!got.ok()) return got.status();
  if (!*got) return false;
  // Another format (an older build): the caller rebuilds the windows.
  if (!ReadableWindowsHeader(value)) return false;
  absl::Status scanned;
  absl::Status s = evaluator_->RestoreChanges(
      std::string_view(value).substr(2), [&](const rules::StateRecordVisitor& visit) {
        scanned = store_->Scan(Family::kWindows, kGroupKeyPrefix, [&](std::string_view key, std::string_view v) {
          return visit(key.substr(kGroupKeyPrefix.size()), v);
        });
      });
  if (!scanned.ok()) return scanned;
  if (absl::IsFailedPrecondition(s)) return false;  // other rules
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat("state_dir '", store_->dir(), "' is corrupted: ", s.message()));
  }
  rewrite_windows_ = false;
  return true;
}

absl::Status ScanJournal(StateStore* store, const std::function<void(uint64_t seq, const Detection&)>& fn) {
  auto corrupted = [&](const absl::Status& s) {
    return absl::DataLossError(absl::StrCat("state_dir '", store->dir(), "' is corrupted: ", s.message()));
  };
  absl::Status bad;
  JournalRules rules;
  absl::Status s = store->Scan(Family::kJournal, kJournalRuleKeyPrefix, [&](std::string_view key, std::string_view v) {
    bad = DecodeJournalRule(key, v, &rules);
    return bad.ok();
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return corrupted(bad);
  // Detections in seq order: records of their own (the daemon's, and a
  // replay's before format 4), then chunks (a replay's since), which
  // follow them.
  uint64_t next = 0;
  s = store->Scan(Family::kJournal, kDetectionKeyPrefix, [&](std::string_view key, std::string_view v) {
    auto d = DecodeDetection(v, rules);
    if (!d.ok()) {
      bad = corrupted(d.status());
      return false;
    }
    next = SeqFromKey(key, kDetectionKeyPrefix);
    fn(next++, *d);
    return true;
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  s = store->Scan(Family::kJournal, kJournalChunkKeyPrefix, [&](std::string_view key, std::string_view v) {
    uint64_t seq = SeqFromKey(key, kJournalChunkKeyPrefix);
    if (seq < next) {
      bad = corrupted(absl::DataLossError("journal chunk out of order"));
      return false;
    }
    bad = DecodeJournalChunk(v, rules, [&](const Detection& d) { fn(seq++, d); });
    if (!bad.ok()) {
      bad = corrupted(bad);
      return false;
    }
    next = seq;
    return true;
  });
  if (!s.ok()) return s;
  return bad;
}

void JournalWriter::Put(uint64_t seq, const Detection& d, bool evidences, StateBatch* b) {
  rule_.clear();
  EncodeJournalRule(d, &rule_);
  const uint64_t ref = JournalRuleRef(rule_);
  // In the same batch as the first detection that names it, so a commit
  // never holds a detection without its rule.
  if (rules_written_.insert(ref).second) b->Put(Family::kJournal, SeqKey(kJournalRuleKeyPrefix, ref), rule_);
  value_.clear();
  EncodeDetection(d, evidences, ref, &value_);
  if (!chunked_) {
    b->Put(Family::kJournal, SeqKey(kDetectionKeyPrefix, seq), value_);
    return;
  }
  if (chunk_count_++ == 0) chunk_first_ = seq;
  PutVarString(&chunk_, value_);
}

void JournalWriter::Flush(StateBatch* b) {
  if (chunk_count_ == 0) return;
  value_.clear();
  EncodeJournalChunk(chunk_count_, chunk_, &value_);
  b->Put(Family::kJournal, SeqKey(kJournalChunkKeyPrefix, chunk_first_), value_);
  chunk_count_ = 0;
  chunk_.clear();
  // A large chunk's buffers are not kept for the next.
  if (chunk_.capacity() > (size_t{1} << 20)) {
    chunk_ = std::string();
    value_ = std::string();
  }
}

absl::Status CollectWindows(StateStore* store, rules::Evaluator& evaluator, bool rewrite,
                            std::string_view group_prefix, std::string_view header_key, StateBatch* b) {
  if (rewrite) {
    // The records on disk may not match the groups in memory (a fresh
    // evaluator, a reload, a rebuilt resume): drop them all, write them all.
    absl::Status s = store->Scan(Family::kWindows, group_prefix, [&](std::string_view key, std::string_view) {
      b->Delete(Family::kWindows, key);
      return true;
    });
    if (!s.ok()) return s;
  }
  std::string header, key;
  auto group_key = [&](std::string_view k) -> const std::string& {
    return key.assign(group_prefix.data(), group_prefix.size()).append(k.data(), k.size());
  };
  evaluator.SerializeChanges(
      rewrite, &header, [&](std::string_view k, std::string_view v) { b->Put(Family::kWindows, group_key(k), v); },
      [&](std::string_view k) { b->Delete(Family::kWindows, group_key(k)); });
  header.insert(0, std::string{kWindowsTag, kWindowsVersion});
  b->Put(Family::kWindows, header_key, header);
  return absl::OkStatus();
}

absl::Status DurableDetector::RestoreFolder() {
  return ScanJournal(store_, [this](uint64_t seq, const Detection& d) {
    folder_.Offer(d);
    expiry_.Add(seq, d.time_ns);
  });
}

void DurableDetector::ReplaceRules(std::shared_ptr<const rules::RuleSet> rules, bool* kept_windows) {
  replaced_dropped_.Add(evaluator_->stats());
  evaluator_ = rules::Evaluator::Succeeding(*evaluator_, rules, EvaluatorOptionsFor(*store_), kept_windows);
  rewrite_windows_ = true;  // new record keys: the next commit writes them all
  order_ = std::make_unique<runtime::DetectionOrder>(*rules);
}

rules::WindowsDropped DurableDetector::windows_dropped() const {
  rules::WindowsDropped dropped = replaced_dropped_;
  dropped.Add(evaluator_->stats());
  return dropped;
}

void DurableDetector::Process(Event& e) {
  if (runtime::IsHostFlow(e)) {
    // A host-level flow: attribute it to the credentials with a live session
    // on that host, and judge it once for each.
    owners_.clear();
    sessions_.LiveCredentialsOnHost(e, &owners_);
    for (std::string_view owner : owners_) {
      Event copy = e;
      copy.credential = owner;
      copy.tenant = site_->CredentialTenant(owner, &tenant_scratch_);
      Observe(copy);
      Evaluate(copy);
    }
    if (!owners_.empty()) return;
  } else {
    Observe(e);
    sessions_.Observe(e);
  }
  Evaluate(e);
}

void DurableDetector::ObserveSkipped(const Event& e) {
  // The live-session table depends on event fields alone (never on profiles).
  if (!runtime::IsHostFlow(e)) sessions_.Observe(e);
}

void DurableDetector::AdvanceWatermark(int64_t watermark_ns) {
  watermark_ns_ = watermark_ns;
  profiles_.SetWatermark(watermark_ns);
  detections_.clear();
  evaluator_->AdvanceWatermark(watermark_ns, &detections_);
  Emit();
}

void DurableDetector::SkipWatermark(int64_t watermark_ns) {
  watermark_ns_ = watermark_ns;
  profiles_.SetWatermark(watermark_ns);
}

void DurableDetector::Flush() {
  detections_.clear();
  evaluator_->AdvanceWatermark(INT64_MAX, &detections_);
  Emit();
}

void DurableDetector::Observe(Event& e) {
  if (absl::Status s = profiles_.Observe(e); !s.ok()) Fail(s);
}

void DurableDetector::Evaluate(const Event& e) {
  detections_.clear();
  evaluator_->Process(e, &detections_);
  Emit();
}

// The detections of one event (or watermark), in the order every shard
// count agrees on (as replay/detect_consumer.cc).
void DurableDetector::Emit() {
  if (detections_.empty()) return;
  order_->Sort(&detections_);
  for (const Detection& d : detections_) {
    ++detections_total_;
    if (live_) {
      // A repeat whose finding's evidences are full is journaled without
      // its own (most of its bytes). Not in the daemon: it forgets findings
      // and their journal separately, so a kept repeat may open a finding
      // again at a restore.
      const bool evidences = expiry_.enabled() || folder_.UsesEvidences(d);
      journal_writer_.Put(detection_seq_, d, evidences, &journal_);
      expiry_.Add(detection_seq_, d.time_ns);
      ++detection_seq_;
    }
    const alert::Finding* f = folder_.Offer(d);
    if (f == nullptr || !live_) continue;
    AlertLine& a = alerts_.emplace_back();
    alert::AppendFindingJson(*f, &a.line);
    a.line.push_back('\n');
    a.rule_id = f->detection.rule_id;
    a.severity = f->detection.severity;
  }
}

absl::Status DurableDetector::Collect(StateBatch* b) {
  if (!status_.ok()) return status_;
  profiles_.CollectDirty(b);
  int64_t since_sweep = 0;
  if (watermark_ns_ != INT64_MIN &&
      (last_sweep_ns_ == INT64_MIN || __builtin_sub_overflow(watermark_ns_, last_sweep_ns_, &since_sweep) ||
       since_sweep >= kNsPerDay)) {
    if (absl::Status s = profiles_.Sweep(b); !s.ok()) {
      Fail(s);
      return s;
    }
    last_sweep_ns_ = watermark_ns_;
  }
  // (The group prefix covers the records of a sharded run too: a rebuilt
  // resume of one drops them.)
  if (absl::Status s = CollectWindows(store_, *evaluator_, rewrite_windows_, kGroupKeyPrefix, kEvaluatorKey, b);
      !s.ok()) {
    Fail(s);
    return s;
  }
  rewrite_windows_ = false;
  journal_writer_.Flush(&journal_);
  b->Append(std::move(journal_));
  journal_.Clear();
  expiry_.Expire(watermark_ns_, &folder_, b);
  return absl::OkStatus();
}

void JournalExpiry::Expire(int64_t watermark_ns, alert::AlertFolder* folder, StateBatch* b) {
  if (!enabled() || watermark_ns == INT64_MIN) return;
  int64_t before = 0;
  if (__builtin_sub_overflow(watermark_ns, options_.forget_findings_after_ns + options_.lateness_ns, &before)) {
    return;  // a watermark near the start of time: nothing to forget
  }
  folder->Expire(before);
  while (!journaled_.empty() && journaled_.front().second < before) {
    b->Delete(Family::kJournal, SeqKey(kDetectionKeyPrefix, journaled_.front().first));
    journaled_.pop_front();
  }
}

}  // namespace credwatch::state
