"""The Module: a backbone with a method attached (what training, evaluation and saving work on), and which backend
module serves each method (a :class:`~adapterx.methods.protocol.Backend`)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.methods import catalog
from adapterx.methods.protocol import Backend, Hooks

MODULE_META = "adapterx_module.json"  # beside the native files: method, task, head; how adapterx reloads them


@dataclass
class Module:
    """A backbone with a method attached: what training and evaluation work on."""

    model: Any  # torch.nn.Module; forward(**batch) returns an output with .loss / logits
    method: Any  # a method spec (adapterx.methods.spec)
    task: Any  # TaskSpec of the head
    name: str  # adapter / head name (the task name by default)
    # The composition the module is part of ({"kind", "adapters", "languages"}; None: a single module): how its
    # backend saves and activates it; written to the meta file.
    composition: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # more fields of the meta file (LT-SFT's K and sizes...)
    hooks: Hooks = field(default_factory=Hooks)  # what the loop and the evaluators call (protocol.Hooks)
    state: Any = None  # the backend's own typed state (peft_backend.PeftState, sft_backend.SFTState, ...)

    @property
    def backend(self) -> Backend:
        return backend_for(self.method.name)

    def save(self, folder: Path) -> None:
        """Write the module in its library's native format (safetensors) plus adapterx's small meta file."""
        folder.mkdir(parents=True, exist_ok=True)
        self.backend.save(self, folder)
        meta = {"method": self.method.model_dump(mode="json"), "task": self.task.name, "name": self.name,
                "labels": list(self.task.labels),
                **({"composition": self.composition} if self.composition else {}), **self.meta}
        (folder / MODULE_META).write_text(json.dumps(meta, indent=2))

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        return {"trainable": trainable, "total": total}

    def for_inference(self) -> Module:
        """Eval mode, and the method's ``fold`` hook run once: a single-task LoRA merged into the base weights
        (W + (alpha/r) B A: one matmul per projection instead of three, same outputs to float precision), LT-SFT's
        sparse difference added into them (no per-forward scatter). Call after saving: the fold is in place."""
        self.model.eval()
        fold, self.hooks.fold = self.hooks.fold, None
        if fold is not None:
            fold()
        return self


def backend_for(name: str) -> Backend:
    """The backend module of method ``name`` (build, save, load; build_composed / chain_from where it composes), as
    its registration in :mod:`adapterx.methods.catalog` names it. Imported on first use: a backend imports this
    module (for Module)."""
    return importlib.import_module(f"adapterx.methods.{catalog.get(name).backend}")


def quiet_transformers() -> None:
    """Silence the per-load warnings (unused lm_head weights, newly initialised heads) that are expected here."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
