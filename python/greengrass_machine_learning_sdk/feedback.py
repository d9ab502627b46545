"""The feedback client: ``publish``, answered by edgeclass's ML Feedback in this process.

In Greengrass, ``publish`` sent the sample to the ML Feedback connector (a Lambda reached over
IPC), which sampled it and uploaded it to S3. Here the connector is edgeclass's: it is opened from
the ML Feedback connector of the services file (see ``greengrass_machine_learning_sdk.services``),
samples with the configuration's strategy, and writes each kept sample to its spool directory
(``EdgeclassSpoolDirectory``), where it waits for an uploader (``edgeclass feedback drain``).

When the ``edgeclass serve`` daemon is the inference service (``daemon.py`` says when),
``publish`` goes to the daemon's connector instead, with the same checks and exceptions; the
daemon uploads the samples (``--feedback-upload-command``) and publishes the connector's
messages.
"""

import json
import logging
import re

import edgeclass

from . import daemon, services
from .exception import GreengrassDependencyException

CONFIG_ID = 'ConfigId'
MODEL_INPUT = 'ModelInput'
MODEL_PREDICTION = 'ModelPrediction'
METADATA = 'Metadata'

#: The SDK's rule for ConfigId (2 to 63 characters, no underscore).
CONFIG_ID_PATTERN_STRING = '^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$'
CONFIG_ID_PATTERN = re.compile(CONFIG_ID_PATTERN_STRING)

_log = logging.getLogger(__name__)

_OUTCOMES = {
    edgeclass.FEEDBACK_SPOOLED: 'sample kept and spooled',
    edgeclass.FEEDBACK_DROPPED_BY_STRATEGY: 'sample_dropped_by_strategy',
    edgeclass.FEEDBACK_THROTTLED: 'Queue.Full: RequestLimit reached, request ignored',
}


class GreengrassFeedbackException(Exception):
    """The ML Feedback connector refused the request: an unknown ConfigId, arguments it cannot
    use (e.g. NaN in the prediction), or a sample it could not write to its spool.

    As in the SDK, this class lives in ``greengrass_machine_learning_sdk.feedback`` and is not
    exported by the package. ``code`` and ``name`` are the edgeclass status (e.g. 1001,
    ``'EDGECLASS_INVALID_ARGUMENT'``) and ``error`` the :class:`edgeclass.EdgeclassError`.
    """

    def __init__(self, message, error=None):
        Exception.__init__(self, message)
        self.error = error
        self.code = getattr(error, 'code', None)
        self.name = getattr(error, 'name', None)


def _missing(name):
    return ValueError('{} argument of Feedback.Client.publish is a required argument but was '
                      'not provided'.format(name))


def _invalid_type(name, type_name):
    return ValueError('Argument {} must be of type {}'.format(name, type_name))


class Client(object):
    """The ``'feedback'`` client (``greengrass_machine_learning_sdk.client('feedback')``).

    Creating it never fails: the library, the services file and the ML Feedback connector are
    looked at on the first ``publish``.
    """

    def publish(self, **kwargs):
        """Send a model input and its prediction to the ML Feedback connector.

        Keyword arguments, as the SDK's:
            ConfigId: a config id of the connector's ``FeedbackConfigurationMap`` (required).
            ModelInput: the model's input, ``bytes`` or ``bytearray`` (``str`` on 2.7)
                (required).
            ModelPrediction: a ``list`` of probabilities (image classification) or a ``dict``
                (object detection) (required).
            Metadata: a ``dict`` stored with the sample and sent on
                ``feedback/message/prediction`` (optional, default ``{}``; the connector adds
                ``publish-ts``).

        Returns None, as the SDK does, whatever the configuration's sampling strategy decided:
        a sample the strategy does not keep, and a request beyond ``RequestLimit`` (the
        connector's ``Queue.Full``, ignored), are not errors; they are reported on
        ``feedback/message/status`` and in the connector's counters. Use
        ``edgeclass.feedback_publish`` to get the outcome.

        Raises ``ValueError`` for a missing argument, a bad ConfigId, a ModelPrediction that is
        not a list or a dict, or Metadata that is not a dict (the SDK's messages);
        ``TypeError`` for a non-string ConfigId, values ``json`` cannot encode and a
        ModelInput that is not bytes; :class:`GreengrassFeedbackException` when the connector
        refuses the request (no open connector has the ConfigId, NaN in the prediction, the
        spool cannot be written); ``GreengrassDependencyException`` when the connector cannot
        be started (services file, its parameters, the library).
        """
        for name in (CONFIG_ID, MODEL_INPUT, MODEL_PREDICTION):
            if name not in kwargs:
                raise _missing(name)
        config_id = kwargs.get(CONFIG_ID)
        # Like the SDK, a non-string value here fails inside re with its TypeError.
        if not CONFIG_ID_PATTERN.match(config_id):
            raise ValueError('Parameter {} must match: {}'.format(CONFIG_ID,
                                                                  CONFIG_ID_PATTERN_STRING))
        prediction = kwargs.get(MODEL_PREDICTION)
        if not isinstance(prediction, (dict, list)):
            raise _invalid_type(MODEL_PREDICTION, 'dict or list')
        metadata = kwargs.get(METADATA, {})
        if not isinstance(metadata, dict):
            raise _invalid_type(METADATA, 'dict')
        # The SDK sent both as JSON too: what json cannot encode raises its TypeError here.
        prediction_json = json.dumps(prediction)
        metadata_json = json.dumps(metadata)
        model_input = kwargs.get(MODEL_INPUT)

        socket_path = daemon.socket_path()
        if socket_path is not None:
            try:
                outcome = daemon.publish(socket_path, config_id, model_input, prediction_json,
                                         metadata_json)
            except edgeclass.EdgeclassError as e:
                message = e.message
                if e.code == edgeclass.INVALID_ARGUMENT and \
                        'no open ML Feedback connector' in message:
                    message = '%s; the edgeclass daemon at %s serves no ML Feedback connector ' \
                        'with it' % (message, socket_path)
                exc = GreengrassFeedbackException(message, e)
                exc.__cause__ = e
                raise exc
            _log.debug('ML Feedback %s (daemon %s): %s', config_id, socket_path, outcome)
            return None

        in_file = services.ensure_feedback_open(config_id)
        try:
            outcome = edgeclass.feedback_publish(config_id, model_input, prediction_json,
                                                 metadata_json)
        except edgeclass.LibraryNotFoundError as e:
            raise GreengrassDependencyException(str(e), e)
        except edgeclass.EdgeclassError as e:
            message = e.message
            if not in_file and e.code == edgeclass.INVALID_ARGUMENT and \
                    'no open ML Feedback connector' in message:
                message = '%s; the services file %s has no ML Feedback connector with it' % (
                    message, services.services_path())
            exc = GreengrassFeedbackException(message, e)
            exc.__cause__ = e
            raise exc
        _log.debug('ML Feedback %s: %s', config_id, _OUTCOMES.get(outcome, outcome))
