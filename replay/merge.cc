// The event-time merge of replay (see replay.h).
#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <queue>

#include "absl/strings/str_cat.h"
#include "credwatch/event_batch.h"
#include "credwatch/site.h"
#include "replay/replay.h"

namespace credwatch::replay {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

struct PooledBatch {
  EventBatch batch;
  size_t pending = 0;  // events not yet handed on
};

struct Pending {
  int64_t time;
  uint32_t input;
  uint64_t seq;
  Event* event;
  PooledBatch* batch;
  // Min-heap on (time, input, seq).
  bool operator>(const Pending& o) const {
    if (time != o.time) return time > o.time;
    if (input != o.input) return input > o.input;
    return seq > o.seq;
  }
};

struct InputState {
  std::unique_ptr<InputReader> reader;
  int64_t max_time = kNoTime;
  bool done = false;
  uint64_t seq = 0;
  int64_t Watermark(int64_t disorder) const {
    if (done) return std::numeric_limits<int64_t>::max();
    if (max_time == kNoTime) return kNoTime;
    return max_time - disorder;
  }
};

}  // namespace

absl::StatusOr<ReplaySummary> MergeInputs(const ReplayOptions& options, EventConsumer& consumer) {
  auto start = std::chrono::steady_clock::now();
  ReplaySummary summary;
  auto files = ExpandInputs(options.inputs.empty() ? std::vector<std::string>{"-"} : options.inputs);
  if (!files.ok()) return files.status();

  auto site = Site::Create(options.config.site);
  if (!site.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(options.config.path, ": ", site.status().message()));
  }
  std::unique_ptr<DeadLetterWriter> dead_letter;
  if (!options.config.dead_letter.empty()) {
    auto dl = DeadLetterWriter::Open(options.config.dead_letter);
    if (!dl.ok()) return dl.status();
    dead_letter = std::move(*dl);
  }
  InputOptions in_opts;
  in_opts.format = options.format;
  in_opts.decoder.limits = options.config.limits;
  in_opts.decoder.mapping_file = options.mapping_file;
  in_opts.projection_for = options.projection_for;
  in_opts.site = *site;
  in_opts.dead_letter = dead_letter.get();

  std::vector<InputState> inputs;
  for (const std::string& f : *files) {
    auto reader = InputReader::Open(f, in_opts);
    if (!reader.ok()) {
      summary.input_errors.push_back(std::string(reader.status().message()));
      continue;
    }
    InputState s;
    s.reader = std::move(*reader);
    inputs.push_back(std::move(s));
  }
  summary.inputs = static_cast<int64_t>(inputs.size());

  const int64_t disorder = options.config.replay.max_disorder_ns;
  std::vector<std::unique_ptr<PooledBatch>> pool;
  // A priority queue whose pending events the cursor can look at.
  struct PendingHeap : std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> {
    const std::vector<Pending>& items() const { return c; }
  } heap;
  int64_t last_emitted = kNoTime;

  auto release = [&](PooledBatch* b) {
    b->batch.Clear();
    for (auto& p : pool) {
      if (!p) {
        p.reset(b);
        return;
      }
    }
    pool.emplace_back(b);
  };
  auto acquire = [&]() -> PooledBatch* {
    for (auto& p : pool) {
      if (p) return p.release();
    }
    return new PooledBatch();
  };
  // Events per format and action, counted without a map lookup per event
  // (a handful of formats: a short list, most recent first).
  std::vector<std::pair<std::string_view, int64_t>> by_format;
  std::array<int64_t, 256> by_action{};
  auto count_format = [&by_format](std::string_view f) {
    for (auto& [name, n] : by_format) {
      if (name.size() == f.size() && (name.data() == f.data() || name == f)) {
        ++n;
        return;
      }
    }
    by_format.emplace_back(f, 1);  // f points at a static name (FormatName)
  };
  auto emit_until = [&](int64_t watermark) {
    while (!heap.empty() && heap.top().time <= watermark) {
      Pending p = heap.top();
      heap.pop();
      last_emitted = std::max(last_emitted, p.time);
      Event& e = *p.event;
      count_format(e.format);
      ++by_action[static_cast<uint8_t>(e.action)];
      ++summary.events_out;
      consumer.OnEvent(e);
      if (--p.batch->pending == 0) release(p.batch);
    }
    if (watermark != kNoTime && watermark != std::numeric_limits<int64_t>::max()) {
      consumer.OnWatermark(watermark);
    }
  };

  consumer.AttachCursor([&](std::vector<MergeInputPosition>* out) {
    out->resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      MergeInputPosition& pos = (*out)[i];
      pos.path = inputs[i].reader->path();
      pos.next_offset = inputs[i].reader->next_record_offset();
      pos.events_read = inputs[i].seq;
      pos.done = inputs[i].done;
    }
    for (const Pending& p : heap.items()) {
      MergeInputPosition& pos = (*out)[p.input];
      pos.next_offset = std::min<uint64_t>(pos.next_offset, p.event->source_offset);
    }
  });
  while (consumer.WantsMore()) {
    // Read from the input that holds the merge back the most (ties: the first).
    int next = -1;
    int64_t lowest = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].done) continue;
      int64_t w = inputs[i].Watermark(disorder);
      if (next < 0 || w < lowest) {
        next = static_cast<int>(i);
        lowest = w;
      }
    }
    if (next < 0) break;
    InputState& in = inputs[static_cast<size_t>(next)];
    PooledBatch* pb = acquire();
    if (!in.reader->ReadBatch(pb->batch, summary.input)) {
      in.done = true;
      release(pb);
    } else if (pb->batch.empty()) {
      release(pb);
    } else {
      pb->pending = pb->batch.size();
      for (Event& e : pb->batch) {
        if (last_emitted != kNoTime && e.time_ns < last_emitted) ++summary.late_events;
        in.max_time = std::max(in.max_time, e.time_ns);
        heap.push(Pending{e.time_ns, static_cast<uint32_t>(next), in.seq++, &e, pb});
      }
    }
    int64_t watermark = std::numeric_limits<int64_t>::max();
    for (const auto& s : inputs) watermark = std::min(watermark, s.Watermark(disorder));
    if (watermark != kNoTime) emit_until(watermark);
  }
  if (consumer.WantsMore()) emit_until(std::numeric_limits<int64_t>::max());
  auto status = consumer.Finish();
  for (const auto& [name, n] : by_format) summary.events_by_format[std::string(name)] += n;
  for (size_t a = 0; a < by_action.size(); ++a) {
    if (by_action[a] == 0) continue;
    std::string_view name = ActionName(static_cast<Action>(a));
    summary.events_by_action[std::string(name.empty() ? "unknown" : name)] += by_action[a];
  }
  // A consumer that stopped early (disk full) leaves batches with events it
  // never took; they belong to no pool, so free them here.
  std::vector<PooledBatch*> in_flight;
  for (const Pending& p : heap.items()) in_flight.push_back(p.batch);
  std::sort(in_flight.begin(), in_flight.end());
  in_flight.erase(std::unique(in_flight.begin(), in_flight.end()), in_flight.end());
  for (PooledBatch* b : in_flight) delete b;
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) return status;
  return summary;
}

}  // namespace credwatch::replay
