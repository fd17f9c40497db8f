#!/usr/bin/env bash
# Durable state benchmarks (issue: pipeline and durable state):
#   1. throughput of `credwatch replay` with the full rule pack on a simulated
#      dataset of EVENTS events, 1 and 2 shards, with state (RocksDB
#      write-behind, sync per commit) off and on, and the ratio on/off;
#   2. memory with CREDS distinct credentials under a memory budget: peak
#      resident memory against the budget, and bytes per credential.
#
#   bench/state_bench.sh [EVENTS (default 10000000)] [CREDS (default 2000000)] [throughput]
#
# A third argument `throughput` runs part 1 only.
#
# Writes bench/results/state-<EVENTS>-<CREDS>-<time>.md. Needs ~1 KB of disk
# per simulated event. Run on an otherwise idle machine; compare the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
creds="${2:-2000000}"
source bench/build.sh credwatch
bin=./build-bench/credwatch
mkdir -p bench/data bench/results
out="bench/results/state-$events-$creds-$(date -u +%Y%m%dT%H%M%SZ).md"

# The summary line of a replay: "... N events, ..." and "... X events/s ... peak memory Y MiB".
summary() { grep -E 'events/s|inputs,' "$1" | tr '\n' ' '; }
rate() { grep -oE '[0-9]+ events/s' "$1" | head -1 | cut -d' ' -f1; }
peak() { grep -oE 'peak memory [0-9.]+ MiB' "$1" | head -1 | awk '{print $3}'; }

{
  echo "# credwatch durable-state benchmark"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB. $(date -u +%Y-%m-%dT%H:%MZ)."
  echo
} > "$out"

# ---- 1. throughput, persistence on and off --------------------------------
data="bench/data/sim-$events"
if [[ ! -f "$data/labels.json" ]]; then
  rm -rf "$data"
  "$bin" simulate --events "$events" --seed 1 "$data" >/dev/null
fi
files=("$data/cloudtrail.ndjson" "$data/journal.ndjson" "$data/flows.ndjson")
cat "${files[@]}" > /dev/null
rates=()
run() {  # name, flags...
  local name="$1"; shift
  local log="bench/data/state-${name//\//-}.log"
  rm -rf bench/data/state-dir
  "$bin" replay --config "$data/credwatch.yaml" --rules rules/ --output /dev/null "$@" "${files[@]}" 2> "$log" || true
  rates+=("$(rate "$log")")
  echo "| $name | ${rates[-1]} | $(peak "$log") |" >> "$out"
  echo "$name: $(summary "$log")" >&2
}
{
  echo "## Replay throughput, $events simulated events, full rule pack"
  echo
  echo "| run | events/s | peak MiB |"
  echo "|---|---:|---:|"
} >> "$out"
run "no state, 1 shard" --no-state --shards 1
run "no state, 2 shards" --no-state --shards 2
run "state on, 1 shard (sync commit)" --state-dir bench/data/state-dir --shards 1 --sync commit
run "state on, 2 shards (sync commit)" --state-dir bench/data/state-dir --shards 2 --sync commit
run "state on, 2 shards (sync none)" --state-dir bench/data/state-dir --shards 2 --sync none
# Fewer, larger commits: each commit rewrites every profile and correlation
# group that changed since the last one, so hot ones are written once per
# commit; 10x fewer commits cost more memory (the write-behind batch).
run "state on, 1 shard, commit 1M events / 5s" --state-dir bench/data/state-dir --shards 1 \
  --commit-events 1000000 --commit-interval 5s
run "state on, 2 shards, commit 1M events / 5s" --state-dir bench/data/state-dir --shards 2 \
  --commit-events 1000000 --commit-interval 5s
{
  echo
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
  echo "State on against off, same shards: 1 shard $(ratio "${rates[2]}" "${rates[0]}"), 2 shards $(ratio "${rates[3]}" "${rates[1]}") (sync none: $(ratio "${rates[4]}" "${rates[1]}"))."
  echo "Committing every 1M events / 5 s: 1 shard $(ratio "${rates[5]}" "${rates[0]}"), 2 shards $(ratio "${rates[6]}" "${rates[1]}")."
  echo
} >> "$out"

if [[ "${3:-}" == throughput ]]; then
  rm -rf bench/data/state-dir
  cat "$out"
  echo "written: $out"
  exit 0
fi

