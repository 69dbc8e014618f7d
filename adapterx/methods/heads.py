"""Head arguments shared by the transformers-based backends (peft and full fine-tuning)."""

from __future__ import annotations

from typing import Any
from adapterx.tasks.kinds import ops_for


def auto_class(task):  # noqa: ANN201
    """The transformers Auto* class for a task's kind."""
    import transformers

    return getattr(transformers, ops_for(task.kind).auto_class)


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
