#include "rules/correlation_engine.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "common/json_writer.h"

namespace credwatch::rules::internal {

void AppendEvidenceJson(const RuleSetData& data, const Event& e, std::string* out) {
  const size_t start = out->size();
  AppendEventJson(e, out);
  if (e.num_extras == 0 || out->size() == start || out->back() != '}') return;
  out->pop_back();
  out->append(",\"fields\":{");
  for (int i = 0; i < e.num_extras; ++i) {
    const size_t index = static_cast<size_t>(e.extras[i].id) - kFirstExtraId;
    if (e.extras[i].id < kFirstExtraId || index >= data.extra_paths.size()) continue;
    if (out->back() != '{') out->push_back(',');
    AppendJsonString(data.extra_paths[index], out);
    out->push_back(':');
    AppendJsonString(e.extras[i].value, out);
  }
  out->append("}}");
}

// One group of one correlation instance.
struct CorrelationEngine::GroupState {
  uint64_t generation = 0;
  std::string key;
  // Change tracking for incremental durable state (TrackChanges): changed
  // since the last SerializeChanges, and written by one. What changed in
  // the lists that are stored as records of their own (SerializeChanges):
  // the values inserted into the blast radius lists and the evidence slots
  // written (bit i: head[i]; bit kHeadEvidences + s: tail slot s).
  bool dirty = false;
  bool persisted = false;
  // Memory accounting (CorrelationEngine::bytes()): what Footprint gave
  // when last counted, and the text bytes of the blast radius lists and of
  // the distinct values, kept as they change.
  size_t accounted = 0;
  std::array<size_t, 3> blast_text{};
  size_t distinct_text = 0;
  BlastRadius::Inserted blast_added;
  uint8_t evidences_written = 0;
  std::vector<std::string> values;
  int64_t first_seen = INT64_MAX;
  int64_t last_seen = INT64_MIN;
  int64_t max_time = INT64_MIN;
  int64_t window_start = 0;
  int64_t deadline = 0;

  BlastRadius blast;
  std::vector<std::string> head;  // first evidences
  std::vector<std::string> tail;  // ring of the latest
  size_t tail_next = 0;
  std::string credential;
  std::string tenant;
  std::string src_ip;

  // Sliding event_count / value_sum: (time, weight) sorted by time.
  std::vector<std::pair<int64_t, double>> points;
  double sum = 0;
  // Complete-window event_count / value_sum.
  double total = 0;
  // value_count: value -> latest time.
  absl::flat_hash_map<std::string, int64_t> distinct;
  // temporal: latest time per ref.
  std::vector<int64_t> last_by_ref;
  // temporal_ordered: per step, (start, time) of the chain that reached it
  // with the latest start.
  std::vector<std::pair<int64_t, int64_t>> chain;

  std::string* NextEvidenceSlot() {
    if (head.size() < kHeadEvidences) {
      evidences_written |= static_cast<uint8_t>(1u << head.size());
      return &head.emplace_back();
    }
    if (tail.size() < kTailEvidences) {
      evidences_written |= static_cast<uint8_t>(1u << (kHeadEvidences + tail.size()));
      tail_next = (tail.size() + 1) % kTailEvidences;
      return &tail.emplace_back();
    }
    evidences_written |= static_cast<uint8_t>(1u << (kHeadEvidences + tail_next));
    std::string* slot = &tail[tail_next];
    tail_next = (tail_next + 1) % kTailEvidences;
    slot->clear();
    return slot;
  }

