"""Frame triples from sources (never across the parts of a dataset) and monodepth2's shared augmentation."""

import numpy as np
import pytest
import torch

from endodepth.cli import main
from endodepth.errors import InputError
from endodepth.io.source import ConcatSource, Source
from endodepth.train.video_data import augment_triples, colour_jitter, load_triples


class _Clip(Source):
    """`n` frames of 40x32 whose red channel is the frame number plus an offset (which frame is which)."""

    def __init__(self, n: int, offset: int):
        super().__init__(f"clip{offset}")
        self.n, self.offset = n, offset
        self.size = (40, 32)
        self.intrinsics = np.array([[40.0, 0, 19.5], [0, 40.0, 15.5], [0, 0, 1]])

    def __len__(self) -> int:
        return self.n

    def frame(self, i: int):
        rgb = np.zeros((32, 40, 3), np.uint8)
        rgb[..., 0] = self.offset + i
        return self.make_frame(i, rgb, gt_depth=np.full((32, 40), 10.0 + i, np.float32))


def test_triples_stay_inside_one_part_and_k_follows_the_size():
    source = ConcatSource("both", "test", [_Clip(4, 0), _Clip(3, 100)])
    data = load_triples(source, (16, 20), with_depth=True)
    ids = data.rgb[..., 0][:, 0, 0][data.triples]
    assert ids.tolist() == [[0, 1, 2], [1, 2, 3], [100, 101, 102]]  # no triple spans clip0 -> clip100
    assert data.K[0][0, 0] == pytest.approx(20.0) and data.K[0][1, 2] == pytest.approx(7.75)
    rgb, depth = data.batch(np.array([2]))
    assert rgb[0, 0, 0, 0] == 101 and depth[0, 0, 0] == 11.0


def test_a_source_without_neighbours_is_one_clear_error():
    with pytest.raises(InputError, match="neighbours 2 frames"):
        load_triples(_Clip(4, 0), (16, 20), frame_step=2)


def test_jitter_is_shared_by_the_frames_of_a_triple_and_flips_move_k():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(1, 1, 3, 8, 10, generator=g).repeat(16, 3, 1, 1, 1)
    K = torch.tensor([[10.0, 0, 2.0], [0, 10.0, 4.0], [0, 0, 1]]).repeat(16, 1, 1)
    inp, img, K2, flip = augment_triples(frames, K, np.random.default_rng(3))
    assert torch.allclose(inp[:, 0], inp[:, 1], atol=1e-6) and torch.allclose(inp[:, 1], inp[:, 2], atol=1e-6)
    changed = (inp - img).abs().flatten(1).amax(1) > 1e-4
    assert 0 < changed.sum() < 16  # p = 0.5 per triple
    flipped = K2[:, 0, 2] == 7.0  # (10 - 1) - 2
    assert torch.equal(flipped, flip)
    assert 0 < flipped.sum() < 16 and torch.allclose(img[flipped], frames[flipped].flip(-1))
    assert torch.equal(img[~flipped], frames[~flipped])  # the losses see un-jittered colours


def test_jitter_keeps_images_in_range():
    x = torch.rand(8, 3, 3, 4, 4)
    y = colour_jitter(x, np.random.default_rng(0), p=1.0)
    assert y.min() >= 0 and y.max() <= 1 and not torch.allclose(x, y)


def test_the_command_refuses_a_test_split_for_validation_and_missing_inputs(tmp_path, capsys):
    (tmp_path / "clip").mkdir()
    out = str(tmp_path / "m.safetensors")
    assert main(["train", out, "--objective", "self-supervised", "--source", str(tmp_path / "clip"),
                 "--val-source", str(tmp_path / "test_files.txt")]) == 2
    assert "never selected on a test split" in capsys.readouterr().err
    assert main(["train", out, "--objective", "distill", "--source", str(tmp_path / "clip")]) == 2
    assert "needs --teacher" in capsys.readouterr().err
    assert main(["train", out, "--objective", "self-supervised", "--stage", "2"]) == 2
    assert "--stage 2 needs --weights" in capsys.readouterr().err
    assert main(["train", out, "--objective", "self-supervised", "--appearance-flow"]) == 2
    assert "--appearance-flow needs --convention af-sfmlearner or endodac" in capsys.readouterr().err


def test_split_entries_give_triples_inside_their_keyframe(tmp_path):
    from endodepth.io.splits import split_source
    from tests.io.io_fixtures import make_keyframe

    make_keyframe(tmp_path / "dataset_1" / "keyframe_1", n=5)
    split = tmp_path / "train_files.txt"
    split.write_text("dataset1/keyframe1\t1\tl\ndataset1/keyframe1\t3\tl\ndataset1/keyframe1\t5\tl\n")
    data = load_triples(split_source(tmp_path, split), (16, 20))
    assert len(data) == 1 and data.triples.tolist() == [[0, 1, 2]]  # the first and last entry have no neighbours


def test_a_stereo_keyframe_gives_both_views_and_the_pair_at_the_loss_size(tmp_path):
    from endodepth.io.detect import open_source
    from tests.io.io_fixtures import make_keyframe

    kf = make_keyframe(tmp_path / "dataset_1" / "keyframe_1", n=4)
    data = load_triples(open_source(tmp_path / "dataset_1" / "keyframe_1"), (16, 20), stereo=True)
    assert data.stereo is not None and data.stereo.pairs.shape == (len(data.rgb), 2, 16, 20, 3)
    assert np.array_equal(data.stereo.pairs[:, 0], data.rgb)
    w = kf.left.shape[2]
    np.testing.assert_allclose(data.stereo.K_left.numpy()[0, 0], kf.calib.K1[0, 0] * 20 / w, rtol=1e-5)
    np.testing.assert_allclose(data.stereo.right_T_left.numpy()[:3, 3], kf.calib.T, rtol=1e-5)
    assert load_triples(open_source(tmp_path / "dataset_1" / "keyframe_1"), (16, 20)).stereo is None
