#include "replay/simulator/writers.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "credwatch/time_util.h"
#include "replay/simulator/objects.h"
#include "replay/simulator/random.h"

namespace credwatch::sim {
namespace {

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(absl::string_view(what.data(), what.size()), " ", path,
                                          ": ", std::strerror(errno)));
}

void Str(std::string_view s, std::string* out) { out->append(s.data(), s.size()); }

bool IsInternal(uint32_t ip) { return (ip >> 24) == 10; }

}  // namespace

// --- files ------------------------------------------------------------------

OutputFile::~OutputFile() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status OutputFile::Open(const std::string& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) return ErrnoError("cannot create", path);
  buf_.reserve(kFlushAt + (64 << 10));
  return absl::OkStatus();
}

void OutputFile::Flush() {
  if (buf_.empty()) return;
  if (status_.ok() && file_ != nullptr &&
      std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
    status_ = ErrnoError("cannot write", path_);
  }
  buf_.clear();
}

absl::Status OutputFile::Close() {
  Flush();
  if (file_ != nullptr) {
    if (std::fclose(file_) != 0 && status_.ok()) status_ = ErrnoError("cannot close", path_);
    file_ = nullptr;
  }
  return status_;
}

GzOutputFile::~GzOutputFile() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

absl::Status GzOutputFile::Open(const std::string& path) {
  path_ = path;
  gzFile f = gzopen(path.c_str(), "wb1");
  if (f == nullptr) return ErrnoError("cannot create", path);
  gzbuffer(f, 1 << 18);
  file_ = f;
  return absl::OkStatus();
}

void GzOutputFile::Append(std::string_view s) {
  buf_.append(s.data(), s.size());
  if (buf_.size() >= (1 << 20)) Flush();
}

void GzOutputFile::Flush() {
  if (buf_.empty()) return;
  if (status_.ok() && file_ != nullptr &&
      gzwrite(static_cast<gzFile>(file_), buf_.data(), static_cast<unsigned>(buf_.size())) !=
          static_cast<int>(buf_.size())) {
    status_ = absl::InternalError(absl::StrCat("cannot write ", path_));
  }
  buf_.clear();
}

absl::Status GzOutputFile::Close() {
  Flush();
  if (file_ != nullptr) {
    if (gzclose(static_cast<gzFile>(file_)) != Z_OK && status_.ok()) {
      status_ = absl::InternalError(absl::StrCat("cannot close ", path_));
    }
    file_ = nullptr;
  }
  absl::Status s = status_;
  status_ = absl::OkStatus();
  return s;
}

// --- journald -----------------------------------------------------------------

JournalWriter::JournalWriter(const Estate& estate, OutputFile* out)
    : estate_(estate), out_(out), seqnum_(estate.hosts.size(), 0) {
  for (size_t i = 0; i < seqnum_.size(); ++i) seqnum_[i] = Key(estate.seed, 24, i) % 900000 + 1000;
}

