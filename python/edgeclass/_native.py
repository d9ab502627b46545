"""Finding and loading ``libedgeclass`` and declaring the C ABI of ``include/edgeclass.h``.

Every exported function gets its ``argtypes`` and ``restype`` here, so ctypes converts and checks
each argument instead of guessing (a guessed ``int`` return would truncate 64-bit pointers).
Nothing in this module raises edgeclass status codes: see ``edgeclass._api`` for that.

Runs on Python 2.7 and 3.x.
"""

import ctypes
import ctypes.util
import os
import sys
import threading

#: The C ABI version these declarations follow (``EDGECLASS_ABI_VERSION``).
ABI_VERSION = 1

#: Environment variable naming the shared library to load (a path to the file).
LIBRARY_ENV = 'EDGECLASS_LIBRARY'

if sys.platform == 'darwin':
    LIBRARY_FILE = 'libedgeclass.dylib'
elif sys.platform.startswith('win'):
    LIBRARY_FILE = 'edgeclass.dll'
else:
    LIBRARY_FILE = 'libedgeclass.so'

# ctypes types matching the header.
c_status = ctypes.c_uint32          # edgeclass_status (a uint32_t in C before C23)
c_size_t = ctypes.c_size_t


class edgeclass_params(ctypes.Structure):
    """Opaque ``edgeclass_params``; only pointers to it are used."""


class edgeclass_service(ctypes.Structure):
    """Opaque ``edgeclass_service``; only pointers to it are used."""


class edgeclass_request(ctypes.Structure):
    """Opaque ``edgeclass_request``; only pointers to it are used."""


class edgeclass_client(ctypes.Structure):
    """Opaque ``edgeclass_client``; only pointers to it are used."""


class edgeclass_result(ctypes.Structure):
    """Opaque ``edgeclass_result``; only pointers to it are used."""


class edgeclass_service_info(ctypes.Structure):
    """``struct edgeclass_service_info`` (field order and types as in the header)."""
    _fields_ = [
        ('channels', ctypes.c_uint32),
        ('height', ctypes.c_uint32),
        ('width', ctypes.c_uint32),
        ('classes', ctypes.c_uint32),
        ('has_labels', ctypes.c_bool),
        ('limit_bytes', ctypes.c_uint64),
        ('model_bytes', ctypes.c_uint64),
        ('load_peak_bytes', ctypes.c_uint64),
        ('activation_bytes', ctypes.c_uint64),
        ('worker_buffer_bytes', ctypes.c_uint64),
        ('workers', ctypes.c_uint32),
        ('image_bytes', ctypes.c_uint64),
        ('measured', ctypes.c_bool),
        ('requests', ctypes.c_uint64),
        ('succeeded', ctypes.c_uint64),
        ('failed', ctypes.c_uint64),
        ('timeouts', ctypes.c_uint64),
        ('cancelled', ctypes.c_uint64),
        ('refused_memory', ctypes.c_uint64),
        ('request_peak_bytes', ctypes.c_uint64),
    ]


class edgeclass_call_stats(ctypes.Structure):
    """``struct edgeclass_call_stats``."""
    _fields_ = [
        ('wait_us', ctypes.c_uint64),
        ('decode_us', ctypes.c_uint64),
        ('preprocess_us', ctypes.c_uint64),
        ('inference_us', ctypes.c_uint64),
        ('peak_bytes', ctypes.c_uint64),
        ('decoded_width', ctypes.c_uint32),
        ('decoded_height', ctypes.c_uint32),
    ]


class edgeclass_feedback_stats(ctypes.Structure):
    """``struct edgeclass_feedback_stats``."""
    _fields_ = [
        ('requests', ctypes.c_uint64),
        ('spooled', ctypes.c_uint64),
        ('dropped_by_strategy', ctypes.c_uint64),
        ('throttled', ctypes.c_uint64),
        ('spool_errors', ctypes.c_uint64),
        ('uploaded', ctypes.c_uint64),
        ('upload_failures', ctypes.c_uint64),
        ('predictions_published', ctypes.c_uint64),
        ('hook_errors', ctypes.c_uint64),
        ('spool_samples', ctypes.c_uint64),
        ('spool_bytes', ctypes.c_uint64),
        ('spool_dropped_oldest', ctypes.c_uint64),
        ('spool_corrupt', ctypes.c_uint64),
        ('spool_cleaned_temp', ctypes.c_uint64),
        ('mqtt_queued', ctypes.c_uint64),
        ('mqtt_delivered', ctypes.c_uint64),
        ('mqtt_overflowed', ctypes.c_uint64),
        ('mqtt_reconnects', ctypes.c_uint64),
        ('mqtt_connected', ctypes.c_bool),
    ]


