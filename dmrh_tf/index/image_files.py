"""The image files to index or query: a directory tree or a list file."""

import os

#: File extensions (lower case) taken from a directory; `tf.io.decode_image` reads all of them.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def list_images(source):
    """Paths of the images in `source`, in a reproducible order.

    - A directory: every file under it (recursively) with an extension in `IMAGE_EXTENSIONS`
      (any case), sorted by path.
    - A file: a list with one path per line, kept in file order; blank lines and lines starting
      with `#` are skipped, and relative paths are taken relative to the list file's directory.

    Raises FileNotFoundError if `source` or a listed file does not exist, ValueError if it yields
    no image.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        paths = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(source)
            for name in names
            if name.lower().endswith(IMAGE_EXTENSIONS)
        )
    elif os.path.isfile(source):
        base = os.path.dirname(source)
        with open(source, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
        paths = [os.path.join(base, line) for line in lines if line and not line.startswith("#")]
        check_files(paths, what=f"listed in {source}")
    else:
        raise FileNotFoundError(f"{source} is neither a directory of images nor a list file")
    if not paths:
        raise ValueError(f"no images found in {source} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return paths


def check_files(paths, what="given"):
    """Raise FileNotFoundError naming the first of `paths` that is not a file."""
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {path} ({what}) does not exist")
