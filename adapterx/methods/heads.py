"""Head arguments shared by the transformers-based backends (peft and full fine-tuning)."""

from __future__ import annotations

from typing import Any
from adapterx.tasks.kinds import ops_for
from adapterx.errors import ModelError


def auto_class(task):  # noqa: ANN201
    """The transformers Auto* class for a task's kind."""
    import transformers

    return getattr(transformers, ops_for(task.kind).auto_class)


def check_head(backbone, task, method: str) -> None:
    """transformers must have ``task``'s head class for the backbone's architecture (e.g. no QA head for some
    encoders): refused before any data loads, naming what the architecture has instead."""
    if task is None:
        return
    from transformers import AutoConfig

    cls = auto_class(task)
    try:
        config = AutoConfig.from_pretrained(backbone.path)
    except (OSError, ValueError, KeyError):  # a config transformers cannot read: from_pretrained reports it later
        return
    if type(config) not in cls._model_mapping:
        raise ModelError(f"{backbone.model_type} ({backbone.id}) has no {cls.__name__} in transformers: task "
                         f"{task.name} ({task.kind}) cannot train on it with --method {method}; choose a task of "
                         "another kind, or a backbone of another architecture")


def new_head_modules(missing_keys: list[str], covered: tuple[str, ...] = ()) -> list[str]:
    """The modules ``from_pretrained`` initialised fresh (``missing_keys`` of its loading info), as module paths:
    the task head, and parts of it some architectures keep outside it (DistilBERT's ``pre_classifier``, DeBERTa's
    ``pooler``, a BERT pooler the checkpoint lacks). They train with the head, and a module must save them: left
    out, a reload draws them at random again. Paths inside one of ``covered`` are left out."""
    out: list[str] = []
    for key in missing_keys:
        path = key.rsplit(".", 1)[0] if "." in key else key
        if any(path == c or path.startswith(c + ".") or f".{c}." in f".{path}." for c in covered):
            continue
        if path not in out:
            out.append(path)
    return out


def head_kwargs(task) -> dict[str, Any]:
    """from_pretrained keyword arguments that shape the head."""
    if task.kind == "regression":
        return {"num_labels": 1, "problem_type": "regression"}
    if task.kind in ("classification", "tagging"):
        return {
            "num_labels": len(task.labels),
            "id2label": dict(enumerate(task.labels)),
            "label2id": task.label2id,
            **({"problem_type": "single_label_classification"} if task.kind == "classification" else {}),
        }
    if task.kind == "span_qa":
        return {"num_labels": 2}  # start and end logits (a config inherited from a regression model says 1)
    return {}
