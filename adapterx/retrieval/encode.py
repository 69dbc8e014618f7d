"""Sentence encoders for retrieval: the backbone *as a module leaves it*, or the bare backbone, and batched embedding.

An :class:`Encoder` wraps the transformer body (a Hugging Face ``XLMRobertaModel`` or the like) that returns
``hidden_states`` with ``output_hidden_states=True``, whatever method produced it:

- method ``adapter`` (``adapters.AutoAdapterModel``): ``model.base_model`` is the body; the adapters library keeps the
  loaded adapter active when the body is called directly (its forward is wrapped in a ``ForwardContext`` that reads
  the model's active setup), and the prediction heads are never run;
- method ``lora`` (a peft ``PeftModel``): ``model.get_base_model().base_model``: peft injects the LoRA layers *into*
  the base model's linear modules, so calling the body keeps them active (not merged, not disabled);
- method ``full``: the fine-tuned model's body (``.roberta`` for XLM-R), its head dropped;
- ``none``: ``transformers.AutoModel.from_pretrained(backbone)``, the pretrained body as it is.

The tests check that each path gives the same hidden states as the full module's forward (and different ones from the
bare backbone).

Embedding (:func:`embed`, :func:`embed_layers`): sentences are tokenized once without padding (truncated at
``max_length``, special tokens added), sorted by length and batched, so each batch pads only to its own longest
sentence; the forward runs under ``torch.inference_mode`` and pooled vectors are put back in input order. Pooling and
the layer index convention (0 = embedding output, ``num_layers`` = last layer) are those of
:mod:`adapterx.retrieval.pooling`. :func:`embed_layers` pools any set of layers from a single forward pass, which is
how the layer sweep gets every layer for the price of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adapterx.errors import ConfigError, ModelError
from adapterx.retrieval.pooling import PoolingMethod, cls_pool, content_mask, default_layer, mean_pool
from adapterx import backbone as bbmod
from adapterx.engine.loop import autocast
from adapterx.engine.loop import pick_device
from adapterx.engine.rundir import module_folder
from adapterx.hub.resolve import resolve_module_ref
from adapterx.methods import load_module
from adapterx.methods import quiet_transformers

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_LENGTH",
    "Encoder",
    "bare_encoder",
    "body_of",
    "embed",
    "embed_layers",
    "encoder_from_module",
    "load_encoder",
]

DEFAULT_BATCH_SIZE = 64
# XTREME's run_tatoeba.sh / run_bucc2018.sh use --max_seq_length 512; length-sorted batches make it free for short text.
DEFAULT_MAX_LENGTH = 512
_POOLINGS = ("mean", "cls")


@dataclass
class Encoder:
    """A transformer body returning ``hidden_states``, its tokenizer, and what it is (for the result record)."""

    body: Any  # torch.nn.Module; body(input_ids=..., attention_mask=..., output_hidden_states=True).hidden_states
    tokenizer: Any
    num_layers: int
    device: str = "cpu"
    module: str = "none"  # the --module reference ("none" for the bare backbone)
    method: str | None = None  # adapter | lora | full, None for the bare backbone
    backbone: dict[str, Any] = field(default_factory=dict)  # Backbone.record()
    bf16: bool = False
    # Positions the module puts before the input (prompt tuning's soft prompt): dropped from every hidden state, so
    # pooling sees the sentence's tokens only, aligned with the attention mask.
    skip_positions: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. a module of other backbone weights, allowed by the user

    @property
    def default_layer(self) -> int:
        return default_layer(self.num_layers)

    def resolve_layer(self, layer: int | None) -> int:
        """``layer`` as a non-negative ``hidden_states`` index (None -> :attr:`default_layer`), range-checked."""
        if layer is None:
            return self.default_layer
        n = self.num_layers + 1
        if isinstance(layer, bool) or not isinstance(layer, int) or not -n <= layer < n:
            raise ConfigError(
                f"--layer {layer} is out of range for a model with {self.num_layers} layers: use 0 (embeddings) .. "
                f"{self.num_layers} (last layer), or a negative index (-1 = last layer)"
            )
        return layer % n


def body_of(model: Any) -> Any:
    """The transformer body of a module's model (adapters model, peft model, or plain HF model with a head).

    peft: ``get_base_model()`` returns the wrapped HF model with the LoRA layers still injected; a Hugging Face
    ``PreTrainedModel``'s ``base_model`` property is its body (``getattr(model, model.base_model_prefix)``), for an
    ``AutoAdapterModel`` as well; a body's ``base_model`` is itself.
    """
    if hasattr(model, "get_base_model"):  # peft
        model = model.get_base_model()
    body = getattr(model, "base_model", model)
    if body is None:  # pragma: no cover - defensive
        body = model
    return body


def _num_layers(body: Any) -> int:
    cfg = getattr(body, "config", None)
    n = getattr(cfg, "num_hidden_layers", None)
    if not isinstance(n, int) or n < 1:
        raise ModelError("the encoder's config has no num_hidden_layers; retrieval needs a transformer encoder")
    return n


def encoder_from_module(module: Any, tokenizer: Any, device: str | None = None, bf16: bool = False,
                        module_ref: str = "?", backbone: dict[str, Any] | None = None) -> Encoder:
    """An :class:`Encoder` over a loaded :class:`adapterx.methods.Module`, its method active (see the module doc)."""
    dev = pick_device(device)
    model = module.model
    model.eval()
    model.to(dev)
    body = body_of(model)
    return Encoder(body, tokenizer, _num_layers(body), dev, module_ref, module.method.name, backbone or {}, bf16,
                   skip_positions=module.hooks.strip_positions)


def bare_encoder(bb: Any, tokenizer: Any, device: str | None = None, bf16: bool = False) -> Encoder:
    """The pretrained backbone without any module: ``AutoModel.from_pretrained(bb.path)`` (no pooler needed)."""
    from transformers import AutoModel

    quiet_transformers()
    dev = pick_device(device)
    try:
        body = AutoModel.from_pretrained(bb.path, add_pooling_layer=False)
    except TypeError:  # a model class without a pooler argument
        body = AutoModel.from_pretrained(bb.path)
    body.eval()
    body.to(dev)
    return Encoder(body, tokenizer, _num_layers(body), dev, "none", None, bb.record(), bf16)


def load_encoder(module_ref: str, model: str | None = None, device: str | None = None,
                 bf16: bool = False, resolved: tuple[Path | None, dict[str, Any]] | None = None,
                 allow_backbone_mismatch: bool = False) -> Encoder:
    """Resolve ``--module`` (a run directory, a module folder, a hub id, or ``none``) and ``--model`` to an encoder.

    The backbone defaults to the one the module's ``run.json`` records, ``xlm-roberta-base`` for ``none``; a module
    trained on another backbone is refused (:func:`adapterx.backbone.check_compatible`). ``resolved`` is what
    ``adapterx.hub.resolve.resolve_module_ref(module_ref)`` returned, where the caller already has it.
    """
    path, run = resolved if resolved is not None else resolve_module_ref(module_ref)
    model_id = model or (run.get("backbone", {}).get("id") if run else None) or bbmod.DEFAULT_MODEL
    bb = bbmod.resolve(model_id)
    tok = bbmod.load_tokenizer(bb)
    if path is None:
        return bare_encoder(bb, tok, device, bf16)
    note = None
    if run.get("backbone"):
        note = bbmod.check_compatible(bb, run["backbone"], f"module {module_ref}", allow_backbone_mismatch)

    module = load_module(module_folder(Path(path)), bb)
    encoder = encoder_from_module(module, tok, device, bf16, module_ref=module_ref, backbone=bb.record())
    if note:
        encoder.notes.append(f"{note}; evaluated with --allow-backbone-mismatch")
    return encoder


# ---------------------------------------------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------------------------------------------


def _check_pooling(pooling: str) -> None:
    if pooling not in _POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r}; use 'mean' or 'cls'")


def _tokenize(encoder: Encoder, sentences: Sequence[str], max_length: int) -> list[list[int]]:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 3:
        raise ConfigError(f"--max-length must be an integer >= 3, got {max_length!r}")
    enc = encoder.tokenizer(list(sentences), add_special_tokens=True, truncation=True, max_length=max_length,
                            padding=False, return_attention_mask=False)
    return enc["input_ids"]


def _pad(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):  # right padding: pooling.cls_pool and content_mask rely on it
        input_ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[r, : len(x)] = 1
    return input_ids, mask


def embed_layers(
    encoder: Encoder,
    sentences: Sequence[str],
    layers: Iterable[int] | None = None,
    pooling: PoolingMethod = "mean",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_MAX_LENGTH,
    skip_special_tokens: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[int, torch.Tensor]:
    """Pooled sentence vectors of several layers from one forward pass: ``{layer: (n, dim) float32 on CPU}``.

    ``layers`` None = every layer, 0 (embeddings) .. ``num_layers``. Negative indices are accepted and returned under
    their non-negative index. Mean pooling averages over every real token, ``<s>``/``</s>`` included (XTREME's
    default); ``skip_special_tokens=True`` leaves out the first and last real token (``--pool_skip_special_token``).
    ``progress(n_done)`` is called after each batch.
    """
    _check_pooling(pooling)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {batch_size!r}")
    asked = range(encoder.num_layers + 1) if layers is None else layers
    wanted = sorted({encoder.resolve_layer(layer) for layer in asked})
    if not wanted:
        raise ConfigError("embed_layers: no layer asked for")
    n = len(sentences)
    dim = None
    out: dict[int, torch.Tensor] = {}
    if n == 0:
        hidden = int(getattr(encoder.body.config, "hidden_size", 0))
        return {layer: torch.empty((0, hidden), dtype=torch.float32) for layer in wanted}
    ids = _tokenize(encoder, sentences, max_length)
    pad_id = encoder.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = 0
    # Longest first: a batch that does not fit in memory fails at once, not after most of the work.
    order = sorted(range(n), key=lambda i: (-len(ids[i]), i))
    body = encoder.body
    body.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = _pad([ids[i] for i in rows], pad_id)
            input_ids, mask = input_ids.to(encoder.device), mask.to(encoder.device)
            with autocast(encoder.device, encoder.bf16):
                outputs = body(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, return_dict=True)
            hidden_states = outputs.hidden_states
            if hidden_states is None or len(hidden_states) != encoder.num_layers + 1:
                raise ModelError(
                    f"the encoder returned {0 if hidden_states is None else len(hidden_states)} hidden states, "
                    f"expected {encoder.num_layers + 1} (embeddings + {encoder.num_layers} layers)"
                )
            pool_mask = content_mask(mask) if skip_special_tokens else mask
            index = torch.tensor(rows, dtype=torch.long)
            for layer in wanted:
                h = hidden_states[layer][:, encoder.skip_positions:]
                vec = (mean_pool(h, pool_mask) if pooling == "mean" else cls_pool(h).float()).cpu()
                if dim is None:
                    dim = vec.shape[1]
                if layer not in out:
                    out[layer] = torch.empty((n, dim), dtype=torch.float32)
                out[layer][index] = vec
            if progress is not None:
                progress(min(start + batch_size, n))
    return out


def embed(
    encoder: Encoder,
    sentences: Sequence[str],
    layer: int | None = None,
    pooling: PoolingMethod = "mean",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_MAX_LENGTH,
    skip_special_tokens: bool = False,
) -> torch.Tensor:
    """``(n, dim)`` float32 sentence vectors: ``pooling`` of ``hidden_states[layer]`` (None = the default layer)."""
    resolved = encoder.resolve_layer(layer)
    return embed_layers(encoder, sentences, [resolved], pooling, batch_size=batch_size, max_length=max_length,
                        skip_special_tokens=skip_special_tokens)[resolved]