#: ``typedef void (*edgeclass_log_fn)(void *user_data, int32_t level, const char *message)``
edgeclass_log_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)

#: ``typedef void (*edgeclass_message_fn)(void *user_data, const char *topic,
#: const uint8_t *payload, size_t len)``
edgeclass_message_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)

P = ctypes.POINTER


class edgeclass_feedback_sample(ctypes.Structure):
    """``struct edgeclass_feedback_sample``: one spooled sample, as the upload callback sees it.
    ``error`` is written, not read: a ``c_void_p`` so ctypes leaves the buffer alone."""
    _fields_ = [
        ('id', ctypes.c_char_p),
        ('config_id', ctypes.c_char_p),
        ('content_type', ctypes.c_char_p),
        ('bucket', ctypes.c_char_p),
        ('key', ctypes.c_char_p),
        ('data', P(ctypes.c_uint8)),
        ('len', ctypes.c_size_t),
        ('prediction_json', ctypes.c_char_p),
        ('metadata_json', ctypes.c_char_p),
        ('error', ctypes.c_void_p),
        ('error_cap', ctypes.c_size_t),
    ]


#: ``typedef int32_t (*edgeclass_upload_fn)(void *user_data,
#: const struct edgeclass_feedback_sample *sample)``
edgeclass_upload_fn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p,
                                       P(edgeclass_feedback_sample))

