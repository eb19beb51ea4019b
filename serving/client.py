"""Hash images through TF Serving (or the local server) over gRPC.

    python -m serving.client --target localhost:8500 a.jpg b.png     # one hex code per image
    python -m serving.client --target localhost:8500 --json a.jpg    # JSON

`HashingClient` uses only the standard TF Serving API (`PredictionServiceStub`,
`ModelServiceStub`) and the export's standard signatures, and parses every output with
`tf.make_ndarray`, so it works unchanged against the real server (which answers with typed
`*_val` fields) and against `serving.server`. Large batches are split into chunks of
`batch_size` images; each call has a deadline (`timeout` seconds) and is retried with exponential
back-off when the server is UNAVAILABLE or at its concurrent-request limit (only then); gRPC's
4 MiB message limit is lifted.
"""

import argparse
import concurrent.futures
import json
import logging
import sys
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import contract
from serving.retry import call_with_retries

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
MAX_REQUEST_BYTES = 64 << 20  # images (encoded or pixels) per request, on top of `batch_size`

State = get_model_status_pb2.ModelVersionStatus.State


def _as_rgb_uint8(image):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels 0..255, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"an image must be [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _image_chunks(images, batch_size, max_bytes=MAX_REQUEST_BYTES):
    """Batches [b, H, W, 3] of consecutive same-size images, at most `batch_size` images and (unless
    one image is larger) `max_bytes` of pixels each: servers bound their message size."""
    if isinstance(images, np.ndarray) and images.ndim == 4:  # one size: slice without copying
        if images.dtype != np.uint8:
            raise TypeError(f"images must be uint8 pixels 0..255, got dtype {images.dtype}")
        if images.shape[-1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got shape {images.shape}")
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        per_image = max(1, int(np.prod(images.shape[1:])))
        step = max(1, min(batch_size, max_bytes // per_image))
        return [images[i : i + step] for i in range(0, len(images), step)]
    chunks, current = [], []
    for image in images:
        image = _as_rgb_uint8(image)
        full = len(current) == batch_size or (len(current) + 1) * image.nbytes > max_bytes
        if current and (full or image.shape != current[0].shape):
            chunks.append(np.stack(current))
            current = []
        current.append(image)
    if current:
        chunks.append(np.stack(current))
    return chunks


def _bytes_chunks(encoded, batch_size, max_bytes=MAX_REQUEST_BYTES):
    chunks, current, size = [], [], 0
    for data in encoded:
        if current and (len(current) == batch_size or size + len(data) > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(bytes(data))
        size += len(data)
    if current:
        chunks.append(current)
    return chunks


def to_hex(packed):
    """Hex strings of packed codes [n, ceil(K/8)] (MSB-first; when K % 8 != 0 the last bits are 0)."""
    return [row.tobytes().hex() for row in np.asarray(packed, np.uint8)]


class HashingClient:
    """A client of the `dmrh` hashing signatures served by TF Serving at `target` ("host:port").

    `version` pins a model version (None: the latest the server serves). `timeout` is the
    deadline of each RPC in seconds; `retries`, `initial_backoff` and `max_backoff` govern
    retries on UNAVAILABLE; `concurrency` chunks are in flight at once. Errors surface as
    `grpc.RpcError` with TF Serving's status code (`.code()`) and message (`.details()`).
    """

    def __init__(
        self,
        target,
        model_name=contract.DEFAULT_MODEL_NAME,
        *,
        version=None,
        timeout=30.0,
        batch_size=32,
        retries=4,
        initial_backoff=0.1,
        max_backoff=5.0,
        concurrency=1,
        channel=None,
    ):
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be >= 1")
        self.target = target
        self.model_name = model_name
        self.version = version
        self.timeout = timeout
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._retry = dict(retries=retries, initial_backoff=initial_backoff, max_backoff=max_backoff)
        self._own_channel = channel is None
        self.channel = (
            channel if channel is not None else grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_service = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self._bits = None

    # --- plumbing ---

    def _model_spec(self, spec, signature_name=None):
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = int(self.version)
        if signature_name is not None:
            spec.signature_name = signature_name

    def _call(self, method, request, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        return call_with_retries(lambda: method(request, timeout=timeout), **self._retry)

    def predict(self, signature_name, inputs, output_filter=(), timeout=None):
        """Raw Predict: `inputs` alias → array-like; returns (alias → np.ndarray, response.model_spec)."""
        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, signature_name)
        for alias, value in inputs.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self._call(self.prediction.Predict, request, timeout)
        return {
            alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()
        }, response.model_spec

    def _hash_chunks(self, signature_name, input_name, chunks, output):
        outputs = (output,) if isinstance(output, str) else tuple(output)
        unknown = set(outputs) - set(contract.HASH_OUTPUTS)
        if unknown:
            raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {contract.HASH_OUTPUTS}")

        def run(chunk):
            return self.predict(signature_name, {input_name: chunk}, output_filter=outputs)[0]

        if self.concurrency > 1 and len(chunks) > 1:
            with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
                results = list(pool.map(run, chunks))
        else:
            results = [run(chunk) for chunk in chunks]
        merged = {}
        for name in outputs:
            parts = [r[name] for r in results]
            merged[name] = np.concatenate(parts) if parts else self._empty(name)
        return merged[output] if isinstance(output, str) else merged

    def _empty(self, output):
        bits = self.code_length()
        if output == contract.PACKED_OUTPUT:
            return np.zeros((0, -(-bits // 8)), np.uint8)
        return np.zeros((0, bits), np.int8 if output == contract.CODES_OUTPUT else np.float32)

    # --- hashing ---

    def hash_images(self, images, output=contract.CODES_OUTPUT):
        """Codes of uint8 images: an array [n, H, W, C] or a sequence of [H, W(, C)] of any sizes.

        `output`: "codes" (int8 ±1 [n, K]), "packed" (uint8 [n, ceil(K/8)]), "h" (float32 [n, K]),
        or a sequence of these (then a dict). Grey images are repeated to RGB; the server resizes.
        """
        chunks = _image_chunks(images, self.batch_size)
        return self._hash_chunks(contract.IMAGES_SIGNATURE, contract.IMAGES_INPUT, chunks, output)

    def hash_bytes(self, encoded, output=contract.CODES_OUTPUT):
        """Codes of encoded images (JPEG/PNG/BMP/GIF bytes), decoded and resized by the server."""
        chunks = _bytes_chunks(encoded, self.batch_size)
        return self._hash_chunks(contract.BYTES_SIGNATURE, contract.BYTES_INPUT, chunks, output)

    def hash_files(self, paths, output=contract.CODES_OUTPUT):
        """Codes of image files, sent as their encoded bytes (the `hash_bytes` signature)."""
        encoded = []
        for path in paths:
            with open(path, "rb") as f:
                encoded.append(f.read())
        return self.hash_bytes(encoded, output)

    # --- model information ---

    def metadata(self):
        """GetModelMetadata: {"name", "version", "signatures": {name: {"inputs", "outputs", "method"}}}.

        Each input/output is {"dtype": numpy dtype name, "shape": [dims, -1 unknown]}.
        """
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec)
        response = self._call(self.prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)

        def tensors(infos):
            return {
                alias: {
                    "dtype": tf.as_dtype(info.dtype).name,
                    "shape": [d.size for d in info.tensor_shape.dim]
                    if not info.tensor_shape.unknown_rank
                    else None,
                }
                for alias, info in sorted(infos.items())
            }

        signatures = {
            name: {"method": sig.method_name, "inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs)}
            for name, sig in sorted(signature_map.signature_def.items())
            if not name.startswith("__")
        }
        return {
            "name": response.model_spec.name,
            "version": response.model_spec.version.value,
            "signatures": signatures,
        }

    def export_info(self):
        """The export's `metadata` signature: bits, regions, input_side, max_pixels, config (dict),
        weights_sha256 (as `dmrh_tf.index.model_fingerprint`), and the served version.

        It sends `rows=[0]` and reads row 0, which works under TF Serving's batching; exports made
        before the signature had that input are called without inputs (scalars).
        """
        inputs = self.metadata()["signatures"][contract.METADATA_SIGNATURE]["inputs"]
        request = {contract.METADATA_INPUT: np.zeros([1], np.int32)} if inputs else {}
        values, spec = self.predict(contract.METADATA_SIGNATURE, request)

        def first(name):
            value = values[name]
            return value.reshape(-1)[0] if value.ndim else value.item()

        info = {
            name: int(first(name))
            for name in (contract.BITS_OUTPUT, contract.REGIONS_OUTPUT, contract.INPUT_SIDE_OUTPUT)
        }
        if contract.MAX_PIXELS_OUTPUT in values:
            info[contract.MAX_PIXELS_OUTPUT] = int(first(contract.MAX_PIXELS_OUTPUT))
        info[contract.CONFIG_OUTPUT] = json.loads(first(contract.CONFIG_OUTPUT).decode())
        info[contract.WEIGHTS_OUTPUT] = first(contract.WEIGHTS_OUTPUT).decode()
        info["version"] = spec.version.value
        return info

    def code_length(self):
        """K, read once from the served signature's `codes` output shape."""
        if self._bits is None:
            outputs = self.metadata()["signatures"][contract.IMAGES_SIGNATURE]["outputs"]
            self._bits = int(outputs[contract.CODES_OUTPUT]["shape"][-1])
        return self._bits

    def status(self, timeout=None):
        """GetModelStatus: [{"version", "state" (name), "error_code", "error_message"}], newest first."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._call(self.model_service.GetModelStatus, request, timeout)
        return [
            {
                "version": s.version,
                "state": State.Name(s.state),
                "error_code": s.status.error_code,
                "error_message": s.status.error_message,
            }
            for s in response.model_version_status
        ]

    def wait_until_available(self, timeout=60.0, interval=0.5):
        """Poll GetModelStatus until a version is AVAILABLE (the readiness probe); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if any(s["state"] == "AVAILABLE" for s in self.status(timeout=interval * 4)):
                    return True
            except grpc.RpcError as error:
                log.debug("not ready: %s", error.code())
            if time.monotonic() + interval > deadline:
                return False
            time.sleep(interval)

    def close(self):
        if self._own_channel:
            self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Hash image files with a dmrh model served by TF Serving: one hex code per image.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="JPEG/PNG/BMP/GIF files")
    parser.add_argument("--target", default="localhost:8500", help="gRPC host:port of the server")
    parser.add_argument("--model-name", default=contract.DEFAULT_MODEL_NAME, help="model name on the server")
    parser.add_argument("--model-version", type=int, default=None, help="pin a version (default: latest)")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of each request, seconds")
    parser.add_argument("--batch-size", type=int, default=32, help="images per request")
    parser.add_argument("--json", action="store_true", help="print JSON instead of 'HEX  PATH' lines")
    parser.add_argument(
        "--status",
        action="store_true",
        help="print the model's version status (JSON); exit 1 unless a version is AVAILABLE (readiness)",
    )
    parser.add_argument("--metadata", action="store_true", help="print the export's metadata (JSON)")
    args = parser.parse_args(argv)
    if not (args.images or args.status or args.metadata):
        parser.error("give IMAGE files, --status or --metadata")
    return args


def main(argv=None, out=None):
    args = parse_args(argv)
    out = out or sys.stdout
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    client = HashingClient(
        args.target,
        args.model_name,
        version=args.model_version,
        timeout=args.timeout,
        batch_size=args.batch_size,
    )
    ready = True
    try:
        if args.status:
            status = client.status()
            print(json.dumps(status, indent=2), file=out)
            ready = any(s["state"] == "AVAILABLE" for s in status)
        if args.metadata:
            print(json.dumps(client.export_info(), indent=2), file=out)
        if args.images:
            result = client.hash_files(args.images, output=(contract.CODES_OUTPUT, contract.PACKED_OUTPUT))
            bits = result[contract.CODES_OUTPUT].shape[1]
            codes = to_hex(result[contract.PACKED_OUTPUT])
            if args.json:
                rows = [{"image": p, "code": c, "bits": bits} for p, c in zip(args.images, codes)]
                print(json.dumps(rows, indent=2), file=out)
            else:
                for path, code in zip(args.images, codes):
                    print(f"{code}  {path}", file=out)
    except grpc.RpcError as error:
        log.error("%s: %s", error.code().name, error.details())
        return 1
    except OSError as error:
        log.error("%s", error)
        return 1
    finally:
        client.close()
    return 0 if ready else 1


if __name__ == "__main__":
    raise SystemExit(main())