  void AppendEvidences(std::vector<std::string>* out) const {
    for (const auto& h : head) out->push_back(h);
    if (tail.size() < kTailEvidences) {
      for (const auto& t : tail) out->push_back(t);
      return;
    }
    for (size_t i = 0; i < kTailEvidences; ++i)
      out->push_back(tail[(tail_next + i) % kTailEvidences]);
  }
};

namespace {

// Bytes a group holds, estimated from sizes only (not capacities), so the
// same content counts the same after a restore: the budget then drops the
// same windows in a resumed run as in a clean one.
constexpr size_t kStringBytes = sizeof(std::string);
size_t TextBytes(const std::vector<std::string>& v) {
  size_t n = v.size() * kStringBytes;
  for (const auto& s : v) n += s.size();
  return n;
}

}  // namespace

size_t CorrelationEngine::Footprint(const GroupState& g) {
  // The group, its map slot and its heap entry (each with the key).
  constexpr size_t kFixed = sizeof(GroupState) + sizeof(HeapEntry) + 64;
  const BlastRadius& b = g.blast;
  return kFixed + 2 * g.key.size() + TextBytes(g.values) + TextBytes(g.head) + TextBytes(g.tail) +
         (b.tenants.size() + b.objects.size() + b.destinations.size()) * kStringBytes +
         g.blast_text[0] + g.blast_text[1] + g.blast_text[2] +
         g.points.size() * sizeof(g.points[0]) +
         g.distinct.size() * (kStringBytes + 2 * sizeof(int64_t)) + g.distinct_text +
         g.last_by_ref.size() * sizeof(int64_t) + g.chain.size() * sizeof(g.chain[0]) +
         g.credential.size() + g.tenant.size() + g.src_ip.size();
}

void CorrelationEngine::CountBlast(GroupState& g, const std::array<size_t, 3>& sizes_before) {
  const std::vector<std::string>* lists[] = {&g.blast.tenants, &g.blast.objects, &g.blast.destinations};
  for (size_t l = 0; l < 3; ++l) {
    if (lists[l]->size() == sizes_before[l]) continue;  // nothing inserted (lists only grow)
    size_t n = 0;
    for (const auto& v : *lists[l]) n += v.size();
    g.blast_text[l] = n;
  }
}

void CorrelationEngine::AccountAll() {
  bytes_ = 0;
  for (NodeState& ns : nodes_) {
    for (auto& [key, g] : ns.groups) {
      CountBlast(*g, {SIZE_MAX, SIZE_MAX, SIZE_MAX});
      g->distinct_text = 0;
      for (const auto& [value, t] : g->distinct) g->distinct_text += value.size();
      g->accounted = 0;
      Account(*g);
    }
  }
}

void CorrelationEngine::Account(GroupState& g) {
  const size_t now = Footprint(g);
  bytes_ = bytes_ - g.accounted + now;
  g.accounted = now;
}

// What a correlation hands to the correlation that references it.
struct CorrelationEngine::Fired {
  Detection detection;
  std::vector<std::string> values;  // its group-by values
};

struct CorrelationEngine::Input {
  int64_t time = 0;
  const Event* event = nullptr;  // from a detection rule
  const Fired* fired = nullptr;  // from a correlation
  const std::vector<std::string>* values = nullptr;
  const std::string* text = nullptr;  // value_count
  double number = 0;                  // value_sum
};

namespace {

void JoinKey(const std::vector<std::string>& values, std::string* key) {
  key->clear();
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) key->push_back('\x1f');
    key->append(values[i]);
  }
}

}  // namespace

CorrelationEngine::CorrelationEngine(const RuleSetData& data, const EvaluatorOptions& options,
                                     EvaluatorStats* stats)
    : data_(data), options_(options), stats_(stats), nodes_(data.nodes.size()) {}

CorrelationEngine::~CorrelationEngine() = default;

uint64_t CorrelationEngine::num_groups() const {
  uint64_t n = 0;
  for (const auto& ns : nodes_) n += ns.groups.size();
  return n;
}

void CorrelationEngine::OnMatch(int detection, const Event& e, const ShardScope& scope,
                                std::vector<Detection>* out) {
  for (const BaseConsumer& bc : data_.detection_consumers[detection]) {
    if (scope.num_shards > 1) {
      uint64_t h;
      if (!RoutingHash(e, data_.routing[bc.routing].fields, &h)) {
        ++stats_->skipped_no_group;
        continue;
      }
      if (h % scope.num_shards != scope.shard) continue;
    }
    const CorrelationRule& rule = data_.correlations[data_.nodes[bc.node].rule];
    const auto& sources = rule.group_sources[bc.ref];
    values_.resize(sources.size());
    bool ok = true;
    for (size_t g = 0; g < sources.size() && ok; ++g) {
      ok = FieldText(ReadField(e, sources[g].field), &values_[g]);
    }
    if (!ok) {
      ++stats_->skipped_no_group;
      continue;
    }
    Input in;
    in.time = e.time_ns;
    in.event = &e;
    in.values = &values_;
    if (rule.type == CorrelationType::kValueCount) {
      if (!FieldText(ReadField(e, rule.value_sources[bc.ref].field), &value_text_)) continue;
      in.text = &value_text_;
    } else if (rule.type == CorrelationType::kValueSum) {
      if (!NumberOf(ReadField(e, rule.value_sources[bc.ref].field), &in.number)) continue;
    }
    Feed(bc.node, bc.ref, in, out);
  }
  if (options_.window_budget_bytes > 0 && bytes_ > options_.window_budget_bytes) EnforceBudget();
}

void CorrelationEngine::EnforceBudget() {
  while (bytes_ > options_.window_budget_bytes) {
    int64_t deadline;
    const int best = EndsFirst(&deadline);
    if (best < 0) return;
    EvictOne(best);
    ++stats_->groups_over_budget;
  }
}

int CorrelationEngine::EndsFirst(int64_t* deadline) {
  // On a tie the inner (later) instance first, so its output reaches its
  // parent.
  int best = -1;
  *deadline = INT64_MAX;
  for (int n = static_cast<int>(nodes_.size()) - 1; n >= 0; --n) {
    const int64_t d = CleanTop(n);
    if (d < *deadline) {
      *deadline = d;
      best = n;
    }
  }
  return best;
}

