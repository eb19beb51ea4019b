"""Images of a prepared TFDS data set, read lazily: the `images` of a `Split` too large to decode.

A `TFDSImages` names, for every row of a split, its TFDS split and its record number in TFDS's
deterministic read order (`shuffle_files=False`). The pipeline streams those records, keeps the
split's members (a gather from record number to row, no lookup table, so the graph copies cleanly
under `tf.distribute`) and decodes only them. Rows are kept in stream order, so an ordered pass
yields the split's images in the split's order.
"""

import dataclasses
import importlib

import numpy as np
import tensorflow as tf

__all__ = ["TFDSImages"]

_POSITION_BITS = 40  # records per TFDS split < 2**40: (rank, position) packs into one int64 key


@dataclasses.dataclass(frozen=True, eq=False)
class TFDSImages:
    """Lazy images: row i is record `position[i]` of TFDS split `tfds_splits[split_rank[i]]`.

    name: the TFDS builder name (e.g. "coco/2014"); data_dir: its TFDS `data_dir`;
    image_key: the image feature; module: a module to import first so that a builder of this
    package (e.g. NUS-WIDE's) is registered with TFDS, or None for TFDS's own builders.
    """

    name: str
    data_dir: str | None
    image_key: str
    tfds_splits: tuple
    split_rank: np.ndarray
    position: np.ndarray
    module: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "split_rank", np.asarray(self.split_rank, np.int64))
        object.__setattr__(self, "position", np.asarray(self.position, np.int64))
        if self.split_rank.shape != self.position.shape or self.split_rank.ndim != 1:
            raise ValueError("split_rank and position must be [n] arrays of the same length")
        if np.any(np.diff(self.order_key) <= 0):
            raise ValueError(
                "TFDSImages rows must be in TFDS read order (strictly increasing split, record): "
                "sort the rows first (e.g. `split.take(np.sort(indices))`)"
            )

    @property
    def order_key(self):
        """[n] int64: the rows' place in the stream (split rank, then record number)."""
        return (self.split_rank << _POSITION_BITS) | self.position

    @property
    def dtype(self):
        """`object`, so that `Split.on_disk` is True: the pixels are not in memory."""
        return np.dtype(object)

    def __len__(self):
        return len(self.position)

    def __getitem__(self, indices):
        """The rows at `indices` (an index array, mask or slice that keeps the read order)."""
        return dataclasses.replace(self, split_rank=self.split_rank[indices], position=self.position[indices])

    @staticmethod
    def concat(parts):
        """The rows of `parts` one after the other (the result must still be in read order)."""
        first = parts[0]
        if any(
            (p.name, p.data_dir, p.image_key) != (first.name, first.data_dir, first.image_key) for p in parts
        ):
            raise ValueError("cannot concatenate images of different TFDS data sets")
        names = []
        for part in parts:
            names += [s for s in part.tfds_splits if s not in names]
        ranks = [np.array([names.index(s) for s in p.tfds_splits], np.int64) for p in parts]
        return dataclasses.replace(
            first,
            tfds_splits=tuple(names),
            split_rank=np.concatenate([r[p.split_rank] for r, p in zip(ranks, parts)]),
            position=np.concatenate([p.position for p in parts]),
        )

    def sort_order(self):
        """The permutation that puts these rows in read order."""
        return np.argsort(self.order_key, kind="stable")

    def builder(self):
        """The TFDS builder these records come from."""
        import tensorflow_datasets as tfds

        if self.module:
            importlib.import_module(self.module)
        return tfds.builder(self.name, data_dir=self.data_dir)

    def records(self):
        """`tf.data` of (row int32, encoded image bytes) for every row, in row order."""
        import tensorflow_datasets as tfds

        builder = self.builder()
        decoders = tfds.decode.PartialDecoding(
            {self.image_key: True}, decoders={self.image_key: tfds.decode.SkipDecoding()}
        )
        rows = np.arange(len(self), dtype=np.int32)
        parts = []
        for rank, tfds_split in enumerate(self.tfds_splits):
            member = self.split_rank == rank
            if not member.any():
                continue
            positions = self.position[member]
            row_of_position = np.full(positions.max() + 1, -1, np.int32)
            row_of_position[positions] = rows[member]
            table = tf.constant(row_of_position)
            key = self.image_key
            ds = builder.as_dataset(split=tfds_split, shuffle_files=False, decoders=decoders)
            ds = ds.take(len(row_of_position)).enumerate()  # records past the last member: unread
            ds = ds.map(lambda p, ex, table=table, key=key: (tf.gather(table, p), ex[key]))
            parts.append(ds.filter(lambda row, _: row >= 0))
        if not parts:  # an empty split: an empty stream of the same structure
            return tf.data.Dataset.from_tensor_slices((np.zeros(0, np.int32), np.zeros(0, str)))
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
        return ds
