"""One Milvus collection of binary codes: its schema, the connection, and the calls `MilvusBackend` makes.

Schema, one row per code:
- `position` INT64, primary key: the insertion position (0, 1, …), the index's tie-break.
- `id` INT64: the user id.
- `path` VARCHAR (up to `MAX_PATH` bytes): the image file, "" for codes added without one.
- `code` BINARY_VECTOR, `dim` = the code length padded to whole bytes: `np.packbits` bytes.

The collection's description holds JSON `{"format", "bits", "metadata"}`. It is written once, at
creation: Milvus Lite cannot alter collection properties (UNIMPLEMENTED in 2.5.1), and the code
length and the model a collection was built with never change anyway.

The URI picks the deployment, with the same calls: a local file ending in `.db` runs Milvus Lite in
this process; `http://host:19530` is Milvus Standalone or a cluster. A token (`user:password` or an
API key) is read from the `MILVUS_TOKEN` environment variable, so it never reaches an index file.
Every request runs at consistency level Strong (see `CONSISTENCY`).
"""

import json
import os
import warnings

import numpy as np

FORMAT = "dmrh_tf.index.MilvusCollection"
POSITION, ID, PATH, CODE = "position", "id", "path", "code"
#: Longest image path stored (bytes, Milvus's VARCHAR limit is 65,535).
MAX_PATH = 4096
#: Milvus's cap on `limit` (topk) of one search and on `limit` of one query.
MAX_RESULTS = 16384
#: Every read sees every write acknowledged before it (see docs/index.md, "Consistency").
CONSISTENCY = "Strong"
# Rows per insert request, and values per `id in [...]` filter: keeps each gRPC message small.
_INSERT_ROWS = 20_000
_FILTER_VALUES = 4096
# Hits per search request (queries × limit), so a large query batch is split into several calls.
_HITS_PER_REQUEST = 2**18


def is_local(uri):
    """True for a Milvus Lite file URI (what pymilvus runs in-process: a path ending in `.db`)."""
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:")) and uri.endswith(".db")


def connect(uri):
    """A `pymilvus.MilvusClient` for `uri` (pymilvus shares one connection per URI in a process)."""
    with warnings.catch_warnings():
        # milvus-lite 2.5.1 imports pkg_resources, which warns on import (setuptools < 81 is pinned).
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from pymilvus import MilvusClient

        return MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""))


