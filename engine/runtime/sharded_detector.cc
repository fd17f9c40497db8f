// The sharded detection runtime (see sharded_detector.h and docs/runtime.md).
//
// Rounds. The producer sends batches in rounds: round r is one batch per
// shard (possibly empty), holding the events of a contiguous stretch of the
// sequence that the shard owns, plus every watermark / rule-switch marker of
// that stretch (broadcast: each shard's batch has all of them). Every ring
// carries exactly one message per round, in round order, which is what makes
// the protocol below deadlock-free and deterministic.
//
// Shard loop. Stage B of round r needs round r from every shard's stage A
// (its fwd_in rings); stage A of round r needs the producer's batch and a
// free slot in every outgoing fwd ring. A shard runs B when it can, else A
// when it can, else sleeps on its doorbell (rung by every ring it reads or
// writes). Stage A never blocks: it starts only when all its outgoing rings
// have room. Why that cannot deadlock: let r be the oldest round whose stage
// B some shard has not finished, and A_k, B_d the last rounds shard k / d
// finished in stage A / B. Ring k->d holds rounds (B_d, A_k]. B_d >= r - 1
// for every d, and every shard has A_k >= r - 1 (B(r - 1) needed it); a shard
// with A_k = r - 1 therefore finds all its outgoing rings empty. The producer
// sends whole rounds and blocks only on a shard ring_batches rounds ahead of
// r, so round r has reached everyone. So every shard can run A(r), then every
// shard can run B(r). The output thread reads one message per shard per
// round, in round order; a shard blocked pushing to its full output ring is
// ahead of the output, which waits only for rounds every shard can finish by
// the argument above.
//
// Batch lifetime. The producer fills a batch, pushes it to its shard
// (primary ring); stage A writes the profile fields and the per-destination
// call lists into it and pushes the pointer to every shard's fwd ring
// (including its own). From then on it is read-only. Each stage B drops one
// reference when done with the round; the last one hands it back to the
// producer (released ring). Pools are sized so that the released and
// out_free rings can never be full.
#include "runtime/sharded_detector.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "common/strings.h"
#include "credwatch/event_batch.h"
#include "credwatch/rules.h"
#include "runtime/detection_order.h"
#include "runtime/host_sessions.h"
#include "runtime/spsc_ring.h"
#include "runtime/thread_name.h"
#include "rules/compiled.h"

namespace credwatch::runtime {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

// FNV-1a over the bytes, then the group separator 0x1f: what
// RuleSet::RoutingHashes computes for a group key that is the credential
// alone (rules/match.cc RoutingHash).
uint64_t CredentialHash(std::string_view credential) {
  uint64_t h = kFnvOffset;
  for (char c : credential) {
    h ^= static_cast<uint8_t>(c);
    h *= kFnvPrime;
  }
  h ^= 0x1f;
  h *= kFnvPrime;
  return h;
}

// Where an event sits in the merged sequence.
struct EventTag {
  uint64_t seq = 0;
  uint32_t sub = 0;    // which credential of an attributed flow (0 otherwise)
  uint8_t flags = 0;
};
enum : uint8_t {
  kFlowCopy = 1,    // a host flow attributed to `credential`: set its tenant
  kUnobserved = 2,  // a host flow nobody was on: judged as is, no profile
};

// A rule set as the runtime uses it.
struct RulesBundle {
  explicit RulesBundle(std::shared_ptr<const rules::RuleSet> r)
      : rules(std::move(r)),
        order(*rules),
        max_routes(std::max<size_t>(1, rules->data().routing.size())) {}
  std::shared_ptr<const rules::RuleSet> rules;
  DetectionOrder order;
  size_t max_routes;  // RoutingHashes never returns more
};

// Applies before the event with sequence number `seq`.
struct Marker {
  uint64_t seq = 0;
  uint32_t ordinal = 0;  // markers before `seq` so far (tags watermark output)
  bool has_watermark = false;
  int64_t watermark = 0;
  std::shared_ptr<const RulesBundle> rules;  // switch to this set after the watermark
  uint64_t commit = 0;                       // durable state: commit number (0: none)
};

// One evaluation of one event of a batch on one shard.
struct Call {
  uint32_t index = 0;      // into the batch
  bool stateless = false;  // the credential's shard: emit single-event detections
};

struct ShardBatch {
  explicit ShardBatch(size_t shards) : calls(shards) {}
  EventBatch events;  // copies; strings in events.arena()
  std::vector<EventTag> tags;
  std::vector<Marker> markers;
  bool last = false;
  // Written by stage A of the owning shard: the calls each shard makes.
  std::vector<std::vector<Call>> calls;
  // Stage B readers still to finish with this batch.
  std::atomic<uint32_t> readers{0};

