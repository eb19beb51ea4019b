# The README's two commands: `make train` (main job on the built-in data set) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup train test test-all lint format

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Real images for the tests that use them; needs root (CI runs as root) and Debian's archive.
$(FASHION_MNIST):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
	else echo "not root: skipping dataset-fashion-mnist (its tests will be skipped)"; fi

train: $(STAMP)
	$(PY) -m dmrh_tf.train $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: $(STAMP) $(FASHION_MNIST) lint
	$(PY) -m pytest -n 2 --timeout 900 $(ARGS)

test-all: $(STAMP) $(FASHION_MNIST) lint
	$(PY) -m pytest -n 2 --timeout 1800 -m '' $(ARGS)
