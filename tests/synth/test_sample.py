from endodepth.io.detect import open_source
from endodepth.resources import sample_clip_path


def test_bundled_sample_clip_opens_with_its_calibration():
    path = sample_clip_path()
    assert path.is_file() and path.stat().st_size < 4_000_000
    src = open_source(path)
    assert src.kind == "video" and src.size == (640, 512) and len(src) == 120
    assert not src.intrinsics_assumed
    frame = src.frame(60)
    assert frame.K[0, 0] > 400 and frame.rgb.mean() > 30
    assert frame.rgb[0, 0].max() < 10  # outside the circular field of view
