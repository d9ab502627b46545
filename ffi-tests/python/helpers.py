"""Shared by the Python tests: fixture paths, services files, a slow model, log capture.

Python 2.7 and 3.x; no numpy here.
"""

import io
import itertools
import json
import os
import struct
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')
TINY = os.path.join(FIXTURES, 'tiny-trained')
DIGITS = os.path.join(TINY, 'images')
SEED_EXAMPLE = os.path.join(REPO, 'python', 'examples', 'seed_lambda.py')

# The connector documentation's example Parameters, with a CPU build's GPUAcceleration.
SEED_PARAMETERS = {
    'MLModelDestinationPath': TINY,
    'MLModelResourceId': 'my-ml-resource',
    'MLModelSageMakerJobArn':
        'arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier',
    'LocalInferenceServiceName': 'imageClassification',
    'LocalInferenceServiceTimeoutSeconds': '10',
    'LocalInferenceServiceMemoryLimitKB': '500000',
    'GPUAcceleration': 'CPU',
    'MLFeedbackConnectorConfigId': 'MyConfig0',
}
SEED_ARN = 'arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2'

_tmp = tempfile.mkdtemp(prefix='edgeclass-pytest-')
_counter = itertools.count()


def read(path):
    """The bytes of a file."""
    with open(path, 'rb') as f:
        return f.read()


def digit_images():
    """(file name, bytes) of every tiny-trained digit image, sorted by name."""
    names = sorted(n for n in os.listdir(DIGITS) if n.endswith(('.jpg', '.png')))
    return [(n, read(os.path.join(DIGITS, n))) for n in names]


def unique_name(prefix):
    """A service name no other test of this process uses (names are process-wide)."""
    return '%s-%d-%d' % (prefix, os.getpid() % 100000, next(_counter))


def parameters(name, model=TINY, **extra):
    """Connector parameters for a service ``name`` on ``model``, plus ``extra``."""
    p = dict(SEED_PARAMETERS)
    p['LocalInferenceServiceName'] = name
    p['MLModelDestinationPath'] = model
    p.update(extra)
    return p


def connector(params, arn=SEED_ARN, id_='MyImageClassificationConnector'):
    """One entry of a connector definition's ``Connectors`` list."""
    return {'Id': id_, 'ConnectorArn': arn, 'Parameters': params}


