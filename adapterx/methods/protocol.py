"""The contract between adapterx's shared code and a method: what a backend module provides, what a peft method's
module provides, and the typed hooks a built module hands the training loop and the evaluators.

A method plugs in by its registration (:mod:`adapterx.methods.catalog`), which names its backend (a module that is a
:class:`Backend`) and, for a peft method, the module that is its :class:`PeftMethod` (its config and defaults). What
a method needs beyond build / save / load at run time it returns as :class:`Hooks` on the :class:`Module` it builds:
``engine.loop.train`` calls them at fixed points, so a new method needs no edit of the loop.

Imports nothing of adapterx but the standard library: every method module can import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# ``run_train(cfg, checkpoint)``: trains the module as it then is with the same data and evaluation (a prelude's
# own phase, e.g. LT-SFT's dense phase 1); returns the loop's TrainResult.
RunTrain = Callable[[Any, "Path | None"], Any]


@dataclass
class Hooks:
    """What a method does at fixed points of a run, beyond its build / save / load. Every hook is optional.

    - ``prelude(run_train, cfg, checkpoint)``: a phase of its own before the run trains (LT-SFT: the dense phase that
      picks the mask). Runs once: the loop clears it before calling it.
    - ``before_train(total_steps)``: the run's optimizer step count, known once the data is (AdaLoRA: its budget
      schedule). Called before a resumed run restores its state.
    - ``after_step(step)``: after each ``optimizer.step()`` and before ``zero_grad`` (the gradients are still there;
      ``step`` counts optimizer steps from 1). AdaLoRA's rank allocator.
    - ``state()`` / ``load_state(state)``: the method's state beyond its parameters (which the loop saves itself): in
      every training checkpoint (``--resume``) and with the best weights (restored with them at the end).
    - ``fold()``: for inference, once (LT-SFT: its difference added into the weights).
    - ``switch_language(lang) -> bool``: activate ``lang``'s own language module (MAD-X adapters, language SFTs);
      returns whether the language has one (else English's is used).
    - ``strip_positions``: positions the module puts before the input (prompt tuning): dropped from hidden states
      by retrieval encoding.
    """

    prelude: Callable[[RunTrain, Any, Path | None], None] | None = None
    before_train: Callable[[int], None] | None = None
    after_step: Callable[[int], None] | None = None
    state: Callable[[], dict[str, Any]] | None = None
    load_state: Callable[[dict[str, Any]], None] | None = None
    fold: Callable[[], None] | None = None
    switch_language: Callable[[str], bool] | None = None
    strip_positions: int = 0


@runtime_checkable
class Backend(Protocol):
    """A backend module (``adapters_backend``, ``peft_backend``, ``hf_backend``, ``bitfit_backend``, ``sft_backend``).

    Where it composes it also has ``build_composed(backbone, task, spec, name, intermediates, mode, with_target,
    lang_adapters)`` and / or ``chain_from(backbone, task, spec, name, folder)``; where an architecture may not serve
    the method, ``for_backbone(spec, backbone, task, composition)`` returns the spec made concrete or raises."""

    def build(self, backbone: Any, task: Any, spec: Any, name: str) -> Any:
        """A fresh module (:class:`adapterx.methods.module.Module`): only the method's parameters and the head train."""

    def save(self, module: Any, folder: Path) -> None:
        """Write the module in its library's native format into ``folder``."""

    def load(self, folder: Path, backbone: Any, task: Any, spec: Any, name: str, comp: dict | None = None) -> Any:
        """The module :meth:`save` wrote."""


@runtime_checkable
class PeftMethod(Protocol):
    """A peft method's own module (``lora``, ``ia3``, ``adalora``, ``vera``): what differs between peft's tuners. The
    shared code (``peft_backend``) builds, saves, loads and composes every one of them through these.

    It may also have ``hooks(module) -> Hooks`` (AdaLoRA's rank allocator), called on every module built or loaded."""

    def peft_config(self, spec: Any, targets: list[str], task_type: str | None, modules_to_save: list[str] | None) -> Any:
        """The peft config object of ``spec`` adapting ``targets`` (module names), with peft's ``task_type`` and the
        head modules to train and save."""

    def default_targets(self, model_type: str) -> tuple[str, ...] | None:
        """The modules adapted on an architecture where the spec names none (None: no default known)."""
