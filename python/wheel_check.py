"""Run the seed's Lambda (python/examples/seed_lambda.py, unchanged) on an installed wheel and
compare its predictions with MXNet's goldens. scripts/test-wheel.sh runs it in fresh
virtualenvs, from a folder outside the source tree, without EDGECLASS_LIBRARY.

    python wheel_check.py --lambda SEED_LAMBDA --model DIR --image IMG --goldens GOLDENS.json
        [--golden-image NAME] [--decoder libjpeg-turbo|zune]

Around the unchanged source, as ffi-tests/python/test_seed_example.py does: ``open`` gives the
image for the example's ``/test_img/test.jpg``; ``threading.Timer`` records instead of starting
(so ``infer()`` runs once); ``numpy.fromstring`` records what the example parsed. With the
bit-exact decoder the probabilities must be within 1e-4 of MXNet's; with zune-jpeg the top-1 must
agree and the probabilities be within 0.02 (tests/end_to_end.rs's limits). Exit status 0 on
success. Runs on Python 2.7 and 3.x.
"""
from __future__ import print_function

import argparse
import io
import json
import os
import sys
import tempfile
import threading

import numpy


class _Timer(object):
    scheduled = []

    def __init__(self, interval, function, *args, **kwargs):
        _Timer.scheduled.append((interval, function))

    def start(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lambda', dest='source', required=True)
    ap.add_argument('--model', required=True)
    ap.add_argument('--image', required=True)
    ap.add_argument('--goldens', required=True)
    ap.add_argument('--golden-image', help="the image's name in the goldens (default: its path "
                                           "relative to the model's folder)")
    ap.add_argument('--decoder', default='libjpeg-turbo', choices=['libjpeg-turbo', 'zune'])
    a = ap.parse_args()

    if os.environ.get('EDGECLASS_LIBRARY'):
        sys.exit('wheel_check: EDGECLASS_LIBRARY is set; this checks the installed library')
    tmp = tempfile.mkdtemp()
    services = os.path.join(tmp, 'services.json')
    with open(services, 'w') as f:
        json.dump({'Connectors': [{'Id': 'ImageClassification', 'Parameters': {
            'MLModelDestinationPath': os.path.abspath(a.model),
            'LocalInferenceServiceName': 'imageClassification',
            'LocalInferenceServiceTimeoutSeconds': '10',
            'LocalInferenceServiceMemoryLimitKB': '500000',
            'EdgeclassJpegDecoder': a.decoder}}]}, f)
    os.environ['EDGECLASS_SERVICES'] = services

    import edgeclass
    library = os.path.realpath(edgeclass.library_path())
    package = os.path.realpath(os.path.dirname(edgeclass.__file__))
    print('edgeclass %s (library %s, C ABI %d) from %s'
          % (edgeclass.__version__, edgeclass.version(), edgeclass.abi_version(), library))
    if os.path.dirname(library) != package:
        sys.exit('wheel_check: the library was not the one inside the installed package (%s)'
                 % package)
    if edgeclass.version() != edgeclass.__version__:
        sys.exit('wheel_check: library version %s, package version %s'
                 % (edgeclass.version(), edgeclass.__version__))

    with open(a.image, 'rb') as f:
        image = f.read()
    real_open = io.open

    def fake_open(path, *args, **kwargs):
        if path == '/test_img/test.jpg':
            return io.BytesIO(image)
        return real_open(path, *args, **kwargs)

    parsed = []
    real_fromstring = numpy.fromstring

    def recording_fromstring(*args, **kwargs):
        value = real_fromstring(*args, **kwargs)
        parsed.append(value)
        return value

    with open(a.source) as f:
        source = f.read()
    saved_timer = threading.Timer
    threading.Timer = _Timer
    numpy.fromstring = recording_fromstring
    try:
        exec(compile(source, a.source, 'exec'), {'__name__': 'seed_lambda', 'open': fake_open})
    finally:
        numpy.fromstring = real_fromstring
        threading.Timer = saved_timer
    if len(parsed) != 1 or len(_Timer.scheduled) != 1:
        sys.exit('wheel_check: the Lambda did not reach its end (parsed %d answers, scheduled %d)'
                 % (len(parsed), len(_Timer.scheduled)))

    name = a.golden_image or os.path.relpath(os.path.abspath(a.image), os.path.abspath(a.model))
    with open(a.goldens) as f:
        golden = [g for g in json.load(f) if g['image'] == name]
    if len(golden) != 1 or 'probs' not in golden[0]:
        sys.exit('wheel_check: no golden for %s' % name)
    want = numpy.array(golden[0]['probs'])
    got = parsed[0]
    limit = 1e-4 if a.decoder == 'libjpeg-turbo' else 0.02
    diff = float(numpy.max(numpy.abs(got - want)))
    top1 = int(numpy.argmax(got))
    print('%s: top-1 %d (MXNet %d), max |dprob| %.2e (limit %g)'
          % (name, top1, golden[0]['top5'][0], diff, limit))
    if got.shape != want.shape or top1 != golden[0]['top5'][0] or diff > limit:
        sys.exit('wheel_check: FAIL')
    print('wheel_check: PASS')


if __name__ == '__main__':
    main()