  void Reset() {
    events.Clear();
    tags.clear();
    markers.clear();
    for (auto& c : calls) c.clear();
    last = false;
  }
};

// A detection with where it belongs in the output.
struct TaggedDetection {
  uint64_t seq = 0;
  uint8_t phase = 0;  // 0: a watermark before event `seq`; 1: event `seq`
  uint32_t sub = 0;   // phase 1: EventTag::sub; phase 0: Marker::ordinal
  uint32_t rank = 0;  // DetectionOrder
  Detection detection;
};

bool TagBefore(const TaggedDetection& a, const TaggedDetection& b) {
  if (a.seq != b.seq) return a.seq < b.seq;
  if (a.phase != b.phase) return a.phase < b.phase;
  return a.sub < b.sub;
}

// A shard's part of a commit, and where the commit sits in the output (a
// marker's tag: after the detections of the markers before it).
struct CommitPart {
  uint64_t seq = 0;
  uint32_t ordinal = 0;
  uint64_t commit = 0;
  bool ok = true;  // false: the shard's state failed before this point
  state::StateBatch part;
  rules::WindowsDropped dropped;  // by the shard's evaluators so far
};

// A commit at (seq, phase 0, ordinal) comes before detection `t`.
bool CommitBefore(const CommitPart& c, const TaggedDetection& t) {
  if (c.seq != t.seq) return c.seq < t.seq;
  if (t.phase != 0) return true;
  return c.ordinal < t.sub;
}

// One shard's detections of one round, in tag order, and its parts of the
// commits of the round.
struct OutBatch {
  std::vector<TaggedDetection> items;
  std::vector<CommitPart> commits;
  bool last = false;
};

using BatchRing = SpscRing<ShardBatch*>;
using OutRing = SpscRing<OutBatch*>;

// One shard: its rings and the state only its thread touches.
struct Shard {
  Shard(uint32_t i, const ShardedDetectorOptions& options)
      : index(i), profiles(WithoutSessions(options.profile)) {}
  // Flows are attributed by the producer's HostSessions, not by the shard.
  static profile::ProfileOptions WithoutSessions(profile::ProfileOptions o) {
    o.track_sessions = false;
    return o;
  }

  const uint32_t index;
  Doorbell bell;  // rung by every ring this shard reads or writes
  std::unique_ptr<BatchRing> primary;                 // producer -> here
  std::vector<std::unique_ptr<BatchRing>> fwd_in;     // [k]: stage A of shard k -> stage B here
  std::unique_ptr<BatchRing> released;                // here -> producer: batches to reuse
  std::unique_ptr<OutRing> out;                       // here -> output thread
  std::unique_ptr<OutRing> out_free;                  // output thread -> here
  std::vector<std::unique_ptr<OutBatch>> out_pool;

  // Owned by the shard thread.
  profile::ProfileStore profiles;       // without durable state
  std::unique_ptr<ShardState> state;    // with it (then `profiles` stays empty)
  absl::Status status;                  // the first failure of `state`
  std::shared_ptr<const RulesBundle> routing_rules;  // stage A's
  std::shared_ptr<const RulesBundle> eval_rules;     // stage B's
  std::unique_ptr<rules::Evaluator> evaluator;
  absl::flat_hash_map<std::string, std::string> tenants;  // credential -> tenant (flows)
  std::string scratch;
  std::vector<uint64_t> hashes;
  std::vector<Detection> detections;
  std::vector<ShardBatch*> round;  // stage B's inputs, [k]
  std::vector<size_t> pos;
  bool a_done = false;
  uint64_t owned_events = 0;  // stage A
  uint64_t forwarded = 0;     // calls this shard's stage A sent elsewhere
  rules::WindowsDropped replaced_dropped;  // by evaluators replaced at a reload
  std::thread thread;

