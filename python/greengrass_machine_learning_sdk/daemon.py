"""The ``edgeclass serve`` daemon as the inference service and the ML Feedback connector:
HTTP/1.1 over its Unix socket.

One daemon loads each model once for every process of the device, as the connector did. A
Lambda reaches it when:

- ``$EDGECLASS_SOCKET`` names its socket, or
- ``$EDGECLASS_SERVICES`` is unset (no services file chosen for this process) and the daemon's
  default socket ``/run/edgeclass/edgeclass.sock`` exists.

The same rule sends feedback ``publish`` to the daemon (``POST /feedback/{ConfigId}/publish``),
whose ML Feedback connectors spool, upload and publish the connector's messages.

Otherwise the services are opened in the calling process (``services.py``). The answers, the
argument checks and the exceptions are the same either way: the daemon's JSON error body carries
the edgeclass code, which maps to :class:`GreengrassInferenceException` or
:class:`GreengrassDependencyException` as in-process; a daemon that cannot be reached, closes
the connection mid-request (killed, restarted) or does not answer within
``$EDGECLASS_SOCKET_TIMEOUT`` seconds (default 60) is a :class:`GreengrassDependencyException`.
Each thread keeps one connection open (keep-alive), so a call costs one request on it; the next
call after a daemon restart connects again by itself.

Standard library only (Python 2.7, 3.7 and later).
"""

import base64
import json
import os
import socket
import threading

try:
    from urllib import quote as _quote  # Python 2
except ImportError:
    from urllib.parse import quote as _quote

import edgeclass
from edgeclass._api import body_data

from .exception import GreengrassDependencyException

#: Environment variable naming the daemon's socket.
SOCKET_ENV = 'EDGECLASS_SOCKET'

#: Where ``edgeclass serve`` listens by default.
DEFAULT_SOCKET = '/run/edgeclass/edgeclass.sock'

#: Environment variable: seconds to wait for the daemon's answer (default 60).
TIMEOUT_ENV = 'EDGECLASS_SOCKET_TIMEOUT'
DEFAULT_TIMEOUT = 60.0


def socket_path():
    """The daemon socket this process sends requests to, or None (services in-process)."""
    path = os.environ.get(SOCKET_ENV)
    if path:
        return path
    if not os.environ.get('EDGECLASS_SERVICES') and os.path.exists(DEFAULT_SOCKET):
        return DEFAULT_SOCKET
    return None


def _timeout():
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise GreengrassDependencyException(
            '%s=%r: expected a number of seconds above 0' % (TIMEOUT_ENV, value))
    return seconds


class _ProtocolError(Exception):
    """The daemon's answer is not HTTP/1.1 as expected (or exceeds a limit)."""


class _Closed(Exception):
    """The connection closed; ``answered``: after part of the answer had arrived."""

    def __init__(self, answered):
        Exception.__init__(self, 'the connection closed %s' % (
            'in the middle of the answer' if answered else 'without an answer'))
        self.answered = answered


#: The most header bytes an answer may have, and body bytes (as the C client's limits).
MAX_HEADER_BYTES = 64 << 10
MAX_BODY_BYTES = 64 << 20


