// Factories of the built-in decoders; MakeDecoder (credwatch/decoder.h)
// dispatches to these. Internal header.
#ifndef CREDWATCH_DECODE_DECODERS_H_
#define CREDWATCH_DECODE_DECODERS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "credwatch/decoder.h"

namespace credwatch::decode {

std::unique_ptr<Decoder> MakeCloudTrailDecoder(const DecoderOptions& options);
std::unique_ptr<Decoder> MakeNativeDecoder(const DecoderOptions& options);
std::unique_ptr<Decoder> MakeJournaldDecoder(const DecoderOptions& options);
std::unique_ptr<Decoder> MakeSyslogDecoder(const DecoderOptions& options);
std::unique_ptr<Decoder> MakeOcsfDecoder(const DecoderOptions& options);
// Fails with file, line and reason when the mapping YAML is invalid.
absl::StatusOr<std::unique_ptr<Decoder>> MakeMappingDecoder(const DecoderOptions& options);

}  // namespace credwatch::decode

#endif  // CREDWATCH_DECODE_DECODERS_H_
