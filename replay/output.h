// A buffered line writer to a file or stdout. Write errors are sticky and
// reported by Close(), with the path and the reason (disk full, ...).
// Not thread-safe.
#ifndef CREDWATCH_REPLAY_OUTPUT_H_
#define CREDWATCH_REPLAY_OUTPUT_H_

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace credwatch::replay {

class OutputFile {
 public:
  // "" or "-" is stdout; otherwise the file is created or truncated.
  static absl::StatusOr<std::unique_ptr<OutputFile>> Open(const std::string& path);
  ~OutputFile();
  void Write(std::string_view bytes);
  absl::Status Close();

 private:
  OutputFile(std::FILE* f, std::string path, bool owned) : file_(f), path_(std::move(path)), owned_(owned) {}
  std::FILE* file_;
  std::string path_;
  bool owned_;
  bool failed_ = false;
  int error_ = 0;
};

}  // namespace credwatch::replay

#endif  // CREDWATCH_REPLAY_OUTPUT_H_