void JournalWriter::AppendMessage(const Record& r, std::string* b) {
  const std::string_view user = estate_.UserName(r.user);
  auto from = [&] {
    Str(" from ", b);
    AppendIpv4(r.ip, b);
    Str(" port ", b);
    AppendUint(r.port, b);
  };
  auto path = [&](bool dir) {
    path_.clear();
    if (dir) {
      AppendSftpDir(r.tenant, r.object, &path_);
    } else {
      AppendSftpPath(r.tenant, r.object, &path_);
    }
    Str("\\\"", b);
    Str(path_, b);
    Str("\\\"", b);
  };
  switch (r.type) {
    case RecordType::kSshAccepted:
      Str(r.flag == kAuthPublickey ? "Accepted publickey for " : "Accepted password for ", b);
      Str(user, b);
      from();
      Str(" ssh2", b);
      if (r.flag == kAuthPublickey) {
        Str(": ", b);
        Str(estate_.creds[r.user].key_fingerprint, b);
      }
      return;
    case RecordType::kSshFailedPassword:
      Str("Failed password for ", b);
      Str(user, b);
      from();
      Str(" ssh2", b);
      return;
    case RecordType::kSshInvalidUser:
      Str("Invalid user ", b);
      Str(user, b);
      from();
      return;
    case RecordType::kSshFailedInvalidUser:
      Str("Failed password for invalid user ", b);
      Str(user, b);
      from();
      Str(" ssh2", b);
      return;
    case RecordType::kSshPamCheckPass:
      Str("pam_unix(sshd:auth): check pass; user unknown", b);
      return;
    case RecordType::kSshPamAuthFailure:
      Str("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
          "rhost=",
          b);
      AppendIpv4(r.ip, b);
      if (estate_.UserExists(r.user)) {
        Str("  user=", b);
        Str(user, b);
      }
      return;
    case RecordType::kSshPreauthClosed:
      Str(estate_.UserExists(r.user) ? "Connection closed by authenticating user "
                                     : "Connection closed by invalid user ",
          b);
      Str(user, b);
      b->push_back(' ');
      AppendIpv4(r.ip, b);
      Str(" port ", b);
      AppendUint(r.port, b);
      Str(" [preauth]", b);
      return;
    case RecordType::kSshSessionOpened:
      Str("pam_unix(sshd:session): session opened for user ", b);
      Str(user, b);
      Str("(uid=", b);
      AppendUint(estate_.UserUid(r.user), b);
      Str(") by (uid=0)", b);
      return;
    case RecordType::kSshSessionClosed:
      Str("pam_unix(sshd:session): session closed for user ", b);
      Str(user, b);
      return;
    case RecordType::kSshReceivedDisconnect:
      Str("Received disconnect from ", b);
      AppendIpv4(r.ip, b);
      Str(" port ", b);
      AppendUint(r.port, b);
      Str(":11: disconnected by user", b);
      return;
    case RecordType::kSshDisconnected:
      Str("Disconnected from user ", b);
      Str(user, b);
      b->push_back(' ');
      AppendIpv4(r.ip, b);
      Str(" port ", b);
      AppendUint(r.port, b);
      return;
    case RecordType::kSftpSessionOpened:
    case RecordType::kSftpSessionClosed:
      Str(r.type == RecordType::kSftpSessionOpened ? "session opened for local user "
                                                   : "session closed for local user ",
          b);
      Str(user, b);
      Str(" from [", b);
      AppendIpv4(r.ip, b);
      b->push_back(']');
      return;
    case RecordType::kSftpOpendir:
      Str("opendir ", b);
      path(true);
      return;
    case RecordType::kSftpClosedir:
      Str("closedir ", b);
      path(true);
      return;
    case RecordType::kSftpOpen:
      Str("open ", b);
      path(false);
      Str(r.flag == 0 ? " flags READ mode 0666" : " flags WRITE,CREATE,TRUNCATE mode 0644", b);
      return;
    case RecordType::kSftpClose:
      Str("close ", b);
      path(false);
      Str(" bytes read ", b);
      AppendInt(r.bytes, b);
      Str(" written ", b);
      AppendInt(r.bytes2, b);
      return;
    default:
      return;
  }
}

