"""Encode image files through a served model (TF Serving or `serving.server`): no model here."""

from dmrh_tf.index.image_files import check_files


class ServingEncoder:
    """Callable `paths → ±1 int8 codes [n, bits]` that sends the files to a hashing server.

    The files go as encoded bytes to the export's `hash_bytes` signature, which decodes and
    resizes them as `ImageEncoder` does. The fingerprint comes from the export's `metadata`
    signature (code length, input side and the same weights hash as `model_fingerprint`), so an
    index refuses a server that serves another model, exactly as it refuses another model file.

    Args:
        client: a `serving.client.HashingClient` (or anything with its `hash_files`,
            `export_info` and `target`/`model_name`).
    """

    def __init__(self, client):
        self.client = client
        info = client.export_info()
        self.fingerprint = {
            "bits": info["bits"],
            "input_side": info["input_side"],
            "weights_sha256": info["weights_sha256"],
            "source": f"{client.model_name} version {info['version']} served at {client.target}",
        }

    @property
    def bits(self):
        return self.fingerprint["bits"]

    def __call__(self, paths):
        paths = list(paths)
        check_files(paths)
        return self.client.hash_files(paths)
