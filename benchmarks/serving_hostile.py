"""The local server under hostile requests: its RSS growth, answer codes and latencies (issue 15).

    .venv/bin/python benchmarks/serving_hostile.py [--width 0.25] [--out FILE]

A random-weight model is exported (default max_pixels, 4096²) and served by `python -m
serving.server` in its own process, whose resident memory (VmRSS) is sampled every 10 ms. In
order: a normal request; PNG decompression bombs of 16,000² and 20,000² (a few hundred KB) to
`hash_bytes`; a hollow TensorProto declaring uint8 [1, 20000, 20000, 3] (61 bytes) to
`serving_default`; bursts of 20 concurrent large requests (three kinds, below); a request whose
0.3 s deadline passes while its graph runs (the server's CPU seconds after the deadline); and the
normal request again, whose codes must be the first one's. Each step records the codes answered,
the slowest answer, and the server's peak RSS above its RSS after start-up and warm-up.

Writes JSON (default `benchmarks/results/serving_hostile.json`) with the machine it ran on. RSS
and times depend on the machine and its load (recorded); this is a measurement, not a test.
"""

import argparse
import concurrent.futures
import json
import logging
import tempfile
import threading
import time
import zlib
from pathlib import Path

import grpc

# dmrh_tf before TensorFlow and Keras: it picks TF's CPU kernels (dmrh_tf/__init__.py)
import dmrh_tf

# isort: split
import numpy as np
import tensorflow as tf
from common import finish, machine
from serving_throughput import start_server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.client import CHANNEL_OPTIONS
from serving.export import export_model

log = logging.getLogger("serving_hostile")
DEFAULT_OUT = Path(__file__).parent / "results" / "serving_hostile.json"


def png_bomb(side):
    """A valid black RGB PNG of side × side pixels, compressed row by row (never held decoded)."""
    compressor, row = zlib.compressobj(9), b"\0" * (1 + 3 * side)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, body):
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


class Rss:
    """Samples /proc/PID VmRSS every 10 ms in a thread; `peak()` since the last `reset()`, in MB."""

    def __init__(self, pid):
        self.path, self._peak, self._stop = f"/proc/{pid}/status", 0, threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def now(self):
        with open(self.path) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    def _run(self):
        while not self._stop.wait(0.01):
            value = self.now()
            with self.lock:
                self._peak = max(self._peak, value)

    def reset(self):
        with self.lock:
            self._peak = self.now()

    def peak(self):
        with self.lock:
            return self._peak

    def stop(self):
        self._stop.set()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks of 10 ms


def request(signature, alias, proto):
    message = predict_pb2.PredictRequest()
    message.model_spec.name = "dmrh"
    message.model_spec.signature_name = signature
    message.inputs[alias].CopyFrom(proto)
    return message


def call(stub, message, timeout=120):
    """(status code name, seconds, codes or None)."""
    started = time.perf_counter()
    try:
        response = stub.Predict(message, timeout=timeout)
        return "OK", time.perf_counter() - started, tf.make_ndarray(response.outputs["codes"])
    except grpc.RpcError as error:
        return error.code().name, time.perf_counter() - started, None


