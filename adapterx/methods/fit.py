"""Whether a run's options fit its backbone: values of the right type that the backbone cannot honour are refused
before anything loads, with the largest value that fits (rather than an IndexError inside the model, a bottleneck
of width 0, or a LoRA rank above the matrices' own rank, which peft accepts and trains)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError

# Models whose position ids start after the padding index (RoBERTa's convention): pad_token_id + 1 positions are
# not usable by tokens.
_POSITION_OFFSET_TYPES = frozenset({"xlm-roberta", "roberta", "camembert", "xlm-roberta-xl"})


def _config(backbone: Any) -> dict[str, Any]:
    try:
        data = json.loads((Path(backbone.path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a Hub id not downloaded here: the library's own loading reports it
    return data if isinstance(data, dict) else {}


def max_tokens(backbone: Any) -> int | None:
    """The longest input the backbone's position embeddings hold (None where its config does not say)."""
    cfg = _config(backbone)
    positions = cfg.get("max_position_embeddings")
    if not isinstance(positions, int):
        return None
    if cfg.get("model_type") in _POSITION_OFFSET_TYPES:
        positions -= int(cfg.get("pad_token_id") or 0) + 1
    return positions


def check_fit(backbone: Any, method: Any = None, max_length: int | None = None) -> None:
    """Refuse options that the backbone cannot honour: ``--max-length`` beyond its positions, an adapter bottleneck
    narrower than one unit, a LoRA rank above the hidden size."""
    if max_length is not None:
        limit = max_tokens(backbone)
        if limit is not None and max_length > limit:
            raise ConfigError(f"--max-length {max_length}: {backbone.id} holds at most {limit} tokens per input;"
                              f" use --max-length {limit} or less")
    hidden = getattr(backbone, "hidden_size", 0)
    name = getattr(method, "name", None)
    if not hidden or name is None:
        return
    if name == "adapter" and method.reduction_factor > hidden:
        raise ConfigError(f"--reduction-factor {method.reduction_factor}: {backbone.id} has hidden size {hidden}, so"
                          f" the bottleneck would have {hidden // method.reduction_factor} units; use at most {hidden}")
    if name == "lora" and method.r > hidden:
        raise ConfigError(f"--lora-rank {method.r}: above {backbone.id}'s hidden size {hidden}, the rank of the"
                          f" matrices it adapts; use at most {hidden}")
