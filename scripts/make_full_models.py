#!/usr/bin/env python3
"""Regenerate the full-size random-weight test models (resnet18-224, resnet50-224) with MXNet 1.9.1.

Their params (45 MB, 98 MB) are too big to commit. What is committed, per model, in
tests/fixtures/reference/<name>/: the symbol JSON, model-shapes.json, MXNet's goldens and a
manifest with the sha256 of every file and the recipe's seed. This script rebuilds the params from
that recipe and writes OUT/<name>/ in the SageMaker layout plus goldens.json (MXNet's outputs for
the regenerated params) and manifest.json; then it compares them with the reference.

The recipe (the one the reference files were made with):
  * the network is the committed symbol (MXNet's image-classification resnet.py, 1.x);
  * numpy.random.RandomState(seed) draws, in the symbol's argument order: every *_weight from
    N(0, sqrt(2 / fan_in)) (Xavier, gaussian, 'in', magnitude 2), every *_gamma from U(0.6, 1.4)
    except bn_data_gamma, stored as 0.9 (fix_gamma: MXNet uses 1.0), every *_beta and *_bias
    from N(0, 0.1); moving means 0, moving variances 1;
  * BatchNorm statistics calibrated on 16 synthetic images (RandomState(seed + 1000)): one
    training-mode forward + backward of the same graph with BatchNorm momentum 0, after which the
    moving statistics are that batch's;
  * fc1's weight and bias scaled so that the calibration batch's logits have std 3.0.

MXNet is only the reference here: the product never runs it. Needs mxnet==1.9.1, numpy==1.23.5
and opencv-python-headless==4.10.0.84 (the synthetic images are resized by cv2).

    make_full_models.py OUT [--model resnet18-224] [--check]

Exit status 1 when the symbol or model-shapes.json differ from the reference (the recipe is
broken). Params that differ are reported, not failed: on another CPU oneDNN's calibration rounds
differently, and the tests then use the goldens.json written beside them; --strict fails then
too, unless MXNet's answers are still within the tests' tolerance of the reference goldens.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(REPO, "tests", "fixtures", "reference")
# The photos whose preprocessed 224x224 tensors are committed; the reference goldens list them.
PHOTO_TENSORS = os.path.join(REPO, "tests", "fixtures", "photos", "inputs")
PHOTOS = ("china.jpg", "flower.jpg")
PREFIX = "image-classification"
STORED_BN_DATA_GAMMA = 0.9
CALIBRATION_IMAGES = 16
LOGIT_STD = 3.0
# The tests' tolerance (tests/common): |dprob| <= 1e-4, |dlogit| <= 1e-4 * max|logit| + 1e-5.
PROB_TOL = 1e-4
LOGIT_REL_TOL = 1e-4
LOGIT_ABS_TOL = 1e-5


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def load_reference(name):
    folder = os.path.join(REFERENCE, name)
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(folder, "goldens.json")) as f:
        goldens = json.load(f)
    with open(os.path.join(folder, PREFIX + "-symbol.json")) as f:
        symbol_json = f.read()
    return folder, manifest, goldens, symbol_json


def with_bn_momentum(symbol_json, momentum):
    """The same graph with every BatchNorm's momentum replaced (0: moving stats = batch stats)."""
    graph = json.loads(symbol_json)
    for node in graph["nodes"]:
        if node["op"] == "BatchNorm":
            node["attrs"]["momentum"] = momentum
    return json.dumps(graph)


def draw_parameters(mx, sym, input_shape, seed):
    """Random args and initial aux states, drawn in the symbol's own argument order."""
    arg_shapes, _, aux_shapes = sym.infer_shape(data=input_shape)
    rng = np.random.RandomState(seed)
    args = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in ("data", "softmax_label"):
            continue
        if name.endswith("_weight"):
            value = rng.normal(0, np.sqrt(2.0 / int(np.prod(shape[1:]))), shape)
        elif name == "bn_data_gamma":
            value = np.full(shape, STORED_BN_DATA_GAMMA)
        elif name.endswith("_gamma"):
            value = rng.uniform(0.6, 1.4, shape)
        elif name.endswith(("_beta", "_bias")):
            value = rng.normal(0, 0.1, shape)
        else:
            raise SystemExit("make_full_models: no recipe for parameter %s" % name)
        args[name] = value.astype(np.float32)
    auxs = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        fill = np.zeros if name.endswith("_moving_mean") else np.ones
        auxs[name] = fill(shape).astype(np.float32)
    return args, auxs


