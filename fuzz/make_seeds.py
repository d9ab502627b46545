#!/usr/bin/env python3
"""Write the fuzz seed corpora.

    make_seeds.py committed   -> fuzz/seeds/<target>/   small, committed (a few hundred KB in all)
    make_seeds.py extra DIR   -> fuzz/extra/<target>/   bigger, built at run time from DIR
                                  (tests/fixtures, or a bigger fixture folder), never committed

The committed seeds are hand-made micro models (a few KB: every operator the importer knows,
every .params record version, f16 weights) and the smallest fixture images. Deterministic: rerun
and git shows no change. Needs only Python 3's standard library.
"""
import gzip
import io
import json
import os
import random
import shutil
import struct
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIX = os.path.join(ROOT, "tests", "fixtures")
SEP = b"\n--edgeclass-fuzz--\n"  # fuzz_targets/model_load.rs

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


def f16(x):
    return struct.pack("<e", x)


def params_file(arrays, version=V2, dtype=0, names=True):
    """arrays: list of (name, shape, values). dtype 0 f32, 1 f64, 2 f16."""
    out = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for _, shape, values in arrays:
        if version == "legacy":
            out += struct.pack("<I", len(shape)) + b"".join(struct.pack("<I", d) for d in shape)
        else:
            out += struct.pack("<I", version)
            if version in (V2, V3):
                out += struct.pack("<i", 0)
            out += struct.pack("<i", len(shape)) + b"".join(struct.pack("<q", d) for d in shape)
        out += struct.pack("<iii", 1, 0, dtype)
        fmt = {0: "<f", 1: "<d", 2: "<e"}[dtype]
        out += b"".join(struct.pack(fmt, v) for v in values)
    if names:
        out += struct.pack("<Q", len(arrays))
        for name, _, _ in arrays:
            n = name.encode()
            out += struct.pack("<Q", len(n)) + n
    else:
        out += struct.pack("<Q", 0)
    return out


