"""The imagenet-vgg-f.mat loader, on small generated files of the same structure (both versions)."""

import numpy as np
import pytest
import scipy.io

from dmrh_tf import CNNFWeightsError, build_model, load_cnnf_weights

WIDTH = 1 / 16
NAMES = [
    "conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3",
    "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7", "fc8", "prob",
]  # fmt: skip
# HWIO shapes of CNN-F at width 1/16 (fc8 keeps 10 "classes")
SHAPES = {
    "conv1": (11, 11, 3, 4), "conv2": (5, 5, 4, 16), "conv3": (3, 3, 16, 16), "conv4": (3, 3, 16, 16),
    "conv5": (3, 3, 16, 16), "fc6": (6, 6, 16, 256), "fc7": (1, 1, 256, 256), "fc8": (1, 1, 256, 10),
}  # fmt: skip
LRN_PARAM = [3.0, 1.5, 2e-4, 0.5]  # not CNN-F's, to see that the file's values are used


def _cell(*items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def write_mat(path, version="new", shapes=SHAPES, drop_mean=False):
    """A MatConvNet SimpleNN file like imagenet-vgg-f.mat; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays, layers = {}, []
    for name in NAMES:
        layer = {"name": name, "type": "conv" if name in shapes else name.rstrip("0123456789")}
        if name in shapes:
            kernel = rng.normal(size=shapes[name]).astype("float32")
            bias = rng.normal(size=(1, shapes[name][-1])).astype("float32")
            arrays[name] = (kernel, bias.ravel())
            if version == "new":
                layer["weights"] = _cell(kernel, bias)
            else:  # the beta files' separate fields
                layer["filters"], layer["biases"] = kernel, bias
            layer["stride"] = np.array([[4, 4]]) if name == "conv1" else np.array([[1, 1]])
        if name.startswith("norm"):
            layer["type"], layer["param"] = "lrn", np.array([LRN_PARAM])
        layers.append(layer)
    cell = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cell[0, i] = layer
    mean_image = np.stack(
        [np.full((224, 224), v, "float32") + rng.normal(0, 1, (224, 224)) for v in (123.0, 117.0, 104.0)], -1
    )
    arrays["mean"] = mean_image.reshape(-1, 3).mean(0)
    content = {"layers": cell}
    normalization = {"averageImage": mean_image, "imageSize": np.array([[224, 224, 3]])}
    if not drop_mean:
        if version == "new":
            content["meta"] = {"normalization": normalization, "classes": {"name": "x"}}
        else:
            content["normalization"] = normalization
    scipy.io.savemat(path, content)
    return arrays


@pytest.mark.parametrize("version", ["new", "old"])
def test_weights_land_in_the_right_layers_unchanged(tmp_path, version, caplog):
    path = tmp_path / "imagenet-vgg-f.mat"
    arrays = write_mat(path, version)
    model = build_model(bits=8, regions=1, width=WIDTH, normalization="lrn")
    conv8_before = model.get_layer("conv8").kernel.numpy().copy()
    with caplog.at_level("INFO"):
        loaded = load_cnnf_weights(model, str(path))
    assert loaded[:7] == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7"]
    for file_name, layer_name in zip(["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"], loaded):
        kernel, bias = model.get_layer(layer_name).get_weights()
        # HWIO as stored: no H/W swap (the kernels are not symmetric, so a swap would differ)
        np.testing.assert_array_equal(kernel, arrays[file_name][0])
        np.testing.assert_array_equal(bias, arrays[file_name][1])
    assert not np.array_equal(arrays["conv1"][0], arrays["conv1"][0].transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(model.get_layer("conv8").kernel.numpy(), conv8_before)  # fc8 not loaded
    lrn = model.get_layer("conv1_lrn")
    assert (lrn.depth_radius, lrn.bias, lrn.alpha, lrn.beta) == (1, 1.5, 2e-4, 0.5)
    norm = model.get_layer("pixel_normalization")
    np.testing.assert_allclose(norm.mean.numpy().ravel(), arrays["mean"], rtol=1e-5)
    np.testing.assert_allclose(norm.variance.numpy().ravel(), [1, 1, 1])
    where = "meta.normalization.averageImage" if version == "new" else "normalization.averageImage"
    assert where in caplog.text


def test_conv1_output_uses_the_kernel_as_hwio(tmp_path):
    """A kernel with a single 1 at (row 0, column 10) of channel 0 picks x[4i, 4j + 10, 0]."""
    shapes = dict(SHAPES)
    path = tmp_path / "f.mat"
    write_mat(path, "new", shapes)
    model = build_model(bits=8, regions=1, width=WIDTH, normalization="lrn")
    load_cnnf_weights(model, str(path))
    kernel = np.zeros((11, 11, 3, 4), "float32")
    kernel[0, 10, 0, 0] = 1.0
    model.get_layer("conv1").set_weights([kernel, np.zeros(4, "float32")])
    import keras

    probe = keras.Model(model.input, model.get_layer("conv1").output)
    x = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    expected = x[0, ::4, 10::4, 0][:54, :54] - model.get_layer("pixel_normalization").mean.numpy().ravel()[0]
    np.testing.assert_allclose(probe(x)[0, :, :, 0], expected, rtol=1e-4, atol=1e-3)


def test_missing_mean_image_names_both_places(tmp_path):
    path = tmp_path / "f.mat"
    write_mat(path, drop_mean=True)
    model = build_model(bits=8, regions=1, width=WIDTH, normalization="lrn")
    with pytest.raises(CNNFWeightsError, match=r"meta\.normalization"):
        load_cnnf_weights(model, str(path))


def test_wrong_width_names_the_layer_and_shapes(tmp_path):
    path = tmp_path / "f.mat"
    write_mat(path)
    model = build_model(bits=8, regions=1, width=1 / 8, normalization="lrn")
    with pytest.raises(CNNFWeightsError, match=r"conv1.*\(11, 11, 3, 4\).*\(11, 11, 3, 8\)"):
        load_cnnf_weights(model, str(path))


def test_batch_norm_model_is_refused(tmp_path):
    path = tmp_path / "f.mat"
    write_mat(path)
    with pytest.raises(CNNFWeightsError, match="normalization='lrn'"):
        load_cnnf_weights(build_model(bits=8, regions=1, width=WIDTH), str(path))


def test_not_a_matconvnet_file(tmp_path):
    path = tmp_path / "f.mat"
    scipy.io.savemat(path, {"weights": np.zeros(3)})
    with pytest.raises(CNNFWeightsError, match="no 'layers'"):
        load_cnnf_weights(build_model(bits=8, regions=1, width=WIDTH, normalization="lrn"), str(path))
