#include "state/records.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/fixed_hash.h"
#include "state/encoding.h"

namespace credwatch::state {
namespace {

constexpr size_t kFingerprintBytes = 4096;
constexpr uint64_t kFingerprintSeed = 0xF11E;

constexpr uint8_t kCursorTag = 'K', kCursorVersion = 1;
constexpr uint8_t kInputTag = 'I', kInputVersion = 1;
constexpr uint8_t kOutputTag = 'O', kOutputVersion = 1;
constexpr uint8_t kRunTag = 'R', kRunVersion = 1;
constexpr uint8_t kDetectionTag = 'D', kDetectionVersion1 = 1, kDetectionVersion = 2;
constexpr uint8_t kChunkTag = 'C', kChunkVersion = 1;
constexpr uint8_t kJournalRuleTag = 'U', kJournalRuleVersion = 1;
constexpr uint64_t kJournalRuleSeed = 0x7275;

void PutHeader(std::string* out, uint8_t tag, uint8_t version) {
  PutFixed<uint8_t>(out, tag);
  PutFixed<uint8_t>(out, version);
}

bool GetHeader(Decoder& in, uint8_t tag, uint8_t version) {
  uint8_t t = 0, v = 0;
  return in.Get(&t) && t == tag && in.Get(&v) && v == version;
}

absl::Status Damaged(std::string_view what) {
  return absl::DataLossError(absl::StrCat("damaged ", Sv(what), " record"));
}

}  // namespace

std::string FileIdentity::Difference(const FileIdentity& now) const {
  if (path != now.path) return absl::StrCat("path was '", path, "', is '", now.path, "'");
  if (readable != now.readable) return readable ? "it can no longer be read" : "it can be read now";
  if (!readable) return "";
  if (device != now.device || inode != now.inode) return "it is another file (device or inode differ)";
  if (fingerprint != now.fingerprint || fingerprint_bytes != now.fingerprint_bytes) {
    return "its first bytes differ";
  }
  if (size != now.size) return absl::StrCat("its size was ", size, " bytes, is ", now.size);
  return "";
}

FileIdentity IdentifyFile(const std::string& path) {
  FileIdentity id;
  id.path = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return id;
  struct stat st;
  if (::fstat(fd, &st) == 0) {
    id.device = static_cast<uint64_t>(st.st_dev);
    id.inode = static_cast<uint64_t>(st.st_ino);
    id.size = static_cast<uint64_t>(st.st_size);
    char buf[kFingerprintBytes];
    size_t got = 0;
    while (got < sizeof(buf)) {
      ssize_t n = ::read(fd, buf + got, sizeof(buf) - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    id.fingerprint = FixedHash(buf, got, kFingerprintSeed);
    id.fingerprint_bytes = static_cast<uint32_t>(got);
    id.readable = true;
  }
  ::close(fd);
  return id;
}

std::string InputKey(uint32_t index) { return SeqKey(kInputKeyPrefix, index); }

std::string ShardEvaluatorKey(uint32_t shard, uint32_t num_shards) {
  return std::string(kEvaluatorKeyPrefix) + std::to_string(shard) + "of" + std::to_string(num_shards);
}

std::string ShardGroupPrefix(uint32_t shard) {
  std::string out(kGroupKeyPrefix);
  out.push_back('#');
  out.push_back(static_cast<char>((shard >> 8) & 0xff));
  out.push_back(static_cast<char>(shard & 0xff));
  return out;
}

std::string EncodeInputCursor(const InputCursor& in) {
  std::string out;
  PutHeader(&out, kInputTag, kInputVersion);
  const FileIdentity& id = in.identity;
  PutString(&out, id.path);
  PutFixed<uint8_t>(&out, id.readable ? 1 : 0);
  PutFixed<uint64_t>(&out, id.device);
  PutFixed<uint64_t>(&out, id.inode);
  PutFixed<uint64_t>(&out, id.size);
  PutFixed<uint64_t>(&out, id.fingerprint);
  PutFixed<uint32_t>(&out, id.fingerprint_bytes);
  PutFixed<uint64_t>(&out, in.next_offset);
  PutFixed<uint64_t>(&out, in.events_read);
  PutFixed<uint8_t>(&out, in.done ? 1 : 0);
  return out;
}

absl::StatusOr<InputCursor> DecodeInputCursor(std::string_view bytes) {
  Decoder in(bytes);
  InputCursor ic;
  FileIdentity& id = ic.identity;
  uint8_t readable = 0, done = 0;
  if (!GetHeader(in, kInputTag, kInputVersion) || !in.GetString(&id.path) || !in.Get(&readable) ||
      !in.Get(&id.device) || !in.Get(&id.inode) || !in.Get(&id.size) ||
      !in.Get(&id.fingerprint) || !in.Get(&id.fingerprint_bytes) || !in.Get(&ic.next_offset) ||
      !in.Get(&ic.events_read) || !in.Get(&done) || !in.Done()) {
    return Damaged("input position");
  }
  id.readable = readable != 0;
  ic.done = done != 0;
  return ic;
}

std::string EncodeCursor(const Cursor& c) {
  std::string out;
  PutHeader(&out, kCursorTag, kCursorVersion);
  PutFixed<uint64_t>(&out, c.commits);
  PutFixed<uint64_t>(&out, c.events);
  PutFixed<uint64_t>(&out, c.watermarks);
  PutFixed<int64_t>(&out, c.watermark_ns);
  PutFixed<uint64_t>(&out, c.detections);
  PutFixed<uint32_t>(&out, c.inputs);
  PutFixed<uint8_t>(&out, c.finished ? 1 : 0);
  return out;
}

absl::StatusOr<Cursor> DecodeCursor(std::string_view bytes) {
  Decoder in(bytes);
  Cursor c;
  uint8_t finished = 0;
  if (!GetHeader(in, kCursorTag, kCursorVersion) || !in.Get(&c.commits) || !in.Get(&c.events) ||
      !in.Get(&c.watermarks) || !in.Get(&c.watermark_ns) || !in.Get(&c.detections) ||
      !in.Get(&c.inputs) || !in.Get(&finished) || !in.Done()) {
    return Damaged("cursor");
  }
  c.finished = finished != 0;
  return c;
}

std::string EncodeOutputState(const OutputState& o) {
  std::string out;
  PutHeader(&out, kOutputTag, kOutputVersion);
  PutString(&out, o.path);
  PutFixed<uint64_t>(&out, o.confirmed_bytes);
  PutFixed<uint64_t>(&out, o.next_seq);
  return out;
}

absl::StatusOr<OutputState> DecodeOutputState(std::string_view bytes) {
  Decoder in(bytes);
  OutputState o;
  if (!GetHeader(in, kOutputTag, kOutputVersion) || !in.GetString(&o.path) ||
      !in.Get(&o.confirmed_bytes) || !in.Get(&o.next_seq) || !in.Done()) {
    return Damaged("output");
  }
  return o;
}

std::string EncodeRunIdentity(const RunIdentity& r) {
  std::string out;
  PutHeader(&out, kRunTag, kRunVersion);
  PutFixed<uint64_t>(&out, r.fingerprint);
  PutString(&out, r.description);
  return out;
}

absl::StatusOr<RunIdentity> DecodeRunIdentity(std::string_view bytes) {
  Decoder in(bytes);
  RunIdentity r;
  if (!GetHeader(in, kRunTag, kRunVersion) || !in.Get(&r.fingerprint) ||
      !in.GetString(&r.description) || !in.Done()) {
    return Damaged("run");
  }
  return r;
}

std::string EncodeDetectionV1(const Detection& d, bool evidences) {
  std::string out;
  PutHeader(&out, kDetectionTag, kDetectionVersion1);
  PutString(&out, d.rule_id);
  PutString(&out, d.title);
  PutFixed<uint8_t>(&out, static_cast<uint8_t>(d.severity));
  PutStrings(&out, d.attacks);
  PutString(&out, d.group_key);
  PutString(&out, d.credential);
  PutString(&out, d.tenant);
  PutString(&out, d.src_ip);
  PutFixed<int64_t>(&out, d.time_ns);
  PutFixed<int64_t>(&out, d.first_seen_ns);
  PutFixed<int64_t>(&out, d.last_seen_ns);
  PutStrings(&out, evidences ? d.evidences : std::vector<std::string>{});
  const BlastRadius& b = d.blast;
  PutStrings(&out, b.tenants);
  PutStrings(&out, b.objects);
  PutStrings(&out, b.destinations);
  PutFixed<int64_t>(&out, b.objects_total);
  PutFixed<int64_t>(&out, b.bytes);
  PutFixed<int64_t>(&out, b.records);
  return out;
}

void EncodeJournalRule(const Detection& d, std::string* out) {
  PutHeader(out, kJournalRuleTag, kJournalRuleVersion);
  PutVarString(out, d.rule_id);
  PutVarString(out, d.title);
  PutVarStrings(out, d.attacks);
}

uint64_t JournalRuleRef(std::string_view rule_record) { return FixedHash(rule_record, kJournalRuleSeed); }

absl::Status DecodeJournalRule(std::string_view key, std::string_view bytes, JournalRules* rules) {
  Decoder in(bytes);
  JournalRule r;
  const uint64_t ref = SeqFromKey(key, kJournalRuleKeyPrefix);
  if (!GetHeader(in, kJournalRuleTag, kJournalRuleVersion) || !in.GetVarString(&r.id) ||
      !in.GetVarString(&r.title) || !in.GetVarStrings(&r.attacks) || !in.Done() ||
      JournalRuleRef(bytes) != ref) {
    return Damaged("journal rule");
  }
  (*rules)[ref] = std::move(r);
  return absl::OkStatus();
}

namespace {
// Times as their distance from the detection's time: a few bytes each.
uint64_t TimeDelta(int64_t t, int64_t base) {
  return ZigZag(static_cast<int64_t>(static_cast<uint64_t>(t) - static_cast<uint64_t>(base)));
}
int64_t FromDelta(uint64_t delta, int64_t base) {
  return static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(UnZigZag(delta)));
}
}  // namespace

void EncodeDetection(const Detection& d, bool evidences, uint64_t rule_ref, std::string* out) {
  PutHeader(out, kDetectionTag, kDetectionVersion);
  PutFixed<uint64_t>(out, rule_ref);
  PutFixed<uint8_t>(out, static_cast<uint8_t>(d.severity));
  PutVarString(out, d.group_key);
  PutVarString(out, d.credential);
  PutVarString(out, d.tenant);
  PutVarString(out, d.src_ip);
  PutFixed<int64_t>(out, d.time_ns);
  PutVarint(out, TimeDelta(d.first_seen_ns, d.time_ns));
  PutVarint(out, TimeDelta(d.last_seen_ns, d.time_ns));
  if (evidences) {
    PutVarStrings(out, d.evidences);
  } else {
    PutVarint(out, 0);
  }
  const BlastRadius& b = d.blast;
  PutVarStrings(out, b.tenants);
  PutVarStrings(out, b.objects);
  PutVarStrings(out, b.destinations);
  PutVarint(out, ZigZag(b.objects_total));
  PutVarint(out, ZigZag(b.bytes));
  PutVarint(out, ZigZag(b.records));
}

namespace {

absl::StatusOr<Detection> DecodeDetectionV2(Decoder& in, const JournalRules& rules) {
  Detection d;
  uint64_t ref = 0, first = 0, last = 0, objects_total = 0, bytes = 0, records = 0;
  uint8_t severity = 0;
  BlastRadius& b = d.blast;
  if (!in.Get(&ref) || !in.Get(&severity) || !in.GetVarString(&d.group_key) ||
      !in.GetVarString(&d.credential) || !in.GetVarString(&d.tenant) || !in.GetVarString(&d.src_ip) ||
      !in.Get(&d.time_ns) || !in.GetVarint(&first) || !in.GetVarint(&last) ||
      !in.GetVarStrings(&d.evidences) || !in.GetVarStrings(&b.tenants) || !in.GetVarStrings(&b.objects) ||
      !in.GetVarStrings(&b.destinations) || !in.GetVarint(&objects_total) || !in.GetVarint(&bytes) ||
      !in.GetVarint(&records) || !in.Done() || severity < 1 || severity > 5) {
    return Damaged("detection");
  }
  auto rule = rules.find(ref);
  if (rule == rules.end()) return Damaged("detection (its rule record is missing)");
  d.rule_id = rule->second.id;
  d.title = rule->second.title;
  d.attacks = rule->second.attacks;
  d.severity = static_cast<Severity>(severity);
  d.first_seen_ns = FromDelta(first, d.time_ns);
  d.last_seen_ns = FromDelta(last, d.time_ns);
  b.objects_total = UnZigZag(objects_total);
  b.bytes = UnZigZag(bytes);
  b.records = UnZigZag(records);
  return d;
}

}  // namespace

absl::StatusOr<Detection> DecodeDetection(std::string_view bytes, const JournalRules& rules) {
  Decoder in(bytes);
  uint8_t tag = 0, version = 0;
  if (!in.Get(&tag) || tag != kDetectionTag || !in.Get(&version)) return Damaged("detection");
  if (version == kDetectionVersion) return DecodeDetectionV2(in, rules);
  if (version != kDetectionVersion1) return Damaged("detection");
  Detection d;
  uint8_t severity = 0;
  BlastRadius& b = d.blast;
  if (!in.GetString(&d.rule_id) ||
      !in.GetString(&d.title) || !in.Get(&severity) || !in.GetStrings(&d.attacks) ||
      !in.GetString(&d.group_key) || !in.GetString(&d.credential) || !in.GetString(&d.tenant) ||
      !in.GetString(&d.src_ip) || !in.Get(&d.time_ns) || !in.Get(&d.first_seen_ns) ||
      !in.Get(&d.last_seen_ns) || !in.GetStrings(&d.evidences) || !in.GetStrings(&b.tenants) ||
      !in.GetStrings(&b.objects) || !in.GetStrings(&b.destinations) ||
      !in.Get(&b.objects_total) || !in.Get(&b.bytes) || !in.Get(&b.records) || !in.Done() ||
      severity < 1 || severity > 5) {
    return Damaged("detection");
  }
  d.severity = static_cast<Severity>(severity);
  return d;
}

void EncodeJournalChunk(uint64_t count, std::string_view records, std::string* out) {
  PutHeader(out, kChunkTag, kChunkVersion);
  PutVarint(out, count);
  out->append(records.data(), records.size());
}

namespace {
// Reads a chunk's header; each detection takes at least its length byte.
bool GetChunkHeader(Decoder& in, size_t size, uint64_t* count) {
  uint8_t tag = 0, version = 0;
  return in.Get(&tag) && tag == kChunkTag && in.Get(&version) && version == kChunkVersion &&
         in.GetVarint(count) && *count <= size;
}
}  // namespace

absl::StatusOr<uint64_t> JournalChunkSize(std::string_view bytes) {
  Decoder in(bytes);
  uint64_t count = 0;
  if (!GetChunkHeader(in, bytes.size(), &count)) return Damaged("journal chunk");
  return count;
}

absl::Status DecodeJournalChunk(std::string_view bytes, const JournalRules& rules,
                                const std::function<void(const Detection&)>& fn) {
  Decoder in(bytes);
  uint64_t count = 0;
  if (!GetChunkHeader(in, bytes.size(), &count)) return Damaged("journal chunk");
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view record;
    if (!in.GetVarBytes(&record)) return Damaged("journal chunk");
    auto d = DecodeDetection(record, rules);
    if (!d.ok()) return d.status();
    fn(*d);
  }
  if (!in.Done()) return Damaged("journal chunk");
  return absl::OkStatus();
}

}  // namespace credwatch::state
