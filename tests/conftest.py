"""Shared fixtures: deterministic torch on few threads."""

import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def _cache_folder(tmp_path_factory):
    """Ground truth cached in a temp folder, never in the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ENDODEPTH_CACHE", str(tmp_path_factory.mktemp("endodepth-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of many tiny ops, which a second thread only slows (badly on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