  // Since the start, across rule reloads.
  rules::WindowsDropped WindowsDropped() const {
    rules::WindowsDropped dropped = replaced_dropped;
    dropped.Add(evaluator->stats());
    return dropped;
  }

  // At a reload the open windows carry over when the correlation rules are
  // the same (Evaluator::Succeeding), as on the one-thread detector.
  void NewEvaluator(const std::shared_ptr<const RulesBundle>& bundle) {
    rules::EvaluatorOptions eo;
    if (state) eo.window_budget_bytes = state->window_budget_bytes();
    if (!evaluator) {
      evaluator = std::make_unique<rules::Evaluator>(bundle->rules, eo);
      return;
    }
    replaced_dropped.Add(evaluator->stats());
    evaluator = rules::Evaluator::Succeeding(*evaluator, bundle->rules, eo);  // frees the old one
  }
};

}  // namespace

uint32_t CredentialShard(std::string_view credential, uint32_t num_shards) {
  return static_cast<uint32_t>(CredentialHash(credential) % num_shards);
}

struct ShardedDetector::Impl {
  Impl(ShardedDetectorOptions o, FindingSink s)
      : options(std::move(o)), sink(std::move(s)), sessions(options.profile.sessions), folder(options.folder) {}

  void Start();
  void RunShard(Shard& s);
  bool CanRunA(const Shard& s) const;
  bool CanRunB(const Shard& s) const;
  void RunA(Shard& s);
  void RunB(Shard& s);
  void ApplyMarker(Shard& s, const Marker& m, OutBatch& out);
  void ShardFailed(Shard& s, absl::Status st);
  void RunOutput();
  void FireCommit(const std::vector<OutBatch*>& round, size_t index);

  // Producer.
  void CheckRules();
  void AddMarker(bool has_watermark, int64_t watermark, std::shared_ptr<const RulesBundle> rules,
                 uint64_t commit = 0);
  void Route(const Event& e, std::string_view owner, EventTag tag);
  void SendRound(bool last);
  ShardBatch* AcquireBatch();

  ShardedDetectorOptions options;
  FindingSink sink;
  uint32_t n = 1;
  Doorbell producer_bell;  // rung by primary (pops), released (pushes) and the output thread
  std::vector<std::unique_ptr<Shard>> shards;
  std::vector<std::unique_ptr<ShardBatch>> batch_pool;  // owns every batch
  std::thread output_thread;

  // Producer thread.
  HostSessions sessions;
  std::vector<std::string_view> owners;
  std::vector<ShardBatch*> free_batches;
  std::vector<ShardBatch*> current;  // the round being filled, [shard]
  std::shared_ptr<const RulesBundle> bundle;
  uint64_t rules_version = 0;
  uint64_t next_seq = 0;
  uint64_t marker_seq = UINT64_MAX;  // `seq` of the latest marker
  uint32_t marker_ordinal = 0;       // markers at marker_seq so far
  bool round_full = false;
  bool finished = false;
  uint64_t rounds_sent = 0;
  ShardedDetectorStats stats;

  // Output thread (folder: read by others after Finish joined it).
  alert::AlertFolder folder;
  std::atomic<uint64_t> rounds_done{0};
  std::vector<state::StateBatch> parts;  // of the commit being handed on
  bool commits_stopped = false;          // a shard failed: no commit after it

  // Durable state, any thread.
  std::atomic<uint64_t> landed{0};   // the highest commit on disk
  std::atomic<bool> failed{false};   // a shard's state failed
};

