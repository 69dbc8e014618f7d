"""Every peft method (LoRA with its DoRA / rsLoRA / PiSSA options, (IA)^3, AdaLoRA, VeRA): the only module of
adapterx that builds, saves, loads and composes peft models. What differs between peft's tuners (the config, the
default targets, hooks such as AdaLoRA's rank allocator) is each method's own module (:mod:`adapterx.methods.lora`,
``ia3``, ``adalora``, ``vera``: a :class:`~adapterx.methods.protocol.PeftMethod`), found through its registration in
:mod:`adapterx.methods.catalog`; which parameters are the method's is the registration's ``param_prefixes``.

A single-task module is saved as a plain peft folder (``adapter_config.json`` + ``adapter_model.safetensors``) with the
task head in ``modules_to_save``, so ``PeftModel.from_pretrained(AutoModelFor<Task>.from_pretrained(base, ...), path)``
loads it without adapterx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError, ModelError
from adapterx.methods import catalog
from adapterx.methods.heads import auto_class, check_head, head_kwargs, new_head_modules
from adapterx.methods.module import Module
from adapterx.methods.protocol import Hooks, PeftMethod

# peft task types wrap the head in modules_to_save; multiple choice has none, so its head is named explicitly.
_TASK_TYPE = {"regression": "SEQ_CLS", "classification": "SEQ_CLS", "span_qa": "QUESTION_ANS", "tagging": "TOKEN_CLS"}
_HEAD_MODULES = {"multiple_choice": ["classifier"]}
# What peft's task types put in modules_to_save by themselves (peft.peft_model: classifier_module_names, qa_module_names).
_PEFT_HEADS = ("classifier", "score", "qa_outputs")


@dataclass
class PeftState:
    """What a peft module keeps beside its model (``Module.state``)."""

    intermediates: list[tuple[str, Path]] = field(default_factory=list)  # composed modules: copied into the folder
    extra_heads: list[str] = field(default_factory=list)  # fresh head parts beside the head (composed models)
    pissa_init: dict[str, Any] | None = None  # PiSSA: the initial A, B (saved as the LoRA the module amounts to)


def method_of(spec) -> PeftMethod:  # noqa: ANN001
    """The method's own module (its peft config, default targets, hooks), as its registration names it."""
    plugin = catalog.get(spec.name).plugin
    if plugin is None:
        raise ValueError(f"{spec.name} is not a peft method")
    return plugin


def _prefixes(spec) -> tuple[str, ...]:  # noqa: ANN001
    return catalog.get(spec.name).param_prefixes


def _config(spec, task_type, modules_to_save, model=None):  # noqa: ANN001, ANN202
    # the architecture's default (the method's own per-model mapping) where the spec names none
    targets = _targets(spec, model) if model is not None else list(spec.target_modules)
    return method_of(spec).peft_config(spec, targets, task_type, modules_to_save)


def default_targets(spec, model_type: str) -> tuple[str, ...] | None:  # noqa: ANN001
    """The method's default target modules on an architecture (LoRA: peft's per-model mapping); None: none known."""
    return method_of(spec).default_targets(model_type)


def _finish(module: Module) -> Module:
    """The module's hooks: the method's own (AdaLoRA's rank allocator), and for inference a single-task module of a
    method that merges (LoRA) folded into the base weights."""
    plugin = method_of(module.method)
    make = getattr(plugin, "hooks", None)
    hooks = make(module) if make is not None else Hooks()
    if getattr(plugin, "MERGE_FOR_INFERENCE", False) and not module.composition:
        hooks.fold = module.model.merge_adapter
    module.hooks = hooks
    return module


