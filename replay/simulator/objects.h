// The hospitals' data: what lives under /srv/ehr/tNNN/ on the legacy hosts and
// in the tNNN-ehr-exports buckets. An object is a 32-bit id (category, day,
// serial); its path, S3 key and size are pure functions of the id, the tenant
// and the seed, so nothing about the data set is held in memory. Internal
// header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_OBJECTS_H_
#define CREDWATCH_REPLAY_SIMULATOR_OBJECTS_H_

#include <cstdint>
#include <string>

namespace credwatch::sim {

enum ObjectCategory : uint32_t {
  kObjArchive = 0,   // archive/YYYY/MM/encounters-YYYYMMDD-NNNN.hl7.gz, stable
  kObjExport = 1,    // exports/patients-YYYYMMDD.csv.gz, ... daily
  kObjReport = 2,    // reports/census-YYYYMMDD.pdf, ... daily
  kObjInbound = 3,   // inbound/lab-results-YYYYMMDD-NNNN.hl7, through the day
  kObjOutbound = 4,  // outbound/claims-YYYYMMDD-NN.x12, for the partner
  kObjDbDump = 5,    // db/ehr_tNNN_YYYYMMDD.sql.gz, nightly, large
  kObjImaging = 6,   // imaging/YYYY/MM/study-NNNNNNNN.dcm.tar, large, stable
  kObjUpload = 7,    // inbound/upload-YYYYMMDD-NNNN.csv, written by staff
};

// Bits: category 3, day 15 (days since the epoch, until 2059), serial 14.
inline constexpr uint32_t kMaxObjectSerial = (1u << 14) - 1;
constexpr uint32_t MakeObject(ObjectCategory c, int64_t day, uint32_t serial) {
  return (static_cast<uint32_t>(c) << 29) | ((static_cast<uint32_t>(day) & 0x7FFF) << 14) |
         (serial & kMaxObjectSerial);
}
constexpr ObjectCategory CategoryOf(uint32_t id) { return static_cast<ObjectCategory>(id >> 29); }
constexpr int64_t ObjectDay(uint32_t id) { return (id >> 14) & 0x7FFF; }
constexpr uint32_t ObjectSerial(uint32_t id) { return id & kMaxObjectSerial; }

// Stable archive/imaging objects: the i-th of a tenant's catalog.
uint32_t ArchiveObject(uint64_t seed, int tenant, uint32_t i);
uint32_t ImagingObject(uint64_t seed, int tenant, uint32_t i);

// "t003".
void AppendTenantId(int tenant, std::string* out);
// "/srv/ehr/t003/exports/patients-20250106.csv.gz".
void AppendSftpPath(int tenant, uint32_t id, std::string* out);
// "/srv/ehr/t003/exports" (the directory AppendSftpPath's file is in).
void AppendSftpDir(int tenant, uint32_t id, std::string* out);
// "exports/2025/01/06/patients.csv.gz" (key in bucket tNNN-ehr-exports).
void AppendS3Key(uint32_t id, std::string* out);
// Size in bytes; `scale` is the tenant's relative size.
int64_t ObjectSize(uint64_t seed, int tenant, uint32_t id, double scale);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_OBJECTS_H_
