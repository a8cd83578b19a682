"""LLM-MDE's adaptive prompt: image statistics, the depth-class word, the text, and the tokenizers.

Written from the public code of Xia & Wu's LLM-MDE (`LanguageMono.py`): the "statistics" are index
positions (column x, row y) of the minimum, maximum and median values of the network input resized to
224x224 (ImageNet-normalised), and the depth class buckets the input's most frequent value. The text is
joined without spaces, as the reference joins its f-strings. The tiny tokenizer of the small
configuration is built here from the prompt's own words, so it needs no download.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch

DEFAULT_DESCRIPTION = (
    "Monocular depth estimation is the process of inferring the distance of objects in a scene from a single 2D image."
)
DEPTH_CLASSES = ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
CLASS_EDGES = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
TEMPLATE = (
    "<|start_prompt|>Dataset description: {description}"
    "Task description: estimate the photo's depth"
    "Input statistics:"
    "min value on the x axis {min_x},"
    "min value on the y axis {min_y},"
    "max value on the x axis {max_x},"
    "max value on the y axis {max_y},"
    "median value on the x axis {median_x},"
    "median value on the y axis {median_y},"
    "the depth class of input is {depth_class}<|<end_prompt>|>"
)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def image_statistics(x: torch.Tensor) -> list[dict[str, int]]:
    """Per image of a (B, C, H, W) batch: the reference's min/max/median x (column) and y (row) positions.

    Along each axis the arg-max / arg-min / median index is taken per channel and line; max then takes
    the smallest of those positions, min the largest, median the median (as `stat_compute` does).
    """
    max_y, min_y, med_y = x.max(dim=2).indices, x.min(dim=2).indices, x.median(dim=2).indices
    max_x, min_x, med_x = x.max(dim=3).indices, x.min(dim=3).indices, x.median(dim=3).indices
    return [
        {
            "max_x": int(max_x[i].min()), "min_x": int(min_x[i].max()), "median_x": int(med_x[i].median()),
            "max_y": int(max_y[i].min()), "min_y": int(min_y[i].max()), "median_y": int(med_y[i].median()),
        }
        for i in range(x.shape[0])
    ]


def depth_class(image: torch.Tensor) -> str:
    """The class word of one (C, H, W) input: its most frequent value bucketed by `CLASS_EDGES`.

    `torch.bucketize` (right-closed bins): <= 1.0 is "giant", (2.75, 3.0] "unseen". Above 3.0 the
    reference fails (it indexes past the list); here it is "unseen" as well.
    """
    values, counts = torch.unique(image, return_counts=True)
    mode = values[torch.argmax(counts)]
    index = int(torch.bucketize(mode, torch.tensor(CLASS_EDGES, dtype=mode.dtype, device=mode.device)))
    return DEPTH_CLASSES[min(index, len(DEPTH_CLASSES) - 1)]


def prompt_texts(x: torch.Tensor, description: str = DEFAULT_DESCRIPTION) -> list[str]:
    """The prompt of every image of a (B, C, H, W) batch, each with its own statistics and class word.

    The reference takes the class word of the batch's first image for all of them; per image here, so an
    image's prompt does not depend on the batch (identical for the batches of one that `predict` runs).
    """
    return [
        TEMPLATE.format(description=description, depth_class=depth_class(x[i]), **stats)
        for i, stats in enumerate(image_statistics(x))
    ]


def prompt_words(description: str = DEFAULT_DESCRIPTION) -> list[str]:
    """The template's lower-cased words and punctuation marks, in first-seen order (BERT's pre-splitting)."""
    text = TEMPLATE.format(description=description, min_x="", min_y="", max_x="", max_y="", median_x="",
                           median_y="", depth_class=" ".join(DEPTH_CLASSES))
    return list(dict.fromkeys(re.findall(r"[^\W_]+|[^\w\s]|_", text.lower())))


def tiny_vocabulary(description: str = DEFAULT_DESCRIPTION) -> list[str]:
    """The small configuration's vocabulary: BERT's special tokens, the prompt's words, digits and digit pieces."""
    digits = [str(d) for d in range(10)]
    words = [w for w in prompt_words(description) if w not in digits]
    return list(SPECIAL_TOKENS) + digits + [f"##{d}" for d in digits] + words


def tiny_tokenizer(description: str = DEFAULT_DESCRIPTION):
    """A BERT WordPiece tokenizer over `tiny_vocabulary` (uncased), built in memory."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab={w: i for i, w in enumerate(tiny_vocabulary(description))})


def load_tokenizer(folder: str | Path):
    """The tokenizer of a local language-model folder (BERT or GPT-2 files); never reaches the hub."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def tokenize(tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """Token ids (B, L), padded to the longest prompt as the reference pads (GPT-2: with its EOS token)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=2048).input_ids
