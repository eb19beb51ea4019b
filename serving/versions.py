"""Version directories: `BASE/NAME/<integer>/`, as TF Serving's file-system source reads them."""

import os
import re

_VERSION = re.compile(r"^[0-9]+$")


def list_versions(model_dir):
    """The integer version numbers under `model_dir`, ascending; other entries are ignored.

    TF Serving only considers directories whose names parse as integers, so an export that is
    still being written under a non-integer temporary name is invisible to it (and to us).
    """
    try:
        entries = os.listdir(model_dir)
    except FileNotFoundError:
        return []
    return sorted(
        int(name) for name in entries if _VERSION.match(name) and os.path.isdir(os.path.join(model_dir, name))
    )


def next_version(model_dir):
    """One more than the highest version under `model_dir`, or 1."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1
