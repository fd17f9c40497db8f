#include "credwatch/event_batch.h"

#include <algorithm>

namespace credwatch {

void Arena::Reset() {
  next_chunk_ = 0;
  cursor_ = nullptr;
  remaining_ = 0;
}

void Arena::NewChunk(size_t min_size) {
  // Reuse a kept chunk when it is large enough; oversized requests get their own.
  while (next_chunk_ < chunks_.size()) {
    Chunk& c = chunks_[next_chunk_++];
    if (c.size >= min_size) {
      cursor_ = c.data.get();
      remaining_ = c.size;
      return;
    }
  }
  size_t size = std::max(chunk_size_, min_size);
  chunks_.push_back(Chunk{std::make_unique<char[]>(size), size});
  next_chunk_ = chunks_.size();
  cursor_ = chunks_.back().data.get();
  remaining_ = size;
}

size_t Arena::bytes_reserved() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.size;
  return total;
}

}  // namespace credwatch