class ServicesEnv(object):
    """Points EDGECLASS_SERVICES at ``path`` for the duration of a ``with``."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        from greengrass_machine_learning_sdk import services
        self.saved = os.environ.get(services.SERVICES_ENV)
        os.environ[services.SERVICES_ENV] = self.path
        return self.path

    def __exit__(self, *exc):
        from greengrass_machine_learning_sdk import services
        if self.saved is None:
            os.environ.pop(services.SERVICES_ENV, None)
        else:
            os.environ[services.SERVICES_ENV] = self.saved


def write_services(document, raw=None):
    """Write a services file holding ``document`` (JSON) or the text ``raw``; return its path."""
    path = os.path.join(_tmp, 'services-%d.json' % next(_counter))
    text = raw if raw is not None else json.dumps(document, indent=2)
    if isinstance(text, bytes):
        text = text.decode('utf-8')
    with io.open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return path


def png_magic(data):
    """Whether ``data`` is a PNG (by its signature, as the decoder decides)."""
    return bytes(data[:8]) == b'\x89PNG\r\n\x1a\n'


def write_slow_model(directory, layers):
    """A deliberately slow SageMaker-style model (as tests/service.rs writes it): a 3x3
    convolution repeated ``layers`` times (one shared weight) on 32x96x96 activations, global
    pooling, a 2-class FC and softmax. Averaging kernels keep activations bounded."""
    if not os.path.isdir(directory):
        os.makedirs(directory)
    conv = '"kernel":"(3, 3)","pad":"(1, 1)","num_filter":"32","no_bias":"True"'
    nodes = [
        '{"op":"null","name":"data","inputs":[]}',
        '{"op":"null","name":"conv0_weight","inputs":[]}',
        '{"op":"Convolution","name":"conv0","attrs":{%s},"inputs":[[0,0,0],[1,0,0]]}' % conv,
        '{"op":"null","name":"shared_weight","inputs":[]}',
    ]
    last = 2
    for i in range(layers):
        nodes.append('{"op":"Convolution","name":"conv%d","attrs":{%s},'
                     '"inputs":[[%d,0,0],[3,0,0]]}' % (i + 1, conv, last))
        last = len(nodes) - 1
    n = len(nodes)
    nodes.append('{"op":"Pooling","name":"pool1","attrs":{"global_pool":"True",'
                 '"kernel":"(7, 7)","pool_type":"avg"},"inputs":[[%d,0,0]]}' % last)
    nodes.append('{"op":"Flatten","name":"flatten0","inputs":[[%d,0,0]]}' % n)
    nodes.append('{"op":"null","name":"fc1_weight","inputs":[]}')
    nodes.append('{"op":"null","name":"fc1_bias","inputs":[]}')
    nodes.append('{"op":"FullyConnected","name":"fc1","attrs":{"num_hidden":"2"},'
                 '"inputs":[[%d,0,0],[%d,0,0],[%d,0,0]]}' % (n + 1, n + 2, n + 3))
    nodes.append('{"op":"SoftmaxOutput","name":"softmax","inputs":[[%d,0,0]]}' % (n + 4))
    symbol = '{"nodes":[%s],"arg_nodes":[0],"heads":[[%d,0,0]]}' % (','.join(nodes), n + 5)
    with open(os.path.join(directory, 'image-classification-symbol.json'), 'w') as f:
        f.write(symbol)
    with open(os.path.join(directory, 'model-shapes.json'), 'w') as f:
        f.write('[{"shape": [1, 3, 96, 96], "name": "data"}]')
    arrays = [
        ('arg:conv0_weight', [32, 3, 3, 3], [1.0 / 27.0 / 255.0] * (32 * 27)),
        ('arg:shared_weight', [32, 32, 3, 3], [1.0 / 288.0] * (32 * 288)),
        ('arg:fc1_weight', [2, 32], [1.0] * 32 + [-1.0] * 32),
        ('arg:fc1_bias', [2], [0.0, 0.0]),
    ]
    out = [struct.pack('<QQQ', 0x112, 0, len(arrays))]
    for _, shape, data in arrays:
        out.append(struct.pack('<Iii', 0xF993FAC9, 0, len(shape)))
        out.append(struct.pack('<%dq' % len(shape), *shape))
        out.append(struct.pack('<iii', 1, 0, 0))      # cpu, device 0, float32
        out.append(struct.pack('<%df' % len(data), *data))
    out.append(struct.pack('<Q', len(arrays)))
    for name, _, _ in arrays:
        b = name.encode('ascii')
        out.append(struct.pack('<Q', len(b)) + b)
    with open(os.path.join(directory, 'image-classification-0001.params'), 'wb') as f:
        f.write(b''.join(out))
    return directory


def temp_dir(name):
    """A fresh directory under this run's temporary folder."""
    path = os.path.join(_tmp, '%s-%d' % (name, next(_counter)))
    os.makedirs(path)
    return path


class LogCapture(object):
    """Collects the library's log lines through ``edgeclass.set_log_callback`` (thread-safe).

    Installed once per process by :func:`capture_library_log`, so the expected warnings of the
    error-path tests do not flood stderr; ``lines()`` gives what was logged so far.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._lines = []

    def __call__(self, level, message):
        with self._lock:
            self._lines.append((level, message))

    def lines(self):
        with self._lock:
            return list(self._lines)


_capture = []


def capture_library_log():
    """Route the library's log to a :class:`LogCapture` (once per process) and return it."""
    import edgeclass
    if not _capture:
        capture = LogCapture()
        edgeclass.set_log_callback(capture, edgeclass.LOG_INFO)
        _capture.append(capture)
    return _capture[0]
