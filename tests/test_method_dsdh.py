"""DSDH (the authors' per-batch variant): the W-step against closed-form/lstsq ridge, the DCC B-step
against the objective it minimises, the authors' loop and brute force, the loss against a NumPy
reference (values and gradients), the α derivation, distributed additivity, serialization, JAX."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from method_support import memory_whole_and_split, run_without_tensorflow

from dmrh_tf.methods.columns import Columns
from dmrh_tf.methods.dsdh_loss import DSDHLoss, dsdh_loss, dsdh_quantization_weight
from dmrh_tf.methods.dsdh_steps import dsdh_b_column, dsdh_b_step, dsdh_w_step

# ---------------------------------------------------------------- NumPy references (independent)


def np_sign(x):
    return np.where(x > 0, 1.0, -1.0)


def np_ridge(codes, labels, nu):
    """Ridge W = argmin ‖Y − BW‖² + ν‖W‖² by least squares on the augmented system [B; √ν I] W = [Y; 0]."""
    bits = codes.shape[1]
    a = np.vstack([codes, np.sqrt(nu) * np.eye(bits)])
    b = np.vstack([labels, np.zeros((bits, labels.shape[1]))])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def np_b_objective(codes, w, labels, u, r):
    """Per row: ‖y − bW‖² + r‖b − u‖² (the B-step's objective with μ = 1, r = η)."""
    return np.sum((labels - codes @ w) ** 2, axis=1) + r * np.sum((codes - u) ** 2, axis=1)


def np_dcc_authors(u, labels, w, eta, max_sweeps=10):
    """The authors' train.m loop, literally (rows/columns deleted, early stop), with sgn(0) = −1."""
    q = eta * u + labels @ w.T
    codes = np.zeros_like(u)
    for _ in range(max_sweeps):
        previous = codes.copy()
        for k in range(codes.shape[1]):
            others = np.delete(codes, k, axis=1)
            w_others = np.delete(w, k, axis=0)
            codes[:, k] = np_sign(q[:, k] - others @ w_others @ w[k])
        if np.linalg.norm(codes - previous) < 1e-6 * np.linalg.norm(previous):
            break
    return codes


def np_dsdh_loss(h, labels, bank, bank_labels, batch_h, batch_labels, rows, eta, nu=0.1, sweeps=10):
    """Value, gradient w.r.t. h (codes and bank constant), and the codes: the naive likelihood form."""
    n, bits = bank.shape
    theta = 0.5 * h @ bank.T
    s = (labels @ bank_labels.T > 0).astype(float)
    likelihood = np.sum(np.log1p(np.exp(theta)) - s * theta) / (rows * n)
    w = np_ridge(np_sign(batch_h), batch_labels, nu)
    codes = np_dcc_authors(h, labels, w, eta, sweeps)
    quantization = np.sum((codes - h) ** 2) / (rows * bits)
    alpha = eta * bits / (2 * n)
    sigma = 1 / (1 + np.exp(-theta))
    gradient = 0.5 * (sigma - s) @ bank / (rows * n) + alpha * 2 * (h - codes) / (rows * bits)
    return likelihood + alpha * quantization, likelihood, quantization, gradient, codes


def one_hot(rng, rows, classes):
    return np.eye(classes, dtype="float32")[rng.integers(0, classes, rows)]


def multi_hot(rng, rows, classes):
    labels = (rng.random((rows, classes)) < 0.35).astype("float32")
    labels[np.arange(rows), rng.integers(0, classes, rows)] = 1.0  # at least one label each
    return labels


def memory_setup(seed, multi_label=False, n=12, batch=6, bits=6, classes=4):
    """A memory of n outputs with a global batch (rows 2, 3, 5, 7, 8, 11) written in, as the trainer does."""
    rng = np.random.default_rng(seed)
    memory = rng.normal(0, 1.5, (n, bits)).astype("float32")
    memory_labels = (multi_hot if multi_label else one_hot)(rng, n, classes)
    index = np.array([2, 3, 5, 7, 8, 11])[:batch]
    h = rng.normal(0, 1.5, (batch, bits)).astype("float32")
    memory[index] = h
    same_image = np.zeros((batch, n), "float32")
    same_image[np.arange(batch), index] = 1.0
    return h, memory_labels[index], memory, memory_labels, same_image


def columns_for(rows, memory, memory_labels, same_image, batch_h, batch_labels):
    return Columns(
        h=memory,
        labels=memory_labels,
        same_image=same_image[rows],
        num_rows=len(batch_h),
        batch_h=batch_h,
        batch_labels=batch_labels,
    )


# ---------------------------------------------------------------- W-step


@pytest.mark.parametrize("multi_label", [False, True])
def test_w_step_is_ridge_regression(multi_label):
    """W = (BᵀB + νI)⁻¹BᵀY equals lstsq on [B; √ν I] W = [Y; 0], and the ridge objective's gradient
    2Bᵀ(BW − Y) + 2νW vanishes there. Multi-hot Y: the same ridge, one least-squares column per class."""
    rng = np.random.default_rng(1)
    batch_h = rng.normal(size=(20, 6)).astype("float32")
    labels = (multi_hot if multi_label else one_hot)(rng, 20, 5)
    w = np.asarray(dsdh_w_step(batch_h, labels, nu=0.1))
    codes = np_sign(batch_h)
    np.testing.assert_allclose(w, np_ridge(codes, labels, 0.1), rtol=1e-4, atol=1e-5)
    closed = np.linalg.solve(codes.T @ codes + 0.1 * np.eye(6), codes.T @ labels)
    np.testing.assert_allclose(w, closed, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(codes.T @ (codes @ w - labels) + 0.1 * w, 0.0, atol=1e-4)


def test_w_step_hand_checked():
    """K = 1: h = [2, −1, 3, 0] → B = [1, −1, 1, −1] (0 → −1); Y = [[1,0],[0,1],[1,0],[0,1]];
    BᵀB + 0.1 = 4.1, BᵀY = [2, −2] → W = [2/4.1, −2/4.1]."""
    batch_h = np.array([[2.0], [-1.0], [3.0], [0.0]], "float32")
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], "float32")
    np.testing.assert_allclose(dsdh_w_step(batch_h, labels), [[2 / 4.1, -2 / 4.1]], rtol=1e-6)


