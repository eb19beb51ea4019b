"""FSSH: fast scalable supervised hashing (Luo et al., SIGIR 2018), as the authors' `FSSH-TS`
(SDU-MIMA/FSSH @ 84c98f7)."""

from dataclasses import dataclass

import numpy as np

from dmrh_tf.evaluation.baselines._linear import as_features, check_bits, sign_codes

DEFAULT_ANCHORS = 1000  # RBF anchors drawn from the training set (`train_FSSH.m`)
DEFAULT_MU = 1e4  # μ, weight of ‖B − YG‖² (`param_mu`)
DEFAULT_THETA = 0.01  # θ, weight of ‖B − XW‖² (`param_theta`)
DEFAULT_ITERATIONS = 5  # alternating B, G, W updates (`Iter_num`)
DEFAULT_RIDGE = 1e-9  # the tiny ridge of the (YᵀY)⁻¹ and (XᵀX)⁻¹ solves, relative to the mean diagonal
OUT_OF_SAMPLE_RIDGE = 1.0  # the authors' P = (XᵀX + 1·I)⁻¹ XᵀB
_CHUNK_ENTRIES = 1 << 22  # rows × columns per chunk of the anchor distances and of the multi-label S


@dataclass(frozen=True)
class FSSH:
    """Supervised: `b(x) = sign(φ(x) P)`, φ the standardised RBF features of 1,000 training anchors.

    Fit (`FSSH.m`), with X = φ(training features) [n, m], Y the labels [n, c], S = 2·[YYᵀ > 0] − 1 [n, n]:

        min over B ∈ {±1}^{n×K}, G [c, K], W [m, K] of  ‖S − X W Gᵀ Yᵀ‖²_F + μ‖B − YG‖²_F + θ‖B − XW‖²_F

    S is never formed: only A = Xᵀ S Y [m, c] enters. From G, W ~ N(0, 1) (seeded), `iterations` times:

        B ← sgn(μ Y G + θ X W)
        G ← (YᵀY)⁻¹ (μ YᵀB + AᵀW) (μ I + Wᵀ XᵀX W)⁻¹
        W ← (XᵀX)⁻¹ (θ XᵀB + A G) (θ I + Gᵀ YᵀY G)⁻¹

    each the exact minimiser of its block, so the objective never increases (`objectives[t]` after
    iteration t). Out of sample, W is dropped for the ridge map P = (XᵀX + I)⁻¹ XᵀB. `codes` keeps B,
    the authors' database codes when the database is the training set.
    """

    anchors: np.ndarray  # [m, d] training rows drawn at random
    sigma: float  # RBF width σ of φ_j(x) = exp(−‖x − a_j‖² / (2σ²))
    mean: np.ndarray  # [m] training mean of φ
    scale: np.ndarray  # [m] training std of φ (1 where it is 0)
    projection: np.ndarray  # [m, K] P, the ridge map to B
    codes: np.ndarray  # [n, K] int8 B of the training items
    objectives: tuple[float, ...]  # the objective after each iteration

    @property
    def bits(self) -> int:
        return self.projection.shape[1]

    @classmethod
    def fit(
        cls,
        features,
        bits: int,
        seed: int = 0,
        labels=None,
        *,
        anchors: int = DEFAULT_ANCHORS,
        sigma: float | None = None,
        mu: float = DEFAULT_MU,
        theta: float = DEFAULT_THETA,
        iterations: int = DEFAULT_ITERATIONS,
        ridge: float = DEFAULT_RIDGE,
    ) -> "FSSH":
        """Fit on training `features` [n, d] and their `labels` (class ids [n], or one/multi-hot [n, c]).

        `sigma` defaults to the mean Euclidean distance from the training rows to the anchors, so that
        φ ≈ e^{−1/2} at a typical distance whatever the features' scale (the authors' σ = 0.4 fits
        their GIST vectors only).
        """
        if labels is None:
            raise ValueError("FSSH is supervised: pass the training labels")
        features = as_features(features)
        bits = check_bits(bits)
        Y = label_matrix(labels)
        if len(Y) != len(features):
            raise ValueError(f"{len(Y)} labels for {len(features)} training rows")
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(features), min(anchors, len(features)), replace=False))
        anchor_rows = np.array(features[chosen], np.float64)
        X = squared_distances(features, anchor_rows)
        if sigma is None:
            sigma = float(np.mean(np.sqrt(X))) or 1.0
        X *= -0.5 / sigma**2
        np.exp(X, out=X)  # in place: X is n × 1,000 float64
        mean = X.mean(axis=0)
        scale = X.std(axis=0, ddof=1) if len(X) > 1 else np.zeros_like(mean)
        scale = np.where(scale > 0, scale, 1.0)
        X -= mean
        X /= scale
        G = rng.standard_normal((Y.shape[1], bits))
        W = rng.standard_normal((X.shape[1], bits))
        B, G, W, objectives = fssh_train(X, Y, G, W, mu, theta, iterations, ridge)
        gram = X.T @ X
        projection = np.linalg.solve(gram + OUT_OF_SAMPLE_RIDGE * np.eye(len(gram)), X.T @ B)
        return cls(anchor_rows, float(sigma), mean, scale, projection, B.astype(np.int8), tuple(objectives))

    def encode(self, features) -> np.ndarray:
        """±1 int8 codes `[n, K]`."""
        features = as_features(features, self.anchors.shape[1])
        phi = np.exp(squared_distances(features, self.anchors) / (-2.0 * self.sigma**2))
        return sign_codes((phi - self.mean) / self.scale @ self.projection)


