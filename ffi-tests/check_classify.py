#!/usr/bin/env python3
"""Check examples-c/classify's output (stdin) against MXNet's golden for one image.

Usage: check_classify.py FIXTURES_DIR IMAGE_KEY < output
IMAGE_KEY is the golden's "image" (e.g. tiny-trained/images/digit07_label3_28x28.png): a PNG,
so the answer must match within 1e-4 with the same top-5, and each top line must carry the
label of its class from labels.txt.
"""

import json
import os
import re
import sys


def main():
    fx, key = sys.argv[1], sys.argv[2]
    goldens = json.load(open(os.path.join(fx, "tiny-trained", "goldens.json"), encoding="utf-8"))
    golden = next(r for r in goldens if r["image"] == key)
    with open(os.path.join(fx, "tiny-trained", "labels.txt"), encoding="utf-8") as f:
        labels = f.read().splitlines()
    out = sys.stdin.read()
    errors = []

    m = re.search(r"^predictions: \[([^\]]*)\]$", out, re.M)
    if not m:
        sys.exit("no 'predictions: [...]' line in:\n" + out)
    probs = [float(t) for t in m.group(1).split(",")]
    if len(probs) != len(golden["probs"]):
        errors.append("%d probabilities, golden %d" % (len(probs), len(golden["probs"])))
    else:
        d = max(abs(a - b) for a, b in zip(probs, golden["probs"]))
        if d > 1e-4:
            errors.append("max |dprob| %.3g > 1e-4" % d)

    tops = re.findall(r"^top(\d): class (\d+) p=([0-9.e+-]+)(?: label=(.*))?$", out, re.M)
    if [int(c) for _, c, _, _ in tops] != golden["top5"]:
        errors.append("top-5 %s, golden %s" % ([int(c) for _, c, _, _ in tops], golden["top5"]))
    for rank, cls, p, label in tops:
        if label != labels[int(cls)]:
            errors.append("top%s: label %r, labels.txt says %r" % (rank, label, labels[int(cls)]))
        if abs(float(p) - probs[int(cls)]) > 1e-6:  # printed with %.6f
            errors.append("top%s: p=%s but the body says %r" % (rank, p, probs[int(cls)]))
    if errors:
        sys.exit("\n".join(errors) + "\noutput was:\n" + out)


if __name__ == "__main__":
    main()