def synthetic_batch(count, height, width, seed):
    """Smooth, colour-correlated integer images (0..255), float32 NCHW: noise at five scales,
    a linear ramp, then a random mean and contrast. The arithmetic order (float32 throughout
    until the final offset) is part of the recipe: the reference statistics depend on it."""
    import cv2
    rng = np.random.RandomState(seed)
    batch = np.zeros((count, 3, height, width), np.float32)
    scales = ((3, 1.0), (6, 0.6), (12, 0.35), (24, 0.2), (48, 0.1))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        field = np.zeros((height, width, 3), np.float32)
        for cells, weight in scales:
            noise = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
            colour = rng.normal(0, 0.5, (3, 3)).astype(np.float32) + np.eye(3, dtype=np.float32)
            field += weight * cv2.resize(noise @ colour, (width, height),
                                         interpolation=cv2.INTER_LINEAR)
        ramp_x, ramp_y = rng.normal(0, 0.8), rng.normal(0, 0.8)
        field += (ramp_x * xs / width + ramp_y * ys / height)[..., None]
        field = (field - field.mean()) / (field.std() + 1e-6)
        mean = rng.uniform(70, 180, 3)
        image = mean + field * rng.uniform(30, 70)
        batch[i] = np.clip(np.round(image), 0, 255).transpose(2, 0, 1)
    return batch


def calibrate(mx, symbol_json, args, auxs, input_shape, seed):
    """Moving statistics of one synthetic batch, then fc1 rescaled (args is updated in place)."""
    _, _, height, width = input_shape
    batch = synthetic_batch(CALIBRATION_IMAGES, height, width, seed + 1000)
    # MXNet updates the moving statistics in the backward pass: with momentum 0 one step leaves
    # exactly the batch's mean and (biased) variance.
    train = mx.sym.load_json(with_bn_momentum(symbol_json, "0.0"))
    ex = train.simple_bind(mx.cpu(), data=batch.shape, grad_req="write")
    for name, value in args.items():
        ex.arg_dict[name][:] = value
    for name, value in auxs.items():
        ex.aux_dict[name][:] = value
    ex.arg_dict["softmax_label"][:] = 0
    ex.forward(is_train=True, data=mx.nd.array(batch))
    ex.backward()
    mx.nd.waitall()
    calibrated = {name: ex.aux_dict[name].asnumpy().copy() for name in auxs}
    logits = fc1_executor(mx, mx.sym.load_json(symbol_json), batch.shape, args, calibrated)
    logits.forward(is_train=False, data=mx.nd.array(batch))
    spread = float(logits.outputs[0].asnumpy().std())
    scale = float(LOGIT_STD / spread)
    args["fc1_weight"] = (args["fc1_weight"] * scale).astype(np.float32)
    args["fc1_bias"] = (args["fc1_bias"] * scale).astype(np.float32)
    return calibrated, {"calibration_images": CALIBRATION_IMAGES, "calibration_seed": seed + 1000,
                        "logit_std_before": spread, "fc1_scale": scale}


def fc1_executor(mx, sym, shape, args, auxs, with_softmax=False):
    outputs = sym.get_internals()["fc1_output"]
    if with_softmax:
        outputs = mx.sym.Group([sym, outputs])
    ex = outputs.simple_bind(mx.cpu(), data=shape, grad_req="null")
    for name, value in args.items():
        if name in ex.arg_dict:
            ex.arg_dict[name][:] = value
    for name, value in auxs.items():
        if name in ex.aux_dict:
            ex.aux_dict[name][:] = value
    return ex


def pattern_inputs(shape):
    """The closed-form model-only inputs the goldens name (see tests/common::pattern)."""
    _, channels, height, width = shape
    ys, xs = np.mgrid[0:height, 0:width]
    c = np.arange(channels)[:, None, None]
    return [
        ("pattern_mod", (7 * xs + 3 * ys + 37 * c) % 256),
        ("pattern_xor", ((xs ^ ys) * (c + 1)) % 256),
        ("const_128", np.full((channels, height, width), 128)),
    ]


def shortest_f32(value):
    """The shortest decimal that reads back as the same float32 (the goldens' number format)."""
    return float(repr(np.float32(value)))


def goldens(mx, model_dir, name, shape, reference):
    """MXNet's answers for the regenerated checkpoint, loaded back from disk as a user would.
    A photo's decoded size does not depend on the model: it is taken from the reference."""
    decoded = {r["image"]: r["decoded_hw"] for r in reference if "decoded_hw" in r}
    sym, args, auxs = mx.model.load_checkpoint(os.path.join(model_dir, PREFIX), 0)
    ex = fc1_executor(mx, sym, shape, {k: v.asnumpy() for k, v in args.items()},
                      {k: v.asnumpy() for k, v in auxs.items()}, with_softmax=True)
    inputs = [(image, np.asarray(x, np.float32)[None]) for image, x in pattern_inputs(shape)]
    for photo in PHOTOS:
        inputs.append(("photos/" + photo,
                       np.load(os.path.join(PHOTO_TENSORS, photo + ".224x224.npy"))))
    records = []
    for image, x in inputs:
        ex.forward(is_train=False, data=mx.nd.array(x))
        probs = ex.outputs[0].asnumpy()[0]
        logits = ex.outputs[1].asnumpy()[0]
        best = np.argsort(-probs, kind="stable")[:5]
        records.append({
            "model": name, "image": image,
            "probs": [shortest_f32(p) for p in probs],
            "top5": [int(i) for i in best],
            "top5_probs": [shortest_f32(probs[i]) for i in best],
            "logits": [shortest_f32(v) for v in logits],
            "input_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
        })
        if image in decoded:
            records[-1]["decoded_hw"] = decoded[image]
    return records