def fssh_train(X, Y, G, W, mu, theta, iterations, ridge=DEFAULT_RIDGE):
    """The alternating updates of `FSSH` from G, W: (B, G, W, objectives)."""
    A = X.T @ similarity_times_labels(Y)
    XtX, YtY = X.T @ X, Y.T @ Y
    objectives = []
    B = None
    for _ in range(iterations):
        B = fssh_b_step(X, Y, G, W, mu, theta)
        G = fssh_g_step(Y, A, B, W, XtX, YtY, mu, ridge)
        W = fssh_w_step(X, A, B, G, XtX, YtY, theta, ridge)
        objectives.append(fssh_objective(X, Y, A, B, G, W, mu, theta))
    return B, G, W, objectives


def fssh_b_step(X, Y, G, W, mu, theta):
    """B = sgn(μ YG + θ XW) (0 → −1): the objective's B-terms, μ‖B − YG‖² + θ‖B − XW‖², split by entry."""
    return np.where(mu * (Y @ G) + theta * (X @ W) > 0, 1.0, -1.0)


def fssh_g_step(Y, A, B, W, XtX, YtY, mu, ridge=DEFAULT_RIDGE):
    """G = (YᵀY)⁻¹ (μ YᵀB + AᵀW) (μ I + Wᵀ XᵀX W)⁻¹, where the objective's G-gradient vanishes."""
    G = _ridge_solve(YtY, mu * (Y.T @ B) + A.T @ W, ridge)
    return np.linalg.solve(mu * np.eye(W.shape[1]) + W.T @ XtX @ W, G.T).T


def fssh_w_step(X, A, B, G, XtX, YtY, theta, ridge=DEFAULT_RIDGE):
    """W = (XᵀX)⁻¹ (θ XᵀB + A G) (θ I + Gᵀ YᵀY G)⁻¹, where the objective's W-gradient vanishes."""
    W = _ridge_solve(XtX, theta * (X.T @ B) + A @ G, ridge)
    return np.linalg.solve(theta * np.eye(G.shape[1]) + G.T @ YtY @ G, W.T).T


def fssh_objective(X, Y, A, B, G, W, mu, theta) -> float:
    """‖S − XWGᵀYᵀ‖² + μ‖B − YG‖² + θ‖B − XW‖² without S, from A = XᵀSY and S's ±1 entries (‖S‖² = n²):
    ‖S − XWGᵀYᵀ‖² = n² − 2 tr(Gᵀ Aᵀ W) + tr((Wᵀ XᵀX W)(Gᵀ YᵀY G))."""
    XW, YG = X @ W, Y @ G
    fit = len(X) ** 2 - 2.0 * np.sum(G * (A.T @ W)) + np.sum((XW.T @ XW) * (YG.T @ YG))
    return float(fit + mu * np.sum((B - YG) ** 2) + theta * np.sum((B - XW) ** 2))


def label_matrix(labels) -> np.ndarray:
    """Y [n, c] float64 0/1 from class ids [n] or one/multi-hot rows [n, C]; classes nobody has are dropped
    (they would only make YᵀY singular)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        _, inverse = np.unique(labels, return_inverse=True)
        return np.eye(inverse.max(initial=-1) + 1)[inverse]
    if labels.ndim != 2:
        raise ValueError(f"labels must be [n] class ids or [n, C] one/multi-hot; got shape {labels.shape}")
    present = labels > 0
    return present[:, present.any(axis=0)].astype(np.float64)


def similarity_times_labels(Y, chunk_rows: int | None = None) -> np.ndarray:
    """SY [n, c] for S = 2·[YYᵀ > 0] − 1 (s_ij = 1 if i, j share a label, else −1), without the n × n S.

    Single-label (each row at most one 1): [YYᵀ > 0] = YYᵀ, so SY = 2Y(YᵀY) − 1(1ᵀY) exactly, O(nc²).
    Multi-label: the threshold does not factorise, so rows of S are built `chunk_rows` at a time, O(n²c)
    (a minute at n = 50,000, c = 80); S = 2YYᵀ − 11ᵀ would be O(nc²) but is another method.
    """
    Y = np.asarray(Y, np.float64)
    n = len(Y)
    if np.all(Y.sum(axis=1) <= 1):
        return 2.0 * Y @ (Y.T @ Y) - Y.sum(axis=0)[None, :]
    chunk_rows = chunk_rows or max(1, _CHUNK_ENTRIES // max(n, 1))
    result = np.empty_like(Y)
    for start in range(0, n, chunk_rows):
        shared = Y[start : start + chunk_rows] @ Y.T > 0
        result[start : start + chunk_rows] = np.where(shared, 1.0, -1.0) @ Y
    return result


def squared_distances(features, anchors) -> np.ndarray:
    """‖x_i − a_j‖² [n, m] in float64, `x² + a² − 2xa` clipped at 0 (as `sqdist_sdh.m`), in row chunks."""
    anchors = np.asarray(anchors, np.float64)
    anchor_norms = np.sum(anchors**2, axis=1)
    result = np.empty((len(features), len(anchors)))
    rows = max(1, _CHUNK_ENTRIES // max(len(anchors), features.shape[1], 1))
    for start in range(0, len(features), rows):
        part = np.asarray(features[start : start + rows], np.float64)
        block = np.sum(part**2, axis=1)[:, None] + anchor_norms[None, :] - 2.0 * part @ anchors.T
        result[start : start + rows] = np.maximum(block, 0.0)
    return result


def _ridge_solve(matrix, right, ridge):
    """(M + ε I)⁻¹ R with ε = ridge · mean diagonal of M: YᵀY is singular without one class's rows, and XᵀX
    of 1,000 standardised RBF columns is ill-conditioned (rank ≤ n − 1 when n ≤ 1,000)."""
    epsilon = ridge * max(float(np.trace(matrix)) / len(matrix), 1.0)
    return np.linalg.solve(matrix + epsilon * np.eye(len(matrix)), right)
