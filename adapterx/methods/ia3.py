"""(IA)^3's own part of the peft backend: the peft config (keys, values and the FFN activations) and its targets.
Building, saving, loading and composing are :mod:`adapterx.methods.peft_backend`'s, shared by every peft method."""

from __future__ import annotations

from typing import Any

# (IA)^3 scales the input of each layer's FFN output projection ("layer.N.output.dense", not the attention's
# "attention.output.dense", which a plain "output.dense" suffix would also match).
_FFN_OUT = r"layer\.\d+\.output\.dense"


def default_targets(model_type: str) -> tuple[str, ...] | None:
    """The spec always names its targets (``key``, ``value``): no architecture default is needed."""
    return None


def peft_config(spec: Any, targets: list[str], task_type: str | None, modules_to_save: list[str] | None) -> Any:
    """peft's ``IA3Config`` of an :class:`~adapterx.methods.spec.IA3Spec`: ``targets`` rescaled, and with
    ``feedforward`` the input of each layer's FFN output projection."""
    from peft import IA3Config

    names = "|".join(targets)
    pattern = rf".*\.({names})$" + (rf"|.*\.{_FFN_OUT}$" if spec.feedforward else "")
    return IA3Config(target_modules=pattern, feedforward_modules=rf".*\.{_FFN_OUT}$" if spec.feedforward else [],
                     task_type=task_type, modules_to_save=modules_to_save)
