"""What makes a model run fast, and what ran: the attention implementation, and ``torch.compile`` of its layers.

Attention: ``transformers`` 4.57 picks the fused ``scaled_dot_product_attention`` (``sdpa``) by itself for every
model class that supports it (BERT, XLM-R, DistilBERT; DeBERTa-v2 has only ``eager``), and the ``adapters`` library
wraps the sdpa classes with sdpa classes of its own (``XLMRobertaSdpaSelfAttentionWithAdapters``); peft leaves the
attention module alone. ``benchmarks/speed.py`` counts the sdpa calls of one step per method to prove it ran;
run.json records what the model says it uses (:func:`attention_implementation`).

Compilation: :func:`compile_layers` compiles each transformer layer in place (``nn.Module.compile``), not the whole
model: the layers share their code, so the compiled code of the first is reused by the others (compile time of one
layer instead of twelve), and the task head, adapters' and peft's Python-level dispatch stay eager.
"""

from __future__ import annotations

from typing import Any

# Names of the module lists that hold a model's transformer layers: BERT / XLM-R / DeBERTa ``encoder.layer``,
# DistilBERT ``transformer.layer``.
_LAYER_LISTS = ("layer", "layers")


def transformer_layers(model: Any) -> list[Any]:
    """The transformer layer modules of ``model`` (a plain, ``adapters``- or peft-wrapped model), in order."""
    import torch

    out = []
    for name, mod in model.named_modules():
        parent, _, last = name.rpartition(".")
        if isinstance(mod, torch.nn.ModuleList) and last in _LAYER_LISTS and parent.endswith(("encoder", "transformer")):
            out.extend(mod)
    return out


def compile_layers(model: Any, backend: str = "inductor") -> int:
    """``torch.compile`` every transformer layer of ``model`` in place (dynamic shapes: batches vary in length);
    returns how many. Compiles lazily, at the first forward of each mode (training, evaluation). ``backend="eager"``
    traces without generating code (tests: the traced layers compute what the plain ones do)."""
    layers = transformer_layers(model)
    for layer in layers:
        if getattr(layer, "_compiled_call_impl", None) is None:  # compiled already: keep its compiled code
            layer.compile(dynamic=True, backend=backend)
    return len(layers)


def attention_implementation(model: Any) -> str | None:
    """The attention implementation ``model``'s configuration selects (``sdpa``, ``eager``, ...), None if unknown."""
    for mod in model.modules():
        cfg = getattr(mod, "config", None)
        impl = getattr(cfg, "_attn_implementation", None)
        if isinstance(impl, str):
            return impl
    return None


def record(model: Any, result: Any) -> dict[str, Any]:
    """run.json's ``speed`` entry: what ran, as opposed to what was asked (``hyperparameters``)."""
    return {"group_by_length": bool(getattr(result, "group_by_length", False)),
            "compile": bool(getattr(result, "compiled", False)),
            "attention": attention_implementation(model)}
