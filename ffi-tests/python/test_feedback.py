"""ML Feedback from Python: the SDK's ``client('feedback').publish`` (its checks and messages,
samples written to the spool, sampling strategies, RequestLimit's Queue.Full, the connector
opened from the services file, a service feeding it) and the ``edgeclass`` binding under it.

Expected values are what the test passes in (the input bytes, the prediction and metadata) and
what the documentation says (the SDK's messages, the connector's status messages); the spool
files are read here from their documented format (``EDGECLASS-SAMPLE 1``, a JSON header line,
the input bytes), not through edgeclass.
"""

import json
import os
import re
import threading
import unittest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import feedback, services

import edgeclass
import helpers

REQUIRED = ('{} argument of Feedback.Client.publish is a required argument but was not '
            'provided')
CONFIG_RULE = 'Parameter ConfigId must match: ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$'
PREDICTION_TYPE = 'Argument ModelPrediction must be of type dict or list'
METADATA_TYPE = 'Argument Metadata must be of type dict'
FEEDBACK_ARN = 'arn:aws:greengrass:region::/connectors/MLFeedback/versions/1'
PUBLISH_TS = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$')

PNG = helpers.read(os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png'))
ALL_BYTES = bytes(bytearray(range(256))) * 3 + b'\0\n\r'


def setUpModule():
    helpers.capture_library_log()


def config_id(prefix='cfg'):
    """A config id no other test of this process uses (config ids are process-wide)."""
    return helpers.unique_name(prefix)


def feedback_connector(configs, spool, **extra):
    """An ML Feedback connector entry: ``configs`` is the FeedbackConfigurationMap (a dict,
    written as the JSON string the connector takes)."""
    params = {'FeedbackConfigurationMap': json.dumps(configs), 'RequestLimit': '10',
              'EdgeclassSpoolDirectory': spool}
    params.update(extra)
    return {'Id': 'MyMLFeedbackConnector', 'ConnectorArn': FEEDBACK_ARN, 'Parameters': params}


def one_config(cid, strategy=None, **keys):
    config = {'s3-bucket-name': 'my-feedback-bucket', 'content-type': 'image/png'}
    config.update(keys)
    if strategy is not None:
        config['sampling-strategy'] = strategy
    return {cid: config}


def env_with(*connectors):
    return helpers.ServicesEnv(helpers.write_services({'Connectors': list(connectors)}))


def read_spool(directory):
    """[(header, input bytes)] of the sample files in ``directory``, oldest first."""
    samples = []
    if not os.path.isdir(directory):
        return samples
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.sample'):
            continue
        data = helpers.read(os.path.join(directory, name))
        magic, rest = data.split(b'\n', 1)
        header_line, body = rest.split(b'\n', 1)
        assert magic == b'EDGECLASS-SAMPLE 1', name
        samples.append((json.loads(header_line.decode('utf-8')), body))
    return samples


def publish(**kwargs):
    return ml.client('feedback').publish(**kwargs)


class Surface(unittest.TestCase):

    def test_client_and_exception(self):
        client = ml.client('feedback')
        self.assertIsInstance(client, feedback.Client)
        self.assertIsInstance(ml.client('feedback', anything='ignored'), feedback.Client)
        self.assertTrue(issubclass(feedback.GreengrassFeedbackException, Exception))
        self.assertFalse(hasattr(ml, 'GreengrassFeedbackException'))   # as in the SDK
        self.assertNotIn('GreengrassFeedbackException', ml.__all__)

    def test_binding_names(self):
        self.assertEqual((edgeclass.FEEDBACK_SPOOLED, edgeclass.FEEDBACK_DROPPED_BY_STRATEGY,
                          edgeclass.FEEDBACK_THROTTLED), (0, 1, 2))   # the header's enum
        for name in ('Feedback', 'feedback_publish', 'FEEDBACK_THROTTLED'):
            self.assertIn(name, edgeclass.__all__)


class Arguments(unittest.TestCase):
    """The SDK's own checks, in its order, before anything is looked up: with a services file
    that does not exist, only the arguments can be the reason."""

    def setUp(self):
        self.env = helpers.ServicesEnv(os.path.join(helpers.temp_dir('nofile'), 'missing.json'))
        self.env.__enter__()
        self.args = {'ConfigId': 'MyConfig0', 'ModelInput': PNG, 'ModelPrediction': [0.5, 0.5]}

    def tearDown(self):
        self.env.__exit__()

    def assertValueError(self, message, **kwargs):
        args = dict(self.args)
        for k, v in kwargs.items():
            if v is None:
                args.pop(k)
            else:
                args[k] = v
        with self.assertRaises(ValueError) as cm:
            publish(**args)
        self.assertIs(type(cm.exception), ValueError)
        self.assertEqual(str(cm.exception), message)

    def test_missing_arguments_in_the_sdk_order(self):
        self.assertValueError(REQUIRED.format('ConfigId'), ConfigId=None)
        self.assertValueError(REQUIRED.format('ModelInput'), ModelInput=None)
        self.assertValueError(REQUIRED.format('ModelPrediction'), ModelPrediction=None)
        with self.assertRaises(ValueError) as cm:
            ml.client('feedback').publish()
        self.assertEqual(str(cm.exception), REQUIRED.format('ConfigId'))
        # every missing one is reported before a bad ConfigId
        self.assertValueError(REQUIRED.format('ModelPrediction'), ConfigId='bad_id',
                              ModelPrediction=None)

    def test_config_id_pattern(self):
        for value in ('a', '', '-ab', '_ab', 'my_config', 'a' * 64, 'with space', 'dot.ted',
                      u'\u00e9t\u00e9'):
            self.assertValueError(CONFIG_RULE, ConfigId=value)
        # checked before the prediction's type
        self.assertValueError(CONFIG_RULE, ConfigId='a', ModelPrediction='x')

    def test_config_id_boundaries_pass_the_check(self):
        # 2 and 63 characters are valid: the call goes on, to the (missing) services file.
        for value in ('ab', 'a' * 63, 'A-1'):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                publish(ConfigId=value, ModelInput=PNG, ModelPrediction=[1.0])
            self.assertIn('missing.json', str(cm.exception))

    def test_non_string_config_id_fails_in_re(self):
        for value in (None, 5, ['MyConfig0']):
            with self.assertRaises(TypeError):
                publish(ConfigId=value, ModelInput=PNG, ModelPrediction=[1.0])

    def test_prediction_type(self):
        for value in ('[0.5,0.5]', (0.5, 0.5), 0.5, 1, set([1])):
            self.assertValueError(PREDICTION_TYPE, ModelPrediction=value)
        # checked before Metadata
        self.assertValueError(PREDICTION_TYPE, ModelPrediction=(1,), Metadata=[])

    def test_metadata_type(self):
        for value in ([], 'camera=1', 7, ('a', 1)):
            self.assertValueError(METADATA_TYPE, Metadata=value)
        # given as None is given, and not a dict
        with self.assertRaises(ValueError) as cm:
            publish(Metadata=None, **self.args)
        self.assertEqual(str(cm.exception), METADATA_TYPE)

    def test_values_json_cannot_encode(self):
        with self.assertRaises(TypeError):
            publish(Metadata={'when': object()}, **self.args)
        args = dict(self.args, ModelPrediction=[object()])
        with self.assertRaises(TypeError):
            publish(**args)

    def test_positional_arguments_are_refused(self):
        with self.assertRaises(TypeError):
            ml.client('feedback').publish('MyConfig0', PNG, [0.5, 0.5])


class Publish(unittest.TestCase):

    def test_sample_on_disk_is_what_was_published(self):
        cid = config_id()
        spool = os.path.join(helpers.temp_dir('spool'), 'samples')    # created by the open
        configs = one_config(cid, **{'content-type': 'image/jpeg', 's3-prefix': 'hard-cases',
                                     'file-ext': 'jpg'})
        prediction = [0.1, 0.2, 0.7, 1e-07, 0.0]
        metadata = {'camera': 'door', 'n': 7, 'nested': {'x': [1, 2.5, None, True]},
                    u'caf\u00e9': u'cr\u00e8me'}
        with env_with(feedback_connector(configs, spool)):
            self.assertIsNone(publish(ConfigId=cid, ModelInput=ALL_BYTES,
                                      ModelPrediction=prediction, Metadata=metadata))
        samples = read_spool(spool)
        self.assertEqual(len(samples), 1)
        header, data = samples[0]
        self.assertEqual(data, ALL_BYTES)
        self.assertEqual(header['input-length'], len(ALL_BYTES))
        self.assertEqual(header['config-id'], cid)
        self.assertEqual(header['model-prediction'], prediction)
        ts = header['metadata'].pop('publish-ts')
        self.assertTrue(PUBLISH_TS.match(ts), ts)
        self.assertEqual(header['metadata'], metadata)
        self.assertEqual(header['content-type'], 'image/jpeg')
        self.assertEqual(header['s3-bucket-name'], 'my-feedback-bucket')
        self.assertTrue(re.match(r'^hard-cases/[0-9a-f-]{36}\.jpg$', header['s3-key']),
                        header['s3-key'])
        self.assertEqual(header['s3-key'], 'hard-cases/%s.jpg' % header['id'])
        self.assertEqual(header['source-ref'], 's3://my-feedback-bucket/' + header['s3-key'])
        stats = services.feedback_connectors()[cid].stats()
        self.assertEqual((stats['requests'], stats['spooled'], stats['spool_samples']), (1, 1, 1))

    def test_bytearray_input_dict_prediction_no_metadata(self):
        cid = config_id()
        spool = helpers.temp_dir('spool')
        detection = {'boxes': [[0.1, 0.2, 0.3, 0.4]], 'labels': ['cat'], 'scores': [0.9]}
        with env_with(feedback_connector(one_config(cid), spool)):
            publish(ConfigId=cid, ModelInput=bytearray(PNG), ModelPrediction=detection)
            publish(ConfigId=cid, ModelInput=b'', ModelPrediction=[], Metadata={})
            with self.assertRaises(TypeError):      # text is not a model input
                publish(ConfigId=cid, ModelInput=u'text', ModelPrediction=[1.0])
        (h1, d1), (h2, d2) = read_spool(spool)
        self.assertEqual((d1, h1['model-prediction']), (PNG, detection))
        self.assertEqual(sorted(h1['metadata']), ['publish-ts'])
        self.assertEqual((d2, h2['model-prediction'], h2['input-length']), (b'', [], 0))

    def test_strategy_that_does_not_keep_a_sample_is_not_an_error(self):
        # LEAST_CONFIDENCE 0.6 (the documentation's example): keep when max p <= 0.6.
        cid = config_id('lc')
        spool = helpers.temp_dir('spool')
        configs = one_config(cid, {'strategy-name': 'LEAST_CONFIDENCE', 'threshold': 0.6})
        with env_with(feedback_connector(configs, spool)):
            services.ensure_feedback_open(cid)
            handle = services.feedback_connectors()[cid]
            messages = []
            handle.set_message_callback(lambda topic, payload: messages.append(
                (topic, json.loads(payload.decode('utf-8')))))
            try:
                self.assertIsNone(publish(ConfigId=cid, ModelInput=b'confident',
                                          ModelPrediction=[0.9, 0.05, 0.05]))
                self.assertIsNone(publish(ConfigId=cid, ModelInput=b'unsure',
                                          ModelPrediction=[0.2, 0.2, 0.4, 0.2]))
            finally:
                handle.set_message_callback(None)
        self.assertEqual([d for _, d in read_spool(spool)], [b'unsure'])
        self.assertEqual(messages[0][0], 'feedback/message/status')
        self.assertEqual(messages[0][1]['response'], {'status': 'sample_dropped_by_strategy'})
        stats = handle.stats()
        self.assertEqual((stats['requests'], stats['dropped_by_strategy'], stats['spooled']),
                         (2, 1, 1))

    def test_unknown_config_id(self):
        cid = config_id()
        with env_with(feedback_connector(one_config(cid), helpers.temp_dir('spool'))) as path:
            with self.assertRaises(feedback.GreengrassFeedbackException) as cm:
                publish(ConfigId='NoSuchConfig', ModelInput=PNG, ModelPrediction=[1.0])
        e = cm.exception
        self.assertEqual((e.code, e.name), (edgeclass.INVALID_ARGUMENT,
                                            'EDGECLASS_INVALID_ARGUMENT'))
        self.assertIsInstance(e.error, edgeclass.EdgeclassError)
        self.assertIn('NoSuchConfig', str(e))
        self.assertIn(path, str(e))
        self.assertNotIsInstance(e, ml.GreengrassDependencyException)

    def test_prediction_the_library_refuses(self):
        # json.dumps writes NaN, which is not JSON: the connector refuses the request.
        cid = config_id()
        with env_with(feedback_connector(one_config(cid), helpers.temp_dir('spool'))):
            with self.assertRaises(feedback.GreengrassFeedbackException) as cm:
                publish(ConfigId=cid, ModelInput=PNG, ModelPrediction=[float('nan')])
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)
        self.assertIn('ModelPrediction', str(cm.exception))

    def test_connector_that_cannot_start(self):
        cases = [
            (lambda cid, spool: feedback_connector(one_config(cid, **{'s3-bucket-name': 'B_b'}),
                                                   spool),
             edgeclass.INVALID_PARAMETER, 's3-bucket-name'),
            (lambda cid, spool: feedback_connector(one_config(cid), spool, RequestLimit='1000'),
             edgeclass.INVALID_PARAMETER, 'RequestLimit'),
            (lambda cid, spool: feedback_connector(
                one_config(cid, {'strategy-name': 'RANDOM_SAMPLING'}), spool),
             edgeclass.INVALID_PARAMETER, 'rate'),
            (lambda cid, spool: feedback_connector(one_config(cid), ''),
             edgeclass.INVALID_PARAMETER, 'EdgeclassSpoolDirectory'),
        ]
        for make, code, text in cases:
            cid = config_id('bad')
            with env_with(make(cid, helpers.temp_dir('spool'))):
                with self.assertRaises(ml.GreengrassDependencyException) as cm:
                    publish(ConfigId=cid, ModelInput=PNG, ModelPrediction=[1.0])
            self.assertEqual(cm.exception.code, code, str(cm.exception))
            self.assertIn(text, str(cm.exception))
            self.assertIn('MyMLFeedbackConnector', str(cm.exception))

    def test_unreadable_configuration_map_is_reported(self):
        connector = feedback_connector({}, helpers.temp_dir('spool'))
        connector['Parameters']['FeedbackConfigurationMap'] = '{"x": '
        with env_with(connector):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                publish(ConfigId='AnyConfig', ModelInput=PNG, ModelPrediction=[1.0])
        self.assertEqual(cm.exception.code, edgeclass.INVALID_PARAMETER)
        self.assertIn('FeedbackConfigurationMap', str(cm.exception))

    def test_services_file_errors(self):
        cid = config_id()
        a = feedback_connector(one_config(cid), helpers.temp_dir('spool'))
        b = feedback_connector(one_config(cid), helpers.temp_dir('spool'))
        with env_with(a, b):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                publish(ConfigId=cid, ModelInput=PNG, ModelPrediction=[1.0])
        self.assertIn('already used by Connectors[0]', str(cm.exception))
        c = feedback_connector(one_config(cid), helpers.temp_dir('spool'))
        c['Parameters']['RequestLimit'] = 10
        with env_with(c):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                publish(ConfigId=cid, ModelInput=PNG, ModelPrediction=[1.0])
        self.assertIn('RequestLimit must be a string', str(cm.exception))
        with helpers.ServicesEnv(helpers.write_services(None, raw='{not json')):
            with self.assertRaises(ml.GreengrassDependencyException) as cm:
                publish(ConfigId=cid, ModelInput=PNG, ModelPrediction=[1.0])
        self.assertIn('not valid JSON', str(cm.exception))

    def test_opened_through_the_binding(self):
        # A connector opened with edgeclass.Feedback serves the SDK's publish too.
        cid = config_id()
        spool = helpers.temp_dir('spool')
        params = feedback_connector(one_config(cid), spool)['Parameters']
        with edgeclass.Feedback.open(params):
            with env_with():
                publish(ConfigId=cid, ModelInput=b'one', ModelPrediction=[1.0])
        self.assertEqual([d for _, d in read_spool(spool)], [b'one'])

    def test_request_limit_answers_queue_full(self):
        # RequestLimit 1. A request stays in progress while its status message is being
        # handled, so a callback that blocks on the "dropped" status holds the first request
        # there while a second one arrives.
        cid = config_id('limit')
        spool = helpers.temp_dir('spool')
        configs = one_config(cid, {'strategy-name': 'LEAST_CONFIDENCE', 'threshold': 0.5})
        entered, release = threading.Event(), threading.Event()
        messages = []

        def on_message(topic, payload):
            message = json.loads(payload.decode('utf-8'))
            messages.append((topic, message))
            if message['response']['status'] == 'sample_dropped_by_strategy':
                entered.set()
                release.wait(30)

        errors = []

        def first():
            try:
                publish(ConfigId=cid, ModelInput=b'first', ModelPrediction=[1.0])
            except Exception as e:      # reported by the main thread
                errors.append(e)

        with env_with(feedback_connector(configs, spool, RequestLimit='1')):
            services.ensure_feedback_open(cid)
            handle = services.feedback_connectors()[cid]
            handle.set_message_callback(on_message)
            try:
                thread = threading.Thread(target=first)
                thread.start()
                self.assertTrue(entered.wait(30), 'the first request never reached its status')
                # ignored: no exception, and not spooled though the strategy would keep it
                self.assertIsNone(publish(ConfigId=cid, ModelInput=b'second',
                                          ModelPrediction=[0.3, 0.3, 0.4]))
                # the binding reports it
                self.assertEqual(edgeclass.feedback_publish(cid, b'third', '[0.5, 0.5]'),
                                 edgeclass.FEEDBACK_THROTTLED)
                release.set()
                thread.join(30)
                self.assertFalse(errors)
                # the first request is done: admitted again
                self.assertEqual(edgeclass.feedback_publish(cid, b'fourth', '[0.4, 0.6]', '{}'),
                                 edgeclass.FEEDBACK_DROPPED_BY_STRATEGY)
                self.assertEqual(edgeclass.feedback_publish(cid, b'fifth', '[0.4, 0.3, 0.3]'),
                                 edgeclass.FEEDBACK_SPOOLED)
            finally:
                release.set()
                handle.set_message_callback(None)
        self.assertEqual([d for _, d in read_spool(spool)], [b'fifth'])
        full = [m for _, m in messages if m['response']['status'] == 'fail']
        self.assertEqual(len(full), 2)
        # the connector's documented message (max request: 1, with its space before the ')')
        self.assertEqual(full[0]['response'], {
            'status': 'fail', 'error': 'Queue.Full',
            'error_message': 'Request limit has been reached (max request: 1 ). '
                             'Dropping request.'})
        stats = handle.stats()
        self.assertEqual((stats['requests'], stats['throttled'], stats['dropped_by_strategy'],
                          stats['spooled']), (5, 2, 2, 1))


