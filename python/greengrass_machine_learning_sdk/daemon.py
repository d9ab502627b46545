"""The ``edgeclass serve`` daemon as the inference service: HTTP/1.1 over its Unix socket.

One daemon loads each model once for every process of the device, as the connector did. A
Lambda reaches it when:

- ``$EDGECLASS_SOCKET`` names its socket, or
- ``$EDGECLASS_SERVICES`` is unset (no services file chosen for this process) and the daemon's
  default socket ``/run/edgeclass/edgeclass.sock`` exists.

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

import json
import os
import socket
import threading

try:
    import httplib as _http  # Python 2
    from urllib import quote as _quote
except ImportError:
    import http.client as _http
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


class _UnixConnection(_http.HTTPConnection):
    """An HTTP connection over a Unix domain socket."""

    def __init__(self, path, timeout):
        _http.HTTPConnection.__init__(self, 'localhost', timeout=timeout)
        self.unix_path = path
        self.pid = os.getpid()

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except Exception:
            s.close()
            raise
        self.sock = s


_local = threading.local()


def _connection(path, timeout):
    """This thread's connection to ``path``: (connection, whether it was used before)."""
    conn = getattr(_local, 'conn', None)
    # A fork() child must not share its parent's socket: it opens its own.
    if conn is not None and (conn.unix_path != path or conn.pid != os.getpid()):
        if conn.pid == os.getpid():
            conn.close()
        conn = None
    if conn is None:
        conn = _UnixConnection(path, timeout)
        _local.conn = conn
        return conn, False
    conn.timeout = timeout
    if conn.sock is not None:
        conn.sock.settimeout(timeout)
    return conn, True


def _drop_connection():
    conn = getattr(_local, 'conn', None)
    _local.conn = None
    if conn is not None:
        conn.close()


#: What a dead or restarted daemon looks like on a connection (Python 2 and 3).
_CONNECTION_ERRORS = (socket.error, _http.HTTPException, EnvironmentError)


def request(path, method, url, body=None, headers=None):
    """(status, reason, body bytes) of one request to the daemon at ``path``.

    A request on a kept-alive connection that the daemon has since closed (it restarted, or
    closed an idle connection) is sent once more on a new one; classification is idempotent.
    Raises :class:`GreengrassDependencyException` when the daemon cannot be reached or does not
    answer in time.
    """
    timeout = _timeout()
    for attempt in (1, 2):
        conn, reused = _connection(path, timeout)
        try:
            conn.request(method, url, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            if response.getheader('connection', '').lower() == 'close':
                _drop_connection()
            return response.status, response.reason, data
        except socket.timeout:
            _drop_connection()
            raise GreengrassDependencyException(
                'the edgeclass daemon at %s did not answer within %g s (%s)'
                % (path, timeout, TIMEOUT_ENV))
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
    error = error_of(status, reason, answer)
    if error is None:
        raise GreengrassDependencyException(
            'the edgeclass daemon at %s answered %d %s: %r'
            % (path, status, reason, answer[:200]))
    raise error
