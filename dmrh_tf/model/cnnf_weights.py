"""Loading MatConvNet's ImageNet CNN-F (`imagenet-vgg-f.mat`) into a DMRH model.

The file (~230 MB, from www.vlfeat.org/matconvnet/pretrained) holds `layers`, a 1×21 cell in the
order conv1 relu1 norm1 pool1 conv2 relu2 norm2 pool2 conv3 relu3 conv4 relu4 conv5 relu5 pool5
fc6 relu6 fc7 relu7 fc8 prob. Kernels are H×W×Cin×Cout, already Keras' HWIO (the authors' PyTorch
release transposes H and W by mistake; we do not). fc6/fc7 become the 6×6 and 1×1 convolutions
conv6/conv7; fc8 (1000 ImageNet classes) is not loaded: conv8 is DMRH's new K-bit layer.

Two versions of the file exist: the mean image sits under a top-level `normalization` in the
older one and under `meta.normalization.averageImage` in the newer; both are read.
"""

import logging

import numpy as np
import scipy.io

from dmrh_tf.model.dmrh_model import set_pixel_normalization

log = logging.getLogger(__name__)

# file layer name → model layer name
_CONV_LAYERS = {
    "conv1": "conv1",
    "conv2": "conv2",
    "conv3": "conv3",
    "conv4": "conv4",
    "conv5": "conv5",
    "fc6": "conv6",
    "fc7": "conv7",
}
_LRN_LAYERS = {"norm1": "conv1_lrn", "norm2": "conv2_lrn"}


class CNNFWeightsError(ValueError):
    """The .mat file does not match the CNN-F structure or the model."""


def _unwrap(value):
    """The single object inside MATLAB's 1×1 cell/struct arrays."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    return value


def _field(struct, name, path):
    struct = _unwrap(struct)
    if not hasattr(struct, name):
        fields = getattr(struct, "_fieldnames", [])
        raise CNNFWeightsError(f"{path}: no field {name!r} (fields: {fields})")
    return _unwrap(getattr(struct, name))


def _text(value):
    return str(np.asarray(value).ravel()[0]) if np.asarray(value).size else ""


def _conv_arrays(layer, path):
    """(kernel HWIO, bias [Cout]) of a conv layer, from `weights` (newer) or `filters`/`biases`."""
    layer = _unwrap(layer)
    if hasattr(layer, "weights"):
        cell = np.asarray(layer.weights, dtype=object).ravel()
        if len(cell) != 2:
            raise CNNFWeightsError(f"{path}: 'weights' must be a 1×2 cell {{filters, biases}}")
        kernel, bias = cell
    else:
        kernel, bias = _field(layer, "filters", path), _field(layer, "biases", path)
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim == 2:  # MATLAB drops trailing singleton dims (e.g. Cout = 1)
        kernel = kernel[:, :, None, None]
    while kernel.ndim < 4:
        kernel = kernel[..., None]
    return kernel, np.asarray(bias, np.float32).ravel()


def _mean_image(mat, path):
    if "normalization" in mat:
        where, norm = "normalization.averageImage", _unwrap(mat["normalization"])
    elif "meta" in mat and hasattr(_unwrap(mat["meta"]), "normalization"):
        where = "meta.normalization.averageImage"
        norm = _field(mat["meta"], "normalization", path)
    else:
        raise CNNFWeightsError(
            f"{path}: no mean image under 'normalization' (older files) nor "
            f"'meta.normalization' (newer files); keys: {sorted(k for k in mat if k[0] != '_')}"
        )
    image = np.asarray(_field(norm, "averageImage", f"{path}:{where}"), np.float32)
    if image.size % 3:
        raise CNNFWeightsError(f"{path}:{where} must have 3 channels, got shape {image.shape}")
    mean = image.reshape(-1, 3).mean(axis=0)
    log.info("CNN-F mean image found at %s (per-channel mean %s)", where, np.round(mean, 2))
    return mean


def load_cnnf_weights(model, path):
    """Copy conv1–conv5, fc6→conv6, fc7→conv7, the LRN parameters and the mean image into `model`.

    `model` must be built by `build_model(..., normalization="lrn")` at the file's width (1.0 for the
    real file). Returns the names of the layers loaded. Raises `CNNFWeightsError` naming the layer
    and the shapes when the file does not match.
    """
    mat = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=False)
    if "layers" not in mat:
        raise CNNFWeightsError(
            f"{path}: no 'layers' cell: not a MatConvNet SimpleNN model such as imagenet-vgg-f.mat"
        )
    layers = {
        _text(_field(layer, "name", path)): _unwrap(layer) for layer in np.asarray(mat["layers"]).ravel()
    }
    for name in _CONV_LAYERS:
        if name not in layers:
            raise CNNFWeightsError(f"{path}: layer {name!r} missing; layers: {sorted(layers)}")
    model_layers = {layer.name for layer in model.layers}
    loaded = []
    for file_name, layer_name in _CONV_LAYERS.items():
        if f"{layer_name}_bn" in model_layers:
            raise CNNFWeightsError(
                "CNN-F weights need the paper's network: build the model with normalization='lrn'"
            )
        kernel, bias = _conv_arrays(layers[file_name], f"{path}:{file_name}")
        target = model.get_layer(layer_name)
        expected = tuple(target.kernel.shape)
        if kernel.shape != expected or bias.shape != (expected[-1],):
            raise CNNFWeightsError(
                f"{path}:{file_name}: kernel {kernel.shape} / bias {bias.shape} do not fit model "
                f"layer {layer_name} {expected} (width 1.0, normalization='lrn' is CNN-F's)"
            )
        target.set_weights([kernel, bias])
        loaded.append(layer_name)
    for file_name, layer_name in _LRN_LAYERS.items():
        if file_name in layers and layer_name in model_layers:
            size, bias, alpha, beta = np.asarray(layers[file_name].param, np.float64).ravel()[:4]
            target = model.get_layer(layer_name)
            target.depth_radius, target.bias = int(size - 1) // 2, float(bias)
            target.alpha, target.beta = float(alpha), float(beta)
            loaded.append(layer_name)
    set_pixel_normalization(model, _mean_image(mat, path), (1.0, 1.0, 1.0))
    log.info("loaded CNN-F weights from %s into %s", path, ", ".join(loaded))
    return loaded
