// Evaluator: candidate lookup, stateless matching and the hand-off to the
// correlation engine. Also the RuleSet accessors.
#include <array>

#include "re2/re2.h"
#include "rules/compiled.h"
#include "rules/correlation_engine.h"

namespace credwatch::rules {
namespace internal {

class EvaluatorState {
 public:
  EvaluatorState(const RuleSetData& data, EvaluatorOptions options)
      : data_(data), options_(options), corr_(data, options_, &stats_) {
    // Each evaluator owns its RE2 objects: RE2 guards its lazily built DFA
    // with a mutex, and a per-thread copy keeps that lock uncontended.
    regexes_.reserve(data.regexes.size());
    for (const RegexSpec& spec : data.regexes) {
      RE2::Options o;
      o.set_log_errors(false);
      regexes_.push_back(std::make_unique<RE2>(spec.pattern, o));
    }
    extra_slot_.assign(data.extra_paths.size(), kNoSlot);
  }

  void Process(const Event& e, const ShardScope& scope, std::vector<Detection>* out) {
    ++stats_.events;
    const uint8_t mask = NamespaceMaskForFormat(e.format);
    // Index the event's extras by id (first occurrence wins, as Event::Extra).
    for (int i = e.num_extras - 1; i >= 0; --i) {
      const size_t slot = static_cast<size_t>(e.extras[i].id) - kFirstExtraId;
      if (e.extras[i].id >= kFirstExtraId && slot < extra_slot_.size())
        extra_slot_[slot] = static_cast<uint8_t>(i);
    }
    const MatchContext ctx{e, regexes_.data(), extra_slot_.data(), extra_slot_.size()};
    // Candidate lists, each sorted by rule index; merged below so rules run
    // in load order whatever list they come from.
    constexpr int kMaxLists = 16;
    std::array<const std::vector<uint32_t>*, kMaxLists> lists;
    std::array<size_t, kMaxLists> pos;  // set as lists are added
    int n = 0;
    auto add = [&](const std::vector<uint32_t>* list) {
      pos[n] = 0;
      lists[n++] = list;
    };
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      if ((mask & (1u << ns)) && !data_.index.always[ns].empty()) add(&data_.index.always[ns]);
    }
    for (const auto& fi : data_.index.fields) {
      if (n == kMaxLists) break;
      if (!(mask & (1u << static_cast<int>(fi.ns)))) continue;
      if (!fi.by_enum.empty()) {
        size_t value = 0;
        switch (static_cast<FieldId>(fi.field.id)) {
          case FieldId::kKind:
            value = static_cast<size_t>(e.kind);
            break;
          case FieldId::kAction:
            value = static_cast<size_t>(e.action);
            break;
          default:
            value = static_cast<size_t>(e.outcome);
            break;
        }
        if (value < fi.by_enum.size() && !fi.by_enum[value].empty()) add(&fi.by_enum[value]);
        continue;
      }
      std::string_view value;
      if (fi.field.extra()) {
        const std::string_view* s = ExtraValue(ctx, fi.field);
        if (s == nullptr) continue;
        value = *s;
      } else {
        const FieldValue v = GetField(e, static_cast<FieldId>(fi.field.id));
        if (v.type != FieldValue::Type::kString) continue;
        value = v.str;
      }
      auto it = fi.by_value.find(value);
      if (it != fi.by_value.end()) add(&it->second);
    }
    while (true) {
      int pick = -1;
      uint32_t best = UINT32_MAX;
      for (int i = 0; i < n; ++i) {
        if (pos[i] < lists[i]->size() && (*lists[i])[pos[i]] < best) {
          best = (*lists[i])[pos[i]];
          pick = i;
        }
      }
      if (pick < 0) break;
      ++pos[pick];
      ++stats_.candidates;
      const DetectionRule& rule = data_.detections[best];
      if (!EvalRule(rule, ctx)) continue;
      ++stats_.matches;
      if (scope.stateless && (options_.emit_all || data_.detection_emit[best])) {
        out->push_back(MakeDetection(rule, e));
        ++stats_.detections;
      }
      if (!data_.detection_consumers[best].empty())
        corr_.OnMatch(static_cast<int>(best), e, scope, out);
    }
    for (int i = 0; i < e.num_extras; ++i) {
      const size_t slot = static_cast<size_t>(e.extras[i].id) - kFirstExtraId;
      if (e.extras[i].id >= kFirstExtraId && slot < extra_slot_.size()) extra_slot_[slot] = kNoSlot;
    }
  }

  void AdvanceWatermark(int64_t t_ns, std::vector<Detection>* out) {
    corr_.AdvanceWatermark(t_ns, out);
  }

  void SerializeState(std::string* out) const { corr_.SerializeState(out); }
  absl::Status RestoreState(std::string_view bytes) { return corr_.RestoreState(bytes); }
  void SerializeChanges(bool all, std::string* header, const StateRecordFn& put,
                        const StateKeyFn& del) {
    corr_.SerializeChanges(all, header, put, del);
  }
  absl::Status RestoreChanges(std::string_view header, const StateRecordSource& records) {
    return corr_.RestoreChanges(header, records);
  }

