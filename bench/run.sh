#!/usr/bin/env bash
# End-to-end benchmark, one command (issue 5):
#   bench/run.sh [EVENTS]          default 2000000 simulated records
# 1. builds credwatch and the ceiling tool in release mode (build-bench/);
# 2. simulates EVENTS records with `credwatch simulate` (cached in bench/data/);
# 3. on the same NDJSON files measures
#    - the ceiling: a simdjson-only pass extracting the decoders' fields, on
#      one core and on all cores;
#    - `credwatch replay` with the full rule pack: events/s, MB/s, peak memory;
#    - the ratio of the two;
# 4. writes bench/results/e2e-<EVENTS>-<date>.json and .md with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-2000000}"
source bench/build.sh credwatch credwatch_ceiling

data="bench/data/sim-$events"
if [[ ! -f "$data/labels.json" ]]; then
  rm -rf "$data"
  ./build-bench/credwatch simulate --events "$events" --seed 1 "$data"
fi
files=("$data/journal.ndjson" "$data/cloudtrail.ndjson" "$data/flows.ndjson")
cat "${files[@]}" > /dev/null  # warm the page cache for both sides

mkdir -p bench/results
out="bench/results/e2e-$events-$(date -u +%Y%m%dT%H%M%SZ)"
# The simulated config keeps durable state next to the data: start it fresh,
# or the replay would resume a finished run instead of doing the work.
rm -rf "$data/credwatch-state"
./build-bench/credwatch_ceiling --e2e ./build-bench/credwatch "$data/credwatch.yaml" "$out" "${files[@]}" >/dev/null
# Per credential: the profiles the state holds, resident memory and disk.
creds=$(./build-bench/credwatch state export --state-dir "$data/credwatch-state" | wc -l)
peak=$(grep -oE '"peak_rss_mib":[0-9.]+' "$out.json" | cut -d: -f2)
disk=$(du -sb "$data/credwatch-state" | cut -f1)
{
  echo
  echo "State on (the config's state_dir, sync per commit): $creds credentials profiled;"
  echo "peak resident memory $peak MiB = $(awk -v p="$peak" -v c="$creds" 'BEGIN{printf "%.0f", p*1048576/c}') bytes per credential"
  echo "(all of the process, rule pack and buffers included); state on disk $(( disk / 1048576 )) MiB = $(( disk / creds )) bytes per credential."
} >> "$out.md"
cat "$out.md"
echo "written: $out.json $out.md"
