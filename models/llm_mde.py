"""LLM-MDE (Xia & Wu, arXiv 2409.01133): a LoRA ViT read through a language model's word embeddings.

As the public code (651784766/LLM-MDE, `LanguageMono.py`) builds it: the input (ImageNet-normalised) is
resized to the ViT's image size (224x224) for a timm ViT/16 with LoRA on q and v; its tokens minus the last one are
"reprogrammed" by cross-attention onto K text prototypes (a linear map of the frozen vocabulary
embeddings); Language2Depth; the adaptive prompt's embeddings go in front and a BERT with LoRA on q/k/v
reads the sequence; its first `tokens` outputs are mapped over the token axis to 3 and over the width to
32x32, and the up-sampling head at the input's resolution ends in a sigmoid (times `output_scale`).

Registered as `llm-mde` (a small configuration trained on the synthetic set, weights bundled; the
tiny tokenizer of `llm_mde_prompt`) and `llm-mde-base` (the reference's sizes: ViT-B/16 r=160 alpha=320,
24 heads of 768, 1000 prototypes, BERT-base with r=32). `llm_weights=DIR` (a local BERT or GPT-2 folder:
config, weights, tokenizer) and `vision_weights=FILE` (a timm ViT checkpoint) load pretrained parts;
`official_filter` maps the reference's training checkpoint (`model_state_dict`) onto this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F

from endodepth.kinds import RELATIVE
from endodepth.models.base import DepthEstimator
from endodepth.models.llm_mde_parts import (
    AdaptationHead,
    Language2Depth,
    Reprogramming,
    TokenGrid,
    add_bert_lora,
    add_qv_lora,
)
from endodepth.models.llm_mde_prompt import prompt_texts, tiny_tokenizer, tokenize
from endodepth.models.llm_mde_weights import language_parts, load_vision_weights, official_filter
from endodepth.models.registry import register

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
COARSE = (3, 32, 32)  # the map the head upsamples: 3 channels of 32x32


class LLMMDE(DepthEstimator):
    """LLM-MDE for one configuration; `forward` takes an ImageNet-normalised (B, 3, H, W) batch."""

    kind = RELATIVE
    antialias = True

    def __init__(
        self, vision: Mapping, vision_rank: int, vision_alpha: float, language: Mapping, language_rank: int,
        language_alpha: float = 1.0, prototypes: int = 1000, heads: int = 24, tokens: int = 310,
        separate_values: bool = False, output_scale: float = 1.0, train_backbones: bool = False,
        input_size: tuple[int, int] = (480, 640), llm_weights: str | None = None, vision_weights: str | None = None,
    ) -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.vision = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0, **dict(vision))
        if vision_weights is not None:
            load_vision_weights(self.vision, Path(vision_weights))
        add_qv_lora(self.vision, vision_rank, vision_alpha)
        tokenizer, embeddings, self.language = language_parts(language, llm_weights)
        self.tokenizer = tokenizer or tiny_tokenizer()
        add_bert_lora(self.language, language_rank, language_alpha)
        self.register_buffer("word_embeddings", embeddings)
        width = self.vision.embed_dim
        self.prototypes = torch.nn.Linear(embeddings.shape[0], prototypes)
        self.reprogramming = Reprogramming(width, heads, width, embeddings.shape[1], separate_values=separate_values)
        self.language2depth = Language2Depth(width)
        self.token_map = torch.nn.Linear(tokens, COARSE[0])
        self.feature_map = torch.nn.Linear(width, COARSE[1] * COARSE[2])
        self.head = AdaptationHead(COARSE[0])
        grid = self.vision.patch_embed.grid_size
        self.visual_map = TokenGrid(grid, first=1)
        self.reprogrammed_map = TokenGrid(grid, first=1)
        self.tokens, self.output_scale = tokens, float(output_scale)
        self.default_layers = ("visual_map", "reprogrammed_map", "head.up1", "head.up2", "head.up3")
        self.train_backbones = train_backbones
        self._freeze()

    def _freeze(self) -> None:
        """The reference's trainable set: ViT LoRA, BERT q/k/v (weights and LoRA), everything outside them."""
        if self.train_backbones:
            return
        for name, p in self.vision.named_parameters():
            p.requires_grad_(".linear_a_" in name or ".linear_b_" in name)
        for name, p in self.language.named_parameters():
            p.requires_grad_(".attention.self." in name)

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Resize to `input_size` (area averaging when shrinking), [0, 1], ImageNet normalisation."""
        x = super().preprocess(rgb)
        return (x - MEAN.to(x.device)) / STD.to(x.device)

    def prompt_embeddings(self, vision_input: torch.Tensor, visual_tokens: int) -> torch.Tensor:
        """The prompts' token embeddings (B, P, D), padded so that P + visual tokens >= `tokens`.

        The reference fails when the sequence is shorter than its 310 tokens; padding (its own pad id, no
        attention mask, as its batch padding) keeps every image's sequence long enough.
        """
        ids = tokenize(self.tokenizer, prompt_texts(vision_input))
        short = self.tokens - visual_tokens - ids.shape[1]
        if short > 0:
            ids = F.pad(ids, (0, short), value=self.tokenizer.pad_token_id)
        return F.embedding(ids.to(self.word_embeddings.device), self.word_embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = F.interpolate(x, size=self.vision.patch_embed.img_size, mode="bilinear", align_corners=False)
        visual = self.vision.forward_features(v)
        self.visual_map(visual)  # the token grids are taps for forward hooks (selectivity), not inputs
        visual = visual[:, :-1]  # the reference keeps the class token and drops the last patch
        prototypes = self.prototypes(self.word_embeddings.T).T
        reprogrammed = self.reprogramming(visual, prototypes)
        self.reprogrammed_map(reprogrammed)
        sequence = torch.cat((self.prompt_embeddings(v, visual.shape[1]).to(x.dtype),
                              self.language2depth(reprogrammed)), dim=1)
        hidden = self.language(inputs_embeds=sequence).last_hidden_state[:, : self.tokens]
        coarse = self.feature_map(self.token_map(hidden.transpose(1, 2)).transpose(1, 2))
        out = self.head(coarse.reshape(-1, *COARSE), x)
        return torch.sigmoid(out) * self.output_scale


SMALL = {
    "vision": {"img_size": 112, "embed_dim": 96, "depth": 4, "num_heads": 3},
    "vision_rank": 8, "vision_alpha": 16,
    "language": {"hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 192},
    "language_rank": 8, "language_alpha": 8,
    "prototypes": 100, "heads": 2, "tokens": 170, "separate_values": True, "output_scale": 4.0,
    "train_backbones": True, "input_size": (64, 80),
}
BASE = {
    "vision": {}, "vision_rank": 160, "vision_alpha": 320, "language": {}, "language_rank": 32,
    "prototypes": 1000, "heads": 24, "input_size": (480, 640),
}


@register(
    "llm-mde",
    description="LLM-MDE, small configuration trained on synthetic endoscopy (bundled; models/weights/llm-mde.md)",
    bundled_weights="llm-mde.safetensors",
    checkpoint_filter=official_filter,
    **SMALL,
)
def llm_mde(**options) -> LLMMDE:
    return LLMMDE(**options)


@register(
    "llm-mde-base",
    description="LLM-MDE at the reference's sizes (ViT-B/16, BERT-base); official checkpoints, llm_weights=DIR",
    checkpoint_filter=official_filter,
    **BASE,
)
def llm_mde_base(**options) -> LLMMDE:
    return LLMMDE(**options)
