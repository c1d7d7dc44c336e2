#!/usr/bin/env bash
# Issue 19's test-time views rows of BENCHMARKS.md ("Test-time views: grey photos"): each run's
# H&M product-code table with every photo embedded as itself, in grey, and (validation only)
# both averaged — on validation to choose, on test with the whole catalogue as gallery to report.
#   scripts/bench-views.sh val RUN...    # views chosen here: the val split's own gallery and all photos
#   scripts/bench-views.sh test RUN...   # reported: test split, --gallery all (~4 min per view and run on 2 cores)
# RUN: a run folder or checkpoint (lookbook train --out ...).
set -euo pipefail
cd "$(dirname "$0")/.."
split=${1:?val or test}
shift
[ "$split" = val ] || [ "$split" = test ] || { echo "first argument: val or test" >&2; exit 1; }
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
hm=../shared/data/hm
png=$(mktemp --suffix .png)
trap 'rm -f "$png"' EXIT
table() { "$bin" -q eval --model "$1" --catalog "$hm" --protocol product-code --ks 1,5,10,20,50 --png "$png" "${@:2}" | tail -1; }
for run in "$@"; do
    if [ "$split" = val ]; then
        for views in photo grey photo,grey; do
            echo "$run val, gallery the split, --views $views: $(table "$run" --split val --views "$views")"
        done
        for views in photo grey; do
            echo "$run val, gallery all, --views $views: $(table "$run" --split val --gallery all --views "$views")"
        done
    else
        for views in photo grey; do
            echo "$run test, gallery all, --views $views: $(table "$run" --split test --gallery all --views "$views")"
        done
    fi
done