def linear_module_names(backbone) -> list[str] | None:  # noqa: ANN001
    """Names (last path part) of the backbone's linear layers, from its config on the meta device (no weights);
    None where transformers cannot build the body from its config alone (then peft itself checks the names)."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(backbone.path)
        with torch.device("meta"):
            body = AutoModel.from_config(config)
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None
    return sorted({n.rsplit(".", 1)[-1] for n, m in body.named_modules() if isinstance(m, torch.nn.Linear)})


def for_backbone(spec, backbone, task=None, composition: str | None = None):  # noqa: ANN001, ANN201
    """The spec with its target modules filled in for this architecture; refused (one line) where peft has no
    default and none were given, or where a named target is not a layer of this model."""
    check_head(backbone, task, spec.name)
    names = linear_module_names(backbone)
    targets = spec.target_modules or default_targets(spec, backbone.model_type)
    flag = "--lora-targets" if spec.name == "lora" else f"--method {spec.name}:target_modules=..."
    if not targets:
        layers = f" (its linear layers: {', '.join(names)})" if names else ""
        raise ModelError(f"--method {spec.name}: peft has no default target modules for {backbone.model_type} "
                         f"({backbone.id}); name them with {flag}{layers}, or use --method full")
    missing = [t for t in targets if names is not None and t not in names]
    if missing:
        default = default_targets(spec, backbone.model_type)
        hint = f"the default for {backbone.model_type} is {','.join(default)}" if default else "name others"
        raise ModelError(f"{flag.removesuffix('...')}{','.join(targets)}: {backbone.model_type} ({backbone.id}) has no "
                         f"layer named {missing[0]} (its linear layers: {', '.join(names)}); {hint}")
    return spec.model_copy(update={"target_modules": tuple(targets)})


def _targets(spec, model) -> list[str]:  # noqa: ANN001
    targets = spec.target_modules or default_targets(spec, getattr(model.config, "model_type", ""))
    if not targets:
        raise ModelError(f"--method {spec.name}: no default target modules for {model.config.model_type}; name them "
                         "(method.target_modules)")
    return list(targets)


def _load_base(backbone, task):  # noqa: ANN001, ANN202
    """The base model with the task's head, and the head modules to train and save beyond peft's own head names:
    those ``from_pretrained`` initialised fresh, and the pooler that BERT-family sequence heads read."""
    base, info = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task), output_loading_info=True)
    extra = new_head_modules(info.get("missing_keys", []), _PEFT_HEADS)
    if task.kind in ("regression", "classification", "multiple_choice"):
        # BERT's sequence heads are a linear layer over the pooler (a dense + tanh over [CLS]); XLM-R's classifier
        # holds its own dense layer and DistilBERT's a fresh pre_classifier. The pooler trains as part of the head, so
        # LoRA gets the same two-layer head on every architecture (and as adapters' heads). Measured on minilm
        # STS-B (100 steps, lr 1e-3): frozen pooler -11.3 dev Spearman, trained with the head 83.0.
        poolers = [n for n, _ in base.named_modules() if n.rsplit(".", 1)[-1] == "pooler"]
        extra = poolers + [e for e in extra if not any(e == p or e.startswith(p + ".") for p in poolers)]
    return base, extra


def lora_config(spec, task, model=None, extra_heads: list[str] | None = None):  # noqa: ANN201
    """The peft config of a spec (any peft method) for ``task``: its head, and the head parts ``from_pretrained`` made
    fresh (``extra_heads``), in ``modules_to_save``; the targets resolved against ``model``'s architecture."""
    heads = list(_HEAD_MODULES.get(task.kind, [])) + [h for h in extra_heads or [] if h not in _HEAD_MODULES.get(task.kind, [])]
    return _config(spec, _TASK_TYPE.get(task.kind), heads or None, model)


def build(backbone, task, spec, name: str):  # noqa: ANN201
    from peft import get_peft_model

    base, extra_heads = _load_base(backbone, task)
    _check_targets(base, spec)
    model = get_peft_model(base, lora_config(spec, task, base, extra_heads))
    return _finish(_remember_init(Module(model, spec, task, name, state=PeftState())))


def _check_targets(base, spec) -> None:  # noqa: ANN001
    """Module names that match nothing fail here as one line naming the field (peft's own error is a traceback)."""
    names = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
    missing = [t for t in _targets(spec, base) if t not in names]
    if missing:
        raise ConfigError(f"method.target_modules: {', '.join(missing)} names no module of this backbone "
                          f"(e.g. query, key, value, dense)")


# --------------------------------------------------------------------------- PiSSA
# PiSSA (Meng et al. 2024) initialises A, B from the top-r singular triplets of W and trains them on the residual
# W_res = W - s B0 A0, which peft writes into the base weights. What the trained module amounts to over the original W
# is the rank-2r LoRA  s (B A - B0 A0) = s [B | -B0] [A ; A0]: adapterx saves that, so the saved folder is a plain
# LoRA that loads on the untouched backbone (peft, adapterx, composition by merge) like any other.


def _remember_init(module):  # noqa: ANN001, ANN202
    if getattr(module.method, "init", None) == "pissa":
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(module.model)
        module.state.pissa_init = {k: v.detach().clone() for k, v in state.items() if "lora_" in k}
    return module


def _save_single(module, folder: Path) -> None:
    init = module.state.pissa_init if isinstance(module.state, PeftState) else None
    if init is None:
        module.model.save_pretrained(str(folder), safe_serialization=True)
        return
    import copy
    import math

    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {k: v.detach() for k, v in get_peft_model_state_dict(module.model).items()}
    for key, v0 in init.items():
        if "lora_A" in key:
            state[key] = torch.cat([state[key], v0], dim=0)
        elif "lora_B" in key:
            state[key] = torch.cat([state[key], -v0], dim=1)
    cfg = copy.deepcopy(module.model.peft_config["default"])
    cfg.r *= 2
    cfg.lora_alpha = cfg.lora_alpha * (math.sqrt(2) if cfg.use_rslora else 2)  # the same scaling at rank 2r
    cfg.init_lora_weights = True
    cfg.save_pretrained(str(folder))
    save_file({k: v.contiguous() for k, v in state.items()}, str(Path(folder) / "adapter_model.safetensors"))


