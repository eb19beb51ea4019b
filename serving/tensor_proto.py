"""TensorProto encoding as TF Serving writes its responses.

By default TF Serving fills the typed repeated fields (`float_val`, `int_val`, …: `AsProtoField`);
with `--enable_serialization_as_tensor_content` it writes packed `tensor_content` instead. Clients
must read both, which `tf.make_ndarray` does.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

# The repeated field TensorFlow's Tensor::AsProtoField uses for each dtype.
_PROTO_FIELD = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int32: "int_val",
    tf.int16: "int_val",
    tf.int8: "int_val",
    tf.uint8: "int_val",
    tf.uint16: "int_val",
    tf.int64: "int64_val",
    tf.uint32: "uint32_val",
    tf.uint64: "uint64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
}


def to_tensor_proto(value, as_tensor_content=False):
    """`value` (array-like) as a TensorProto: typed fields by default, `tensor_content` if asked."""
    array = np.asarray(value)
    if as_tensor_content:
        return tf.make_tensor_proto(array)
    dtype = tf.as_dtype(array.dtype) if array.dtype.kind not in "OSU" else tf.string
    field = _PROTO_FIELD.get(dtype)
    if field is None:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    proto.tensor_shape.CopyFrom(tf.TensorShape(array.shape).as_proto())
    values = array.ravel()
    if dtype == tf.string:
        values = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    else:
        values = values.tolist()
    getattr(proto, field).extend(values)
    return proto
