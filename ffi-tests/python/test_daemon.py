"""``invoke_inference_service`` through the ``edgeclass serve`` daemon (``EDGECLASS_SOCKET``):
the same answers, checks and exceptions as in-process, from several threads, across a daemon
kill and restart, and in a ``fork()`` child. Feedback ``publish`` through it: the same outcomes
and exceptions as in-process, and the daemon's uploader command gets the samples. The daemon is
the real binary (``$EDGECLASS_CLI``, else target/release/edgeclass)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import daemon

import edgeclass
import helpers

SERVICE = 'daemon-tiny'
CLI = os.environ.get('EDGECLASS_CLI') or os.path.join(helpers.REPO, 'target', 'release',
                                                      'edgeclass')
PHOTOS = os.path.join(helpers.FIXTURES, 'photos')


def _images():
    """(name, bytes, content type): the digits, the photos and the hostile images' refusals."""
    out = []
    for name in sorted(os.listdir(helpers.DIGITS)):
        if name.endswith('.png') or name.endswith('.jpg'):
            out.append((name, helpers.read(os.path.join(helpers.DIGITS, name)),
                        'image/png' if name.endswith('.png') else 'image/jpeg'))
    for name in ('china.jpg', 'flower.jpg'):
        out.append((name, helpers.read(os.path.join(PHOTOS, name)), 'image/jpeg'))
    images = os.path.join(helpers.FIXTURES, 'images')
    for name in ('random_bytes.jpg', 'png_truncated.png', 'jpeg_truncated.jpg', 'empty.jpg'):
        out.append((name, helpers.read(os.path.join(images, name)), 'application/x-image'))
    return out


