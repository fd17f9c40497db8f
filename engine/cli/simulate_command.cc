#include <charconv>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "replay/simulator/simulator.h"

namespace credwatch::cli {
namespace {

constexpr const char* kSimulateUsage = R"(usage: credwatch simulate [options] OUT_DIR

Writes a labeled stretch of a hospital-software vendor's legacy estate, with
the breach and its variants inside, in the real log formats (docs/simulate.md):
cloudtrail.ndjson, cloudtrail/*.json.gz, journal.ndjson, flows.ndjson,
labels.json and credwatch.yaml. Deterministic per seed.

options:
  --days D      days of activity (default 30)
  --tenants T   hospitals (tenants) served by the estate (default 12)
  --seed S      random seed (default 1)
  --events N    scale benign volume to about N events in total (default: natural)
)";

bool ParseInt(const std::string& s, int64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && *out >= 0;
}

}  // namespace

int SimulateCommand(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.Parse(argc, argv, 2, {"days", "tenants", "seed", "events"}, {"help"}, &error)) {
    std::fprintf(stderr, "credwatch simulate: %s\n\n%s", error.c_str(), kSimulateUsage);
    return kExitUsage;
  }
  if (args.Has("help")) {
    std::fputs(kSimulateUsage, stdout);
    return kExitOk;
  }
  if (args.positional().size() != 1) {
    std::fprintf(stderr, "credwatch simulate: give exactly one OUT_DIR\n\n%s", kSimulateUsage);
    return kExitUsage;
  }
  sim::SimulateOptions opts;
  opts.out_dir = args.positional()[0];
  int64_t v = 0;
  struct {
    const char* flag;
    int64_t min;
    int64_t max;
  } const kBounds[] = {{"days", 1, 3660}, {"tenants", 1, 999}, {"seed", 0, INT64_MAX},
                       {"events", 0, INT64_MAX}};
  for (const auto& b : kBounds) {
    if (!args.Has(b.flag)) continue;
    if (!ParseInt(args.Get(b.flag), &v) || v < b.min || v > b.max) {
      std::fprintf(stderr, "credwatch simulate: --%s must be a whole number from %lld to %lld\n", b.flag,
                   static_cast<long long>(b.min), static_cast<long long>(b.max));
      return kExitUsage;
    }
    std::string f = b.flag;
    if (f == "days") opts.days = static_cast<int>(v);
    if (f == "tenants") opts.tenants = static_cast<int>(v);
    if (f == "seed") opts.seed = static_cast<uint64_t>(v);
    if (f == "events") opts.target_events = v;
  }
  auto summary = sim::Simulate(opts);
  if (!summary.ok()) {
    std::fprintf(stderr, "credwatch simulate: %s\n", std::string(summary.status().message()).c_str());
    return kExitIo;
  }
  std::fprintf(stderr, "credwatch simulate: wrote %lld events (%lld bytes) to %s\n",
               static_cast<long long>(summary->events), static_cast<long long>(summary->bytes),
               opts.out_dir.c_str());
  return kExitOk;
}

}  // namespace credwatch::cli