void CorrelationEngine::Feed(int node, int ref, const Input& in, std::vector<Detection>* out) {
  const CorrNode& cn = data_.nodes[node];
  const CorrelationRule& rule = data_.correlations[cn.rule];
  NodeState& ns = nodes_[node];
  std::string key;
  JoinKey(*in.values, &key);
  auto it = ns.groups.find(key);
  if (it != ns.groups.end() && rule.anchored &&
      in.time > it->second->window_start + rule.timespan_ns) {
    // The group's window is complete: judge it, then start a new one.
    Close(node, it->second.get(), out);
    it = ns.groups.find(key);
  }
  bool created = false;
  if (it == ns.groups.end()) {
    // A later step of an ordered chain cannot start one: opening a window
    // for it would only hold memory (every successful login of every
    // credential, for brute force then success).
    if (rule.type == CorrelationType::kTemporalOrdered && ref > 0) return;
    if (ns.groups.size() >= data_.limits.max_groups_per_rule) {
      EvictOne(node);
      ++stats_->groups_evicted;
    }
    auto g = std::make_unique<GroupState>();
    g->generation = ++generation_;
    g->key = key;
    g->values = *in.values;
    g->window_start = in.time;
    if (rule.type == CorrelationType::kTemporal) g->last_by_ref.assign(rule.refs.size(), INT64_MIN);
    if (rule.type == CorrelationType::kTemporalOrdered) {
      g->chain.assign(rule.refs.size(), {INT64_MIN, INT64_MIN});
    }
    it = ns.groups.emplace(key, std::move(g)).first;
    created = true;
  }
  GroupState& g = *it->second;

  // What the group has seen.
  if (in.event) {
    const Event& e = *in.event;
    g.first_seen = std::min(g.first_seen, e.time_ns);
    g.last_seen = std::max(g.last_seen, e.time_ns);
    const std::array<size_t, 3> before = {g.blast.tenants.size(), g.blast.objects.size(),
                                          g.blast.destinations.size()};
    g.blast.Add(e, track_changes_ ? &g.blast_added : nullptr);
    CountBlast(g, before);
    AppendEvidenceJson(data_, e, g.NextEvidenceSlot());
    if (!e.credential.empty()) g.credential.assign(e.credential.data(), e.credential.size());
    if (!e.tenant.empty()) g.tenant.assign(e.tenant.data(), e.tenant.size());
    if (!e.src_ip_text.empty()) g.src_ip.assign(e.src_ip_text.data(), e.src_ip_text.size());
  } else {
    const Detection& d = in.fired->detection;
    g.first_seen = std::min(g.first_seen, d.first_seen_ns);
    g.last_seen = std::max(g.last_seen, d.last_seen_ns);
    const std::array<size_t, 3> before = {g.blast.tenants.size(), g.blast.objects.size(),
                                          g.blast.destinations.size()};
    g.blast.Merge(d.blast, track_changes_ ? &g.blast_added : nullptr);
    CountBlast(g, before);
    for (const auto& ev : d.evidences) *g.NextEvidenceSlot() = ev;
    if (!d.credential.empty()) g.credential = d.credential;
    if (!d.tenant.empty()) g.tenant = d.tenant;
    if (!d.src_ip.empty()) g.src_ip = d.src_ip;
  }
  g.max_time = std::max(g.max_time, in.time);
  const int64_t span = rule.timespan_ns;
  const int64_t window_floor = g.max_time == INT64_MIN ? INT64_MIN : g.max_time - span;

  bool fire = false;
  switch (rule.type) {
    case CorrelationType::kEventCount:
    case CorrelationType::kValueSum: {
      const double w = rule.type == CorrelationType::kEventCount ? 1.0 : in.number;
      if (rule.anchored) {
        g.total += w;
        break;
      }
      auto pos = std::upper_bound(
          g.points.begin(), g.points.end(), in.time,
          [](int64_t t, const std::pair<int64_t, double>& p) { return t < p.first; });
      g.points.insert(pos, {in.time, w});
      g.sum += w;
      // Drop what fell out of the window.
      size_t drop = 0;
      while (drop < g.points.size() && g.points[drop].first < window_floor)
        g.sum -= g.points[drop++].second;
      g.points.erase(g.points.begin(), g.points.begin() + static_cast<long>(drop));
      // Over the cap: merge the two closest points into the later one.
      if (g.points.size() > data_.limits.max_points_per_group && g.points.size() >= 2) {
        size_t best = 0;
        int64_t best_gap = INT64_MAX;
        for (size_t i = 0; i + 1 < g.points.size(); ++i) {
          const int64_t gap = g.points[i + 1].first - g.points[i].first;
          if (gap < best_gap) {
            best_gap = gap;
            best = i;
          }
        }
        g.points[best + 1].second += g.points[best].second;
        g.points.erase(g.points.begin() + static_cast<long>(best));
      }
      fire = rule.condition.Holds(g.sum);
      break;
    }
    case CorrelationType::kValueCount: {
      auto [vit, inserted] = g.distinct.try_emplace(*in.text, in.time);
      if (inserted) g.distinct_text += vit->first.size();
      if (!inserted) vit->second = std::max(vit->second, in.time);
      if (!rule.anchored) {
        for (auto d = g.distinct.begin(); d != g.distinct.end();) {
          if (d->second < window_floor) {
            g.distinct_text -= d->first.size();
            g.distinct.erase(d++);
          } else {
            ++d;
          }
        }
      }
      if (g.distinct.size() > rule.distinct_cap) {
        // Forget the value seen longest ago (ties: smallest value).
        auto oldest = g.distinct.begin();
        for (auto d = g.distinct.begin(); d != g.distinct.end(); ++d) {
          if (d->second < oldest->second ||
              (d->second == oldest->second && d->first < oldest->first))
            oldest = d;
        }
        g.distinct_text -= oldest->first.size();
        g.distinct.erase(oldest);
      }
      if (!rule.anchored) fire = rule.condition.Holds(static_cast<double>(g.distinct.size()));
      break;
    }
    case CorrelationType::kTemporal: {
      g.last_by_ref[ref] = std::max(g.last_by_ref[ref], in.time);
      if (rule.anchored) break;
      int seen = 0;
      for (int64_t t : g.last_by_ref) {
        if (t != INT64_MIN && t >= window_floor) ++seen;
      }
      fire = rule.condition.Holds(seen);
      break;
    }
    case CorrelationType::kTemporalOrdered: {
      auto& chain = g.chain;
      const auto invalid = std::pair<int64_t, int64_t>{INT64_MIN, INT64_MIN};
      for (auto& step : chain) {
        if (step.first != INT64_MIN && step.first < window_floor) step = invalid;
      }
      if (ref == 0) {
        if (chain[0].first == INT64_MIN || in.time > chain[0].first) chain[0] = {in.time, in.time};
      } else {
        const auto prev = chain[ref - 1];
        if (prev.first != INT64_MIN && prev.second <= in.time && in.time - prev.first <= span) {
          if (chain[ref].first == INT64_MIN || prev.first > chain[ref].first)
            chain[ref] = {prev.first, in.time};
        }
      }
      fire = chain.back().first != INT64_MIN;
      break;
    }
  }
  g.deadline = rule.anchored ? g.window_start + span : g.max_time + span;
  if (created) ns.heap.push(HeapEntry{g.deadline, g.key, g.generation});
  Account(g);
  MarkChanged(node, &g);
  if (fire) Fire(node, &g, in.time, out);
}

