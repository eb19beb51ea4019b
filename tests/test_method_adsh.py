"""ADSH: the loss against a NumPy reference and the authors' gradient, the reference doc's tiny test
(m = 30, |Ω| = 6), the V-step's column updates against brute force, the soft ratio against the
brute-force block, Ω sampling, distributed additivity, serialization, JAX."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from method_support import memory_whole_and_split, run_without_tensorflow

from dmrh_tf.methods.adsh_loss import ADSHLoss, adsh_loss
from dmrh_tf.methods.adsh_steps import (
    adsh_sample_omega,
    adsh_similar_sums,
    adsh_soft_ratio,
    adsh_v_column_update,
    adsh_v_step,
    adsh_v_target,
)
from dmrh_tf.methods.columns import Columns

# ---------------------------------------------------------------- NumPy references (independent)


def np_similar(labels_a, labels_b):
    return (labels_a @ labels_b.T > 0).astype(float)


def np_ratio(omega_labels, database_labels):
    """The authors' r = sum(S)/sum(1 − S) over the full Ω × m block."""
    s = np_similar(omega_labels, database_labels)
    return s.sum() / (1 - s).sum()


def np_soft(labels_a, labels_b, r):
    s = np_similar(labels_a, labels_b)
    return s * (1 + r) - r


def np_objective(U, V, omega_index, soft, gamma):
    """J = Σ_{i∈Ω} Σ_j (u_iᵀv_j − K S̃_ij)² + γ Σ_{i∈Ω} ‖v_{idx(i)} − u_i‖², V[Ω] by indexing."""
    bits = V.shape[1]
    return np.sum((U @ V.T - bits * soft) ** 2) + gamma * np.sum((V[omega_index] - U) ** 2)


def np_adsh_loss(h, labels, V, database_labels, index, rows, gamma, r):
    """Value, parts and the authors' gradient [2(aVᵀ − K S̃)V + 2γ(a − V_b)](1 − a²)/(m·B)."""
    m, bits = V.shape
    a = np.tanh(h)
    soft = np_soft(labels, database_labels, r)
    pairwise = np.sum((a @ V.T - bits * soft) ** 2) / (m * rows)
    quantization = np.sum((V[index] - a) ** 2) / (m * rows)
    gradient = (2 * (a @ V.T - bits * soft) @ V + 2 * gamma * (a - V[index])) * (1 - a**2) / (m * rows)
    return pairwise + gamma * quantization, pairwise, quantization, gradient


def one_hot(rng, rows, classes):
    return np.eye(classes, dtype="float32")[rng.integers(0, classes, rows)]


def multi_hot(rng, rows, classes):
    labels = (rng.random((rows, classes)) < 0.3).astype("float32")
    labels[np.arange(rows), rng.integers(0, classes, rows)] = 1.0
    return labels


def database_setup(seed, multi_label=False, m=14, batch=6, bits=5, classes=4):
    """Database codes V ±1 [m, K] and labels; a global batch of `batch` rows that are images `index`."""
    rng = np.random.default_rng(seed)
    V = np.where(rng.random((m, bits)) < 0.5, 1.0, -1.0).astype("float32")
    database_labels = (multi_hot if multi_label else one_hot)(rng, m, classes)
    index = np.sort(rng.choice(m, batch, replace=False))
    h = rng.normal(0, 1.0, (batch, bits)).astype("float32")
    same_image = np.zeros((batch, m), "float32")
    same_image[np.arange(batch), index] = 1.0
    return h, database_labels[index], V, database_labels, same_image, index


def columns_for(rows, V, database_labels, same_image, batch=6, state=None):
    """Memory-mode columns as the trainer builds them (columns.h unused by ADSH: zeros)."""
    return Columns(
        h=np.zeros_like(V),
        labels=database_labels,
        same_image=same_image[rows],
        num_rows=batch,
        batch_h=None,
        batch_labels=None,
        codes=V,
        state=state,
    )


# ---------------------------------------------------------------- the loss


