"""DCH's Cauchy cross-entropy with the Cauchy quantization term (Cao et al., CVPR 2018), in-batch.

For rows i (the replica's share of the global batch) against columns j (the global batch itself),
ordered pairs i ≠ j, s_ij = 1 if images i and j share at least one label, else 0, and a Cauchy
probability σ_ij = γ / (γ + d_ij) that the pair is similar:

    ℓ_ij = −s_ij log σ_ij − (1 − s_ij) log(1 − σ_ij)
         = s_ij log(1 + d_ij/γ) + (1 − s_ij) log(1 + γ/d_ij)      (the paper's s log(d/γ) + log(1 + γ/d))

`distance="cosine"` (the paper's form, default), linear h:

    d_ij = (K/2)(1 − min(cos(h_i, h_j), 0.99)),   cos = h_iᵀh_j / max(‖h_i‖‖h_j‖, 1e-4)
    L = 1/|S₁| Σ_{similar i≠j} ℓ_ij + 1/|S₀| Σ_{dissimilar i≠j} ℓ_ij  (w = |S|/|S₁|, |S|/|S₀|; mean over |S|)
        (or 1/|S| Σ_{i≠j} ℓ_ij when the batch has only one kind of pair)
      + λ · 1/B Σ_i log(1 + d(|h_i|, 1)/γ)

with |S| = B(B−1) ordered pairs of the global batch, |S₁| of them similar and |S₀| dissimilar.
d ≥ 0.005·K, so no log 0. The clip zeroes the gradient of pairs with cos > 0.99, as in DeepHash-pytorch.

`distance="euclidean_tanh"` (the official TF code, `thulab/DeepHash` `dch.py`), u = tanh(h):

    d_ij = ‖u_i − u_j‖² + 10⁻³
    L = 1/|S| Σ_{i≠j} w_ij ℓ_ij,   w_ij = B²/#similar (counting the diagonal) if similar, else 1
      + λ · 1/(B·K) Σ_i ‖|u_i| − 1‖²

The pair counts come from the *global* batch's labels (`batch_labels`), never from the replica's
rows, so the replicas' losses add up to the one-device loss (tested).
"""

import keras
from keras import ops

from dmrh_tf.methods.dmrh_loss import pairwise_similarity
from dmrh_tf.methods.dsh_loss import squared_distances
from dmrh_tf.methods.hashing_loss import HashingLoss

DISTANCES = ("cosine", "euclidean_tanh")
MAX_COSINE = 0.99  # DeepHash-pytorch's clip: d ≥ 0.005·K > 0
MIN_NORM_PRODUCT = 1e-4  # DeepHash-pytorch's guard on ‖h_i‖‖h_j‖
EUCLIDEAN_OFFSET = 1e-3  # the official code's + 0.001 on the squared distance


def cosine_distances(a, b):
    """(K/2)(1 − min(cos(a_i, b_j), 0.99)) [a, b]; the norm product is floored at 1e-4 (as its square,
    so that the gradient stays finite for a zero row)."""
    bits = ops.cast(ops.shape(a)[1], "float32")
    squares_a = ops.sum(ops.square(a), axis=1, keepdims=True)
    squares_b = ops.sum(ops.square(b), axis=1, keepdims=True)
    norms = ops.sqrt(ops.maximum(squares_a * ops.transpose(squares_b), MIN_NORM_PRODUCT**2))
    cosine = ops.minimum(ops.matmul(a, ops.transpose(b)) / norms, MAX_COSINE)
    return 0.5 * bits * (1.0 - cosine)


def cauchy_cross_entropy(distances, similarity, gamma):
    """ℓ = s log(1 + d/γ) + (1 − s) log(1 + γ/d), elementwise (d > 0)."""
    return similarity * ops.log1p(distances / gamma) + (1.0 - similarity) * ops.log1p(gamma / distances)


