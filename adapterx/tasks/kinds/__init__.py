"""Task kinds: how examples become model inputs, and model outputs become predictions and scores.

One module per kind; every task of a kind shares it. The contract (:class:`KindOps`):

- ``featurize(task, examples, tokenizer, max_length, doc_stride, train)`` -> :class:`~adapterx.data.examples.Features`
- ``collate(items, pad_id)`` -> a dict of tensors the model's forward takes (labels included when present)
- ``outputs(model_output)`` -> per-feature numpy arrays to keep (logits)
- ``decode(task, kept, features, examples)`` -> one prediction per example, in example order
- ``score(task, predictions, examples, lang)`` -> (metrics on 0-100, per-example sufficient statistics)
- ``selection_metric`` the dev metric used to pick the best checkpoint
"""

from __future__ import annotations

from typing import Any, Protocol

# Features is defined with the example types (the data layer's feature cache stores it); kinds produce it.
from adapterx.data.examples import Features


class KindOps(Protocol):
    auto_class: str  # the transformers Auto* class for peft / full fine-tuning

    def featurize(self, task, examples, tokenizer, max_length: int, doc_stride: int, train: bool) -> Features: ...

    def collate(self, items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]: ...

    def outputs(self, out: Any) -> list[Any]: ...

    def decode(self, task, kept: list[Any], features: Features, examples: list) -> list[Any]: ...

    def score(self, task, predictions: list[Any], examples: list, lang: str) -> tuple[dict[str, float], list[dict]]: ...

    def selection_metric(self, task) -> str: ...


def ops_for(kind: str) -> KindOps:
    """The operations of a task kind."""
    if kind in ("regression", "classification"):
        from adapterx.tasks.kinds import sequence

        return sequence.OPS
    if kind == "multiple_choice":
        from adapterx.tasks.kinds import choice

        return choice.OPS
    if kind == "span_qa":
        from adapterx.tasks.kinds import qa

        return qa.OPS
    if kind == "tagging":
        from adapterx.tasks.kinds import tagging

        return tagging.OPS
    raise ValueError(f"task kind {kind!r} has no training operations")


# What a model's forward takes from a feature (the rest are labels). token_type_ids are there only where the
# tokenizer returned them, i.e. where the model has segment embeddings (adapterx.backbone.load_tokenizer).
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def model_inputs(enc: Any, i: int) -> dict[str, Any]:
    """Feature ``i`` of a tokenizer's batch encoding: ``input_ids``, ``attention_mask`` and, where the encoding has
    them, ``token_type_ids`` (segment B = 1 for pairs, as the tokenizer's template sets them)."""
    return {k: enc[k][i] for k in MODEL_INPUTS if k in enc}


def inputs_only(item: dict[str, Any]) -> dict[str, Any]:
    """A feature without its labels: what prediction feeds the model."""
    return {k: v for k, v in item.items() if k in MODEL_INPUTS}


def pad_batch(items: list[dict[str, Any]], pad_id: int, keys_pad: dict[str, int] | None = None) -> dict[str, Any]:
    """Pad a list of features to the longest in the batch (dynamic padding) and stack them as tensors.

    ``keys_pad`` gives the pad value of each sequence-valued key (input_ids: ``pad_id``, attention_mask and
    token_type_ids: 0, token labels: -100); scalar keys are stacked as they are.
    """
    import torch

    pads = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0, **(keys_pad or {})}
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if key in pads:
            width = max(len(v) for v in vals)
            out[key] = torch.tensor([list(v) + [pads[key]] * (width - len(v)) for v in vals])
        else:
            out[key] = torch.tensor(vals)
    return out
