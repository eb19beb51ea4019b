"""The local server's lifecycle against TF Serving's (`file_system_storage_path_source.cc`,
`main.cc`, `server.cc`): polling, load retries, a base path that disappears, shutdown.

Versions are loaded by a stand-in for `Servable.load` (no SavedModel, no TensorFlow graph), so
these tests are fast and exact: they drive `ModelManager.poll_once` directly and never wait on a
clock, except for the conditions they explicitly wait for.
"""

import os
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_service_pb2_grpc

import serving.model_manager
import serving.services
from serving.model_manager import ModelManager
from serving.server import ModelServer

NAME = "dmrh"


class FakeServable:
    def __init__(self, name, version, path):
        self.name, self.version, self.path = name, version, path
        self.signature_defs, self.max_pixels = {}, None


@pytest.fixture
def loads(monkeypatch):
    """Replace Servable.load: `loads.failures` more calls fail (OSError naming the path) first."""

    class Loads:
        def __init__(self):
            self.failures, self.calls = 0, []

        def __call__(self, name, version, path):
            self.calls.append(version)
            if self.failures:
                self.failures -= 1
                raise OSError(f"SavedModel file does not exist at: {path}/saved_model.pb")
            return FakeServable(name, version, path)

    loads = Loads()
    monkeypatch.setattr(serving.model_manager.Servable, "load", staticmethod(loads))
    return loads


def manager(base, **kwargs):
    return ModelManager(NAME, str(base), warmup=False, **kwargs)


def states(manager):
    return [(version, state_name(state)) for version, state, _, _ in manager.version_states()]


def state_name(state):
    return serving.model_manager.State.Name(state)


def test_a_base_path_that_disappears_for_a_moment_keeps_the_model(tmp_path, loads):
    """TF Serving fails the poll ("Could not find base path") and changes nothing; only an existing
    base path without versions unloads the model."""
    base = tmp_path / NAME
    (base / "1").mkdir(parents=True)
    versions = manager(base)
    versions.poll_once()
    assert versions.servable().version == 1
    os.rename(base, tmp_path / "moved")  # e.g. a deployment that swaps the directory
    versions.poll_once()
    assert versions.available and versions.servable().version == 1
    os.rename(tmp_path / "moved", base)
    versions.poll_once()
    assert versions.servable().version == 1 and loads.calls == [1]
    os.rename(base / "1", tmp_path / "1")  # the base path is there, without any version
    versions.poll_once()
    assert not versions.available and states(versions) == [(1, "END")]


def test_a_failed_load_is_retried(tmp_path, loads):
    (tmp_path / "3").mkdir()
    loads.failures = 2
    versions = manager(tmp_path, max_num_load_retries=5, load_retry_interval_seconds=0)
    versions.poll_once()
    assert loads.calls == [3, 3, 3] and versions.servable().version == 3
    assert states(versions) == [(3, "AVAILABLE")]


def test_a_load_that_keeps_failing_ends_after_its_retries_with_no_path_in_its_error(tmp_path, loads):
    (tmp_path / "1").mkdir()
    loads.failures = 10
    versions = manager(tmp_path, max_num_load_retries=2, load_retry_interval_seconds=0)
    versions.poll_once()
    assert loads.calls == [1, 1, 1] and not versions.available
    ((version, state, code, message),) = versions.version_states()
    assert (version, state_name(state), code) == (1, "END", grpc.StatusCode.INTERNAL)
    versions.poll_once()  # the directory did not change: not tried again
    assert loads.calls == [1, 1, 1]
    core = serving.services.ServingCore({NAME: versions}, server_paths=[str(tmp_path)])
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = NAME
    (reported,) = core.status(status).model_version_status
    assert str(tmp_path) in message and str(tmp_path) not in reported.status.error_message
    assert reported.status.error_message.startswith(
        "OSError: SavedModel file does not exist at: <server path>"
    )


def test_load_retries_wait_the_interval_and_stop_with_the_manager(tmp_path, loads):
    (tmp_path / "1").mkdir()
    loads.failures = 10
    versions = manager(tmp_path, max_num_load_retries=5, load_retry_interval_seconds=3600)
    poller = threading.Thread(target=versions.poll_once)
    poller.start()
    assert _wait(lambda: loads.calls == [1])
    assert states(versions) == [(1, "LOADING")]  # waiting to retry, as TF Serving reports it
    versions.stop()  # interrupts the wait
    poller.join(60)
    assert not poller.is_alive() and states(versions) == [(1, "END")]


def test_poll_wait_zero_polls_once_and_negative_never(tmp_path, loads, monkeypatch):
    (tmp_path / "1").mkdir()
    polls = []
    once = manager(tmp_path, poll_wait_seconds=0)
    poll_once = once.poll_once
    monkeypatch.setattr(once, "poll_once", lambda: (polls.append(1), poll_once()))
    once.start()
    assert polls == [1] and once._thread is None and once.available  # no polling thread at all
    once.stop()
    never = manager(tmp_path, poll_wait_seconds=-1)
    monkeypatch.setattr(never, "poll_once", lambda: polls.append(2))
    never.start()
    assert polls == [1] and never._thread is None and not never.available
    assert not never.wait_until_available(timeout=0)
    never.stop()


def _wait(predicate, timeout=60.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        done.wait(0.01)
    return False


def test_health_is_not_serving_while_in_flight_requests_drain(tmp_path, loads, monkeypatch):
    """During shutdown, health checks are still answered (NOT_SERVING, so a load balancer stops
    sending), new Predict calls get UNAVAILABLE (clients retry elsewhere), in-flight ones finish."""
    (tmp_path / "1").mkdir()
    entered, release = threading.Event(), threading.Event()

    def slow_predict(servable, request, *args, **kwargs):
        entered.set()
        assert release.wait(60)
        return predict_pb2.PredictResponse()

    monkeypatch.setattr(serving.services, "run_predict", slow_predict)
    server = ModelServer(NAME, str(tmp_path), port=0, warmup=False)
    assert server.start(timeout=60)
    channel = grpc.insecure_channel(server.address)
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    in_flight = prediction.Predict.future(request, timeout=60)
    assert entered.wait(60)
    stopping = threading.Thread(target=server.stop, kwargs={"grace": 60})
    stopping.start()
    assert _wait(lambda: server.core._closed)
    reply = health.Check(health_pb2.HealthCheckRequest(service="PredictionService"), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "Server is shutting down"
    release.set()
    assert in_flight.result(timeout=60) == predict_pb2.PredictResponse()
    stopping.join(60)
    assert not stopping.is_alive()
    channel.close()
