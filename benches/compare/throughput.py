#!/usr/bin/env python3
"""Images per second on a 2-core board (issue 20, item 4): a gateway with several cameras cares
about throughput more than latency.

    benches/compare/throughput.py [--model tests/fixtures/full/resnet18-224] [--image ...]
                                  [--requests 60] [--rounds 3] [--python MXENV/bin/python]

In one run, rounds interleaved, each configuration a fresh process:
  - edgeclass, EdgeclassWorkers=2 and EdgeclassThreads=1: two client threads, one request each at
    a time (the C library through the repository's Python binding; ctypes releases the GIL);
  - edgeclass, one worker with 2 threads: one client;
  - MXNet 1.9.1 + OpenCV with 2 threads (benches/compare/engine_mxnet.py), one request at a time
    as the connector served: images per second = 1000 / its median ms.
End to end from JPEG bytes. Prints images per second per configuration (median of the rounds)
and edgeclass / MXNet. A benchmark, not a test. Needs target/release/libedgeclass.so
(EDGECLASS_LIBRARY overrides it) and, for MXNet, the harness's venv (--python; skipped without).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def edgeclass_child(model, image, workers, threads, clients, requests):
    """In a fresh process: open the service, warm it, time `clients` threads x `requests`."""
    import threading
    sys.path.insert(0, os.path.join(REPO, "python"))
    os.environ.setdefault("EDGECLASS_LIBRARY", os.path.join(REPO, "target", "release", "libedgeclass.so"))
    import edgeclass
    body = open(image, "rb").read()
    service = edgeclass.Service.open({
        "LocalInferenceServiceName": "throughput",
        "MLModelDestinationPath": model,
        "LocalInferenceServiceTimeoutSeconds": "60",
        "LocalInferenceServiceMemoryLimitKB": "1048576",
        "EdgeclassWorkers": str(workers),
        "EdgeclassThreads": str(threads),
    })
    for _ in range(3 * workers):
        service.classify(body, "image/jpeg")

    def client():
        for _ in range(requests):
            service.classify(body, "image/jpeg")

    pool = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.time()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.time() - t0
    service.close()
    print(json.dumps({"images_per_s": clients * requests / elapsed}))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(REPO, "tests", "fixtures", "full", "resnet18-224"))
    ap.add_argument("--image", default=os.path.join(REPO, "tests", "fixtures", "photos", "china.jpg"))
    ap.add_argument("--requests", type=int, default=60, help="per client thread")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", help="the MXNet venv's python (benches/compare/run.sh's MXENV)")
    ap.add_argument("--child", nargs=4, type=int, metavar=("WORKERS", "THREADS", "CLIENTS", "REQUESTS"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return edgeclass_child(a.model, a.image, *a.child)
    me = [sys.executable, os.path.abspath(__file__), "--model", a.model, "--image", a.image, "--child"]
    configs = {
        "edgeclass 2 workers x 1 thread": me + ["2", "1", "2", str(a.requests)],
        "edgeclass 1 worker x 2 threads": me + ["1", "2", "1", str(2 * a.requests)],
    }
    if a.python:
        configs["mxnet+cv2 2 threads"] = [a.python, os.path.join(HERE, "engine_mxnet.py"), a.model,
                                          a.image, "2", str(2 * a.requests)]
    got = {n: [] for n in configs}
    names = list(configs)
    for r in range(a.rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            res = run_json(configs[n])
            ips = res["images_per_s"] if "images_per_s" in res else 1000.0 / res["median_ms"]
            got[n].append(ips)
            sys.stderr.write("round %d %s: %.1f images/s\n" % (r, n, ips))
    med = {n: statistics.median(v) for n, v in got.items()}
    for n in names:
        line = "%-32s %7.1f images/s (median of %d rounds)" % (n, med[n], len(got[n]))
        if "mxnet+cv2 2 threads" in med and not n.startswith("mxnet"):
            line += "  edgeclass / MXNet throughput %.2f" % (med[n] / med["mxnet+cv2 2 threads"])
        print(line)


if __name__ == "__main__":
    sys.exit(main())
