#!/usr/bin/env bash
# Runs the fuzz targets side by side under `nice -n 19` until each has fuzzed MINUTES minutes
# (default 30), then stops them and prints their figures (stats.sh). While the file
# $QUIET_FILE exists (default /work/brief/QUIET: someone needs a quiet machine), every fuzzer is
# paused with SIGSTOP and resumed with SIGCONT when it is gone; paused time does not count.
# Usage, from fuzz/ after `cargo afl build --release` and ./seed.sh:
#   ./run.sh [MINUTES] [TARGET...]
# Starting corpora: $IN_DIR/<target> (default work/seeds, or a queue of an earlier run);
# findings: $OUT_DIR/<target>/default/{crashes,hangs}/ (default work/out); logs: work/log/.
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-30}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- aql opt canonical_json canonical_xml flat
quiet=${QUIET_FILE:-/work/brief/QUIET}
in_dir=${IN_DIR:-work/seeds}
out_dir=${OUT_DIR:-work/out}
afl_dicts=$(dirname "$(dirname "$(command -v afl-fuzz 2>/dev/null || echo /nonexistent/bin/afl-fuzz)")")/share/afl/dictionaries
[ -d "$afl_dicts" ] || afl_dicts=$(ls -d "$HOME"/.local/share/afl.rs/rustc-*/afl.rs-*/afl/share/afl/dictionaries 2>/dev/null | tail -1)
mkdir -p "$out_dir" work/log

declare -A pid
for t in "$@"; do
  [ -d "$in_dir/$t" ] || { echo "$in_dir/$t is missing: run ./seed.sh" >&2; exit 1; }
  dicts=()
  case $t in
    aql) dicts=(-x dict/aql.dict) ;;
    opt | canonical_xml) dicts=(-x dict/openehr.dict) ;;
    canonical_json | flat) dicts=(-x dict/openehr.dict) ;;
  esac
  case $t in
    opt | canonical_xml) [ -f "$afl_dicts/xml.dict" ] && dicts+=(-x "$afl_dicts/xml.dict") ;;
    canonical_json | flat) [ -f "$afl_dicts/json.dict" ] && dicts+=(-x "$afl_dicts/json.dict") ;;
  esac
  # setsid: each fuzzer leads its own process group, so that pausing reaches its target too.
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_AUTORESUME=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    setsid nice -n 19 cargo afl fuzz -i "$in_dir/$t" -o "$out_dir/$t" -t 2000 "${dicts[@]}" \
    "target/release/$t" >"work/log/$t.log" 2>&1 &
  pid[$t]=$!
  echo "$t: process group ${pid[$t]}"
done

signal() {
  local t
  for t in "${!pid[@]}"; do kill "-$1" -- "-${pid[$t]}" 2>/dev/null || true; done
}
trap 'signal CONT; signal INT; wait; exit 130' INT TERM

active=0
paused=0
last=$SECONDS
while [ "$active" -lt $((minutes * 60)) ]; do
  alive=0
  for t in "${!pid[@]}"; do kill -0 "${pid[$t]}" 2>/dev/null && alive=$((alive + 1)); done
  [ "$alive" -gt 0 ] || { echo "every fuzzer has stopped; see work/log/" >&2; break; }
  if [ -e "$quiet" ]; then
    [ "$paused" -eq 1 ] || { signal STOP; paused=1; echo "$(date -u +%T) paused ($quiet)"; }
  else
    [ "$paused" -eq 0 ] || { signal CONT; paused=0; echo "$(date -u +%T) resumed"; }
  fi
  sleep 5
  # Only the seconds spent running count; a second spent paused does not.
  [ "$paused" -eq 1 ] || active=$((active + SECONDS - last))
  last=$SECONDS
done
signal CONT
signal INT
wait
echo "fuzzed $active s each ($(date -u +%T)); fuzzer_stats run_time counts paused time too"
OUT_DIR=$out_dir ./stats.sh "$@"
