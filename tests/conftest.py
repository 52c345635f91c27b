"""Shared fixtures."""

from pathlib import Path

import pytest
import torch

from tspsis.data.synth import generate


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_ROOT of the `tiny` synthetic profile (seed 0), generated once per test session."""
    root = tmp_path_factory.mktemp("synth-tiny")
    generate("tiny", root, seed=0)
    return root


@pytest.fixture(scope="module")
def single_thread():
    """Tiny convolutions run fastest on one thread; several threads on shared cores crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