void CorrelationEngine::Close(int node, GroupState* g, std::vector<Detection>* out) {
  const CorrelationRule& rule = data_.correlations[data_.nodes[node].rule];
  double value = 0;
  switch (rule.type) {
    case CorrelationType::kEventCount:
    case CorrelationType::kValueSum:
      value = g->total;
      break;
    case CorrelationType::kValueCount:
      value = static_cast<double>(g->distinct.size());
      break;
    case CorrelationType::kTemporal:
      for (int64_t t : g->last_by_ref) value += t != INT64_MIN ? 1 : 0;
      break;
    case CorrelationType::kTemporalOrdered:
      break;
  }
  if (rule.condition.Holds(value)) {
    Fire(node, g, g->last_seen, out);
  } else {
    Erase(node, g);
  }
}

void CorrelationEngine::Erase(int node, GroupState* g) { Take(node, g); }

std::unique_ptr<CorrelationEngine::GroupState> CorrelationEngine::Take(int node, GroupState* g) {
  if (track_changes_ && g->persisted) {
    ForEachRecordKey(static_cast<size_t>(node), *g, [&](std::string&& key, std::string_view) {
      deleted_[node].push_back(std::move(key));
    });
  }
  bytes_ -= g->accounted;
  auto it = nodes_[node].groups.find(g->key);
  std::unique_ptr<GroupState> owned = std::move(it->second);
  nodes_[node].groups.erase(it);
  return owned;
}

void CorrelationEngine::MarkChanged(int node, GroupState* g) {
  if (!track_changes_ || g->dirty) return;
  g->dirty = true;
  changed_[node].push_back(g->key);
}

void CorrelationEngine::Fire(int node, GroupState* g, int64_t time, std::vector<Detection>* out) {
  const CorrNode& cn = data_.nodes[node];
  const CorrelationRule& rule = data_.correlations[cn.rule];
  Fired f;
  Detection& d = f.detection;
  d.rule_id = rule.meta.id;
  d.title = rule.meta.title;
  d.severity = rule.meta.severity;
  d.attacks = rule.meta.attacks;
  for (size_t i = 0; i < g->values.size(); ++i) {
    if (i) d.group_key.push_back('|');
    d.group_key += g->values[i];
  }
  d.credential = g->credential;
  d.tenant = g->tenant;
  d.src_ip = g->src_ip;
  d.time_ns = time;
  d.first_seen_ns = g->first_seen;
  d.last_seen_ns = g->last_seen;
  g->AppendEvidences(&d.evidences);
  std::unique_ptr<GroupState> fired = Take(node, g);
  d.blast = std::move(fired->blast);
  f.values = std::move(fired->values);
  ++stats_->correlation_fires;
  if (cn.emit || options_.emit_all) {
    out->push_back(d);
    ++stats_->detections;
  }
  if (cn.parent < 0) return;
  const CorrelationRule& parent = data_.correlations[data_.nodes[cn.parent].rule];
  std::vector<std::string> values;
  for (const ValueSource& s : parent.group_sources[cn.parent_ref])
    values.push_back(f.values[s.inner_group]);
  Input in;
  in.time = time;
  in.fired = &f;
  in.values = &values;
  if (parent.type == CorrelationType::kValueCount)
    in.text = &f.values[parent.value_sources[cn.parent_ref].inner_group];
  Feed(cn.parent, cn.parent_ref, in, out);
}

