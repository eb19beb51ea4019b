"""The on-disk form of an index: one zip file written atomically.

Members (stored uncompressed; packed codes do not compress):
- `meta.json`: format name and version, bits, backend name and parameters, code count, and the
  user's metadata (e.g. the model fingerprint and id → path table written by the CLI).
- `ids.npy`: the int64 user ids in insertion order.
- `backend.bin`: the backend's bytes (`faiss.serialize_index_binary` for faiss backends).
"""

import contextlib
import json
import os
import tempfile
import zipfile

FORMAT = "dmrh_tf.index.HammingIndex"
VERSION = 1
_MEMBERS = ("meta.json", "ids.npy", "backend.bin")


def write_index_file(path, meta, ids_npy, backend_bytes):
    """Write the three members to `path` atomically.

    The zip is written to a temporary file in the same directory, flushed to disk, then renamed
    over `path` with `os.replace` (atomic on POSIX and Windows), so an interrupted save leaves the
    previous file at `path` intact and no partial file behind.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    meta = {"format": FORMAT, "version": VERSION, **meta}
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                archive.writestr("meta.json", json.dumps(meta, indent=1))
                archive.writestr("ids.npy", ids_npy)
                archive.writestr("backend.bin", backend_bytes)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give the index the usual permissions of a data file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_index_file(path):
    """Read a file written by `write_index_file`: (meta dict, ids.npy bytes, backend bytes)."""
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            missing = set(_MEMBERS) - set(archive.namelist())
            if missing:
                raise ValueError(f"{path} is not a dmrh_tf index file (missing {sorted(missing)})")
            meta = json.loads(archive.read("meta.json"))
            ids_npy = archive.read("ids.npy")
            backend_bytes = archive.read("backend.bin")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path} is not a dmrh_tf index file: {error}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dmrh_tf index file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{path} has index format version {meta.get('version')}; this dmrh_tf reads {VERSION}"
        )
    return meta, ids_npy, backend_bytes
