"""LoRA's own part of the peft backend (its DoRA / rsLoRA / PiSSA options): the peft config and the default targets.
Building, saving, loading and composing are :mod:`adapterx.methods.peft_backend`'s, shared by every peft method."""

from __future__ import annotations

from typing import Any

# peft's per-architecture LoRA defaults (the mapping get_peft_model itself falls back to) lack a few encoders.
_EXTRA_DEFAULT_TARGETS = {"distilbert": ("q_lin", "v_lin")}

# A single-task module is merged into the base weights for inference (W + (alpha/r) B A): one matmul per projection.
MERGE_FOR_INFERENCE = True


def default_targets(model_type: str) -> tuple[str, ...] | None:
    """LoRA's default target modules for an architecture: peft's own mapping (BERT/XLM-R ``query``/``value``,
    DeBERTa-v2/v3 ``query_proj``/``value_proj``), else adapterx's few additions; None where neither has one."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    found = mapping.get(model_type)
    if isinstance(found, (list, tuple)) and found:
        return tuple(found)
    return _EXTRA_DEFAULT_TARGETS.get(model_type)


def peft_config(spec: Any, targets: list[str], task_type: str | None, modules_to_save: list[str] | None) -> Any:
    """peft's ``LoraConfig`` of a :class:`~adapterx.methods.spec.LoRASpec`."""
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=targets,
        use_dora=spec.dora,
        use_rslora=spec.rslora,
        init_lora_weights={"default": True, "gaussian": "gaussian", "pissa": "pissa"}[spec.init],
        task_type=task_type,
        modules_to_save=modules_to_save,
    )
