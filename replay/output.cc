#include "replay/output.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace credwatch::replay {

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Open(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::unique_ptr<OutputFile>(new OutputFile(stdout, "stdout", false));
  }
  std::FILE* f = std::fopen(path.c_str(), "we");
  if (!f) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  return std::unique_ptr<OutputFile>(new OutputFile(f, path, true));
}

OutputFile::~OutputFile() {
  if (owned_ && file_) std::fclose(file_);
}

void OutputFile::Write(std::string_view bytes) {
  if (failed_ || bytes.empty()) return;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    failed_ = true;
    error_ = errno;
  }
}

absl::Status OutputFile::Close() {
  if (!failed_ && std::fflush(file_) != 0) {
    failed_ = true;
    error_ = errno;
  }
  if (owned_) {
    if (std::fclose(file_) != 0 && !failed_) {
      failed_ = true;
      error_ = errno;
    }
    file_ = nullptr;
  }
  if (failed_) {
    return absl::DataLossError(absl::StrCat("writing '", path_, "' failed: ", std::strerror(error_)));
  }
  return absl::OkStatus();
}

}  // namespace credwatch::replay
