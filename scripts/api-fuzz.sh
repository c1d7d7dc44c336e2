#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document (issue 21): schemathesis (PyPI, pinned, in a venv
# under target/) generates requests for every route from /api/openapi.json — valid and invalid,
# coverage, fuzzing and stateful phases, every check — against `lookbook serve` on a tiny index
# of 60 H&M photos (../shared/data/hm or $LOOKBOOK_DATA/hm) with a model trained here in seconds.
# The server has a write token, so the write routes (POST /api/items, DELETE /api/items/{id}) are
# fuzzed too: schemathesis sends the token it is given and checks that requests without it fail.
#   scripts/api-fuzz.sh [EXAMPLES_PER_ROUTE] [SEED]     # default 100 examples, seed 42
# Exit status: schemathesis's (0 = no failures). CI runs it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
seed=${2:-42}
data=${LOOKBOOK_DATA:-../shared/data}
hm=$data/hm
[ -f "$hm/articles.csv" ] || { echo "no H&M catalogue at $hm" >&2; exit 1; }
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
# The binary the test build made (`cargo test` builds it for the CLI tests, optimised): CI has
# it already. `cargo build -p lookbook` would be a build of its own — another profile and other
# features of the dependencies, so burn, tokio and the rest compiled again (minutes on CI's two
# cores) — and a release build ten minutes more, for a server that answers a 60-photo index.
cargo test --workspace --locked --no-run -q
bin=target/debug/lookbook
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/hm"
head -n 61 "$hm/articles.csv" >"$work/hm/articles.csv"
ln -s "$(cd "$hm" && pwd)/images" "$work/hm/images"
"$bin" -q train --catalog "$work/hm" --config tests/api-fuzz/tiny.toml --out "$work/run" 2>"$work/train.log" \
    || { cat "$work/train.log" >&2; exit 1; }
"$bin" -q index --model "$work/run" --catalog "$work/hm" --out "$work/index"
# A text model (in the run folder, where serve finds it), so word queries are fuzzed for real.
"$bin" -q text train --index "$work/index" --catalog "$work/hm" --epochs 2 >/dev/null
port=$((20000 + RANDOM % 20000))
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$token" >"$work/token"
"$bin" -q serve --index "$work/index" --addr "127.0.0.1:$port" --write-token-file "$work/token" \
    >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do  # until it listens (bash's /dev/tcp: no curl needed)
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
done
cd tests/api-fuzz
export SCHEMATHESIS_HOOKS=hooks  # tests/api-fuzz/hooks.py: wire-identical list cases of a form dropped
status=0
"../../$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" --checks all \
    --header "Authorization: Bearer $token" --max-examples "$examples" --seed "$seed" || status=$?
kill "$server"
wait "$server" 2>/dev/null || true
server=""
exit "$status"
