"""Full fine-tuning with plain transformers: every weight trains; the module is the whole model."""

from __future__ import annotations

from pathlib import Path

from adapterx.methods.heads import auto_class, check_head, head_kwargs
from adapterx.methods.module import Module


def for_backbone(spec, backbone, task=None, composition: str | None = None):  # noqa: ANN001, ANN201
    """Full fine-tuning serves any architecture that has the task's head class in transformers."""
    check_head(backbone, task, "full")
    return spec


def build(backbone, task, spec, name: str):  # noqa: ANN201

    model = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    for p in model.parameters():
        p.requires_grad_(True)
    return Module(model, spec, task, name)


def save(module, folder: Path) -> None:
    module.model.save_pretrained(folder, safe_serialization=True)


def load(folder: Path, backbone, task, spec, name: str, comp: dict | None = None):  # noqa: ANN201

    model = auto_class(task).from_pretrained(folder)
    return Module(model, spec, task, name)


def build_composed(backbone, task, spec, name: str, intermediates: list[tuple[str, Path]], mode: str = "chain",
                   with_target: bool = False, lang_adapters: list[tuple[str, Path]] | None = None):  # noqa: ANN201
    """Full fine-tuning composes by continuing: the last intermediate's model holds the whole chain."""
    return start_from(intermediates[-1][1], task, spec, name)


def start_from(folder: Path, task, spec, name: str):  # noqa: ANN201
    """X-STILTs chain: the target's head on a body fine-tuned on the intermediate task.

    ``from_pretrained`` keeps whatever of the intermediate's head fits the target's head class and shape, and starts
    the rest fresh: from STS-B or MNLI to a tagging or QA target the head is new; from one multiple-choice task to
    another (SIQA -> COPA, XTREME-R's XCOPA protocol) the one-logit-per-option scorer carries over, as intended."""
    model = auto_class(task).from_pretrained(folder, **head_kwargs(task), ignore_mismatched_sizes=True)
    for p in model.parameters():
        p.requires_grad_(True)
    comp = {"kind": "chain", "adapters": []}
    # Recorded in the meta file, not as the module's composition: the result is one plain model.
    return Module(model, spec, task, name, meta={"composition": comp})


def chain_from(backbone, task, spec, name: str, folder: Path):  # noqa: ANN201
    """The ``chain`` composition (see :func:`start_from`; the backbone is the folder's own model)."""
    return start_from(folder, task, spec, name)
