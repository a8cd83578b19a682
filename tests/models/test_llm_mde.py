"""LLM-MDE: the adaptive prompt's statistics and class words, output shape and range, selectivity taps,
local weights (timm ViT file, language-model folder) and refused checkpoints."""

import cv2
import numpy as np
import pytest
import timm
import torch

from endodepth.cli import main
from endodepth.errors import CheckpointError
from endodepth.models import create
from endodepth.models.checkpoint import save_checkpoint
from endodepth.models.llm_mde import SMALL
from endodepth.models.llm_mde_prompt import depth_class, image_statistics, prompt_texts, tiny_tokenizer, tokenize
from endodepth.models.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return create("llm-mde")


def test_statistics_are_index_positions_of_extremes_and_medians():
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(10.0), indexing="ij")
    rising = (cols + 10 * rows).expand(1, 3, 8, 10)
    assert image_statistics(rising) == [
        {"max_x": 9, "min_x": 0, "median_x": 4, "max_y": 7, "min_y": 0, "median_y": 3}
    ]
    falling = image_statistics(-rising)[0]
    assert (falling["max_x"], falling["min_x"], falling["max_y"], falling["min_y"]) == (0, 9, 0, 7)


@pytest.mark.parametrize("value, word", [
    (0.5, "giant"), (1.0, "giant"), (1.2, "extremely close"), (1.5, "extremely close"), (1.9, "close"),
    (2.1, "not in distance"), (2.4, "a little remote"), (2.6, "far"), (2.9, "unseen"), (3.5, "unseen"),
])
def test_depth_class_buckets_the_most_frequent_value(value, word):
    image = torch.full((3, 6, 6), value)
    image[:, :2] = -1.0  # a third of the pixels elsewhere: the mode decides
    assert depth_class(image) == word


def test_prompt_names_each_images_statistics_and_class_and_tokenizes_without_unknowns():
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    x = torch.full((2, 3, 16, 16), 2.6)
    x[0] = (cols + 16 * rows) / 1000
    texts = prompt_texts(x)
    assert "max value on the x axis 15," in texts[0] and "max value on the y axis 15," in texts[0]
    assert texts[0].endswith("the depth class of input is giant<|<end_prompt>|>")
    assert texts[1].endswith("the depth class of input is far<|<end_prompt>|>")
    tokenizer = tiny_tokenizer()
    ids = tokenize(tokenizer, texts)
    assert ids.shape[0] == 2 and tokenizer.unk_token_id not in ids.tolist()[0]


def test_predict_gives_sigmoid_scaled_relative_depth_at_frame_size(model):
    rgb = np.random.default_rng(0).integers(0, 256, (90, 110, 3), dtype=np.uint8)
    result = model.predict(rgb)
    assert result.kind == "relative" == model.kind
    assert result.output.shape == (90, 110) and result.output.dtype == np.float32
    assert (result.output > 0).all() and (result.output < SMALL["output_scale"]).all()
    small = model.predict(rgb, full_resolution=False).output
    assert small.shape == model.input_size


def test_default_selectivity_layers_resolve_to_maps(model):
    features = model.predict(np.zeros((64, 80, 3), np.uint8), layers=model.default_layers).features
    width, grid = SMALL["vision"]["embed_dim"], SMALL["vision"]["img_size"] // 16
    h, w = model.input_size
    assert {k: v.shape for k, v in features.items()} == {
        "visual_map": (width, grid, grid), "reprogrammed_map": (width, grid, grid),
        "head.up1": (12, h, w), "head.up2": (24, h, w), "head.up3": (36, h, w),
    }


def test_prompt_is_padded_to_the_token_count(model):
    x = torch.zeros(1, 3, 112, 112)
    embeddings = model.prompt_embeddings(x, visual_tokens=10)
    assert embeddings.shape == (1, SMALL["tokens"] - 10, SMALL["vision"]["embed_dim"])


def test_vision_weights_load_a_timm_checkpoint(tmp_path):
    vit = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=7, **SMALL["vision"])
    path = tmp_path / "vit.pth"
    torch.save(vit.state_dict(), path)
    model = build("llm-mde", vision_weights=str(path))  # untrained, as training starts (create loads the bundle)
    assert torch.equal(model.vision.blocks[1].attn.qkv.qkv.weight, vit.blocks[1].attn.qkv.weight)
    torch.save({"blocks.0.attn.qkv.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=r"vit\.pth.*missing keys"):
        build("llm-mde", vision_weights=str(path))


def test_a_folder_without_a_language_model_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="is not a language-model folder"):
        create("llm-mde", llm_weights=str(tmp_path))


def test_another_models_checkpoint_is_refused_by_name(tmp_path):
    meter = create("meter-xxs")
    path = save_checkpoint(meter.state_dict(), tmp_path / "meter.safetensors", "meter-xxs")
    with pytest.raises(CheckpointError) as err:
        create("llm-mde", weights=path)
    assert "meter.safetensors" in str(err.value) and "does not fit llm-mde" in str(err.value)
    assert "missing keys: word_embeddings" in str(err.value)


def test_own_checkpoint_round_trips(model, tmp_path):
    path = save_checkpoint(model.state_dict(), tmp_path / "llm.safetensors", model.name, model.options)
    again = create(path)
    rgb = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    np.testing.assert_array_equal(again.predict(rgb).output, model.predict(rgb).output)


def test_infer_passes_vision_weights_and_refuses_them_for_other_models(tmp_path, capsys):
    rgb = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), rgb)
    assert main(["infer", str(image), "--model", "default", "--vision-weights", str(tmp_path / "vit.pth")]) == 2
    assert "--llm-weights and --vision-weights go with --model llm-mde" in capsys.readouterr().err
    assert main(["infer", str(image), "--model", "llm-mde", "--vision-weights", str(tmp_path / "vit.pth")]) == 2
    assert "vit.pth: no such checkpoint file" in capsys.readouterr().err



def test_the_cli_refuses_an_official_checkpoint_without_llm_weights_in_one_line(tmp_path, capsys):
    path = tmp_path / "test_model_121.pth"
    torch.save({"model_state_dict": {"vit_lora.lora_vit.cls_token": torch.zeros(1, 1, 8),
                                     "word_embeddings": torch.zeros(30522, 96)}}, path)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    assert main(["infer", str(image), "--model", "llm-mde", "--weights", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "pass --llm-weights DIR" in err[0]
