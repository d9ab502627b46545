"""Python objects over the C ABI: errors as exceptions, handles as objects that free themselves.

Each wrapper calls one C function (or a size query and the call), checks its status and, on
failure, raises :class:`EdgeclassError` with the status code, its stable name and the thread's
last error message, read on the same thread right after the failing call. Runs on Python 2.7
and 3.x; no numpy.
"""

import ctypes
import threading

from . import _native
from ._native import LibraryNotFound

# Status codes of include/edgeclass.h (enum edgeclass_status), never renumbered.
OK = 0
INVALID_ARGUMENT = 1001
INVALID_PARAMETER = 1002
BUFFER_TOO_SMALL = 1003
UNKNOWN_SERVICE = 1004
SERVICE_EXISTS = 1005
UNSUPPORTED = 1006
UNAVAILABLE = 1007
UNSUPPORTED_CONTENT_TYPE = 2001
UNSUPPORTED_IMAGE_FORMAT = 2002
CORRUPT_IMAGE = 2003
UNSUPPORTED_IMAGE_FEATURE = 2004
CONTENT_TYPE_MISMATCH = 2005
BAD_TENSOR = 2006
MODEL_NOT_FOUND = 3001
PARAMS_FORMAT = 3002
SYMBOL_FORMAT = 3003
UNSUPPORTED_OPERATOR = 3004
MODEL_MISMATCH = 3005
NNEF = 3006
IO = 3007
MEMORY_LIMIT = 4001
IMAGE_TOO_LARGE = 4002
TIMEOUT = 4003
CANCELLED = 4004
INTERNAL = 5001
PANIC = 5002

#: Every status code by its name without the ``EDGECLASS_`` prefix.
STATUS_CODES = dict((k, v) for k, v in globals().items()
                    if k.isupper() and isinstance(v, int) and not k.startswith('_'))

#: Log levels of ``edgeclass_set_log_callback``.
LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = range(6)

#: The generic content type: the image format is taken from the bytes alone.
ANY_IMAGE = 'application/x-image'

# What ``edgeclass_feedback_publish`` did with a request (enum edgeclass_feedback_outcome).
#: Kept by the sampling strategy and written to the spool, where it waits for upload.
FEEDBACK_SPOOLED = 0
#: Not kept by the sampling strategy (status ``sample_dropped_by_strategy``): not an error.
FEEDBACK_DROPPED_BY_STRATEGY = 1
#: ``RequestLimit`` requests were in progress: ignored (status ``fail``, error ``Queue.Full``).
FEEDBACK_THROTTLED = 2

try:                                    # Python 2
    _text_type = unicode                # noqa: F821
    _bytes_types = (str, bytearray, memoryview, buffer)  # noqa: F821
except NameError:                       # Python 3
    _text_type = str
    _bytes_types = (bytes, bytearray, memoryview)


class EdgeclassError(Exception):
    """A failed edgeclass call.

    Attributes: ``code`` (the numeric ``edgeclass_status``, e.g. 4003), ``name`` (its stable
    name, e.g. ``'EDGECLASS_TIMEOUT'``) and ``message`` (the library's message for this
    failure, which ends with the code's short name, e.g. ``'... (TIMEOUT)'``). ``str(e)`` is the
    message.
    """

    def __init__(self, code, message, name=None):
        self.code = code
        self.name = name if name is not None else _status_name_or_guess(code)
        self.message = message
        Exception.__init__(self, message)


class LibraryNotFoundError(EdgeclassError):
    """The shared library could not be found or loaded (``code`` is None)."""

    def __init__(self, message):
        EdgeclassError.__init__(self, None, message, name='EDGECLASS_LIBRARY_NOT_FOUND')


def _status_name_or_guess(code):
    for k, v in STATUS_CODES.items():
        if v == code:
            return 'EDGECLASS_' + k
    return 'EDGECLASS_UNKNOWN_STATUS'


