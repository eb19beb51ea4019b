"""Out-of-sample codes: `b_q = sign(mean_k f(x_q))` at the model's own input side."""

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dmrh_tf.data.pipeline import inference_dataset
from dmrh_tf.data.splits import Split


def encode_split(model, split, batch_size=128, output="codes", progress=False):
    """The `output` ("codes" ±1 int8, or "h" float32) of every image of `split`, in order."""
    side = int(model.input.shape[1])
    infer = tf.function(lambda x: model(x, training=False)[output], reduce_retracing=True)
    parts = []
    batches = inference_dataset(split, side, batch_size)
    total = -(-len(split) // batch_size)
    for batch in tqdm(batches, total=total, desc=f"encoding {len(split)} images", disable=not progress):
        parts.append(infer(batch).numpy())
    values = np.concatenate(parts) if parts else np.zeros((0, model.output[output].shape[-1]))
    return values.astype(np.int8) if output == "codes" else values.astype(np.float32)


def encode(model, images, batch_size=128, progress=False):
    """±1 int8 codes [n, K] of uint8 images [n, H, W, C] (any size; resized like training)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be [n, H, W, C], got shape {images.shape}")
    n = len(images)
    split = Split(np.arange(n).astype(str), np.zeros((n, 1), np.float32), images)
    return encode_split(model, split, batch_size=batch_size, progress=progress)
