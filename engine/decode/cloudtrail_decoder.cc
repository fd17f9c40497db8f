// The `cloudtrail` decoder: one AWS CloudTrail record -> one Event.
//
// One pass over the record in document order collects the fields the mapping
// needs (CloudTrail writes eventName before requestParameters, but exports and
// test data often sort keys, so nothing may depend on the order); the Event is
// built from them at the end. The mapping is documented for users in
// docs/formats/cloudtrail.md; keep the two in step.
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "credwatch/decoder.h"
#include "credwatch/event.h"
#include "credwatch/event_batch.h"
#include "credwatch/ip_address.h"
#include "credwatch/time_util.h"
#include "decode/decoders.h"
#include "decode/json_fields.h"
#include "simdjson.h"

namespace credwatch::decode {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kFormatName = "cloudtrail";
constexpr std::string_view kS3ArnPrefix = "arn:aws:s3:::";
// dst.account of a share with everyone (group "all", Principal "*").
constexpr std::string_view kPublic = "*";

bool IsS3(std::string_view event_source) { return Is(event_source, "s3.amazonaws.com"); }

// Account ids found in one record, in document order. Bounded: a record that
// names more accounts keeps the first ones.
struct AccountList {
  static constexpr int kMax = 16;
  std::array<std::string_view, kMax> items;
  int size = 0;