def lib():
    """The loaded ``ctypes.CDLL`` (see ``edgeclass._native.load_library``).

    Raises :class:`LibraryNotFoundError` when the library cannot be loaded.
    """
    try:
        return _native.load_library()
    except LibraryNotFound as e:
        raise LibraryNotFoundError(str(e))


def find_library():
    """The library file :func:`lib` would load, without loading it.

    Raises :class:`LibraryNotFoundError` when ``EDGECLASS_LIBRARY`` names a missing file or
    nothing is found in the usual places.
    """
    try:
        return _native.find_library()
    except LibraryNotFound as e:
        raise LibraryNotFoundError(str(e))


def library_path():
    """The path (or name) of the library loaded by :func:`lib`."""
    return lib()._edgeclass_path


def _decode(b):
    """A C string from the library as the native ``str`` (bytes on 2.7, text on 3.x)."""
    if b is None:
        return ''
    if str is bytes:
        return b
    return b.decode('utf-8', 'replace')


def _plain(value):
    """ctypes integers as plain ``int`` (not ``long`` on 2.7 when they fit)."""
    return int(value) if not isinstance(value, bool) else value


def _cstr(value, what):
    """``value`` (text or bytes) as NUL-free UTF-8 bytes for a ``const char *`` argument.

    A C string ends at its first NUL, so a value holding one would silently arrive shortened:
    refuse it instead.
    """
    if isinstance(value, _text_type):
        value = value.encode('utf-8')
    elif not isinstance(value, bytes):
        raise TypeError('%s must be a string, not %s' % (what, type(value).__name__))
    if b'\0' in value:
        raise ValueError('%s contains a NUL character' % what)
    return value


def body_data(body, what='the body'):
    """``body`` (an encoded image) checked: ``bytes`` (``str`` on 2.7) and ``bytearray`` as they
    are, other buffer objects (``memoryview``, ``array``) copied once into ``bytes``; anything
    else is a ``TypeError``. No library needed (the daemon client sends it as it is)."""
    if isinstance(body, (bytes, bytearray)):
        return body
    if isinstance(body, _bytes_types):
        return bytes(bytearray(body))
    raise TypeError('%s must be bytes or bytearray, not %s' % (what, type(body).__name__))


def _body_pointer(body, what='the body'):
    """(pointer, length) for an encoded image; the pointer keeps ``body`` alive.

    ``bytes`` (``str`` on 2.7) are passed without a copy; a ``bytearray`` through its buffer
    (no copy either); other buffer objects are copied once (:func:`body_data`).
    """
    data = body_data(body, what)
    if not data:
        return None, 0
    if isinstance(data, bytearray):
        return (ctypes.c_uint8 * len(data)).from_buffer(data), len(data)
    return ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8)), len(data)


def last_error():
    """(code, message) of the last error on this thread (``(0, '')`` when there is none)."""
    native = lib()
    code = _plain(native.edgeclass_last_error_code())
    size = native.edgeclass_last_error_message(None, 0)
    buf = ctypes.create_string_buffer(size)
    native.edgeclass_last_error_message(buf, size)
    return code, _decode(buf.value)


def _raise(status):
    status = _plain(status)
    code, message = last_error()
    if code != status:
        # The library always records the error it returns; if that ever fails, the recorded
        # message belongs to an earlier failure and must not be shown as this one's.
        message = 'no message recorded for this failure'
    raise EdgeclassError(status, message, _decode(lib().edgeclass_status_name(status)))


def check(status):
    """Raise :class:`EdgeclassError` for a status other than ``OK``; return ``OK`` otherwise."""
    if status != OK:
        _raise(status)
    return status


def version():
    """The library's version string, e.g. ``'0.1.0'``."""
    return _decode(lib().edgeclass_version())


def abi_version():
    """The library's C ABI version (1 for this package)."""
    return _plain(lib().edgeclass_abi_version())


