#!/usr/bin/env bash
# A/B of two edgeclass binaries on this machine, interleaved (a shared VM's noise hits both
# alike): ROUNDS alternations of `bench --json` per thread count; prints the median of the
# rounds' medians and the minimum of their minima for each.
#   benches/ab.sh OLD_BIN NEW_BIN [MODEL] [IMAGE]   (ROUNDS=5 RUNS=20 THREADS="1 2")
set -euo pipefail
a=$1 b=$2
model=${3:-tests/fixtures/full/resnet18-224}
image=${4:-tests/fixtures/photos/china.jpg}
rounds=${ROUNDS:-5} runs=${RUNS:-20}
for t in ${THREADS:-1 2}; do
    for r in $(seq "$rounds"); do
        for bin in "$a" "$b"; do
            "$bin" bench --json --model "$model" --threads "$t" --runs "$runs" "$image" |
                sed -n "s|^{|{\"bin\": \"$bin\", |p"
        done
    done
done | python3 -c '
import json, sys, statistics
rows = [json.loads(l) for l in sys.stdin]
for t in sorted({r["threads"] for r in rows}):
    out = []
    for b in dict.fromkeys(r["bin"] for r in rows):
        rs = [r for r in rows if r["bin"] == b and r["threads"] == t]
        med = statistics.median(r["median_ms"] for r in rs)
        mn = min(r["min_ms"] for r in rs)
        out.append((b, med, mn))
        print("threads %d  %-40s median %8.2f ms  min %8.2f ms  (%d rounds)" % (t, b, med, mn, len(rs)))
    print("threads %d  new / old: median %.3f, min %.3f" % (t, out[1][1] / out[0][1], out[1][2] / out[0][2]))
'