#: name -> (restype, argtypes), one entry per exported function of the header.
PROTOTYPES = {
    'edgeclass_abi_version': (ctypes.c_uint32, []),
    'edgeclass_version': (ctypes.c_char_p, []),
    'edgeclass_status_name': (ctypes.c_char_p, [ctypes.c_uint32]),
    'edgeclass_last_error_code': (c_status, []),
    'edgeclass_last_error_message': (c_size_t, [ctypes.c_char_p, c_size_t]),
    'edgeclass_params_new': (P(edgeclass_params), []),
    'edgeclass_params_set': (c_status, [P(edgeclass_params), ctypes.c_char_p, ctypes.c_char_p]),
    'edgeclass_params_free': (None, [P(edgeclass_params)]),
    'edgeclass_service_open': (c_status, [P(edgeclass_params), P(P(edgeclass_service))]),
    'edgeclass_service_find': (c_status, [ctypes.c_char_p, P(P(edgeclass_service))]),
    'edgeclass_service_close': (None, [P(edgeclass_service)]),
    'edgeclass_service_free': (None, [P(edgeclass_service)]),
    'edgeclass_service_get_info': (c_status, [P(edgeclass_service), P(edgeclass_service_info)]),
    'edgeclass_service_label': (c_status, [P(edgeclass_service), c_size_t, ctypes.c_char_p,
                                           c_size_t, P(c_size_t)]),
    'edgeclass_service_reload': (c_status, [P(edgeclass_service), ctypes.c_char_p]),
    'edgeclass_service_generation': (ctypes.c_uint64, [P(edgeclass_service)]),
    'edgeclass_client_new': (c_status, [ctypes.c_char_p, ctypes.c_uint64, P(P(edgeclass_client))]),
    'edgeclass_client_invoke': (c_status, [P(edgeclass_client), ctypes.c_char_p, ctypes.c_char_p,
                                           ctypes.c_char_p, P(ctypes.c_uint8), c_size_t,
                                           P(edgeclass_request), P(P(edgeclass_result))]),
    'edgeclass_client_free': (None, [P(edgeclass_client)]),
    'edgeclass_request_new': (P(edgeclass_request), []),
    'edgeclass_request_cancel': (None, [P(edgeclass_request)]),
    'edgeclass_request_set_timeout_ms': (c_status, [P(edgeclass_request), ctypes.c_uint64]),
    'edgeclass_request_free': (None, [P(edgeclass_request)]),
    'edgeclass_classify': (c_status, [P(edgeclass_service), ctypes.c_char_p, P(ctypes.c_uint8),
                                      c_size_t, P(edgeclass_request), P(P(edgeclass_result))]),
    'edgeclass_invoke': (c_status, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                    P(ctypes.c_uint8), c_size_t, P(edgeclass_request),
                                    P(P(edgeclass_result))]),
    'edgeclass_result_classes': (c_size_t, [P(edgeclass_result)]),
    'edgeclass_result_probabilities': (c_status, [P(edgeclass_result), P(ctypes.c_float),
                                                  c_size_t, P(c_size_t)]),
    'edgeclass_result_body': (c_status, [P(edgeclass_result), ctypes.c_char_p, c_size_t,
                                         P(c_size_t)]),
    'edgeclass_result_top_k': (c_status, [P(edgeclass_result), c_size_t, P(c_size_t),
                                          P(ctypes.c_float), P(c_size_t)]),
    'edgeclass_result_stats': (c_status, [P(edgeclass_result), P(edgeclass_call_stats)]),
    'edgeclass_result_free': (None, [P(edgeclass_result)]),
    'edgeclass_heap_stats': (c_status, [P(ctypes.c_uint64), P(ctypes.c_uint64)]),
    'edgeclass_heap_reset_peak': (None, []),
    'edgeclass_set_log_callback': (c_status, [edgeclass_log_fn, ctypes.c_void_p, ctypes.c_int32]),
    # ML Feedback. Handles are opaque pointers.
    'edgeclass_feedback_open': (c_status, [P(edgeclass_params), P(ctypes.c_void_p)]),
    'edgeclass_feedback_close': (None, [ctypes.c_void_p]),
    'edgeclass_feedback_publish': (c_status, [ctypes.c_char_p, P(ctypes.c_uint8), c_size_t,
                                              ctypes.c_char_p, ctypes.c_char_p,
                                              P(ctypes.c_uint32)]),
    'edgeclass_feedback_set_upload_callback': (c_status, [ctypes.c_void_p, edgeclass_upload_fn,
                                                          ctypes.c_void_p]),
    'edgeclass_feedback_drain': (c_status, [ctypes.c_void_p, edgeclass_upload_fn,
                                            ctypes.c_void_p, c_size_t, P(c_size_t)]),
    'edgeclass_feedback_set_message_callback': (c_status, [ctypes.c_void_p,
                                                           edgeclass_message_fn,
                                                           ctypes.c_void_p]),
    'edgeclass_feedback_flush': (c_status, [ctypes.c_void_p, ctypes.c_uint64]),
    'edgeclass_feedback_get_stats': (c_status, [ctypes.c_void_p, P(edgeclass_feedback_stats)]),
}


class LibraryNotFound(OSError):
    """The shared library could not be found, loaded, or is not the expected ABI.

    ``edgeclass._api`` re-raises it as :class:`edgeclass.LibraryNotFoundError`.
    """


def _local_paths():
    """Places 1-3 of :func:`candidate_paths`: files next to this package (no process launched)."""
    here = os.path.dirname(os.path.abspath(__file__))
    parent = os.path.dirname(here)
    return [
        os.path.join(here, LIBRARY_FILE),
        os.path.join(parent, LIBRARY_FILE),
        os.path.join(os.path.dirname(parent), 'target', 'release', LIBRARY_FILE),
    ]


def _system_paths():
    """Place 4 of :func:`candidate_paths`. ``ctypes.util.find_library`` runs ``ldconfig`` and a
    compiler (tens of milliseconds): it is only asked when nothing nearer was found."""
    paths = []
    found = ctypes.util.find_library('edgeclass')
    if found:
        paths.append(found)
    paths.append(LIBRARY_FILE)
    return paths


