"""The data-set contract every loader returns: a train, a query and a database split."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a data set, in a fixed order.

    ids: [n] str, stable identifiers (file paths or `name:index`), written to the split list files.
    labels: [n, C] float32 multi-hot (single-label data sets are one-hot).
    images: in the same order as `ids`, either uint8 [n, H, W, C] (C = 1 or 3) held in memory, or
        [n] str paths of encoded image files (JPEG/PNG/BMP/GIF) decoded on the fly by the pipeline,
        or a `dmrh_tf.data.tfds_images.TFDSImages` (records of a prepared TFDS data set, streamed
        in TFDS order; for sets too large to hold decoded, e.g. MS-COCO and NUS-WIDE).
    """

    ids: np.ndarray
    labels: np.ndarray
    images: np.ndarray

    def __post_init__(self):
        n = len(self.ids)
        if self.labels.ndim != 2 or len(self.labels) != n or len(self.images) != n:
            raise ValueError(
                f"split has {n} ids, labels of shape {self.labels.shape} and "
                f"{len(self.images)} images: they must agree (labels [n, C])"
            )

    @property
    def on_disk(self):
        """True when `images` holds file paths rather than pixels."""
        return self.images.dtype.kind in "USO"

    def __len__(self):
        return len(self.ids)

    def take(self, indices):
        """The sub-split at `indices` (in that order)."""
        indices = np.asarray(indices)
        return Split(self.ids[indices], self.labels[indices], self.images[indices])


@dataclasses.dataclass(frozen=True)
class Splits:
    """A data set's three splits under the retrieval protocol (the database may be the train split)."""

    name: str
    train: Split
    query: Split
    database: Split
    classes: tuple = ()  # class names, in label-column order, where the data set has them
    # where the data and the split came from (files, seed or split lists); written with the lists
    provenance: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def num_classes(self):
        return self.train.labels.shape[1]

    @property
    def database_is_train(self):
        """True under the DMRH protocol (database = training split, same images in the same order),
        where a method's learned codes of the training images (ADSH's V) can serve as the database."""
        return np.array_equal(self.database.ids, self.train.ids)

    def sizes(self):
        return {"train": len(self.train), "query": len(self.query), "database": len(self.database)}
