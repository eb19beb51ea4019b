"""docs/datasets.md: every registered data set has a row, and every command in it parses."""

import os
import re
import shlex

from dmrh_tf.data import DATASETS
from dmrh_tf.training.config import parse_args

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "datasets.md")


def _text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def test_every_data_set_has_a_row_with_a_command():
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", _text(), re.MULTILINE)}
    assert set(DATASETS) <= rows


def test_the_commands_parse_into_valid_configs():
    commands = re.findall(r"`python -m dmrh_tf\.train([^`]*)`", _text())
    assert len(commands) >= len(DATASETS)
    for command in commands:
        config = parse_args(shlex.split(command))
        assert config.dataset in DATASETS