class Net:
    """A tiny MXNet symbol writer with weights of the right shapes."""

    def __init__(self, shape, rng, attr_key="attrs"):
        self.nodes = [{"op": "null", "name": "data", "inputs": []}]
        self.arrays = []
        self.shape = list(shape)  # current [N, C, H, W] or [N, K]
        self.rng = rng
        self.key = attr_key

    def var(self, name, shape):
        self.nodes.append({"op": "null", "name": name, "inputs": []})
        n = 1
        for d in shape:
            n *= d
        vals = [round(self.rng.uniform(-0.5, 0.5), 3) for _ in range(n)]
        if name.endswith("_var"):
            vals = [abs(v) + 0.5 for v in vals]
        self.arrays.append(("arg:" + name if "moving" not in name else "aux:" + name, shape, vals))
        return len(self.nodes) - 1

    def op(self, op, name, inputs, attrs=None):
        node = {"op": op, "name": name, "inputs": [[i, 0, 0] for i in inputs]}
        if attrs:
            node[self.key] = attrs
        self.nodes.append(node)
        return len(self.nodes) - 1

    def conv(self, x, name, filters, k, stride=1, pad=0, bias=True, group=1):
        c = self.shape[1]
        w = self.var(name + "_weight", [filters, c // group, k, k])
        ins = [x, w]
        if bias:
            ins.append(self.var(name + "_bias", [filters]))
        attrs = {"kernel": "(%d, %d)" % (k, k), "stride": "(%d, %d)" % (stride, stride),
                 "pad": "(%d, %d)" % (pad, pad), "num_filter": str(filters),
                 "no_bias": str(not bias)}
        if group != 1:
            attrs["num_group"] = str(group)
        h = (self.shape[2] + 2 * pad - k) // stride + 1
        wd = (self.shape[3] + 2 * pad - k) // stride + 1
        self.shape = [1, filters, h, wd]
        return self.op("Convolution", name, ins, attrs)

    def bn(self, x, name, fix_gamma="False"):
        c = self.shape[1]
        ins = [x] + [self.var(name + s, [c]) for s in ("_gamma", "_beta", "_moving_mean", "_moving_var")]
        return self.op("BatchNorm", name, ins, {"eps": "2e-05", "fix_gamma": fix_gamma, "momentum": "0.9"})

    def act(self, x, name, kind="relu"):
        return self.op("Activation", name, [x], {"act_type": kind})

    def pool(self, x, name, kind="max", k=2, stride=2, pad=0, glob=False, conv="valid"):
        if glob:
            self.shape = [1, self.shape[1], 1, 1]
            return self.op("Pooling", name, [x], {"global_pool": "True", "kernel": "(1, 1)", "pool_type": kind})
        rnd = (lambda a, b: -(-a // b)) if conv == "full" else (lambda a, b: a // b)
        self.shape = [1, self.shape[1]] + [rnd(s + 2 * pad - k, stride) + 1 for s in self.shape[2:]]
        return self.op("Pooling", name, [x], {"kernel": "(%d, %d)" % (k, k), "stride": "(%d, %d)" % (stride, stride),
                                               "pad": "(%d, %d)" % (pad, pad), "pool_type": kind,
                                               "pooling_convention": conv})

    def flatten(self, x, name):
        n = 1
        for d in self.shape[1:]:
            n *= d
        self.shape = [1, n]
        return self.op("Flatten", name, [x])

    def fc(self, x, name, hidden, bias=True):
        if len(self.shape) > 2:
            n = 1
            for d in self.shape[1:]:
                n *= d
            self.shape = [1, n]
        ins = [x, self.var(name + "_weight", [hidden, self.shape[1]])]
        if bias:
            ins.append(self.var(name + "_bias", [hidden]))
        self.shape = [1, hidden]
        return self.op("FullyConnected", name, ins, {"num_hidden": str(hidden), "no_bias": str(not bias)})

    def softmax(self, x, op="SoftmaxOutput"):
        if op == "SoftmaxOutput":
            label = self.op("null", "softmax_label", [])
            return self.op("SoftmaxOutput", "softmax", [x, label])
        if op == "softmax":
            return self.op("softmax", "softmax", [x], {"axis": "-1"})
        return self.op(op, "softmax", [x])

    def symbol(self, head, version=True):
        sym = {"nodes": self.nodes,
               "arg_nodes": [i for i, n in enumerate(self.nodes) if n["op"] == "null"],
               "heads": [[head, 0, 0]]}
        if version:
            sym["attrs"] = {"mxnet_version": ["int", 10901]}
        return json.dumps(sym, separators=(",", ":")).encode()


def micro_models():
    """(name, symbol bytes, model-shapes bytes, params bytes)."""
    out = []
    rng = random.Random(9)

    # 1. conv-bn-relu-maxpool-fc-SoftmaxOutput, 3x8x8, V2 f32.
    n = Net([1, 3, 8, 8], rng)
    x = n.op("_copy", "id", [0])
    x = n.bn(x, "bn_data", "True")
    x = n.conv(x, "conv0", 4, 3, pad=1, bias=False)
    x = n.bn(x, "bn0")
    x = n.act(x, "relu0")
    x = n.pool(x, "pool0")
    x = n.fc(n.flatten(x, "flat"), "fc1", 3)
    head = n.softmax(x)
    out.append(("cnn-v2-f32", n.symbol(head), [1, 3, 8, 8], params_file(n.arrays)))

    # 2. a residual unit with a 1x1 shortcut, global avg pool, softmax op; V3 f16, 1 channel.
    n = Net([1, 1, 9, 7], rng, "attr")
    x = n.conv(0, "conv0", 4, 3, stride=1, pad=1)
    x = n.act(x, "relu0")
    s = n.shape
    a = n.conv(x, "unit_conv1", 4, 3, stride=2, pad=1)
    a = n.bn(a, "unit_bn1")
    a = n.act(a, "unit_relu1", "tanh")
    n.shape = s
    sc = n.conv(x, "unit_sc", 4, 1, stride=2, bias=False)
    x = n.op("elemwise_add", "plus", [a, sc])
    x = n.pool(x, "gpool", "avg", glob=True)
    x = n.fc(x, "fc1", 5)
    head = n.softmax(x, "softmax")
    out.append(("resunit-v3-f16", n.symbol(head, False), [32, 1, 9, 7], params_file(n.arrays, V3, 2)))

    # 3. avg pool (count_include_pad), "full" convention, sigmoid, Dropout, Cast, FC no bias,
    #    grouped conv; V1 records, f64.
    n = Net([1, 3, 7, 7], rng, "param")
    x = n.op("Cast", "cast", [0], {"dtype": "float16"})
    x = n.conv(x, "conv0", 6, 3, pad=1, group=3)
    x = n.act(x, "sig", "sigmoid")
    x = n.pool(x, "apool", "avg", k=3, stride=2, pad=1, conv="full")
    x = n.op("Dropout", "drop", [x], {"p": "0.5"})
    x = n.pool(x, "spool", "sum", k=2, stride=1)
    x = n.fc(x, "fc1", 4, bias=False)
    head = n.softmax(x, "SoftmaxActivation")
    out.append(("ops-v1-f64", n.symbol(head), [1, 3, 7, 7], params_file(n.arrays, V1, 1)))

    # 4. legacy (pre-0.11) records, softrelu, relu op, no softmax head (FC output).
    n = Net([1, 3, 5, 5], rng)
    x = n.conv(0, "conv0", 2, 2)
    x = n.act(x, "sr", "softrelu")
    x = n.op("relu", "r", [x])
    x = n.fc(x, "fc1", 2)
    out.append(("legacy-nohead", n.symbol(x), [1, 3, 5, 5], params_file(n.arrays, "legacy")))
    return out


def tar_bytes(files):
    """A deterministic GNU tar of (name, bytes)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            t = tarfile.TarInfo(name)
            t.size, t.mtime, t.mode, t.uname, t.gname = len(data), 1732492800, 0o644, "root", "root"
            tar.addfile(t, io.BytesIO(data))
    # Without tarfile's padding to 10 KiB: the members and the two zero blocks that end them.
    body = out.getvalue().rstrip(b"\0")
    return body.ljust((len(body) + 511) // 512 * 512 + 1024, b"\0")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tiff(order, orientation, kind=3, extra_tags=0):
    """A minimal TIFF/EXIF block whose IFD0 holds the orientation tag."""
    e = "<" if order == b"II" else ">"
    head = order + struct.pack(e + "HI", 42, 8)
    entries = []
    for t in range(extra_tags):
        entries.append(struct.pack(e + "HHII", 0x010F + t, 2, 4, 0))
    if kind == 3:
        entries.append(struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0))
    else:
        entries.append(struct.pack(e + "HHII", 0x0112, 4, 1, orientation))
    return head + struct.pack(e + "H", len(entries)) + b"".join(entries) + struct.pack(e + "I", 0)


def jpeg_exif(path):
    data = open(path, "rb").read()
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        payload = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and payload.startswith(b"Exif\0\0"):
            return payload[6:]
        pos += 2 + length
    return None


def committed():
    seeds = os.path.join(HERE, "seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    img = os.path.join(FIX, "images")
    for name, sym, shape, params in micro_models():
        shapes = json.dumps([{"shape": shape, "name": "data"}]).encode()
        write(os.path.join(seeds, "params", name + ".params"), params)
        write(os.path.join(seeds, "symbol", name + ".json"), sym)
        write(os.path.join(seeds, "model_load", name), sym + SEP + shapes + SEP + params)
    # archive: a selector byte (bit 0: the target gzips the rest) and a tar of a micro model,
    # plain, to be gzipped, and already gzipped; an NNEF-like tar; SageMaker's ./ layout.
    for i, (name, sym, shape, params) in enumerate(micro_models()):
        shapes = json.dumps([{"shape": shape, "name": "data"}]).encode()
        files = [("image-classification-symbol.json", sym), ("model-shapes.json", shapes),
                 ("image-classification-0000.params", params)]
        if i == 0:
            files.append(("labels.txt", b"".join(b"c%d\n" % k for k in range(shape[1]))))
        if i == 1:
            files = [("./" + n, d) for n, d in files]
        t = tar_bytes(files)
        write(os.path.join(seeds, "archive", name + ".tar"), b"\0" + t)
        write(os.path.join(seeds, "archive", name + ".tar.gz-by-target"), b"\1" + t)
        if i == 2:
            write(os.path.join(seeds, "archive", name + ".tar.gz"), b"\0" + gzip.compress(t, mtime=0))
    dat = bytes([0x4E, 0xEF, 1, 0]) + struct.pack("<II", 8, 1) + struct.pack("<8I", 2, 0, 0, 0, 0, 0, 0, 0)
    dat = (dat + struct.pack("<II", 32, 0)).ljust(128, b"\0") + struct.pack("<ff", 1.0, -1.0)
    graph = (b"version 1.0;\n\ngraph g(input) -> (output)\n{\n  input = external(shape = [1, 2]);\n"
             b"  w = variable(shape = [2], label = 'w');\n  output = add(input, w);\n}\n")
    write(os.path.join(seeds, "archive", "nnef-add.tar"), b"\1" + tar_bytes([("graph.nnef", graph), ("w.dat", dat)]))
    # The real network's graph (resnet-18, SageMaker's symbol) for the symbol reader.
    real = json.load(open(os.path.join(FIX, "slim", "r18-slim", "image-classification-symbol.json")))
    write(os.path.join(seeds, "symbol", "r18-slim.json"), json.dumps(real, separators=(",", ":")).encode())
    jpegs = ["jpeg_1x1.jpg", "jpeg_odd_size_17x9.jpg", "jpeg_header_only.jpg", "jpeg_truncated.jpg",
             "jpeg_grayscale.jpg", "jpeg_progressive_pil.jpg", "jpeg_arithmetic.jpg",
             "jpeg_optimized_huffman.jpg", "jpeg_progressive.jpg", "jpeg_restart_interval.jpg",
             "jpeg_exif_orientation6.jpg", "jpeg_huge_header_30000x30000.jpg", "jpeg_baseline_422.jpg",
             "jpeg_baseline_444.jpg", "jpeg_cmyk_pil.jpg"]
    pngs = ["png_1x1.png", "png_huge_header_30000x30000.png", "png_1bit.png", "png_palette_trns.png",
            "png_palette.png", "png_gray8.png", "png_gray_alpha8.png", "png_gray16.png", "png_1x1000.png"]
    for f in jpegs:
        write(os.path.join(seeds, "jpeg", f), open(os.path.join(img, f), "rb").read())
    for f in pngs:
        write(os.path.join(seeds, "png", f), open(os.path.join(img, f), "rb").read())
    # classify: a selector byte (content type, service) and a small image.
    digits = os.path.join(FIX, "tiny-trained", "images")
    for i, f in enumerate(["jpeg_1x1.jpg", "jpeg_exif_orientation6.jpg", "jpeg_grayscale.jpg",
                           "png_palette.png", "png_gray16.png", "jpeg_cmyk_pil.jpg"]):
        write(os.path.join(seeds, "classify", f), bytes([i]) + open(os.path.join(img, f), "rb").read())
    for i, f in enumerate(["digit07_label3_28x28.png", "digit11_label5_14x14.png",
                           "digit06_label3_53x37.jpg", "digit00_label0_28x28.jpg"]):
        write(os.path.join(seeds, "classify", f), bytes([i + 4]) + open(os.path.join(digits, f), "rb").read())
    # classify: every PNG layout of tests/fixtures/png-layouts (the png target reads that folder
    # itself, see scripts/fuzz.sh), through both services and both PNG-ish content types.
    layouts = os.path.join(FIX, "png-layouts")
    for i, f in enumerate(sorted(f for f in os.listdir(layouts) if f.endswith(".png"))):
        write(os.path.join(seeds, "classify", "layout-" + f),
              bytes([(1, 2, 5, 6)[i % 4]]) + open(os.path.join(layouts, f), "rb").read())
    # exif: the fixtures' real blocks and synthetic ones (both byte orders, SHORT and LONG).
    for f in ["jpeg_exif_orientation3.jpg", "jpeg_exif_orientation6.jpg"]:
        block = jpeg_exif(os.path.join(img, f))
        if block:
            write(os.path.join(seeds, "exif", f + ".tiff"), block)
    for o in range(1, 9):
        order = b"II" if o % 2 else b"MM"
        write(os.path.join(seeds, "exif", "o%d-%s.tiff" % (o, order.decode())), tiff(order, o, 3 if o < 6 else 4, o % 3))


def extra(src):
    """Bigger seeds from a fixtures tree, for long runs (not committed)."""
    dst = os.path.join(HERE, "extra")
    shutil.rmtree(dst, ignore_errors=True)
    img = os.path.join(src, "images")
    for f in sorted(os.listdir(img)):
        p = os.path.join(img, f)
        if not os.path.isfile(p) or os.path.getsize(p) > 256 << 10:
            continue
        data = open(p, "rb").read()
        if data[:3] == b"\xff\xd8\xff":
            write(os.path.join(dst, "jpeg", f), data)
        elif data[:4] == b"\x89PNG":
            write(os.path.join(dst, "png", f), data)
        write(os.path.join(dst, "classify", f), b"\x02" + data)
        block = jpeg_exif(p) if data[:2] == b"\xff\xd8" else None
        if block:
            write(os.path.join(dst, "exif", f + ".tiff"), block)
    models = []
    for group in ("slim", "hostile-models", "."):
        base = os.path.join(src, group)
        if not os.path.isdir(base):
            continue
        for m in sorted(os.listdir(base)):
            d = os.path.join(base, m)
            if group == "." and not m.startswith("tiny-trained"):
                continue
            if os.path.isdir(d):
                models.append((group.replace(".", "top") + "-" + m, d))
    for name, d in models:
        files = os.listdir(d)
        sym = [f for f in files if f.endswith("-symbol.json")]
        prm = sorted(f for f in files if f.endswith(".params"))
        shapes = open(os.path.join(d, "model-shapes.json"), "rb").read() if "model-shapes.json" in files else b""
        s = open(os.path.join(d, sym[0]), "rb").read() if sym else b""
        p = open(os.path.join(d, prm[-1]), "rb").read() if prm else b""
        if s:
            write(os.path.join(dst, "symbol", name + ".json"), s)
        if p:
            write(os.path.join(dst, "params", name + ".params"), p)
        if s and p:
            write(os.path.join(dst, "model_load", name), s + SEP + shapes + SEP + p)


if __name__ == "__main__":
    if sys.argv[1:2] == ["committed"]:
        committed()
    elif sys.argv[1:2] == ["extra"] and len(sys.argv) == 3:
        extra(sys.argv[2])
    else:
        sys.exit(__doc__)
