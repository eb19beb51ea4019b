"""dmrh_tf asks TensorFlow for its oneDNN CPU kernels unless the environment says otherwise."""

import os
import pathlib
import platform
import subprocess
import sys

import pytest

from dmrh_tf.model.cpu_kernels import onednn_enabled

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
REPO = pathlib.Path(__file__).resolve().parents[1]
PROBE = "import dmrh_tf; from dmrh_tf.model.cpu_kernels import onednn_enabled; print(onednn_enabled())"

pytestmark = pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="TensorFlow's oneDNN build is its x86 Linux one",
)


def _run(code, value):
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if value is not None:
        env[VARIABLE] = value
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1], result.stderr


@pytest.mark.parametrize("value, enabled", [(None, "True"), ("0", "False")])
def test_onednn_is_the_default_and_the_environment_wins(value, enabled):
    """Unset: on, on every x86 CPU (TF alone turns it on only with AVX512_VNNI, AVX512_BF16,
    AVX_VNNI or AMX); set: the user's value."""
    assert _run(PROBE, value)[0] == enabled


def test_a_process_that_imported_tensorflow_first_is_told_what_it_runs():
    """Too late to choose: TF's own policy decides (on with AVX512_VNNI and the like), and where it
    chose its own kernels the user is told how to get oneDNN's."""
    enabled, stderr = _run("import tensorflow; " + PROBE, None)
    assert ("imported before dmrh_tf" in stderr) is (enabled == "False")


def test_this_test_process_runs_as_a_user_process():
    """conftest.py imports dmrh_tf before TensorFlow, so the suite runs the kernels users get."""
    if os.environ[VARIABLE] not in ("0", "1"):
        pytest.skip(f"{VARIABLE}={os.environ[VARIABLE]!r}: TensorFlow's reading of it is not ours to test")
    assert onednn_enabled() is (os.environ[VARIABLE] == "1")
