#!/usr/bin/env bash
# The label gate's grid (issue 17), on VALIDATION splits only: recommend's same-group share and intra-list
# diversity against kNN at λ = 0.5 and 1 for each --label-gate × --label-diversity-power.
#   scripts/tune-label-gate.sh RUN CATALOGUE [GATES] [POWERS]
#   e.g. scripts/tune-label-gate.sh runs/quick ../shared/data/myntra "1.4 1.2 1.1" "0.2 0.5 1.0"
# Prints one block per setting: kNN's row, then λ = 0.5 and λ = 1 (diversity (vs kNN), same group (vs kNN)).
set -euo pipefail
run=$1 catalog=$2 gates=${3:-1.4 1.2 1.1} powers=${4:-0.2 0.5 1.0}
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p lookbook
out=$(mktemp -d)
for gate in $gates; do
  for power in $powers; do
    ./target/release/lookbook -q eval --model "$run" --catalog "$catalog" --protocol recommend --split val \
      --png "$out/curve.png" --label-gate "$gate" --label-diversity-power "$power" >"$out/table.md" 2>"$out/log" \
      || { cat "$out/log" >&2; exit 1; }
    echo "== gate $gate, power $power"
    grep -E '^\| (knn|recommend λ=0.5|recommend λ=1) ' "$out/table.md" | awk -F'|' '{print $2 "|" $4 "|" $8}'
  done
done
rm -rf "$out"