def compare_goldens(mine, reference):
    """Largest |dprob| and relative |dlogit| excess against the reference, and whether every
    record is within the tests' tolerance with the same top-1."""
    by_image = {r["image"]: r for r in reference if "error" not in r}
    worst_prob, worst_logit, ok = 0.0, 0.0, True
    for record in mine:
        ref = by_image.get(record["image"])
        if ref is None or ref.get("input_sha256") != record["input_sha256"]:
            print("  %s: no reference golden for the same input" % record["image"])
            ok = False
            continue
        dprob = float(np.max(np.abs(np.subtract(record["probs"], ref["probs"]))))
        logits = np.asarray(ref["logits"])
        dlogit = float(np.max(np.abs(np.subtract(record["logits"], logits))))
        limit = LOGIT_REL_TOL * float(np.max(np.abs(logits))) + LOGIT_ABS_TOL
        worst_prob, worst_logit = max(worst_prob, dprob), max(worst_logit, dlogit / limit)
        if dprob > PROB_TOL or dlogit > limit or record["top5"][0] != ref["top5"][0]:
            ok = False
    return worst_prob, worst_logit, ok


def make(mx, out, name, strict):
    folder, reference, ref_goldens, symbol_json = load_reference(name)
    seed, epoch = reference["seed"], reference["epoch"]
    assert epoch == 0, "the tests read image-classification-0000.params"
    channels, height, width = (int(v) for v in reference["image_shape"].split(","))
    shape = (1, channels, height, width)
    # mx.random is not drawn from (every random number comes from numpy's RandomState), but the
    # recipe seeds it too, so that any MXNet operator that might draw stays reproducible.
    mx.random.seed(seed)
    np.random.seed(seed)
    sym = mx.sym.load_json(symbol_json)
    args, auxs = draw_parameters(mx, sym, shape, seed)
    auxs, calibration = calibrate(mx, symbol_json, args, auxs, shape, seed)
    model_dir = os.path.join(out, name)
    os.makedirs(model_dir, exist_ok=True)
    mx.model.save_checkpoint(os.path.join(model_dir, PREFIX), epoch, sym,
                             {k: mx.nd.array(v) for k, v in args.items()},
                             {k: mx.nd.array(v) for k, v in auxs.items()})
    with open(os.path.join(model_dir, "model-shapes.json"), "w") as f:
        json.dump([{"shape": list(shape), "name": "data"}], f)
    records = goldens(mx, model_dir, name, shape, ref_goldens)
    with open(os.path.join(model_dir, "goldens.json"), "w") as f:
        json.dump(records, f, indent=1)
    files = {fn: sha256_of(os.path.join(model_dir, fn)) for fn in sorted(os.listdir(model_dir))
             if fn != "manifest.json"}
    with open(os.path.join(model_dir, "manifest.json"), "w") as f:
        json.dump({"name": name, "seed": seed, "epoch": epoch, "calibration": calibration,
                   "versions": {"mxnet": mx.__version__, "numpy": np.__version__},
                   "files": files}, f, indent=1)
    return check(name, model_dir, files, reference, ref_goldens, records, strict)


def check(name, model_dir, files, reference, ref_goldens, records, strict):
    ok = True
    for fn in (PREFIX + "-symbol.json", "model-shapes.json"):
        if files[fn] != reference["files"][fn]:
            print("%s: %s differs from the reference" % (name, fn))
            ok = False
    params = PREFIX + "-0000.params"
    identical = files[params] == reference["files"][params]
    dprob, dlogit, within = compare_goldens(records, ref_goldens)
    print("%s: params %s the reference; MXNet's answers against the reference goldens: "
          "max |dprob| %.2e, max |dlogit| %.2f of the tolerance (%s)"
          % (name, "identical to" if identical else "differ from", dprob, dlogit,
             "within" if within else "OUTSIDE"))
    if not identical:
        # Another CPU: oneDNN's BatchNorm calibration rounds differently. The tests then use the
        # goldens.json written beside these params (MXNet's answers for exactly these weights).
        print("%s: the tests will use the goldens.json written beside these params" % name)
    return ok and (identical or within or not strict)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder for <name>/ (tests/fixtures/full for the tests)")
    ap.add_argument("--model", action="append", choices=sorted(os.listdir(REFERENCE)),
                    help="one model (repeatable; default: every reference model)")
    ap.add_argument("--strict", action="store_true",
                    help="fail when the params differ and the answers leave the tolerance")
    a = ap.parse_args()
    try:
        import mxnet as mx
    except ImportError:
        sys.exit("make_full_models.py needs mxnet 1.9.1 (scripts/make-full-models.sh makes the venv)")
    ok = True
    for name in a.model or sorted(os.listdir(REFERENCE)):
        ok = make(mx, a.out, name, a.strict) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
