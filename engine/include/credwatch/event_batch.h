// EventBatch: a reusable block of decoded events and the bytes they point to.
//
//   credwatch::EventBatch batch;
//   Event& e = batch.Add();
//   e.credential = batch.arena().Copy(user);
//   ...
//   batch.Clear();  // keeps capacity: no allocation once warmed up
//
// Owns its events and their string storage. Not thread-safe; hand the whole
// batch from one thread to another.
#ifndef CREDWATCH_EVENT_BATCH_H_
#define CREDWATCH_EVENT_BATCH_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "credwatch/event.h"

namespace credwatch {

// Bump allocator in chunks. Reset() keeps the chunks for reuse.
class Arena {
 public:
  explicit Arena(size_t chunk_size = 64 * 1024) : chunk_size_(chunk_size) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) = default;
  Arena& operator=(Arena&&) = default;

  char* Allocate(size_t n) {
    if (n > remaining_) NewChunk(n);
    char* p = cursor_;
    cursor_ += n;
    remaining_ -= n;
    return p;
  }
  std::string_view Copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = Allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  void Reset();
  size_t bytes_reserved() const;

 private:
  void NewChunk(size_t min_size);

  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  size_t chunk_size_;
  std::vector<Chunk> chunks_;
  size_t next_chunk_ = 0;  // chunks_[next_chunk_..] are free for reuse
  char* cursor_ = nullptr;
  size_t remaining_ = 0;
};

class EventBatch {
 public:
  EventBatch() = default;
  EventBatch(const EventBatch&) = delete;
  EventBatch& operator=(const EventBatch&) = delete;

  Event& Add() {
    if (size_ == events_.size()) events_.emplace_back();
    Event& e = events_[size_++];
    e = Event{};
    return e;
  }
  // A copy of `src` (which may point anywhere) whose strings live in this
  // batch's arena: the fields, the extras it uses, its strings in one
  // allocation.
  Event& AddCopy(const Event& src);
  // Drops the last event added (a decoder that gave up half way).
  void PopBack() { --size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Event& operator[](size_t i) { return events_[i]; }
  const Event& operator[](size_t i) const { return events_[i]; }
  Event* begin() { return events_.data(); }
  Event* end() { return events_.data() + size_; }
  const Event* begin() const { return events_.data(); }
  const Event* end() const { return events_.data() + size_; }

  Arena& arena() { return arena_; }
  // The raw input bytes the events of this batch were decoded from; events
  // may point into it, so it lives exactly as long as they do.
  std::vector<char>& raw() { return raw_; }
  void Clear() {
    size_ = 0;
    arena_.Reset();
    raw_.clear();
  }

 private:
  std::vector<Event> events_;
  size_t size_ = 0;
  Arena arena_;
  std::vector<char> raw_;
};

}  // namespace credwatch

#endif  // CREDWATCH_EVENT_BATCH_H_
