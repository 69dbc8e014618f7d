"""Compositions as plain data, validated before any training starts.

``Stack`` puts a new target module on frozen intermediate modules; ``Fuse`` trains an AdapterFusion layer over
frozen adapters. What each method allows is the table :data:`ALLOWED`; :func:`validate` enforces it (the
``adapters`` library declares a similar table but only fails at forward time, with a bare NotImplementedError).

LoRA modes, side by side (h: the input of an adapted projection W; dW_i = (alpha/r) B_i A_i):
- ``sum``   : W h + dW_int h + dW_tgt h  -- the intermediate LoRA stays active and frozen; peft's multi-adapter
              (equal to peft's ``combination_type="cat"`` merge of the two);
- ``merge`` : (W + dW_int) h + dW_tgt h  -- the same function as ``sum`` at the start, but the intermediate is folded
              into the base weights, so inference costs one LoRA;
- ``chain`` : W h + dW_tgt(dW_int h)     -- what ``adapters``' LoRA ``Stack`` computes (measured, library notes): the
              intermediate never adds its own delta, it only feeds the target. Offered only when asked for by name;
              adapterx computes it with peft (a pre-hook on the target's A), so all LoRA stays in one library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from adapterx.errors import ConfigError

LoraMode = Literal["sum", "merge", "chain"]

# method -> compositions it supports (and, for LoRA, the modes)
ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    "adapter": {"stack": ("stack",), "fuse": ("fuse",)},
    "lora": {"stack": ("sum", "merge", "chain")},
    "full": {"stack": ("chain",)},  # X-STILTs: fine-tune on the intermediate task, then on the target from it
    "sft": {"stack": ("sum",)},  # LT-SFT: the target's sparse difference added to the intermediate's (Ansell et al.)
}


# Methods whose several intermediates train one after another in one model (X-STILTs chains: each stage starts
# from the one before, and the target from the last), so every stage trains the same weights again. The others
# train each intermediate module on the frozen base and compose them.
IN_SEQUENCE = frozenset({"full"})
# Methods that compose with MAD-X language modules (`--lang-adapters`).
LANGUAGE_MODULES = frozenset({"adapter", "sft"})


def trains_in_sequence(method: str) -> bool:
    """True where a chain of intermediates is one model trained in order (see :data:`IN_SEQUENCE`)."""
    return method in IN_SEQUENCE


def takes_language_modules(method: str) -> bool:
    """True where ``method`` composes with language modules (:data:`LANGUAGE_MODULES`)."""
    return method in LANGUAGE_MODULES


def transfers(method: str) -> tuple[str, ...]:
    """How a recipe's target stage may build on the intermediate module(s) of ``method``: ``continue`` (the method's
    own default: adapter stack, LoRA sum, full chain) or any composition mode the method supports."""
    modes = [m for kind in ALLOWED.get(method, {}).values() for m in kind]
    return ("continue", *dict.fromkeys(modes))


def continue_mode(method: str) -> str:
    """What ``transfer: continue`` means for ``method``: its first stack mode."""
    return ALLOWED[method]["stack"][0]


@dataclass(frozen=True)
class ModuleRef:
    """One intermediate module: its task, where it lives, and its content hash (recorded in the chain)."""

    task: str
    path: str
    sha256: str
    method: str
    backbone: dict[str, Any] = field(default_factory=dict)
    chain: tuple[str, ...] = ()  # the task chain its run.json records (full fine-tuning: every task it was trained on)


@dataclass(frozen=True)
class Stack:
    intermediates: tuple[ModuleRef, ...]
    target: str
    mode: str = "stack"  # adapter: stack; lora: sum|merge; full: chain


@dataclass(frozen=True)
class Fuse:
    intermediates: tuple[ModuleRef, ...]
    target: str
    with_target_adapter: bool = False


def mode_for(method: str, lora_mode: str | None) -> str:
    """The composition mode a method uses for ``stack`` (``--lora-mode`` only for LoRA)."""
    if method == "lora":
        mode = lora_mode or "sum"
        if mode not in ALLOWED["lora"]["stack"]:
            raise ConfigError(f"--lora-mode {mode!r}: use sum, merge or chain")
        return mode
    if lora_mode is not None:
        raise ConfigError(f"--lora-mode applies to --method lora, not --method {method}")
    return ALLOWED[method]["stack"][0]


def validate(comp: Stack | Fuse, method: str) -> None:
    """Raise :class:`ConfigError` for a composition the method cannot run; called before any training."""
    kind = "fuse" if isinstance(comp, Fuse) else "stack"
    if kind not in ALLOWED.get(method, {}):
        raise ConfigError(
            f"{kind} is not available for --method {method}: AdapterFusion needs bottleneck adapters "
            "(--method adapter); for lora or full use `adapterx stack`"
        )
    if not comp.intermediates:
        raise ConfigError(f"{kind} needs at least one intermediate module")
    for ref in comp.intermediates:
        if ref.method != method:
            raise ConfigError(
                f"intermediate module {ref.task} ({ref.path}) was trained with --method {ref.method}; "
                f"this {kind} uses --method {method}: retrain it or change --method"
            )
    if isinstance(comp, Fuse) and len(comp.intermediates) + int(comp.with_target_adapter) < 2:
        raise ConfigError("fuse needs at least two adapters (two intermediates, or one with --with-target-adapter)")
    names = [r.task for r in comp.intermediates]
    if len(set(names)) != len(names):
        raise ConfigError(f"the same intermediate task appears twice: {', '.join(names)}")
