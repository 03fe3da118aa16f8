#!/usr/bin/env bash
# Load test of a running cdr (not part of CI): 8 clients for 60 s committing the blood-pressure
# composition, then 8 clients for 60 s reading one composition by version uid. Needs wrk
# (Debian: apt-get install wrk) and ../shared/testdata beside the checkout.
#   cargo run --release -p cdr-server -- serve --bind 127.0.0.1:18080 --data-dir /tmp/load-data
#   .ci/load.sh http://127.0.0.1:18080/openehr/v1
set -euo pipefail
B=${1:-http://127.0.0.1:8080/openehr/v1}
SECS=${SECS:-60}
CLIENTS=${CLIENTS:-8}
DATA=$(cd "$(dirname "$0")/../../shared/testdata/ehrbase-blood-pressure-simple.de.v0" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/definition/template/adl1.4" \
    -H 'Content-Type: application/xml' --data-binary @"$DATA/template.opt")
[ "$code" = 201 ] || [ "$code" = 409 ] || { echo "template upload: $code" >&2; exit 1; }

host=$(echo "$B" | sed -E 's|^(https?://[^/]+).*|\1|')
base_path=${B#"$host"}
# One EHR per client; the writers take them in turn.
paths=()
for _ in $(seq "$CLIENTS"); do
    ehr=$(curl -si -X POST "$B/ehr" | sed -n 's/^etag: "\(.*\)"\r$/\1/Ip')
    paths+=("$base_path/ehr/$ehr/composition")
done
lua_paths=$(printf '"%s",' "${paths[@]}")
body=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read(), ensure_ascii=False))' "$DATA"/compositions/*.json)
cat > "$WORK/commit.lua" <<LUA
local paths = { ${lua_paths%,} }
local i = 0
wrk.method = "POST"
wrk.body = $body
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
LUA
echo "== commit: POST $base_path/ehr/{ehr_id}/composition, $CLIENTS clients, ${SECS}s"
wrk -t2 -c"$CLIENTS" -d"${SECS}s" --latency -s "$WORK/commit.lua" "$host"

first=${paths[0]}
uid=$(curl -si -X POST "$host$first" -H 'Content-Type: application/json' \
    --data-binary @"$(ls "$DATA"/compositions/*.json)" | sed -n 's/^etag: "\(.*\)"\r$/\1/Ip')
echo "== read: GET $first/$uid, $CLIENTS clients, ${SECS}s"
wrk -t2 -c"$CLIENTS" -d"${SECS}s" --latency "$host$first/$uid"
