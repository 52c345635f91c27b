# The two commands of the README:  `make demo` (main job) and `make test` (test suite).
# Both create .venv with the pinned stack on first use (`make setup`).
PYTHON_BIN ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
SETUP_DONE := $(VENV)/.tspsis-setup

.PHONY: setup test demo doctor lab clean-venv

setup: $(SETUP_DONE)

$(SETUP_DONE): pyproject.toml scripts/install_mmcv.py
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77,<80.10" wheel
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) scripts/install_mmcv.py
	$(PY) -m tspsis doctor
	@touch $@

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m tspsis run-notebooks --profile demo

doctor: setup
	$(PY) -m tspsis doctor

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
