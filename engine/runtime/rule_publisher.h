// RuleSetPublisher: where a new compiled rule set is published for running
// shards (design.md, "Shards": "The compiled rule set is immutable and
// published by one atomic pointer swap").
//
//   RuleSetPublisher rules(*rules::LoadRuleSet(paths));
//   ShardedDetector detector(options with .rules = &rules, ...);
//   ...
//   // On SIGHUP (any thread): compile and validate first, keep the old set
//   // if anything is wrong.
//   auto next = rules::LoadRuleSet(paths);
//   if (next.ok()) rules.Publish(*next);
//
// A reader checks version() (one acquire load; cheap enough for every
// event) and calls Current() only when it moved. The ShardedDetector's
// producer does that and carries the new set in-band to every shard, which
// switches at the same point of the event sequence (so output stays
// deterministic). A set is freed when the last holder drops it: the
// publisher holds only the newest, each shard holds the one it runs until it
// reaches the switch.
//
// Thread-safe: Publish and the readers may run on any threads at once.
#ifndef CREDWATCH_RUNTIME_RULE_PUBLISHER_H_
#define CREDWATCH_RUNTIME_RULE_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "credwatch/rules.h"

namespace credwatch::runtime {

class RuleSetPublisher {
 public:
  explicit RuleSetPublisher(std::shared_ptr<const rules::RuleSet> initial)
      : current_(std::move(initial)) {}
  RuleSetPublisher(const RuleSetPublisher&) = delete;
  RuleSetPublisher& operator=(const RuleSetPublisher&) = delete;

  // Replaces the current set (the swap), then moves version().
  void Publish(std::shared_ptr<const rules::RuleSet> next) {
    current_.store(std::move(next), std::memory_order_release);
    version_.fetch_add(1, std::memory_order_release);
  }

  // Moves on every Publish. Read it first, then Current(): a reader that saw
  // version v gets a set at least as new as the v-th.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const rules::RuleSet> Current() const {
    return current_.load(std::memory_order_acquire);
  }

 private:
  std::atomic<std::shared_ptr<const rules::RuleSet>> current_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_RULE_PUBLISHER_H_