class Daemon(object):
    """``edgeclass serve`` on a scratch socket, serving a services file."""

    def __init__(self, services_path, extra=()):
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix='edgeclass-daemon-')
        self.socket = os.path.join(self.dir, 'edgeclass.sock')
        self.services = services_path
        self.log = open(os.path.join(self.dir, 'daemon.log'), 'wb')
        self.proc = None

    def start(self):
        if not os.path.exists(CLI):
            raise AssertionError('the edgeclass CLI is missing: %s (EDGECLASS_CLI)' % CLI)
        self.proc = subprocess.Popen([CLI, 'serve', '--config', self.services,
                                      '--socket', self.socket] + self.extra,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('edgeclass serve exited with %s: %s'
                                     % (self.proc.returncode, self.text()))
            try:
                status, _, _ = daemon.request(self.socket, 'GET', '/ping')
                if status == 200:
                    return self
            except ml.GreengrassDependencyException:
                pass
            time.sleep(0.05)
        raise AssertionError('edgeclass serve did not answer /ping: %s' % self.text())

    def text(self):
        self.log.flush()
        with open(self.log.name, 'rb') as f:
            return f.read().decode('utf-8', 'replace')[-4000:]

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()
        return self.proc.returncode


class _Env(object):
    """Set (value) or unset (None) environment variables for a ``with``."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = dict((k, os.environ.get(k)) for k in self.values)
        for k, v in self.values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _outcome(client, body, content_type, name=SERVICE):
    """('ok', body bytes) or (exception class name, code) of one call."""
    try:
        resp = client.invoke_inference_service(AlgoType='image-classification',
                                               ServiceName=name, ContentType=content_type,
                                               Body=body)
        return ('ok', resp['Body'].read())
    except (ml.GreengrassInferenceException, ml.GreengrassDependencyException) as e:
        return (type(e).__name__, e.code)


class ThroughTheDaemon(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.services = helpers.write_services({'Connectors': [
            helpers.connector(helpers.parameters(SERVICE, EdgeclassWorkers='2'))]})
        cls.daemon = Daemon(cls.services).start()
        cls.images = _images()
        # The reference: the same services file, in this process (no socket).
        client = ml.client('inference')
        with _Env(EDGECLASS_SOCKET=None, EDGECLASS_SERVICES=cls.services):
            cls.expected = [_outcome(client, b, ct) for _, b, ct in cls.images]

    @classmethod
    def tearDownClass(cls):
        code = cls.daemon.stop()
        assert code == 0, 'edgeclass serve exited %s after SIGTERM' % code

    def env(self):
        # EDGECLASS_SERVICES names a file that does not exist: a call that went in-process
        # instead of to the daemon would fail.
        return _Env(EDGECLASS_SOCKET=self.daemon.socket,
                    EDGECLASS_SERVICES=os.path.join(self.daemon.dir, 'no-such-file.json'))

    def test_every_answer_and_refusal_equals_in_process(self):
        self.assertTrue(any(o[0] == 'ok' for o in self.expected))
        self.assertTrue(any(o[0] != 'ok' for o in self.expected))
        client = ml.client('inference')
        with self.env():
            for (name, body, ct), want in zip(self.images, self.expected):
                self.assertEqual(_outcome(client, body, ct), want, name)
                # bytearray and memoryview bodies, as in-process
                self.assertEqual(_outcome(client, bytearray(body), ct), want, name)

    def test_argument_checks_and_dependency_errors(self):
        client = ml.client('inference')
        png = helpers.read(os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png'))
        with self.env():
            self.assertEqual(_outcome(client, png, 'image/png', 'no-such-service'),
                             ('GreengrassDependencyException', edgeclass.UNKNOWN_SERVICE))
            self.assertEqual(_outcome(client, png, 'text/plain'),
                             ('GreengrassInferenceException',
                              edgeclass.UNSUPPORTED_CONTENT_TYPE))
            with self.assertRaises(ValueError):
                client.invoke_inference_service(AlgoType='image-classification',
                                                ServiceName='bad_name', Body=png)
            with self.assertRaises(TypeError):
                client.invoke_inference_service(AlgoType='image-classification',
                                                ServiceName=SERVICE, Body=12)
            with self.assertRaises(ml.GreengrassInferenceException):
                client.invoke_inference_service(AlgoType='image-classification',
                                                ServiceName=SERVICE, Body=png,
                                                ContentType='image/png\0x')
        # Nobody on the socket.
        with _Env(EDGECLASS_SOCKET=os.path.join(self.daemon.dir, 'nobody.sock')):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                client.invoke_inference_service(AlgoType='image-classification',
                                                ServiceName=SERVICE, Body=png)
            self.assertIn('nobody.sock', str(cm.exception))

    def test_threads_share_the_daemon(self):
        client = ml.client('inference')
        failures = []
        ok = [(i, b, ct) for i, ((_, b, ct), o) in enumerate(zip(self.images, self.expected))
              if o[0] == 'ok']

        def worker(k):
            for n in range(25):
                i, body, ct = ok[(k + n) % len(ok)]
                got = _outcome(client, body, ct)
                if got != self.expected[i]:
                    failures.append((k, n, got))

        with self.env():
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])

    @unittest.skipUnless(hasattr(os, 'fork'), 'needs fork()')
    def test_a_fork_child_uses_its_own_connection(self):
        client = ml.client('inference')
        name, body, ct = self.images[0]
        with self.env():
            self.assertEqual(_outcome(client, body, ct), self.expected[0])   # connected
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    ok = all(_outcome(client, body, ct) == self.expected[0] for _ in range(5))
                    os.write(w, b'1' if ok else b'0')
                finally:
                    os._exit(0)
            os.close(w)
            # The parent goes on on its connection while the child uses its own.
            for _ in range(5):
                self.assertEqual(_outcome(client, body, ct), self.expected[0])
            got = os.read(r, 1)
            os.close(r)
            os.waitpid(pid, 0)
            self.assertEqual(got, b'1')


class ScriptedDaemon(object):
    """A Unix socket server answering each request with ``script(n)``: (bytes, close after)."""

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix='edgeclass-scripted-')
        self.socket = os.path.join(self.dir, 'd.sock')
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.socket)
        self.server.listen(8)
        self.script = script
        self.count = 0
        t = threading.Thread(target=self.serve)
        t.daemon = True
        t.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except socket.error:
                return
            buf = b''
            while True:
                while b'\r\n\r\n' not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if b'\r\n\r\n' not in buf:
                    break
                head, _, buf = buf.partition(b'\r\n\r\n')
                length = [int(line.split(b':')[1]) for line in head.split(b'\r\n')
                          if line.lower().startswith(b'content-length:')][0]
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                answer, close = self.script(self.count)
                self.count += 1
                conn.sendall(answer)
                if close:
                    break
            conn.close()


def _ok(body):
    return ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body)).encode() + body


class ClientReadsAnswers(unittest.TestCase):
    """What the SDK's client makes of each kind of answer (the daemon's own are above)."""

    def call(self, daemon):
        with _Env(EDGECLASS_SOCKET=daemon.socket):
            return _outcome(ml.client('inference'), b'\x89PNG', 'image/png')

    def test_chunked_refused_garbage_and_cut_off_answers(self):
        chunked = (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                   b'5\r\n[0.5,\r\n5;x=y\r\n0.25]\r\n0\r\n\r\n')
        self.assertEqual(self.call(ScriptedDaemon(lambda n: (chunked, False))),
                         ('ok', b'[0.5,0.25]'))
        refusal = b'{"code":2003,"name":"CORRUPT_IMAGE","message":"PNG: bad CRC"}'
        answer = ('HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n'
                  % len(refusal)).encode() + refusal
        self.assertEqual(self.call(ScriptedDaemon(lambda n: (answer, False))),
                         ('GreengrassInferenceException', edgeclass.CORRUPT_IMAGE))
        for bad in (b'hello there\r\n\r\n', b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[0.5',
                    b'', b'HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops'):
            self.assertEqual(self.call(ScriptedDaemon(lambda n, bad=bad: (bad, True))),
                             ('GreengrassDependencyException', None), bad)

    def test_a_kept_connection_the_daemon_closed_is_replaced(self):
        # Each connection answers once, then closes without saying so.
        d = ScriptedDaemon(lambda n: (_ok(('[%d]' % n).encode()), True))
        with _Env(EDGECLASS_SOCKET=d.socket):
            client = ml.client('inference')
            for n in range(4):
                self.assertEqual(_outcome(client, b'\x89PNG', 'image/png'),
                                 ('ok', ('[%d]' % n).encode()))


FEEDBACK_ARN = 'arn:aws:greengrass:region::/connectors/MLFeedback/versions/1'


def _feedback_entry(spool):
    configs = {
        'daemon-fb': {'s3-bucket-name': 'daemon-bucket', 'content-type': 'image/png',
                      's3-prefix': 'lambda', 'file-ext': 'png'},
        'daemon-drop': {'s3-bucket-name': 'daemon-bucket', 'content-type': 'image/png',
                        'sampling-strategy': {'strategy-name': 'LEAST_CONFIDENCE',
                                              'threshold': 0.1}},
    }
    return {'Id': 'Feedback', 'ConnectorArn': FEEDBACK_ARN, 'Parameters': {
        'FeedbackConfigurationMap': json.dumps(configs), 'EdgeclassSpoolDirectory': spool}}


def _publish_outcome(**kwargs):
    """None, or (exception class name, code, message) of one publish."""
    try:
        ml.client('feedback').publish(**kwargs)
        return None
    except Exception as e:
        return (type(e).__name__, getattr(e, 'code', None), str(e))


class FeedbackThroughTheDaemon(unittest.TestCase):

    def test_publish_answers_as_in_process_and_the_daemon_uploads(self):
        scratch = tempfile.mkdtemp(prefix='edgeclass-daemon-fb-')
        uploaded = os.path.join(scratch, 'uploaded')
        os.mkdir(uploaded)
        script = os.path.join(scratch, 'upload.sh')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\ncat > "%s/$EDGECLASS_SAMPLE_ID.input" && '
                    'echo "$EDGECLASS_S3_KEY" > "%s/$EDGECLASS_SAMPLE_ID.key"\n'
                    % (uploaded, uploaded))
        os.chmod(script, 0o755)
        services = helpers.write_services({'Connectors': [
            _feedback_entry(os.path.join(scratch, 'daemon-spool'))]})
        d = Daemon(services, ['--feedback-upload-command', script]).start()
        png = helpers.read(os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png'))
        calls = [
            dict(ConfigId='daemon-fb', ModelInput=png, ModelPrediction=[0.2, 0.8],
                 Metadata={'camera': 'c1'}),
            dict(ConfigId='daemon-fb', ModelInput=bytearray(b'\0\xff'),
                 ModelPrediction={'boxes': []}),
            dict(ConfigId='daemon-drop', ModelInput=png, ModelPrediction=[0.5, 0.5]),
            dict(ConfigId='no-such-config', ModelInput=png, ModelPrediction=[1.0]),
            dict(ConfigId='daemon-fb', ModelInput=png, ModelPrediction=[float('nan')]),
            dict(ConfigId='daemon-fb', ModelInput=png, ModelPrediction=[1.0],
                 Metadata={'x': float('inf')}),
            dict(ConfigId='bad_id', ModelInput=png, ModelPrediction=[1.0]),
            dict(ConfigId='daemon-fb', ModelInput=u'text', ModelPrediction=[1.0]),
            dict(ConfigId='daemon-fb', ModelInput=png, ModelPrediction='[1.0]'),
            dict(ConfigId='daemon-fb', ModelInput=png, ModelPrediction=[1.0], Metadata=None),
            dict(ConfigId='daemon-fb', ModelPrediction=[1.0]),
        ]
        try:
            # The reference: the same connector in this process (its own spool).
            local = helpers.write_services({'Connectors': [
                _feedback_entry(os.path.join(scratch, 'local-spool'))]})
            with _Env(EDGECLASS_SOCKET=None, EDGECLASS_SERVICES=local):
                want = [_publish_outcome(**c) for c in calls]
            self.assertEqual(want[:3], [None, None, None])
            self.assertEqual(want[3][:2], ('GreengrassFeedbackException',
                                           edgeclass.INVALID_ARGUMENT))
            self.assertEqual(want[4][:2], ('GreengrassFeedbackException',
                                           edgeclass.INVALID_ARGUMENT))
            with _Env(EDGECLASS_SOCKET=d.socket,
                      EDGECLASS_SERVICES=os.path.join(scratch, 'no-such-file.json')):
                got = [_publish_outcome(**c) for c in calls]
                # Nobody on the socket.
                with _Env(EDGECLASS_SOCKET=os.path.join(scratch, 'nobody.sock')):
                    gone = _publish_outcome(**calls[0])
            for c, w, g in zip(calls, want, got):
                if w is None:
                    self.assertIsNone(g, c)
                    continue
                # Same class and code; the message is the library's (the daemon's names it
                # instead of the services file, and has no "(CODE)" suffix).
                self.assertEqual(g[:2], w[:2], c)
                core = w[2].split(' (INVALID_ARGUMENT)')[0].split('; the services file')[0]
                self.assertIn(core, g[2], c)
            self.assertIn('edgeclass daemon at', got[3][2])
            self.assertEqual(gone[:2], ('GreengrassDependencyException', None))
            self.assertIn('nobody.sock', gone[2])
            # The two kept samples reach the uploader command (the dropped one does not).
            deadline = time.time() + 20
            while len([n for n in os.listdir(uploaded) if n.endswith('.key')]) < 2:
                self.assertLess(time.time(), deadline, d.text())
                time.sleep(0.02)
            time.sleep(0.2)
            keys = sorted(n for n in os.listdir(uploaded) if n.endswith('.key'))
            self.assertEqual(len(keys), 2, keys)
            inputs = []
            for k in keys:
                sid = k[:-len('.key')]
                with open(os.path.join(uploaded, k)) as f:
                    self.assertEqual(f.read(), 'lambda/%s.png\n' % sid)
                inputs.append(helpers.read(os.path.join(uploaded, sid + '.input')))
            self.assertEqual(sorted(inputs), sorted([png, b'\0\xff']))
        finally:
            self.assertEqual(d.stop(), 0)


class DaemonRestarts(unittest.TestCase):

    def test_killed_mid_request_then_restarted(self):
        slow_dir = helpers.temp_dir('daemon-slow')
        # Slow enough that the kill below lands while the request runs, however many threads
        # the service has (40 layers took under the 50 ms the kill used to wait on 2 threads).
        helpers.write_slow_model(slow_dir, 120)
        name = 'daemon-slow'
        services = helpers.write_services({'Connectors': [
            helpers.connector(helpers.parameters(name, slow_dir))]})
        d = Daemon(services).start()
        png = helpers.read(os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png'))
        client = ml.client('inference')
        with _Env(EDGECLASS_SOCKET=d.socket, EDGECLASS_SOCKET_TIMEOUT='30'):
            started = time.time()
            first = _outcome(client, png, 'image/png', name)
            took = time.time() - started
            self.assertEqual(first[0], 'ok')
            # SIGKILL while a request runs: the client hears at once, not after its timeout.
            outcome = []
            t = threading.Thread(target=lambda: outcome.append(
                (time.time(), _outcome(client, png, 'image/png', name))))
            t.start()
            # A quarter into a request as long as the first one.
            time.sleep(took / 4)
            killed = time.time()
            d.proc.kill()
            d.proc.wait()
            t.join(30)
            self.assertFalse(t.is_alive())
            done, got = outcome[0]
            self.assertEqual(got, ('GreengrassDependencyException', None))
            self.assertLess(done - killed, 5)
            # Restarted on the same socket: the same client object succeeds again.
            d.start()
            try:
                self.assertEqual(_outcome(client, png, 'image/png', name), first)
            finally:
                self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    unittest.main()
