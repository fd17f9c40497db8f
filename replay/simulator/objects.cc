#include "replay/simulator/objects.h"

#include <cmath>
#include <string_view>

#include "replay/simulator/format.h"
#include "replay/simulator/random.h"

namespace credwatch::sim {
namespace {

constexpr int64_t kDay20240101 = 19723;  // days since the epoch

constexpr std::string_view kExportNames[] = {"patients",    "encounters", "medications",
                                             "lab-results", "billing",    "discharges"};
constexpr std::string_view kReportNames[] = {"census", "bed-occupancy", "quality-indicators"};

// Name inside the category directory (no directory, no date folders).
void AppendBaseName(int tenant, uint32_t id, std::string* out) {
  const int64_t day = ObjectDay(id);
  const uint32_t serial = ObjectSerial(id);
  switch (CategoryOf(id)) {
    case kObjArchive:
      out->append("encounters-");
      AppendDate8(day, out);
      out->push_back('-');
      AppendPadded(serial, 4, out);
      out->append(".hl7.gz");
      return;
    case kObjExport:
      if (serial < std::size(kExportNames)) {
        out->append(kExportNames[serial]);
        out->push_back('-');
        AppendDate8(day, out);
      } else {
        out->append("extract-");
        AppendDate8(day, out);
        out->push_back('-');
        AppendPadded(serial, 4, out);
      }
      out->append(".csv.gz");
      return;
    case kObjReport:
      if (serial < std::size(kReportNames)) {
        out->append(kReportNames[serial]);
        out->push_back('-');
        AppendDate8(day, out);
      } else {
        out->append("report-");
        AppendDate8(day, out);
        out->push_back('-');
        AppendPadded(serial, 4, out);
      }
      out->append(".pdf");
      return;
    case kObjInbound:
      out->append("lab-results-");
      AppendDate8(day, out);
      out->push_back('-');
      AppendPadded(serial, 4, out);
      out->append(".hl7");
      return;
    case kObjOutbound:
      out->append("claims-");
      AppendDate8(day, out);
      out->push_back('-');
      AppendPadded(serial, 2, out);
      out->append(".x12");
      return;
    case kObjDbDump:
      out->append("ehr_");
      AppendTenantId(tenant, out);
      out->push_back('_');
      AppendDate8(day, out);
      out->append(".sql.gz");
      return;
    case kObjImaging:
      out->append("study-");
      AppendPadded(Mix64(static_cast<uint64_t>(tenant) << 32 | id) % 100000000, 8, out);
      out->append(".dcm.tar");
      return;
    case kObjUpload:
      out->append("upload-");
      AppendDate8(day, out);
      out->push_back('-');
      AppendPadded(serial, 4, out);
      out->append(".csv");
      return;
  }
}

// Directory below /srv/ehr/tNNN/ ("exports", "archive/2024/04").
void AppendCategoryDir(uint32_t id, std::string* out) {
  switch (CategoryOf(id)) {
    case kObjArchive:
    case kObjImaging: {
      out->append(CategoryOf(id) == kObjArchive ? "archive/" : "imaging/");
      CivilDate c = CivilFromDays(ObjectDay(id));
      AppendUint(static_cast<uint64_t>(c.year), out);
      out->push_back('/');
      AppendPadded(c.month, 2, out);
      return;
    }
    case kObjExport:
      out->append("exports");
      return;
    case kObjReport:
      out->append("reports");
      return;
    case kObjInbound:
    case kObjUpload:
      out->append("inbound");
      return;
    case kObjOutbound:
      out->append("outbound");
      return;
    case kObjDbDump:
      out->append("db");
      return;
  }
}

}  // namespace

uint32_t ArchiveObject(uint64_t seed, int tenant, uint32_t i) {
  int64_t day = kDay20240101 + static_cast<int64_t>(Key(seed, 11, tenant, i) % 366);
  return MakeObject(kObjArchive, day, i);
}

uint32_t ImagingObject(uint64_t seed, int tenant, uint32_t i) {
  int64_t day = kDay20240101 - 365 + static_cast<int64_t>(Key(seed, 12, tenant, i) % 730);
  return MakeObject(kObjImaging, day, i);
}

void AppendTenantId(int tenant, std::string* out) {
  out->push_back('t');
  AppendPadded(static_cast<uint64_t>(tenant), 3, out);
}

void AppendSftpDir(int tenant, uint32_t id, std::string* out) {
  out->append("/srv/ehr/");
  AppendTenantId(tenant, out);
  out->push_back('/');
  AppendCategoryDir(id, out);
}

void AppendSftpPath(int tenant, uint32_t id, std::string* out) {
  AppendSftpDir(tenant, id, out);
  out->push_back('/');
  AppendBaseName(tenant, id, out);
}

void AppendS3Key(uint32_t id, std::string* out) {
  switch (CategoryOf(id)) {
    case kObjExport:
      out->append("exports/");
      break;
    case kObjReport:
      out->append("reports/");
      break;
    case kObjArchive:
      out->append("archive/");
      break;
    case kObjImaging:
      out->append("imaging/");
      break;
    default:
      out->append("misc/");
      break;
  }
  AppendDateSlashed(ObjectDay(id), out);
  out->push_back('/');
  // The tenant is the bucket; dump names (which carry it) are not in S3.
  AppendBaseName(0, id, out);
}

int64_t ObjectSize(uint64_t seed, int tenant, uint32_t id, double scale) {
  double lo = 1e4, hi = 1e5;
  switch (CategoryOf(id)) {
    case kObjArchive:
      lo = 2e5;
      hi = 2.5e7;
      break;
    case kObjExport:
      lo = 2e6;
      hi = 9e7;
      break;
    case kObjReport:
      lo = 1.5e5;
      hi = 5e6;
      break;
    case kObjInbound:
      lo = 4e3;
      hi = 2.5e5;
      break;
    case kObjOutbound:
      lo = 5e5;
      hi = 2e7;
      break;
    case kObjDbDump:
      lo = 6e8;
      hi = 2.4e9;
      break;
    case kObjImaging:
      lo = 4e7;
      hi = 8e8;
      break;
    case kObjUpload:
      lo = 1e4;
      hi = 5e6;
      break;
  }
  double u = UnitFromBits(Key(seed, 13, tenant, id));
  if (CategoryOf(id) == kObjDbDump) {
    // One database per hospital: the same size every night, give or take.
    u = UnitFromBits(Key(seed, 14, tenant)) + 0.01 * (u - 0.5);
  }
  double size = lo * std::exp(u * std::log(hi / lo));
  if (CategoryOf(id) == kObjDbDump || CategoryOf(id) == kObjExport) size *= scale;
  return static_cast<int64_t>(size) + 1;
}

}  // namespace credwatch::sim