  EvaluatorStats stats() const {
    EvaluatorStats s = stats_;
    s.groups = corr_.num_groups();
    s.group_bytes = corr_.bytes();
    return s;
  }

 private:
  Detection MakeDetection(const DetectionRule& rule, const Event& e) const {
    Detection d;
    d.rule_id = rule.meta.id;
    d.title = rule.meta.title;
    d.severity = rule.meta.severity;
    d.attacks = rule.meta.attacks;
    d.group_key.assign(e.credential.data(), e.credential.size());
    d.credential = d.group_key;
    d.tenant.assign(e.tenant.data(), e.tenant.size());
    if (!e.src_ip_text.empty()) {
      d.src_ip.assign(e.src_ip_text.data(), e.src_ip_text.size());
    } else if (e.src_ip.is_valid()) {
      d.src_ip = e.src_ip.ToString();
    }
    d.time_ns = e.time_ns;
    d.first_seen_ns = e.time_ns;
    d.last_seen_ns = e.time_ns;
    d.evidences.emplace_back();
    AppendEvidenceJson(data_, e, &d.evidences.back());
    d.blast.Add(e);
    return d;
  }

  const RuleSetData& data_;
  EvaluatorOptions options_;
  EvaluatorStats stats_;
  std::vector<std::unique_ptr<RE2>> regexes_;
  std::vector<uint8_t> extra_slot_;
  CorrelationEngine corr_;
};

}  // namespace internal

RuleSet::RuleSet(std::unique_ptr<internal::RuleSetData> data) : data_(std::move(data)) {}
RuleSet::~RuleSet() = default;

const std::vector<RuleInfo>& RuleSet::rules() const { return data_->infos; }
size_t RuleSet::num_detection_rules() const { return data_->detections.size(); }
size_t RuleSet::num_correlation_rules() const { return data_->correlations.size(); }

const Projection& RuleSet::projection(Format format) const {
  const auto i = static_cast<size_t>(format);
  static const Projection kEmpty;
  return i < data_->projections.size() ? data_->projections[i] : kEmpty;
}

std::optional<uint16_t> RuleSet::FieldIdFor(Namespace ns, std::string_view path) const {
  const auto& ids = data_->extra_ids[static_cast<int>(ns)];
  auto it = ids.find(path);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

int RuleSet::RoutingHashes(const Event& e, uint64_t* hashes, int max) const {
  const uint8_t mask = internal::NamespaceMaskForFormat(e.format);
  int n = 0;
  for (const auto& spec : data_->routing) {
    if (!(mask & (1u << static_cast<int>(spec.ns)))) continue;
    uint64_t h;
    if (!internal::RoutingHash(e, spec.fields, &h)) continue;
    bool seen = false;
    for (int i = 0; i < n; ++i) seen = seen || hashes[i] == h;
    if (seen) continue;
    if (n == max) break;
    hashes[n++] = h;
  }
  return n;
}

Evaluator::Evaluator(std::shared_ptr<const RuleSet> rules, EvaluatorOptions options)
    : rules_(std::move(rules)),
      state_(std::make_unique<internal::EvaluatorState>(rules_->data(), options)) {}
Evaluator::~Evaluator() = default;

void Evaluator::Process(const Event& e, std::vector<Detection>* out) {
  state_->Process(e, ShardScope{}, out);
}
void Evaluator::Process(const Event& e, const ShardScope& scope, std::vector<Detection>* out) {
  state_->Process(e, scope, out);
}
void Evaluator::AdvanceWatermark(int64_t t_ns, std::vector<Detection>* out) {
  state_->AdvanceWatermark(t_ns, out);
}
EvaluatorStats Evaluator::stats() const { return state_->stats(); }
void Evaluator::SerializeState(std::string* out) const { state_->SerializeState(out); }
absl::Status Evaluator::RestoreState(std::string_view bytes) { return state_->RestoreState(bytes); }
std::unique_ptr<Evaluator> Evaluator::Succeeding(const Evaluator& old, std::shared_ptr<const RuleSet> rules,
                                                 EvaluatorOptions options, bool* kept) {
  auto next = std::make_unique<Evaluator>(rules, options);
  std::string windows;
  old.SerializeState(&windows);
  const bool restored = next->RestoreState(windows).ok();
  if (!restored) next = std::make_unique<Evaluator>(std::move(rules), options);
  if (kept) *kept = restored;
  return next;
}

bool Evaluator::WindowsCarryOver(std::shared_ptr<const RuleSet> from, std::shared_ptr<const RuleSet> to) {
  // The header decides: an empty state carries it.
  bool kept = false;
  Succeeding(Evaluator(std::move(from)), std::move(to), {}, &kept);
  return kept;
}

void Evaluator::SerializeChanges(bool all, std::string* header, const StateRecordFn& put,
                                 const StateKeyFn& del) {
  state_->SerializeChanges(all, header, put, del);
}
absl::Status Evaluator::RestoreChanges(std::string_view header, const StateRecordSource& records) {
  return state_->RestoreChanges(header, records);
}

}  // namespace credwatch::rules