  void Add(std::string_view account) {
    if (!account.empty() && size < kMax) items[size++] = account;
  }
  // The first account that is not `own` ("*" counts as foreign).
  std::string_view FirstForeign(std::string_view own) const {
    for (int i = 0; i < size; ++i) {
      if (items[i] != own) return items[i];
    }
    return {};
  }
};

struct Resource {
  std::string_view arn;
  std::string_view account;
  std::string_view type;
};

// The API calls the mapping treats specially.
enum class Api : uint8_t {
  kOther,
  kLogin,
  kGetObject,
  kPutObject,
  kUploadPart,
  kListObjects,
  kDeleteObject,
  kCopyObject,
  kShareSnapshot,
  kShareImage,
  kShareDbSnapshot,
  kPutBucketPolicy,
  kPutBucketReplication,
};

struct ApiName {
  std::string_view name;
  Api api;
};
constexpr ApiName kApis[] = {
    {"ConsoleLogin", Api::kLogin},
    {"GetSessionToken", Api::kLogin},
    {"GetFederationToken", Api::kLogin},
    {"GetObject", Api::kGetObject},
    {"PutObject", Api::kPutObject},
    {"UploadPart", Api::kUploadPart},
    {"ListObjects", Api::kListObjects},
    {"ListObjectsV2", Api::kListObjects},
    {"ListBucket", Api::kListObjects},
    {"DeleteObject", Api::kDeleteObject},
    {"DeleteObjects", Api::kDeleteObject},
    {"CopyObject", Api::kCopyObject},
    {"UploadPartCopy", Api::kCopyObject},
    {"ModifySnapshotAttribute", Api::kShareSnapshot},
    {"ModifyImageAttribute", Api::kShareImage},
    {"ModifyDBSnapshotAttribute", Api::kShareDbSnapshot},
    {"ModifyDBClusterSnapshotAttribute", Api::kShareDbSnapshot},
    {"PutBucketPolicy", Api::kPutBucketPolicy},
    {"PutBucketReplication", Api::kPutBucketReplication},
};

Api ApiOf(std::string_view name) {
  if (name.starts_with("AssumeRole")) return Api::kLogin;  // AssumeRoleWithSAML, ...
  for (const ApiName& a : kApis) {
    if (a.name == name) return a.api;
  }
  return Api::kOther;
}

// Everything the pass collects. Views into the record or the batch arena.
// Reset per record, so the bounded lists live beside it (only their sizes are
// reset).
struct Fields {
  bool has_time = false;
  Api api = Api::kOther;  // from event_name, once read
  std::string_view event_time;
  std::string_view event_name;
  std::string_view event_source;
  std::string_view source_ip;
  std::string_view user_agent;
  std::string_view error_code;
  std::string_view recipient_account;
  // userIdentity
  std::string_view identity_type;
  std::string_view user_name;
  std::string_view arn;
  std::string_view principal_id;
  std::string_view account_id;
  std::string_view access_key_id;
  std::string_view invoked_by;
  std::string_view issuer_name;  // sessionContext.sessionIssuer.userName
  // requestParameters
  std::string_view bucket;
  std::string_view key;
  std::string_view copy_source;
  std::string_view shared_id;  // snapshotId, imageId, dBSnapshotIdentifier
  std::string_view attribute_name;
  // responseElements, additionalEventData
  std::string_view console_login;
  int64_t bytes_in = -1;
  int64_t bytes_out = -1;
  // resources
  std::string_view first_resource_arn;
  int num_resources = 0;
};

enum class TopKey : uint8_t {
  kOther,
  kEventTime,
  kEventName,
  kEventSource,
  kSourceIp,
  kUserAgent,
  kErrorCode,
  kRecipientAccountId,
  kUserIdentity,
  kRequestParameters,
  kResponseElements,
  kAdditionalEventData,
  kResources,
};

TopKey TopKeyOf(std::string_view key) {
  switch (key.size()) {
    case 9:
      if (Is(key, "eventTime")) return TopKey::kEventTime;
      if (Is(key, "eventName")) return TopKey::kEventName;
      if (Is(key, "userAgent")) return TopKey::kUserAgent;
      if (Is(key, "errorCode")) return TopKey::kErrorCode;
      if (Is(key, "resources")) return TopKey::kResources;
      return TopKey::kOther;
    case 11:
      return Is(key, "eventSource") ? TopKey::kEventSource : TopKey::kOther;
    case 12:
      return Is(key, "userIdentity") ? TopKey::kUserIdentity : TopKey::kOther;
    case 15:
      return Is(key, "sourceIPAddress") ? TopKey::kSourceIp : TopKey::kOther;
    case 16:
      return Is(key, "responseElements") ? TopKey::kResponseElements : TopKey::kOther;
    case 17:
      return Is(key, "requestParameters") ? TopKey::kRequestParameters : TopKey::kOther;
    case 18:
      return Is(key, "recipientAccountId") ? TopKey::kRecipientAccountId : TopKey::kOther;
    case 19:
      return Is(key, "additionalEventData") ? TopKey::kAdditionalEventData : TopKey::kOther;
    default:
      return TopKey::kOther;
  }
}

bool IsShare(Api api) {
  return api == Api::kShareSnapshot || api == Api::kShareImage || api == Api::kShareDbSnapshot ||
         api == Api::kPutBucketPolicy || api == Api::kPutBucketReplication;
}

// Any other call: the verb at the front of its name says what it did.
Action ActionOfVerb(std::string_view name) {
  if (name.starts_with("Get") || name.starts_with("Describe") || name.starts_with("Head") ||
      name.starts_with("BatchGet")) {
    return Action::kRead;
  }
  if (name.starts_with("List")) return Action::kList;
  if (name.starts_with("Delete") || name.starts_with("Remove") || name.starts_with("Terminate")) {
    return Action::kDelete;
  }
  return Action::kWrite;
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The account a policy principal names: "arn:aws:iam::123456789012:root",
// "123456789012" -> "123456789012"; "*" -> "*"; services and canonical users
// -> "".
std::string_view AccountOfPrincipal(std::string_view principal) {
  if (principal == kPublic) return kPublic;
  if (IsDigits(principal)) return principal;
  if (!principal.starts_with("arn:")) return {};
  // arn:partition:service:region:account:resource
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    pos = principal.find(':', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  size_t end = principal.find(':', pos);
  if (end == std::string_view::npos) return {};
  std::string_view account = principal.substr(pos, end - pos);
  return IsDigits(account) ? account : std::string_view();
}

// "arn:aws:s3:::bucket" -> "bucket"; "" for anything else.
std::string_view BucketOfArn(std::string_view arn) {
  if (!arn.starts_with("arn:")) return {};
  size_t pos = arn.find(":s3:::");
  if (pos == std::string_view::npos) return {};
  std::string_view rest = arn.substr(pos + 6);
  return rest.find('/') == std::string_view::npos ? rest : std::string_view();
}

// eventTime -> ns. CloudTrail writes "YYYY-MM-DDTHH:MM:SSZ" and a stream's
// records mostly share their day: the day of the last such time is kept, so
// only the clock part is parsed. Anything else goes to ParseIso8601, which
// also decides what is valid.
class EventTimeParser {
 public:
  std::optional<int64_t> Parse(std::string_view s) {
    if (s.size() == kCanonicalSize && s.back() == 'Z' &&
        std::memcmp(s.data(), day_, kDaySize) == 0) {
      if (std::optional<int64_t> clock = ClockNs(s)) return day_ns_ + *clock;
    }
    std::optional<int64_t> t = ParseIso8601(s);
    if (t && s.size() == kCanonicalSize && s.back() == 'Z') {
      if (std::optional<int64_t> clock = ClockNs(s)) {
        std::memcpy(day_, s.data(), kDaySize);
        day_ns_ = *t - *clock;
      }
    }
    return t;
  }

 private:
  static constexpr size_t kCanonicalSize = 20;  // 2023-07-10T12:11:28Z
  static constexpr size_t kDaySize = 11;        // 2023-07-10T

  // HH:MM:SS at [11, 19) as ns into the day; only plain valid clock times.
  static std::optional<int64_t> ClockNs(std::string_view s) {
    auto digit = [&](size_t i) { return static_cast<unsigned>(s[i] - '0'); };
    for (size_t i : {11, 12, 14, 15, 17, 18}) {
      if (digit(i) > 9) return std::nullopt;
    }
    if (s[13] != ':' || s[16] != ':') return std::nullopt;
    const unsigned h = digit(11) * 10 + digit(12);
    const unsigned m = digit(14) * 10 + digit(15);
    const unsigned sec = digit(17) * 10 + digit(18);
    if (h > 23 || m > 59 || sec > 59) return std::nullopt;
    return static_cast<int64_t>((h * 60 + m) * 60 + sec) * kNsPerSecond;
  }

  char day_[kDaySize] = {};  // never matches until a time was parsed
  int64_t day_ns_ = 0;
};

class CloudTrailDecoder final : public Decoder {
 public:
  explicit CloudTrailDecoder(const DecoderOptions& options)
      : reader_(options.limits, options.projection) {}

  Format format() const override { return Format::kCloudTrail; }

  DecodeResult Decode(std::string_view record, const RecordContext& ctx, EventBatch& out) override {
    Event& e = out.Add();
    reader_.Start(&out.arena(), &e);
    std::construct_at(&f_);  // in place: `f_ = Fields{}` builds and copies a temporary
    grantees_.size = 0;
    restore_grantees_.size = 0;
    if (!Parse(record) || !Build(ctx, out.arena(), e)) [[unlikely]] {
      out.PopBack();
      return reader_.result();
    }
    return {};
  }

 private:
  bool Parse(std::string_view record);
  bool Build(const RecordContext& ctx, Arena& arena, Event& e);

  enum class Part : uint8_t {
    kRequestParameters,
    kResponseElements,
    kAdditionalEventData,
    kResources
  };
  // Whether the mapping may use `part` of this record, from what the pass has
  // read so far. Unknown (eventName or eventSource not read yet): yes.
  bool Needs(Part part) const;

  FieldStep TopField(std::string_view key, od::value& v, const ProjectionNode* proj);
  bool UserIdentity(od::value& v, const ProjectionNode* proj);
  bool SessionContext(od::value& v, const ProjectionNode* proj);
  bool RequestParameters(od::value& v, const ProjectionNode* proj);
  bool Permission(od::value& v, const ProjectionNode* proj);
  bool PermissionAdd(od::value& v, const ProjectionNode* proj);
  bool PermissionItem(od::value& v);
  bool BucketPolicy(od::value& v, const ProjectionNode* proj);
  bool PolicyStatement(od::value& v, const ProjectionNode* proj);
  bool Replication(od::value& v, const ProjectionNode* proj);
  bool ReplicationRule(od::value& v, const ProjectionNode* proj);
  bool StringList(od::value& v, std::string_view name, const ProjectionNode* proj,
                  AccountList* list);
  bool ResponseElements(od::value& v, const ProjectionNode* proj);
  bool AdditionalEventData(od::value& v, const ProjectionNode* proj);
  bool Resources(od::value& v, const ProjectionNode* proj);

  std::string_view Credential(Arena& arena) const;
  std::string_view CopyDestinationAccount(std::string_view own) const;

  static constexpr int kMaxResources = 8;

  od::parser parser_;
  EventTimeParser time_parser_;
  JsonFieldReader reader_;
  Fields f_;
  AccountList grantees_;          // permission adds, policy principals, replication
  AccountList restore_grantees_;  // valuesToAdd, when attributeName is "restore"
  std::array<Resource, kMaxResources> resources_;
};

bool CloudTrailDecoder::Parse(std::string_view record) {
  od::document doc;
  od::object root;
  if (!reader_.Begin(parser_, record, &doc, &root)) return false;
  if (!reader_.ForEachField(root, "record", reader_.projection().top(),
                            [this](std::string_view key, od::value& v, const ProjectionNode* proj) {
                              return TopField(key, v, proj);
                            })) {
    return false;
  }
  return reader_.End(doc);
}

FieldStep CloudTrailDecoder::TopField(std::string_view key, od::value& v,
                                      const ProjectionNode* proj) {
  switch (TopKeyOf(key)) {
    case TopKey::kEventTime:
      if (KindOfToken(v.raw_json_token()) == JsonKind::kNull) return FieldStep::kDone;
      f_.has_time = true;
      return Done(reader_.String(v, "eventTime", proj, &f_.event_time, /*strict=*/true));
    case TopKey::kEventName:
      if (!reader_.String(v, "eventName", proj, &f_.event_name, true)) return FieldStep::kFail;
      f_.api = ApiOf(f_.event_name);
      return FieldStep::kDone;
    case TopKey::kEventSource:
      return Done(reader_.String(v, "eventSource", proj, &f_.event_source, true));
    case TopKey::kSourceIp:
      return Done(reader_.String(v, "sourceIPAddress", proj, &f_.source_ip, true));
    case TopKey::kUserAgent:
      return Done(reader_.String(v, "userAgent", proj, &f_.user_agent, true));
    case TopKey::kErrorCode:
      return Done(reader_.String(v, "errorCode", proj, &f_.error_code, true));
    case TopKey::kRecipientAccountId:
      return Done(reader_.String(v, "recipientAccountId", proj, &f_.recipient_account, true));
    case TopKey::kUserIdentity:
      return Done(UserIdentity(v, proj));
    // The objects below are only walked when the call may need them; a rule's
    // projection still sees them (kSkip).
    case TopKey::kRequestParameters:
      return Needs(Part::kRequestParameters) ? Done(RequestParameters(v, proj)) : FieldStep::kSkip;
    case TopKey::kResponseElements:
      return Needs(Part::kResponseElements) ? Done(ResponseElements(v, proj)) : FieldStep::kSkip;
    case TopKey::kAdditionalEventData:
      return Needs(Part::kAdditionalEventData) ? Done(AdditionalEventData(v, proj))
                                               : FieldStep::kSkip;
    case TopKey::kResources:
      return Needs(Part::kResources) ? Done(Resources(v, proj)) : FieldStep::kSkip;
    case TopKey::kOther:
      break;
  }
  return FieldStep::kSkip;
}

// Whatever Build takes from a part must only be used for calls for which this
// says yes: otherwise the event would depend on the order of the keys.
bool CloudTrailDecoder::Needs(Part part) const {
  if (f_.event_name.empty() || f_.event_source.empty()) return true;
  const Api api = f_.api;
  switch (part) {
    case Part::kRequestParameters:  // bucket and key; what a share grants
      return IsS3(f_.event_source) || IsShare(api);
    case Part::kResponseElements:  // ConsoleLogin: Failure
      return api == Api::kLogin;
    case Part::kAdditionalEventData:  // bytes
      return api == Api::kGetObject || api == Api::kPutObject || api == Api::kUploadPart;
    case Part::kResources:  // the object when nothing else names it; copy destinations
      if (api == Api::kCopyObject) return true;
      if (IsS3(f_.event_source) && !f_.bucket.empty()) return false;
      return !(IsShare(api) && !f_.shared_id.empty());
  }
  return true;
}

bool CloudTrailDecoder::UserIdentity(od::value& v, const ProjectionNode* proj) {
  od::object obj;
  bool present;
  if (!reader_.Object(v, "userIdentity", proj, &obj, &present, /*strict=*/true)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, "userIdentity", proj,
      [this](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (Is(key, "type")) {
          return Done(reader_.String(fv, "userIdentity.type", child, &f_.identity_type));
        }
        if (Is(key, "userName")) {
          return Done(reader_.String(fv, "userIdentity.userName", child, &f_.user_name));
        }
        if (Is(key, "arn")) return Done(reader_.String(fv, "userIdentity.arn", child, &f_.arn));
        if (Is(key, "principalId")) {
          return Done(reader_.String(fv, "userIdentity.principalId", child, &f_.principal_id));
        }
        if (Is(key, "accountId")) {
          return Done(reader_.String(fv, "userIdentity.accountId", child, &f_.account_id));
        }
        if (Is(key, "accessKeyId")) {
          return Done(reader_.String(fv, "userIdentity.accessKeyId", child, &f_.access_key_id));
        }
        if (Is(key, "invokedBy")) {
          return Done(reader_.String(fv, "userIdentity.invokedBy", child, &f_.invoked_by));
        }
        if (Is(key, "sessionContext")) return Done(SessionContext(fv, child));
        return FieldStep::kSkip;
      });
}

bool CloudTrailDecoder::SessionContext(od::value& v, const ProjectionNode* proj) {
  od::object obj;
  bool present;
  if (!reader_.Object(v, "userIdentity.sessionContext", proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, "userIdentity.sessionContext", proj,
      [this](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (!Is(key, "sessionIssuer")) return FieldStep::kSkip;
        od::object issuer;
        bool issuer_present;
        if (!reader_.Object(fv, "userIdentity.sessionContext.sessionIssuer", child, &issuer,
                            &issuer_present)) {
          return FieldStep::kFail;
        }
        if (!issuer_present) return FieldStep::kDone;
        return Done(reader_.ForEachField(
            issuer, "userIdentity.sessionContext.sessionIssuer", child,
            [this](std::string_view k, od::value& iv, const ProjectionNode* c) {
              if (!Is(k, "userName")) return FieldStep::kSkip;
              return Done(reader_.String(iv, "userIdentity.sessionContext.sessionIssuer.userName",
                                         c, &f_.issuer_name));
            }));
      });
}

bool CloudTrailDecoder::RequestParameters(od::value& v, const ProjectionNode* proj) {
  od::object obj;
  bool present;
  if (!reader_.Object(v, "requestParameters", proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, "requestParameters", proj,
      [this](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (Is(key, "bucketName")) {
          return Done(reader_.String(fv, "requestParameters.bucketName", child, &f_.bucket));
        }
        if (Is(key, "key")) {
          return Done(reader_.String(fv, "requestParameters.key", child, &f_.key));
        }
        if (Is(key, "x-amz-copy-source")) {
          return Done(
              reader_.String(fv, "requestParameters.x-amz-copy-source", child, &f_.copy_source));
        }
        if (Is(key, "snapshotId") || Is(key, "imageId") || Is(key, "dBSnapshotIdentifier") ||
            Is(key, "dBClusterSnapshotIdentifier")) {
          return Done(reader_.String(fv, "requestParameters", child, &f_.shared_id));
        }
        if (Is(key, "attributeName")) {
          return Done(
              reader_.String(fv, "requestParameters.attributeName", child, &f_.attribute_name));
        }
        if (Is(key, "valuesToAdd")) {
          return Done(StringList(fv, "requestParameters.valuesToAdd", child, &restore_grantees_));
        }
        if (Is(key, "createVolumePermission") || Is(key, "launchPermission")) {
          return Done(Permission(fv, child));
        }
        if (Is(key, "bucketPolicy")) return Done(BucketPolicy(fv, child));
        if (Is(key, "ReplicationConfiguration")) return Done(Replication(fv, child));
        return FieldStep::kSkip;
      });
}

// createVolumePermission, launchPermission:
// {"add": {"items": [{"userId": "123456789012"}, {"group": "all"}]}, "remove": {...}}
bool CloudTrailDecoder::Permission(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.permission";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, kName, proj, [this](std::string_view key, od::value& add, const ProjectionNode* child) {
        if (!Is(key, "add")) return FieldStep::kSkip;  // "remove" takes access away
        return Done(PermissionAdd(add, child));
      });
}

bool CloudTrailDecoder::PermissionAdd(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.permission.add";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, kName, proj, [this](std::string_view key, od::value& iv, const ProjectionNode* child) {
        if (!Is(key, "items")) return FieldStep::kSkip;
        od::array items;
        bool items_present;
        if (!reader_.Array(iv, kName, child, &items, &items_present)) return FieldStep::kFail;
        if (!items_present) return FieldStep::kDone;
        return Done(reader_.ForEachElement(
            items, kName, [this](od::value& item) { return PermissionItem(item); }));
      });
}

// {"userId": "123456789012"} or {"group": "all"}
bool CloudTrailDecoder::PermissionItem(od::value& v) {
  static constexpr std::string_view kName = "requestParameters.permission.add.items";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, nullptr, &obj, &present)) return false;
  if (!present) return true;
  auto grantee = [this](std::string_view key, od::value& fv, const ProjectionNode*) {
    const bool user = Is(key, "userId");
    if (!user && !Is(key, "group")) return FieldStep::kSkip;
    std::string_view s;
    if (!reader_.String(fv, kName, nullptr, &s)) return FieldStep::kFail;
    if (user) {
      grantees_.Add(s);
    } else if (Is(s, "all")) {
      grantees_.Add(kPublic);
    }
    return FieldStep::kDone;
  };
  return reader_.ForEachField(obj, kName, nullptr, grantee);
}

