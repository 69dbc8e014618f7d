"""Bottleneck adapters through the ``adapters`` library: the only module of adapterx that imports it.

The model is an ``AutoAdapterModel`` with flexible heads; a module is one adapter plus a head of the same name, saved
with ``save_adapter(..., with_head=True, use_safetensors=True)`` so that plain
``AutoAdapterModel.from_pretrained(base).load_adapter(path, use_safetensors=True)`` restores both.
"""

from __future__ import annotations

from pathlib import Path


def adapter_config(spec):  # noqa: ANN201
    from adapters import DoubleSeqBnConfig, SeqBnConfig

    cls = SeqBnConfig if spec.config == "seq_bn" else DoubleSeqBnConfig
    return cls(**spec.library_config())


def add_head(model, task, name: str) -> None:
    """A fresh head for ``task`` named ``name`` (the adapter's name, so save_adapter(with_head=True) finds it)."""
    id2label = dict(enumerate(task.labels)) if task.labels else None
    if task.kind in ("regression", "classification"):
        model.add_classification_head(name, num_labels=task.num_labels, id2label=id2label)
    elif task.kind == "multiple_choice":
        model.add_multiple_choice_head(name, num_choices=task.num_choices)
    elif task.kind == "span_qa":
        model.add_qa_head(name)
    elif task.kind == "tagging":
        model.add_tagging_head(name, num_labels=task.num_labels, id2label=id2label)
    else:
        raise ValueError(f"no head for task kind {task.kind}")


def only_head_trainable(model, name: str) -> None:
    """``train_adapter`` freezes the base model but leaves every head trainable: keep only the active one."""
    for head_name, head in model.heads.items():
        for p in head.parameters():
            p.requires_grad_(head_name == name)


def new_model(backbone):  # noqa: ANN201
    from adapters import AutoAdapterModel

    return AutoAdapterModel.from_pretrained(backbone.path)


def build(backbone, task, spec, name: str):  # noqa: ANN201
    from adapterx.methods import Module

    model = new_model(backbone)
    model.add_adapter(name, config=adapter_config(spec))
    add_head(model, task, name)
    model.train_adapter(name)
    model.active_head = name
    only_head_trainable(model, name)
    return Module(model, spec, task, name)


def save(module, folder: Path) -> None:
    # save_adapter does not create missing parent folders (library notes): the caller made `folder`.
    module.model.save_adapter(str(folder), module.name, with_head=True, use_safetensors=True)


def load(folder: Path, backbone, task, spec, name: str):  # noqa: ANN201
    from adapterx.methods import Module

    model = new_model(backbone)
    model.load_adapter(str(folder), load_as=name, with_head=True, use_safetensors=True, set_active=True)
    model.active_head = name
    return Module(model, spec, task, name)
