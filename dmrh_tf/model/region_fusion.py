"""Fusion of the N×N grid of region outputs into one image-level output."""

import keras
from keras import ops

WEIGHTINGS = ("magnitude", "learned")


@keras.saving.register_keras_serializable(package="dmrh_tf")
class RegionFusion(keras.layers.Layer):
    """Region outputs `u` [B, N, N, K] → fused output `h` [B, K].

    `weighting="magnitude"` (default, the paper's): `h_i = (1/N²) Σ_k w_ik ⊗ b_ik` with
    `b_ik = sign(u_ik)` and `w_ik = |u_ik|` as in the authors' release, which is exactly the mean of
    the raw region outputs, `h_i = (1/N²) Σ_k u_ik`; computed as that mean, so the gradient is the
    release's.

    `weighting="learned"` (an extension, off by default): `h_i = Σ_k softmax_k(a)_k ⊙ u_ik` with one
    learned logit per region and bit, initialised to 0 so training starts from the plain mean.
    The output is float32 whatever the compute dtype, so the loss is taken in full precision.
    """

    def __init__(self, weighting="magnitude", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.weighting = weighting

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                f"RegionFusion expects region outputs [B, N, N, K] with known N, K; got {input_shape}"
            )
        if self.weighting == "learned":
            self.region_logits = self.add_weight(
                name="region_logits",
                shape=(input_shape[1] * input_shape[2], input_shape[3]),
                initializer="zeros",
            )

    def call(self, region_outputs):
        flat = ops.reshape(region_outputs, (ops.shape(region_outputs)[0], -1, region_outputs.shape[-1]))
        if self.weighting == "magnitude":
            return ops.mean(flat, axis=1)
        weights = ops.softmax(self.region_logits, axis=0)
        return ops.sum(flat * weights[None], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(weighting=self.weighting)
        return config
