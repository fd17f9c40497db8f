// The records of a replay's durable state besides profiles: where the merge
// and every input stand (family `positions`), what the output file holds
// (`positions`), the run that owns the state (`meta`) and the detections the
// alert folder has seen (`windows`). docs/state.md describes them for users.
// Value types; thread-compatible.
#ifndef CREDWATCH_STATE_RECORDS_H_
#define CREDWATCH_STATE_RECORDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "credwatch/detection.h"

namespace credwatch::state {

// Keys.
inline constexpr std::string_view kCursorKey = "cursor";        // positions
inline constexpr std::string_view kInputKeyPrefix = "input/";   // positions, + index (BE)
inline constexpr std::string_view kOutputKey = "output";        // positions
inline constexpr std::string_view kRunKey = "run";              // meta
inline constexpr std::string_view kEvaluatorKeyPrefix = "evaluator/";  // windows, + shard
inline constexpr std::string_view kDetectionKeyPrefix = "detection/";  // journal, + seq (BE)
inline constexpr std::string_view kGroupKeyPrefix = "group/";  // windows, + Evaluator record key
inline constexpr std::string_view kShardsKey = "shards";  // meta: shards of the windows (absent: 1)

// The correlation windows (family `windows`): a header (kWindowsTag,
// kWindowsVersion, then Evaluator::SerializeChanges' header) and the
// Evaluator's records (a group's, and one per value and evidence of it).
// The one-shard detector (state::DurableDetector): the header at
// "evaluator/0", the records under kGroupKeyPrefix + Evaluator record key.
// Shard k of n (state::DurableShardState): ShardEvaluatorKey and
// ShardGroupPrefix + Evaluator record key.
inline constexpr char kWindowsTag = 'W';
inline constexpr char kWindowsVersion = 4;  // 3: one record per group; 4: and its lists' items
std::string ShardEvaluatorKey(uint32_t shard, uint32_t num_shards);  // "evaluator/<k>of<n>"
std::string ShardGroupPrefix(uint32_t shard);                        // "group/#" + shard (BE)
// Whether a windows header is of the format this build reads (else the
// windows are rebuilt from the log).
inline bool ReadableWindowsHeader(std::string_view value) {
  return value.size() >= 2 && value[0] == kWindowsTag && value[1] == kWindowsVersion;
}

// Which file an input is: a changed or replaced file must not be resumed
// as if it were the same.
struct FileIdentity {
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  uint64_t fingerprint = 0;      // FixedHash of the first fingerprint_bytes
  uint32_t fingerprint_bytes = 0;
  bool readable = false;         // false: could not be opened (nothing to compare)

