"""Write tests/data/llm_mde_parity/: the reference LLM-MDE's output for seeded weights at a tiny size.

Run outside the project's tests, with a checkout of github.com/651784766/LLM-MDE and loralib importable:
    python scripts/llm_mde_parity_reference.py /path/to/LLM-MDE tests/data/llm_mde_parity
The reference's `Language4Depth` is built unchanged except for what would reach the hub or a GPU: timm's
`vit_base_patch16_224` and the two BERTs come from tiny configurations (below), the tokenizer from the
fixture's vocabulary, and its hard-coded `lora.Linear(768, 768, ...)` gets the tiny width. Its CLIP
helpers, imported but unused by the model, are stubbed. See the folder's README for the recipe.
"""

import argparse
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch

VISION = {"embed_dim": 64, "depth": 2, "num_heads": 2}
BERT = {"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}
DECODER_LAYERS, LLM_LAYERS = 2, 1
SEED, IMAGE_SEED, SIZE = 4321, 7, (64, 80)


def seeded(shapes: dict[str, list[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Key i of the sorted keys: n = randn(shape, seed + i); 1-D weights (norms) 1 + 0.1 n, pos/cls 0.5 n,
    matrices n / sqrt(fan_in), biases 0.05 n; running_var 1 + 0.1 |n|, running_mean 0.1 n, num_batches_tracked 0."""
    out = {}
    for i, key in enumerate(sorted(shapes)):
        shape = tuple(shapes[key])
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=torch.long)
            continue
        n = torch.randn(shape, generator=torch.Generator().manual_seed(seed + i))
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "running_var":
            out[key] = 1 + 0.1 * n.abs()
        elif leaf == "running_mean":
            out[key] = 0.1 * n
        elif len(shape) == 1 and leaf == "weight":
            out[key] = 1 + 0.1 * n
        elif leaf in ("pos_embed", "cls_token"):
            out[key] = 0.5 * n
        elif len(shape) >= 2:
            out[key] = n / math.sqrt(math.prod(shape[1:]))
        else:
            out[key] = 0.05 * n
    return out


def image() -> torch.Tensor:
    """An ImageNet-normalised (1, 3, 64, 80) batch of a quantised smooth pattern (repeated values, as a real frame)."""
    rng = np.random.default_rng(IMAGE_SEED)
    yy, xx = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    rgb = np.stack([np.sin(xx / 9 + c) * np.cos(yy / 7 - c) for c in range(3)], -1) * 100 + 128
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).round().astype(np.float32) / 255
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return torch.from_numpy(((rgb - mean) / std).astype(np.float32)).permute(2, 0, 1)[None]


def build_reference(repo: Path, vocab: Path):
    sys.path.insert(0, str(repo))
    clip = types.ModuleType("depth.clip")
    classifier = types.ModuleType("depth.layers.classifier_layer")
    classifier.zeroshot_classifier = None
    sys.modules.update({"depth.clip": clip, "depth.layers.classifier_layer": classifier})
    import loralib
    import timm
    import transformers

    real_create = timm.create_model
    timm.create_model = lambda name, pretrained=False, **kw: real_create(name, pretrained=False, **{**kw, **VISION})
    vocab_size = len(vocab.read_text().splitlines())

    def config(layers):
        return transformers.BertConfig(vocab_size=vocab_size, num_hidden_layers=layers, **BERT)

    transformers.BertConfig.from_pretrained = classmethod(lambda cls, *a, **kw: config(LLM_LAYERS))
    transformers.BertModel.from_pretrained = classmethod(
        lambda cls, *a, config=None, **kw: cls(config or globals()["_decoder_config"]))
    globals()["_decoder_config"] = config(DECODER_LAYERS)
    transformers.BertTokenizer.from_pretrained = classmethod(lambda cls, *a, **kw: cls(vocab=str(vocab)))
    import LanguageMono

    hidden = BERT["hidden_size"]
    LanguageMono.lora = types.SimpleNamespace(Linear=lambda _i, _o, r: loralib.Linear(hidden, hidden, r=r))
    args = types.SimpleNamespace(rank=4, alpha=8, llm_model="BERT", llm_layers=LLM_LAYERS, prompt_domain=False,
                                 content=" ", d_ff=768, n_heads=2, Microsoft_LoRA=4)
    return LanguageMono.Language4Depth(args, prompt=True, LoRA=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("repo", type=Path)
    p.add_argument("out", type=Path)
    a = p.parse_args()
    torch.manual_seed(0)
    model = build_reference(a.repo, a.out / "vocab.txt")
    train_state = model.state_dict()
    shapes = {k: list(v.shape) for k, v in train_state.items()}
    weights = seeded(shapes)
    aliases = {}
    for key, value in train_state.items():  # one tensor under several names: all get the first name's values
        aliases.setdefault(value.data_ptr(), []).append(key)
    groups = [sorted(g) for g in aliases.values() if len(g) > 1]
    for group in groups:
        for key in group[1:]:
            weights[key] = weights[group[0]]
    model.load_state_dict(weights, strict=True)
    model.eval()  # loralib folds each q/k/v update into its weight here, as before the reference saves
    prompts = []
    real_call = type(model.tokenizer).__call__
    type(model.tokenizer).__call__ = lambda self, texts, **kw: (prompts.extend(texts), real_call(self, texts, **kw))[1]
    with torch.no_grad():
        out = model(image())
    saved = model.state_dict()
    folded = sorted(k for k in saved if k.endswith(("query.weight", "key.weight", "value.weight"))
                    and not torch.equal(saved[k], weights[k]))
    (a.out / "official_shapes.json").write_text(json.dumps(
        {"shapes": shapes, "aliases": groups, "folded": folded, "prompt": prompts[0]}, indent=0))
    np.save(a.out / "reference.npy", out[0, 0].numpy().astype(np.float32))
    print(out.shape, float(out.min()), float(out.max()), float(out.std()), len(shapes), "keys;", prompts[0])


if __name__ == "__main__":
    main()
