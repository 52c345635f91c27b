"""Shared fixtures."""

from pathlib import Path

import pytest

from tspsis.data.synth import generate


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_ROOT of the `tiny` synthetic profile (seed 0), generated once per test session."""
    root = tmp_path_factory.mktemp("synth-tiny")
    generate("tiny", root, seed=0)
    return root
