#include "credwatch/event_batch.h"

#include <algorithm>
#include <cstddef>
#include <type_traits>

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

static_assert(std::is_trivially_copyable_v<Event> && std::is_standard_layout_v<Event>);
static_assert(offsetof(Event, extras) + sizeof(Event::extras) == sizeof(Event), "extras come last");

Event& EventBatch::AddCopy(const Event& src) {
  if (size_ == events_.size()) events_.emplace_back();
  Event* dst = &events_[size_++];
  // Most of an Event is its extras array: copy only the extras in use.
  std::memcpy(static_cast<void*>(dst), &src, offsetof(Event, extras));
  std::memcpy(static_cast<void*>(dst->extras.data()), src.extras.data(),
              static_cast<size_t>(src.num_extras) * sizeof(ExtraField));
  std::string_view* fields[] = {&dst->credential, &dst->tenant,      &dst->host,
                                &dst->session,    &dst->object,      &dst->object_tenant,
                                &dst->dst_account, &dst->user_agent, &dst->format,
                                &dst->source,     &dst->src_ip_text, &dst->dst_ip_text};
  size_t total = 0;
  for (const std::string_view* f : fields) total += f->size();
  for (int i = 0; i < dst->num_extras; ++i) total += dst->extras[i].value.size();
  if (total == 0) return *dst;
  char* p = arena_.Allocate(total);
  auto move_in = [&p](std::string_view* v) {
    if (v->empty()) {
      *v = {};
      return;
    }
    std::memcpy(p, v->data(), v->size());
    *v = std::string_view(p, v->size());
    p += v->size();
  };
  for (std::string_view* f : fields) move_in(f);
  for (int i = 0; i < dst->num_extras; ++i) move_in(&dst->extras[i].value);
  return *dst;
}

size_t Arena::bytes_reserved() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.size;
  return total;
}

}  // namespace credwatch
