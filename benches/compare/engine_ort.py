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
from engine_common import connector_tensor, time_and_report
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
    x = connector_tensor(body, h, w)
    return sess.run(None, {name: x})[0][0]


time_and_report("onnxruntime+cv2", threads, load_ms, runs, classify)