class ServiceFeedsFeedback(unittest.TestCase):
    """Connector v2: a service with MLFeedbackConnectorConfigId sends each classification to
    the ML Feedback connector of the same services file, with no publish in the Lambda."""

    def test_classification_is_sampled(self):
        cid = config_id('svc')
        name = helpers.unique_name('fbsvc')
        spool = helpers.temp_dir('spool')
        doc = [helpers.connector(helpers.parameters(name, MLFeedbackConnectorConfigId=cid)),
               feedback_connector(one_config(cid, **{'file-ext': 'png'}), spool)]
        with env_with(*doc):
            resp = ml.client('inference').invoke_inference_service(
                AlgoType='image-classification', ServiceName=name, ContentType='image/png',
                Body=PNG)
            resp['Body'].read()
        self.assertIn(cid, services.feedback_connectors())
        samples = read_spool(spool)
        self.assertEqual(len(samples), 1)
        header, data = samples[0]
        self.assertEqual(data, PNG)
        self.assertEqual(header['config-id'], cid)
        p = header['model-prediction']
        self.assertEqual(len(p), 10)
        self.assertAlmostEqual(sum(p), 1.0, places=4)
        self.assertEqual(p.index(max(p)), 3)    # digit07_label3: MXNet's answer is class 3


class Binding(unittest.TestCase):

    def params(self, cid, spool=None, **extra):
        p = feedback_connector(one_config(cid), spool or helpers.temp_dir('spool'))['Parameters']
        p.update(extra)
        return p

    def test_open_errors(self):
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.Feedback.open({'FeedbackConfigurationMap': '[1, 2]',
                                     'EdgeclassSpoolDirectory': helpers.temp_dir('spool')})
        self.assertEqual(cm.exception.code, edgeclass.INVALID_PARAMETER)
        self.assertIn('FeedbackConfigurationMap', cm.exception.message)
        with self.assertRaises(TypeError):
            edgeclass.Feedback.open({'RequestLimit': 10})

    def test_config_ids_are_unique_and_freed_by_close(self):
        cid = config_id()
        fb = edgeclass.Feedback.open(self.params(cid))
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.Feedback.open(self.params(cid))
        self.assertEqual(cm.exception.code, edgeclass.SERVICE_EXISTS)
        self.assertEqual(edgeclass.feedback_publish(cid, b'x', '[1]'), edgeclass.FEEDBACK_SPOOLED)
        fb.close()
        fb.close()      # twice is fine
        with self.assertRaises(ValueError):
            fb.stats()
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.feedback_publish(cid, b'x', '[1]')
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)
        with edgeclass.Feedback.open(self.params(cid)) as again:    # the id is free again
            self.assertEqual(again.stats()['requests'], 0)

    def test_publish_arguments(self):
        cid = config_id()
        with edgeclass.Feedback.open(self.params(cid)) as fb:
            for args in [(cid, b'x', '0.5'), (cid, b'x', '[1'), (cid, b'x', '[1]', '[1]'),
                         ('bad_id', b'x', '[1]')]:
                with self.assertRaises(edgeclass.EdgeclassError) as cm:
                    edgeclass.feedback_publish(*args)
                self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT, args)
            with self.assertRaises(ValueError):
                edgeclass.feedback_publish(cid, b'x', '[1]\0')
            with self.assertRaises(TypeError):
                edgeclass.feedback_publish(cid, 5, '[1]')
            self.assertEqual(fb.stats()['spooled'], 0)
            fb.flush(0)     # no broker: at once