void ShardedDetector::Impl::Start() {
  int want = options.shards;
  if (want <= 0) want = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = static_cast<uint32_t>(want);
  const size_t ring = std::max<size_t>(1, options.ring_batches);
  options.batch_events = std::max<size_t>(1, options.batch_events);
  stats.shards = want;

  // Every batch a shard can hold: `ring` waiting for stage A, `ring` waiting
  // for stage B, one in each stage; plus the producer's current round.
  const size_t pool = n * (2 * ring + 3);
  batch_pool.reserve(pool);
  for (size_t i = 0; i < pool; ++i) batch_pool.push_back(std::make_unique<ShardBatch>(n));
  for (auto& b : batch_pool) free_batches.push_back(b.get());

  for (uint32_t i = 0; i < n; ++i) {
    shards.push_back(std::make_unique<Shard>(i, options));
    if (options.state.make_state) shards.back()->state = options.state.make_state(i, n);
  }
  const size_t out_pool = ring + 2;  // ring in the out ring, one at the output, one being filled
  for (auto& sp : shards) {
    Shard& s = *sp;
    s.primary = std::make_unique<BatchRing>(ring, BatchRing::Bells{&producer_bell, &s.bell});
    s.released = std::make_unique<BatchRing>(pool, BatchRing::Bells{&s.bell, &producer_bell});
    s.out = std::make_unique<OutRing>(ring, OutRing::Bells{&s.bell, nullptr});
    s.out_free = std::make_unique<OutRing>(out_pool, OutRing::Bells{nullptr, &s.bell});
    for (size_t i = 0; i < out_pool; ++i) {
      s.out_pool.push_back(std::make_unique<OutBatch>());
      s.out_free->TryPush(s.out_pool.back().get());
    }
    s.round.assign(n, nullptr);
    s.pos.assign(n, 0);
  }
  for (auto& sp : shards) {
    for (uint32_t k = 0; k < n; ++k) {
      sp->fwd_in.push_back(std::make_unique<BatchRing>(ring, BatchRing::Bells{&shards[k]->bell, &sp->bell}));
    }
  }

  bundle = std::make_shared<const RulesBundle>(options.rules->Current());
  rules_version = options.rules->version();
  for (auto& sp : shards) {
    sp->routing_rules = bundle;
    sp->eval_rules = bundle;
    sp->NewEvaluator(bundle);
    sp->hashes.resize(bundle->max_routes);
  }
  current.assign(n, nullptr);
  for (uint32_t i = 0; i < n; ++i) current[i] = AcquireBatch();

  for (auto& sp : shards) {
    Shard* s = sp.get();
    s->thread = std::thread([this, s] { RunShard(*s); });
    NameThread(s->thread, "cw-shard-" + std::to_string(s->index));
  }
  output_thread = std::thread([this] { RunOutput(); });
  NameThread(output_thread, "cw-output");
}

// ---- producer ----

void ShardedDetector::Impl::CheckRules() {
  const uint64_t v = options.rules->version();
  if (v == rules_version) return;
  rules_version = v;
  std::shared_ptr<const rules::RuleSet> next = options.rules->Current();
  if (!next || next == bundle->rules) return;
  bundle = std::make_shared<const RulesBundle>(std::move(next));
  ++stats.rule_switches;
  AddMarker(false, 0, bundle);
}

void ShardedDetector::Impl::AddMarker(bool has_watermark, int64_t watermark,
                                      std::shared_ptr<const RulesBundle> rules, uint64_t commit) {
  if (marker_seq != next_seq) {
    marker_seq = next_seq;
    marker_ordinal = 0;
  }
  Marker m;
  m.seq = next_seq;
  m.ordinal = marker_ordinal++;
  m.has_watermark = has_watermark;
  m.watermark = watermark;
  m.rules = std::move(rules);
  m.commit = commit;
  for (ShardBatch* b : current) b->markers.push_back(m);
}

void ShardedDetector::Impl::Route(const Event& e, std::string_view owner, EventTag tag) {
  const bool copy = (tag.flags & kFlowCopy) != 0;
  const uint32_t d = CredentialShard(copy ? owner : e.credential, n);
  ShardBatch& b = *current[d];
  Event& c = b.events.AddCopy(e);
  if (copy) {
    c.credential = b.events.arena().Copy(owner);
    c.tenant = {};  // stage A: the owner's tenant
  }
  b.tags.push_back(tag);
  ++stats.routed;
  if (b.events.size() >= options.batch_events) round_full = true;
}