size_t JournalWriter::Write(const Record& r) {
  std::string* b = out_->buffer();
  const size_t before = b->size();
  const Host& h = estate_.hosts[r.host];
  const uint64_t seq = ++seqnum_[r.host];
  const int64_t us = r.time_ns / 1000;
  const int64_t mono = us - h.boot_ns / 1000;

  enum { kMonitor, kChild, kSftpServer } proc = kMonitor;
  switch (r.type) {
    case RecordType::kSshReceivedDisconnect:
    case RecordType::kSshDisconnected:
      proc = kChild;
      break;
    case RecordType::kSftpSessionOpened:
    case RecordType::kSftpOpendir:
    case RecordType::kSftpClosedir:
    case RecordType::kSftpOpen:
    case RecordType::kSftpClose:
    case RecordType::kSftpSessionClosed:
      proc = h.sftp_server ? kSftpServer : kChild;
      break;
    default:
      break;
  }
  const bool sftp_line = r.type >= RecordType::kSftpSessionOpened;
  const uint32_t pid = proc == kMonitor ? r.pid : proc == kChild ? r.pid2 : r.pid2 + 1;
  const std::string_view user = estate_.UserName(r.user);
  const uint32_t uid = estate_.UserUid(r.user);

  Str("{\"__CURSOR\":\"s=", b);
  Str(h.seqnum_id, b);
  Str(";i=", b);
  AppendHex(seq, b);
  Str(";b=", b);
  Str(h.boot_id, b);
  Str(";m=", b);
  AppendHex(static_cast<uint64_t>(mono), b);
  Str(";t=", b);
  AppendHex(static_cast<uint64_t>(us), b);
  Str(";x=", b);
  AppendHexFixed(Mix64(seq ^ (static_cast<uint64_t>(r.host) << 56)), 16, false, b);
  Str("\",\"__REALTIME_TIMESTAMP\":\"", b);
  AppendInt(us, b);
  Str("\",\"__MONOTONIC_TIMESTAMP\":\"", b);
  AppendInt(mono, b);
  Str("\",\"_BOOT_ID\":\"", b);
  Str(h.boot_id, b);
  Str("\",\"_MACHINE_ID\":\"", b);
  Str(h.machine_id, b);
  Str("\",\"_HOSTNAME\":\"", b);
  Str(h.name, b);
  Str("\",\"_TRANSPORT\":\"syslog\",\"PRIORITY\":\"", b);
  b->push_back(r.type == RecordType::kSshPamAuthFailure ? '5' : '6');
  Str(sftp_line ? "\",\"SYSLOG_FACILITY\":\"4" : "\",\"SYSLOG_FACILITY\":\"10", b);
  Str("\",\"SYSLOG_IDENTIFIER\":\"", b);
  Str(!sftp_line ? "sshd" : h.sftp_server ? "sftp-server" : "internal-sftp", b);
  Str("\",\"SYSLOG_PID\":\"", b);
  AppendUint(pid, b);
  Str("\",\"SYSLOG_TIMESTAMP\":\"", b);
  tf_.AppendSyslog(r.time_ns, b);
  Str(" \",\"_PID\":\"", b);
  AppendUint(pid, b);
  if (proc == kMonitor) {
    Str("\",\"_UID\":\"0\",\"_GID\":\"0\",\"_COMM\":\"sshd\",\"_EXE\":\"/usr/sbin/"
        "sshd\",\"_CMDLINE\":\"sshd: ",
        b);
    Str(estate_.UserExists(r.user) ? user : std::string_view("unknown"), b);
    Str(" [priv]\",\"_CAP_EFFECTIVE\":\"1ffffffffff\",\"_SYSTEMD_CGROUP\":\"/system.slice/"
        "sshd.service\","
        "\"_SYSTEMD_UNIT\":\"sshd.service\",\"_SYSTEMD_SLICE\":\"system.slice\"",
        b);
  } else {
    Str("\",\"_UID\":\"", b);
    AppendUint(uid, b);
    Str("\",\"_GID\":\"", b);
    AppendUint(uid, b);
    if (proc == kChild) {
      Str("\",\"_COMM\":\"sshd\",\"_EXE\":\"/usr/sbin/sshd\",\"_CMDLINE\":\"sshd: ", b);
      Str(user, b);
      Str(h.sftp_server ? "@notty" : "@internal-sftp", b);
    } else {
      Str("\",\"_COMM\":\"sftp-server\",\"_EXE\":\"/usr/libexec/openssh/sftp-server\","
          "\"_CMDLINE\":\"/usr/libexec/openssh/sftp-server -l INFO",
          b);
    }
    Str("\",\"_CAP_EFFECTIVE\":\"0\",\"_AUDIT_SESSION\":\"", b);
    AppendUint(r.aux, b);
    Str("\",\"_AUDIT_LOGINUID\":\"", b);
    AppendUint(uid, b);
    Str("\",\"_SYSTEMD_CGROUP\":\"/user.slice/user-", b);
    AppendUint(uid, b);
    Str(".slice/session-", b);
    AppendUint(r.aux, b);
    Str(".scope\",\"_SYSTEMD_UNIT\":\"session-", b);
    AppendUint(r.aux, b);
    Str(".scope\",\"_SYSTEMD_SLICE\":\"user-", b);
    AppendUint(uid, b);
    Str(".slice\",\"_SYSTEMD_OWNER_UID\":\"", b);
    AppendUint(uid, b);
    b->push_back('"');
  }
  Str(",\"MESSAGE\":\"", b);
  AppendMessage(r, b);
  Str("\"}\n", b);
  const size_t n = b->size() - before;
  out_->Commit();
  return n;
}