def dch_loss(
    h,
    labels,
    columns_h,
    columns_labels,
    batch_labels=None,
    same_image=None,
    gamma=20.0,
    quantization_weight=0.1,
    distance="cosine",
    num_rows=None,
):
    """Return (loss, cauchy, quantization) for rows `h` [b, K] against the columns `columns_h` [M, K].

    loss = cauchy + λ·quantization (`quantization_weight` = λ). `batch_labels` [B, C] are the global
    batch's labels, whose pairs give the class-balancing weights (default: `columns_labels`);
    `same_image` [b, M] masks each row's own column (default: the identity, the rows are the
    columns); `num_rows` is the B of the normalisers (default: the rows given).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    h = ops.cast(h, "float32")
    columns_h = ops.cast(columns_h, "float32")
    b = ops.shape(h)[0]
    rows = ops.cast(b if num_rows is None else num_rows, "float32")
    bits = ops.cast(ops.shape(h)[1], "float32")
    batch_labels = columns_labels if batch_labels is None else batch_labels
    other = 1.0 - (ops.eye(b, dtype="float32") if same_image is None else ops.cast(same_image, "float32"))
    similarity = pairwise_similarity(labels, columns_labels)
    batch_similarity = pairwise_similarity(batch_labels, batch_labels)
    all_pairs = ops.maximum(rows * (rows - 1.0), 1.0)
    if distance == "cosine":
        distances = cosine_distances(h, columns_h)
        similar = ops.sum(batch_similarity) - ops.trace(batch_similarity)
        dissimilar = rows * (rows - 1.0) - similar
        both = ops.logical_and(similar > 0, dissimilar > 0)
        weight_similar = ops.where(both, 1.0 / ops.maximum(similar, 1.0), 1.0 / all_pairs)
        weight_dissimilar = ops.where(both, 1.0 / ops.maximum(dissimilar, 1.0), 1.0 / all_pairs)
        weights = similarity * weight_similar + (1.0 - similarity) * weight_dissimilar
        ones = ops.ones((1, ops.shape(h)[1]), dtype="float32")
        quantization = ops.sum(ops.log1p(cosine_distances(ops.abs(h), ones) / gamma)) / rows
    else:
        u = ops.tanh(h)
        distances = squared_distances(u, ops.tanh(columns_h)) + EUCLIDEAN_OFFSET
        similar_with_diagonal = ops.maximum(ops.sum(batch_similarity), 1.0)
        weights = (similarity * (rows * rows / similar_with_diagonal) + (1.0 - similarity)) / all_pairs
        quantization = ops.sum(ops.square(ops.abs(u) - 1.0)) / (rows * bits)
    cauchy = ops.sum(other * weights * cauchy_cross_entropy(distances, similarity, gamma))
    return cauchy + quantization_weight * quantization, cauchy, quantization


@keras.saving.register_keras_serializable(package="dmrh_tf")
class DCHLoss(HashingLoss):
    """DCH's loss (`dch_loss`) with its hyper-parameters, serializable; pairs within the global batch.

    `gamma` is the Cauchy scale γ (a pair's probability of being similar is ½ at d = γ),
    `quantization_weight` the λ of the quantization term, `distance` "cosine" (the paper's, on the
    linear h) or "euclidean_tanh" (the official code's, on tanh h; it used λ = 0).
    """

    columns = "batch"
    terms = ("cauchy", "quantization")

    def __init__(self, gamma=20.0, quantization_weight=0.1, distance="cosine", name="dch_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        if quantization_weight < 0:
            raise ValueError(f"quantization_weight must be >= 0, got {quantization_weight}")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.gamma = float(gamma)
        self.quantization_weight = float(quantization_weight)
        self.distance = distance

    def compute_terms(self, h, labels, columns):
        loss, cauchy, quantization = dch_loss(
            h,
            labels,
            columns.h,
            columns.labels,
            batch_labels=columns.batch_labels,
            same_image=columns.same_image,
            gamma=self.gamma,
            quantization_weight=self.quantization_weight,
            distance=self.distance,
            num_rows=columns.num_rows,
        )
        return loss, (cauchy, quantization)

    def get_config(self):
        config = super().get_config()
        config.update(gamma=self.gamma, quantization_weight=self.quantization_weight, distance=self.distance)
        return config
