"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`, a TFRecord of PredictionLog.

TF Serving replays every `predict_log.request` when it loads a version, before the version serves,
so the first real request does not pay for graph initialisation. The local server does the same.
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract


def warmup_path(version_dir):
    return os.path.join(version_dir, contract.ASSETS_EXTRA_DIR, contract.WARMUP_FILE)


def _png(image):
    return tf.io.encode_png(image).numpy()


def warmup_requests(model_name, side):
    """One request per hashing signature: a batch of 1 image of the model's input size."""
    # A smooth gradient rather than a constant, so that decoding and resizing do real work.
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    image = np.stack(
        [np.add.outer(ramp, ramp) / 2, np.tile(ramp, (side, 1)), np.full((side, side), 128.0)], -1
    )
    image = image.astype(np.uint8)
    images = predict_pb2.PredictRequest()
    images.model_spec.name = model_name
    images.model_spec.signature_name = contract.IMAGES_SIGNATURE
    images.inputs[contract.IMAGES_INPUT].CopyFrom(tf.make_tensor_proto(image[None]))
    encoded = predict_pb2.PredictRequest()
    encoded.model_spec.name = model_name
    encoded.model_spec.signature_name = contract.BYTES_SIGNATURE
    encoded.inputs[contract.BYTES_INPUT].CopyFrom(tf.make_tensor_proto([_png(image)]))
    return [images, encoded]


def write_warmup(version_dir, requests):
    """Write `requests` (PredictRequest messages) as TF Serving's warm-up file of `version_dir`."""
    path = warmup_path(version_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup(version_dir):
    """The PredictRequests of `version_dir`'s warm-up file (an empty list when it has none)."""
    path = warmup_path(version_dir)
    if not os.path.exists(path):
        return []
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") == "predict_log":
            requests.append(log.predict_log.request)
    return requests
