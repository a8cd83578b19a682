"""LLM-MDE's weights from local files: the language model folder, a timm ViT checkpoint, and the
reference's training checkpoint mapped onto `llm_mde.LLMMDE`.

The reference (`main.py`) saves `{"model_state_dict", "optimizer_state_dict", "loss"}` right after
`model.eval()`, where loralib has folded each BERT q/k/v update into its weight (W + s B A, with lora_A
and lora_B kept beside it). `official_filter` unfolds it (W = saved - s B A), so the model computes what
the reference computed when it validated and saved. (Loading that file into the reference's own model
and calling `eval()` folds the update a second time; those are not the numbers it reported.)
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from endodepth.errors import CheckpointError
from endodepth.models.checkpoint import UnfitCheckpoint, load_into, read_checkpoint
from endodepth.models.llm_mde_prompt import load_tokenizer, tiny_vocabulary

_RENAMES = (
    ("vit_lora.lora_vit.", "vision."), ("mapping_layer.", "prototypes."), ("cross_att.", "reprogramming."),
    ("l2d_module.", "language2depth."), ("mapping_layer4.", "token_map."), ("mapping_layer5.", "feature_map."),
    ("l2d_deocder.", "head."), ("llm_decoder.", "language."),
)
# parts of the reference's model that its prompt forward never reads: the same ViT under a second name,
# its unused classifier and 3-D projection, the prompt-free path's maps, the 4-layer LLM that only lends its
# embedding table (kept as `word_embeddings`) and BERT's pooler
_UNUSED = (
    "vit_backbone.", "vit_lora.proj_3d.", "vit_lora.lora_vit.head.", "mapping_layer2.", "mapping_layer3.",
    "llm_model.", "llm_decoder.pooler.",
)


def official_filter(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The reference's keys -> ours, its folded BERT LoRA unfolded; our own checkpoints pass through.

    One over a real language model's vocabulary, built without `llm_weights`, is refused in one line.
    """
    if not any(k.startswith("vit_lora.") for k in state_dict):
        return dict(state_dict)
    table, ours = state_dict.get("word_embeddings"), model.word_embeddings.shape[0]
    if table is not None and table.shape[0] != ours and model.options.get("llm_weights") is None:
        raise UnfitCheckpoint(f"is an official LLM-MDE checkpoint over a {table.shape[0]}-word language model, not "
                              f"the built-in {ours}-word one; pass --llm-weights DIR (the folder it was trained with)")
    out = {}
    for key, value in state_dict.items():
        if key.startswith(_UNUSED) or (key.startswith("cross_att.value_projection.")
                                       and not model.reprogramming.separate_values):
            continue
        for old, new in _RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    for name, module in model.language.named_modules():
        prefix = f"language.{name}."
        if hasattr(module, "delta_weight") and prefix + "lora_A" in out and prefix + "weight" in out:
            a, b = out[prefix + "lora_A"], out[prefix + "lora_B"]
            out[prefix + "weight"] = out[prefix + "weight"] - b @ a * module.scaling
    return out


def load_vision_weights(vit: nn.Module, path: Path) -> None:
    """A timm ViT checkpoint (e.g. vit_base_patch16_224's) into the encoder before its LoRA is added."""
    tensors, _ = read_checkpoint(path)
    load_into(vit, path, tensors, lambda sd, _m: {k: v for k, v in sd.items() if not k.startswith("head.")})


def _bert_config(overrides: Mapping):
    from transformers import BertConfig

    config = BertConfig(**dict(overrides))
    if "vocab_size" not in overrides:
        config.vocab_size = len(tiny_vocabulary())
    return config


def language_parts(language: Mapping, llm_weights: str | Path | None):
    """(tokenizer or None for the tiny one, embedding table (V, D), BERT decoder without pooler).

    Without `llm_weights` the decoder is a fresh BERT of `language`'s sizes over the tiny vocabulary. A
    BERT folder gives the tokenizer, the table and the decoder's pretrained weights (its q/k/v are then
    replaced, as in the reference); a GPT-2 folder gives the tokenizer and its `wte` table, and the decoder
    stays a fresh BERT (the reference's decoder is always BERT).
    """
    from transformers import BertModel

    if llm_weights is None:
        decoder = BertModel(_bert_config(language), add_pooling_layer=False)
        return None, decoder.embeddings.word_embeddings.weight.detach().clone(), decoder
    folder = Path(llm_weights)
    if not (folder / "config.json").is_file():
        raise CheckpointError(folder, "is not a language-model folder (no config.json)")
    with _quiet_transformers():
        return _read_folder(folder, language)


@contextmanager
def _quiet_transformers():
    """transformers' load reports and progress bars off (the pooler it lists as unused is dropped on purpose)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()


def _read_folder(folder: Path, language: Mapping):
    from transformers import AutoConfig, BertModel, GPT2Model

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        if config.model_type == "bert":
            for key, value in dict(language).items():
                setattr(config, key, value)
            decoder = BertModel.from_pretrained(str(folder), config=config, add_pooling_layer=False,
                                                local_files_only=True)
            table = decoder.embeddings.word_embeddings.weight.detach().clone()
        elif config.model_type == "gpt2":
            table = GPT2Model.from_pretrained(str(folder), local_files_only=True).wte.weight.detach().clone()
            decoder = BertModel(_bert_config({**dict(language), "hidden_size": table.shape[1]}),
                                add_pooling_layer=False)
        else:
            raise CheckpointError(folder, f"holds a {config.model_type!r} model; LLM-MDE reads BERT or GPT-2")
        tokenizer = load_tokenizer(folder)
    except (OSError, ValueError) as exc:
        raise CheckpointError(folder, f"could not be read as a language model ({str(exc).splitlines()[0]})") from None
    return tokenizer, table, decoder