# ---------------------------------------------------------------- B-step


def test_b_step_hand_checked():
    """u = [0.1, −0.2], y = [1], W = [[1], [1]] (K = 2, c = 1), η = 1: Q = ηu + yWᵀ = [1.1, 0.8],
    WWᵀ off the diagonal = 1. Sweep 1 from B = 0: b₁ = sgn(1.1 − 0) = 1, b₂ = sgn(0.8 − 1) = −1;
    sweep 2 keeps them. Objective (y − bW)² + ‖b − u‖²: [1, −1] → 1 + 0.81 + 0.64 = 2.45, the best of
    [1, 1] → 3.25, [−1, 1] → 3.65, [−1, −1] → 9 + 1.21 + 0.64 = 10.85."""
    codes = dsdh_b_step(np.array([[0.1, -0.2]]), np.array([[1.0]]), np.array([[1.0], [1.0]]), eta=1.0)
    np.testing.assert_array_equal(codes, [[1.0, -1.0]])


@pytest.mark.parametrize("start", ["random", "zeros"])
def test_each_column_update_never_increases_the_objective(start):
    """‖Y − BW‖² + r‖B − U‖² with r = η/μ = η (μ = 1): for B ∈ {±1}, each `dsdh_b_column` update is
    the exact minimiser over its column (every entry's flip would not lower the objective), so the
    objective never increases. From the authors' B = 0 the first sweep fills the columns (‖B‖² is
    not yet constant), so monotonicity is checked from the second sweep on."""
    rng = np.random.default_rng(2)
    rows, bits, classes, eta = 9, 5, 4, 3.0
    u = rng.normal(size=(rows, bits))
    labels = multi_hot(rng, rows, classes)
    w = rng.normal(size=(bits, classes))
    q = eta * u + labels @ w.T
    coupling = (w @ w.T) * (1 - np.eye(bits))
    codes = np_sign(rng.normal(size=(rows, bits))) if start == "random" else np.zeros((rows, bits))
    first_checked_sweep = 0 if start == "random" else 1
    for sweep in range(4):
        for k in range(bits):
            before = np_b_objective(codes, w, labels, u, eta)
            codes = np.asarray(dsdh_b_column(codes, q, coupling, k), dtype=float)
            after = np_b_objective(codes, w, labels, u, eta)
            assert set(np.unique(codes[:, k])) <= {-1.0, 1.0}
            if sweep >= first_checked_sweep:
                assert np.all(after <= before + 1e-9)
                flipped = codes.copy()
                flipped[:, k] *= -1
                assert np.all(np_b_objective(flipped, w, labels, u, eta) >= after - 1e-9)


