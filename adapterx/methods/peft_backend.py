"""LoRA through peft: the only module of adapterx that imports peft.

A single-task LoRA is saved as a plain peft folder (``adapter_config.json`` + ``adapter_model.safetensors``) with the
task head in ``modules_to_save``, so ``PeftModel.from_pretrained(AutoModelFor<Task>.from_pretrained(base, ...), path)``
loads it without adapterx.
"""

from __future__ import annotations

from pathlib import Path

from adapterx.methods.heads import auto_class, head_kwargs

# peft task types wrap the head in modules_to_save; multiple choice has none, so its head is named explicitly.
_TASK_TYPE = {"regression": "SEQ_CLS", "classification": "SEQ_CLS", "span_qa": "QUESTION_ANS", "tagging": "TOKEN_CLS"}
_HEAD_MODULES = {"multiple_choice": ["classifier"]}


def lora_config(spec, task):  # noqa: ANN201
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=list(spec.target_modules),
        task_type=_TASK_TYPE.get(task.kind),
        modules_to_save=_HEAD_MODULES.get(task.kind),
    )


def build(backbone, task, spec, name: str):  # noqa: ANN201
    from peft import get_peft_model

    from adapterx.methods import Module

    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    model = get_peft_model(base, lora_config(spec, task))
    return Module(model, spec, task, name)


def save(module, folder: Path) -> None:
    module.model.save_pretrained(str(folder), safe_serialization=True)


def load(folder: Path, backbone, task, spec, name: str):  # noqa: ANN201
    from peft import PeftModel

    from adapterx.methods import Module

    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    model = PeftModel.from_pretrained(base, str(folder))
    return Module(model, spec, task, name)