ShardBatch* ShardedDetector::Impl::AcquireBatch() {
  while (free_batches.empty()) {
    auto drain = [&] {
      for (auto& s : shards) {
        ShardBatch* b = nullptr;
        while (s->released->TryPop(&b)) {
          b->Reset();
          free_batches.push_back(b);
        }
      }
    };
    drain();
    if (!free_batches.empty()) break;
    ++stats.producer_waits;
    const uint32_t key = producer_bell.PrepareWait();
    drain();
    if (!free_batches.empty()) {
      producer_bell.CancelWait();
      break;
    }
    producer_bell.Wait(key);
  }
  ShardBatch* b = free_batches.back();
  free_batches.pop_back();
  return b;
}

void ShardedDetector::Impl::SendRound(bool last) {
  for (uint32_t d = 0; d < n; ++d) {
    ShardBatch* b = current[d];
    b->last = last;
    BatchRing& ring = *shards[d]->primary;
    if (ring.Full()) ++stats.producer_waits;
    ring.Push(b);
    current[d] = nullptr;
  }
  ++rounds_sent;
  ++stats.rounds;
  round_full = false;
  if (last) return;
  for (uint32_t d = 0; d < n; ++d) current[d] = AcquireBatch();
}

// ---- shards ----

bool ShardedDetector::Impl::CanRunB(const Shard& s) const {
  for (const auto& ring : s.fwd_in) {
    if (ring->Front() == nullptr) return false;
  }
  return true;
}

bool ShardedDetector::Impl::CanRunA(const Shard& s) const {
  if (s.a_done || s.primary->Front() == nullptr) return false;
  for (const auto& d : shards) {
    if (d->fwd_in[s.index]->Full()) return false;
  }
  return true;
}

void ShardedDetector::Impl::RunShard(Shard& s) {
  for (int spins = 0;;) {
    if (CanRunB(s)) {
      const bool last = (*s.fwd_in[s.index]->Front())->last;
      RunB(s);
      if (last) return;
      spins = 0;
      continue;
    }
    if (CanRunA(s)) {
      RunA(s);
      spins = 0;
      continue;
    }
    if (Backoff(&spins)) continue;
    const uint32_t key = s.bell.PrepareWait();
    if (CanRunB(s) || CanRunA(s)) {
      s.bell.CancelWait();
      continue;
    }
    s.bell.Wait(key);
  }
}

void ShardedDetector::Impl::RunA(Shard& s) {
  ShardBatch& b = **s.primary->Front();
  size_t m = 0;
  auto apply_marker = [&](const Marker& marker) {
    if (s.state) {
      // INT64_MAX is the end of input, not a time: the profiles' clock stays.
      if (marker.has_watermark && marker.watermark != INT64_MAX) s.state->SetWatermark(marker.watermark);
      if (marker.commit != 0 && s.status.ok()) {
        ShardFailed(s, s.state->CollectProfiles(marker.commit, landed.load(std::memory_order_acquire)));
      }
    }
    if (!marker.rules) return;
    s.routing_rules = marker.rules;
    if (s.hashes.size() < marker.rules->max_routes) s.hashes.resize(marker.rules->max_routes);
  };
  const size_t count = b.events.size();
  for (size_t i = 0; i < count; ++i) {
    const EventTag& tag = b.tags[i];
    for (; m < b.markers.size() && b.markers[m].seq <= tag.seq; ++m) apply_marker(b.markers[m]);
    Event& e = b.events[i];
    if (tag.flags & kFlowCopy) {
      auto it = s.tenants.find(Sv(e.credential));
      if (it == s.tenants.end()) {
        if (s.tenants.size() >= (1u << 16)) s.tenants.clear();  // bounded, like SiteAnnotator
        it = s.tenants.emplace(std::string(e.credential),
                               std::string(options.site->CredentialTenant(e.credential, &s.scratch))).first;
      }
      e.tenant = b.events.arena().Copy(it->second);
    }
    if (tag.flags & kUnobserved) {
      // judged as is
    } else if (!s.state) {
      s.profiles.Observe(e);
    } else if (s.status.ok()) {
      ShardFailed(s, s.state->Observe(e));
    }
    const uint32_t index = static_cast<uint32_t>(i);
    b.calls[s.index].push_back(Call{index, true});
    if (n > 1) {
      const int routes = s.routing_rules->rules->RoutingHashes(e, s.hashes.data(),
                                                               static_cast<int>(s.routing_rules->max_routes));
      for (int r = 0; r < routes; ++r) {
        const uint32_t d = static_cast<uint32_t>(s.hashes[static_cast<size_t>(r)] % n);
        if (d == s.index) continue;
        std::vector<Call>& calls = b.calls[d];
        if (!calls.empty() && calls.back().index == index) continue;
        calls.push_back(Call{index, false});
        ++s.forwarded;
      }
    }
  }
  for (; m < b.markers.size(); ++m) apply_marker(b.markers[m]);
  s.owned_events += count;
  if (b.last) s.a_done = true;

  b.readers.store(n, std::memory_order_relaxed);  // published by the pushes below
  ShardBatch* ptr = &b;
  for (auto& d : shards) {
    const bool pushed = d->fwd_in[s.index]->TryPush(ptr);  // CanRunA saw room
    assert(pushed);
    (void)pushed;
  }
  s.primary->PopFront();
}