@pytest.mark.parametrize("multi_label", [False, True])
def test_b_step_equals_the_authors_loop_with_early_stop(multi_label):
    """A fixed 10 sweeps equals the authors' loop with its ‖ΔB‖ < 1e-6‖B‖ early stop (a fixed point
    stays fixed), on inputs where the second sweep still changes codes."""
    rng = np.random.default_rng(3)
    u = rng.normal(0, 0.05, size=(48, 8))  # small outputs: Y Wᵀ competes with ηU, several sweeps
    labels = (multi_hot if multi_label else one_hot)(rng, 48, 5)
    w = np_ridge(np_sign(rng.normal(size=(48, 8))), labels, 0.1)
    ours = dsdh_b_step(u.astype("float32"), labels, w.astype("float32"), eta=5.0)
    np.testing.assert_array_equal(ours, np_dcc_authors(u, labels, w, 5.0))
    assert np.any(np_dcc_authors(u, labels, w, 5.0, max_sweeps=1) != ours)  # more than one sweep counts


def all_codes(bits):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=bits)))


def test_b_step_equals_brute_force_when_the_bits_decouple():
    """W with orthogonal rows (W Wᵀ diagonal): the objective is separable over bits, DCC is exact, and
    the B-step equals brute force over all 2^K codes of each row (K = 5)."""
    rng = np.random.default_rng(4)
    rows, bits, classes, eta = 12, 5, 7, 2.0
    w = np.linalg.qr(rng.normal(size=(classes, bits)))[0].T * rng.uniform(0.5, 2.0, (bits, 1))
    u = rng.normal(size=(rows, bits))
    labels = multi_hot(rng, rows, classes)
    codes = np.asarray(dsdh_b_step(u.astype("float32"), labels, w.astype("float32"), eta=eta))
    candidates = all_codes(bits)
    for i in range(rows):
        values = np_b_objective(candidates, w, np.tile(labels[i], (len(candidates), 1)), u[i], eta)
        np.testing.assert_array_equal(codes[i], candidates[np.argmin(values)])


def test_b_step_is_a_coordinatewise_minimum_and_no_better_than_brute_force():
    """General W (bits coupled, K = 6): DCC has converged (one more sweep changes nothing), each row's
    code is a coordinate-wise minimum (no single bit flip lowers it) and its objective is ≥ the brute
    force optimum over 2^K codes, with equality on most rows."""
    rng = np.random.default_rng(5)
    rows, bits, classes, eta = 40, 6, 4, 1.0
    u = rng.normal(0, 0.3, size=(rows, bits))
    labels = one_hot(rng, rows, classes)
    w = np_ridge(np_sign(rng.normal(size=(rows, bits))), labels, 0.1) * 2.0
    codes = np.asarray(dsdh_b_step(u.astype("float32"), labels, w.astype("float32"), eta=eta), float)
    q = eta * u + labels @ w.T
    coupling = (w @ w.T) * (1 - np.eye(bits))
    again = codes
    for k in range(bits):
        again = np.asarray(dsdh_b_column(again, q, coupling, k), float)
    np.testing.assert_array_equal(again, codes)
    value = np_b_objective(codes, w, labels, u, eta)
    for k in range(bits):
        flipped = codes.copy()
        flipped[:, k] *= -1
        assert np.all(np_b_objective(flipped, w, labels, u, eta) >= value - 1e-9)
    candidates = all_codes(bits)
    best = np.array(
        [np.min(np_b_objective(candidates, w, np.tile(labels[i], (64, 1)), u[i], eta)) for i in range(rows)]
    )
    assert np.all(value >= best - 1e-9)
    assert np.mean(np.isclose(value, best)) > 0.5


# ---------------------------------------------------------------- the loss


def test_quantization_weight_is_the_authors_gradient():
    """α = ηK/(2n): η = 55, K = 48, n = 5,000 → 0.264 (the reference doc's ≈ 0.26); n = 50,000 → 0.0264."""
    assert dsdh_quantization_weight(55.0, 48, 5000) == pytest.approx(0.264)
    assert dsdh_quantization_weight(55.0, 48, 50000) == pytest.approx(0.0264)