class MilvusCollection:
    """The collection `name` at `uri`; nothing is created until `create`."""

    def __init__(self, uri, name):
        self.uri = uri
        self.name = name
        self._client = connect(uri)

    def exists(self):
        return self._client.has_collection(self.name)

    def create(self, bits, dim, index_type, index_params, metadata):
        """Create the collection with a HAMMING index of `index_type` on the codes; loads it."""
        from pymilvus import DataType, MilvusClient

        description = json.dumps({"format": FORMAT, "bits": bits, "metadata": metadata})
        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=description
        )
        schema.add_field(POSITION, DataType.INT64, is_primary=True)
        schema.add_field(ID, DataType.INT64)
        schema.add_field(PATH, DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field(CODE, DataType.BINARY_VECTOR, dim=dim)
        index = self._client.prepare_index_params()
        # The metric is explicit: Milvus Lite's default for binary vectors is JACCARD.
        index.add_index(field_name=CODE, index_type=index_type, metric_type="HAMMING", params=index_params)
        self._client.create_collection(
            self.name, schema=schema, index_params=index, consistency_level=CONSISTENCY
        )

    def description(self):
        """The `{"format", "bits", "metadata"}` written by `create`; ValueError for other collections."""
        text = self._client.describe_collection(self.name)["description"]
        try:
            stored = json.loads(text)
        except ValueError:
            stored = None
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            raise ValueError(f"Milvus collection {self.name!r} at {self.uri} was not created by dmrh_tf")
        return stored

    def fields(self):
        """{field name: Milvus type params}, e.g. `{"code": {"dim": 64}, …}`."""
        fields = self._client.describe_collection(self.name)["fields"]
        return {field["name"]: field.get("params", {}) for field in fields}

    def index_settings(self):
        """(index_type, metric_type, params) of the index on the codes."""
        info = self._client.describe_index(self.name, CODE)
        params = info.get("params", {})
        if isinstance(params, str):
            params = json.loads(params)
        for key in ("nlist",):
            if key in info:
                params[key] = info[key]
        return info["index_type"], info["metric_type"], params

    def load(self):
        """Load the collection for search unless it is (a collection survives a client restart
        released after a server restart or an explicit release)."""
        if str(self._client.get_load_state(self.name).get("state")) != "Loaded":
            self._client.load_collection(self.name)

    def count(self):
        rows = self._client.query(
            self.name, filter="", output_fields=["count(*)"], consistency_level=CONSISTENCY
        )
        return int(rows[0]["count(*)"])

    def next_position(self, count):
        """One past the highest stored position; `count` rows are stored.

        Positions are 0…count−1 unless an insert was cut short (a cluster splits a request by
        shard), so look past `count` until nothing is there.
        """
        start = count
        while True:
            rows = self._query(f"{POSITION} >= {start}", [POSITION], MAX_RESULTS)
            if not rows:
                return start
            start = max(row[POSITION] for row in rows) + 1

    def insert(self, positions, ids, paths, packed):
        for begin in range(0, len(positions), _INSERT_ROWS):
            end = begin + _INSERT_ROWS
            rows = [
                {POSITION: int(p), ID: int(i), PATH: path, CODE: code.tobytes()}
                for p, i, path, code in zip(
                    positions[begin:end], ids[begin:end], paths[begin:end], packed[begin:end], strict=True
                )
            ]
            self._client.insert(self.name, rows)

    def flush(self):
        """Seal the growing segments to storage (inserts are durable in Milvus's log before this)."""
        self._client.flush(self.name)

    def rows_with_ids(self, ids, fields):
        """The stored rows (dicts of `fields`) whose `id` is one of `ids`, in no particular order."""
        rows = []
        for begin in range(0, len(ids), _FILTER_VALUES):
            chunk = [int(i) for i in ids[begin : begin + _FILTER_VALUES]]
            rows += self._query(f"{ID} in {chunk}", fields, len(chunk))
        return rows

    def rows_by_position(self, end, fields):
        """Every stored row with position < `end`, as dicts of `fields`, sorted by position."""
        rows = []
        for begin in range(0, end, MAX_RESULTS):
            filter_ = f"{POSITION} >= {begin} and {POSITION} < {begin + MAX_RESULTS}"
            rows += self._query(filter_, [POSITION, *fields], MAX_RESULTS)
        return sorted(rows, key=lambda row: row[POSITION])

    def search(self, packed, limit, params, filter_=""):
        """Hits of each packed query: a list of (distances int32, positions int64, ids int64) arrays.

        `params` are the index's search params (`nprobe`, or `radius`/`range_filter` for a range
        search); the metric is HAMMING.
        """
        results = []
        rows = max(1, _HITS_PER_REQUEST // limit)
        search_params = {"metric_type": "HAMMING", "params": params}
        for begin in range(0, len(packed), rows):
            hits = self._client.search(
                self.name,
                data=[code.tobytes() for code in packed[begin : begin + rows]],
                anns_field=CODE,
                limit=limit,
                filter=filter_,
                output_fields=[POSITION, ID],
                search_params=search_params,
                consistency_level=CONSISTENCY,
            )
            for row in hits:
                results.append(
                    (
                        np.array([hit["distance"] for hit in row], np.int32),
                        np.array([hit["entity"][POSITION] for hit in row], np.int64),
                        np.array([hit["entity"][ID] for hit in row], np.int64),
                    )
                )
        return results

    def _query(self, filter_, fields, limit):
        return self._client.query(
            self.name, filter=filter_, output_fields=fields, limit=limit, consistency_level=CONSISTENCY
        )
