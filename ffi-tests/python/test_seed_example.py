"""The connector documentation's Lambda (python/examples/seed_lambda.py), run unchanged against
tiny-trained on every fixture image, its parsed predictions checked against MXNet's goldens.

What the harness changes around the unchanged source, and why:
- ``open``: the example reads ``/test_img/test.jpg``; the harness's ``open`` (in the globals
  the source is executed with) returns the fixture image for that one path and is the builtin
  for anything else.
- ``threading.Timer``: the example reschedules ``infer()`` every second, forever. For the
  duration of the exec, ``threading.Timer`` is a class that records ``(interval, function)``
  and whose ``start()`` does nothing, so ``infer()`` runs exactly once (at import, as in the
  Lambda) and the test sees whether it reached its last line.
- ``numpy.fromstring``: wrapped for the duration of the exec to record what it returns, i.e.
  the example's ``predictions_arr`` (a local variable, of which the example logs only the
  length). The wrapper calls the real function with the same arguments.
- ``logging``: a handler on the root logger at INFO records the example's log lines.
"""

import json
import logging
import os
import subprocess
import sys
import threading
import unittest

from greengrass_machine_learning_sdk import services

import helpers

try:
    import numpy
except ImportError:
    numpy = None

GOLDENS = os.path.join(helpers.TINY, 'goldens.json')
SERVICE = 'imageClassification'     # the example's ServiceName

#: Files cv2 decodes but edgeclass refuses on purpose (see tests/end_to_end.rs).
REFUSED = {
    'images/bmp_content_named_jpg.jpg': 'BMP is not a documented connector format',
    'images/jpeg_arithmetic.jpg': 'zune-jpeg has no arithmetic decoding',
}


class _FakeTimer(object):
    scheduled = []

    def __init__(self, interval, function, *args, **kwargs):
        self.interval, self.function = interval, function

    def start(self):
        _FakeTimer.scheduled.append((self.interval, self.function))


class _Records(logging.Handler):

    def __init__(self):
        logging.Handler.__init__(self, logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_seed_example(image_path):
    """Execute the example's unchanged source once with ``image_path`` as its test image.

    Returns ``(log messages, arrays returned by numpy.fromstring, Timer calls)``.
    """
    with open(helpers.SEED_EXAMPLE) as f:
        source = f.read()
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == '/test_img/test.jpg':
            path = image_path
        return real_open(path, *args, **kwargs)

    parsed = []
    real_fromstring = numpy.fromstring

    def recording_fromstring(*args, **kwargs):
        result = real_fromstring(*args, **kwargs)
        parsed.append(result)
        return result

    records = _Records()
    root = logging.getLogger()
    saved_level = root.level
    saved_timer = threading.Timer
    _FakeTimer.scheduled = []
    root.addHandler(records)
    root.setLevel(logging.INFO)
    threading.Timer = _FakeTimer
    numpy.fromstring = recording_fromstring
    try:
        code = compile(source, helpers.SEED_EXAMPLE, 'exec')
        exec(code, {'__name__': 'seed_lambda', 'open': fake_open})
    finally:
        numpy.fromstring = real_fromstring
        threading.Timer = saved_timer
        root.setLevel(saved_level)
        root.removeHandler(records)
    return records.messages, parsed, list(_FakeTimer.scheduled)


@unittest.skipIf(numpy is None, 'numpy is not installed (run.sh installs it)')
class SeedExample(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        helpers.capture_library_log()
        cls.services_file = helpers.write_services({'Connectors': [
            helpers.connector(helpers.parameters(SERVICE))]})
        with open(GOLDENS) as f:
            cls.goldens = json.load(f)

    def setUp(self):
        os.environ[services.SERVICES_ENV] = self.services_file

    def test_the_services_file_is_the_seed_definition(self):
        with open(self.services_file) as f:
            params = json.load(f)['Connectors'][0]['Parameters']
        with open(os.path.join(helpers.REPO, 'python', 'examples', 'services.json')) as f:
            documented = json.load(f)['Connectors'][0]['Parameters']
        documented['MLModelDestinationPath'] = helpers.TINY
        self.assertEqual(params, documented)

    def test_answers_equal_mxnet_goldens(self):
        exact = tolerant = refused = 0
        for g in self.goldens:
            path = os.path.join(helpers.FIXTURES, g['image'])
            if not os.path.isfile(path):
                # closed-form tensor patterns, and the two large timing photos not in the repo
                self.assertTrue(g['image'].startswith(('pattern_', 'const_', 'photos/bench_')),
                                g['image'])
                continue
            messages, parsed, timers = run_seed_example(path)
            what = g['image']
            if 'error' in g or what in REFUSED:
                # The example catches GreengrassInferenceException, logs it and returns.
                self.assertEqual(parsed, [], what)
                self.assertEqual(timers, [], what)
                self.assertTrue(any(m.startswith('inference exception '
                                                 'GreengrassInferenceException("')
                                    for m in messages), (what, messages))
                refused += 1
                continue
            self.assertFalse([m for m in messages if 'exception' in m], what)
            self.assertEqual(len(timers), 1, what)                  # reached its last line
            self.assertEqual(timers[0][0], 1)
            self.assertIn('Split into 10 predictions.', messages, what)
            self.assertEqual(len(parsed), 1, what)
            got = [float(x) for x in parsed[0]]
            golden = g['probs']
            self.assertEqual(len(got), len(golden), what)
            delta = max(abs(a - b) for a, b in zip(got, golden))
            top1 = got.index(max(got))
            self.assertEqual(top1, g['top5'][0], '%s: top-1' % what)
            if helpers.png_magic(helpers.read(path)):
                # decoded tensor identical to MXNet's: the answers match to 1e-4
                self.assertLessEqual(delta, 1e-4, '%s: |dprob| %g' % (what, delta))
                exact += 1
            else:
                # JPEG through zune-jpeg (a different IDCT than libjpeg-turbo)
                self.assertLessEqual(delta, 0.02, '%s: |dprob| %g' % (what, delta))
                tolerant += 1
            # the body the example logged holds the same numbers
            logged = [m for m in messages if m.startswith('predictions: ')][0]
            text = logged[logged.index('[') + 1:logged.index(']')]
            self.assertEqual([float(x) for x in text.split(',')], got, what)
        self.assertGreaterEqual(exact, 20)
        self.assertGreaterEqual(tolerant, 20)
        self.assertGreaterEqual(refused, 10)

    def test_missing_service_is_logged_as_dependency_exception(self):
        # In a fresh interpreter: this one keeps its imageClassification service open.
        empty = helpers.write_services({'Connectors': []})
        code = ('import json, test_seed_example as t\n'
                'print(json.dumps(t.run_seed_example(%r)[0]))'
                % os.path.join(helpers.DIGITS, 'digit00_label0_28x28.jpg'))
        env = dict(os.environ)
        env[services.SERVICES_ENV] = empty
        p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, env=env,
                             cwd=helpers.HERE)
        out = p.communicate()[0].decode('utf-8')
        self.assertEqual(p.returncode, 0, out)
        messages = json.loads(out.strip().split('\n')[-1])
        self.assertFalse([m for m in messages if m.startswith('predictions')], messages)
        self.assertTrue(any(m.startswith('dependency exception GreengrassDependencyException("')
                            for m in messages), messages)


if __name__ == '__main__':
    unittest.main()
