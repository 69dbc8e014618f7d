"""The method catalogue: one registration per method (spec, backend, library, compositions, and its facts).

Everything that asks "which methods are there, what can each do" reads this table: which backend builds a method,
the composition checks before anything trains (:mod:`adapterx.methods.compose`), recipes' ``transfer``, ``adapterx
methods``, the ``--method`` help, which parameters are the method's (the trainable mask of a composition, the save
filter, the contract tests), the plain-library load line and the contract suite, which iterates it.

A new method is one :func:`register` call at the bottom of this file plus either
- a peft method: one module of its own (its spec, its peft config, default targets and, where it needs them, hooks:
  :class:`~adapterx.methods.protocol.PeftMethod`; ``adalora.py`` and ``vera.py`` are the examples), registered with
  ``backend="peft_backend"`` and ``plugin=<that module>``; or
- a backend module of its own (:class:`~adapterx.methods.protocol.Backend`: ``build`` / ``save`` / ``load``, plus
  ``chain_from`` or ``build_composed`` where it composes) and its spec (in :mod:`adapterx.methods.spec` or its
  module: parsing finds a spec by its ``name``).
What it does at run time beyond that is its :class:`~adapterx.methods.protocol.Hooks`.

Composition kinds (the columns of ``adapterx methods``):

- ``stack``: frozen intermediate module(s) active under a new target module (``adapters``' ``Stack``);
- ``fuse``: an AdapterFusion layer over frozen intermediate adapters;
- ``sum``: intermediate LoRA(s) frozen and active, the target's delta added (peft multi-adapter);
- ``merge``: the intermediate folded into the base weights, a fresh target module trained on that;
- ``chain``: the target starts from the intermediate's trained weights (full fine-tuning, X-STILTs; BitFit: the
  intermediate's biases; prompt tuning: the intermediate's prompt, SPoT-style). LoRA's ``chain`` feeds the
  intermediate's delta into the target's A (see :mod:`adapterx.methods.compose`);
- ``continue``: what a recipe's default ``transfer: continue`` means for the method (one of the above);
- ``language-module``: MAD-X language adapters (``train-language``) stack under the task module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from adapterx.methods import adalora, ia3, lora, vera
from adapterx.methods import spec as S
from adapterx.registry import Registry

COMPOSITIONS = ("stack", "fuse", "sum", "merge", "chain")  # + continue, language-module (see the module doc)


@dataclass(frozen=True)
class MethodInfo:
    """One method: its spec class, where its library calls live, and what it composes with."""

    name: str
    spec: type[BaseModel]
    backend: str  # module under adapterx.methods holding build/save/load (imported on use)
    library: str  # adapters | peft | transformers | torch: what loads its saved module without adapterx
    summary: str
    modes: tuple[str, ...] = ()  # subset of COMPOSITIONS
    continue_as: str | None = None  # a recipe's `transfer: continue`
    language_modules: bool = False
    multitask: bool = False  # `train-intermediate A B` (one module, a head per task)
    native_files: tuple[str, ...] = ()  # files of a single-task module folder, checked before loading
    # How a saved single module loads without adapterx: the python lines of the model card's "How to use" (after the
    # line that sets `path`, the module's folder holding `module/`), a string.Template whose placeholders the card fills:
    # $base (the backbone's id), $auto_class (the transformers head class), $head_args (", num_labels=N" where the
    # head's size is known, else empty), $parts (a python list of the folders holding the method's weight file, in
    # the order they apply: LT-SFT's). "" where no library can. Compositions are the library's (hub/card.py).
    plain_load: str = ""
    notes: str = ""
    default_lr: tuple[float, float] = (1e-4, 3e-3)  # the CLI's --lr default: (pretrained backbone, tiny model)
    # A part of the name of every parameter the method adds or trains, beside the head (empty: every weight trains):
    # the trainable mask of a composition, the weights taken from a saved intermediate, the contract tests.
    param_prefixes: tuple[str, ...] = ()
    plugin: Any = None  # a peft method's own module (protocol.PeftMethod: its config, default targets, hooks)
    small: dict[str, Any] = field(default_factory=dict)  # options that keep it cheap on the tiny model (tests)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # named option sets the contract suite also runs

    def modes_for(self, spec: Any) -> tuple[str, ...]:
        """The compositions a configured method supports (a spec may narrow them: DoRA, PiSSA)."""
        narrow = getattr(spec, "stack_modes", None)
        return tuple(m for m in self.modes if narrow is None or m in narrow() or m == "fuse")

    def row(self) -> dict[str, Any]:
        """What ``adapterx methods --json`` prints for it."""
        return {"method": self.name, "library": self.library, "summary": self.summary,
                "compositions": {**{m: m in self.modes for m in COMPOSITIONS}, "continue": self.continue_as,
                                 "language-module": self.language_modules},
                "options": sorted(k for k in self.spec.model_fields if k != "name"), "notes": self.notes}


METHODS: Registry[MethodInfo] = Registry("method")
_ORDER: list[str] = []  # registration order: families together in listings


def register(info: MethodInfo) -> MethodInfo:
    if info.spec.model_fields["name"].default != info.name:
        raise ValueError(f"{info.name}: its spec {info.spec.__name__} is named {info.spec.model_fields['name'].default!r}")
    if info.continue_as is not None and info.continue_as not in info.modes:
        raise ValueError(f"{info.name}: continue_as {info.continue_as!r} is not among its modes")
    _ORDER.append(info.name)
    return METHODS.register(info.name, info)


def get(name: str) -> MethodInfo:
    """The method called ``name``; an unknown name is a ConfigError with a close match."""
    return METHODS.get(name)


def names() -> tuple[str, ...]:
    """Every method's name, in registration order (bottleneck adapters, prefix / prompt, LoRA, ..., full)."""
    return tuple(_ORDER)