void ShardedDetector::Impl::ApplyMarker(Shard& s, const Marker& m, OutBatch& out) {
  if (m.has_watermark) {
    s.detections.clear();
    s.evaluator->AdvanceWatermark(m.watermark, &s.detections);
    for (Detection& d : s.detections) {
      const uint32_t rank = s.eval_rules->order.Rank(d.rule_id);
      out.items.push_back(TaggedDetection{m.seq, 0, m.ordinal, rank, std::move(d)});
    }
  }
  if (m.rules) {
    s.eval_rules = m.rules;
    s.NewEvaluator(m.rules);
    if (s.state) s.state->RulesReplaced();
  }
  if (m.commit != 0) {
    CommitPart& c = out.commits.emplace_back();
    c.seq = m.seq;
    c.ordinal = m.ordinal;
    c.commit = m.commit;
    if (s.state && s.status.ok()) ShardFailed(s, s.state->CollectWindows(*s.evaluator, &c.part));
    c.ok = s.status.ok();
    c.dropped = s.WindowsDropped();
  }
}

void ShardedDetector::Impl::ShardFailed(Shard& s, absl::Status st) {
  if (st.ok() || !s.status.ok()) return;
  s.status = std::move(st);
  failed.store(true, std::memory_order_release);
}

void ShardedDetector::Impl::RunB(Shard& s) {
  for (uint32_t k = 0; k < n; ++k) {
    s.round[k] = *s.fwd_in[k]->Front();
    s.pos[k] = 0;
  }
  const ShardBatch& own = *s.round[s.index];
  OutBatch* out = nullptr;
  s.out_free->Pop(&out);  // never waits long: the pool outnumbers the out ring
  out->items.clear();
  out->commits.clear();
  out->last = own.last;

  const rules::ShardScope base_scope{false, s.index, n};
  size_t m = 0;
  while (true) {
    // The next call in sequence order over all shards' batches.
    int best = -1;
    const EventTag* best_tag = nullptr;
    for (uint32_t k = 0; k < n; ++k) {
      const std::vector<Call>& calls = s.round[k]->calls[s.index];
      if (s.pos[k] == calls.size()) continue;
      const EventTag& tag = s.round[k]->tags[calls[s.pos[k]].index];
      if (best < 0 || tag.seq < best_tag->seq || (tag.seq == best_tag->seq && tag.sub < best_tag->sub)) {
        best = static_cast<int>(k);
        best_tag = &tag;
      }
    }
    for (; m < own.markers.size() && (best < 0 || own.markers[m].seq <= best_tag->seq); ++m) {
      ApplyMarker(s, own.markers[m], *out);
    }
    if (best < 0) break;
    ShardBatch& b = *s.round[static_cast<size_t>(best)];
    const Call& call = b.calls[s.index][s.pos[static_cast<size_t>(best)]++];
    rules::ShardScope scope = base_scope;
    scope.stateless = call.stateless;
    s.detections.clear();
    s.evaluator->Process(b.events[call.index], scope, &s.detections);
    for (Detection& d : s.detections) {
      const uint32_t rank = s.eval_rules->order.Rank(d.rule_id);
      out->items.push_back(TaggedDetection{best_tag->seq, 1, best_tag->sub, rank, std::move(d)});
    }
  }
  s.out->Push(out);

  for (uint32_t k = 0; k < n; ++k) {
    ShardBatch* b = s.round[k];
    s.round[k] = nullptr;
    s.fwd_in[k]->PopFront();
    if (b->readers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const bool pushed = s.released->TryPush(b);  // sized for every batch
      assert(pushed);
      (void)pushed;
    }
  }
}

