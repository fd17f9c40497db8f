// The simulator's intermediate record: one compact struct per output record,
// formatted into its file's text only when it is written. Sessions expand into
// Records out of time order (several sessions overlap); the timeline sorts them
// by (time, seq) before the writers see them. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_RECORD_H_
#define CREDWATCH_REPLAY_SIMULATOR_RECORD_H_

#include <cstdint>

namespace credwatch::sim {

enum class RecordType : uint8_t {
  // journal.ndjson — sshd (monitor process `pid`).
  kSshAccepted,           // flag: AuthMethod
  kSshFailedPassword,     // "Failed password for U ..." (existing user)
  kSshInvalidUser,        // "Invalid user U from IP port P"
  kSshFailedInvalidUser,  // "Failed password for invalid user U ..."
  kSshPamCheckPass,       // "pam_unix(sshd:auth): check pass; user unknown"
  kSshPamAuthFailure,     // "pam_unix(sshd:auth): authentication failure; ..."
  kSshPreauthClosed,      // "Connection closed by ... [preauth]"
  kSshSessionOpened,      // pam_unix(sshd:session): session opened ...
  kSshSessionClosed,      // pam_unix(sshd:session): session closed ...
  // journal.ndjson — the session's child process (`pid2`).
  kSshReceivedDisconnect,  // "Received disconnect from IP port P:11: ..."
  kSshDisconnected,        // "Disconnected from user U IP port P"
  kSftpSessionOpened,      // internal-sftp / sftp-server: session opened ...
  kSftpOpendir,
  kSftpClosedir,
  kSftpOpen,   // flag: 0 READ, 1 WRITE
  kSftpClose,  // bytes read `bytes`, written `bytes2`
  kSftpSessionClosed,
  kLastJournal = kSftpSessionClosed,
  // CloudTrail.
  kCtConsoleLogin,  // flag: 1 failure
  kCtAssumeRole,
  kCtListBuckets,
  kCtListObjects,
  kCtGetObject,                // bytes: bytesTransferredOut
  kCtPutObject,                // bytes: bytesTransferredIn
  kCtCopyObject,               // flag: CopyDestination
  kCtModifySnapshotAttribute,  // flag: CopyDestination (whose account)
  kLastCloudTrail = kCtModifySnapshotAttribute,
  // flows.ndjson (OCSF Network Activity).
  kFlowTraffic,  // activity 6, one export interval of a connection
  kFlowClose,    // activity 2, the connection's last interval
};

inline bool IsJournal(RecordType t) { return t <= RecordType::kLastJournal; }
inline bool IsCloudTrail(RecordType t) {
  return t > RecordType::kLastJournal && t <= RecordType::kLastCloudTrail;
}
inline bool IsFlow(RecordType t) { return t > RecordType::kLastCloudTrail; }

enum AuthMethod : uint8_t { kAuthPassword = 0, kAuthPublickey = 1 };
enum CopyDestination : uint8_t { kCopyInternalBackup = 0, kCopyForeign = 1 };
enum FlowProto : uint8_t { kProtoTcp = 6, kProtoUdp = 17 };

// Benign look-alike tags (labels.json "benign_lookalikes"). 0 = untagged.
enum Lookalike : uint8_t {
  kLookNone = 0,
  kLookNightlyBackup,
  kLookBackupCopy,
  kLookSupportMultiTenant,
  kLookPartnerUpload,
  kLookLargeInternalExport,
  kLookRemoteWorker,
  kLookMover,
  kLookTraveller,
  kLookPasswordTypo,
  kLookInternetScan,
  kLookEtlPickup,
  kLookNightShift,
  kNumLookalikes,
};

// The client software of a CloudTrail record.
enum UserAgent : uint8_t {
  kUaAwsCliWindows = 0,
  kUaAwsCliLinux,
  kUaBoto3,
  kUaGoSdk,
  kUaRclone,
  kUaBrowser,
  kUaConsole,  // calls the console makes for a signed-in user
};

// Users that are not credentials of the estate (scanners' and sprayers'
// guesses) have ids from kForeignUserBase; see Estate::UserName.
inline constexpr uint32_t kForeignUserBase = 1u << 24;

struct Record {
  int64_t time_ns = 0;   // already rounded to the format's resolution
  uint64_t seq = 0;      // generation order: the tie-break of the sort
  int64_t bytes = 0;     // read / transferred out / flow bytes_out
  int64_t bytes2 = 0;    // written / transferred in / flow bytes_in
  int64_t start_ns = 0;  // flows: start of the interval
  uint32_t user = 0;     // credential index, or kForeignUserBase + guess index
  uint32_t ip = 0;       // remote client / sourceIPAddress / flow destination
  uint32_t pid = 0;      // sshd monitor pid
  uint32_t pid2 = 0;     // session child pid (journal); sftp-server uses pid2+1
  uint32_t object = 0;   // object id (see objects.h)
  uint32_t aux = 0;      // journal: logind session number
  uint16_t port = 0;     // remote port / flow destination port
  uint16_t port2 = 0;    // flow source port
  uint16_t tenant = 0;   // object's tenant number (1-based), 0 = none
  RecordType type = RecordType::kSshAccepted;
  uint8_t host = 0;  // legacy host index (journal, flows)
  uint8_t flag = 0;  // per type, see RecordType
  uint8_t lookalike = kLookNone;
  uint8_t agent = kUaAwsCliLinux;  // CloudTrail userAgent
  int8_t attack = -1;              // attack index, -1 = benign
  bool exfil = false;              // this record shows the attacker's data leaving
};

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_RECORD_H_
