"""Versions of one model: poll `BASE/NAME`, load the highest version, unload the one it replaces.

This is TF Serving's default behaviour (file-system source, `latest { num_versions: 1 }` policy,
availability-preserving transitions): the new version loads (and replays its warm-up requests)
while the old one keeps serving; then requests switch to it and the old one is unloaded (state
END). As `file_system_storage_path_source.cc` does, a base path that does not exist (for a moment,
or a mount that went away) changes nothing, while an existing base path without any version
unloads the model. A load that fails is retried `max_num_load_retries` times,
`load_retry_interval_seconds` apart (TF Serving's flags and defaults: 5 retries, 60 s), in state
LOADING; then the version is reported END with its error and the previous version keeps
serving. A version that failed is tried again only when its directory changes.
"""

import logging
import os
import threading
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving.errors import from_exception, not_found
from serving.predict import run_predict
from serving.servable import Servable
from serving.versions import list_versions
from serving.warmup import read_warmup

log = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State


class ModelManager:
    """Serve the latest version under `base_path` as model `name`; poll every `poll_wait_seconds`."""

    def __init__(
        self,
        name,
        base_path,
        poll_wait_seconds=1.0,
        warmup=True,
        max_num_load_retries=5,
        load_retry_interval_seconds=60.0,
    ):
        self.name = name
        self.base_path = base_path
        self.poll_wait_seconds = poll_wait_seconds
        self.warmup = warmup
        self.max_num_load_retries = max_num_load_retries
        self.load_retry_interval_seconds = load_retry_interval_seconds
        self._lock = threading.Lock()
        self._serving = None  # the Servable requests go to
        self._states = {}  # version → (State, grpc.StatusCode, message)
        self._failed = {}  # version → directory mtime when its load failed
        self._stop = threading.Event()
        self._thread = None
        self._warned_empty = False
        self._warned_missing = False

    # --- requests ---

    def servable(self, version=None):
        """The Servable for a request (`version` None = latest), or NOT_FOUND like TF Serving."""
        serving = self._serving
        if serving is not None and (version is None or version == serving.version):
            return serving
        request = f"Latest({self.name})" if version is None else f"Specific({self.name}, {version})"
        raise not_found(f"Servable not found for request: {request}")

    def version_states(self):
        """`[(version, State, StatusCode, message)]`, highest version first (TF Serving's order)."""
        with self._lock:
            return [(v, *self._states[v]) for v in sorted(self._states, reverse=True)]

    @property
    def available(self):
        return self._serving is not None

    # --- version management ---

    def poll_once(self):
        """Look at the base path once and load/unload versions to serve the highest one."""
        if not os.path.exists(self.base_path):
            # TF Serving: "Could not find base path …": the poll fails and nothing changes.
            if not self._warned_missing:
                log.error("Could not find base path %s for servable %s", self.base_path, self.name)
                self._warned_missing = True
            return
        self._warned_missing = False
        versions = list_versions(self.base_path)
        if not versions:
            if not self._warned_empty:
                log.warning("No versions of servable %s found under base path %s", self.name, self.base_path)
                self._warned_empty = True
            self._unload_current()  # TF Serving unloads a version whose directory disappeared
            return
        self._warned_empty = False
        latest = versions[-1]
        serving = self._serving
        if serving is not None and serving.version == latest:
            return
        path = os.path.join(self.base_path, str(latest))
        mtime = _mtime(path)
        if self._failed.get(latest) == mtime:
            return
        self._load(latest, path, mtime)

    def _set_state(self, version, state, code=grpc.StatusCode.OK, message=""):
        with self._lock:
            self._states[version] = (state, code, message)

    def _load(self, version, path, mtime):
        log.info("Loading servable %s version %d from %s", self.name, version, path)
        self._set_state(version, State.LOADING)
        start = time.monotonic()
        for attempt in range(self.max_num_load_retries + 1):
            if attempt:
                log.info(
                    "Retrying load of servable %s version %d (%d/%d)",
                    self.name,
                    version,
                    attempt,
                    self.max_num_load_retries,
                )
            try:
                servable = self._load_and_warm_up(version, path)
                break
            except Exception as error:
                failure = from_exception(error)
                log.error("Loading servable %s version %d failed: %s", self.name, version, failure.message)
            if attempt == self.max_num_load_retries or self._stop.wait(
                max(self.load_retry_interval_seconds, 0.0)
            ):
                self._failed[version] = mtime
                self._set_state(version, State.END, failure.code, failure.message)
                return
        old, self._serving = self._serving, servable
        self._set_state(version, State.AVAILABLE)
        log.info(
            "Successfully loaded servable %s version %d in %.1f s",
            self.name,
            version,
            time.monotonic() - start,
        )
        if old is not None:
            self._set_state(old.version, State.END)
            log.info("Unloaded servable %s version %d", self.name, old.version)

    def _load_and_warm_up(self, version, path):
        servable = Servable.load(self.name, version, path)
        if self.warmup:
            for request in read_warmup(path):
                run_predict(servable, request)
        return servable

    def _unload_current(self):
        old, self._serving = self._serving, None
        if old is not None:
            self._set_state(old.version, State.END)
            log.info("Unloaded servable %s version %d", self.name, old.version)

    # --- polling thread ---

    def start(self):
        """Poll as TF Serving does: once now, then every `poll_wait_seconds` until `stop()`.

        0 polls exactly once; a negative value never polls (the model never loads).
        """
        if self.poll_wait_seconds < 0:
            log.warning("File-system polling is disabled: servable %s will not be loaded", self.name)
            return
        self.poll_once()
        if self.poll_wait_seconds == 0:
            return
        self._thread = threading.Thread(target=self._poll_loop, name=f"poll-{self.name}", daemon=True)
        self._thread.start()

    def _poll_loop(self):
        while not self._stop.wait(self.poll_wait_seconds):
            try:
                self.poll_once()
            except Exception:  # never let a file-system hiccup kill the poller
                log.exception("polling %s failed", self.base_path)

    def wait_until_available(self, timeout=None, stop_event=None):
        """Block until a version serves (True), `timeout` seconds pass or `stop_event` is set (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.available:
            if stop_event is not None and stop_event.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
