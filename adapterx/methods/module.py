"""The Module: a backbone with a method attached (what training, evaluation and saving work on), and which backend
module serves each method."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.errors import ModelError
from adapterx.registry import suggest

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


# method name -> the backend module that builds, saves, loads and composes it (one registration per method). Imported
# on first use: a backend module imports this one (for Module), and nothing here needs a backend at import time.
BACKENDS: dict[str, str] = {
    "adapter": "adapterx.methods.adapters_backend",
    "lora": "adapterx.methods.peft_backend",
    "full": "adapterx.methods.hf_backend",
    "sft": "adapterx.methods.sft_backend",
}


def backend_for(name: str):  # noqa: ANN201
    """The backend module of method ``name`` (build, save, load, build_composed, load_composed)."""
    if name not in BACKENDS:
        raise ModelError(suggest(name, tuple(BACKENDS), "method"))
    return importlib.import_module(BACKENDS[name])


def quiet_transformers() -> None:
    """Silence the per-load warnings (unused lm_head weights, newly initialised heads) that are expected here."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("adapters").setLevel(logging.ERROR)