def test_loss_hand_checked():
    """K = 1, u = tanh(h) = 0.5, V = [1, −1], row i is database image 0 and shares a label with it
    only; r = 0.5 → S̃ = [1, −0.5]. Residuals uv_j − K S̃_j: 0.5 − 1 = −0.5 and −0.5 + 0.5 = 0 → Σ = 0.25;
    (v_0 − u)² = 0.25; m·B = 2: pairwise = quantization = 0.125; γ = 2 → loss 0.125 + 0.25 = 0.375."""
    h = np.array([[np.arctanh(0.5)]], "float32")
    V = np.array([[1.0], [-1.0]], "float32")
    labels = np.array([[1.0, 0.0]], "float32")
    database_labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    same_image = np.array([[1.0, 0.0]], "float32")
    loss, pairwise, quantization = adsh_loss(
        h, labels, V, database_labels, same_image, gamma=2.0, soft_ratio=0.5
    )
    np.testing.assert_allclose(
        [float(loss), float(pairwise), float(quantization)], [0.375, 0.125, 0.125], rtol=1e-5
    )


@pytest.mark.parametrize("multi_label", [False, True])
def test_loss_matches_numpy_reference_and_the_authors_gradient(multi_label):
    h, labels, V, database_labels, same_image, index = database_setup(0, multi_label)
    r = np_ratio(labels, database_labels)
    variable = tf.Variable(h)
    with tf.GradientTape() as tape:
        loss, (pairwise, quantization) = ADSHLoss(gamma=200.0).compute_terms(
            variable, labels, columns_for(slice(None), V, database_labels, same_image), soft_ratio=r
        )
    expected = np_adsh_loss(h, labels, V, database_labels, index, rows=6, gamma=200.0, r=r)
    np.testing.assert_allclose([float(loss), float(pairwise), float(quantization)], expected[:3], rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, variable), expected[3], rtol=1e-4, atol=1e-6)


def test_reference_doc_tiny_case():
    """m = 30, |Ω| = 6 (K = 4, γ = 200): (1) the gradient of our loss over the whole Ω as one batch is
    autograd of J/(m·B) (J written with V[Ω] by indexing, in TensorFlow); (2) the V-step's DCC sweep
    lowers J from a random ±1 V."""
    rng = np.random.default_rng(1)
    m, size, bits, gamma = 30, 6, 4, 200.0
    database_labels = one_hot(rng, m, 3)
    omega = adsh_sample_omega(seed=7, outer_iteration=0, n=m, size=size)
    omega_labels = database_labels[omega]
    r = adsh_soft_ratio(omega_labels, database_labels)
    V = np.where(rng.random((m, bits)) < 0.5, 1.0, -1.0).astype("float32")
    h = rng.normal(size=(size, bits)).astype("float32")
    same_image = np.zeros((size, m), "float32")
    same_image[np.arange(size), omega] = 1.0
    soft = np_soft(omega_labels, database_labels, r).astype("float32")

    variable = tf.Variable(h)
    with tf.GradientTape(persistent=True) as tape:
        ours, _ = ADSHLoss(gamma=gamma, soft_ratio=r).compute_terms(
            variable, omega_labels, columns_for(slice(None), V, database_labels, same_image, batch=size)
        )
        u = tf.tanh(variable)
        objective = tf.reduce_sum((u @ V.T - bits * soft) ** 2) + gamma * tf.reduce_sum(
            (tf.gather(V, omega) - u) ** 2
        )
        reference = objective / (m * size)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)
    np.testing.assert_allclose(tape.gradient(ours, variable), tape.gradient(reference, variable), rtol=1e-5)

    U = np.tanh(h.astype(float))
    updated = adsh_v_step(V, U, omega, omega_labels, database_labels, bits, gamma, r)
    before = np_objective(U, V.astype(float), omega, soft, gamma)
    after = np_objective(U, updated.astype(float), omega, soft, gamma)
    assert after < before


@pytest.mark.parametrize("multi_label", [False, True])
def test_halves_add_up_to_the_global_batch(multi_label):
    """Each replica's rows against the same V and labels, same_image sliced, B = the global batch:
    losses and gradients add up to the one-device loss."""
    h, labels, V, database_labels, same_image, _ = database_setup(2, multi_label)
    whole, split = memory_whole_and_split(
        ADSHLoss(gamma=200.0, soft_ratio=0.3),
        h,
        labels,
        lambda rows: columns_for(rows, V, database_labels, same_image),
        (slice(0, 4), slice(4, 6)),
    )
    np.testing.assert_allclose(float(split[0]), float(whole[0]), rtol=1e-6)
    for t in range(2):
        np.testing.assert_allclose(float(split[1][t]), float(whole[1][t]), rtol=1e-6)
    np.testing.assert_allclose(split[2], whole[2], rtol=1e-5, atol=1e-8)


