"""Export a SageMaker MXNet checkpoint to ONNX for the comparison (MXNet 1.9.1's exporter).

usage: export_onnx.py MODEL_DIR OUT.onnx
Two bugs of MXNet 1.9.1's ONNX exporter are worked around:
- it cannot export SoftmaxOutput with its label variable: the head becomes softmax(fc) (identical
  at inference);
- it ignores BatchNorm fix_gamma=True and exports the stored gamma: gamma is set to 1 for those.
Initializers are then removed from the graph inputs, or ONNX Runtime does not constant-fold.
"""
import glob
import json
import os
import sys

import mxnet as mx
import numpy as np
import onnx

model_dir, out = sys.argv[1], sys.argv[2]
params = sorted(glob.glob(os.path.join(model_dir, "image-classification-*.params")))[-1]
epoch = int(params[-11:-7])
shape = tuple(json.load(open(os.path.join(model_dir, "model-shapes.json")))[0]["shape"])
shape = (1,) + shape[1:]
sym, args, auxs = mx.model.load_checkpoint(os.path.join(model_dir, "image-classification"), epoch)
nodes = json.loads(sym.tojson())["nodes"]
for n in nodes:
    if n["op"] == "BatchNorm" and n.get("attrs", {}).get("fix_gamma", "True").lower() in ("true", "1"):
        args[n["name"] + "_gamma"] = mx.nd.ones_like(args[n["name"] + "_gamma"])
head = nodes[json.loads(sym.tojson())["heads"][0][0]]
fc = nodes[head["inputs"][0][0]]["name"]
sym = mx.sym.softmax(sym.get_internals()[fc + "_output"], axis=1, name="softmax")
mx.onnx.export_model(sym, [args, auxs], [shape], [np.float32], out)
m = onnx.load(out)
init = {i.name for i in m.graph.initializer}
keep = [i for i in m.graph.input if i.name not in init]
del m.graph.input[:]
m.graph.input.extend(keep)
onnx.save(m, out)
print("exported", out)