def save(module, folder: Path) -> None:
    if module.composition:
        return save_composed(module, folder)
    _save_single(module, folder)


def load(folder: Path, backbone, task, spec, name: str, comp: dict | None = None):  # noqa: ANN201
    from peft import PeftModel

    if comp:
        return load_composed(folder, backbone, task, spec, name, comp)
    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    model = PeftModel.from_pretrained(base, str(folder))
    return _finish(Module(model, spec, task, name, state=PeftState()))


# --------------------------------------------------------------------------- compositions
# peft gives every adapter of a task_type model its own head copy, and two active adapters then fail
# ("Only one adapter can be set at a time for ModulesToSaveWrapper", library notes). So composed LoRA models use
# task_type=None with the head outside peft: adapterx trains it directly and saves it as head.safetensors.

_HEAD_PREFIX = {"span_qa": "qa_outputs"}
HEAD_FILE = "head.safetensors"


def _head_prefix(task) -> str:
    return _HEAD_PREFIX.get(task.kind, "classifier")


def _head_paths(module) -> list[str]:  # noqa: ANN001
    """The head and the other freshly initialised modules (DistilBERT's pre_classifier...) of a composed model."""
    return [_head_prefix(module.task), *module.state.extra_heads]


def _bare_config(folder: Path):  # noqa: ANN202
    """An intermediate module's peft config without its task type and head: only its deltas are reused."""
    from peft import PeftConfig

    cfg = PeftConfig.from_pretrained(str(folder))
    cfg.task_type = None
    cfg.modules_to_save = None
    cfg.inference_mode = False
    # Where the module was trained or published (a local folder, a Hub id, "<local>/NAME") says nothing about the
    # model it is attached to now; peft fills in the current one instead of warning that they differ.
    cfg.base_model_name_or_path = None
    return cfg


def _module_weights(folder: Path, prefixes: tuple[str, ...]) -> dict:
    """The method's own tensors of a saved module (its registration's ``param_prefixes``; not the head's)."""
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(Path(folder) / "adapter_model.safetensors")).items()
            if any(p in k for p in prefixes)}


def _attach(pm, name: str, folder: Path, prefixes: tuple[str, ...]):  # noqa: ANN001, ANN202
    """Add the intermediate module in ``folder`` to peft model ``pm`` (or wrap a plain model) under ``name``."""
    from peft import PeftModel, get_peft_model, set_peft_model_state_dict

    cfg = _bare_config(folder)
    if isinstance(pm, PeftModel):
        pm.add_adapter(name, cfg)
    else:
        pm = get_peft_model(pm, cfg, adapter_name=name)
    missing = set_peft_model_state_dict(pm, _module_weights(folder, prefixes), adapter_name=name)
    unexpected = getattr(missing, "unexpected_keys", [])
    if unexpected:
        raise ModelError(f"{folder}: the module's weights do not fit this backbone ({unexpected[0]} ...)")
    return pm


def merge_into_base(base, folders: list[tuple[str, Path]], spec):  # noqa: ANN001, ANN201
    """Fold each intermediate module of method ``spec`` into the base weights: LoRA W <- W + (alpha/r) B A, (IA)^3
    W <- W diag(l), ... (peft's merge_and_unload)."""
    for name, folder in folders:
        base = _attach(base, name, folder, _prefixes(spec)).merge_and_unload()
    return base


def build_composed(backbone, task, spec, name: str, intermediates: list[tuple[str, Path]], mode: str,
                   with_target: bool = False, lang_adapters: list[tuple[str, Path]] | None = None):  # noqa: ANN201
    """``sum``: intermediate LoRAs frozen and active, a new target LoRA and head train on top.
    ``chain``: the same modules, the target LoRA fed the intermediates' deltas (see :func:`activate`).
    ``merge``: intermediate LoRAs merged into the base, then a plain single-task LoRA trains on it."""
    from peft import get_peft_model

    base, extra_heads = _load_base(backbone, task)
    comp = {"kind": mode, "adapters": [t.replace("+", "_") for t, _ in intermediates] + [name]}
    intermediates = [(t.replace("+", "_"), f) for t, f in intermediates]
    if mode == "merge":
        model = get_peft_model(merge_into_base(base, intermediates, spec), lora_config(spec, task, base, extra_heads))
        return _finish(_remember_init(Module(model, spec, task, name, composition=comp,
                                             state=PeftState(intermediates=intermediates))))
    pm = base
    for t, folder in intermediates:
        pm = _attach(pm, t.replace("+", "_"), folder, _prefixes(spec))
    pm.add_adapter(name, _config(spec, None, None, base))
    activate(pm, comp["adapters"], mode)
    heads = [_head_prefix(task), *extra_heads]
    own = _prefixes(spec)
    for n, p in pm.named_parameters():
        p.requires_grad_(f".{name}." in n and any(o in n for o in own) or any(f".{h}." in n for h in heads))
    return _finish(Module(pm, spec, task, name, composition=comp,
                          state=PeftState(intermediates=intermediates, extra_heads=extra_heads)))