def test_soft_ratio_comes_from_the_state_then_the_argument_then_the_constructor():
    """r: `columns.state["ratio"]` (the trainer's) over the constructor's value; an explicit
    `soft_ratio=` over both."""
    h, labels, V, database_labels, same_image, _ = database_setup(3)
    plain = columns_for(slice(None), V, database_labels, same_image)
    with_state = columns_for(slice(None), V, database_labels, same_image, state={"ratio": tf.constant(0.25)})
    built = ADSHLoss(gamma=10.0, soft_ratio=0.25).compute_terms(h, labels, plain)[0]
    from_state = ADSHLoss(gamma=10.0, soft_ratio=0.9).compute_terms(h, labels, with_state)[0]
    passed = ADSHLoss(gamma=10.0).compute_terms(h, labels, plain, soft_ratio=tf.constant(0.25))[0]
    overridden = ADSHLoss(gamma=10.0).compute_terms(h, labels, with_state, soft_ratio=0.9)[0]
    default = ADSHLoss(gamma=10.0).compute_terms(h, labels, plain)[0]
    assert float(from_state) == pytest.approx(float(built), rel=1e-6)
    assert float(passed) == pytest.approx(float(built), rel=1e-6)
    expected_overridden = ADSHLoss(gamma=10.0, soft_ratio=0.9).compute_terms(h, labels, plain)[0]
    assert float(overridden) == pytest.approx(float(expected_overridden), rel=1e-6)
    assert float(default) != pytest.approx(float(built), rel=1e-3)


def test_the_trainer_step_uses_the_ratio_it_holds():
    """Through `HashingTrainer.train_step` (compiled once): the loss uses the trainer's V and its
    `method_state["ratio"]`, and a new r assigned between outer iterations reaches the same function."""
    from dmrh_tf.training.hashing_trainer import HashingTrainer

    rng = np.random.default_rng(14)
    n, features, bits, batch = 12, 5, 4, 6
    labels = one_hot(rng, n, 3)
    inputs = keras.Input((features,))
    encoder = keras.Model(inputs, {"h": keras.layers.Dense(bits)(inputs)})
    trainer = HashingTrainer(
        encoder, labels, loss=ADSHLoss(gamma=5.0), codes_shape=(n, bits), state_shapes={"ratio": ()}
    )
    trainer.compile(optimizer=keras.optimizers.SGD(0.0))
    V = np.where(rng.random((n, bits)) < 0.5, 1.0, -1.0).astype("float32")
    trainer.codes.assign(V)
    images = rng.normal(size=(batch, features)).astype("float32")
    index = np.array([7, 0, 3, 11, 5, 2])
    step = tf.function(trainer.train_step)
    h = encoder(images)["h"]
    for r in (0.2, 0.6):
        trainer.method_state["ratio"].assign(r)
        logs = step(
            ({"images": tf.constant(images), "index": tf.constant(index)}, tf.constant(labels[index]))
        )
        expected = np_adsh_loss(np.asarray(h, float), labels[index], V, labels, index, batch, 5.0, r)[0]
        assert float(logs["loss"]) == pytest.approx(expected, rel=1e-5)
        trainer.reset_metrics()


def test_no_gradient_reaches_the_codes():
    h, labels, V, database_labels, same_image, _ = database_setup(4)
    codes = tf.Variable(V)
    with tf.GradientTape() as tape:
        loss, _, _ = adsh_loss(h, labels, codes, database_labels, same_image, gamma=200.0, soft_ratio=0.3)
    gradient = tape.gradient(loss, codes)
    assert gradient is None or not np.any(gradient)


