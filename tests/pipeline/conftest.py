"""Fixtures of the pipeline tests."""

import pytest
from pipeline_fakes import Collector


@pytest.fixture
def collect() -> Collector:
    """Fresh recording callbacks for one Runner."""
    return Collector()