def activate(pm, adapters: list[str], mode: str) -> None:  # noqa: ANN001
    """Make the composition compute what its mode says (the last adapter is the target).

    sum:   W h + sum_i dW_i h + dW_t h   -- every LoRA active (peft multi-adapter).
    chain: W h + dW_t(dW_k(...dW_1 h))   -- only the target is active, and a pre-hook on the target's A feeds it the
           intermediates' deltas of h instead of h: what ``adapters``' LoRA ``Stack`` computes (library notes).
    """
    from peft.tuners.lora import LoraLayer

    *inters, target = adapters
    if mode == "sum":
        pm.base_model.set_adapter(adapters)  # this also re-enables grads on all of them; callers freeze
        return
    pm.base_model.set_adapter([target])
    for module in pm.modules():
        if isinstance(module, LoraLayer) and target in module.lora_A and all(i in module.lora_A for i in inters):
            module.lora_A[target].register_forward_pre_hook(_chain_hook(module, inters))


def _chain_hook(layer, inters: list[str]):  # noqa: ANN001, ANN202
    def hook(_mod, args):  # noqa: ANN001, ANN202
        x = args[0]
        for i in inters:  # dW_i x = scaling_i * B_i(A_i x); the frozen intermediates run without dropout
            x = layer.lora_B[i](layer.lora_A[i](x)) * layer.scaling[i]
        return (x,)

    return hook


def save_composed(module, folder: Path) -> None:
    import shutil

    from safetensors.torch import save_file

    comp = module.composition
    folder.mkdir(parents=True, exist_ok=True)
    # The intermediates travel with the module so that the run dir is self-contained (push, pull, reload).
    for t, src in module.state.intermediates:
        dst = folder / "intermediates" / t
        if not dst.exists():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("adapterx_module.json"))
    if comp["kind"] == "merge":
        _save_single(module, folder)
        return
    module.model.save_pretrained(str(folder / "peft"), safe_serialization=True, selected_adapters=[module.name])
    heads = _head_paths(module)
    state = {k: v.detach().contiguous() for k, v in module.model.base_model.model.state_dict().items()
             if any(k.startswith(h + ".") for h in heads)}
    save_file(state, str(folder / HEAD_FILE))


def load_composed(folder: Path, backbone, task, spec, name: str, comp: dict):  # noqa: ANN201
    from peft import PeftModel
    from safetensors.torch import load_file

    inters = [(t, Path(folder) / "intermediates" / t) for t in comp["adapters"][:-1]]
    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    if comp["kind"] == "merge":
        model = PeftModel.from_pretrained(merge_into_base(base, inters, spec), str(folder))
        return _finish(Module(model, spec, task, name, composition=comp, state=PeftState(intermediates=inters)))
    pm = base
    for t, f in inters:
        pm = _attach(pm, t, f, _prefixes(spec))
    pm.load_adapter(str(Path(folder) / "peft" / name), adapter_name=name)
    activate(pm, comp["adapters"], comp["kind"])
    pm.base_model.model.load_state_dict(load_file(str(Path(folder) / HEAD_FILE)), strict=False)
    return _finish(Module(pm, spec, task, name, composition=comp, state=PeftState(intermediates=inters)))


def inject_shared_lora(model, spec):  # noqa: ANN001, ANN201
    """LoRA (task_type None: the heads stay the caller's) injected into ``model`` in place; returns the PeftModel."""
    from peft import get_peft_model

    if getattr(spec, "init", None) == "pissa":
        raise ConfigError("method.init: pissa is for single-task LoRA modules; multi-task training uses init=default")
    return get_peft_model(model, _config(spec, None, None, model))


def load_pretrained(base, folder: Path, spec, task, name: str) -> Module:  # noqa: ANN001
    """``PeftModel.from_pretrained`` of a peft folder onto ``base``, as a module of ``task`` with its hooks."""
    from peft import PeftModel

    return _finish(Module(PeftModel.from_pretrained(base, str(folder)), spec, task, name, state=PeftState()))