class _Connection(object):
    """One HTTP/1.1 connection over a Unix domain socket, kept alive between requests.

    The exchange is written out here rather than through ``http.client``: a request is one
    ``sendall`` and an answer is parsed from what ``recv`` returns, which costs a fraction of
    ``http.client``'s email-parser headers on the per-request path (the daemon answers with
    ``Content-Length``; chunked answers and answers that end with the connection are read too).
    """

    def __init__(self, path, timeout):
        self.unix_path = path
        self.timeout = timeout
        self.pid = os.getpid()
        self.sock = None
        self.buf = b''
        #: The last answer's header fields (lower-case bytes names), e.g. ``b'server-timing'``.
        self.fields = {}

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _recv(self, answered):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed(answered)
        self.buf += chunk

    def exchange(self, method, url, body, headers):
        """(status, reason, body, keep_alive) of one request."""
        if self.sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(self.timeout)
                s.connect(self.unix_path)
            except Exception:
                s.close()
                raise
            self.sock = s
        else:
            self.sock.settimeout(self.timeout)
        body = body or b''
        head = ['%s %s HTTP/1.1' % (method, url), 'Host: localhost',
                'Content-Length: %d' % len(body)]
        head = '\r\n'.join(head).encode('ascii')
        for key, value in (headers or {}).items():
            if not isinstance(value, bytes):
                value = value.encode('utf-8')
            head += b'\r\n' + key.encode('ascii') + b': ' + value
        self.buf = b''
        self.sock.sendall(head + b'\r\n\r\n' + bytes(body))
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end >= 0:
                break
            if len(self.buf) > MAX_HEADER_BYTES:
                raise _ProtocolError('headers over %d bytes' % MAX_HEADER_BYTES)
            self._recv(bool(self.buf))
        lines = self.buf[:end].split(b'\r\n')
        rest = self.buf[end + 4:]
        parts = lines[0].split(b' ', 2)
        if len(parts) < 2 or not parts[0].startswith(b'HTTP/1.') or len(parts[1]) != 3 \
                or not parts[1].isdigit():
            raise _ProtocolError('status line %r' % lines[0][:100])
        status = int(parts[1])
        reason = parts[2].decode('latin-1') if len(parts) > 2 else ''
        fields = {}
        for line in lines[1:]:
            key, sep, value = line.partition(b':')
            if not sep:
                raise _ProtocolError('header line %r' % line[:100])
            fields[key.strip().lower()] = value.strip()
        keep = parts[0] == b'HTTP/1.1' and fields.get(b'connection', b'').lower() != b'close'
        self.fields = fields
        self.buf = rest
        if fields.get(b'transfer-encoding', b'').lower() == b'chunked':
            data = self._chunked()
        elif b'content-length' in fields:
            try:
                n = int(fields[b'content-length'])
            except ValueError:
                raise _ProtocolError('Content-Length %r' % fields[b'content-length'])
            if not 0 <= n <= MAX_BODY_BYTES:
                raise _ProtocolError('a body of %d bytes' % n)
            while len(self.buf) < n:
                self._recv(True)
            data, self.buf = self.buf[:n], self.buf[n:]
        else:           # the body ends with the connection
            keep = False
            try:
                while len(self.buf) <= MAX_BODY_BYTES:
                    self._recv(True)
                raise _ProtocolError('a body over %d bytes' % MAX_BODY_BYTES)
            except _Closed:
                data, self.buf = self.buf, b''
        if not keep:
            self.close()
        return status, reason, data, keep

    def _chunked(self):
        data = b''
        while True:
            while b'\r\n' not in self.buf:
                if len(self.buf) > 1024:
                    raise _ProtocolError('chunk size line')
                self._recv(True)
            line, self.buf = self.buf.split(b'\r\n', 1)
            try:
                n = int(line.split(b';')[0].strip(), 16)
            except ValueError:
                raise _ProtocolError('chunk size %r' % line[:100])
            if len(data) + n > MAX_BODY_BYTES:
                raise _ProtocolError('a body over %d bytes' % MAX_BODY_BYTES)
            while len(self.buf) < n + 2:
                self._recv(True)
            data += self.buf[:n]
            self.buf = self.buf[n + 2:]
            if n == 0:
                return data


_local = threading.local()


def _connection(path, timeout):
    """This thread's connection to ``path``: (connection, whether it was used before)."""
    conn = getattr(_local, 'conn', None)
    # A fork() child must not share its parent's socket: it opens its own.
    if conn is not None and (conn.unix_path != path or conn.pid != os.getpid()):
        if conn.pid == os.getpid():
            conn.close()
        conn = None
    if conn is None or conn.sock is None:
        conn = _Connection(path, timeout)
        _local.conn = conn
        return conn, False
    conn.timeout = timeout
    return conn, True


def _drop_connection():
    conn = getattr(_local, 'conn', None)
    _local.conn = None
    if conn is not None:
        conn.close()


#: What a dead or restarted daemon looks like on a connection (Python 2 and 3).
_CONNECTION_ERRORS = (socket.error, EnvironmentError)