def step(rss, name, stub, messages, baseline_mb, timeout=120):
    """Send `messages` at once (one thread each); record codes, slowest answer, peak RSS growth."""
    rss.reset()
    with concurrent.futures.ThreadPoolExecutor(len(messages)) as pool:
        results = list(pool.map(lambda m: call(stub, m, timeout), messages))
    time.sleep(0.2)  # let the sampler see the memory of the last answers
    codes = {}
    for code, _, _ in results:
        codes[code] = codes.get(code, 0) + 1
    row = {
        "step": name,
        "requests": len(messages),
        "request_bytes": messages[0].ByteSize(),
        "codes": codes,
        "slowest_answer_s": round(max(seconds for _, seconds, _ in results), 3),
        "peak_rss_growth_mb": round(rss.peak() - baseline_mb, 1),
    }
    log.info("%s", row)
    return row, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    facts = {"machine": machine(), "model": vars(args) | {"out": None, "weights": "random"}}
    side = dmrh_tf.input_side(args.regions)
    model = dmrh_tf.build_model(args.bits, args.regions, args.width)
    config = dmrh_tf.Config(bits=args.bits, regions=args.regions, width=args.width)
    rng = np.random.RandomState(0)
    normal = request(
        "", "images", tf.make_tensor_proto(rng.randint(0, 256, (2, side, side, 3)).astype(np.uint8))
    )
    hollow = tf.make_tensor_proto(np.zeros([0], np.uint8))
    hollow.tensor_shape.CopyFrom(tf.TensorShape([1, 20000, 20000, 3]).as_proto())
    big = rng.randint(0, 256, (2, 1100, 1100, 3)).astype(np.uint8)
    at_limit = np.zeros((1, 4096, 4096, 3), np.uint8)
    coarse = rng.randint(0, 256, (8, 8, 3)).astype(np.float32)  # a smooth 2000² photo-like PNG
    photo = tf.io.encode_png(tf.cast(tf.image.resize(coarse, (2000, 2000)), tf.uint8)).numpy()
    with tempfile.TemporaryDirectory() as base:
        export_model(model, config, base, "dmrh")
        process, address = start_server(Path(base) / "dmrh", "dmrh")
        try:
            channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            rss = Rss(process.pid)
            for _ in range(3):
                call(stub, normal)
            baseline = rss.now()
            facts["server"] = {"rss_after_warmup_mb": round(baseline, 1), "flags": "defaults"}
            rows = []
            row, first = step(rss, "normal request", stub, [normal], baseline)
            rows.append(row)
            for bomb_side in (16000, 20000):
                bomb = png_bomb(bomb_side)
                message = request("hash_bytes", "image_bytes", tf.make_tensor_proto([bomb]))
                rows.append(
                    step(rss, f"PNG bomb {bomb_side}² ({len(bomb) // 1024} KB)", stub, [message], baseline)[0]
                )
            rows.append(
                step(
                    rss, "hollow uint8 [1, 20000, 20000, 3]", stub, [request("", "images", hollow)], baseline
                )[0]
            )
            bursts = {
                "burst: 20 × serving_default 2 × 1100² (7.3 MB each)": request(
                    "", "images", tf.make_tensor_proto(big)
                ),
                "burst: 20 × serving_default 1 × 4096² (48 MiB each, at the pixel limit)": request(
                    "", "images", tf.make_tensor_proto(at_limit)
                ),
                f"burst: 20 × hash_bytes 4 × 2000² PNG ({len(photo) // 1024} KB each)": request(
                    "hash_bytes", "image_bytes", tf.make_tensor_proto([photo] * 4)
                ),
            }
            for name, message in bursts.items():
                rows.append(step(rss, name, stub, [message] * 20, baseline)[0])
            heavy = request("hash_bytes", "image_bytes", tf.make_tensor_proto([photo] * 40))
            before = cpu_seconds(process.pid)
            code, seconds, _ = call(stub, heavy, timeout=0.3)
            after_deadline = cpu_seconds(process.pid)
            time.sleep(3)
            rows.append(
                {
                    "step": "hash_bytes 40 × 2000² PNG with a 0.3 s deadline",
                    "codes": {code: 1},
                    "answer_s": round(seconds, 3),
                    "server_cpu_s_until_answer": round(after_deadline - before, 2),
                    "server_cpu_s_in_the_3_s_after": round(cpu_seconds(process.pid) - after_deadline, 2),
                }
            )
            log.info("%s", rows[-1])
            row, last = step(rss, "normal request after", stub, [normal], baseline)
            row["same_codes_as_the_first"] = bool(np.array_equal(first[0][2], last[0][2]))
            rows.append(row)
            rss.stop()
            channel.close()
        finally:
            process.terminate()
            process.wait(60)
    facts["steps"] = rows
    facts["machine"] = finish(facts["machine"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(facts, indent=2) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