# ---- 2. many credentials under a memory budget -----------------------------
cdata="bench/data/creds-$creds.ndjson"
if [[ ! -f "$cdata" ]]; then
  # Each credential logs in from its own address and reads one object: a
  # profile with a source, a host, a read volume.
  awk -v n="$creds" 'BEGIN {
    for (i = 0; i < n; i++) {
      t = 1735689600 + i;  # one credential a second: windows and the merge hold minutes, not the whole input
      printf "{\"time\":%d000000000,\"kind\":\"auth\",\"action\":\"login\",\"outcome\":\"success\",\"credential\":\"c%07d\",\"src.ip\":\"10.%d.%d.%d\",\"host\":\"h%d\"}\n", t, i, (i/65536)%256, (i/256)%256, i%256, i%16;
      printf "{\"time\":%d000000001,\"kind\":\"access\",\"action\":\"read\",\"outcome\":\"success\",\"credential\":\"c%07d\",\"src.ip\":\"10.%d.%d.%d\",\"host\":\"h%d\",\"object\":\"/srv/o%d\",\"bytes\":4096}\n", t, i, (i/65536)%256, (i/256)%256, i%256, i%16, i%1000;
    }
  }' > "$cdata"
fi
# memory_budget bounds the profiles (3/8), the open correlation windows (2/8,
# the windows that end first are dropped past it: the summary counts them),
# RocksDB's block cache and memtables (1/8 each). The full pack opens a
# 7-day window per credential here (every read is by an external client:
# no site config); one stateless rule keeps profiles only.
mkdir -p bench/data/one-rule
cat > bench/data/one-rule/login.yml <<'YAML'
title: Login from a new source
id: 5b0e0000-0000-4000-8000-00000000be02
level: low
logsource: {product: credwatch}
detection:
  sel: {action: login, outcome: success, profile.src_new: true}
  condition: sel
YAML
{
  echo "## $creds distinct credentials (one login and one read each), state on"
  echo
  echo "| rules | memory_budget | shards | events/s | peak RSS MiB | RSS over budget MiB | windows dropped (budget) | state on disk MiB | disk bytes/credential |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} >> "$out"
dropped() { grep -oE '[0-9]+ over memory_budget' "$1" | awk '{print $1}'; }
for run_spec in "rules/:64:1" "rules/:64:2" "rules/:256:1" "rules/:256:2" "bench/data/one-rule:64:1"; do
  IFS=: read -r pack budget shards <<< "$run_spec"
  {
    log="bench/data/creds-$budget.log"
    rm -rf bench/data/creds-state
    "$bin" replay --format native --rules "$pack" --output /dev/null --state-dir bench/data/creds-state \
      --sync none --commit-events 10000 --shards "$shards" --memory-budget "${budget}MiB" "$cdata" 2> "$log" || true
    p=$(peak "$log")
    disk=$(du -sm bench/data/creds-state | cut -f1)
    bytes=$(du -sb bench/data/creds-state | cut -f1)
    echo "| $pack | ${budget} MiB | $shards | $(rate "$log") | $p | $(awk -v p="$p" -v b="$budget" 'BEGIN{printf "%.1f", p-b}') | $(dropped "$log") | $disk | $(( bytes / creds )) |" >> "$out"
    echo "$pack budget $budget shards $shards: $(summary "$log")" >&2
  }
done
# What does not depend on the credentials: the same number of events over
# 500 credentials (the budget's shares then stay nearly empty).
fdata="bench/data/creds-$creds-over-500.ndjson"
if [[ ! -f "$fdata" ]]; then
  awk -v n="$creds" 'BEGIN {
    for (i = 0; i < n; i++) {
      t = 1735689600 + i; c = i % 500;
      printf "{\"time\":%d000000000,\"kind\":\"auth\",\"action\":\"login\",\"outcome\":\"success\",\"credential\":\"c%07d\",\"src.ip\":\"10.%d.%d.%d\",\"host\":\"h%d\"}\n", t, c, (c/65536)%256, (c/256)%256, c%256, c%16;
      printf "{\"time\":%d000000001,\"kind\":\"access\",\"action\":\"read\",\"outcome\":\"success\",\"credential\":\"c%07d\",\"src.ip\":\"10.%d.%d.%d\",\"host\":\"h%d\",\"object\":\"/srv/o%d\",\"bytes\":4096}\n", t, c, (c/65536)%256, (c/256)%256, c%256, c%16, c%1000;
    }
  }' > "$fdata"
fi
echo >> "$out"
for run_spec in "64:1" "256:2"; do
  IFS=: read -r budget shards <<< "$run_spec"
  rm -rf bench/data/creds-state
  "$bin" replay --format native --rules rules/ --output /dev/null --state-dir bench/data/creds-state \
    --sync none --commit-events 10000 --shards "$shards" --memory-budget "${budget}MiB" "$fdata" 2> bench/data/creds-small.log || true
  echo "Same events over 500 credentials, full pack, $budget MiB, $shards shard(s): peak $(peak bench/data/creds-small.log) MiB." >> "$out"
done
rm -rf bench/data/creds-state bench/data/state-dir
cat "$out"
echo "written: $out"