// {"Statement": [{"Effect": "Allow", "Principal": {"AWS": [...]}, ...}]}
bool CloudTrailDecoder::BucketPolicy(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.bucketPolicy";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, kName, proj, [this](std::string_view key, od::value& sv, const ProjectionNode* child) {
        if (!Is(key, "Statement")) return FieldStep::kSkip;
        std::string_view token = sv.raw_json_token();
        if (KindOfToken(token) == JsonKind::kObject) return Done(PolicyStatement(sv, child));
        od::array statements;
        bool statements_present;
        if (!reader_.Array(sv, kName, child, &statements, &statements_present)) {
          return FieldStep::kFail;
        }
        if (!statements_present) return FieldStep::kDone;
        return Done(reader_.ForEachElement(
            statements, kName, [this](od::value& st) { return PolicyStatement(st, nullptr); }));
      });
}

bool CloudTrailDecoder::PolicyStatement(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.bucketPolicy.Statement";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  const int mark = grantees_.size;
  std::string_view effect;
  auto add_principal = [this](od::value& pv, const ProjectionNode* pproj) {
    std::string_view s;
    if (!reader_.String(pv, kName, pproj, &s)) return false;
    grantees_.Add(AccountOfPrincipal(s));
    return true;
  };
  bool ok = reader_.ForEachField(
      obj, kName, proj, [&](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (Is(key, "Effect")) return Done(reader_.String(fv, kName, child, &effect));
        if (!Is(key, "Principal")) return FieldStep::kSkip;
        JsonKind kind = KindOfToken(fv.raw_json_token());
        if (kind != JsonKind::kObject) return Done(add_principal(fv, child));  // "*"
        od::object principal;
        bool principal_present;
        if (!reader_.Object(fv, kName, child, &principal, &principal_present)) {
          return FieldStep::kFail;
        }
        return Done(reader_.ForEachField(
            principal, kName, child,
            [&](std::string_view pk, od::value& pv, const ProjectionNode* pc) {
              if (!Is(pk, "AWS")) return FieldStep::kSkip;  // Service, CanonicalUser, Federated
              if (KindOfToken(pv.raw_json_token()) != JsonKind::kArray) {
                return Done(add_principal(pv, pc));
              }
              od::array list;
              bool list_present;
              if (!reader_.Array(pv, kName, pc, &list, &list_present)) return FieldStep::kFail;
              if (!list_present) return FieldStep::kDone;
              return Done(reader_.ForEachElement(list, kName, [&](od::value& element) {
                return add_principal(element, nullptr);
              }));
            }));
      });
  if (!ok) return false;
  if (Is(effect, "Deny")) grantees_.size = mark;  // "Effect" may come after "Principal"
  return true;
}