int64_t CorrelationEngine::CleanTop(int node) {
  NodeState& ns = nodes_[node];
  while (!ns.heap.empty()) {
    const HeapEntry& top = ns.heap.top();
    auto it = ns.groups.find(top.key);
    if (it == ns.groups.end() || it->second->generation != top.generation) {
      ns.heap.pop();
      continue;
    }
    if (it->second->deadline > top.deadline) {
      HeapEntry moved{it->second->deadline, top.key, top.generation};
      ns.heap.pop();
      ns.heap.push(std::move(moved));
      continue;
    }
    return top.deadline;
  }
  return INT64_MAX;
}

void CorrelationEngine::EvictOne(int node) {
  NodeState& ns = nodes_[node];
  if (CleanTop(node) == INT64_MAX) return;
  const std::string key = ns.heap.top().key;
  ns.heap.pop();
  auto it = ns.groups.find(key);
  if (it != ns.groups.end()) Erase(node, it->second.get());
}

void CorrelationEngine::AdvanceWatermark(int64_t t_ns, std::vector<Detection>* out) {
  while (true) {
    int64_t best_deadline;
    const int best = EndsFirst(&best_deadline);
    if (best < 0 || best_deadline >= t_ns) return;
    NodeState& ns = nodes_[best];
    const std::string key = ns.heap.top().key;
    ns.heap.pop();
    GroupState* g = ns.groups.find(key)->second.get();
    if (data_.correlations[data_.nodes[best].rule].anchored) {
      Close(best, g, out);
    } else {
      Erase(best, g);
    }
  }
}

// ---------------------------------------------------------------------------
// Durable state (engine/state): the open groups, little-endian, versioned.

namespace {

constexpr uint8_t kStateMagic = 'G';
// 2: node headers first, then the groups; 3: the blast radius lists and
// the evidences of a group in records of their own (SerializeChanges).
constexpr uint8_t kStateVersion = 3;

// Record keys of SerializeChanges. A group's record: its node (4 bytes, big
// endian, so the first byte is 0 for any real rule set) and the group key.
// Each value of its blast radius lists and each evidence has a record of its
// own, written once, after all groups' records in key order: kItemTag, the
// node, the group key's length (4 bytes, big endian) and the key, the list,
// then the value (blast radius lists; the record's value is empty) or the
// slot (evidences, one byte; the record's value is the evidence).
constexpr char kItemTag = 1;
constexpr uint8_t kHeadList = 3;
constexpr uint8_t kTailList = 4;

void PutBigEndian32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t GetBigEndian32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

template <typename T>
void PutInt(std::string* out, T v) {
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(v);
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}
void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  PutInt(out, bits);
}
void PutStr(std::string* out, std::string_view s) {
  PutInt<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}
void PutStrs(std::string* out, const std::vector<std::string>& v) {
  PutInt<uint32_t>(out, static_cast<uint32_t>(v.size()));
  for (const auto& s : v) PutStr(out, s);
}

}  // namespace