  // "" when `now` is the same file as `this` (committed); else what differs.
  std::string Difference(const FileIdentity& now) const;
};
// stat() plus a hash of the first 4 KiB as stored on disk (compressed for .gz).
FileIdentity IdentifyFile(const std::string& path);

// Where one input stands at the committed cut.
struct InputCursor {
  FileIdentity identity;
  // Every record of the input before this byte offset (in the decompressed
  // stream) has been delivered to the engine. Records after it may have
  // been delivered already: the merge reorders within max_disorder.
  uint64_t next_offset = 0;
  uint64_t events_read = 0;  // events decoded from the input so far
  bool done = false;         // the input is exhausted
};

std::string InputKey(uint32_t index);
std::string EncodeInputCursor(const InputCursor& c);
absl::StatusOr<InputCursor> DecodeInputCursor(std::string_view bytes);

// The consistent cut of a commit: the state reflects exactly the first
// `events` merged events and the first `watermarks` watermarks. The inputs'
// records (InputKey(0 .. inputs-1)) are written in the same batch when they
// changed.
struct Cursor {
  uint64_t commits = 0;
  uint64_t events = 0;
  uint64_t watermarks = 0;
  int64_t watermark_ns = INT64_MIN;
  uint64_t detections = 0;  // detections journaled for the alert folder
  uint32_t inputs = 0;
  bool finished = false;    // every input was exhausted and the end processed
};
std::string EncodeCursor(const Cursor& c);
absl::StatusOr<Cursor> DecodeCursor(std::string_view bytes);

// The sink: the committed length of the output file (every alert before it
// is written and confirmed) and the outbox sequence numbers.
struct OutputState {
  std::string path;           // "" = stdout
  uint64_t confirmed_bytes = 0;
  uint64_t next_seq = 0;      // sequence number of the next alert into the outbox
};
std::string EncodeOutputState(const OutputState& o);
absl::StatusOr<OutputState> DecodeOutputState(std::string_view bytes);

// What a state belongs to: a resumed run must be the same run.
struct RunIdentity {
  uint64_t fingerprint = 0;   // of the inputs list, config, rules and options
  std::string description;    // for messages: "3 inputs, rules rules/, config x.yaml"
};
std::string EncodeRunIdentity(const RunIdentity& r);
absl::StatusOr<RunIdentity> DecodeRunIdentity(std::string_view bytes);

// A detection in the folder journal.
// `evidences` false leaves d.evidences out (AlertFolder::UsesEvidences).
//
// Version 2 (written since session 7) names the detection's rule, its id,
// title and ATT&CK ids, by a 64-bit hash of the three (JournalRuleRef),
// and the rule itself is a record of its own under kJournalRuleKeyPrefix,
// written once per run (JournalWriter): about 100 bytes less per detection,
// most of the journal on a busy log. Version 1 (EncodeDetectionV1, all
// inline) is still read. Two different rules with the same 64-bit hash
// would share a record (negligible: a few hundred rule versions against
// 2^64).
struct JournalRule {
  std::string id;
  std::string title;
  std::vector<std::string> attacks;
};
using JournalRules = absl::flat_hash_map<uint64_t, JournalRule>;
inline constexpr std::string_view kJournalRuleKeyPrefix = "rule/";  // journal, + ref (BE)
// Appends the rule record of `d` to `*out`; JournalRuleRef is its hash.
void EncodeJournalRule(const Detection& d, std::string* out);
uint64_t JournalRuleRef(std::string_view rule_record);
// Adds a rule record to `rules`; DataLoss when damaged.
absl::Status DecodeJournalRule(std::string_view key, std::string_view bytes, JournalRules* rules);
// Appends the version-2 record to `*out`.
void EncodeDetection(const Detection& d, bool evidences, uint64_t rule_ref, std::string* out);
std::string EncodeDetectionV1(const Detection& d, bool evidences = true);
// Either version; `rules` resolves a version-2 record's rule.
absl::StatusOr<Detection> DecodeDetection(std::string_view bytes, const JournalRules& rules);

// A journal chunk (state format 4): the detections of one commit as one
// record, under kJournalChunkKeyPrefix + the first one's seq; the others
// follow in seq order. A replay journals in chunks (JournalWriter): one key
// per commit instead of one per detection, which the write-ahead log, the
// memtable and the files handle with far less work (measured: about 4% of
// a 10M-event replay's throughput). The daemon, which forgets detections
// one by one, keeps a record each (kDetectionKeyPrefix).
// Value: kChunkTag, version, varint count, then each detection's record
// (EncodeDetection) behind its varint length.
inline constexpr std::string_view kJournalChunkKeyPrefix = "chunk/";  // journal, + first seq (BE)
// Appends a chunk of `count` detections, `records` holding their records
// each behind its varint length, to `*out`.
void EncodeJournalChunk(uint64_t count, std::string_view records, std::string* out);
// The number of detections in a chunk; DataLoss when its header is damaged.
absl::StatusOr<uint64_t> JournalChunkSize(std::string_view bytes);
// Calls `fn` with each detection of a chunk, in order; DataLoss when damaged.
absl::Status DecodeJournalChunk(std::string_view bytes, const JournalRules& rules,
                                const std::function<void(const Detection&)>& fn);

}  // namespace credwatch::state

#endif  // CREDWATCH_STATE_RECORDS_H_