def candidate_paths():
    """The places searched for the library, in order (``EDGECLASS_LIBRARY`` excluded).

    1. ``edgeclass/<libfile>``: inside this package (a wheel, or
       ``EDGECLASS_BUNDLE_LIBRARY=... pip install``, or copied by hand);
    2. the directory holding the ``edgeclass`` package (e.g. a Lambda's deployment folder);
    3. a source tree: ``<repo>/target/release/<libfile>`` when this package sits in
       ``<repo>/python/edgeclass``;
    4. the system's library search path (``ctypes.util.find_library('edgeclass')``, then the
       bare file name, which ``dlopen`` looks up through ``LD_LIBRARY_PATH`` and ld.so.cache).
    """
    return _local_paths() + _system_paths()


def find_library():
    """The path (or bare name) that :func:`load_library` would open, without opening it.

    ``EDGECLASS_LIBRARY``, when set and not empty, is the only place looked at.
    Raises :class:`LibraryNotFound` when nothing is found.
    """
    forced = os.environ.get(LIBRARY_ENV)
    if forced:
        if not os.path.isfile(forced):
            raise LibraryNotFound('%s=%s: no such file' % (LIBRARY_ENV, forced))
        return forced
    for path in _local_paths():
        if os.path.isfile(path):
            return path
    for path in _system_paths():
        if not os.path.isabs(path) or os.path.isfile(path):
            return path     # a bare name is for dlopen's own search; tried by load_library
    raise LibraryNotFound('%s not found' % LIBRARY_FILE)


def _open(path):
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryNotFound('%s does not export %s (an older or foreign library?)'
                                  % (path, name))
        fn.restype = restype
        fn.argtypes = argtypes
    abi = lib.edgeclass_abi_version()
    if abi != ABI_VERSION:
        raise LibraryNotFound('%s has C ABI version %d; this package needs %d'
                              % (path, abi, ABI_VERSION))
    return lib


_lock = threading.Lock()
# The library is loaded once per process and never unloaded: ctypes never calls dlclose, and
# these references keep the handles alive for the life of the process. (Unloading would also be
# unsafe: on glibc 2.17, thread-local destructors registered by Rust code may run after a
# dlclose; rust-lang/rust#91979.)
#: The library :func:`load_library` found by itself, once it has (a list so that the fast path
#: reads it without the lock).
_default = []
#: Libraries loaded from an explicit path, by that path.
_by_path = {}


def load_library(path=None):
    """Open the library once per process (later calls return the same object at once: no
    environment look-up, no file-system search, no process launched).

    ``path`` defaults to :func:`find_library`'s choice, made on the first call. Returns the
    ``ctypes.CDLL`` with every prototype declared. Raises :class:`LibraryNotFound` naming where
    it looked (and looks again on the next call).
    """
    if path is None:
        if _default:
            return _default[0]
    else:
        loaded = _by_path.get(path)
        if loaded is not None:
            return loaded
    with _lock:
        if path is None:
            if _default:
                return _default[0]
            forced = os.environ.get(LIBRARY_ENV)
            if forced:
                lib = _load_first([find_library()])
            else:
                lib = _load_first(_local_paths(), _system_paths)
            _default.append(lib)
            return lib
        if path not in _by_path:
            _by_path[path] = _load_first([path])
        return _by_path[path]


def _load_first(paths, more=None):
    """The first of ``paths`` (then of ``more()``, asked only if none loads) that loads."""
    errors = []
    for candidates in (paths, more):
        if candidates is None:
            continue
        if callable(candidates):
            candidates = candidates()
        for candidate in candidates:
            if os.path.isabs(candidate) and not os.path.isfile(candidate):
                errors.append('%s: no such file' % candidate)
                continue
            try:
                lib = _open(candidate)
            except LibraryNotFound as e:
                errors.append(str(e))
                continue
            except OSError as e:
                errors.append('%s: %s' % (candidate, e))
                continue
            lib._edgeclass_path = candidate
            return lib
    hint = ('set %s to the path of %s (built by `cargo build --release` in '
            'target/release/)' % (LIBRARY_ENV, LIBRARY_FILE))
    raise LibraryNotFound('cannot load the edgeclass library (%s); %s'
                          % ('; '.join(errors), hint))
