"""The Module: a backbone with a method attached (what training, evaluation and saving work on), and which backend
module serves each method."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.methods import catalog

MODULE_META = "adapterx_module.json"  # beside the native files: method, task, head; how adapterx reloads them


@dataclass
class Module:
    """A backbone with a method attached: what training and evaluation work on."""

    model: Any  # torch.nn.Module; forward(**batch) returns an output with .loss / logits
    method: Any  # a method spec (adapterx.methods.spec)
    task: Any  # TaskSpec of the head
    name: str  # adapter / head name (the task name by default)
    extra: dict[str, Any] = field(default_factory=dict)  # backend state (composition, frozen modules...)

    @property
    def backend(self):  # noqa: ANN201
        return backend_for(self.method.name)

    def save(self, folder: Path) -> None:
        """Write the module in its library's native format (safetensors) plus adapterx's small meta file."""
        folder.mkdir(parents=True, exist_ok=True)
        self.backend.save(self, folder)
        meta = {"method": self.method.model_dump(mode="json"), "task": self.task.name, "name": self.name,
                "labels": list(self.task.labels), **self.extra.get("meta", {})}
        (folder / MODULE_META).write_text(json.dumps(meta, indent=2))

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        return {"trainable": trainable, "total": total}

    def for_inference(self) -> Module:
        """Eval mode, and a single-task LoRA merged into the base weights (W + (alpha/r) B A): one matmul per
        projection instead of three, same outputs to float precision. Call after saving: the merge is in place."""
        self.model.eval()
        fold = self.extra.pop("fold", None)
        if fold is not None:  # LT-SFT: its sparse difference added into the weights (no per-forward scatter)
            fold()
        if self.method.name == "lora" and not self.extra.get("composition") and not self.extra.get("merged"):
            self.model.merge_adapter()
            self.extra["merged"] = True
        return self


def backend_for(name: str):  # noqa: ANN201
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
