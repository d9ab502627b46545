"""A Lambda in the style of the ML Feedback connector's documentation: classify an image with
the local inference service, then send the image and its prediction to the ML Feedback
connector with ``publish``.

    python feedback_lambda.py IMAGE SERVICE CONFIG_ID [METADATA_JSON]

Run it beside ``edgeclass serve --feedback-upload-command CMD`` with ``EDGECLASS_SOCKET`` naming
the daemon's socket: the daemon classifies, spools the sample, uploads it through CMD and
publishes the connector's ``feedback/message/status`` and ``feedback/message/prediction``
messages (to MQTT when the feedback connector names a broker). Prints the prediction as JSON.
Standard library only (Python 2.7 and 3).
"""

import json
import sys

import greengrass_machine_learning_sdk as ml


def main(argv):
    image, service, config_id = argv[1:4]
    metadata = json.loads(argv[4]) if len(argv) > 4 else {}
    with open(image, 'rb') as f:
        content = f.read()
    content_type = 'image/png' if image.endswith('.png') else 'image/jpeg'

    inference = ml.client('inference')
    resp = inference.invoke_inference_service(AlgoType='image-classification',
                                              ServiceName=service, ContentType=content_type,
                                              Body=content)
    # The connector's answer: [0.3,0.1,0.04,...]
    prediction = json.loads(resp['Body'].read().decode('ascii'))

    feedback = ml.client('feedback')
    feedback.publish(ConfigId=config_id, ModelInput=content, ModelPrediction=prediction,
                     Metadata=metadata)
    print(json.dumps(prediction))


if __name__ == '__main__':
    main(sys.argv)