def method_help() -> str:
    """The ``--method`` help: every method, grouped by the library that runs it."""
    groups: dict[str, list[str]] = {}
    for n in _ORDER:
        groups.setdefault(METHODS.get(n).library, []).append(n)
    listed = "; ".join(f"{', '.join(ns)} ({lib})" for lib, ns in groups.items())
    return (f"{listed}; options as NAME:KEY=VALUE,... (lora:dora=true); `adapterx methods` lists them with what each "
            "composes with.")


def who_can(kind: str) -> list[str]:
    """Methods supporting composition ``kind`` (for "use X instead" in errors)."""
    if kind == "language-module":
        return [n for n in _ORDER if METHODS.get(n).language_modules]
    return [n for n in _ORDER if kind in METHODS.get(n).modes]


def table(model: str | None = None, task: str = "stsb", methods: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of ``adapterx methods``: every method (or ``methods``) with its compositions; with ``model``, its
    trainable and total parameters on that backbone with ``task``'s head (each method built once with its defaults)."""
    wanted = methods or list(names())
    for n in wanted:
        get(n)  # unknown names fail before any model loads
    rows = [get(n).row() for n in wanted]
    if model is None:
        return rows
    import gc

    from adapterx import backbone as bbmod
    from adapterx.methods import build_module
    from adapterx.tasks import get_task

    bb, t = bbmod.resolve(model), get_task(task)
    for row in rows:
        module = build_module(get(row["method"]).spec(), bb, t, seed=0)
        row["params"] = {**module.parameter_counts(), "backbone": bb.id, "task": t.name}
        del module
        gc.collect()
    return rows


# --------------------------------------------------------------------------- the catalogue

_BN_FILES = ("adapter_config.json",)
_PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
# The plain-library load lines (MethodInfo.plain_load): `path` is set by the card's first line.
_ADAPTERS_LOAD = """from adapters import AutoAdapterModel

model = AutoAdapterModel.from_pretrained("$base")
model.load_adapter(f"{path}/module", use_safetensors=True, set_active=True)  # + head"""
_PEFT_LOAD = """from peft import PeftModel
from transformers import $auto_class

base = $auto_class.from_pretrained("$base"$head_args)
model = PeftModel.from_pretrained(base, f"{path}/module")"""
_BITFIT_LOAD = """from safetensors.torch import load_file
from transformers import $auto_class

model = $auto_class.from_pretrained("$base"$head_args)
# the trained biases and head over the pretrained weights
model.load_state_dict(load_file(f"{path}/module/bitfit.safetensors"), strict=False)"""
_FULL_LOAD = """from transformers import $auto_class, AutoTokenizer

model = $auto_class.from_pretrained(f"{path}/module")
tokenizer = AutoTokenizer.from_pretrained(f"{path}/module")  # else "$base"
"""
_SFT_LOAD = """import torch
from safetensors.torch import load_file
from transformers import $auto_class

model = $auto_class.from_pretrained("$base"$head_args)
model.load_state_dict(load_file(f"{path}/module/head.safetensors"), strict=False)  # the task head


def add(folder):  # a sparse difference: W.view(-1)[idx] += val for each tensor it names
    diff, params = load_file(f"{folder}/sft.safetensors"), dict(model.base_model.named_parameters())
    with torch.no_grad():
        for key in diff:
            if key.endswith(".idx") and key[:-4] in params:
                params[key[:-4]].view(-1).index_add_(0, diff[key].long(), diff[key[:-4] + ".val"])


# in order: a language SFT (swap in another language's, from module/languages/), the intermediates', the module's own
for folder in $parts:
    add(folder)"""

register(MethodInfo(
    "adapter", S.AdapterSpec, "adapters_backend", "adapters",
    "bottleneck adapter: seq_bn (Pfeiffer) or double_seq_bn (Houlsby)",
    modes=("stack", "fuse"), continue_as="stack", language_modules=True, multitask=True, native_files=_BN_FILES,
    plain_load=_ADAPTERS_LOAD, param_prefixes=("adapter",),
    variants={"houlsby": {"config": "double_seq_bn", "reduction_factor": 8}},
))
register(MethodInfo(
    "par_bn", S.ParBnSpec, "adapters_backend", "adapters", "parallel bottleneck adapter beside the FFN (scaled)",
    modes=("stack", "fuse"), continue_as="stack", language_modules=True, native_files=_BN_FILES, plain_load=_ADAPTERS_LOAD,
    param_prefixes=("adapter",), small={"reduction_factor": 8},
))
register(MethodInfo(
    "compacter", S.CompacterSpec, "adapters_backend", "adapters", "Compacter: Houlsby adapters of Kronecker-product (PHM) layers",
    modes=("stack", "fuse"), continue_as="stack", language_modules=True, native_files=_BN_FILES, plain_load=_ADAPTERS_LOAD,
    param_prefixes=("adapter", "shared_parameters"),
))
register(MethodInfo(
    "compacter++", S.CompacterPPSpec, "adapters_backend", "adapters", "Compacter++: one PHM adapter after the FFN",
    modes=("stack", "fuse"), continue_as="stack", language_modules=True, native_files=_BN_FILES, plain_load=_ADAPTERS_LOAD,
    param_prefixes=("adapter", "shared_parameters"),
))
register(MethodInfo(
    "prefix", S.PrefixSpec, "adapters_backend", "adapters", "prefix tuning: trained key/value prefixes in every layer",
    modes=("stack",), continue_as="stack", native_files=_BN_FILES, plain_load=_ADAPTERS_LOAD,
    param_prefixes=("prefix_tuning",), small={"prefix_length": 4, "bottleneck_size": 16},
    notes="stack: the intermediate's and the target's prefixes are both attended to; no fusion (adapters has none for prefixes)",
))
register(MethodInfo(
    "prompt", S.PromptSpec, "adapters_backend", "adapters", "prompt tuning: trained soft-prompt embeddings before the input",
    modes=("chain",), continue_as="chain", native_files=_BN_FILES, plain_load=_ADAPTERS_LOAD,
    default_lr=(3e-2, 3e-2),  # soft prompts want a large rate (Lester et al.: 0.3 with Adafactor)
    param_prefixes=("prompt_tuning",), small={"prompt_length": 4},
    notes="chain: the target prompt starts from the intermediate's (SPoT); adapters applies one prompt only, so no stack; "
          "token tasks drop the prompt positions (a plain-adapters load keeps them: logits[:, prompt_length:])",
))
register(MethodInfo(
    "lora", S.LoRASpec, "peft_backend", "peft", "LoRA (options: dora, rslora, init=pissa|gaussian)",
    modes=("sum", "merge", "chain"), continue_as="sum", multitask=True, native_files=_PEFT_FILES, plain_load=_PEFT_LOAD,
    param_prefixes=("lora_",), plugin=lora, small={"r": 4},
    variants={"dora": {"dora": True}, "rslora": {"rslora": True}, "pissa": {"init": "pissa"}},
    notes="dora: sum, merge; init=pissa: merge (saved as the equivalent rank-2r LoRA over the original weights)",
))
register(MethodInfo(
    "ia3", S.IA3Spec, "peft_backend", "peft", "(IA)^3: trained rescaling of keys, values and FFN activations",
    modes=("merge",), continue_as="merge", native_files=_PEFT_FILES, plain_load=_PEFT_LOAD,
    default_lr=(3e-3, 1e-2),  # (IA)^3 vectors start at 1 and want a larger rate than LoRA (Liu et al.: 3e-3)
    param_prefixes=("ia3_",), plugin=ia3,
    notes="merge: the intermediate's vectors folded into the weights, fresh vectors on top",
))
register(MethodInfo(
    "adalora", adalora.AdaLoRASpec, "peft_backend", "peft",
    "AdaLoRA: LoRA in SVD form, its rank budget moved to the projections that matter while it trains",
    modes=("merge",), continue_as="merge", native_files=_PEFT_FILES, plain_load=_PEFT_LOAD, default_lr=(5e-4, 3e-3),
    param_prefixes=("lora_",), plugin=adalora, small={"init_r": 6, "target_r": 4},
    notes="merge: the intermediate's AdaLoRA (cut to its final ranks) folded into the weights, a fresh one on top; "
          "no sum / chain: peft trains one AdaLoRA adapter at a time",
))
register(MethodInfo(
    "vera", vera.VeRASpec, "peft_backend", "peft",
    "VeRA: trained scaling vectors around frozen random projections shared by every layer",
    modes=("merge",), continue_as="merge", native_files=_PEFT_FILES, plain_load=_PEFT_LOAD, default_lr=(4e-3, 1e-2),
    param_prefixes=("vera_",), plugin=vera, small={"r": 32},
    notes="merge: the intermediate's VeRA folded into the weights, fresh vectors on top (the same seed's projections)",
))
register(MethodInfo(
    "bitfit", S.BitFitSpec, "bitfit_backend", "torch", "BitFit: only the backbone's bias terms (and the head) train",
    modes=("chain",), continue_as="chain", native_files=("bitfit.safetensors",), default_lr=(1e-3, 3e-3),
    param_prefixes=(".bias",),
    plain_load=_BITFIT_LOAD,
    notes="chain: the target's biases start from the intermediate's",
))
register(MethodInfo(
    "full", S.FullSpec, "hf_backend", "transformers", "full fine-tuning of every weight (the baseline)",
    modes=("chain",), continue_as="chain", multitask=True, native_files=("config.json",), default_lr=(2e-5, 1e-3),
    plain_load=_FULL_LOAD,
))
register(MethodInfo(
    "sft", S.SFTSpec, "sft_backend", "torch", "LT-SFT: a sparse difference of K weights (lottery-ticket sparse fine-tuning)",
    modes=("sum",), continue_as="sum", language_modules=True, native_files=("sft.safetensors",),
    default_lr=(2e-5, 1e-3),  # its phase 1 is full fine-tuning: the paper's 2e-5 serves both phases
    param_prefixes=("sft_delta",), small={"k": 2000},
    plain_load=_SFT_LOAD,
    notes="sum: the differences add (language SFT, intermediates, target: Ansell et al. 2022); language SFTs from "
          "`train-language --method sft`",
))


def default_lr(method: str, model: str) -> float:
    """The peak learning rate a method trains with unless told otherwise (the commands and recipes alike): its
    registration's rate for a pretrained backbone, or for the tiny random model (which needs far larger ones:
    measured on synthetic STS-B, 1e-4 barely moves it, 3e-3 / 1e-3 learn)."""
    pretrained, tiny = get(method).default_lr
    return tiny if model == "tiny" else pretrained
