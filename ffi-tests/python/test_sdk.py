"""The drop-in ``greengrass_machine_learning_sdk``: its surface, every error path, the services
file, body types, and 8 threads sharing one service."""

import json
import os
import shutil
import subprocess
import sys
import threading
import unittest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import services

import edgeclass
import helpers

REQUIRED = ('{} argument of Inference.Client.invoke_inference_service is a required argument '
            'but was not provided')
ALGO_RULE = 'field algo_type must match the regex ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$'
NAME_RULE = 'field service_name must match the regex ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$'

JPG = helpers.read(os.path.join(helpers.DIGITS, 'digit00_label0_28x28.jpg'))
PNG = helpers.read(os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png'))


def setUpModule():
    helpers.capture_library_log()


def services_env(*connectors, **kw):
    """A services file with these connectors (as a document, or ``raw`` text), in the env."""
    if 'raw' in kw:
        return helpers.ServicesEnv(helpers.write_services(None, raw=kw['raw']))
    return helpers.ServicesEnv(helpers.write_services({'Connectors': list(connectors)}))


_shared = {}


def shared_service():
    """(client, service name) of one tiny-trained service from a seed-like services file."""
    if not _shared:
        name = helpers.unique_name('sdk')
        path = helpers.write_services({'Connectors': [
            helpers.connector(helpers.parameters(name, EdgeclassWorkers='2'))]})
        _shared['path'] = path
        _shared['name'] = name
    os.environ[services.SERVICES_ENV] = _shared['path']
    return ml.client('inference'), _shared['name']


OMIT = object()


def call(client, **kwargs):
    """invoke_inference_service with the seed's arguments, overridden by ``kwargs``
    (a value of ``OMIT`` removes the argument)."""
    args = {'AlgoType': 'image-classification', 'ServiceName': 'imageClassification',
            'ContentType': 'image/jpeg', 'Body': JPG}
    for k, v in kwargs.items():
        if v is OMIT:
            args.pop(k, None)
        else:
            args[k] = v
    return client.invoke_inference_service(**args)


class Surface(unittest.TestCase):

    def test_exports(self):
        for name in ('client', 'GreengrassInferenceException', 'GreengrassDependencyException',
                     'StreamingBody'):
            self.assertTrue(hasattr(ml, name), name)
        self.assertFalse(hasattr(ml, 'GreengrassFeedbackException'))  # not exported by the SDK
        self.assertTrue(issubclass(ml.GreengrassInferenceException, Exception))
        self.assertTrue(issubclass(ml.GreengrassDependencyException, Exception))
        from greengrass_machine_learning_sdk.inference import Client
        self.assertIsInstance(ml.client('inference'), Client)
        self.assertIsInstance(ml.client('inference', anything='ignored'), Client)

    def test_unknown_client_types(self):
        for kind in ('foo', 'Inference', ''):
            with self.assertRaises(Exception) as cm:
                ml.client(kind)
            self.assertIs(type(cm.exception), Exception)
            self.assertEqual(str(cm.exception), "Client type '%s' is not recognized." % kind)
        from greengrass_machine_learning_sdk.feedback import Client as FeedbackClient
        self.assertIsInstance(ml.client('feedback'), FeedbackClient)

    def test_streaming_body(self):
        body = ml.StreamingBody(b'[0.5,0.25,0.25]')
        self.assertEqual(body.read(3), b'[0.')
        self.assertEqual(body.read(), b'5,0.25,0.25]')
        self.assertEqual(body.read(), b'')
        body.close()
        with self.assertRaises(ValueError):
            body.read()


class Arguments(unittest.TestCase):
    """The SDK's own checks, before anything is looked up (no services file needed)."""

    def setUp(self):
        self.client = ml.client('inference')

    def assertValueError(self, message, **kwargs):
        with self.assertRaises(ValueError) as cm:
            call(self.client, **kwargs)
        self.assertEqual(str(cm.exception), message)

    def test_missing_arguments_in_the_sdk_order(self):
        self.assertValueError(REQUIRED.format('ServiceName'), ServiceName=OMIT)
        self.assertValueError(REQUIRED.format('Body'), Body=OMIT)
        self.assertValueError(REQUIRED.format('AlgoType'), AlgoType=OMIT)
        # present but None is not missing (the SDK tests `name in kwargs`)
        with self.assertRaises(TypeError):
            call(self.client, AlgoType=None)
        with self.assertRaises(ValueError) as cm:
            self.client.invoke_inference_service()
        self.assertEqual(str(cm.exception), REQUIRED.format('ServiceName'))
        with self.assertRaises(ValueError) as cm:
            self.client.invoke_inference_service(ServiceName='x1', AlgoType='bad_algo')
        self.assertEqual(str(cm.exception), REQUIRED.format('Body'))

    def test_patterns(self):
        bad = ['a', '', '-ab', '_ab', 'image_classification', 'a' * 64, 'with space', 'dot.ted',
               u'\u00e9t\u00e9']
        for value in bad:
            self.assertValueError(ALGO_RULE, AlgoType=value)
            self.assertValueError(NAME_RULE, ServiceName=value)
        # AlgoType is checked first
        self.assertValueError(ALGO_RULE, AlgoType='a', ServiceName='b')
        # 2 and 63 characters pass the SDK's check (then no such service)
        for value in ('ab', 'a' * 63, 'A-1'):
            with services_env():
                with self.assertRaises(ml.GreengrassDependencyException):
                    call(self.client, ServiceName=value)

    def test_non_string_names_fail_as_in_the_sdk(self):
        # The SDK hands them to re.match, which raises TypeError.
        for value in (None, 5, b'imageClassification' if str is not bytes else 5):
            with self.assertRaises(TypeError):
                call(self.client, AlgoType=value)
            with self.assertRaises(TypeError):
                call(self.client, ServiceName=value)

    def test_positional_arguments_are_refused(self):
        with self.assertRaises(TypeError):
            self.client.invoke_inference_service('image-classification', 'x1', 'image/jpeg', JPG)


class Answers(unittest.TestCase):

    def test_response_shape(self):
        client, name = shared_service()
        resp = call(client, ServiceName=name, Body=PNG, ContentType='image/png')
        self.assertEqual(sorted(resp), ['Body', 'ContentType'])
        self.assertEqual(resp['ContentType'], 'application/json')
        self.assertIsInstance(resp['Body'], ml.StreamingBody)
        body = resp['Body'].read()
        self.assertIsInstance(body, bytes)
        values = [float(x) for x in body[1:-1].split(b',')]
        self.assertEqual(len(values), 10)
        self.assertEqual(values.index(max(values)), 3)
        self.assertEqual(resp['Body'].read(), b'')

    def test_accept_is_accepted_and_ignored(self):
        client, name = shared_service()
        plain = call(client, ServiceName=name)['Body'].read()
        for accept in ('application/json', 'text/csv', '*/*'):
            self.assertEqual(call(client, ServiceName=name, Accept=accept)['Body'].read(), plain)

    def test_body_types(self):
        client, name = shared_service()
        expected = call(client, ServiceName=name, Body=JPG)['Body'].read()
        for body in (bytearray(JPG), bytes(JPG), memoryview(JPG)):
            self.assertEqual(call(client, ServiceName=name, Body=body)['Body'].read(), expected)
        if str is bytes:                                        # Python 2: str is bytes
            self.assertEqual(call(client, ServiceName=name, Body=str(JPG))['Body'].read(),
                             expected)
        with self.assertRaises(TypeError):
            call(client, ServiceName=name, Body=JPG.decode('latin-1'))   # text (unicode)

    def test_content_types(self):
        client, name = shared_service()
        expected = call(client, ServiceName=name, Body=PNG, ContentType='image/png')
        expected = expected['Body'].read()
        for ct in (OMIT, None, 'image/jpeg', 'image/jpg', 'application/x-image', 'IMAGE/PNG'):
            # omitted or disagreeing with the bytes: the bytes decide (the connector's cv2 did)
            got = call(client, ServiceName=name, Body=PNG, ContentType=ct)['Body'].read()
            self.assertEqual(got, expected, repr(ct))

    def test_aws_region_is_not_required(self):
        client, name = shared_service()
        saved = os.environ.pop('AWS_REGION', None)
        try:
            self.assertTrue(call(client, ServiceName=name)['Body'].read())
        finally:
            if saved is not None:
                os.environ['AWS_REGION'] = saved


class InferenceErrors(unittest.TestCase):
    """A bad image or content type: GreengrassInferenceException with the edgeclass code."""

    def assertInference(self, code, **kwargs):
        client, name = shared_service()
        with self.assertRaises(ml.GreengrassInferenceException) as cm:
            call(client, ServiceName=name, **kwargs)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        self.assertTrue(str(cm.exception))
        return cm.exception

    def test_bad_images(self):
        images = os.path.join(helpers.FIXTURES, 'images')
        cases = [
            ('random_bytes.jpg', edgeclass.UNSUPPORTED_IMAGE_FORMAT),
            ('text_file.png', edgeclass.UNSUPPORTED_IMAGE_FORMAT),
            ('bmp_content_named_jpg.jpg', edgeclass.UNSUPPORTED_IMAGE_FORMAT),
            ('png_truncated.png', edgeclass.CORRUPT_IMAGE),
            ('png_bad_crc.png', edgeclass.CORRUPT_IMAGE),
            ('jpeg_huge_header_30000x30000.jpg', edgeclass.IMAGE_TOO_LARGE),
            ('png_huge_header_30000x30000.png', edgeclass.IMAGE_TOO_LARGE),
        ]
        for filename, code in cases:
            e = self.assertInference(code, Body=helpers.read(os.path.join(images, filename)))
            self.assertIsInstance(e.error, edgeclass.EdgeclassError)
        client, name = shared_service()
        with self.assertRaises(ml.GreengrassInferenceException):
            call(client, ServiceName=name, Body=b'')

    def test_bad_content_types(self):
        for ct in ('text/plain', 'image/gif', 'application/json', ''):
            e = self.assertInference(edgeclass.UNSUPPORTED_CONTENT_TYPE, ContentType=ct)
            self.assertIn('content type', str(e))
        client, name = shared_service()
        for ct in (5, b'image/jpeg' if str is not bytes else 5, 'image/jpeg\0'):
            with self.assertRaises(ml.GreengrassInferenceException):
                call(client, ServiceName=name, ContentType=ct)

    def test_strict_content_type(self):
        name = helpers.unique_name('strict')
        with services_env(helpers.connector(helpers.parameters(
                name, EdgeclassStrictDecoding='true'))):
            client = ml.client('inference')
            with self.assertRaises(ml.GreengrassInferenceException) as cm:
                call(client, ServiceName=name, Body=PNG, ContentType='image/jpeg')
            self.assertEqual(cm.exception.code, edgeclass.CONTENT_TYPE_MISMATCH)
            self.assertTrue(call(client, ServiceName=name, Body=PNG, ContentType='image/png'))


class DependencyErrors(unittest.TestCase):
    """Everything the call depends on: GreengrassDependencyException."""

    def assertDependency(self, name, code=None, text=None):
        with self.assertRaises(ml.GreengrassDependencyException) as cm:
            call(ml.client('inference'), ServiceName=name)
        if code is not None:
            self.assertEqual(cm.exception.code, code, str(cm.exception))
        if text is not None:
            self.assertIn(text, str(cm.exception))
        return cm.exception

    def test_unknown_service(self):
        client, name = shared_service()
        e = self.assertDependency('no-such-service', edgeclass.UNKNOWN_SERVICE,
                                  'no-such-service')
        self.assertIn(_shared['path'], str(e))
        with self.assertRaises(ml.GreengrassDependencyException) as cm:
            call(client, ServiceName=name, AlgoType='object-detection')
        self.assertEqual(cm.exception.code, edgeclass.UNKNOWN_SERVICE)

    def test_missing_model(self):
        name = helpers.unique_name('nomodel')
        with services_env(helpers.connector(helpers.parameters(name, model='/nonexistent/m'))):
            e = self.assertDependency(name, edgeclass.MODEL_NOT_FOUND, '/nonexistent/m')
            self.assertIn(name, str(e))

    def test_model_arriving_later_is_picked_up(self):
        # A failed start is retried on the next call (as when the ML resource lands later).
        name = helpers.unique_name('later')
        directory = helpers.temp_dir('later')
        model = os.path.join(directory, 'model')
        with services_env(helpers.connector(helpers.parameters(name, model=model))):
            self.assertDependency(name, edgeclass.MODEL_NOT_FOUND)
            shutil.copytree(helpers.TINY, model)
            self.assertTrue(call(ml.client('inference'), ServiceName=name)['Body'].read())

    def test_bad_parameters(self):
        cases = [
            ({'GPUAcceleration': 'GPU'}, edgeclass.UNSUPPORTED, 'GPU'),
            ({'LocalInferenceServiceTimeoutSeconds': '0'}, edgeclass.INVALID_PARAMETER,
             'LocalInferenceServiceTimeoutSeconds'),
            ({'MLModelSageMakerJobArn': 'arn:aws:s3:::bucket'}, edgeclass.INVALID_PARAMETER,
             'MLModelSageMakerJobArn'),
            ({'LocalInferenceServiceMemoryLimitKB': '100'}, edgeclass.MEMORY_LIMIT, None),
        ]
        for extra, code, text in cases:
            name = helpers.unique_name('badparam')
            params = helpers.parameters(name)
            params.update(extra)
            with services_env(helpers.connector(params)):
                self.assertDependency(name, code, text)

    def test_missing_library(self):
        path = helpers.write_services({'Connectors': [helpers.connector(
            helpers.parameters('imageClassification'))]})
        code = '\n'.join([
            'import greengrass_machine_learning_sdk as ml',
            'client = ml.client("inference")',      # creating the client does not need it
            'try:',
            '    client.invoke_inference_service(AlgoType="image-classification",',
            '        ServiceName="imageClassification", ContentType="image/jpeg", Body=b"x")',
            'except ml.GreengrassDependencyException as e:',
            '    print("GreengrassDependencyException: %s" % e)',
        ])
        env = dict(os.environ)
        env['EDGECLASS_LIBRARY'] = '/nonexistent/libedgeclass.so'
        env[services.SERVICES_ENV] = path
        p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, cwd=helpers.HERE)
        out = p.communicate()[0].decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, out)
        self.assertIn('GreengrassDependencyException: ', out)
        self.assertIn('/nonexistent/libedgeclass.so', out)