class StateReader {
 public:
  explicit StateReader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Int(T* v) {
    using U = std::make_unsigned_t<T>;
    if (!ok_ || data_.size() - pos_ < sizeof(T)) return ok_ = false;
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i));
    }
    pos_ += sizeof(T);
    *v = static_cast<T>(u);
    return true;
  }
  bool Double(double* v) {
    uint64_t bits = 0;
    if (!Int(&bits)) return false;
    std::memcpy(v, &bits, sizeof(bits));
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    if (!Int(&n) || data_.size() - pos_ < n) return ok_ = false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Strs(std::vector<std::string>* v) {
    uint32_t n = 0;
    if (!Int(&n) || n > (data_.size() - pos_) / 4) return ok_ = false;
    v->resize(n);
    for (auto& s : *v) {
      if (!Str(&s)) return false;
    }
    return true;
  }
  // A count of items of at least `min_bytes` each.
  bool Count(uint32_t* n, size_t min_bytes) {
    return Int(n) && (*n <= (data_.size() - pos_) / min_bytes || (ok_ = false));
  }
  bool done() const { return ok_ && pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};


void CorrelationEngine::PutHeader(std::string* out) const {
  PutInt<uint8_t>(out, kStateMagic);
  PutInt<uint8_t>(out, kStateVersion);
  PutInt<uint64_t>(out, generation_);
  PutInt<uint32_t>(out, static_cast<uint32_t>(nodes_.size()));
  for (size_t n = 0; n < nodes_.size(); ++n) {
    // What the groups belong to: a restore into other rules is refused.
    const CorrelationRule& rule = data_.correlations[data_.nodes[n].rule];
    PutStr(out, rule.meta.id);
    PutInt<uint8_t>(out, static_cast<uint8_t>(rule.type));
    PutInt<int64_t>(out, rule.timespan_ns);
  }
}

void CorrelationEngine::PutGroup(const GroupState& g, bool lists, std::string* out) {
  // With `lists` false the lists are stored as records of their own: their
  // sizes stand in for them (checked on restore).
  auto put_list = [&](const std::vector<std::string>& v) {
    if (lists) {
      PutStrs(out, v);
    } else {
      PutInt<uint32_t>(out, static_cast<uint32_t>(v.size()));
    }
  };
  PutInt<uint64_t>(out, g.generation);
  PutStr(out, g.key);
  PutStrs(out, g.values);
  PutInt<int64_t>(out, g.first_seen);
  PutInt<int64_t>(out, g.last_seen);
  PutInt<int64_t>(out, g.max_time);
  PutInt<int64_t>(out, g.window_start);
  PutInt<int64_t>(out, g.deadline);
  put_list(g.blast.tenants);
  put_list(g.blast.objects);
  put_list(g.blast.destinations);
  PutInt<int64_t>(out, g.blast.objects_total);
  PutInt<int64_t>(out, g.blast.bytes);
  PutInt<int64_t>(out, g.blast.records);
  put_list(g.head);
  put_list(g.tail);
  PutInt<uint64_t>(out, g.tail_next);
  PutStr(out, g.credential);
  PutStr(out, g.tenant);
  PutStr(out, g.src_ip);
  PutInt<uint32_t>(out, static_cast<uint32_t>(g.points.size()));
  for (const auto& [t, w] : g.points) {
    PutInt<int64_t>(out, t);
    PutDouble(out, w);
  }
  PutDouble(out, g.sum);
  PutDouble(out, g.total);
  std::vector<std::pair<std::string_view, int64_t>> distinct(g.distinct.begin(),
                                                             g.distinct.end());
  std::sort(distinct.begin(), distinct.end());
  PutInt<uint32_t>(out, static_cast<uint32_t>(distinct.size()));
  for (const auto& [v, t] : distinct) {
    PutStr(out, v);
    PutInt<int64_t>(out, t);
  }
  PutInt<uint32_t>(out, static_cast<uint32_t>(g.last_by_ref.size()));
  for (int64_t t : g.last_by_ref) PutInt<int64_t>(out, t);
  PutInt<uint32_t>(out, static_cast<uint32_t>(g.chain.size()));
  for (const auto& [start, t] : g.chain) {
    PutInt<int64_t>(out, start);
    PutInt<int64_t>(out, t);
  }
}

void CorrelationEngine::SerializeState(std::string* out) const {
  PutHeader(out);
  std::vector<const GroupState*> groups;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    groups.clear();
    for (const auto& [key, g] : nodes_[n].groups) groups.push_back(g.get());
    std::sort(groups.begin(), groups.end(),
              [](const GroupState* a, const GroupState* b) { return a->key < b->key; });
    PutInt<uint32_t>(out, static_cast<uint32_t>(groups.size()));
    for (const GroupState* g : groups) PutGroup(*g, /*lists=*/true, out);
  }
}

std::string CorrelationEngine::GroupRecordKey(size_t node, std::string_view key) {
  std::string k;
  k.reserve(4 + key.size());
  PutBigEndian32(&k, static_cast<uint32_t>(node));
  k.append(key.data(), key.size());
  return k;
}

std::string CorrelationEngine::ItemRecordKey(size_t node, std::string_view key, uint8_t list,
                                             std::string_view item) {
  std::string k;
  k.reserve(10 + key.size() + item.size());
  k.push_back(kItemTag);
  PutBigEndian32(&k, static_cast<uint32_t>(node));
  PutBigEndian32(&k, static_cast<uint32_t>(key.size()));
  k.append(key.data(), key.size());
  k.push_back(static_cast<char>(list));
  k.append(item.data(), item.size());
  return k;
}

void CorrelationEngine::ForEachRecordKey(size_t node, const GroupState& g, const RecordKeyFn& fn) {
  fn(GroupRecordKey(node, g.key), {});
  const std::vector<std::string>* blast[] = {&g.blast.tenants, &g.blast.objects, &g.blast.destinations};
  for (uint8_t list = 0; list < 3; ++list) {
    for (const std::string& v : *blast[list]) fn(ItemRecordKey(node, g.key, list, v), {});
  }
  for (size_t i = 0; i < g.head.size(); ++i) fn(EvidenceRecordKey(node, g.key, i), g.head[i]);
  for (size_t i = 0; i < g.tail.size(); ++i) fn(EvidenceRecordKey(node, g.key, kHeadEvidences + i), g.tail[i]);
}

std::string CorrelationEngine::EvidenceRecordKey(size_t node, std::string_view key, size_t slot) {
  const bool head = slot < kHeadEvidences;
  const char index = static_cast<char>(head ? slot : slot - kHeadEvidences);
  return ItemRecordKey(node, key, head ? kHeadList : kTailList, std::string_view(&index, 1));
}

void CorrelationEngine::TrackChanges() {
  if (track_changes_) return;
  track_changes_ = true;
  changed_.assign(nodes_.size(), {});
  deleted_.assign(nodes_.size(), {});
}