def request(path, method, url, body=None, headers=None):
    """(status, reason, body bytes) of one request to the daemon at ``path``.

    A request on a kept-alive connection that the daemon has since closed (it restarted, or
    closed an idle connection) is sent once more on a new one, when nothing of the answer had
    arrived; classification is idempotent. Raises :class:`GreengrassDependencyException` when
    the daemon cannot be reached, closes the connection mid-answer, answers something that is
    not HTTP, or does not answer in time.
    """
    timeout = _timeout()
    for attempt in (1, 2):
        conn, reused = _connection(path, timeout)
        try:
            status, reason, data, _ = conn.exchange(method, url, body, headers)
            return status, reason, data
        except socket.timeout:
            _drop_connection()
            raise GreengrassDependencyException(
                'the edgeclass daemon at %s did not answer within %g s (%s)'
                % (path, timeout, TIMEOUT_ENV))
        except _Closed as e:
            _drop_connection()
            if reused and attempt == 1 and not e.answered:
                continue
            raise GreengrassDependencyException(
                'the edgeclass daemon at %s %s' % (path, e))
        except _ProtocolError as e:
            _drop_connection()
            raise GreengrassDependencyException(
                'the edgeclass daemon at %s answered something that is not HTTP/1.1: %s'
                % (path, e))
        except _CONNECTION_ERRORS as e:
            _drop_connection()
            if reused and attempt == 1:
                continue
            raise GreengrassDependencyException(
                'the edgeclass daemon at %s is unreachable or closed the connection: %s: %s'
                % (path, type(e).__name__, e))


def error_of(status, reason, data):
    """The :class:`edgeclass.EdgeclassError` of a failed answer, or None when its body is not
    the daemon's JSON error."""
    try:
        doc = json.loads(data.decode('utf-8'))
        code, name, message = doc['code'], doc['name'], doc['message']
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return edgeclass.EdgeclassError(code, message, name)


def invoke(path, algo_type, service_name, content_type, body):
    """The connector's answer (``b'[p0,p1,...]'``) from the daemon at ``path``; raises
    :class:`edgeclass.EdgeclassError` for the daemon's refusals (mapped by the caller) and
    :class:`GreengrassDependencyException` when the daemon cannot answer."""
    data = body_data(body)
    if algo_type != 'image-classification':
        raise edgeclass.EdgeclassError(
            edgeclass.UNKNOWN_SERVICE,
            'no local inference service %r of type %r: the edgeclass daemon at %s serves '
            'image-classification only' % (service_name, algo_type, path),
            'UNKNOWN_SERVICE')
    # As bytes: http.client would encode text as Latin-1 and fail on other characters; the
    # daemon judges the value (UNSUPPORTED_CONTENT_TYPE), as the library does in-process.
    if not isinstance(content_type, bytes):
        content_type = content_type.encode('utf-8')
    if b'\0' in content_type:
        raise ValueError('the content type contains a NUL character')    # as in-process
    if b'\r' in content_type or b'\n' in content_type:
        raise ValueError('the content type contains a line break')
    url = '/services/%s/invocations' % _quote(service_name, safe='')
    status, reason, answer = request(path, 'POST', url, body=bytes(data),
                                     headers={'Content-Type': content_type})
    if status == 200:
        return answer
    raise _refusal(path, status, reason, answer)


def _refusal(path, status, reason, answer):
    """The exception for an answer other than success: the daemon's own error (its JSON body),
    or GreengrassDependencyException naming the status when the body is not one."""
    error = error_of(status, reason, answer)
    if error is None:
        return GreengrassDependencyException(
            'the edgeclass daemon at %s answered %d %s: %r'
            % (path, status, reason, answer[:200]))
    return error


def publish(path, config_id, model_input, prediction_json, metadata_json):
    """The SDK's feedback ``publish`` on the daemon at ``path``: the outcome's name
    (``'spooled'``, ``'dropped_by_strategy'``, ``'throttled'``). ``prediction_json`` and
    ``metadata_json`` are JSON text, sent as it is so the daemon judges it as the library does
    in-process. Raises :class:`edgeclass.EdgeclassError` for the daemon's refusals and
    :class:`GreengrassDependencyException` when the daemon cannot answer."""
    data = body_data(model_input, 'the model input')
    body = json.dumps({
        'ModelInput': base64.b64encode(bytes(data)).decode('ascii'),
        'ModelPrediction': prediction_json,
        'Metadata': metadata_json,
    })
    url = '/feedback/%s/publish' % _quote(config_id, safe='')
    status, reason, answer = request(path, 'POST', url, body=body.encode('ascii'),
                                     headers={'Content-Type': 'application/json'})
    if status == 200:
        try:
            return json.loads(answer.decode('utf-8'))['outcome']
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass
    raise _refusal(path, status, reason, answer)
