"""The inference client: ``invoke_inference_service``, answered by edgeclass in this process or
by the ``edgeclass serve`` daemon (``daemon.py`` says when)."""

import re
from io import BytesIO

import edgeclass

from . import daemon, services
from .exception import GreengrassDependencyException

ALGO_TYPE = 'AlgoType'
SERVICE_NAME = 'ServiceName'
BODY = 'Body'
CONTENT_TYPE = 'ContentType'
ACCEPT = 'Accept'

#: The SDK's rule for AlgoType and ServiceName (2 to 63 characters, no underscore).
NAME_PATTERN = re.compile('^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$')

#: The content type of every answer: the connector's body is a JSON array.
RESPONSE_CONTENT_TYPE = 'application/json'

#: edgeclass statuses that mean "this request was bad" (the connector's handled errors, which
#: the SDK raised as GreengrassInferenceException). Every other failure is a dependency's.
INFERENCE_ERRORS = frozenset([
    edgeclass.INVALID_ARGUMENT,
    edgeclass.UNSUPPORTED_CONTENT_TYPE,
    edgeclass.UNSUPPORTED_IMAGE_FORMAT,
    edgeclass.CORRUPT_IMAGE,
    edgeclass.UNSUPPORTED_IMAGE_FEATURE,
    edgeclass.CONTENT_TYPE_MISMATCH,
    edgeclass.BAD_TENSOR,
    edgeclass.IMAGE_TOO_LARGE,
])

try:
    _text_types = (str, unicode)  # noqa: F821  (Python 2)
except NameError:
    _text_types = (str,)


class GreengrassInferenceException(Exception):
    """The inference service refused the request: the image or its content type is bad.

    ``code`` and ``name`` are the edgeclass status (e.g. 2003, ``'EDGECLASS_CORRUPT_IMAGE'``)
    and ``error`` the :class:`edgeclass.EdgeclassError`, when the refusal came from edgeclass.
    """

    def __init__(self, message, error=None):
        Exception.__init__(self, message)
        self.error = error
        self.code = getattr(error, 'code', None)
        self.name = getattr(error, 'name', None)


def _missing(name):
    return ValueError(name + ' argument of Inference.Client.invoke_inference_service is a '
                      'required argument but was not provided')


def _mapped(error):
    """The SDK exception for an :class:`edgeclass.EdgeclassError`."""
    if error.code in INFERENCE_ERRORS:
        exc = GreengrassInferenceException(str(error), error)
    else:
        exc = GreengrassDependencyException(str(error), error)
    exc.__cause__ = error       # what `raise ... from error` would set on Python 3
    return exc


class Client(object):
    """The ``'inference'`` client (``greengrass_machine_learning_sdk.client('inference')``).

    Creating it never fails: the library, the services file and the model are looked at on
    the first call, whose failures are raised as :class:`GreengrassDependencyException`.
    """

    def invoke_inference_service(self, **kwargs):
        """Classify ``Body`` with the local inference service ``ServiceName``.

        Keyword arguments, as the SDK's:
            AlgoType: ``'image-classification'`` (required).
            ServiceName: the connector's ``LocalInferenceServiceName`` (required).
            Body: the encoded image, ``bytes`` or ``bytearray`` (``str`` on 2.7) (required).
            ContentType: ``'image/jpeg'`` or ``'image/png'`` (also ``'image/jpg'``,
                ``'application/x-image'``); when omitted, the format comes from the bytes.
            Accept: accepted and ignored (the answer is always JSON).

        Returns ``{'Body': StreamingBody, 'ContentType': 'application/json'}``;
        ``resp['Body'].read()`` gives ``b'[p0,p1,...]'``, one probability per class.

        Raises ``ValueError`` for a missing argument or a bad AlgoType/ServiceName (the SDK's
        messages), :class:`GreengrassInferenceException` for a bad image or content type,
        :class:`GreengrassDependencyException` for an unknown service, a service that cannot
        start (services file, model, library) and a timeout.
        """
        if SERVICE_NAME not in kwargs:
            raise _missing(SERVICE_NAME)
        if BODY not in kwargs:
            raise _missing(BODY)
        if ALGO_TYPE not in kwargs:
            raise _missing(ALGO_TYPE)
        algo_type = kwargs.get(ALGO_TYPE)
        service_name = kwargs.get(SERVICE_NAME)
        # Like the SDK, a non-string value here fails inside re with its TypeError.
        if not NAME_PATTERN.match(algo_type):
            raise ValueError('field algo_type must match the regex ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$')
        if not NAME_PATTERN.match(service_name):
            raise ValueError(
                'field service_name must match the regex ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$')
        body = kwargs.get(BODY)
        content_type = kwargs.get(CONTENT_TYPE)
        if content_type is None:
            content_type = edgeclass.ANY_IMAGE
        elif not isinstance(content_type, _text_types):
            raise GreengrassInferenceException(
                'ContentType must be a string such as "image/jpeg", not %s'
                % type(content_type).__name__)

        socket_path = daemon.socket_path()
        if socket_path is not None:
            try:
                answer = daemon.invoke(socket_path, algo_type, service_name, content_type, body)
            except edgeclass.EdgeclassError as e:
                raise _mapped(e)
            except ValueError as e:     # a NUL inside ContentType
                raise GreengrassInferenceException(str(e))
            return {BODY: StreamingBody(answer), 'ContentType': RESPONSE_CONTENT_TYPE}
        if algo_type == 'image-classification':
            services.ensure_open(service_name)     # GreengrassDependencyException if it can't
        try:
            result = edgeclass.invoke(algo_type, service_name, content_type, body)
        except edgeclass.EdgeclassError as e:
            if e.code == edgeclass.UNKNOWN_SERVICE and algo_type == 'image-classification':
                path = services.services_path()
                message = '%s; the services file %s defines no such service' % (e.message, path)
                unnamed = services.unnamed_errors(path)
                if unnamed:
                    message += ' (entries naming no service: %s)' % '; '.join(unnamed)
                e = edgeclass.EdgeclassError(e.code, message, e.name)
            raise _mapped(e)
        except ValueError as e:     # a NUL inside ContentType
            raise GreengrassInferenceException(str(e))
        try:
            answer = result.body()
        finally:
            result.free()
        return {BODY: StreamingBody(answer), 'ContentType': RESPONSE_CONTENT_TYPE}


class StreamingBody(object):
    """The response body, read like boto3's ``StreamingBody``: ``read(amt=None)``, ``close()``."""

    def __init__(self, payload):
        self._stream = BytesIO(payload)
        self._amount_read = 0

    def read(self, amt=None):
        """Up to ``amt`` bytes (everything left when ``amt`` is None)."""
        chunk = self._stream.read(amt) if amt is not None else self._stream.read()
        self._amount_read += len(chunk)
        return chunk

    def close(self):
        """Close the stream; later reads raise ``ValueError``."""
        self._stream.close()