// --- CloudTrail ---------------------------------------------------------------

namespace {

std::string_view AgentString(uint8_t agent) {
  switch (agent) {
    case kUaAwsCliWindows:
      return "aws-cli/2.15.10 Python/3.11.6 Windows/10 exe/AMD64 prompt/off command/s3.cp";
    case kUaAwsCliLinux:
      return "aws-cli/2.15.10 Python/3.11.6 Linux/5.15.0-91-generic exe/x86_64.ubuntu.22 "
             "prompt/off command/s3.cp";
    case kUaBoto3:
      return "Boto3/1.34.14 md/Botocore#1.34.14 ua/2.0 os/linux#4.18.0-513.9.1.el8_9.x86_64 "
             "md/arch#x86_64 lang/python#3.9.18 md/pyimpl#CPython cfg/retry-mode#legacy "
             "Botocore/1.34.14";
    case kUaGoSdk:
      return "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 "
             "api/s3#1.47.7";
    case kUaRclone:
      return "rclone/v1.65.0";
    case kUaBrowser:
      return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36";
    case kUaConsole:
      return "AWS Internal";
    default:
      return "aws-cli/2.15.10";
  }
}

constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

}  // namespace

CloudTrailWriter::CloudTrailWriter(const Estate& estate, std::string delivery_dir, int64_t split_ns,
                                   OutputFile* ndjson)
    : estate_(estate),
      delivery_dir_(std::move(delivery_dir)),
      split_ns_(split_ns),
      ndjson_(ndjson) {}

void CloudTrailWriter::AppendIdentity(const Record& r, bool with_key, std::string* b) {
  const Credential& c = estate_.creds[r.user];
  Str("{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"IAMUser\",\"principalId\":\"", b);
  Str(c.principal_id, b);
  Str("\",\"arn\":\"arn:aws:iam::", b);
  Str(kAccountId, b);
  Str(":user/", b);
  Str(c.name, b);
  Str("\",\"accountId\":\"", b);
  Str(kAccountId, b);
  if (with_key) {
    Str("\",\"accessKeyId\":\"", b);
    Str(c.access_key_id, b);
  }
  Str("\",\"userName\":\"", b);
  Str(c.name, b);
  Str("\"},\"eventTime\":\"", b);
  tf_.AppendIsoSeconds(r.time_ns, b);
  b->push_back('"');
}

void CloudTrailWriter::AppendTail(const Record& r, bool management, bool read_only,
                                  std::string_view host_header, std::string* b) {
  const uint64_t k = Key(estate_.seed, 400, r.seq, static_cast<uint64_t>(r.time_ns));
  Str(",\"requestID\":\"", b);
  AppendHexFixed(Mix64(k ^ 1), 16, true, b);
  Str("\",\"eventID\":\"", b);
  AppendUuid(Mix64(k ^ 2), Mix64(k ^ 3), b);
  Str(read_only ? "\",\"readOnly\":true" : "\",\"readOnly\":false", b);
  // Resources are written by the caller into scratch_ (may be empty).
  Str(scratch_, b);
  Str(",\"eventType\":\"AwsApiCall\",\"managementEvent\":", b);
  Str(management ? "true" : "false", b);
  Str(",\"recipientAccountId\":\"", b);
  Str(kAccountId, b);
  Str(management ? "\",\"eventCategory\":\"Management\"" : "\",\"eventCategory\":\"Data\"", b);
  if (IsInternal(r.ip) && host_header.find(".s3.") != std::string_view::npos) {
    Str(",\"vpcEndpointId\":\"", b);
    Str(kVpcEndpoint, b);
    Str("\",\"vpcEndpointAccountId\":\"", b);
    Str(kAccountId, b);
    b->push_back('"');
  }
  Str(",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\","
      "\"clientProvidedHostHeader\":\"",
      b);
  Str(host_header, b);
  Str("\"}}", b);
}