// ---- output ----

void ShardedDetector::Impl::RunOutput() {
  std::vector<OutBatch*> round(n, nullptr);
  std::vector<size_t> pos(n, 0);
  std::vector<TaggedDetection*> group;
  while (true) {
    for (uint32_t k = 0; k < n; ++k) {
      shards[k]->out->Pop(&round[k]);
      pos[k] = 0;
    }
    size_t commit = 0;  // every shard has the round's commits, in order
    while (true) {
      // The smallest tag among the shards' heads, and everything with it.
      const TaggedDetection* head = nullptr;
      for (uint32_t k = 0; k < n; ++k) {
        if (pos[k] == round[k]->items.size()) continue;
        const TaggedDetection& t = round[k]->items[pos[k]];
        if (head == nullptr || TagBefore(t, *head)) head = &t;
      }
      if (commit < round[0]->commits.size() &&
          (head == nullptr || CommitBefore(round[0]->commits[commit], *head))) {
        FireCommit(round, commit++);
        continue;
      }
      if (head == nullptr) break;
      const uint64_t seq = head->seq;
      const uint8_t phase = head->phase;
      const uint32_t sub = head->sub;
      auto same_tag = [&](const TaggedDetection& t) { return t.seq == seq && t.phase == phase && t.sub == sub; };
      group.clear();
      for (uint32_t k = 0; k < n; ++k) {
        auto& items = round[k]->items;
        while (pos[k] < items.size() && same_tag(items[pos[k]])) group.push_back(&items[pos[k]++]);
      }
      std::stable_sort(group.begin(), group.end(), [](const TaggedDetection* a, const TaggedDetection* b) {
        return DetectionOrder::Before(a->rank, a->detection, b->rank, b->detection);
      });
      for (const TaggedDetection* t : group) {
        if (options.state.on_detection) options.state.on_detection(t->detection, folder);
        if (const alert::Finding* f = folder.Offer(t->detection)) sink(*f);
      }
    }
    const bool last = round[0]->last;
    for (uint32_t k = 0; k < n; ++k) {
      round[k]->items.clear();
      round[k]->commits.clear();
      const bool pushed = shards[k]->out_free->TryPush(round[k]);  // sized for the pool
      assert(pushed);
      (void)pushed;
      round[k] = nullptr;
    }
    rounds_done.fetch_add(1, std::memory_order_release);
    producer_bell.Ring();
    if (last) return;
  }
}

// Hands every shard's part of the round's `index`th commit to the hook,
// unless a shard failed before it (then no commit follows: the state on disk
// stays at the last good cut).
void ShardedDetector::Impl::FireCommit(const std::vector<OutBatch*>& round, size_t index) {
  parts.resize(n);
  bool ok = !commits_stopped;
  rules::WindowsDropped dropped;
  for (uint32_t k = 0; k < n; ++k) {
    CommitPart& c = round[k]->commits[index];
    ok = ok && c.ok;
    parts[k] = std::move(c.part);
    dropped.Add(c.dropped);
  }
  const uint64_t number = round[0]->commits[index].commit;
  if (!ok) {
    commits_stopped = true;
  } else if (options.state.on_commit) {
    options.state.on_commit(number, parts, dropped);
  }
  for (auto& p : parts) p.Clear();
}

// ---- ShardedDetector ----

ShardedDetector::ShardedDetector(ShardedDetectorOptions options, FindingSink sink)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sink))) {
  assert(impl_->options.rules != nullptr && impl_->options.site != nullptr);
  impl_->Start();
}

