"""edgeclass: the C ABI of ``libedgeclass`` for Python 2.7 and 3.x, over ctypes.

Classify images with SageMaker image-classification (MXNet) models, without MXNet. This package
is a thin, complete binding of ``include/edgeclass.h``; the Greengrass drop-in SDK
(``greengrass_machine_learning_sdk``) is built on it.

The library is looked for in this order: the file named by ``EDGECLASS_LIBRARY`` (only there,
when set); ``libedgeclass.so`` inside this package; beside this package; ``target/release`` of
the source tree this package sits in; the system's library path.

Example::

    import edgeclass
    params = {
        'LocalInferenceServiceName': 'digits',
        'MLModelDestinationPath': '/models/digits',
        'LocalInferenceServiceTimeoutSeconds': '10',
        'LocalInferenceServiceMemoryLimitKB': '500000',
    }
    with edgeclass.Service.open(params) as service:
        with service.classify(open('digit.png', 'rb').read()) as result:
            print(result.body())          # b'[0.0001,0.9987,...]'
            print(result.top_k(3))        # [(1, 0.9987...), ...]

ML Feedback: :class:`Feedback` opens a feedback connector (its spool, sampling strategies,
messages); :func:`feedback_publish` is the SDK's ``publish`` on it.

Every failure raises :class:`EdgeclassError` (``.code``, ``.name``, ``.message``).
"""

from ._api import (
    ANY_IMAGE,
    LOG_DEBUG,
    LOG_ERROR,
    LOG_INFO,
    LOG_OFF,
    LOG_TRACE,
    LOG_WARN,
    STATUS_CODES,
    FEEDBACK_DROPPED_BY_STRATEGY,
    FEEDBACK_SPOOLED,
    FEEDBACK_THROTTLED,
    EdgeclassError,
    Feedback,
    UploadSample,
    LibraryNotFoundError,
    Params,
    Request,
    Result,
    Service,
    abi_version,
    check,
    feedback_publish,
    heap_reset_peak,
    heap_stats,
    invoke,
    last_error,
    find_library,
    lib,
    library_path,
    set_log_callback,
    status_name,
    version,
)
from ._api import (  # the status codes
    OK, INVALID_ARGUMENT, INVALID_PARAMETER, BUFFER_TOO_SMALL, UNKNOWN_SERVICE, SERVICE_EXISTS,
    UNSUPPORTED, UNAVAILABLE, UNSUPPORTED_CONTENT_TYPE, UNSUPPORTED_IMAGE_FORMAT, CORRUPT_IMAGE,
    UNSUPPORTED_IMAGE_FEATURE, CONTENT_TYPE_MISMATCH, BAD_TENSOR, MODEL_NOT_FOUND, PARAMS_FORMAT,
    SYMBOL_FORMAT, UNSUPPORTED_OPERATOR, MODEL_MISMATCH, NNEF, IO, MEMORY_LIMIT, IMAGE_TOO_LARGE,
    TIMEOUT, CANCELLED, INTERNAL, PANIC,
)
from ._native import ABI_VERSION, LIBRARY_ENV

__version__ = '0.1.0'

__all__ = [
    'ABI_VERSION', 'ANY_IMAGE', 'LIBRARY_ENV', 'STATUS_CODES',
    'LOG_OFF', 'LOG_ERROR', 'LOG_WARN', 'LOG_INFO', 'LOG_DEBUG', 'LOG_TRACE',
    'FEEDBACK_SPOOLED', 'FEEDBACK_DROPPED_BY_STRATEGY', 'FEEDBACK_THROTTLED',
    'EdgeclassError', 'Feedback', 'LibraryNotFoundError', 'Params', 'Request', 'Result',
    'UploadSample',
    'Service', 'abi_version', 'check', 'feedback_publish', 'find_library', 'heap_reset_peak',
    'heap_stats', 'invoke',
    'last_error', 'lib', 'library_path', 'set_log_callback', 'status_name', 'version',
    'OK', 'INVALID_ARGUMENT', 'INVALID_PARAMETER', 'BUFFER_TOO_SMALL', 'UNKNOWN_SERVICE',
    'SERVICE_EXISTS', 'UNSUPPORTED', 'UNAVAILABLE', 'UNSUPPORTED_CONTENT_TYPE', 'UNSUPPORTED_IMAGE_FORMAT',
    'CORRUPT_IMAGE', 'UNSUPPORTED_IMAGE_FEATURE', 'CONTENT_TYPE_MISMATCH', 'BAD_TENSOR',
    'MODEL_NOT_FOUND', 'PARAMS_FORMAT', 'SYMBOL_FORMAT', 'UNSUPPORTED_OPERATOR', 'MODEL_MISMATCH',
    'NNEF', 'IO', 'MEMORY_LIMIT', 'IMAGE_TOO_LARGE', 'TIMEOUT', 'CANCELLED', 'INTERNAL', 'PANIC',
]