void CloudTrailWriter::Format(const Record& r, std::string* b) {
  const Credential& c = estate_.creds[r.user];
  scratch_.clear();
  std::string& host = host_;
  host.clear();
  auto source = [&](std::string_view event_source, std::string_view event_name, bool bracket) {
    Str(",\"eventSource\":\"", b);
    Str(event_source, b);
    Str("\",\"eventName\":\"", b);
    Str(event_name, b);
    Str("\",\"awsRegion\":\"", b);
    Str(kRegion, b);
    Str("\",\"sourceIPAddress\":\"", b);
    AppendIpv4(r.ip, b);
    Str("\",\"userAgent\":\"", b);
    if (bracket) b->push_back('[');
    Str(AgentString(r.agent), b);
    if (bracket) b->push_back(']');
    b->push_back('"');
  };
  auto s3_extra = [&](int64_t in, int64_t out) {
    Str(",\"additionalEventData\":{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":"
        "\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":",
        b);
    AppendInt(in, b);
    Str(",\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"", b);
    AppendBase64Chars(Key(estate_.seed, 401, r.seq), 76, b);
    Str("\",\"bytesTransferredOut\":", b);
    AppendInt(out, b);
    b->push_back('}');
  };
  auto bucket_host = [&](std::string_view bucket) {
    host.assign(bucket.data(), bucket.size());
    host += ".s3.";
    host.append(kRegion.data(), kRegion.size());
    host += ".amazonaws.com";
  };
  auto object_resource = [&](std::string_view bucket, std::string_view key_prefix, bool with_object,
                             std::string_view owner) {
    if (with_object) {
      Str("{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::", &scratch_);
      Str(bucket, &scratch_);
      scratch_.push_back('/');
      Str(key_prefix, &scratch_);
      AppendS3Key(r.object, &scratch_);
      Str("\"},", &scratch_);
    }
    Str("{\"accountId\":\"", &scratch_);
    Str(owner, &scratch_);
    Str("\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::", &scratch_);
    Str(bucket, &scratch_);
    Str("\"}", &scratch_);
  };
  const std::string_view tenant_bucket =
      r.tenant > 0 ? std::string_view(estate_.tenant(r.tenant).bucket) : std::string_view();

  switch (r.type) {
    case RecordType::kCtConsoleLogin: {
      const bool failed = r.flag == 1;
      AppendIdentity(r, false, b);
      source("signin.amazonaws.com", "ConsoleLogin", false);
      if (failed) Str(",\"errorMessage\":\"Failed authentication\"", b);
      Str(",\"requestParameters\":null,\"responseElements\":{\"ConsoleLogin\":\"", b);
      Str(failed ? "Failure" : "Success", b);
      Str("\"},\"additionalEventData\":{\"LoginTo\":\"https://", b);
      Str(kRegion, b);
      Str(".console.aws.amazon.com/console/home?region=", b);
      Str(kRegion, b);
      Str("\",\"MobileVersion\":\"No\",\"MFAIdentifier\":\"arn:aws:iam::", b);
      Str(kAccountId, b);
      Str(":mfa/", b);
      Str(c.name, b);
      Str(failed ? "\",\"MFAUsed\":\"No\"}" : "\",\"MFAUsed\":\"Yes\"}", b);
      const uint64_t k = Key(estate_.seed, 400, r.seq, static_cast<uint64_t>(r.time_ns));
      Str(",\"eventID\":\"", b);
      AppendUuid(Mix64(k ^ 2), Mix64(k ^ 3), b);
      Str("\",\"readOnly\":false,\"eventType\":\"AwsConsoleSignIn\",\"managementEvent\":true,"
          "\"recipientAccountId\":\"",
          b);
      Str(kAccountId, b);
      Str("\",\"eventCategory\":\"Management\",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\","
          "\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"",
          b);
      Str(kRegion, b);
      Str(".signin.aws.amazon.com\"}}", b);
      return;
    }
    case RecordType::kCtAssumeRole: {
      const bool console = r.agent == kUaConsole;
      const std::string_view role = console ? "SupportReadOnly" : "etl-export";
      AppendIdentity(r, !console, b);
      source("sts.amazonaws.com", "AssumeRole", false);
      Str(",\"requestParameters\":{\"roleArn\":\"arn:aws:iam::", b);
      Str(kAccountId, b);
      Str(":role/", b);
      Str(role, b);
      Str("\",\"roleSessionName\":\"", b);
      Str(c.name, b);
      b->push_back('-');
      AppendInt(r.time_ns / kNsPerSecond, b);
      Str("\",\"durationSeconds\":3600},\"responseElements\":{\"credentials\":{\"accessKeyId\":"
          "\"ASIA",
          b);
      AppendBase32Id(Key(estate_.seed, 402, r.seq), 16, b);
      Str("\"},\"assumedRoleUser\":{\"assumedRoleId\":\"AROA", b);
      AppendBase32Id(Key(estate_.seed, 403, console ? 1 : 2), 17, b);
      b->push_back(':');
      Str(c.name, b);
      b->push_back('-');
      AppendInt(r.time_ns / kNsPerSecond, b);
      Str("\",\"arn\":\"arn:aws:sts::", b);
      Str(kAccountId, b);
      Str(":assumed-role/", b);
      Str(role, b);
      b->push_back('/');
      Str(c.name, b);
      b->push_back('-');
      AppendInt(r.time_ns / kNsPerSecond, b);
      Str("\"}}", b);
      Str(",\"resources\":[{\"accountId\":\"", &scratch_);
      Str(kAccountId, &scratch_);
      Str("\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam::", &scratch_);
      Str(kAccountId, &scratch_);
      Str(":role/", &scratch_);
      Str(role, &scratch_);
      Str("\"}]", &scratch_);
      host = "sts.";
      host.append(kRegion.data(), kRegion.size());
      host += ".amazonaws.com";
      AppendTail(r, true, true, host, b);
      return;
    }
    case RecordType::kCtListBuckets: {
      AppendIdentity(r, true, b);
      source("s3.amazonaws.com", "ListBuckets", true);
      host = "s3.";
      host.append(kRegion.data(), kRegion.size());
      host += ".amazonaws.com";
      Str(",\"requestParameters\":{\"Host\":\"", b);
      Str(host, b);
      Str("\"},\"responseElements\":null", b);
      s3_extra(0, 1830 + static_cast<int64_t>(estate_.tenants.size()) * 120);
      AppendTail(r, true, true, host, b);
      return;
    }
    case RecordType::kCtListObjects: {
      AppendIdentity(r, true, b);
      source("s3.amazonaws.com", "ListObjects", true);
      bucket_host(tenant_bucket);
      Str(",\"requestParameters\":{\"list-type\":\"2\",\"bucketName\":\"", b);
      Str(tenant_bucket, b);
      Str("\",\"encoding-type\":\"url\",\"prefix\":\"exports/", b);
      AppendDateSlashed(ObjectDay(r.object), b);
      Str("/\",\"delimiter\":\"/\",\"Host\":\"", b);
      Str(host, b);
      Str("\"},\"responseElements\":null", b);
      s3_extra(0, 2400 + static_cast<int64_t>(Key(estate_.seed, 404, r.seq) % 9000));
      scratch_ = ",\"resources\":[";
      object_resource(tenant_bucket, "", false, kAccountId);
      scratch_ += "]";
      AppendTail(r, false, true, host, b);
      return;
    }
    case RecordType::kCtGetObject:
    case RecordType::kCtPutObject: {
      const bool get = r.type == RecordType::kCtGetObject;
      AppendIdentity(r, true, b);
      source("s3.amazonaws.com", get ? "GetObject" : "PutObject", true);
      bucket_host(tenant_bucket);
      Str(",\"requestParameters\":{\"bucketName\":\"", b);
      Str(tenant_bucket, b);
      Str("\",\"Host\":\"", b);
      Str(host, b);
      Str("\",\"key\":\"", b);
      AppendS3Key(r.object, b);
      Str(get ? "\"},\"responseElements\":null"
              : "\"},\"responseElements\":{\"x-amz-server-side-encryption\":\"AES256\"}",
          b);
      s3_extra(get ? 0 : r.bytes2, get ? r.bytes : 0);
      scratch_ = ",\"resources\":[";
      object_resource(tenant_bucket, "", true, kAccountId);
      scratch_ += "]";
      AppendTail(r, false, get, host, b);
      return;
    }
    case RecordType::kCtCopyObject: {
      const bool foreign = r.flag == kCopyForeign;
      const std::string_view dst = foreign ? kForeignBucket : kBackupBucket;
      const std::string& tenant_id = estate_.tenant(r.tenant).id;
      std::string dst_prefix = tenant_id + "/";
      AppendIdentity(r, true, b);
      source("s3.amazonaws.com", "CopyObject", true);
      bucket_host(dst);
      Str(",\"requestParameters\":{\"bucketName\":\"", b);
      Str(dst, b);
      Str("\",\"Host\":\"", b);
      Str(host, b);
      Str("\",\"x-amz-copy-source\":\"", b);
      Str(tenant_bucket, b);
      b->push_back('/');
      AppendS3Key(r.object, b);
      Str("\",\"key\":\"", b);
      Str(dst_prefix, b);
      AppendS3Key(r.object, b);
      Str("\"},\"responseElements\":null", b);
      s3_extra(0, 234);
      scratch_ = ",\"resources\":[";
      object_resource(tenant_bucket, "", true, kAccountId);
      scratch_ += ",";
      object_resource(dst, dst_prefix, true, foreign ? kForeignAccountId : kAccountId);
      scratch_ += "]";
      AppendTail(r, false, false, host, b);
      return;
    }
    case RecordType::kCtModifySnapshotAttribute: {
      AppendIdentity(r, true, b);
      source("ec2.amazonaws.com", "ModifySnapshotAttribute", false);
      Str(",\"requestParameters\":{\"snapshotId\":\"snap-0", b);
      AppendHexFixed(Key(estate_.seed, 405, r.host), 16, false, b);
      Str("\",\"createVolumePermission\":{\"add\":{\"items\":[{\"userId\":\"", b);
      Str(kForeignAccountId, b);
      Str("\"}]}},\"attributeType\":\"CREATE_VOLUME_PERMISSION\"},\"responseElements\":{"
          "\"requestId\":\"",
          b);
      const uint64_t k = Key(estate_.seed, 406, r.seq);
      AppendUuid(k, Mix64(k), b);
      Str("\",\"_return\":true}", b);
      host = "ec2.";
      host.append(kRegion.data(), kRegion.size());
      host += ".amazonaws.com";
      AppendTail(r, true, false, host, b);
      return;
    }
    default:
      return;
  }
}

absl::Status CloudTrailWriter::OpenDeliveryFile(int64_t window, int part) {
  const int64_t t = (window + 1) * kWindowNs;  // delivered when the window closes
  const int64_t day = DayOf(t);
  const int64_t secs = (t - day * kNsPerDay) / kNsPerSecond;
  std::string path = delivery_dir_;
  path += '/';
  Str(kAccountId, &path);
  path += "_CloudTrail_";
  Str(kRegion, &path);
  path += '_';
  AppendDate8(day, &path);
  path += 'T';
  AppendPadded(static_cast<uint64_t>(secs / 3600), 2, &path);
  AppendPadded(static_cast<uint64_t>(secs / 60 % 60), 2, &path);
  path += "Z_";
  uint64_t bits =
      Key(estate_.seed, 410, static_cast<uint64_t>(window), static_cast<uint64_t>(part));
  for (int i = 0; i < 16; ++i) {
    if (i == 8) bits = Mix64(bits);
    path += kAlnum[bits % 62];
    bits /= 62;
  }
  path += ".json.gz";
  ++delivery_files_;
  return gz_.Open(path);
}

size_t CloudTrailWriter::Write(const Record& r) {
  if (r.time_ns < split_ns_) {
    std::string* b = ndjson_->buffer();
    const size_t before = b->size();
    Format(r, b);
    b->push_back('\n');
    const size_t n = b->size() - before;
    ndjson_->Commit();
    ++ndjson_records_;
    return n;
  }
  const int64_t window = r.time_ns / kWindowNs;
  const bool new_window = window != window_;
  if (new_window || in_file_ >= kMaxRecordsPerFile) {
    if (gz_.is_open()) {
      gz_.Append("]}");
      absl::Status s = gz_.Close();
      if (status_.ok()) status_ = s;
    }
    part_ = new_window ? 0 : part_ + 1;
    window_ = window;
    in_file_ = 0;
    absl::Status s = OpenDeliveryFile(window, part_);
    if (status_.ok()) status_ = s;
    gz_.Append("{\"Records\":[");
  } else {
    gz_.Append(",");
  }
  line_.clear();
  Format(r, &line_);
  gz_.Append(line_);
  ++in_file_;
  ++delivery_records_;
  return line_.size() + 1;
}

absl::Status CloudTrailWriter::Finish() {
  if (gz_.is_open()) {
    gz_.Append("]}");
    absl::Status s = gz_.Close();
    if (status_.ok()) status_ = s;
  }
  return status_;
}

// --- OCSF flows ---------------------------------------------------------------

FlowWriter::FlowWriter(const Estate& estate, OutputFile* out) : estate_(estate), out_(out) {}

size_t FlowWriter::Write(const Record& r) {
  std::string* b = out_->buffer();
  const size_t before = b->size();
  const Host& h = estate_.hosts[r.host];
  const bool close = r.type == RecordType::kFlowClose;
  const int64_t ms = r.time_ns / 1'000'000;
  const int64_t packets_out = r.bytes / 1448 + 1;
  const int64_t packets_in = r.bytes2 / 1448 + 1;
  Str(close ? "{\"activity_id\":2,\"activity_name\":\"Close\""
            : "{\"activity_id\":6,\"activity_name\":\"Traffic\"",
      b);
  Str(",\"category_uid\":4,\"category_name\":\"Network Activity\",\"class_uid\":4001,"
      "\"class_name\":\"Network Activity\",\"type_uid\":",
      b);
  Str(close ? "400102,\"type_name\":\"Network Activity: Close\""
            : "400106,\"type_name\":\"Network Activity: Traffic\"",
      b);
  Str(",\"severity_id\":1,\"severity\":\"Informational\",\"action_id\":1,\"action\":\"Allowed\","
      "\"disposition_id\":1,\"disposition\":\"Allowed\",\"time\":",
      b);
  AppendInt(ms, b);
  Str(",\"start_time\":", b);
  AppendInt(r.start_ns / 1'000'000, b);
  Str(",\"end_time\":", b);
  AppendInt(ms, b);
  Str(",\"metadata\":{\"version\":\"1.1.0\",\"product\":{\"name\":\"host-flow-exporter\","
      "\"vendor_name\":\"credwatch-sim\"},\"log_name\":\"flows\"},\"device\":{\"hostname\":\"",
      b);
  Str(h.name, b);
  Str("\",\"ip\":\"", b);
  AppendIpv4(h.ip, b);
  Str("\",\"type_id\":1},\"src_endpoint\":{\"ip\":\"", b);
  AppendIpv4(h.ip, b);
  Str("\",\"hostname\":\"", b);
  Str(h.name, b);
  Str("\",\"port\":", b);
  AppendUint(r.port2, b);
  Str("},\"dst_endpoint\":{\"ip\":\"", b);
  AppendIpv4(r.ip, b);
  Str("\",\"port\":", b);
  AppendUint(r.port, b);
  Str("},\"connection_info\":{\"direction\":\"Outbound\",\"direction_id\":2,\"protocol_num\":", b);
  AppendUint(r.flag, b);
  Str(r.flag == kProtoUdp ? ",\"protocol_name\":\"udp\"" : ",\"protocol_name\":\"tcp\"", b);
  Str(",\"protocol_ver_id\":4},\"traffic\":{\"bytes_out\":", b);
  AppendInt(r.bytes, b);
  Str(",\"bytes_in\":", b);
  AppendInt(r.bytes2, b);
  Str(",\"bytes\":", b);
  AppendInt(r.bytes + r.bytes2, b);
  Str(",\"packets_out\":", b);
  AppendInt(packets_out, b);
  Str(",\"packets_in\":", b);
  AppendInt(packets_in, b);
  Str(",\"packets\":", b);
  AppendInt(packets_out + packets_in, b);
  Str("}}\n", b);
  const size_t n = b->size() - before;
  out_->Commit();
  return n;
}

}  // namespace credwatch::sim