class _NoSuchBucket(Exception):
    """Shaped like botocore's ClientError: the error code in ``response``."""

    def __init__(self):
        Exception.__init__(self, 'The specified bucket does not exist')
        self.response = {'Error': {'Code': 'NoSuchBucket'}}


class Upload(unittest.TestCase):
    """``Feedback.drain`` and ``Feedback.set_upload_callback``: what a Python uploader gets (the
    bytes and headers passed to publish), what the connector publishes after each upload (its
    documented status and prediction shapes), and failures, exceptions of every kind included,
    that leave the sample in the spool."""

    def open(self, cid, spool):
        fb = edgeclass.Feedback.open(feedback_connector(
            one_config(cid, **{'s3-prefix': 'up', 'file-ext': 'bin'}), spool)['Parameters'])
        messages = []
        fb.set_message_callback(lambda topic, payload: messages.append(
            (topic, json.loads(payload.decode('utf-8')))))
        return fb, messages

    def test_drain_uploads_oldest_first_and_publishes_the_messages(self):
        cid = config_id('drain')
        spool = helpers.temp_dir('spool')
        fb, messages = self.open(cid, spool)
        inputs = [b'first', ALL_BYTES, b'']
        for i, data in enumerate(inputs):
            edgeclass.feedback_publish(cid, data, json.dumps([0.25, 0.75 - i * 0.25]),
                                       json.dumps({'n': i}))
        got = []
        self.assertEqual(fb.drain(got.append), 3)
        self.assertEqual([s.data for s in got], inputs)
        for i, s in enumerate(got):
            self.assertIsInstance(s, edgeclass.UploadSample)
            self.assertEqual((s.config_id, s.bucket, s.content_type),
                             (cid, 'my-feedback-bucket', 'image/png'))
            self.assertEqual(s.key, 'up/%s.bin' % s.id)
            self.assertEqual(s.source_ref, 's3://my-feedback-bucket/up/%s.bin' % s.id)
            self.assertEqual(s.prediction, [0.25, 0.75 - i * 0.25])
            self.assertEqual(s.metadata['n'], i)
            self.assertTrue(PUBLISH_TS.match(s.metadata['publish-ts']), s.metadata)
        self.assertEqual(read_spool(spool), [])
        # Per upload: the success status, then the prediction.
        self.assertEqual(len(messages), 6, messages)
        for s, (status, prediction) in zip(got, zip(messages[::2], messages[1::2])):
            self.assertEqual(status[0], 'feedback/message/status')
            self.assertEqual(status[1]['id'], s.id)
            self.assertEqual(status[1]['response']['status'], 'success')
            self.assertEqual(status[1]['response']['s3_response']['key'], s.key)
            self.assertEqual(prediction, ('feedback/message/prediction', {
                'source-ref': s.source_ref, 'model-prediction': s.prediction,
                'config-id': cid, 'metadata': s.metadata}))
        st = fb.stats()
        self.assertEqual((st['uploaded'], st['predictions_published'], st['spool_samples']),
                         (3, 3, 0))
        self.assertEqual(fb.drain(got.append), 0)   # nothing left
        fb.close()

    def test_a_failed_upload_keeps_the_sample_and_names_the_exception(self):
        cid = config_id('fail')
        spool = helpers.temp_dir('spool')
        fb, messages = self.open(cid, spool)
        edgeclass.feedback_publish(cid, b'one', '[1]')
        edgeclass.feedback_publish(cid, b'two', '[1]')

        def raising(exc):
            def upload(sample):
                raise exc
            return upload

        for exc, error in [(ValueError('no network'), 'ValueError'),
                           (_NoSuchBucket(), 'NoSuchBucket'),
                           (KeyboardInterrupt(), 'KeyboardInterrupt'),
                           (SystemExit(3), 'SystemExit')]:
            del messages[:]
            self.assertEqual(fb.drain(raising(exc)), 0)
            self.assertEqual(len(read_spool(spool)), 2, error)
            self.assertEqual(len(messages), 1, messages)
            topic, status = messages[0]
            self.assertEqual(topic, 'feedback/message/status')
            self.assertEqual(status['response']['status'], 'fail')
            self.assertEqual(status['response']['error'], error)
            self.assertIn('Exception type: %s, error: %s' % (error, exc),
                          status['response']['error_message'])
        self.assertEqual(fb.stats()['upload_failures'], 4)
        got = []
        self.assertEqual(fb.drain(got.append, max=1), 1)
        self.assertEqual([s.data for s in got], [b'one'])
        self.assertEqual([h['config-id'] for h, _ in read_spool(spool)], [cid])
        with self.assertRaises(TypeError):
            fb.drain('not callable')
        with self.assertRaises(ValueError):
            fb.drain(got.append, max=-1)
        fb.close()
        with self.assertRaises(ValueError):
            fb.drain(got.append)

    def test_the_background_uploader(self):
        cid = config_id('bg')
        spool = helpers.temp_dir('spool')
        fb, messages = self.open(cid, spool)
        got = []
        done = threading.Event()
        fail = [True]

        def upload(sample):
            if fail[0]:
                fail[0] = False
                raise IOError('first try fails')
            got.append(sample.data)
            done.set()

        fb.set_upload_callback(upload)
        edgeclass.feedback_publish(cid, b'background', '[1]')
        # The first try fails; the retry comes after the 1 s backoff.
        self.assertTrue(done.wait(15), messages)
        self.assertEqual(got, [b'background'])
        deadline = threading.Event()
        while fb.stats()['predictions_published'] < 1:     # the messages are out
            deadline.wait(0.01)
        st = fb.stats()
        self.assertEqual((st['uploaded'], st['upload_failures'], st['spool_samples']), (1, 1, 0))
        statuses = [m[1]['response']['status'] for m in messages
                    if m[0] == 'feedback/message/status']
        self.assertEqual(statuses, ['fail', 'success'])
        fb.set_upload_callback(None)
        edgeclass.feedback_publish(cid, b'stays', '[1]')
        deadline.wait(0.5)
        self.assertEqual([b for _, b in read_spool(spool)], [b'stays'])
        with self.assertRaises(TypeError):
            fb.set_upload_callback(42)
        # Left running at close: close stops it.
        fb.set_upload_callback(lambda sample: None)
        fb.close()


if __name__ == '__main__':
    unittest.main()
