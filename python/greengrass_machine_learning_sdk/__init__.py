"""A drop-in ``greengrass_machine_learning_sdk`` over edgeclass (Python 2.7 and 3.x).

The AWS IoT Greengrass v1 ML SDK's public surface, answering from edgeclass instead of the ML
Image Classification connector::

    import greengrass_machine_learning_sdk as ml
    client = ml.client('inference')
    resp = client.invoke_inference_service(AlgoType='image-classification',
                                           ServiceName='imageClassification',
                                           ContentType='image/jpeg', Body=image_bytes)
    resp['Body'].read()     # b'[0.3,0.1,0.04,...]'

    ml.client('feedback').publish(ConfigId='MyConfig0', ModelInput=image_bytes,
                                  ModelPrediction=[0.3, 0.1, 0.6], Metadata={'camera': 'door'})

Services and ML Feedback connectors come from a connector definition file
(``EDGECLASS_SERVICES``, default ``/etc/edgeclass/services.json``): see
``greengrass_machine_learning_sdk.services``. ``GreengrassFeedbackException`` is in
``greengrass_machine_learning_sdk.feedback``, as in the SDK.
"""

import logging

from .client import client
from .exception import GreengrassDependencyException
from .inference import GreengrassInferenceException, StreamingBody

__all__ = ['client', 'GreengrassInferenceException', 'StreamingBody',
           'GreengrassDependencyException']

__version__ = '1.1.0+edgeclass.0.1.0'

# A library logs through its own logger and leaves the handlers to the program (the Lambda).
logging.getLogger(__name__).addHandler(logging.NullHandler())
