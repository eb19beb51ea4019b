"""The functions an export traces into its SavedModel: preprocessing, the model, bit packing.

Everything here runs as stock TensorFlow ops, so TF Serving (or `tf.saved_model.load` in a
process that never imports this package) can run the graph without any Python code of ours.
"""

import tensorflow as tf

from dmrh_tf.data.preprocessing import resize_images
from dmrh_tf.model import model_bits, model_regions
from serving import contract

# np.packbits order: the first code of each group of 8 is the most significant bit.
_BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)


def pack_bits(codes):
    """±1 codes [B, K] → uint8 [B, ceil(K/8)], MSB-first, bit 1 for +1, zero-padded like np.packbits."""
    bits = codes.shape[-1]
    pad = -bits % 8
    ones = tf.cast(codes > 0, tf.int32)
    ones = tf.pad(ones, [[0, 0], [0, pad]])
    groups = tf.reshape(ones, [-1, (bits + pad) // 8, 8])
    return tf.cast(tf.reduce_sum(groups * tf.constant(_BIT_WEIGHTS, tf.int32), axis=-1), tf.uint8)


class ServingGraph:
    """The three endpoint functions of an export of `model` (built by `dmrh_tf.build_model`).

    `images(uint8 [B, H, W, 3])` and `image_bytes(string [B])` both return
    `{"codes": int8 [B, K], "packed": uint8 [B, ceil(K/8)], "h": float32 [B, K]}`;
    `metadata()` returns scalars (code length, region grid, input side, the run's config JSON and
    the weights hash of `dmrh_tf.index.model_fingerprint`, which identifies the model's codes).
    Images are resized with `dmrh_tf.data.preprocessing.resize_images`, the function training used.
    """

    def __init__(self, model, config_json, weights_sha256):
        self.model = model
        self.bits = model_bits(model)
        self.regions = model_regions(model)
        self.side = int(model.input.shape[1])
        self.config_json = config_json
        self.weights_sha256 = weights_sha256

    def input_signatures(self):
        """`(name, function, input_signature)` of each endpoint, `serving_default` first."""
        return [
            (
                contract.IMAGES_SIGNATURE,
                self.hash_images,
                [tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.IMAGES_INPUT)],
            ),
            (
                contract.BYTES_SIGNATURE,
                self.hash_image_bytes,
                [tf.TensorSpec([None], tf.string, name=contract.BYTES_INPUT)],
            ),
            (contract.METADATA_SIGNATURE, self.metadata, []),
        ]

    def _hash(self, pixels):
        outputs = self.model(pixels, training=False)
        codes = outputs["codes"]
        return {
            contract.CODES_OUTPUT: tf.cast(codes, tf.int8),
            contract.PACKED_OUTPUT: pack_bits(codes),
            contract.H_OUTPUT: tf.cast(outputs["h"], tf.float32),
        }

    def hash_images(self, images):
        """uint8 images [B, H, W, 3] of any size → codes, resized as in training."""
        return self._hash(resize_images(images, self.side))

    def hash_image_bytes(self, image_bytes):
        """Encoded images [B] (JPEG, PNG, BMP or GIF's first frame; sizes may differ) → codes."""

        def decode_and_resize(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            return resize_images(image, self.side)

        pixels = tf.map_fn(
            decode_and_resize,
            image_bytes,
            fn_output_signature=tf.TensorSpec([self.side, self.side, 3], tf.float32),
        )
        return self._hash(pixels)

    def metadata(self):
        """What a client needs to know about the export, as constants."""
        return {
            contract.BITS_OUTPUT: tf.constant(self.bits, tf.int32),
            contract.REGIONS_OUTPUT: tf.constant(self.regions, tf.int32),
            contract.INPUT_SIDE_OUTPUT: tf.constant(self.side, tf.int32),
            contract.CONFIG_OUTPUT: tf.constant(self.config_json),
            contract.WEIGHTS_OUTPUT: tf.constant(self.weights_sha256),
        }