void CorrelationEngine::SerializeChanges(bool all, std::string* header, const StateRecordFn& put,
                                         const StateKeyFn& del) {
  if (!track_changes_) all = true;  // nothing was tracked before this call
  TrackChanges();
  header->clear();
  PutHeader(header);
  std::string value;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    // Deletions first: a group erased and created again is put after.
    for (const std::string& key : deleted_[n]) del(key);
    deleted_[n].clear();
    auto write = [&](GroupState& g) {
      value.clear();
      PutGroup(g, /*lists=*/false, &value);
      if (!g.persisted) {
        // Everything: the group record and the records of its lists.
        ForEachRecordKey(n, g, [&](std::string&& key, std::string_view v) {
          put(key, key.front() == kItemTag ? v : std::string_view(value));
        });
      } else {
        // The group record, and the records of what its lists gained.
        put(GroupRecordKey(n, g.key), value);
        for (const auto& [list, v] : g.blast_added) put(ItemRecordKey(n, g.key, list, v), {});
        for (size_t slot = 0; slot < kHeadEvidences + kTailEvidences; ++slot) {
          if (!(g.evidences_written & (1u << slot))) continue;
          put(EvidenceRecordKey(n, g.key, slot),
              slot < kHeadEvidences ? g.head[slot] : g.tail[slot - kHeadEvidences]);
        }
      }
      g.dirty = false;
      g.persisted = true;
      g.blast_added.clear();
      g.evidences_written = 0;
    };
    if (all) {
      for (auto& [key, g] : nodes_[n].groups) {
        g->persisted = false;  // the records on disk are not known: write all
        write(*g);
      }
    } else {
      for (const std::string& key : changed_[n]) {
        auto it = nodes_[n].groups.find(key);
        if (it != nodes_[n].groups.end() && it->second->dirty) write(*it->second);
      }
    }
    changed_[n].clear();
  }
}

absl::Status CorrelationEngine::ReadHeader(StateReader& in, uint64_t* generation) const {
  auto damaged = [] { return absl::DataLossError("damaged correlation state"); };
  uint8_t magic = 0, version = 0;
  uint32_t num_nodes = 0;
  if (!in.Int(&magic) || magic != kStateMagic || !in.Int(&version)) return damaged();
  if (version != kStateVersion) {
    return absl::FailedPreconditionError("correlation state of another format version");
  }
  if (!in.Int(generation) || !in.Int(&num_nodes)) return damaged();
  if (num_nodes != nodes_.size()) {
    return absl::FailedPreconditionError("correlation state of other correlation rules");
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const CorrelationRule& rule = data_.correlations[data_.nodes[n].rule];
    std::string id;
    uint8_t type = 0;
    int64_t timespan = 0;
    if (!in.Str(&id) || !in.Int(&type) || !in.Int(&timespan)) return damaged();
    if (id != rule.meta.id || type != static_cast<uint8_t>(rule.type) ||
        timespan != rule.timespan_ns) {
      return absl::FailedPreconditionError("correlation state of other correlation rules");
    }
  }
  return absl::OkStatus();
}

bool CorrelationEngine::ReadGroup(StateReader& in, GroupState* g, ListSizes* sizes) {
  // Without `sizes` the lists are inline (PutGroup with lists); with it,
  // their sizes are read into it, in ListSizes order.
  size_t next_size = 0;
  auto list = [&](std::vector<std::string>* v) {
    if (!sizes) return in.Strs(v);
    return in.Int(&(*sizes)[next_size++]);
  };
  uint64_t tail_next = 0;
  uint32_t count = 0;
  if (!in.Int(&g->generation) || !in.Str(&g->key) || !in.Strs(&g->values) ||
      !in.Int(&g->first_seen) || !in.Int(&g->last_seen) || !in.Int(&g->max_time) ||
      !in.Int(&g->window_start) || !in.Int(&g->deadline) || !list(&g->blast.tenants) ||
      !list(&g->blast.objects) || !list(&g->blast.destinations) ||
      !in.Int(&g->blast.objects_total) || !in.Int(&g->blast.bytes) ||
      !in.Int(&g->blast.records) || !list(&g->head) || !list(&g->tail) ||
      !in.Int(&tail_next) || !in.Str(&g->credential) || !in.Str(&g->tenant) ||
      !in.Str(&g->src_ip) || !in.Count(&count, 16)) {
    return false;
  }
  const size_t head = sizes ? (*sizes)[kHeadList] : g->head.size();
  const size_t tail = sizes ? (*sizes)[kTailList] : g->tail.size();
  if (head > kHeadEvidences || tail > kTailEvidences || tail_next >= kTailEvidences) return false;
  g->tail_next = static_cast<size_t>(tail_next);
  g->points.resize(count);
  for (auto& [t, w] : g->points) {
    if (!in.Int(&t) || !in.Double(&w)) return false;
  }
  if (!in.Double(&g->sum) || !in.Double(&g->total) || !in.Count(&count, 12)) return false;
  for (uint32_t d = 0; d < count; ++d) {
    std::string v;
    int64_t t = 0;
    if (!in.Str(&v) || !in.Int(&t)) return false;
    g->distinct.emplace(std::move(v), t);
  }
  if (!in.Count(&count, 8)) return false;
  g->last_by_ref.resize(count);
  for (int64_t& t : g->last_by_ref) {
    if (!in.Int(&t)) return false;
  }
  if (!in.Count(&count, 16)) return false;
  g->chain.resize(count);
  for (auto& [start, t] : g->chain) {
    if (!in.Int(&start) || !in.Int(&t)) return false;
  }
  return true;
}

