"""VeRA (Kopiczko et al. 2024) through peft: one pair of frozen random projections ``A``, ``B`` shared by every
adapted layer, and per layer two trained scaling vectors (``W h + diag(b) B diag(d) A h``): far fewer trained numbers
than LoRA at a much larger rank.

``save_projection`` stays on (peft's default): the shared projections are written into ``adapter_model.safetensors``
beside the vectors, so ``PeftModel.from_pretrained`` restores exactly the trained function on any torch (without them
peft regenerates the projections from ``projection_prng_key``, which ties a module to one random number generator).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from adapterx.methods.spec import MethodSpec


class VeRASpec(MethodSpec):
    """VeRA through ``peft``: trained scaling vectors around frozen shared random projections."""

    name: Literal["vera"] = "vera"
    r: int = Field(256, ge=1, description="rank of the shared random projections (VeRA's are far larger than LoRA's)")
    target_modules: tuple[str, ...] | None = Field(
        None, min_length=1, description="module names to adapt; None: the architecture's default (query,value on XLM-R)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    d_initial: float = Field(0.1, gt=0, description="initial value of the d vectors (b starts at 0)")
    projection_prng_key: int = Field(0, ge=0, description="seed of the shared random projections")


def default_targets(model_type: str) -> tuple[str, ...] | None:
    """peft's own VeRA mapping (LoRA's, plus a few decoders)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_VERA_TARGET_MODULES_MAPPING as mapping

    found = mapping.get(model_type)
    return tuple(found) if isinstance(found, (list, tuple)) and found else None


def peft_config(spec: Any, targets: list[str], task_type: str | None, modules_to_save: list[str] | None) -> Any:
    """peft's ``VeraConfig`` of a :class:`VeRASpec`, projections saved with the module."""
    from peft import VeraConfig

    return VeraConfig(r=spec.r, target_modules=targets, vera_dropout=spec.dropout, d_initial=spec.d_initial,
                      projection_prng_key=spec.projection_prng_key, save_projection=True,
                      task_type=task_type, modules_to_save=modules_to_save)
