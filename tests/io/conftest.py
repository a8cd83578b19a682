"""The `keyframe` fixture: a SCARED keyframe folder written by our writer."""

import pytest
from io_fixtures import Keyframe, make_keyframe


@pytest.fixture
def keyframe(tmp_path) -> Keyframe:
    return make_keyframe(tmp_path / "dataset_1" / "keyframe_1")
