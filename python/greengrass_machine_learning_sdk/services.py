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
- an entry that breaks these rules is reported on its own (logged when the file is read, named by
  its index and ``Id``): requests to its service get that error, every time, while the file's
  other services serve; a document that is not a connector definition fails every request;
- the file is read on the first call that needs it and kept for the life of the process (a read
  that fails is retried on the next call);
- each service is opened (its model loaded) on its first call and kept open for the life of the
  process, like the long-lived connector. The parameters are checked by edgeclass when it opens.

The ML Feedback connectors of the same document (``ConnectorArn`` ``.../connectors/MLFeedback/
...``) are the feedback client's: each is opened (``edgeclass.Feedback``) the first time a
``publish`` names one of the config ids of its ``FeedbackConfigurationMap``, or a service whose
``MLFeedbackConnectorConfigId`` names one opens, and kept open for the life of the process.
Their parameters are strings too, and a config id belongs to one connector only.
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

#: ``ConnectorArn`` part that marks an ML Feedback connector.
FEEDBACK_ARN = '/connectors/MLFeedback'

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


def _string_parameters(connector, where):
    """The connector's ``Parameters``, checked to be an object of strings."""
    params = connector.get('Parameters')
    if not isinstance(params, dict):
        raise ServicesFileError('%s: "Parameters" must be an object' % where)
    for key, value in params.items():
        if not isinstance(value, _text_types):
            raise ServicesFileError(
                '%s: parameter %s must be a string (connector parameters are strings), '
                'not %s' % (where, key, json.dumps(value)))
    return params


def _where(connector, source, i):
    where = '%s: Connectors[%d]' % (source, i)
    if not isinstance(connector, dict):
        raise ServicesFileError('%s: a connector must be an object' % where)
    if 'Id' in connector:
        where += ' (Id %s)' % json.dumps(connector['Id'])
    arn = connector.get('ConnectorArn')
    if arn is not None and not isinstance(arn, _text_types):
        raise ServicesFileError('%s: ConnectorArn must be a string' % where)
    return where, arn


def parse_services(document, source='<services>'):
    """The services of a connector definition (already parsed JSON), in file order.

    Returns a list of ``(name, parameters)``: ``parameters`` is the connector's ``Parameters``
    dict, or the :class:`ServicesFileError` of an entry that is wrong (parameters that are not
    all strings, no service name, a name used before), naming it by index and ``Id``; ``name``
    is None when the entry names no service. One wrong entry does not stop the others: a
    request to it gets its error, the other services serve (as ``edgeclass serve`` does). A
    document that is not a connector definition at all raises :class:`ServicesFileError`.
    """
    services = []
    seen = {}
    for i, connector in enumerate(_connectors(document, source)):
        try:
            where, arn = _where(connector, source, i)
        except ServicesFileError as e:
            services.append((None, e))
            continue
        if arn and IMAGE_CLASSIFICATION_ARN not in arn:
            continue        # another kind of connector: not ours to run
        params = connector.get('Parameters')
        name = params.get('LocalInferenceServiceName') if isinstance(params, dict) else None
        if not isinstance(name, _text_types):
            name = None
        try:
            params = _string_parameters(connector, where)
            if name is None:
                raise ServicesFileError('%s: LocalInferenceServiceName is required but was '
                                        'not provided' % where)
            if name in seen:
                raise ServicesFileError('%s: LocalInferenceServiceName "%s" is already used '
                                        'by Connectors[%d]' % (where, name, seen[name]))
        except ServicesFileError as e:
            # A later duplicate must not shadow the first entry of its name.
            services.append((None if name in seen else name, e))
            continue
        seen[name] = i
        services.append((name, dict(params)))
    return services


class FeedbackConnector(object):
    """An ML Feedback connector of a connector definition.

    ``where`` names it (file, index, Id); ``parameters`` is its ``Parameters`` dict;
    ``config_ids`` the keys of its ``FeedbackConfigurationMap``, or None when that is not a
    JSON object (edgeclass then says what is wrong when it is opened).
    """

    def __init__(self, where, parameters, config_ids):
        self.where = where
        self.parameters = parameters
        self.config_ids = config_ids


def _config_ids(params):
    try:
        configs = json.loads(params.get('FeedbackConfigurationMap', ''))
    except ValueError:
        return None
    return sorted(configs) if isinstance(configs, dict) else None


def parse_feedback_connectors(document, source='<services>'):
    """The ML Feedback connectors of a connector definition (already parsed JSON), in file
    order, as :class:`FeedbackConnector` objects. Only connectors whose ``ConnectorArn`` names
    ``MLFeedback`` count. Raises :class:`ServicesFileError` for parameters that are not
    strings and for a config id used by two connectors.
    """
    connectors = []
    seen = {}
    for i, connector in enumerate(_connectors(document, source)):
        try:
            where, arn = _where(connector, source, i)
        except ServicesFileError:
            continue        # not a connector at all: reported by parse_services
        if not arn or FEEDBACK_ARN not in arn:
            continue
        params = _string_parameters(connector, where)
        ids = _config_ids(params)
        for config_id in ids or ():
            if config_id in seen:
                raise ServicesFileError('%s: ML Feedback config id "%s" is already used by '
                                        'Connectors[%d]' % (where, config_id, seen[config_id]))
            seen[config_id] = i
        connectors.append(FeedbackConnector(where, dict(params), ids))
    return connectors


