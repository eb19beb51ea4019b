"""The serving contract: the names every export, server and client agree on.

A client written against these names works unchanged against the real TensorFlow Serving, because
they are plain SavedModel signature, input and output names (no custom ops, no custom messages).
This module imports nothing heavy, so clients can use it without TensorFlow's model code.
"""

DEFAULT_MODEL_NAME = "dmrh"  # the model name in BASE/NAME/<version>/ and in every ModelSpec

# Signatures (method name tensorflow/serving/predict).
IMAGES_SIGNATURE = "serving_default"  # uint8 [B, H, W, 3] pixels of any size → codes
BYTES_SIGNATURE = "hash_bytes"  # encoded JPEG/PNG/BMP/GIF strings [B] → codes
METADATA_SIGNATURE = "metadata"  # rows int32 [R] → R copies of the facts describing the export

# Inputs.
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"
METADATA_INPUT = "rows"  # int32 [R], values ignored: send [0] and read row 0 (batchable, unlike no input)

# Outputs of both hashing signatures.
CODES_OUTPUT = "codes"  # int8 [B, K], ±1
PACKED_OUTPUT = "packed"  # uint8 [B, ceil(K/8)], MSB-first like np.packbits, bit 1 for code +1
H_OUTPUT = "h"  # float32 [B, K], the fused real-valued outputs whose signs are the codes
HASH_OUTPUTS = (CODES_OUTPUT, PACKED_OUTPUT, H_OUTPUT)

# Outputs of the metadata signature (each [R]: one row per element of `rows`).
BITS_OUTPUT = "bits"  # int32: the code length K
REGIONS_OUTPUT = "regions"  # int32: the region grid N
INPUT_SIDE_OUTPUT = "input_side"  # int32: the side S = 192 + 32·N images are resized to
MAX_PIXELS_OUTPUT = "max_pixels"  # int64: the largest image (H × W) either hashing signature accepts
CONFIG_OUTPUT = "config"  # string: the run's resolved Config as JSON, without server paths
WEIGHTS_OUTPUT = "weights_sha256"  # string: dmrh_tf.index.model_fingerprint's hash of the weights
METADATA_OUTPUTS = (
    BITS_OUTPUT,
    REGIONS_OUTPUT,
    INPUT_SIDE_OUTPUT,
    MAX_PIXELS_OUTPUT,
    CONFIG_OUTPUT,
    WEIGHTS_OUTPUT,
)

# Files next to saved_model.pb (TF Serving reads assets.extra/tf_serving_warmup_requests).
ASSETS_EXTRA_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"  # TFRecord of PredictionLog, replayed at load
CONFIG_FILE = "dmrh_config.json"  # the run's Config, the model fingerprint, the contract

PREDICT_METHOD_NAME = "tensorflow/serving/predict"