def status_name(code):
    """The stable name of a status code, e.g. ``status_name(4003) == 'EDGECLASS_TIMEOUT'``."""
    return _decode(lib().edgeclass_status_name(code))


def heap_stats():
    """(live, peak) heap bytes of the library (both 0 when heap accounting is compiled out)."""
    live, peak = ctypes.c_uint64(), ctypes.c_uint64()
    check(lib().edgeclass_heap_stats(ctypes.byref(live), ctypes.byref(peak)))
    return _plain(live.value), _plain(peak.value)


def heap_reset_peak():
    """Start a new heap peak measurement (see :func:`heap_stats`)."""
    lib().edgeclass_heap_reset_peak()


_log_lock = threading.Lock()
_log_keep = []          # the installed ctypes callback; freed memory must never be called


def set_log_callback(callback, max_level=LOG_WARN):
    """Send the library's log lines to ``callback(level, message)`` up to ``max_level``.

    ``level`` is 1 error .. 5 trace, ``message`` a ``str``. ``callback=None`` sends them to
    stderr again. The callback may run on any thread that calls into edgeclass, and on the
    library's own threads; an exception it raises is printed and dropped, never passed into the
    library.
    The library keeps calling it until replaced, so this module keeps it alive; at interpreter
    exit the library is pointed back at stderr.
    """
    with _log_lock:
        if callback is None:
            fn = _native.edgeclass_log_fn()         # NULL: stderr
        else:
            def trampoline(user_data, level, message, _cb=callback):
                try:
                    _cb(level, _decode(message))
                except Exception:   # never let an exception unwind into the library
                    import traceback
                    traceback.print_exc()
            fn = _native.edgeclass_log_fn(trampoline)
        check(lib().edgeclass_set_log_callback(fn, None, max_level))
        del _log_keep[:]
        if callback is not None:
            _log_keep.append(fn)
            _register_log_reset()


_reset_registered = []


def _register_log_reset():
    if not _reset_registered:
        import atexit
        _reset_registered.append(True)
        atexit.register(_reset_log_at_exit)


def _reset_log_at_exit():
    try:
        if _log_keep:
            lib().edgeclass_set_log_callback(_native.edgeclass_log_fn(), None, LOG_WARN)
            del _log_keep[:]
    except Exception:
        pass


