"""Side-by-side comparison: edgeclass vs MXNet 1.9.1 + OpenCV (as the connector ran them) vs ONNX
Runtime + OpenCV, end to end (JPEG bytes -> probabilities), on the same machine in one run.

Each measurement is a fresh process (so cold start and peak RSS are per engine); the engines are
interleaved and their order rotated each round, so machine noise hits all of them alike.
Per engine: median latency (median of the rounds' medians), min latency, cold start (process
start -> first answer, median over rounds), peak RSS (max over rounds). Ratios are to edgeclass.

With --photos DIR, also the decode of every JPEG there: edgeclass's decode (zune-jpeg, RGB out,
EXIF read) against OpenCV's cv2.imdecode (libjpeg-turbo, BGR out) alone and with the cvtColor
to RGB, interleaved the same way; medians of the rounds' medians.

usage: compare.py --edgeclass BIN --python MXENV_PYTHON --models DIR --onnx DIR --image JPEG
                  [--rounds 3] [--runs 30] [--threads 1,2] [--photos DIR] [--decode-model DIR]
                  [--decode-runs 200] [--out results.md]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The engines run as a user's process would: a developer's RUST_BACKTRACE=1 makes every error tract
# raises internally while optimising capture a backtrace (slower load, more code touched).
ENV = {k: v for k, v in os.environ.items() if k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}


def run_engine(cmd):
    """Run one engine process; return (result dict, cold start ms, peak RSS MiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "MAXRSS %M"] + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=ENV)
    cold = None
    result = None
    for line in p.stdout:
        if line.startswith("FIRST") and cold is None:
            cold = (time.perf_counter() - t0) * 1e3
        elif line.startswith("{"):
            result = json.loads(line)
    err = p.stderr.read()
    if p.wait() != 0 or result is None:
        sys.exit("engine failed: %s\n%s" % (" ".join(cmd), err))
    rss = [int(l.split()[1]) for l in err.splitlines() if l.startswith("MAXRSS")][-1] / 1024.0
    return result, cold, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeclass", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--photos")
    ap.add_argument("--decode-model", help="any small model for edgeclass bench (its decode is timed)")
    ap.add_argument("--decode-runs", type=int, default=200, help="decodes per process (they are short)")
    ap.add_argument("--out")
    a = ap.parse_args()
    decode_table = decode_comparison(a) if a.photos else ""
    rows = []
    for model in ["resnet18-224", "resnet50-224"]:
        mdir = os.path.join(a.models, model)
        onnx = os.path.join(a.onnx, model + ".onnx")
        for threads in [int(t) for t in a.threads.split(",")]:
            engines = {
                "edgeclass": [a.edgeclass, "bench", "--json", "--model", mdir, a.image,
                              "--runs", str(a.runs), "--threads", str(threads)],
                "mxnet+cv2": [a.python, os.path.join(HERE, "engine_mxnet.py"), mdir, a.image,
                              str(threads), str(a.runs)],
                "onnxruntime+cv2": [a.python, os.path.join(HERE, "engine_ort.py"), onnx, a.image,
                                    str(threads), str(a.runs), "224", "224"],
            }
            names = list(engines)
            got = {n: [] for n in names}
            for r in range(a.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                if r % 2:
                    order.reverse()
                for n in order:
                    got[n].append(run_engine(engines[n]))
                    sys.stderr.write("%s t=%d round %d %s: %.2f ms\n" % (model, threads, r, n, got[n][-1][0]["median_ms"]))
            top1 = {n: got[n][0][0]["top1"] for n in names}
            for n in names:
                res = got[n]
                rows.append({
                    "model": model, "threads": threads, "engine": n,
                    "median_ms": statistics.median(x[0]["median_ms"] for x in res),
                    "min_ms": min(x[0]["min_ms"] for x in res),
                    "cold_ms": statistics.median(x[1] for x in res),
                    "rss_mib": max(x[2] for x in res),
                    "top1": top1[n],
                })
    lines = ["| model | threads | engine | median ms | min ms | cold start ms | peak RSS MiB | latency / edgeclass | cold / edgeclass | RSS / edgeclass | top-1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = [x for x in rows if x["model"] == r["model"] and x["threads"] == r["threads"] and x["engine"] == "edgeclass"][0]
        lines.append("| %s | %d | %s | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f | %.2f | %d |" % (
            r["model"], r["threads"], r["engine"], r["median_ms"], r["min_ms"], r["cold_ms"], r["rss_mib"],
            r["median_ms"] / base["median_ms"], r["cold_ms"] / base["cold_ms"], r["rss_mib"] / base["rss_mib"], r["top1"]))
    table = "\n".join(lines) + decode_table
    print(table)
    if a.out:
        open(a.out, "w").write(table + "\n")


def decode_runs(a, path):
    """Decodes per process: --decode-runs, more for small files (a 17 KB JPEG decodes in ~0.3 ms,
    where 200 decodes gave medians 0.8x-1.4x apart from run to run)."""
    return max(a.decode_runs, a.decode_runs * 200000 // max(os.path.getsize(path), 1))


def edgeclass_decode_ms(a, photo):
    """Median and min of edgeclass's decode stage, from `edgeclass bench`'s table."""
    out = subprocess.run([a.edgeclass, "bench", "--model", a.decode_model, photo, "--runs", str(decode_runs(a, photo))],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True, env=ENV).stdout
    for line in out.splitlines():
        if line.startswith("decode (+ EXIF)"):
            med, mn = line.split()[-2:]
            return float(med), float(mn)
    sys.exit("no decode line in edgeclass bench's output:\n" + out)


def decode_comparison(a):
    photos = sorted(f for f in os.listdir(a.photos) if f.lower().endswith((".jpg", ".jpeg")))
    got = {p: {"edgeclass": [], "cv2": [], "cv2_rgb": []} for p in photos}
    for r in range(a.rounds):
        for p in photos:
            path = os.path.join(a.photos, p)
            steps = ["edgeclass", "cv2"] if r % 2 == 0 else ["cv2", "edgeclass"]
            for s in steps:
                if s == "edgeclass":
                    got[p]["edgeclass"].append(edgeclass_decode_ms(a, path))
                else:
                    out = subprocess.run([a.python, os.path.join(HERE, "decode.py"), path, str(decode_runs(a, path))],
                                         check=True, stdout=subprocess.PIPE, universal_newlines=True, env=ENV).stdout
                    v = [float(x) for x in out.split()]
                    got[p]["cv2_rgb"].append((v[0], v[1]))
                    got[p]["cv2"].append((v[4], v[5]))
            sys.stderr.write("decode %s round %d: edgeclass %.3f ms, imdecode %.3f ms\n" % (
                p, r, got[p]["edgeclass"][-1][0], got[p]["cv2"][-1][0]))
    lines = ["", "", "Decode of each photo (ms: median of the rounds' medians, and min; decodes per process: "
             "%d, more for files under 200 KB):" % a.decode_runs, "",
             "| photo | edgeclass decode | cv2.imdecode | cv2.imdecode + cvtColor RGB | edgeclass / imdecode (median, min) | edgeclass / imdecode+RGB |",
             "|---|---|---|---|---|---|"]
    for p in photos:
        med = {k: statistics.median(x[0] for x in v) for k, v in got[p].items()}
        low = {k: min(x[1] for x in v) for k, v in got[p].items()}
        lines.append("| %s | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.2f, %.2f | %.2f |" % (
            p, med["edgeclass"], low["edgeclass"], med["cv2"], low["cv2"], med["cv2_rgb"], low["cv2_rgb"],
            med["edgeclass"] / med["cv2"], low["edgeclass"] / low["cv2"], med["edgeclass"] / med["cv2_rgb"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