ShardedDetector::~ShardedDetector() { Finish(); }

void ShardedDetector::OnEvent(const Event& e) {
  Impl& m = *impl_;
  m.CheckRules();
  ++m.stats.events;
  const uint64_t seq = m.next_seq++;
  if (IsHostFlow(e)) {
    m.owners.clear();
    m.sessions.LiveCredentialsOnHost(e, &m.owners);
    if (m.owners.empty()) {
      m.Route(e, {}, EventTag{seq, 0, kUnobserved});
    } else {
      for (size_t k = 0; k < m.owners.size(); ++k) {
        m.Route(e, m.owners[k], EventTag{seq, static_cast<uint32_t>(k), kFlowCopy});
      }
    }
  } else {
    m.sessions.Observe(e);
    m.Route(e, {}, EventTag{seq, 0, 0});
  }
  if (m.round_full) m.SendRound(false);
}

void ShardedDetector::OnWatermark(int64_t time_ns) {
  impl_->CheckRules();
  impl_->AddMarker(true, time_ns, nullptr);
}

void ShardedDetector::OnCommitPoint(uint64_t commit) {
  Impl& m = *impl_;
  if (m.finished) return;
  m.CheckRules();
  m.AddMarker(false, 0, nullptr, commit);
  m.SendRound(false);
}

void ShardedDetector::CommitLanded(uint64_t commit) {
  std::atomic<uint64_t>& landed = impl_->landed;
  uint64_t was = landed.load(std::memory_order_relaxed);
  while (was < commit && !landed.compare_exchange_weak(was, commit, std::memory_order_release)) {
  }
}

void ShardedDetector::ObserveSkipped(const Event& e) {
  if (!IsHostFlow(e)) impl_->sessions.Observe(e);
}

absl::Status ShardedDetector::RestoreState() {
  // The shard threads touch their state only once a round reaches them; the
  // ring that carries it publishes what this thread restored.
  for (auto& s : impl_->shards) {
    if (!s->state) continue;
    if (absl::Status st = s->state->Restore(*s->evaluator); !st.ok()) return st;
  }
  return absl::OkStatus();
}

bool ShardedDetector::ok() const { return !impl_->failed.load(std::memory_order_acquire); }

absl::Status ShardedDetector::status() const {
  for (const auto& s : impl_->shards) {
    if (!s->status.ok()) return s->status;
  }
  return absl::OkStatus();
}

void ShardedDetector::Flush() {
  Impl& m = *impl_;
  if (m.finished) return;
  m.CheckRules();
  m.SendRound(false);
  const uint64_t target = m.rounds_sent;
  while (m.rounds_done.load(std::memory_order_acquire) < target) {
    const uint32_t key = m.producer_bell.PrepareWait();
    if (m.rounds_done.load(std::memory_order_acquire) >= target) {
      m.producer_bell.CancelWait();
      break;
    }
    m.producer_bell.Wait(key);
  }
}

void ShardedDetector::Finish(uint64_t final_commit) {
  Impl& m = *impl_;
  if (m.finished) return;
  m.finished = true;
  m.AddMarker(true, INT64_MAX, nullptr);
  if (final_commit != 0) m.AddMarker(false, 0, nullptr, final_commit);
  m.SendRound(true);
  m.output_thread.join();
  for (auto& s : m.shards) s->thread.join();
}

int ShardedDetector::num_shards() const { return static_cast<int>(impl_->n); }

const alert::AlertFolder& ShardedDetector::folder() const { return impl_->folder; }

alert::AlertFolder& ShardedDetector::mutable_folder() { return impl_->folder; }

ShardedDetectorStats ShardedDetector::stats() const {
  ShardedDetectorStats st = impl_->stats;
  st.shard_events.clear();
  st.forwarded = 0;
  for (const auto& s : impl_->shards) {
    st.shard_events.push_back(s->owned_events);
    st.forwarded += s->forwarded;
    st.windows_dropped.Add(s->WindowsDropped());
  }
  return st;
}

}  // namespace credwatch::runtime
