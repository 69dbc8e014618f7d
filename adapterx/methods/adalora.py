"""AdaLoRA (Zhang et al. 2023) through peft: LoRA in SVD form (``P diag(E) Q``) whose rank budget a rank allocator
moves, during training, to the projections that matter (importance of each singular triplet: the smoothed
``|w * grad|`` and its uncertainty), from ``init_r`` per projection down to ``target_r`` on average.

Everything beyond peft's config is hooks (:class:`~adapterx.methods.protocol.Hooks`):

- ``before_train(total)``: the run's step count fixes peft's ``total_step`` and the schedule (``tinit`` / ``tfinal``
  are fractions of the run here, steps in peft);
- ``after_step(step)``: peft's ``update_and_allocate(step)`` after each optimizer step, before ``zero_grad`` (it
  reads the gradients);
- ``state`` / ``load_state``: the allocator's smoothed scores (``ipt``, ``exp_avg_ipt``, ``exp_avg_unc``) and the
  rank pattern, in every checkpoint and with the best weights. The masks themselves live in ``lora_E`` (parameters:
  the loop saves them). ``load_state`` re-applies the pattern to ``lora_E``, so the saved module (which peft cuts to
  the pattern) predicts what the restored one does.

Saved as a plain peft folder: ``adapter_config.json`` records ``rank_pattern``, and ``PeftModel.from_pretrained``
cuts each projection to its rank.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

from pydantic import Field, model_validator

from adapterx.methods.protocol import Hooks
from adapterx.methods.spec import MethodSpec

# AdaLoraConfig inherits LoraConfig's `rank_pattern` (per-module ranks, keyed by module name) but stores its own
# allocation there (keyed by parameter name); peft warns on every load that those keys match no module, then cuts
# the ranks correctly (save -> load gives identical predictions: the contract tests).
warnings.filterwarnings("ignore", message="The following rank_pattern keys did not match", category=RuntimeWarning)


class AdaLoRASpec(MethodSpec):
    """AdaLoRA through ``peft``: LoRA whose per-projection ranks are allocated while it trains."""

    name: Literal["adalora"] = "adalora"
    init_r: int = Field(12, ge=1, description="rank every projection starts with")
    target_r: int = Field(8, ge=1, description="average rank the allocator ends with")
    alpha: int = Field(16, ge=1, description="scaling numerator (peft's lora_alpha)")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] | None = Field(
        None, min_length=1, description="module names to adapt; None: the architecture's LoRA default (query,value on XLM-R)")
    tinit: float = Field(0.1, ge=0, lt=1, description="fraction of the run before the budget starts to shrink")
    tfinal: float = Field(0.2, ge=0, lt=1, description="fraction of the run at the end with the final ranks fixed")
    delta_t: int = Field(1, ge=1, description="steps between two allocations while the budget shrinks")
    beta1: float = Field(0.85, gt=0, lt=1, description="smoothing of the importance scores")
    beta2: float = Field(0.85, gt=0, lt=1, description="smoothing of their uncertainty")
    orth_reg_weight: float = Field(0.5, ge=0, description="weight of the orthogonality penalty on P and Q")

    @model_validator(mode="after")
    def _schedule_has_room(self) -> AdaLoRASpec:
        if self.tinit + self.tfinal >= 1:
            raise ValueError("tinit + tfinal must be below 1 (they are fractions of the run): leave steps to allocate in")
        if self.target_r > self.init_r:
            raise ValueError(f"target_r {self.target_r} is above init_r {self.init_r}: the allocator only removes rank")
        return self


def default_targets(model_type: str) -> tuple[str, ...] | None:
    """LoRA's defaults (peft's AdaLoRA mapping lacks XLM-R, and on RoBERTa names ``dense``, which is also the
    classification head's layer)."""
    from adapterx.methods import lora

    return lora.default_targets(model_type)


def peft_config(spec: Any, targets: list[str], task_type: str | None, modules_to_save: list[str] | None) -> Any:
    """peft's ``AdaLoraConfig``; its ``total_step`` and schedule are set from the run (:func:`hooks`)."""
    from peft import AdaLoraConfig

    return AdaLoraConfig(init_r=spec.init_r, target_r=spec.target_r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                         target_modules=targets, tinit=0, tfinal=0, deltaT=spec.delta_t, beta1=spec.beta1,
                         beta2=spec.beta2, orth_reg_weight=spec.orth_reg_weight,
                         total_step=1,  # a placeholder peft requires: before_train sets the run's
                         task_type=task_type, modules_to_save=modules_to_save)


def hooks(module: Any) -> Hooks:
    """The rank allocator's hooks on ``module`` (a built or loaded AdaLoRA module; see the module doc)."""
    tuner = module.model.base_model  # peft's AdaLoraModel
    spec = module.method

    def config():  # noqa: ANN202 - the trained adapter's AdaLoraConfig (the allocator reads the same object)
        return tuner.peft_config[tuner.trainable_adapter_name]

    def before_train(total: int) -> None:
        cfg = config()
        cfg.total_step = total
        cfg.tinit = math.floor(spec.tinit * total)
        cfg.tfinal = math.floor(spec.tfinal * total)

    def after_step(step: int) -> None:
        tuner.update_and_allocate(step)

    def state() -> dict[str, Any]:
        alloc = tuner.rankallocator
        copy = lambda d: {k: v.detach().clone() for k, v in d.items()}  # noqa: E731
        return {"ipt": copy(alloc.ipt), "exp_avg_ipt": copy(alloc.exp_avg_ipt), "exp_avg_unc": copy(alloc.exp_avg_unc),
                "rank_pattern": config().rank_pattern}

    def load_state(saved: dict[str, Any]) -> None:
        alloc = tuner.rankallocator
        alloc.ipt, alloc.exp_avg_ipt, alloc.exp_avg_unc = (dict(saved[k]) for k in ("ipt", "exp_avg_ipt", "exp_avg_unc"))
        config().rank_pattern = saved["rank_pattern"]
        if saved["rank_pattern"]:
            alloc.mask_using_rank_pattern(tuner.model, saved["rank_pattern"])

    return Hooks(before_train=before_train, after_step=after_step, state=state, load_state=load_state)
