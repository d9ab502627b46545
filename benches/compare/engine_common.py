"""What both Python engines of compare.py share: the connector's OpenCV preprocessing and the
timing protocol (FIRST line as soon as the first answer exists, 3 warm-up calls, RUNS timed calls,
then one JSON line)."""
import json
import time

import cv2
import numpy as np


def connector_tensor(body, h, w):
    """cv2.imdecode -> BGR2RGB -> resize to W x H -> NCHW float32, as the connector did."""
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (w, h))
    return img.transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def time_and_report(engine, threads, load_ms, runs, classify):
    t = time.perf_counter()
    first = classify()
    first_ms = (time.perf_counter() - t) * 1e3
    print("FIRST %.3f" % first_ms, flush=True)
    for _ in range(3):
        classify()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        classify()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(json.dumps({"engine": engine, "threads": threads, "load_ms": load_ms, "first_ms": first_ms,
                      "median_ms": times[len(times) // 2], "min_ms": times[0], "runs": runs,
                      "top1": int(np.argmax(first))}))