class _Owned(object):
    """A C object this Python object owns. ``_release(fn)`` hands the pointer to ``fn`` (the C
    free or close function) once and forgets it; ``with`` calls the method named by ``_EXIT``
    on exit, and collection the one named by ``_COLLECT`` (errors are ignored then)."""

    _ptr = None
    _EXIT = 'free'
    _COLLECT = 'free'

    def _release(self, c_function):
        ptr, self._ptr = self._ptr, None
        if ptr:
            c_function(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        getattr(self, self._EXIT)()

    def __del__(self):
        try:
            getattr(self, self._COLLECT)()
        except Exception:
            pass


class Params(_Owned):
    """A connector ``Parameters`` set being assembled (``edgeclass_params``).

    ``Params({'LocalInferenceServiceName': 'imageClassification', ...})`` or ``p.set(k, v)``.
    Values are strings, as in a connector definition; they are validated when a service opens.
    Not thread-safe (use one thread at a time), as the C object.
    """

    def __init__(self, parameters=None):
        self._lib = lib()
        self._ptr = self._lib.edgeclass_params_new()
        if not self._ptr:
            raise MemoryError('edgeclass_params_new returned NULL')
        for key, value in sorted((parameters or {}).items()):
            self.set(key, value)

    def set(self, key, value):
        """Set one parameter (a later value for the same key replaces the earlier one)."""
        if not self._ptr:
            raise ValueError('the parameter set was freed')
        check(self._lib.edgeclass_params_set(self._ptr, _cstr(key, 'a parameter name'),
                                             _cstr(value, 'parameter %s' % key)))

    def free(self):
        """Free the C object now (also done when this object is collected)."""
        self._release(self._lib.edgeclass_params_free)


class Request(_Owned):
    """Per-request options (``edgeclass_request``): a cancel flag and a tighter deadline.

    Pass it to :meth:`Service.classify` or :func:`invoke`; :meth:`cancel` may be called from any
    thread while another one waits in that call. Do not :meth:`free` it while a call uses it.
    """

    def __init__(self, timeout_ms=None):
        self._lib = lib()
        self._ptr = self._lib.edgeclass_request_new()
        if not self._ptr:
            raise MemoryError('edgeclass_request_new returned NULL')
        if timeout_ms is not None:
            self.set_timeout_ms(timeout_ms)

    def cancel(self):
        """Make the call using this request return ``CANCELLED`` at its next check."""
        if self._ptr:
            self._lib.edgeclass_request_cancel(self._ptr)

    def set_timeout_ms(self, timeout_ms):
        """A deadline ``timeout_ms`` after the request starts, when shorter than the service's
        ``LocalInferenceServiceTimeoutSeconds`` (0 restores the service's)."""
        if timeout_ms < 0:
            raise ValueError('timeout_ms must be >= 0')
        check(self._lib.edgeclass_request_set_timeout_ms(self._ptr, int(timeout_ms)))

    def free(self):
        """Free the C object now (also done when this object is collected)."""
        self._release(self._lib.edgeclass_request_free)


def _request_ptr(request):
    if request is None:
        return None
    if not isinstance(request, Request):
        raise TypeError('request must be an edgeclass.Request')
    if not request._ptr:
        raise ValueError('the request was freed')
    return request._ptr


class Result(_Owned):
    """One answer (``edgeclass_result``): probabilities, the connector's body, top-k, timings.

    Immutable and safe to read from several threads. ``with`` frees it on exit.
    """

    def __init__(self, ptr):
        self._lib = lib()
        self._ptr = ptr

    def _p(self):
        if not self._ptr:
            raise ValueError('the result was freed')
        return self._ptr

    @property
    def classes(self):
        """Number of classes (``edgeclass_result_classes``)."""
        return _plain(self._lib.edgeclass_result_classes(self._p()))

    def probabilities(self):
        """The probability of every class, as a list of floats (float32 values)."""
        count = ctypes.c_size_t()
        status = self._lib.edgeclass_result_probabilities(self._p(), None, 0,
                                                          ctypes.byref(count))
        if status not in (OK, BUFFER_TOO_SMALL):
            _raise(status)
        buf = (ctypes.c_float * count.value)()
        check(self._lib.edgeclass_result_probabilities(self._p(), buf, count.value,
                                                       ctypes.byref(count)))
        return list(buf)

    def body(self):
        """The connector's response body, ``b'[p0,p1,...]'`` (bytes)."""
        needed = ctypes.c_size_t()
        status = self._lib.edgeclass_result_body(self._p(), None, 0, ctypes.byref(needed))
        if status not in (OK, BUFFER_TOO_SMALL):
            _raise(status)
        buf = ctypes.create_string_buffer(needed.value)
        check(self._lib.edgeclass_result_body(self._p(), buf, needed.value,
                                              ctypes.byref(needed)))
        return buf.value

    def top_k(self, k):
        """The ``k`` most probable classes, best first: a list of ``(index, probability)``."""
        if k < 0:
            raise ValueError('k must be >= 0')
        indices = (ctypes.c_size_t * max(k, 1))()
        probs = (ctypes.c_float * max(k, 1))()
        count = ctypes.c_size_t()
        check(self._lib.edgeclass_result_top_k(self._p(), k, indices, probs,
                                               ctypes.byref(count)))
        return [(int(indices[i]), probs[i]) for i in range(count.value)]

    def stats(self):
        """Timings (microseconds) and sizes of the request that made this result, as a dict."""
        s = _native.edgeclass_call_stats()
        check(self._lib.edgeclass_result_stats(self._p(), ctypes.byref(s)))
        return dict((name, _plain(getattr(s, name))) for name, _ in s._fields_)

    def free(self):
        """Free the C object now (also done when this object is collected)."""
        self._release(self._lib.edgeclass_result_free)


def _classify_call(fn, args, body, request):
    ptr, n = _body_pointer(body)
    out = ctypes.POINTER(_native.edgeclass_result)()
    check(fn(*(args + [ptr, n, _request_ptr(request), ctypes.byref(out)])))
    return Result(out)


class Service(_Owned):
    """A handle to an open local inference service (``edgeclass_service``).

    :meth:`open` loads a model and registers it under its ``LocalInferenceServiceName``;
    :meth:`find` gets a new handle to one already open. Any number of threads may call
    :meth:`classify` on one handle at once. :meth:`close` unregisters the service;
    :meth:`free` only drops this handle. ``with`` closes it on exit.
    """

    def __init__(self, ptr):
        self._lib = lib()
        self._ptr = ptr

    @classmethod
    def open(cls, parameters):
        """Open a service from a :class:`Params` or a dict of connector parameters."""
        owned = not isinstance(parameters, Params)
        params = Params(parameters) if owned else parameters
        try:
            out = ctypes.POINTER(_native.edgeclass_service)()
            check(params._lib.edgeclass_service_open(params._ptr, ctypes.byref(out)))
            return cls(out)
        finally:
            if owned:
                params.free()

    @classmethod
    def find(cls, name):
        """A new handle to the open service called ``name`` (``UNKNOWN_SERVICE`` if none)."""
        native = lib()
        out = ctypes.POINTER(_native.edgeclass_service)()
        check(native.edgeclass_service_find(_cstr(name, 'the service name'), ctypes.byref(out)))
        return cls(out)

    def _p(self):
        if not self._ptr:
            raise ValueError('the service handle was closed or freed')
        return self._ptr

    def info(self):
        """Model shape, memory budget and request counters, as a dict
        (``edgeclass_service_get_info``'s fields)."""
        s = _native.edgeclass_service_info()
        check(self._lib.edgeclass_service_get_info(self._p(), ctypes.byref(s)))
        return dict((name, _plain(getattr(s, name))) for name, _ in s._fields_)

    def label(self, index):
        """The label of class ``index`` (``INVALID_ARGUMENT`` without labels or out of range)."""
        if index < 0:
            raise ValueError('index must be >= 0')
        needed = ctypes.c_size_t()
        status = self._lib.edgeclass_service_label(self._p(), index, None, 0,
                                                   ctypes.byref(needed))
        if status not in (OK, BUFFER_TOO_SMALL):
            _raise(status)
        buf = ctypes.create_string_buffer(needed.value)
        check(self._lib.edgeclass_service_label(self._p(), index, buf, needed.value,
                                                ctypes.byref(needed)))
        return _decode(buf.value)

    def labels(self):
        """Every class label, or None when the model has none."""
        info = self.info()
        if not info['has_labels']:
            return None
        return [self.label(i) for i in range(info['classes'])]

    def classify(self, body, content_type=ANY_IMAGE, request=None):
        """Classify one encoded image (``bytes``/``bytearray``); returns a :class:`Result`.

        ``content_type``: ``'image/jpeg'``, ``'image/png'``, ``'image/jpg'`` or
        ``'application/x-image'`` (the default: the format comes from the bytes).
        """
        return _classify_call(self._lib.edgeclass_classify,
                              [self._p(), _cstr(content_type, 'the content type')],
                              body, request)

    def reload(self, model_path=None):
        """Swap the service's model for the one at ``model_path`` (None: load again from where
        the current model came from), keeping its name, parameters and callers
        (``edgeclass_service_reload``). Returns when the new model serves; on any failure the old
        model serves on and :class:`EdgeclassError` says why. Requests running finish on the old
        model; those that arrive meanwhile wait, within their deadlines.
        """
        path = None if model_path is None else _cstr(model_path, 'the model path')
        check(self._lib.edgeclass_service_reload(self._p(), path))

    @property
    def generation(self):
        """1 for the model the service opened with, +1 per successful :meth:`reload`."""
        return int(self._lib.edgeclass_service_generation(self._p()))

    _EXIT = 'close'

    def close(self):
        """Close the service (unregister its name) and free this handle."""
        self._release(self._lib.edgeclass_service_close)

    def free(self):
        """Free this handle, leaving the service open (also done when it is collected)."""
        self._release(self._lib.edgeclass_service_free)


def invoke(algo_type, service_name, content_type, body, request=None):
    """The ML SDK's call on the service registered as ``service_name``; returns a :class:`Result`.

    ``algo_type`` must be ``'image-classification'`` (anything else: ``UNKNOWN_SERVICE``).
    """
    native = lib()
    return _classify_call(native.edgeclass_invoke,
                          [_cstr(algo_type, 'the algorithm type'),
                           _cstr(service_name, 'the service name'),
                           _cstr(content_type, 'the content type')],
                          body, request)


def feedback_publish(config_id, model_input, prediction_json, metadata_json=None):
    """The ML SDK's feedback ``publish`` on the open feedback connector that has ``config_id``
    (``edgeclass_feedback_publish``); returns the outcome.

    ``model_input``: the model's input, ``bytes`` or ``bytearray`` (``str`` on 2.7).
    ``prediction_json``: the prediction as JSON text, a list (image classification) or an
    object (object detection); ``metadata_json``: a JSON object, or None for ``{}``.

    Returns :data:`FEEDBACK_SPOOLED` (the sample is on disk, waiting for upload),
    :data:`FEEDBACK_DROPPED_BY_STRATEGY` (the sampling strategy did not keep it) or
    :data:`FEEDBACK_THROTTLED` (``RequestLimit`` requests were in progress: ignored, as the
    connector's ``Queue.Full``). None of these is an error. Raises :class:`EdgeclassError`:
    ``INVALID_ARGUMENT`` for a bad argument or a config id no open connector has, ``IO`` when
    the sample cannot be written.
    """
    native = lib()
    ptr, n = _body_pointer(model_input, 'the model input')
    outcome = ctypes.c_uint32(0)
    metadata = None if metadata_json is None else _cstr(metadata_json, 'the metadata JSON')
    check(native.edgeclass_feedback_publish(_cstr(config_id, 'the config id'), ptr, n,
                                            _cstr(prediction_json, 'the prediction JSON'),
                                            metadata, ctypes.byref(outcome)))
    return _plain(outcome.value)


_message_lock = threading.Lock()
_message_keep = []      # every message callback installed: the library may still call one late
_message_handles = []   # weak references to the handles with a callback, reset at exit


class Feedback(_Owned):
    """An open ML Feedback connector (``edgeclass_feedback``).

    :meth:`open` validates the connector's ``Parameters`` (``FeedbackConfigurationMap``,
    ``RequestLimit``, ``EdgeclassSpoolDirectory``, ...) and registers its config ids: from then
    on :func:`feedback_publish` and the services whose ``MLFeedbackConnectorConfigId`` names one
    of them feed it. :meth:`close` (also on collection and at the end of a ``with``) unregisters
    them: keep the object for as long as the connector should run. Thread-safe.
    """

    def __init__(self, ptr):
        self._lib = lib()
        self._ptr = ptr

    @classmethod
    def open(cls, parameters):
        """Open a connector from a :class:`Params` or a dict of its parameters (strings)."""
        owned = not isinstance(parameters, Params)
        params = Params(parameters) if owned else parameters
        try:
            out = ctypes.c_void_p()
            check(params._lib.edgeclass_feedback_open(params._ptr, ctypes.byref(out)))
            return cls(out.value)
        finally:
            if owned:
                params.free()

    def _p(self):
        if not self._ptr:
            raise ValueError('the feedback connector was closed')
        return self._ptr

    def stats(self):
        """The connector's counters, as a dict (``edgeclass_feedback_get_stats``'s fields)."""
        s = _native.edgeclass_feedback_stats()
        check(self._lib.edgeclass_feedback_get_stats(self._p(), ctypes.byref(s)))
        return dict((name, _plain(getattr(s, name))) for name, _ in s._fields_)

    def set_message_callback(self, callback):
        """Send every message to ``callback(topic, payload)`` (``str``, JSON ``bytes``): the
        ``feedback/message/status`` and ``feedback/message/prediction`` messages and the
        inference results, e.g. to publish them with another MQTT client. ``None`` stops it.

        It runs on the thread that produced the message (the one publishing or classifying),
        possibly on several at once; an exception it raises is printed and dropped.
        """
        with _message_lock:
            if callback is None:
                fn = _native.edgeclass_message_fn()     # NULL
            else:
                def trampoline(user_data, topic, payload, length, _cb=callback):
                    try:
                        _cb(_decode(topic), ctypes.string_at(payload, length))
                    except Exception:   # never let an exception unwind into the library
                        import traceback
                        traceback.print_exc()
                fn = _native.edgeclass_message_fn(trampoline)
                _message_keep.append(fn)
                _register_message_reset(self)
            check(self._lib.edgeclass_feedback_set_message_callback(self._p(), fn, None))

    def drain(self, upload, max=0):
        """Upload spooled samples now, on this thread, oldest first, through ``upload(sample)``
        (an :class:`UploadSample`), until the spool is empty, ``max`` were uploaded (0: no limit)
        or one upload fails (``edgeclass_feedback_drain``). Returns how many were uploaded.

        An upload succeeds when ``upload`` returns; the sample is then deleted from the spool and
        the connector's ``success`` status and prediction messages are published. When it raises,
        the sample stays for a later try and the ``fail`` status names the exception (see
        :class:`UploadSample`); the exception is not raised here.
        """
        if max < 0:
            raise ValueError('max must be >= 0')
        fn = _upload_trampoline(upload)
        count = ctypes.c_size_t(0)
        check(self._lib.edgeclass_feedback_drain(self._p(), fn, None, int(max),
                                                 ctypes.byref(count)))
        return _plain(count.value)

    def set_upload_callback(self, upload):
        """Upload in the background (``edgeclass_feedback_set_upload_callback``): a library
        thread calls ``upload(sample)`` for each spooled sample as soon as it is spooled (and for
        those left from earlier runs), as :meth:`drain` does; after a failure it tries again
        after a backoff (1 s doubling to 60 s). ``None`` stops it, waiting for the upload in
        progress. Stopped at :meth:`close` and at interpreter exit.
        """
        with _message_lock:
            if upload is None:
                fn = _native.edgeclass_upload_fn()      # NULL
            else:
                fn = _upload_trampoline(upload)
                # The library may call it until it is replaced: never collected before.
                _message_keep.append(fn)
                _register_upload_reset(self)
            check(self._lib.edgeclass_feedback_set_upload_callback(self._p(), fn, None))

    def flush(self, timeout_ms):
        """Wait until the MQTT broker acknowledged every message, at most ``timeout_ms``
        (``TIMEOUT`` if some are still queued); returns at once without a broker."""
        if timeout_ms < 0:
            raise ValueError('timeout_ms must be >= 0')
        check(self._lib.edgeclass_feedback_flush(self._p(), int(timeout_ms)))

    _EXIT = 'close'
    _COLLECT = 'close'

    def close(self):
        """Close the connector: unregister its config ids (samples stay in the spool)."""
        self._release(self._lib.edgeclass_feedback_close)


class UploadSample(object):
    """One spooled sample, as an upload callback sees it (:meth:`Feedback.drain`,
    :meth:`Feedback.set_upload_callback`): upload ``data`` (``content_type``) to
    ``s3://bucket/key`` (``source_ref``).

    Attributes: ``id`` (the sample's UUID), ``config_id``, ``content_type``, ``bucket``, ``key``,
    ``source_ref``, ``data`` (``bytes``), ``prediction`` (the model prediction, decoded JSON) and
    ``metadata`` (a dict, with the connector's ``publish-ts``).

    A callback fails an upload by raising: the ``fail`` status's ``error`` is the exception's
    ``response['Error']['Code']`` when it has one (botocore's ``ClientError``, e.g.
    ``NoSuchBucket``, as the connector reported), else its class name; its text is the message.
    """

    __slots__ = ('id', 'config_id', 'content_type', 'bucket', 'key', 'data', 'prediction',
                 'metadata')

    def __init__(self, c_sample):
        import json
        self.id = _decode(c_sample.id)
        self.config_id = _decode(c_sample.config_id)
        self.content_type = _decode(c_sample.content_type)
        self.bucket = _decode(c_sample.bucket)
        self.key = _decode(c_sample.key)
        self.data = ctypes.string_at(c_sample.data, c_sample.len) if c_sample.len else b''
        self.prediction = json.loads(_decode(c_sample.prediction_json))
        self.metadata = json.loads(_decode(c_sample.metadata_json))

    @property
    def source_ref(self):
        """``s3://bucket/key``."""
        return 's3://%s/%s' % (self.bucket, self.key)


def _upload_error_text(exc):
    """``"Type: message"`` for the library's failure status."""
    kind = None
    try:
        kind = exc.response['Error']['Code']
    except Exception:
        pass
    if not kind or not isinstance(kind, str) or ' ' in kind or ':' in kind:
        kind = type(exc).__name__
    return '%s: %s' % (kind, exc)


def _upload_trampoline(upload):
    """The C upload callback calling ``upload(UploadSample)``: 0 when it returns, -1 when it
    raises (any exception, KeyboardInterrupt included: one that escaped would make ctypes
    return 0, a success, and the sample would be deleted unuploaded)."""
    if not callable(upload):
        raise TypeError('upload must be callable, not %s' % type(upload).__name__)

    def trampoline(user_data, c_sample, _upload=upload):
        try:
            sample = c_sample.contents
            try:
                _upload(UploadSample(sample))
                return 0
            except BaseException as e:     # never unwind into the library
                text = _upload_error_text(e).encode('utf-8', 'replace')
                cap = int(sample.error_cap)
                if sample.error and cap > 0:
                    text = text[:cap - 1] + b'\0'
                    ctypes.memmove(sample.error, text, len(text))
                return -1
        except BaseException:
            return -1
    return _native.edgeclass_upload_fn(trampoline)


_upload_handles = []    # weak references to the handles with a background uploader


def _register_upload_reset(handle):
    import atexit
    import weakref
    if not _upload_handles:
        atexit.register(_reset_uploads_at_exit)
    _upload_handles.append(weakref.ref(handle))


def _reset_uploads_at_exit():
    """Stop every background uploader (waiting for the upload in progress) while Python can
    still run it."""
    for ref in _upload_handles:
        handle = ref()
        try:
            if handle is not None and handle._ptr:
                handle._lib.edgeclass_feedback_set_upload_callback(
                    handle._ptr, _native.edgeclass_upload_fn(), None)
        except Exception:
            pass


def _register_message_reset(handle):
    import atexit
    import weakref
    if not _message_handles:
        atexit.register(_reset_messages_at_exit)
    _message_handles.append(weakref.ref(handle))


def _reset_messages_at_exit():
    """No Python callback may run once the interpreter is going away."""
    for ref in _message_handles:
        handle = ref()
        try:
            if handle is not None and handle._ptr:
                handle._lib.edgeclass_feedback_set_message_callback(
                    handle._ptr, _native.edgeclass_message_fn(), None)
        except Exception:
            pass
