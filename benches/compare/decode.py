"""OpenCV's side of the decode comparison: cv2.imdecode (libjpeg-turbo) + cvtColor(BGR2RGB) +
resize to 224x224, as the connector did. Prints median and min over RUNS, in ms, of: imdecode +
cvtColor, imdecode + cvtColor + resize, imdecode alone.   usage: decode.py IMAGE RUNS"""
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(1)
body = open(sys.argv[1], "rb").read()
runs = int(sys.argv[2])
dec, full, raw = [], [], []
for i in range(runs + 3):
    t0 = time.perf_counter()
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    ta = time.perf_counter()
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    t1 = time.perf_counter()
    cv2.resize(img, (224, 224))
    t2 = time.perf_counter()
    if i >= 3:
        dec.append((t1 - t0) * 1e3)
        full.append((t2 - t0) * 1e3)
        raw.append((ta - t0) * 1e3)
dec.sort()
full.sort()
raw.sort()
print("%.3f %.3f %.3f %.3f %.3f %.3f" % (dec[len(dec) // 2], dec[0], full[len(full) // 2], full[0],
                                         raw[len(raw) // 2], raw[0]))
