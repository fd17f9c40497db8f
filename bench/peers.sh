#!/usr/bin/env bash
# Peers on the same work (issue 5): the same sshd authentication stream
# (syslog text) through SEC with an equivalent brute-force rule, through
# fail2ban-regex with its sshd filter, and through credwatch replay.
#   bench/peers.sh [COPIES]     default 100 copies of OpenSSH_2k.log (200k lines)
# Installs sec and fail2ban (Debian packages) if missing. Writes
# bench/results/peers-DATE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
copies="${1:-100}"
CREDWATCH_SETUP_PEERS=1 bash scripts/setup.sh >/dev/null
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_TESTS=OFF \
  -DCREDWATCH_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target credwatch >/dev/null

src=../shared/datasets/sshd/loghub/OpenSSH/OpenSSH_2k.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# COPIES copies, one day apart from 1 January, so event time moves forward.
awk -v copies="$copies" '
  BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ");
          split("31 28 31 30 31 30 31 31 30 31 30 31", len, " ") }
  { lines[NR] = $0 }
  END {
    for (k = 0; k < copies; k++) {
      d = k % 365; m = 1; while (d >= len[m]) { d -= len[m]; m++ }
      stamp = sprintf("%s %2d", mon[m], d + 1)
      for (i = 1; i <= NR; i++) print stamp substr(lines[i], 7)
    }
  }' "$src" > "$work/stream.log"
cp "$src" "$work/one.log"
lines=$(wc -l < "$work/stream.log")

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

t0=$(now)
./build-bench/credwatch replay --quiet --format syslog --rules bench/peers/brute_force.yml \
  --output "$work/cw.ndjson" "$work/stream.log"
t1=$(now)
sec --conf=bench/peers/sec-bruteforce.conf --input="$work/stream.log" --notail --nointevents \
  --log=/dev/null > "$work/sec.out"
t2=$(now)
fail2ban-regex "$work/stream.log" /etc/fail2ban/filter.d/sshd.conf > "$work/f2b.out" 2>&1 || true
t3=$(now)
cw_rate=$(rate "$lines" "$t0" "$t1")
sec_rate=$(rate "$lines" "$t1" "$t2")
f2b_rate=$(rate "$lines" "$t2" "$t3")

# Agreement on one copy: the addresses each flags as brute force.
./build-bench/credwatch replay --quiet --format syslog --rules bench/peers/brute_force.yml \
  --output "$work/cw1.ndjson" "$work/one.log"
sec --conf=bench/peers/sec-bruteforce.conf --input="$work/one.log" --notail --nointevents \
  --log=/dev/null | awk '{print $2}' | sort -u > "$work/sec1.ips"
grep -o '"group_key":"[^"]*"' "$work/cw1.ndjson" | cut -d'"' -f4 | sort -u > "$work/cw1.ips"
agree=$(comm -12 "$work/sec1.ips" "$work/cw1.ips" | wc -l)
only_sec=$(comm -23 "$work/sec1.ips" "$work/cw1.ips" | wc -l)
only_cw=$(comm -13 "$work/sec1.ips" "$work/cw1.ips" | wc -l)
f2b_matched=$(grep -Eo 'Lines: [0-9]+ lines, [0-9]+ ignored, [0-9]+ matched' "$work/f2b.out" | awk '{print $6}')

mkdir -p bench/results
out="bench/results/peers-$(date -u +%Y%m%dT%H%M%SZ).md"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
  echo "# credwatch against peers on one sshd stream"
  echo
  echo "Machine: $cpu, $(nproc) cores. Stream: $copies copies of loghub OpenSSH_2k.log, one day apart ($lines lines). One run each, wall time including start-up."
  echo
  echo "| tool | lines/s | credwatch is |"
  echo "|---|---:|---:|"
  echo "| credwatch replay (brute-force correlation) | $cw_rate | 1x |"
  echo "| SEC $(sec --version 2>/dev/null | head -1 | awk '{print $NF}') (SingleWithThreshold) | $sec_rate | $(awk -v a="$cw_rate" -v b="$sec_rate" 'BEGIN{printf "%.1fx", a/b}') faster |"
  echo "| fail2ban-regex (sshd filter) | $f2b_rate | $(awk -v a="$cw_rate" -v b="$f2b_rate" 'BEGIN{printf "%.1fx", a/b}') faster |"
  echo
  echo "Findings on one copy (addresses with 5+ failed passwords in a day): both flag $agree;"
  echo "only SEC: $only_sec; only credwatch: $only_cw. fail2ban-regex matched $f2b_matched failure lines of the $lines."
  echo
  echo "Where they differ, credwatch counts failures inside syslog's \"message repeated N times: [ Failed password ... ]\""
  echo "lines, which SEC's one-line pattern cannot (in OpenSSH_2k: 106.5.5.195 and 5.36.59.76, 6 failures each)."
} > "$out"
cat "$out"
