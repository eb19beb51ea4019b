"""TF Serving's error statuses: the gRPC code and message the real server answers with."""

import os
import re

import grpc
import tensorflow as tf

# grpc_status_util.cc: messages longer than this are cut and marked.
MAX_MESSAGE_CHARS = 1024
_TRUNCATED = "...TRUNCATED"

# What eager execution of a loaded function adds around the kernel's own message (TF Serving runs
# the graph in a session, whose messages have neither).
_EAGER_PREFIX = re.compile(
    r"^Graph execution error:\s*(Detected at node .*?<stack traces unavailable>\n)?", re.S
)
_EAGER_SUFFIX = re.compile(r"\s*\[Op:__inference_\w+\]\s*$")

# absl status codes (what TensorFlow's errors carry) have the same numbers as gRPC's.
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failure with the gRPC status code and message TF Serving would return."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def truncate(message):
    """Cut `message` the way TF Serving does before it becomes the gRPC status details."""
    if len(message) > MAX_MESSAGE_CHARS:
        return message[:MAX_MESSAGE_CHARS] + _TRUNCATED
    return message


def redact_paths(message, paths, placeholder="<server path>"):
    """`message` with every one of `paths` (absolute server paths) replaced by `placeholder`.

    Clients never need to know where the server keeps its models; TensorFlow's load errors and
    Python's exceptions name files, so every message a client can read goes through this.
    """
    for path in sorted({p.rstrip(os.sep) for p in paths if p and p != os.sep}, key=len, reverse=True):
        message = message.replace(path, placeholder)
    return message


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def status_code(number):
    """The `grpc.StatusCode` of an absl/TensorFlow error code number (UNKNOWN if out of range)."""
    return _CODE_BY_NUMBER.get(int(number), grpc.StatusCode.UNKNOWN)


def op_error_message(message):
    """A TensorFlow error message without the eager-execution wrapping (as a session reports it)."""
    return _EAGER_SUFFIX.sub("", _EAGER_PREFIX.sub("", message))


def from_exception(error):
    """The ServingError for an exception raised while running a signature.

    TensorFlow's own errors keep their code (TF Serving passes the session's status through).
    Python's TypeError/ValueError come from calling a loaded signature function with arguments
    it rejects (wrong names, incompatible shapes): the graph would reject them as invalid input.
    """
    if isinstance(error, ServingError):
        return error
    if isinstance(error, tf.errors.OpError):
        return ServingError(status_code(error.error_code), op_error_message(error.message))
    if isinstance(error, (TypeError, ValueError)):
        return invalid_argument(str(error))
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
