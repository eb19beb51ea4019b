"""The functions an export traces into its SavedModel: preprocessing, the model, bit packing.

Everything here runs as stock TensorFlow ops, so TF Serving (or `tf.saved_model.load` in a
process that never imports this package) can run the graph without any Python code of ours.
"""

import tensorflow as tf

from dmrh_tf.data.preprocessing import resize_images
from dmrh_tf.model import model_bits, model_regions
from serving import contract
from serving.image_limits import DEFAULT_MAX_PIXELS, check_encoded, check_images

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
    `metadata(rows int32 [R])` returns R copies of each fact (code length, region grid, input side,
    pixel limit, the run's config JSON without server paths, and the weights hash of
    `dmrh_tf.index.model_fingerprint`, which identifies the model's codes).
    Images are resized with `dmrh_tf.data.preprocessing.resize_images`, the function training used, one
    image at a time (so a request holds at most one image as float32 besides its input), after
    `serving.image_limits` has checked its size against `max_pixels`. An empty batch answers empty
    outputs without running the model (oneDNN's Conv2D fails on an empty batch).
    """

    def __init__(self, model, config_json, weights_sha256, max_pixels=DEFAULT_MAX_PIXELS):
        if int(max_pixels) < 1:
            raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
        self.model = model
        self.bits = model_bits(model)
        self.regions = model_regions(model)
        self.side = int(model.input.shape[1])
        self.config_json = config_json
        self.weights_sha256 = weights_sha256
        self.max_pixels = int(max_pixels)

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
            (
                contract.METADATA_SIGNATURE,
                self.metadata,
                [tf.TensorSpec([None], tf.int32, name=contract.METADATA_INPUT)],
            ),
        ]

    def _resized(self, images):
        """Per-image `resize_images` ([n, ...] → float32 [n, S, S, 3]); sequential to bound memory."""
        return tf.map_fn(
            lambda image: resize_images(image, self.side),
            images,
            fn_output_signature=tf.TensorSpec([self.side, self.side, 3], tf.float32),
            parallel_iterations=1,
        )

    def _hash(self, pixels):
        def run():
            outputs = self.model(pixels, training=False)
            codes = outputs["codes"]
            return {
                contract.CODES_OUTPUT: tf.cast(codes, tf.int8),
                contract.PACKED_OUTPUT: pack_bits(codes),
                contract.H_OUTPUT: tf.cast(outputs["h"], tf.float32),
            }

        def empty():
            return {
                contract.CODES_OUTPUT: tf.zeros([0, self.bits], tf.int8),
                contract.PACKED_OUTPUT: tf.zeros([0, -(-self.bits // 8)], tf.uint8),
                contract.H_OUTPUT: tf.zeros([0, self.bits], tf.float32),
            }

        return tf.cond(tf.shape(pixels)[0] > 0, run, empty)

    def hash_images(self, images):
        """uint8 images [B, H, W, 3] of any size → codes, resized as in training."""
        with tf.control_dependencies([check_images(images, self.max_pixels)]):
            images = tf.identity(images)  # nothing below runs before the size check
        return self._hash(self._resized(images))

    def hash_image_bytes(self, image_bytes):
        """Encoded images [B] (JPEG, PNG, BMP or GIF's first frame; sizes may differ) → codes."""

        def decode_and_resize(data):
            with tf.control_dependencies([check_encoded(data, self.max_pixels)]):
                image = tf.io.decode_image(data, channels=3, expand_animations=False)
            return resize_images(image, self.side)

        pixels = tf.map_fn(
            decode_and_resize,
            image_bytes,
            fn_output_signature=tf.TensorSpec([self.side, self.side, 3], tf.float32),
            parallel_iterations=1,  # one decoded image at a time per request
        )
        return self._hash(pixels)

    def metadata(self, rows):
        """What a client needs to know about the export: each fact repeated for every row of `rows`.

        The input only gives the outputs a batch dimension, which TF Serving's batching needs
        (`--enable_batching` refuses a signature without inputs and splits outputs along dim 0).
        """
        count = tf.shape(rows)[:1]
        facts = {
            contract.BITS_OUTPUT: tf.constant(self.bits, tf.int32),
            contract.REGIONS_OUTPUT: tf.constant(self.regions, tf.int32),
            contract.INPUT_SIDE_OUTPUT: tf.constant(self.side, tf.int32),
            contract.MAX_PIXELS_OUTPUT: tf.constant(self.max_pixels, tf.int64),
            contract.CONFIG_OUTPUT: tf.constant(self.config_json),
            contract.WEIGHTS_OUTPUT: tf.constant(self.weights_sha256),
        }
        return {name: tf.fill(count, value) for name, value in facts.items()}