// {"Rule": {"Destination": {"Bucket": "arn:aws:s3:::b", "Account": "123456789012"}}}
// ("Rule" may also be a list, and "Rules" in some writers.)
bool CloudTrailDecoder::Replication(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.ReplicationConfiguration";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, kName, proj, [this](std::string_view key, od::value& rv, const ProjectionNode* child) {
        if (!Is(key, "Rule") && !Is(key, "Rules")) return FieldStep::kSkip;
        if (KindOfToken(rv.raw_json_token()) == JsonKind::kObject) {
          return Done(ReplicationRule(rv, child));
        }
        od::array rules;
        bool rules_present;
        if (!reader_.Array(rv, kName, child, &rules, &rules_present)) return FieldStep::kFail;
        if (!rules_present) return FieldStep::kDone;
        return Done(reader_.ForEachElement(
            rules, kName, [this](od::value& rule) { return ReplicationRule(rule, nullptr); }));
      });
}

bool CloudTrailDecoder::ReplicationRule(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "requestParameters.ReplicationConfiguration.Rule";
  od::object obj;
  bool present;
  if (!reader_.Object(v, kName, proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, kName, proj, [this](std::string_view key, od::value& dv, const ProjectionNode* child) {
        if (!Is(key, "Destination")) return FieldStep::kSkip;
        od::object dst;
        bool dst_present;
        if (!reader_.Object(dv, kName, child, &dst, &dst_present)) return FieldStep::kFail;
        if (!dst_present) return FieldStep::kDone;
        return Done(reader_.ForEachField(
            dst, kName, child, [this](std::string_view k, od::value& av, const ProjectionNode* c) {
              if (!Is(k, "Account")) return FieldStep::kSkip;
              std::string_view account;
              if (!reader_.String(av, kName, c, &account)) return FieldStep::kFail;
              grantees_.Add(account);
              return FieldStep::kDone;
            }));
      });
}

bool CloudTrailDecoder::StringList(od::value& v, std::string_view name, const ProjectionNode* proj,
                                   AccountList* list) {
  od::array arr;
  bool present;
  if (!reader_.Array(v, name, proj, &arr, &present)) return false;
  if (!present) return true;
  return reader_.ForEachElement(arr, name, [&](od::value& element) {
    std::string_view s;
    if (!reader_.String(element, name, nullptr, &s)) return false;
    list->Add(Is(s, "all") ? kPublic : s);
    return true;
  });
}

bool CloudTrailDecoder::ResponseElements(od::value& v, const ProjectionNode* proj) {
  od::object obj;
  bool present;
  if (!reader_.Object(v, "responseElements", proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, "responseElements", proj,
      [this](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (!Is(key, "ConsoleLogin")) return FieldStep::kSkip;
        return Done(reader_.String(fv, "responseElements.ConsoleLogin", child, &f_.console_login));
      });
}

bool CloudTrailDecoder::AdditionalEventData(od::value& v, const ProjectionNode* proj) {
  od::object obj;
  bool present;
  if (!reader_.Object(v, "additionalEventData", proj, &obj, &present)) return false;
  if (!present) return true;
  return reader_.ForEachField(
      obj, "additionalEventData", proj,
      [this](std::string_view key, od::value& fv, const ProjectionNode* child) {
        if (Is(key, "bytesTransferredOut")) {
          return Done(
              reader_.Int64(fv, "additionalEventData.bytesTransferredOut", child, &f_.bytes_out));
        }
        if (Is(key, "bytesTransferredIn")) {
          return Done(
              reader_.Int64(fv, "additionalEventData.bytesTransferredIn", child, &f_.bytes_in));
        }
        return FieldStep::kSkip;
      });
}

bool CloudTrailDecoder::Resources(od::value& v, const ProjectionNode* proj) {
  static constexpr std::string_view kName = "resources";
  od::array arr;
  bool present;
  if (!reader_.Array(v, kName, proj, &arr, &present)) return false;
  if (!present) return true;
  return reader_.ForEachElement(arr, kName, [this](od::value& element) {
    od::object obj;
    bool obj_present;
    if (!reader_.Object(element, kName, nullptr, &obj, &obj_present)) return false;
    if (!obj_present) return true;
    Resource r;
    bool ok = reader_.ForEachField(
        obj, kName, nullptr, [&](std::string_view key, od::value& fv, const ProjectionNode*) {
          if (Is(key, "ARN") || Is(key, "arn")) {
            return Done(reader_.String(fv, "resources.ARN", nullptr, &r.arn));
          }
          if (Is(key, "accountId")) {
            return Done(reader_.String(fv, "resources.accountId", nullptr, &r.account));
          }
          if (Is(key, "type")) return Done(reader_.String(fv, "resources.type", nullptr, &r.type));
          return FieldStep::kSkip;
        });
    if (!ok) return false;
    if (f_.first_resource_arn.empty()) f_.first_resource_arn = r.arn;
    if (f_.num_resources < kMaxResources) resources_[f_.num_resources++] = r;
    return true;
  });
}

// userIdentity -> the credential: the user name; "RoleName/session" for an
// assumed role; "root" for the account root; the service for AWS services.
std::string_view CloudTrailDecoder::Credential(Arena& arena) const {
  std::string_view type = f_.identity_type;
  if (Is(type, "Root")) return "root";
  if (Is(type, "AssumedRole")) {
    static constexpr std::string_view kMarker = ":assumed-role/";
    if (size_t pos = f_.arn.find(kMarker); pos != std::string_view::npos) {
      return f_.arn.substr(pos + kMarker.size());
    }
    if (!f_.issuer_name.empty()) {
      size_t colon = f_.principal_id.find(':');
      if (colon == std::string_view::npos) return f_.issuer_name;
      std::string_view session = f_.principal_id.substr(colon + 1);
      char* p = arena.Allocate(f_.issuer_name.size() + 1 + session.size());
      std::memcpy(p, f_.issuer_name.data(), f_.issuer_name.size());
      p[f_.issuer_name.size()] = '/';
      std::memcpy(p + f_.issuer_name.size() + 1, session.data(), session.size());
      return std::string_view(p, f_.issuer_name.size() + 1 + session.size());
    }
  } else if (Is(type, "FederatedUser")) {
    static constexpr std::string_view kMarker = ":federated-user/";
    if (size_t pos = f_.arn.find(kMarker); pos != std::string_view::npos) {
      return f_.arn.substr(pos + kMarker.size());
    }
  } else if (Is(type, "AWSService") && !f_.invoked_by.empty()) {
    return f_.invoked_by;
  }
  if (!f_.user_name.empty()) return f_.user_name;
  if (!f_.arn.empty()) {
    size_t slash = f_.arn.rfind('/');
    return slash == std::string_view::npos ? f_.arn : f_.arn.substr(slash + 1);
  }
  if (!f_.invoked_by.empty()) return f_.invoked_by;
  if (!f_.principal_id.empty()) return f_.principal_id;
  return f_.account_id;
}

// CopyObject: the account of the destination bucket when another account owns
// it. CloudTrail names the buckets of both ends in `resources`, with owners.
std::string_view CloudTrailDecoder::CopyDestinationAccount(std::string_view own) const {
  bool destination_listed = false;
  for (int i = 0; i < f_.num_resources; ++i) {
    const Resource& r = resources_[i];
    if (!Is(r.type, "AWS::S3::Bucket") || BucketOfArn(r.arn) != f_.bucket) continue;
    destination_listed = true;
    if (!r.account.empty() && r.account != own) return r.account;
  }
  if (destination_listed) return {};
  // The destination bucket is not listed by name: a foreign bucket that is
  // not the copy source is where the data went.
  std::string_view source = f_.copy_source;
  if (source.starts_with('/')) source.remove_prefix(1);
  source = source.substr(0, source.find('/'));
  for (int i = 0; i < f_.num_resources; ++i) {
    const Resource& r = resources_[i];
    if (!Is(r.type, "AWS::S3::Bucket") || r.account.empty() || r.account == own) continue;
    if (BucketOfArn(r.arn) != source) return r.account;
  }
  return {};
}

bool CloudTrailDecoder::Build(const RecordContext& ctx, Arena& arena, Event& e) {
  if (f_.event_name.empty() || f_.event_source.empty()) [[unlikely]] {
    return reader_.Fail(RecordCode::kRejectUnknownShape, "record",
                        "no eventName or eventSource: not a CloudTrail record");
  }
  if (!f_.has_time) [[unlikely]] {
    return reader_.Fail(RecordCode::kRejectMissingTime, "eventTime", "missing");
  }
  std::optional<int64_t> time = time_parser_.Parse(f_.event_time);
  if (!time) [[unlikely]] {
    return reader_.Fail(RecordCode::kRejectBadTime, "eventTime", "not an ISO 8601 time");
  }
  e.time_ns = *time;
  e.format = kFormatName;
  e.source = ctx.source;
  e.source_offset = ctx.offset;
  e.host = f_.event_source;
  e.user_agent = f_.user_agent;
  e.session = f_.access_key_id;
  e.credential = Credential(arena);
  if (!f_.source_ip.empty()) {
    e.src_ip_text = f_.source_ip;
    if (std::optional<IpAddress> ip = IpAddress::Parse(f_.source_ip)) e.src_ip = *ip;
  }

  const bool is_s3 = IsS3(f_.event_source);
  if (is_s3 && !f_.bucket.empty()) {
    // arn:aws:s3:::bucket[/key]
    size_t size = kS3ArnPrefix.size() + f_.bucket.size() + (f_.key.empty() ? 0 : 1 + f_.key.size());
    char* p = arena.Allocate(size);
    char* q = p;
    std::memcpy(q, kS3ArnPrefix.data(), kS3ArnPrefix.size());
    q += kS3ArnPrefix.size();
    std::memcpy(q, f_.bucket.data(), f_.bucket.size());
    q += f_.bucket.size();
    if (!f_.key.empty()) {
      *q++ = '/';
      std::memcpy(q, f_.key.data(), f_.key.size());
    }
    e.object = std::string_view(p, size);
  } else if (IsShare(f_.api) && !f_.shared_id.empty()) {
    e.object = f_.shared_id;
  } else {
    e.object = f_.first_resource_arn;
  }

  const std::string_view own = f_.recipient_account.empty() ? f_.account_id : f_.recipient_account;
  e.kind = Kind::kAccess;
  switch (f_.api) {
    case Api::kLogin:
      e.kind = Kind::kAuth;
      e.action = Action::kLogin;
      break;
    case Api::kGetObject:
      e.action = Action::kRead;
      e.bytes = f_.bytes_out;
      break;
    case Api::kPutObject:
    case Api::kUploadPart:
      e.action = Action::kWrite;
      e.bytes = f_.bytes_in;
      break;
    case Api::kListObjects:
      e.action = Action::kList;
      break;
    case Api::kDeleteObject:
      e.action = Action::kDelete;
      break;
    case Api::kCopyObject:
      e.kind = Kind::kTransfer;
      e.action = Action::kCopy;
      e.dst_account = CopyDestinationAccount(own);
      break;
    case Api::kShareDbSnapshot:
      // Only the "restore" attribute lets another account copy the snapshot.
      if (Is(f_.attribute_name, "restore")) e.dst_account = restore_grantees_.FirstForeign(own);
      break;
    case Api::kShareSnapshot:
    case Api::kShareImage:
    case Api::kPutBucketPolicy:
    case Api::kPutBucketReplication:
      e.dst_account = grantees_.FirstForeign(own);
      break;
    case Api::kOther:
      break;
  }
  if (e.action == Action::kUnknown) {
    if (!e.dst_account.empty()) {  // shared with a foreign account
      e.kind = Kind::kTransfer;
      e.action = Action::kCopy;
    } else {
      e.action = ActionOfVerb(f_.event_name);
    }
  }

  const bool failed =
      !f_.error_code.empty() || (f_.api == Api::kLogin && Is(f_.console_login, "Failure"));
  e.outcome = failed ? Outcome::kFailure : Outcome::kSuccess;
  return true;
}

}  // namespace

std::unique_ptr<Decoder> MakeCloudTrailDecoder(const DecoderOptions& options) {
  return std::make_unique<CloudTrailDecoder>(options);
}

}  // namespace credwatch::decode
