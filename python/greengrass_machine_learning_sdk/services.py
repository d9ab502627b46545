"""Where the local inference services come from: a connector definition file.

In Greengrass, each ML Image Classification connector of the group's connector definition ran a
local inference service named by its ``LocalInferenceServiceName``. Here the same document
configures edgeclass: the JSON passed to ``aws greengrass create-connector-definition
--initial-version``::

    {"Connectors": [{
        "Id": "MyImageClassificationConnector",
        "ConnectorArn":
            "arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2",
        "Parameters": {"MLModelDestinationPath": "/path-to-model", ...}}]}

Also accepted: a bare list of such connectors, and the document wrapped as the AWS CLI/API show
it (``{"InitialVersion": {...}}`` of ``--cli-input-json``, ``{"Definition": {...}}`` of
``get-connector-definition-version``).

Rules:
- the file is ``$EDGECLASS_SERVICES``, or ``/etc/edgeclass/services.json`` when unset;
- connectors whose ``ConnectorArn`` names another connector (ML Feedback, Object Detection...)
  are skipped; an image classification connector, or one without an ARN, must have
  ``Parameters`` with a ``LocalInferenceServiceName``;
- every parameter value is a string (as the Greengrass API requires), and service names are
  unique in the file;
- the file is read on the first call that needs it and kept for the life of the process (a read
  that fails is retried on the next call);
- each service is opened (its model loaded) on its first call and kept open for the life of the
  process, like the long-lived connector. The parameters are checked by edgeclass when it opens.
"""

import io
import json
import logging
import os
import threading

import edgeclass

from .exception import GreengrassDependencyException

#: Environment variable naming the services file.
SERVICES_ENV = 'EDGECLASS_SERVICES'

#: The services file used when ``EDGECLASS_SERVICES`` is unset or empty.
DEFAULT_SERVICES_PATH = '/etc/edgeclass/services.json'

#: ``ConnectorArn`` part that marks an ML Image Classification connector.
IMAGE_CLASSIFICATION_ARN = '/connectors/ImageClassification'

_log = logging.getLogger(__name__)

try:
    _text_types = (str, unicode)  # noqa: F821  (Python 2)
except NameError:
    _text_types = (str,)


class ServicesFileError(ValueError):
    """The services file is missing, is not JSON, or does not describe connectors correctly."""


def services_path():
    """The services file this process uses now (``$EDGECLASS_SERVICES`` or the default)."""
    return os.environ.get(SERVICES_ENV) or DEFAULT_SERVICES_PATH


def _connectors(document, source):
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for wrapper in ('InitialVersion', 'Definition'):
            if 'Connectors' not in document and isinstance(document.get(wrapper), dict):
                document = document[wrapper]
        if 'Connectors' in document:
            connectors = document['Connectors']
            if not isinstance(connectors, list):
                raise ServicesFileError('%s: "Connectors" must be a list' % source)
            return connectors
    raise ServicesFileError('%s: expected a connector definition {"Connectors": [...]} or a '
                            'list of connectors' % source)


def parse_services(document, source='<services>'):
    """The services of a connector definition (already parsed JSON), in file order.

    Returns a list of ``(name, parameters)``; ``parameters`` is the connector's ``Parameters``
    dict. Raises :class:`ServicesFileError` naming the connector and what is wrong.
    """
    services = []
    seen = {}
    for i, connector in enumerate(_connectors(document, source)):
        where = '%s: Connectors[%d]' % (source, i)
        if not isinstance(connector, dict):
            raise ServicesFileError('%s: a connector must be an object' % where)
        if 'Id' in connector:
            where += ' (Id %s)' % json.dumps(connector['Id'])
        arn = connector.get('ConnectorArn')
        if arn is not None and not isinstance(arn, _text_types):
            raise ServicesFileError('%s: ConnectorArn must be a string' % where)
        if arn and IMAGE_CLASSIFICATION_ARN not in arn:
            continue        # another kind of connector: not ours to run
        params = connector.get('Parameters')
        if not isinstance(params, dict):
            raise ServicesFileError('%s: "Parameters" must be an object' % where)
        for key, value in params.items():
            if not isinstance(value, _text_types):
                raise ServicesFileError(
                    '%s: parameter %s must be a string (connector parameters are strings), '
                    'not %s' % (where, key, json.dumps(value)))
        name = params.get('LocalInferenceServiceName')
        if name is None:
            raise ServicesFileError('%s: LocalInferenceServiceName is required but was not '
                                    'provided' % where)
        if name in seen:
            raise ServicesFileError('%s: LocalInferenceServiceName "%s" is already used by '
                                    'Connectors[%d]' % (where, name, seen[name]))
        seen[name] = i
        services.append((name, dict(params)))
    return services


def load_services_file(path):
    """Read and parse a services file (see :func:`parse_services`)."""
    try:
        with io.open(path, 'rb') as f:
            raw = f.read()
    except (IOError, OSError) as e:
        raise ServicesFileError('cannot read the services file %s (%s): %s; set %s to the '
                                'connector definition file'
                                % (path, getattr(e, 'strerror', None) or e, path, SERVICES_ENV))
    try:
        document = json.loads(raw.decode('utf-8-sig'))
    except ValueError as e:
        raise ServicesFileError('%s: not valid JSON: %s' % (path, e))
    return parse_services(document, path)


_lock = threading.RLock()
_files = {}         # path -> {name: parameters}
_open = {}          # name -> edgeclass.Service, for the life of the process


def _services_of(path):
    table = _files.get(path)
    if table is None:
        with _lock:
            table = _files.get(path)
            if table is None:
                table = dict(load_services_file(path))
                _files[path] = table
    return table


def ensure_open(name):
    """Make sure the service ``name`` of the current services file is open in edgeclass.

    Returns True when it is open (now or before), False when the services file has no such
    service. Raises :class:`GreengrassDependencyException` when the file cannot be used or the
    service cannot be opened (missing model, bad parameters, missing library...).
    """
    if name in _open:
        return True
    path = services_path()
    try:
        table = _services_of(path)
    except ServicesFileError as e:
        raise GreengrassDependencyException(str(e))
    params = table.get(name)
    if params is None:
        return False
    with _lock:
        if name in _open:
            return True
        try:
            try:
                service = edgeclass.Service.open(params)
            except edgeclass.EdgeclassError as e:
                if e.code != edgeclass.SERVICE_EXISTS:
                    raise
                # Opened in this process through the edgeclass package: use that one.
                _log.warning('service %s is already open in this process; its parameters in '
                             '%s are not used', name, path)
                service = edgeclass.Service.find(name)
        except edgeclass.EdgeclassError as e:
            raise GreengrassDependencyException(
                'the local inference service %s (from %s) could not be started: %s'
                % (name, path, e), e)
        _open[name] = service
        _log.info('local inference service %s opened from %s', name, path)
    return True


def open_services():
    """Names of the services this process has opened so far."""
    return sorted(_open)
