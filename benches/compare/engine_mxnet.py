"""MXNet 1.9.1 + OpenCV exactly as the Greengrass connector ran them: cv2.imdecode -> BGR2RGB ->
cv2.resize to the model's W x H -> NCHW float32 -> Module.forward. One engine process of the
comparison harness (compare.py): prints FIRST <ms> after the first answer, then a JSON line.

usage: engine_mxnet.py MODEL_DIR IMAGE THREADS RUNS   (run with the MXNet venv's python)
"""
import os
import sys
import time

t_start = time.perf_counter()
model_dir, image, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# Thread counts must be set before MXNet (and its OpenMP runtime) loads.
os.environ["OMP_NUM_THREADS"] = str(threads)
os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"
import glob
import json
from collections import namedtuple

import cv2
from engine_common import connector_tensor, time_and_report
import mxnet as mx
import numpy as np

cv2.setNumThreads(1)
params = sorted(glob.glob(os.path.join(model_dir, "image-classification-*.params")))[-1]
epoch = int(params[-11:-7])
shape = json.load(open(os.path.join(model_dir, "model-shapes.json")))[0]["shape"]
_, c, h, w = shape
sym, args, auxs = mx.model.load_checkpoint(os.path.join(model_dir, "image-classification"), epoch)
mod = mx.mod.Module(symbol=sym, context=mx.cpu(), label_names=None)
mod.bind(for_training=False, data_shapes=[("data", (1, c, h, w))])
mod.set_params(args, auxs, allow_missing=True)
load_ms = (time.perf_counter() - t_start) * 1e3
body = open(image, "rb").read()
Batch = namedtuple("Batch", ["data"])


def classify():
    x = connector_tensor(body, h, w)
    mod.forward(Batch([mx.nd.array(x)]), is_train=False)
    return mod.get_outputs()[0].asnumpy()[0]


time_and_report("mxnet+cv2", threads, load_ms, runs, classify)
