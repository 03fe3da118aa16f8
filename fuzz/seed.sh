#!/usr/bin/env bash
# Fills work/seeds/<target>/ with the starting corpora (work/ is git-ignored): the AQL corpus of
# aql-grammar/, the repository's test fixtures, small files of ../shared/testdata (when present
# beside the repository) and what the `seeds` binary derives from the fixed template.
# Run from fuzz/ after `cargo afl build --release`.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
shared=$repo/../shared/testdata
seeds=work/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{aql,opt,canonical_json,canonical_xml,flat}

# copy TARGET MAX_BYTES FILE...: copies each file of at most MAX_BYTES, named after its path.
copy() {
  local target=$1 max=$2
  shift 2
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(stat -c %s "$f")" -le "$max" ] || continue
    cp "$f" "$seeds/$target/$(echo "$f" | sed 's#^\(\.\./\)*##' | tr '/' '_')"
  done
}

copy aql 4096 "$repo"/aql-grammar/corpus/ok/*.aql "$repo"/aql-grammar/corpus/err/*.aql
copy opt 65536 "$repo"/crates/*/tests/fixtures/*.opt
if [ -d "$shared" ]; then
  copy opt 40000 "$shared"/*/template.opt
  copy canonical_json 16384 "$shared"/*/compositions/*.json
  copy canonical_xml 16384 "$shared"/*/compositions/*.xml
  copy flat 8192 "$shared"/*/flat/*.json
else
  echo "note: $shared is absent; seeding from the repository only" >&2
fi
target/release/seeds "$seeds"
for t in aql opt canonical_json canonical_xml flat; do
  echo "$t: $(ls "$seeds/$t" | wc -l) seeds"
done
