"""Entry point of `python -m dmrh_tf.index` (see `dmrh_tf.index.cli`)."""

import sys

from dmrh_tf.index.cli import main

if __name__ == "__main__":
    sys.exit(main())
