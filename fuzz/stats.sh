#!/usr/bin/env bash
# Prints each target's figures from $OUT_DIR/<target>/default/fuzzer_stats (default work/out).
# Usage: ./stats.sh [TARGET...]
cd "$(dirname "$0")"
[ $# -eq 0 ] && set -- aql opt canonical_json canonical_xml flat
printf '| %-14s | %8s | %12s | %8s | %7s | %7s | %5s |\n' target "time (s)" execs execs/s corpus crashes hangs
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------------- ---------- -------------- ---------- --------- --------- -------
for t in "$@"; do
  f=${OUT_DIR:-work/out}/$t/default/fuzzer_stats
  [ -f "$f" ] || { echo "| $t | no stats |"; continue; }
  v() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$f"; }
  printf '| %-14s | %8s | %12s | %8s | %7s | %7s | %5s |\n' "$t" "$(v run_time)" "$(v execs_done)" \
    "$(v execs_per_sec)" "$(v corpus_count)" "$(v saved_crashes)" "$(v saved_hangs)"
done