bool CorrelationEngine::AddRestored(std::vector<NodeState>& nodes, size_t n,
                                    std::unique_ptr<GroupState> g) {
  // Each live group has one heap entry at its deadline; CleanTop gives
  // the same order as the entries the original heap held.
  nodes[n].heap.push(HeapEntry{g->deadline, g->key, g->generation});
  std::string key = g->key;
  return nodes[n].groups.emplace(std::move(key), std::move(g)).second;
}

absl::Status CorrelationEngine::RestoreState(std::string_view bytes) {
  StateReader in(bytes);
  auto damaged = [] { return absl::DataLossError("damaged correlation state"); };
  uint64_t generation = 0;
  if (absl::Status s = ReadHeader(in, &generation); !s.ok()) return s;
  std::vector<NodeState> nodes(nodes_.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    uint32_t num_groups = 0;
    if (!in.Count(&num_groups, 8)) return damaged();
    for (uint32_t i = 0; i < num_groups; ++i) {
      auto g = std::make_unique<GroupState>();
      if (!ReadGroup(in, g.get(), nullptr) || !AddRestored(nodes, n, std::move(g))) return damaged();
    }
  }
  if (!in.done()) return damaged();
  nodes_ = std::move(nodes);
  generation_ = generation;
  AccountAll();
  return absl::OkStatus();
}

absl::Status CorrelationEngine::RestoreChanges(std::string_view header, const StateRecordSource& records) {
  auto damaged = [] { return absl::DataLossError("damaged correlation state"); };
  StateReader in(header);
  uint64_t generation = 0;
  if (absl::Status s = ReadHeader(in, &generation); !s.ok()) return s;
  if (!in.done()) return damaged();
  std::vector<NodeState> nodes(nodes_.size());
  // The list sizes each group record promises, checked once all records
  // (groups first, then their items, in key order) are in.
  absl::flat_hash_map<const GroupState*, ListSizes> promised;
  std::string group_key;
  bool bad = false;
  records([&](std::string_view key, std::string_view value) {
    if (!key.empty() && key.front() == kItemTag) {
      if (!RestoreItem(nodes, key, value, &group_key)) return !(bad = true);
      return true;
    }
    if (key.size() < 4) return !(bad = true);
    const size_t n = GetBigEndian32(key);
    StateReader r(value);
    auto g = std::make_unique<GroupState>();
    ListSizes sizes{};
    if (n >= nodes.size() || !ReadGroup(r, g.get(), &sizes) || !r.done() || g->key != key.substr(4)) {
      return !(bad = true);
    }
    g->persisted = true;
    promised.emplace(g.get(), sizes);
    if (!AddRestored(nodes, n, std::move(g))) return !(bad = true);
    return true;
  });
  if (bad) return damaged();
  for (const auto& [g, sizes] : promised) {
    const ListSizes got = {static_cast<uint32_t>(g->blast.tenants.size()),
                           static_cast<uint32_t>(g->blast.objects.size()),
                           static_cast<uint32_t>(g->blast.destinations.size()),
                           static_cast<uint32_t>(g->head.size()), static_cast<uint32_t>(g->tail.size())};
    if (got != sizes) return damaged();
  }
  nodes_ = std::move(nodes);
  generation_ = generation;
  AccountAll();
  TrackChanges();
  return absl::OkStatus();
}

bool CorrelationEngine::RestoreItem(std::vector<NodeState>& nodes, std::string_view key, std::string_view value,
                                    std::string* group_key) {
  // kItemTag, node, key length, key, list, then the value or the slot.
  if (key.size() < 10) return false;
  const size_t n = GetBigEndian32(key.substr(1));
  const size_t length = GetBigEndian32(key.substr(5));
  if (n >= nodes.size() || key.size() - 9 < length + 1) return false;
  group_key->assign(key.substr(9, length));
  auto it = nodes[n].groups.find(*group_key);
  if (it == nodes[n].groups.end()) return false;  // an item without its group
  GroupState& g = *it->second;
  const auto list = static_cast<uint8_t>(key[9 + length]);
  const std::string_view item = key.substr(10 + length);
  if (list == kHeadList || list == kTailList) {
    // Slots in order: slot i comes as the list's item i.
    std::vector<std::string>& v = list == kHeadList ? g.head : g.tail;
    if (item.size() != 1 || static_cast<unsigned char>(item[0]) != v.size()) return false;
    v.emplace_back(value);
    return true;
  }
  std::vector<std::string>* blast[] = {&g.blast.tenants, &g.blast.objects, &g.blast.destinations};
  if (list >= 3 || !value.empty()) return false;
  // In key order, so the list comes back sorted, as BlastRadius keeps it.
  std::vector<std::string>& v = *blast[list];
  if (item.empty() || (!v.empty() && !(v.back() < item))) return false;
  v.emplace_back(item);
  return true;
}

}  // namespace credwatch::rules::internal