def _read_document(path):
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
    return document


def load_services_file(path):
    """Read and parse a services file (see :func:`parse_services`)."""
    return parse_services(_read_document(path), path)


def load_feedback_connectors(path):
    """Read a services file and return its ML Feedback connectors
    (see :func:`parse_feedback_connectors`)."""
    return parse_feedback_connectors(_read_document(path), path)


_lock = threading.RLock()
_files = {}         # path -> {name: parameters or ServicesFileError}
_unnamed = {}       # path -> [error text of an entry that names no service]
_open = {}          # name -> edgeclass.Service, for the life of the process
_feedback_files = {}        # path -> [FeedbackConnector]
_feedback_open = {}         # config id -> edgeclass.Feedback (None: opened elsewhere)
_feedback_tried = set()     # (path, where) of the connectors opened (or found open)


def _services_of(path):
    """{name: parameters or ServicesFileError} of a services file, read once; the errors of
    entries that name no service are logged then, and kept for :func:`unnamed_errors`."""
    table = _files.get(path)
    if table is None:
        with _lock:
            table = _files.get(path)
            if table is None:
                table = {}
                unnamed = []
                for name, params in load_services_file(path):
                    if isinstance(params, ServicesFileError):
                        _log.error('%s', params)
                    if name is None:
                        unnamed.append(str(params))
                    else:
                        table[name] = params
                _unnamed[path] = unnamed
                _files[path] = table
    return table


def unnamed_errors(path):
    """The errors of the entries of services file ``path`` that name no service (read)."""
    return list(_unnamed.get(path, ()))


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
    if isinstance(params, ServicesFileError):
        # This entry is wrong: its requests get its error, every time; the others serve.
        raise GreengrassDependencyException(str(params))
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
        config_id = params.get('MLFeedbackConnectorConfigId')
        if config_id:
            # Connector v2 sent each classification to the ML Feedback connector itself.
            try:
                ensure_feedback_open(config_id)
            except GreengrassDependencyException as e:
                _log.warning('service %s: no ML Feedback for its MLFeedbackConnectorConfigId '
                             '%s: %s', name, config_id, e)
    return True


def _feedback_connectors_of(path):
    connectors = _feedback_files.get(path)
    if connectors is None:
        with _lock:
            connectors = _feedback_files.get(path)
            if connectors is None:
                connectors = load_feedback_connectors(path)
                _feedback_files[path] = connectors
    return connectors


def _open_feedback(connector, path):
    """Open one ML Feedback connector of the services file (once)."""
    key = (path, connector.where)
    if key in _feedback_tried:
        return
    try:
        try:
            handle = edgeclass.Feedback.open(connector.parameters)
        except edgeclass.EdgeclassError as e:
            if e.code != edgeclass.SERVICE_EXISTS:
                raise
            # Its config ids are open in this process already, through the edgeclass package.
            _log.warning('%s: %s; its parameters are not used', connector.where, e)
            handle = None
    except edgeclass.EdgeclassError as e:
        raise GreengrassDependencyException(
            'the ML Feedback connector %s could not be started: %s' % (connector.where, e), e)
    _feedback_tried.add(key)
    for config_id in connector.config_ids or ():
        _feedback_open.setdefault(config_id, handle)
    if handle is not None:
        _log.info('ML Feedback connector %s opened (config ids %s)', connector.where,
                  ', '.join(connector.config_ids or ()))


def ensure_feedback_open(config_id):
    """Make sure the ML Feedback connector of the services file that has ``config_id`` is
    open in edgeclass.

    Returns True when one is open (now or before), False when the services file has no
    connector with this config id (it may still be open through the edgeclass package). Raises
    :class:`GreengrassDependencyException` when the file cannot be used or the connector cannot
    be opened (bad parameters, spool directory...).
    """
    if config_id in _feedback_open:
        return True
    path = services_path()
    try:
        connectors = _feedback_connectors_of(path)
    except ServicesFileError as e:
        raise GreengrassDependencyException(str(e))
    owners = [c for c in connectors if c.config_ids is not None and config_id in c.config_ids]
    # A connector whose FeedbackConfigurationMap cannot be read may be the one: opening it
    # makes edgeclass say what is wrong with it.
    unreadable = [c for c in connectors if c.config_ids is None]
    with _lock:
        if config_id in _feedback_open:
            return True
        for connector in owners or unreadable:
            _open_feedback(connector, path)
    return config_id in _feedback_open


def feedback_connectors():
    """The ML Feedback connectors this process has opened from services files, by config id
    (``edgeclass.Feedback`` handles: for ``stats()`` or ``set_message_callback()``)."""
    with _lock:
        return dict((k, v) for k, v in _feedback_open.items() if v is not None)


def open_services():
    """Names of the services this process has opened so far."""
    return sorted(_open)