def test_loss_on_jax_inside_jit_equals_tensorflow(tmp_path):
    h, labels, V, database_labels, same_image, _ = database_setup(5, multi_label=True)
    variable = tf.Variable(h)
    with tf.GradientTape() as tape:
        loss, _ = ADSHLoss(gamma=200.0).compute_terms(
            variable, labels, columns_for(slice(None), V, database_labels, same_image), soft_ratio=0.4
        )
    gradient = tape.gradient(loss, variable).numpy()
    body = """
        import jax, jax.numpy as jnp
        from dmrh_tf.methods.adsh_loss import ADSHLoss
        from dmrh_tf.methods.columns import Columns

        x = inputs
        loss_fn = ADSHLoss(gamma=200.0)

        def value(h, r):
            columns = Columns(None, x["database_labels"], x["same"], 6, None, None, x["V"], {"ratio": r})
            return loss_fn.compute_terms(h, x["labels"], columns)[0]

        loss, gradient = jax.jit(jax.value_and_grad(value))(x["h"], jnp.float32(0.4))
        print(json.dumps({"loss": float(loss), "gradient": np.asarray(gradient).tolist()}))
        """
    on_jax = run_without_tensorflow(
        tmp_path, body, h=h, labels=labels, V=V, database_labels=database_labels, same=same_image
    )
    assert on_jax["loss"] == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(on_jax["gradient"], gradient, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- the V-step


def v_step_setup(seed, m=12, size=5, bits=4, classes=3, multi_label=False):
    rng = np.random.default_rng(seed)
    database_labels = (multi_hot if multi_label else one_hot)(rng, m, classes)
    omega = np.sort(rng.choice(m, size, replace=False))
    U = np.tanh(rng.normal(size=(size, bits)))
    V = np.where(rng.random((m, bits)) < 0.5, 1.0, -1.0)
    r = np_ratio(database_labels[omega], database_labels)
    return V, U, omega, database_labels, r


def reference_target_and_gram(U, omega, database_labels, bits, gamma, r):
    """Q = −2K S̃ᵀU − 2γŪ with the full Ω × m S̃ (Ū zero except Ū[Ω] = U), and UᵀU with a zero diagonal."""
    soft = np_soft(database_labels[omega], database_labels, r)
    barU = np.zeros((len(database_labels), bits))
    barU[omega] = U
    gram = U.T @ U
    np.fill_diagonal(gram, 0.0)
    return -2 * bits * soft.T @ U - 2 * gamma * barU, gram, soft


@pytest.mark.parametrize("multi_label", [False, True])
def test_each_column_update_is_the_exact_minimiser(multi_label):
    """Column by column: J never increases, and each entry of the updated column is the minimising
    sign (J is separable over a column's entries, so no single flip may lower it); the sweep equals
    `adsh_v_step`, whose S̃ᵀU is built one database label pattern at a time."""
    gamma, bits = 3.0, 4
    V, U, omega, database_labels, r = v_step_setup(6, multi_label=multi_label)
    Q, gram, soft = reference_target_and_gram(U, omega, database_labels, bits, gamma, r)
    current = V.copy()
    for k in range(bits):
        before = np_objective(U, current, omega, soft, gamma)
        current = adsh_v_column_update(current, k, Q, gram)
        after = np_objective(U, current, omega, soft, gamma)
        assert after <= before + 1e-9
        for j in range(len(current)):
            flipped = current.copy()
            flipped[j, k] *= -1
            assert np_objective(U, flipped, omega, soft, gamma) >= after - 1e-9
    stepped = adsh_v_step(V, U, omega, database_labels[omega], database_labels, bits, gamma, r, chunk=1)
    np.testing.assert_array_equal(stepped, current)
    assert stepped.dtype == np.float32 and set(np.unique(stepped)) <= {-1.0, 1.0}


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("chunk", [1, 2048])
def test_similar_sums_and_target_equal_the_full_block(multi_label, chunk):
    """SᵀU by label patterns in blocks, and Q = −2K S̃ᵀU − 2γŪ, against the full Ω × m matrices."""
    _, U, omega, database_labels, r = v_step_setup(10, m=40, size=9, multi_label=multi_label)
    s = np_similar(database_labels[omega], database_labels)
    sums = adsh_similar_sums(U, database_labels[omega], database_labels, chunk=chunk)
    np.testing.assert_allclose(sums, s.T @ U, rtol=1e-12, atol=1e-12)
    Q, _, _ = reference_target_and_gram(U, omega, database_labels, 4, 3.0, r)
    target = adsh_v_target(U, omega, database_labels[omega], database_labels, 4, 3.0, r, chunk=chunk)
    np.testing.assert_allclose(target, Q, rtol=1e-12, atol=1e-10)


def test_one_bit_v_step_is_the_brute_force_optimum():
    """K = 1: the sweep is one column update, the global minimiser of J over all 2^m columns (m = 10)."""
    gamma = 2.0
    V, U, omega, database_labels, r = v_step_setup(7, m=10, size=4, bits=1)
    soft = np_soft(database_labels[omega], database_labels, r)
    stepped = adsh_v_step(V, U, omega, database_labels[omega], database_labels, 1, gamma, r)
    candidates = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))[:, :, None]
    values = [np_objective(U, c, omega, soft, gamma) for c in candidates]
    np.testing.assert_array_equal(stepped, candidates[int(np.argmin(values))])