class ServicesFile(unittest.TestCase):

    def test_document_bare_list_and_wrappers(self):
        for shape in ('document', 'list', 'InitialVersion', 'Definition'):
            name = helpers.unique_name(shape)
            conn = [helpers.connector(helpers.parameters(name))]
            doc = {'document': {'Connectors': conn}, 'list': conn,
                   'InitialVersion': {'InitialVersion': {'Connectors': conn}, 'Name': 'x'},
                   'Definition': {'Definition': {'Connectors': conn}, 'Arn': 'x'}}[shape]
            with helpers.ServicesEnv(helpers.write_services(doc)):
                resp = call(ml.client('inference'), ServiceName=name, Body=PNG)
                self.assertEqual(resp['Body'].read()[:1], b'[')
            self.assertIn(name, services.open_services())

    def test_several_connectors_and_other_kinds(self):
        a, b = helpers.unique_name('multi-a'), helpers.unique_name('multi-b')
        feedback = {'Id': 'MyMLFeedbackConnector',
                    'ConnectorArn': 'arn:aws:greengrass:region::/connectors/MLFeedback/versions/1',
                    'Parameters': {'FeedbackConfigurationMap': '{}', 'RequestLimit': '10'}}
        detection = {'Id': 'Detection', 'ConnectorArn':
                     'arn:aws:greengrass:region::/connectors/ObjectDetectionAarch64JTX2/versions/1',
                     'Parameters': {'LocalInferenceServiceName': a}}
        no_arn = {'Parameters': helpers.parameters(b)}
        with services_env(feedback, detection, helpers.connector(helpers.parameters(a)), no_arn):
            client = ml.client('inference')
            ra = call(client, ServiceName=a, Body=PNG)['Body'].read()
            rb = call(client, ServiceName=b, Body=PNG)['Body'].read()
            self.assertEqual(ra, rb)
        parsed = services.parse_services([feedback, detection, no_arn])
        self.assertEqual([n for n, _ in parsed], [b])

    def test_file_errors(self):
        name = helpers.unique_name('fileerr')
        cases = [
            (helpers.ServicesEnv('/nonexistent/services.json'), '/nonexistent/services.json'),
            (services_env(raw='{"Connectors": [ {'), 'not valid JSON'),
            (services_env(raw='{"Connectors": {}}'), '"Connectors" must be a list'),
            (services_env(raw='{"connectors": []}'), 'expected a connector definition'),
            (services_env(raw='"text"'), 'expected a connector definition'),
            # The entry of the service asked for is wrong: its own error.
            (services_env(helpers.connector(dict(helpers.parameters(name),
                                                 LocalInferenceServiceTimeoutSeconds=10))),
             'must be a string'),
            # Entries that name no service: the unknown service's message lists them.
            (services_env({'Id': 'x', 'ConnectorArn': helpers.SEED_ARN}),
             '"Parameters" must be an object'),
            (services_env(helpers.connector({'MLModelDestinationPath': '/m'})),
             'LocalInferenceServiceName is required'),
            (services_env('not an object'), 'a connector must be an object'),
        ]
        for env, text in cases:
            with env:
                e = self.assertRaisesDependency(name)
                self.assertIn(text, str(e))

    def test_one_bad_entry_fails_only_its_own_service(self):
        good, bad = helpers.unique_name('entry-good'), helpers.unique_name('entry-bad')
        document = [
            helpers.connector(dict(helpers.parameters(bad), LocalInferenceServiceTimeoutSeconds=10),
                              id_='Bad'),
            helpers.connector(helpers.parameters(good), id_='Good'),
            # A second entry of the good name: reported, the first one serves.
            helpers.connector(dict(helpers.parameters(good), MLModelDestinationPath='/m'),
                              id_='Again'),
        ]
        with services_env(*document):
            client = ml.client('inference')
            messages = set()
            for _ in range(3):
                e = self.assertRaisesDependency(bad)
                self.assertIn('Connectors[0] (Id "Bad"): parameter '
                              'LocalInferenceServiceTimeoutSeconds must be a string', str(e))
                messages.add(str(e))
                self.assertEqual(call(client, ServiceName=good, Body=PNG)['Body'].read()[:1],
                                 b'[')
            self.assertEqual(len(messages), 1)

    def assertRaisesDependency(self, name):
        with self.assertRaises(ml.GreengrassDependencyException) as cm:
            call(ml.client('inference'), ServiceName=name)
        return cm.exception

    def test_missing_file_message_names_the_variable(self):
        with helpers.ServicesEnv('/nonexistent/services.json'):
            e = self.assertRaisesDependency(helpers.unique_name('nofile'))
        self.assertIn(services.SERVICES_ENV, str(e))

    def test_default_path(self):
        saved = os.environ.pop(services.SERVICES_ENV, None)
        try:
            self.assertEqual(services.services_path(), '/etc/edgeclass/services.json')
            os.environ[services.SERVICES_ENV] = ''
            self.assertEqual(services.services_path(), services.DEFAULT_SERVICES_PATH)
        finally:
            if saved is not None:
                os.environ[services.SERVICES_ENV] = saved

    def test_services_are_kept_for_the_life_of_the_process(self):
        name = helpers.unique_name('kept')
        env = services_env(helpers.connector(helpers.parameters(name)))
        with env as path:
            first = call(ml.client('inference'), ServiceName=name, Body=PNG)['Body'].read()
            os.remove(path)                                   # the file is read once
            again = call(ml.client('inference'), ServiceName=name, Body=PNG)['Body'].read()
        self.assertEqual(first, again)
        handle = edgeclass.Service.find(name)                 # open in the library, once
        self.assertEqual(handle.info()['requests'], 2)
        handle.free()

    def test_already_open_through_the_binding(self):
        name = helpers.unique_name('prior')
        low = edgeclass.Service.open(helpers.parameters(name))
        with services_env(helpers.connector(helpers.parameters(name))):
            self.assertTrue(call(ml.client('inference'), ServiceName=name)['Body'].read())
        low.free()

    def test_fixture_documents_as_the_rust_parser(self):
        # tests/fixtures/services: the documents tests/service_definition.rs parses, with the
        # same connectors, names and per-entry error texts.
        folder = os.path.join(helpers.FIXTURES, 'services')
        with open(os.path.join(folder, 'expected.json')) as f:
            documents = json.load(f)['documents']
        for name, want in sorted(documents.items()):
            path = os.path.join(folder, name)
            if 'error' in want:
                with self.assertRaises(services.ServicesFileError) as cm:
                    services.load_services_file(path)
                self.assertIn(want['error'], str(cm.exception), name)
                continue
            got = services.load_services_file(path)
            wanted = [c for c in want['connectors'] if c['kind'] == 'service']
            self.assertEqual(len(got), len(wanted), name)
            for (n, p), c in zip(got, wanted):
                if c['error']:
                    self.assertIsInstance(p, services.ServicesFileError, name)
                    self.assertIn(c['error'], str(p), name)
                    # A duplicate's name stays with the first entry.
                    self.assertIn(n, (c['name'], None), name)
                else:
                    self.assertEqual((n, p['LocalInferenceServiceName']),
                                     (c['name'], c['name']), name)
            feedback = services.load_feedback_connectors(path)
            self.assertEqual([f.where for f in feedback],
                             ['%s: Connectors[%d] (Id "%s")' % (path, i, c['id'])
                              for i, c in enumerate(want['connectors'])
                              if c['kind'] == 'feedback'], name)


class Threads(unittest.TestCase):

    def test_eight_threads_share_one_service_with_serial_answers(self):
        client, name = shared_service()
        images = helpers.digit_images()
        serial = [call(client, ServiceName=name, Body=b)['Body'].read() for _, b in images]
        rounds = 4
        results = {}
        errors = []

        def worker(t):
            try:
                order = list(range(len(images)))
                order = order[t % len(order):] + order[:t % len(order)]    # different orders
                mine = []
                for _ in range(rounds):
                    for i in order:
                        resp = call(client, ServiceName=name, Body=bytearray(images[i][1]))
                        mine.append((i, resp['Body'].read()))
                results[t] = mine
            except Exception as e:      # reported below, with the thread's number
                errors.append((t, repr(e)))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 8)
        for t, answers in results.items():
            self.assertEqual(len(answers), rounds * len(images))
            for i, body in answers:
                self.assertEqual(body, serial[i], 'thread %d, %s' % (t, images[i][0]))


if __name__ == '__main__':
    unittest.main()
