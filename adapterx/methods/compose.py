"""Compositions as plain data, validated before any training starts.

``Stack`` puts a new target module on frozen intermediate modules; ``Fuse`` trains an AdapterFusion layer over
frozen adapters. What each method allows is the catalogue's table (:mod:`adapterx.methods.catalog`, printed by
``adapterx methods``); :func:`validate` enforces it before anything trains (the ``adapters`` library declares a
similar table but only fails at forward time, with a bare NotImplementedError).

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
from adapterx.methods import catalog

LoraMode = Literal["sum", "merge", "chain"]


def allowed(method: str, spec: Any = None) -> tuple[str, ...]:
    """The compositions ``method`` supports (configured as ``spec``, which may narrow them): the catalogue's table."""
    info = catalog.get(method)
    return info.modes_for(spec) if spec is not None else info.modes


def _instead(kind: str) -> str:
    return ", ".join(catalog.who_can(kind)) or "none"


def trains_in_sequence(method: str) -> bool:
    """Methods whose composition is ``chain`` with one set of weights (full fine-tuning, BitFit, prompt tuning: not
    LoRA, whose ``chain`` feeds deltas): the tasks train in order, each stage starting from the one before, and the
    last stage holds them all."""
    return method != "lora" and "chain" in allowed(method)


def takes_language_modules(method: str) -> bool:
    """True where ``method`` composes with language modules (MAD-X adapters, language SFTs): the catalogue says."""
    return catalog.get(method).language_modules


def language_module_method(method: str) -> str:
    """The method a language module under ``method`` was trained with (`train-language --method`): a language SFT
    under LT-SFT, a MAD-X bottleneck adapter under every adapter family."""
    return "sft" if method == "sft" else "adapter"


def transfers(method: str, spec: Any = None) -> tuple[str, ...]:
    """How a recipe's target stage may build on the intermediate module(s) of ``method`` (configured as ``spec``):
    ``continue`` (the method's own default, :func:`continue_mode`) or any composition mode it supports."""
    return ("continue", *allowed(method, spec))


def continue_mode(method: str) -> str:
    """What ``transfer: continue`` means for ``method`` (the catalogue's ``continue_as``)."""
    return catalog.get(method).continue_as or allowed(method)[0]


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


def mode_for(method: str, lora_mode: str | None, spec: Any = None) -> str:
    """The composition mode a method uses for ``stack`` (``--lora-mode`` only for LoRA)."""
    modes = [m for m in allowed(method, spec) if m != "fuse"]
    if method == "lora":
        mode = lora_mode or ("sum" if "sum" in modes else modes[0])
        if mode not in ("sum", "merge", "chain"):
            raise ConfigError(f"--lora-mode {mode!r}: use sum, merge or chain")
        if mode not in modes:
            raise ConfigError(f"--lora-mode {mode}: not with this LoRA ({_lora_variant(spec)}); use --lora-mode {' or '.join(modes)}")
        return mode
    if lora_mode is not None:
        raise ConfigError(f"--lora-mode applies to --method lora, not --method {method}")
    if not modes:
        raise ConfigError(f"stack is not available for --method {method}: it composes only by fuse; "
                          f"methods that stack: {_instead('stack')}")
    return modes[0]


def _lora_variant(spec: Any) -> str:
    return "init=pissa" if getattr(spec, "init", None) == "pissa" else "dora" if getattr(spec, "dora", False) else "lora"


def validate(comp: Stack | Fuse, method: str, spec: Any = None) -> None:
    """Raise :class:`ConfigError` for a composition the method cannot run; called before any training."""
    kind = "fuse" if isinstance(comp, Fuse) else "stack"
    modes = allowed(method, spec)
    if kind == "fuse" and "fuse" not in modes:
        raise ConfigError(
            f"fuse is not available for --method {method}: AdapterFusion needs bottleneck adapters "
            f"(--method {' / '.join(m for m in _instead('fuse').split(', '))}); for {method} use `adapterx stack` "
            f"({' / '.join(m for m in modes if m != 'fuse') or 'nothing'})"
        )
    if kind == "stack":
        if not [m for m in modes if m != "fuse"]:
            raise ConfigError(f"stack is not available for --method {method}; methods that stack: {_instead('stack')}")
        if comp.mode not in modes and comp.mode != "stack":
            raise ConfigError(f"{comp.mode} is not available for --method {method}: it composes by "
                              f"{' / '.join(modes)}; {comp.mode} works with {_instead(comp.mode)}")
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
