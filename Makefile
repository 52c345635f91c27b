# The two commands of the README:  `make demo` (main job) and `make test` (test suite); `make tiny` is the quick
# first try.
# Both create .venv with the pinned stack on first use (`make setup`).
PYTHON_BIN ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
SETUP_DONE := $(VENV)/.tspsis-setup

.PHONY: help setup test test-fast tiny demo demo-detector demo-detector-all coverage doctor lab clean-venv

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 24

setup: $(SETUP_DONE)  ## .venv with the pinned stack (a fresh one compiles mmcv: ~30 min on 2 cores, see README)

$(SETUP_DONE): pyproject.toml scripts/install_mmcv.py
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77,<80.10" wheel
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) scripts/install_mmcv.py
	$(PY) -m tspsis doctor
	@touch $@

test: setup  ## the test suite (what CI runs)
	$(PY) -m pytest

test-fast: setup  ## the tests that train nothing and execute no notebook (under 3 minutes)
	$(PY) -m pytest -m "not slow and not chaos"

tiny: setup  ## the quick first try: run-notebooks --profile tiny, the whole chain in miniature (about 7 minutes on 2 cores)
	$(PY) -m tspsis run-notebooks --profile tiny

demo: setup  ## the main job: run-notebooks --profile demo (about 1 hour on 2 cores)
	$(PY) -m tspsis run-notebooks --profile demo

demo-detector: setup  ## the paper's protocol (detector track): Table 1's core rows and claim 5 from detections
	$(PY) -m tspsis run-notebooks --profile demo-detector

demo-detector-all: setup  ## after demo-detector: every other Table 1 row and claim 5 on 3 seeds, from detections
	$(PY) -m tspsis run-notebooks --profile demo-detector-all

coverage: setup  ## where the method helps: seen sets that cover the unseen categories or not (notebooks 00, 07, 08)
	$(PY) -m tspsis run-notebooks --profile coverage --only 00,07,08

doctor: setup  ## check torch, mmcv ops, mmdet and the kernels
	$(PY) -m tspsis doctor

lab: setup  ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:  ## remove .venv
	rm -rf $(VENV)
