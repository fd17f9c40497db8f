#!/usr/bin/env bash
# Growth (issue 5): does the cost per event stay flat as the input and the
# number of credentials grow?
#   bench/growth.sh [SIZES] [CRED_COUNTS]
#     SIZES        events per run, default "1000000 10000000 50000000"
#     CRED_COUNTS  distinct credentials at 10M events, default "10000 1000000"
# Every run is `credwatch replay` with the full rule pack and durable state on
# (sync none, default budget) over one native-format NDJSON stream of benign
# work: logins (some failed), reads, listings and logouts of CREDS credentials
# from the site's own network (10.0.0.0/8) on 64 hosts, each credential in its
# own tenant's paths, 2 ms apart in event time. The streams are generated once into bench/data/
# (about 170 bytes per event: 50M events need ~9 GB of disk).
# Writes bench/results/growth-DATE.md with events/s, MB/s, peak memory and
# state bytes per credential.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-1000000 10000000 50000000}"
cred_counts="${2:-10000 1000000}"
default_creds=100000
source bench/build.sh credwatch
bin=./build-bench/credwatch
mkdir -p bench/data bench/results
# The site: its own network, tenants from credential and object names.
config=bench/data/growth.yaml
# The generated stream is in time order: a short reorder window (the
# default 10 minutes would hold 300,000 events of this stream in memory).
cat > "$config" <<'YAML'
replay:
  max_disorder: 5s
site:
  internal_networks: [10.0.0.0/8]
  tenants:
    credential: ["^(?P<tenant>t[0-9]+)-"]
    object: ["^/srv/(?P<tenant>t[0-9]+)/"]
YAML

# gen EVENTS CREDS -> path of the stream
gen() {
  local events="$1" creds="$2" f="bench/data/growth-$1-$2.ndjson"
  if [[ ! -f "$f" ]]; then
    awk -v n="$events" -v c="$creds" 'BEGIN {
      t0 = 1735689600000;  # ms
      for (i = 0; i < n; i++) {
        k = (i * 7919) % c;            # spread the credentials over the stream
        t = t0 + 2 * i;
        h = k % 64;
        r = i % 10;
        if (r == 0) { a = "login"; o = (i % 50 == 0) ? "failure" : "success"; kind = "auth" }
        else if (r == 9) { a = "logout"; o = "success"; kind = "auth" }
        else if (r == 8) { a = "list"; o = "success"; kind = "access" }
        else { a = "read"; o = "success"; kind = "access" }
        printf "{\"time\":%.0f000000,\"kind\":\"%s\",\"action\":\"%s\",\"outcome\":\"%s\",\"credential\":\"t%d-user%07d\",\"src.ip\":\"10.%d.%d.%d\",\"host\":\"h%02d\"", t, kind, a, o, k % 12, k, (k / 65536) % 256, (k / 256) % 256, k % 256, h;
        if (kind == "access") printf ",\"object\":\"/srv/t%d/o%d\",\"bytes\":%d", k % 12, i % 997, 1024 + (i % 4096);
        printf "}\n";
      }
    }' > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

out="bench/results/growth-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "# credwatch growth benchmark"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB. $(date -u +%Y-%m-%dT%H:%MZ)."
  echo "\`credwatch replay --config bench/data/growth.yaml --format native --rules rules/ --state-dir ... --sync none\`, default memory budget (512 MiB)."
  echo
  echo "| events | credentials | events/s | MB/s | peak MiB | state bytes/credential |"
  echo "|---:|---:|---:|---:|---:|---:|"
} > "$out"

run() {  # events creds
  local f log state=bench/data/growth-state
  f=$(gen "$1" "$2")
  cat "$f" > /dev/null
  log="bench/data/growth-$1-$2.log"
  rm -rf "$state"
  "$bin" replay --config "$config" --format native --rules rules/ --output /dev/null --state-dir "$state" --sync none "$f" 2> "$log" || true
  local rate mbs peak bytes
  rate=$(grep -oE '[0-9]+ events/s' "$log" | head -1 | cut -d' ' -f1)
  mbs=$(grep -oE '[0-9.]+ MB/s' "$log" | head -1 | cut -d' ' -f1)
  peak=$(grep -oE 'peak memory [0-9.]+ MiB' "$log" | head -1 | awk '{print $3}')
  bytes=$(du -sb "$state" | cut -f1)
  echo "| $1 | $2 | $rate | $mbs | $peak | $(( bytes / $2 )) |" >> "$out"
  echo "$1 events, $2 credentials: $rate events/s, peak $peak MiB" >&2
  rm -rf "$state"
}

for n in $sizes; do run "$n" "$default_creds"; done
for c in $cred_counts; do run 10000000 "$c"; done
cat "$out"
echo "written: $out"
