"""TFDS builder `nus_wide21`: NUS-WIDE images labelled with its 21 most frequent concepts.

NUS-WIDE is not in TFDS and cannot be downloaded automatically: the builder reads a manual
download (see `nus_wide_files.MANUAL_DOWNLOAD_INSTRUCTIONS`). It writes one TFDS split, `train`,
holding every listed image that has at least one of the 21 concepts, decodes, and exists;
queries and database are drawn from it by the loader (`dmrh_tf.data.nuswide`), from a seed or
from split lists. The metadata record the 21 concepts (most frequent first) and what was skipped.

Importing this module registers the builder with TFDS.
"""

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from dmrh_tf.data.image_check import check_image_files
from dmrh_tf.data.nus_wide_files import (
    MANUAL_DOWNLOAD_INSTRUCTIONS,
    NUM_CONCEPTS,
    find_nus_wide_files,
    most_frequent,
    read_image_list,
    read_nus_wide_labels,
)

__all__ = ["NusWide21"]

log = logging.getLogger(__name__)


class NusWide21(tfds.core.GeneratorBasedBuilder):
    """NUS-WIDE-21 (Chua et al., CIVR 2009) from a manual download; see the module docstring."""

    name = "nus_wide21"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {  # noqa: RUF012  (TFDS reads it as a plain class attribute)
        "1.0.0": "Images with >= 1 of the 21 most frequent concepts; one split."
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def __init__(self, *, skip_corrupt=True, **kwargs):
        """skip_corrupt: skip (and count) missing or undecodable images; False: fail instead."""
        self._skip_corrupt = skip_corrupt
        super().__init__(**kwargs)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),  # path in the download: Flickr/actor/0001_….jpg
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "labels": tfds.features.Tensor(shape=(NUM_CONCEPTS,), dtype=np.float32),
                }
            ),
            homepage="https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        files = find_nus_wide_files(os.fspath(dl_manager.manual_dir))
        paths = read_image_list(files)
        names, labels = read_nus_wide_labels(files, len(paths))
        top = most_frequent(names, labels)
        labels = labels[:, top]
        listed = np.flatnonzero(labels.any(axis=1))
        check = check_image_files([os.path.join(files.root, p) for p in paths[listed]])
        if not check.ok.any():
            raise FileNotFoundError(
                f"none of the {len(listed)} listed images was found under {files.root} "
                f"(e.g. {os.path.join(files.root, paths[listed[0]]) if len(listed) else '-'}).\n"
                f"{MANUAL_DOWNLOAD_INSTRUCTIONS}"
            )
        if not self._skip_corrupt and (check.missing or check.corrupt):
            raise ValueError(
                f"NUS-WIDE: {len(check.missing)} listed images are missing and "
                f"{len(check.corrupt)} do not decode, e.g. {(check.missing + check.corrupt)[:3]} "
                "(skip_corrupt is off)"
            )
        if check.missing or check.corrupt:
            log.warning(
                "NUS-WIDE: skipping %d missing and %d undecodable images of %d",
                len(check.missing),
                len(check.corrupt),
                len(listed),
            )
        kept = listed[check.ok]
        self.info.metadata.update(
            concepts=[names[i] for i in top],
            concept_frequency=[int(labels[:, j].sum()) for j in range(len(top))],
            listed=len(paths),
            without_concepts=int(len(paths) - len(listed)),
            missing=len(check.missing),
            corrupt=len(check.corrupt),
            kept=len(kept),
        )
        return {"train": self._generate_examples(files.root, paths[kept], labels[kept])}

    def _generate_examples(self, root, paths, labels):
        for path, row in zip(paths, labels):
            yield (
                path,
                {
                    "id": path,
                    "image": os.path.join(root, path),
                    "labels": row.astype(np.float32),
                },
            )
