"""ONNX Runtime on the same network exported to ONNX, with the same OpenCV preprocessing as the
connector. One engine process of compare.py: prints FIRST <ms>, then a JSON line.

usage: engine_ort.py MODEL.onnx IMAGE THREADS RUNS H W
"""
import sys
import time

t_start = time.perf_counter()
model, image, threads, runs, h, w = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
import json

import cv2
import numpy as np
import onnxruntime as ort

cv2.setNumThreads(1)
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
load_ms = (time.perf_counter() - t_start) * 1e3
body = open(image, "rb").read()


def classify():
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (w, h))
    x = img.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
    return sess.run(None, {name: x})[0][0]


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
print(json.dumps({"engine": "onnxruntime+cv2", "threads": threads, "load_ms": load_ms, "first_ms": first_ms,
                  "median_ms": times[len(times) // 2], "min_ms": times[0], "runs": runs,
                  "top1": int(np.argmax(first))}))
