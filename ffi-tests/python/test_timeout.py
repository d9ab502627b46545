"""Deadlines and cancel on a deliberately slow model: the service's 1-second
``LocalInferenceServiceTimeoutSeconds`` through the SDK (GreengrassDependencyException), a
request's own ``timeout_ms`` and a cancel from another thread through the binding."""

import os
import threading
import time
import unittest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import services

import edgeclass
import helpers

BODY = helpers.read(os.path.join(helpers.DIGITS, 'digit19_label9_112x112.png'))


def setUpModule():
    helpers.capture_library_log()


class SlowModel(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # A model whose one inference takes well over the 1 s deadline on this machine: the
        # full run is timed on a service with a generous deadline, and the model made deeper
        # if the machine is fast.
        layers = 300
        for _ in range(4):
            model = helpers.write_slow_model(helpers.temp_dir('slow'), layers)
            generous = edgeclass.Service.open(helpers.parameters(
                helpers.unique_name('slow-generous'), model=model,
                LocalInferenceServiceTimeoutSeconds='60',
                LocalInferenceServiceMemoryLimitKB='1000000'))
            t = time.time()
            generous.classify(BODY).free()
            cls.full_run = time.time() - t
            if cls.full_run >= 2.0:
                break
            generous.close()
            layers *= 2
        cls.generous = generous
        cls.name = helpers.unique_name('slow')
        cls.services_file = helpers.write_services({'Connectors': [helpers.connector(
            helpers.parameters(cls.name, model=model, LocalInferenceServiceTimeoutSeconds='1',
                               LocalInferenceServiceMemoryLimitKB='1000000'))]})

    @classmethod
    def tearDownClass(cls):
        cls.generous.close()

    def test_service_timeout_surfaces_as_dependency_exception(self):
        os.environ[services.SERVICES_ENV] = self.services_file
        client = ml.client('inference')
        services.ensure_open(self.name)         # model load and warm-up outside the timing
        t = time.time()
        with self.assertRaises(ml.GreengrassDependencyException) as cm:
            client.invoke_inference_service(AlgoType='image-classification',
                                            ServiceName=self.name, ContentType='image/png',
                                            Body=BODY)
        took = time.time() - t
        e = cm.exception
        self.assertEqual(e.code, edgeclass.TIMEOUT, str(e))
        self.assertEqual(e.name, 'EDGECLASS_TIMEOUT')
        self.assertIn('deadline', str(e))
        self.assertTrue(0.95 <= took < min(self.full_run, 1.0 + 1.0),
                        'timed out after %.2f s (a full run takes %.2f s)'
                        % (took, self.full_run))
        info = edgeclass.Service.find(self.name)
        self.assertGreaterEqual(info.info()['timeouts'], 1)
        info.free()

    def test_request_timeout_ms(self):
        t = time.time()
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            self.generous.classify(BODY, request=edgeclass.Request(timeout_ms=100))
        took = time.time() - t
        self.assertEqual(cm.exception.code, edgeclass.TIMEOUT, str(cm.exception))
        self.assertTrue(0.09 <= took < 0.9, took)

    def test_cancel_from_another_thread(self):
        req = edgeclass.Request()
        canceller = threading.Timer(0.2, req.cancel)
        t = time.time()
        canceller.start()
        try:
            with self.assertRaises(edgeclass.EdgeclassError) as cm:
                self.generous.classify(BODY, request=req)
        finally:
            canceller.join()
        took = time.time() - t
        self.assertEqual(cm.exception.code, edgeclass.CANCELLED, str(cm.exception))
        self.assertTrue(0.19 <= took < min(self.full_run, 1.0), took)
        req.free()


if __name__ == '__main__':
    unittest.main()