@pytest.mark.parametrize("multi_label", [False, True])
def test_loss_matches_numpy_reference(multi_label):
    """Values and gradients w.r.t. h (through GradientTape) of the whole global batch against the memory."""
    h, labels, memory, memory_labels, same_image = memory_setup(6, multi_label)
    columns = columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    variable = tf.Variable(h)
    with tf.GradientTape() as tape:
        loss, (likelihood, quantization) = DSDHLoss(eta=55.0).compute_terms(variable, labels, columns)
    expected = np_dsdh_loss(h, labels, memory, memory_labels, h, labels, rows=6, eta=55.0)
    np.testing.assert_allclose([float(loss), float(likelihood), float(quantization)], expected[:3], rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, variable), expected[3], rtol=1e-4, atol=1e-6)


def test_gradient_is_half_the_authors():
    """2 × our gradient = the authors' descent direction −[(S − σ(½U₀Uᵀ))U − 2η(U₀ − B)]/(B·n), which
    is what α = ηK/(2n) is for (their lr/(128·n) step, our lr twice theirs)."""
    h, labels, memory, memory_labels, same_image = memory_setup(7)
    columns = columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    variable = tf.Variable(h)
    with tf.GradientTape() as tape:
        loss, _ = DSDHLoss(eta=55.0).compute_terms(variable, labels, columns)
    codes = np_dsdh_loss(h, labels, memory, memory_labels, h, labels, 6, 55.0)[4]
    s = (labels @ memory_labels.T > 0).astype(float)
    sigma = 1 / (1 + np.exp(-0.5 * h @ memory.T))
    authors_ascent = (s - sigma) @ memory - 2 * 55.0 * (h - codes)
    n = len(memory)
    np.testing.assert_allclose(
        2 * tape.gradient(loss, variable), -authors_ascent / (6 * n), rtol=1e-4, atol=1e-6
    )
    assert np.all(np.abs(codes) == 1)


def test_alpha_is_derived_from_the_memory_rows():
    h, labels, memory, memory_labels, same_image = memory_setup(8)
    columns = columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    derived, _ = DSDHLoss(eta=55.0).compute_terms(h, labels, columns)
    explicit, _ = DSDHLoss(eta=55.0, alpha=55.0 * 6 / (2 * 12)).compute_terms(h, labels, columns)
    other, _ = DSDHLoss(eta=55.0, alpha=0.0).compute_terms(h, labels, columns)
    assert float(derived) == pytest.approx(float(explicit), rel=1e-6)
    assert float(other) < float(derived)


@pytest.mark.parametrize("multi_label", [False, True])
def test_halves_add_up_to_the_global_batch(multi_label):
    """Two replicas' rows, each with its own Columns (same memory and global batch, same_image sliced):
    the losses and the gradients w.r.t. h add up to the one-device loss (W is the global batch's)."""
    h, labels, memory, memory_labels, same_image = memory_setup(9, multi_label)
    whole, split = memory_whole_and_split(
        DSDHLoss(eta=55.0),
        h,
        labels,
        lambda rows: columns_for(rows, memory, memory_labels, same_image, h, labels),
        (slice(0, 2), slice(2, 6)),
    )
    np.testing.assert_allclose(float(split[0]), float(whole[0]), rtol=1e-6)
    for t in range(2):
        np.testing.assert_allclose(float(split[1][t]), float(whole[1][t]), rtol=1e-6)
    np.testing.assert_allclose(split[2], whole[2], rtol=1e-5, atol=1e-8)


def test_two_mirrored_replicas_equal_one_device():
    """Inside `strategy.run` on two logical CPUs (the while loop in replica context), the SUM of the
    replicas' losses is the one-device loss."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    h, labels, memory, memory_labels, same_image = memory_setup(10)
    loss_fn = DSDHLoss(eta=55.0)

    @tf.function
    def step():
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            rows = tf.range(3) + 3 * replica
            columns = Columns(memory, memory_labels, tf.gather(same_image, rows), 6, h, labels)
            return loss_fn.compute_terms(tf.gather(h, rows), tf.gather(labels, rows), columns)[0]

        return strategy.reduce("SUM", strategy.run(replica_fn), axis=None)

    whole = loss_fn.compute_terms(
        h, labels, columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    )
    assert float(step()) == pytest.approx(float(whole[0]), rel=1e-6)


def test_loss_on_jax_inside_jit_equals_tensorflow(tmp_path):
    """The loss (W-step, the fori_loop B-step and the likelihood) runs under jax.jit and gives
    TensorFlow's value and gradient."""
    h, labels, memory, memory_labels, same_image = memory_setup(11, multi_label=True)
    columns = columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    variable = tf.Variable(h)
    with tf.GradientTape() as tape:
        loss, _ = DSDHLoss(eta=55.0).compute_terms(variable, labels, columns)
    gradient = tape.gradient(loss, variable).numpy()
    body = """
        import jax
        from dmrh_tf.methods.columns import Columns
        from dmrh_tf.methods.dsdh_loss import DSDHLoss

        x = inputs
        loss_fn = DSDHLoss(eta=55.0)

        def value(h):
            columns = Columns(x["memory"], x["memory_labels"], None, 6, x["h"], x["labels"])
            return loss_fn.compute_terms(h, x["labels"], columns)[0]

        loss, gradient = jax.jit(jax.value_and_grad(value))(x["h"])
        print(json.dumps({"loss": float(loss), "gradient": np.asarray(gradient).tolist()}))
        """
    arrays = {"h": h, "labels": labels, "memory": memory, "memory_labels": memory_labels}
    on_jax = run_without_tensorflow(tmp_path, body, **arrays)
    assert on_jax["loss"] == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(on_jax["gradient"], gradient, rtol=1e-4, atol=1e-7)