def test_v_step_hand_checked():
    """m = 2, Ω = {0}, K = 1, γ = 1, U = [[0.5]], image 0 in class A and image 1 in B → r = 1/1,
    S̃ = [1, −1]; Q = −2K S̃ᵀU − 2γŪ = [−1, 1] + [−1, 0] = [−2, 1] → V = −sgn(Q) = [1, −1]. U = 0 makes
    every x = 0, a tie, and −sgn(0) = +1."""
    labels = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert adsh_soft_ratio(labels[:1], labels) == 1.0
    stepped = adsh_v_step(np.zeros((2, 1)), np.array([[0.5]]), np.array([0]), labels[:1], labels, 1, 1.0, 1.0)
    np.testing.assert_array_equal(stepped, [[1.0], [-1.0]])
    tie = adsh_v_step(np.zeros((2, 1)), np.array([[0.0]]), np.array([0]), labels[:1], labels, 1, 1.0, 1.0)
    np.testing.assert_array_equal(tie, [[1.0], [1.0]])


def test_v_step_validates_its_inputs():
    V, U, omega, database_labels, r = v_step_setup(8)
    with pytest.raises(ValueError):
        adsh_v_step(V, U, np.r_[omega[:-1], omega[0]], database_labels[omega], database_labels, 4, 1.0, r)
    with pytest.raises(ValueError):
        adsh_v_step(V, U, omega, database_labels[omega], database_labels, 5, 1.0, r)


# ---------------------------------------------------------------- soft ratio and Ω


def test_soft_ratio_hand_checked():
    """Ω labels [A, A, B], database [A, B, B, C]: similar pairs 2·1 + 1·2 = 4 of 12 → r = 4/8 = 0.5.
    All pairs similar → 0.0 (S̃ = 1 everywhere, r does not matter)."""
    eye = np.eye(3)
    assert adsh_soft_ratio(eye[[0, 0, 1]], eye[[0, 1, 1, 2]]) == 0.5
    assert adsh_soft_ratio(eye[[0, 0]], eye[[0, 0, 0]]) == 0.0


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("chunk", [1, 3, 2048])
def test_soft_ratio_equals_the_brute_force_block(multi_label, chunk):
    rng = np.random.default_rng(9)
    database_labels = (multi_hot if multi_label else one_hot)(rng, 200, 6)
    omega = adsh_sample_omega(seed=1, outer_iteration=3, n=200, size=40)
    expected = np_ratio(database_labels[omega], database_labels)
    assert adsh_soft_ratio(database_labels[omega], database_labels, chunk=chunk) == pytest.approx(
        expected, rel=1e-12
    )


def test_sample_omega_is_deterministic_distinct_and_sorted():
    first = adsh_sample_omega(seed=3, outer_iteration=5, n=1000, size=200)
    np.testing.assert_array_equal(first, adsh_sample_omega(seed=3, outer_iteration=5, n=1000, size=200))
    assert first.dtype == np.int64 and len(np.unique(first)) == 200 and np.all(np.diff(first) > 0)
    assert first.min() >= 0 and first.max() < 1000
    assert not np.array_equal(first, adsh_sample_omega(seed=3, outer_iteration=6, n=1000, size=200))
    assert not np.array_equal(first, adsh_sample_omega(seed=4, outer_iteration=5, n=1000, size=200))
    np.testing.assert_array_equal(adsh_sample_omega(0, 0, n=7, size=2000), np.arange(7))
    with pytest.raises(ValueError):
        adsh_sample_omega(0, 0, n=7, size=0)


# ---------------------------------------------------------------- the class


def test_loss_class_round_trips_its_hyper_parameters():
    loss = ADSHLoss(gamma=50.0, soft_ratio=0.125)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, ADSHLoss) and (restored.gamma, restored.soft_ratio) == (50.0, 0.125)
    assert ADSHLoss.from_config(loss.get_config()).gamma == 50.0
    assert ADSHLoss.columns == "memory" and ADSHLoss.terms == ("pairwise", "quantization")


@pytest.mark.parametrize("kwargs", [{"gamma": -1.0}, {"soft_ratio": -0.5}])
def test_loss_class_validates(kwargs):
    with pytest.raises(ValueError):
        ADSHLoss(**kwargs)


def test_plain_keras_call_needs_codes():
    with pytest.raises(ValueError, match="codes"):
        ADSHLoss()(np.eye(2, dtype="float32"), np.ones((2, 3), "float32"))
