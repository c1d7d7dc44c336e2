#!/usr/bin/env bash
# Issue 22's shard throughput: H&M's 7,175 photos embedded into one PostgreSQL table by 1, 2 and 4
# `lookbook index --shard I/N` processes started together, then `lookbook index finish` (the HNSW
# build) — wall time and photos/s of each, as BENCHMARKS.md reports it:
#   scripts/bench-pg-shards.sh [MODEL_RUN] [SHARD_COUNTS]     # default runs/quick and 1,2,4
# The shards here share one machine's cores, so this measures the overhead of sharding (joining the
# table, commits, the final build), not the speed-up of N machines. Starts a local PostgreSQL 18 +
# pgvector 0.8 (scripts/postgres.sh) unless LOOKBOOK_PG_URL names one; its tables are named by the
# process id and dropped after.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/quick}
counts=${2:-1,2,4}
hm=../shared/data/hm
[ -f "$run/latest.json" ] || { echo "no trained run at $run (lookbook train --config configs/quick.toml --out $run)" >&2; exit 1; }
if [ -z "${LOOKBOOK_PG_URL:-}" ]; then
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop' EXIT
fi
cargo build -q --release --locked -p lookbook
bin=target/release/lookbook
psql="$(scripts/postgres.sh bin)/psql"
photos=$(($(wc -l <"$hm/articles.csv") - 1))
echo "| shards | embed + insert (s) | finish (s) | photos/s (embed + insert) | photos/s (with finish) |"
echo "|---|---|---|---|---|"
for n in ${counts//,/ }; do
    table="bench_shards_${n}_$$"
    url="$LOOKBOOK_PG_URL?table=$table"
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$n"); do
        "$bin" -q index --model "$run" --catalog "$hm" --ann hnsw --shard "$i/$n" --out "$url" >/dev/null &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    mid=$(date +%s.%N)
    "$bin" -q index finish --index "$url" >/dev/null
    end=$(date +%s.%N)
    awk -v n="$n" -v s="$start" -v m="$mid" -v e="$end" -v p="$photos" \
        'BEGIN { printf "| %d | %.1f | %.1f | %.1f | %.1f |\n", n, m - s, e - m, p / (m - s), p / (e - s) }'
    "$psql" -q "$LOOKBOOK_PG_URL" -c "DROP TABLE IF EXISTS $table; DELETE FROM lookbook_indexes WHERE name = '$table'" \
        >/dev/null 2>&1 || echo "(table $table left: drop it by hand)" >&2
done
