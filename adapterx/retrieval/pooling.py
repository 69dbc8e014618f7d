"""Sentence embeddings from one hidden layer: mean or CLS pooling, and which layer to take by default.

Layer indexing convention (used everywhere in adapterx): a layer index is an index into the ``hidden_states`` tuple a
Hugging Face encoder returns with ``output_hidden_states=True``. That tuple has ``num_layers + 1`` entries:
index 0 is the embedding output, index ``i`` (1 <= i <= num_layers) the output of transformer layer ``i``.

Where the conventions of other codebases land in this indexing:

- X-STILTs (Phang et al. 2020, jiant): mean pooling of ``hidden_states[14]`` of XLM-R Large (24 layers).
- XTREME ``evaluate_retrieval.py`` first drops the embedding output (``all_layer_outputs[-num_layers:]``), so its
  ``--specific_layer L`` is our index ``L + 1`` (:func:`from_xtreme_layer`): Tatoeba with XLM-R Large uses
  ``LAYER=13`` -> ``hidden_states[14]``, the same layer as X-STILTs, with mean pooling; BUCC uses
  ``--specific_layer 7`` with CLS pooling -> ``hidden_states[8]``, for every model (also for 24-layer XLM-R).
- XTREME's 12-layer Tatoeba default (``LAYER=7`` for mBERT) is ``hidden_states[8]``, one above what
  :func:`default_layer` gives for 12 layers (7): scaling 14/24 to 12 layers gives exactly 7.

Pooling over special tokens: XTREME averages over every non-padding position, ``<s>`` and ``</s>`` included
(``pool_mask = attention_mask`` unless ``--pool_skip_special_token``); :func:`mean_pool` does the same with the
attention mask, and :func:`content_mask` gives the mask without the first and last real token for the other option.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from adapterx.errors import ConfigError

__all__ = [
    "PoolingMethod",
    "cls_pool",
    "content_mask",
    "default_layer",
    "from_xtreme_layer",
    "mean_pool",
    "pool",
    "select_layer",
]

PoolingMethod = Literal["mean", "cls"]

# X-STILTs' choice: hidden_states[14] of XLM-R Large's 24 transformer layers.
_REFERENCE_LAYER = 14
_REFERENCE_DEPTH = 24


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``attention_mask`` is non-zero: (batch, length, dim) -> (batch, dim).

    Accumulates in float32 (a bf16/fp16 sum over hundreds of tokens loses digits) and returns float32. A row with no
    unmasked token gives the zero vector instead of 0/0 = NaN (its count is clamped to 1).
    """
    if hidden.dim() != 3:
        raise ValueError(f"mean_pool: hidden must be (batch, length, dim), got shape {tuple(hidden.shape)}")
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"mean_pool: attention_mask shape {tuple(attention_mask.shape)} does not match hidden "
            f"{tuple(hidden.shape[:2])}"
        )
    mask = attention_mask.to(device=hidden.device, dtype=torch.float32).unsqueeze(-1)  # (B, L, 1)
    summed = (hidden.float() * mask).sum(dim=1)  # (B, D)
    counts = mask.sum(dim=1).clamp(min=1.0)  # (B, 1)
    return summed / counts


def cls_pool(hidden: torch.Tensor) -> torch.Tensor:
    """The first position's vector (``<s>`` for XLM-R, ``[CLS]`` for BERT): (batch, length, dim) -> (batch, dim).

    Right padding is assumed (position 0 is a real token), as every Hugging Face tokenizer of these encoders pads.
    """
    if hidden.dim() != 3:
        raise ValueError(f"cls_pool: hidden must be (batch, length, dim), got shape {tuple(hidden.shape)}")
    return hidden[:, 0]


def content_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``attention_mask`` without the first and the last real token of every row (``<s>``/``</s>``), right padding.

    The mask XTREME builds for ``--pool_skip_special_token``: ``[0] + [1] * (n - 2) + [0] * padding``.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"content_mask: attention_mask must be (batch, length), got {tuple(attention_mask.shape)}")
    mask = attention_mask.clone()
    lengths = (attention_mask != 0).long().sum(dim=1)  # real tokens per row
    if attention_mask.shape[1]:
        right_padded = (attention_mask[:, 0] != 0) | (lengths == 0)
        if not bool(right_padded.all()):
            raise ValueError("content_mask: expects right padding (position 0 of every non-empty row unmasked)")
    rows = torch.arange(mask.shape[0], device=mask.device)
    has = lengths > 0
    mask[rows[has], 0] = 0
    mask[rows[has], lengths[has] - 1] = 0
    return mask


def default_layer(num_layers: int) -> int:
    """X-STILTs' layer, ``hidden_states[14]`` of 24, scaled to a model with ``num_layers`` transformer layers.

    ``round(num_layers * 14 / 24)``, halves rounded up, kept within 1..num_layers, computed in integers as
    ``(num_layers * 14 + 12) // 24`` (adding half the divisor before the floor division rounds half up):

    - 24 layers: (336 + 12) // 24 = 348 // 24 = 14 (the reference itself)
    - 12 layers: (168 + 12) // 24 = 180 // 24 = 7 (7.0 exactly)
    - 6 layers: (84 + 12) // 24 = 96 // 24 = 4 (3.5, rounded up)
    - 2 layers: (28 + 12) // 24 = 40 // 24 = 1 (1.17)
    - 1 layer: (14 + 12) // 24 = 1 (0.58; at least layer 1, never the embedding output)

    The result is an index into ``output_hidden_states`` (0 = embeddings), so ``num_layers`` itself is the last layer.
    """
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ConfigError(f"default_layer: num_layers must be a positive integer, got {num_layers!r}")
    layer = (num_layers * _REFERENCE_LAYER + _REFERENCE_DEPTH // 2) // _REFERENCE_DEPTH
    return min(max(layer, 1), num_layers)


def from_xtreme_layer(specific_layer: int) -> int:
    """XTREME's ``--specific_layer`` (embedding output dropped) as an ``output_hidden_states`` index: ``+ 1``."""
    if specific_layer < 0:
        raise ConfigError(f"XTREME's specific_layer counts from 0, got {specific_layer}")
    return specific_layer + 1


def select_layer(hidden_states: Sequence[torch.Tensor], layer: int) -> torch.Tensor:
    """``hidden_states[layer]`` with a clear error: 0 = embeddings, ``len - 1`` = last layer, negatives count back."""
    n = len(hidden_states)
    if not -n <= layer < n:
        raise ConfigError(
            f"layer {layer} is out of range for a model with {n - 1} layers: use 0 (embeddings) .. {n - 1}, "
            f"or a negative index (-1 = last layer)"
        )
    return hidden_states[layer]


def pool(
    hidden_states: Sequence[torch.Tensor],
    attention_mask: torch.Tensor,
    layer: int | None = None,
    method: PoolingMethod = "mean",
) -> torch.Tensor:
    """One sentence vector per row: ``method`` pooling of ``hidden_states[layer]``.

    ``layer`` None takes :func:`default_layer` of the model depth (``len(hidden_states) - 1``).
    """
    if layer is None:
        layer = default_layer(len(hidden_states) - 1)
    hidden = select_layer(hidden_states, layer)
    if method == "mean":
        return mean_pool(hidden, attention_mask)
    if method == "cls":
        return cls_pool(hidden).float()
    raise ConfigError(f"unknown pooling method {method!r}; use 'mean' or 'cls'")