def test_the_trainer_step_gives_the_reference_loss():
    """Through `HashingTrainer.train_step` (memory mode, compiled): the memory's n = 12 rows set α, W
    comes from the batch, and the loss equals the NumPy reference with the batch written into the
    (zero) memory."""
    from dmrh_tf.training.hashing_trainer import HashingTrainer

    rng = np.random.default_rng(15)
    n, features, bits = 12, 5, 4
    labels = multi_hot(rng, n, 3)
    inputs = keras.Input((features,))
    encoder = keras.Model(inputs, {"h": keras.layers.Dense(bits)(inputs)})
    trainer = HashingTrainer(encoder, labels, loss=DSDHLoss(eta=55.0))
    trainer.compile(optimizer=keras.optimizers.SGD(0.0))
    images = rng.normal(size=(6, features)).astype("float32")
    index = np.array([7, 0, 3, 11, 5, 2])
    logs = tf.function(trainer.train_step)(
        ({"images": tf.constant(images), "index": tf.constant(index)}, tf.constant(labels[index]))
    )
    h = np.asarray(encoder(images)["h"], float)
    memory = np.zeros((n, bits))
    memory[index] = h
    expected = np_dsdh_loss(h, labels[index], memory, labels, h, labels[index], rows=6, eta=55.0)
    assert float(logs["loss"]) == pytest.approx(expected[0], rel=1e-5)
    assert float(logs["quantization"]) == pytest.approx(expected[2], rel=1e-5)


# ---------------------------------------------------------------- the class


def test_loss_class_round_trips_its_hyper_parameters():
    loss = DSDHLoss(eta=30.0, nu=0.5, sweeps=4, alpha=0.2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, DSDHLoss)
    assert (restored.eta, restored.nu, restored.sweeps, restored.alpha) == (30.0, 0.5, 4, 0.2)
    assert DSDHLoss.from_config(DSDHLoss().get_config()).alpha is None
    assert DSDHLoss.columns == "memory" and DSDHLoss.terms == ("likelihood", "quantization")


def test_loss_class_is_the_in_batch_form():
    """`loss(labels, h)`: the batch against itself, n = B."""
    rng = np.random.default_rng(12)
    h = rng.normal(size=(5, 4)).astype("float32")
    labels = one_hot(rng, 5, 3)
    expected = np_dsdh_loss(h, labels, h, labels, h, labels, rows=5, eta=55.0)[0]
    assert float(DSDHLoss(eta=55.0)(labels, h)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{"eta": -1.0}, {"nu": 0.0}, {"sweeps": 0}, {"sweeps": 2.5}, {"alpha": -0.1}]
)
def test_loss_class_validates(kwargs):
    with pytest.raises(ValueError):
        DSDHLoss(**kwargs)


def test_function_form_equals_the_class():
    h, labels, memory, memory_labels, same_image = memory_setup(13)
    direct = dsdh_loss(h, labels, memory, memory_labels, h, labels, num_rows=6, eta=20.0, nu=0.3, sweeps=3)
    columns = columns_for(slice(None), memory, memory_labels, same_image, h, labels)
    loss, terms = DSDHLoss(eta=20.0, nu=0.3, sweeps=3).compute_terms(h, labels, columns)
    np.testing.assert_allclose([float(v) for v in direct], [float(loss), *map(float, terms)], rtol=1e-6)
