"""The ``adapters`` library's methods: the only module of adapterx that imports it.

Bottleneck adapters (``adapter``: seq_bn / double_seq_bn, ``par_bn``, ``compacter``, ``compacter++``), prefix tuning
(``prefix``) and prompt tuning (``prompt``). The model is an ``AutoAdapterModel`` with flexible heads; a module is one
adapter plus a head of the same name, saved with ``save_adapter(..., with_head=True, use_safetensors=True)`` so that
plain ``AutoAdapterModel.from_pretrained(base).load_adapter(path, use_safetensors=True)`` restores both.

Prompt tuning and token-level heads: ``adapters`` puts the prompt vectors before the embedded input (after the
position embeddings, so real tokens keep their positions) and its heads see ``prompt_length`` extra positions in
front. Sequence heads read position 0 (the first prompt vector), as the library does. For tagging and QA adapterx
drops those positions from the logits after the forward and shifts QA span labels by the prompt length before it
(:func:`_prompt_hooks`), so predictions, losses and the zero-shot postprocessing line up with the input tokens;
retrieval drops them from the hidden states (the module's ``hooks.strip_positions``).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from adapterx.errors import ConfigError, ModelError
from adapterx.methods.module import Module
from adapterx.methods.protocol import Hooks


_HEAD_TYPES = {"regression": "classification", "classification": "classification", "multiple_choice": "multiple_choice",
               "span_qa": "question_answering", "tagging": "tagging"}


def for_backbone(spec, backbone, task=None, composition: str | None = None):  # noqa: ANN001, ANN201
    """Refuse (one line) an architecture the ``adapters`` library has no model for, or a task head its model class
    lacks; the spec needs no architecture defaults. Stack and Fuse work on every architecture it supports."""
    from adapters.models.auto.adapter_model import ADAPTER_MODEL_MAPPING_NAMES

    if backbone.model_type not in ADAPTER_MODEL_MAPPING_NAMES:
        what = "compositions" if composition else "adapters"
        raise ModelError(f"--method adapter: the adapters library has no {backbone.model_type} model ({backbone.id}), so "
                         f"no {what} on it (it has: {', '.join(sorted(ADAPTER_MODEL_MAPPING_NAMES))}); "
                         "use --method lora or --method full")
    head = _HEAD_TYPES.get(task.kind) if task is not None else None
    if head is not None:
        import adapters

        cls = getattr(adapters, ADAPTER_MODEL_MAPPING_NAMES[backbone.model_type], None)
        if cls is not None and head not in getattr(cls, "head_types", [head]):
            raise ModelError(f"--method adapter: adapters' {cls.__name__} has no {head} head for task {task.name}; "
                             "use --method lora or --method full")
    return spec


def adapter_config(spec):  # noqa: ANN201
    """The ``adapters`` config object of a spec (every method of this backend)."""
    import adapters

    if spec.name == "adapter":
        cls = adapters.SeqBnConfig if spec.config == "seq_bn" else adapters.DoubleSeqBnConfig
    else:
        cls = {"par_bn": adapters.ParBnConfig, "compacter": adapters.CompacterConfig,
               "compacter++": adapters.CompacterPlusPlusConfig, "prefix": adapters.PrefixTuningConfig,
               "prompt": adapters.PromptTuningConfig}[spec.name]
    return cls(**spec.library_config())


def check_fits(model, spec) -> None:  # noqa: ANN001
    """Shape constraints of a method on this backbone, as one ConfigError naming the field (before training)."""
    hidden = model.config.hidden_size
    if spec.name in ("compacter", "compacter++"):
        bottleneck = hidden // spec.reduction_factor
        if bottleneck < 1 or bottleneck % spec.phm_dim or hidden % spec.phm_dim:
            raise ConfigError(
                f"method.reduction_factor: hidden size {hidden} / {spec.reduction_factor} = {bottleneck} is not a "
                f"multiple of phm_dim {spec.phm_dim}: choose a reduction_factor (or phm_dim) that divides it")
    elif hasattr(spec, "reduction_factor") and hidden // spec.reduction_factor < 1:
        raise ConfigError(f"method.reduction_factor: {spec.reduction_factor} exceeds the hidden size {hidden}")


def add_head(model, task, name: str) -> None:
    """A fresh head for ``task`` named ``name`` (the adapter's name, so save_adapter(with_head=True) finds it)."""
    id2label = dict(enumerate(task.labels)) if task.labels else None
    if task.kind in ("regression", "classification"):
        model.add_classification_head(name, num_labels=task.num_labels, id2label=id2label)
    elif task.kind == "multiple_choice":
        model.add_multiple_choice_head(name, num_choices=task.num_choices)
    elif task.kind == "span_qa":
        model.add_qa_head(name)
    elif task.kind == "tagging":
        model.add_tagging_head(name, num_labels=task.num_labels, id2label=id2label)
    else:
        raise ValueError(f"no head for task kind {task.kind}")


def only_head_trainable(model, name: str) -> None:
    """``train_adapter`` freezes the base model but leaves every head trainable: keep only the active one."""
    for head_name, head in model.heads.items():
        for p in head.parameters():
            p.requires_grad_(head_name == name)


def new_model(backbone):  # noqa: ANN201
    from adapters import AutoAdapterModel

    return AutoAdapterModel.from_pretrained(backbone.path)


def build(backbone, task, spec, name: str):  # noqa: ANN201

    model = new_model(backbone)
    check_fits(model, spec)
    model.add_adapter(name, config=adapter_config(spec))
    add_head(model, task, name)
    model.train_adapter(name)
    model.active_head = name
    only_head_trainable(model, name)
    return _finish(Module(model, spec, task, name))


def _finish(module):  # noqa: ANN001, ANN202
    """Prompt tuning: hooks that keep token-level outputs aligned with the input (module doc)."""
    if module.method.name == "prompt":
        n = module.method.prompt_length
        module.hooks.strip_positions = n
        if module.task is not None and module.task.kind in ("tagging", "span_qa"):
            _prompt_hooks(module.model, n)
    return module


def _prompt_hooks(model, n: int) -> None:  # noqa: ANN001
    def before(_mod, args, kwargs):  # noqa: ANN001, ANN202
        # QA labels index the input tokens; with the prompt in front, token i is at position n + i.
        for key in ("start_positions", "end_positions"):
            if kwargs.get(key) is not None:
                kwargs[key] = kwargs[key] + n
        return args, kwargs

    def after(_mod, _args, _kwargs, out):  # noqa: ANN001, ANN202
        # adapters' tagging head pads its labels with n ignored positions itself; the logits keep them: drop them.
        for key in ("logits", "start_logits", "end_logits"):
            value = out.get(key) if hasattr(out, "get") else None
            if value is not None and value.dim() >= 2:
                out[key] = value[:, n:]
        return out

    model.register_forward_pre_hook(before, with_kwargs=True)
    model.register_forward_hook(after, with_kwargs=True)


def save(module, folder: Path) -> None:
    if module.composition:
        return save_composed(module, folder)
    # save_adapter does not create missing parent folders (library notes): the caller made `folder`.
    with _prefix_aliases_dropped():
        module.model.save_adapter(str(folder), module.name, with_head=True, use_safetensors=True)


@contextmanager
def _prefix_aliases_dropped():  # noqa: ANN202
    """adapters 1.3 registers each prefix-tuning tensor under three names (the model's pool and each layer's view of
    it), and safetensors refuses to write aliased tensors. The layers' views are dropped from what is written: loading
    the pool's names sets the one tensor they share (save -> load gives identical predictions: the contract tests)."""
    import adapters.loading as loading

    write = loading.save_file

    def save_file(state, path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        return write({k: v for k, v in state.items() if ".pool.prefix_tunings." not in k}, path, *args, **kwargs)

    loading.save_file = save_file
    try:
        yield
    finally:
        loading.save_file = write


def load(folder: Path, backbone, task, spec, name: str, comp: dict | None = None):  # noqa: ANN201

    if comp and comp.get("kind") != "chain":  # a prompt chained from an intermediate's is a plain module
        return load_composed(folder, backbone, task, spec, name, comp)
    model = new_model(backbone)
    model.load_adapter(str(folder), load_as=name, with_head=True, use_safetensors=True, set_active=True)
    model.active_head = name
    return _finish(Module(model, spec, task, name))


def chain_from(backbone, task, spec, name: str, folder: Path):  # noqa: ANN201
    """Prompt tuning on top of an intermediate prompt (SPoT, Vu et al. 2022): a fresh target prompt and head whose
    prompt starts from the intermediate's trained vectors; the result is a plain single prompt module."""
    import torch

    module = build(backbone, task, spec, name)
    model = module.model
    src = model.load_adapter(str(folder), load_as="chain_source", with_head=False, use_safetensors=True)
    tunings = model.base_model.prompt_tuning.prompt_tunings
    have, want = tunings[src].prompt_embedding.weight, tunings[name].prompt_embedding.weight
    if have.shape != want.shape:
        raise ConfigError(f"method.prompt_length: the intermediate prompt in {folder} has {have.shape[0]} vectors, "
                          f"this one {want.shape[0]}: use the same prompt_length")
    with torch.no_grad():
        want.copy_(have)
    model.delete_adapter(src)
    model.active_adapters = name
    return module


# --------------------------------------------------------------------------- compositions


def build_composed(backbone, task, spec, name: str, intermediates: list[tuple[str, Path]], mode: str = "stack",
                   with_target: bool = False, lang_adapters: list[tuple[str, Path]] | None = None):  # noqa: ANN201
    """A target adapter stacked on frozen intermediate adapters (``Stack(int..., target)``), or an AdapterFusion
    layer over them (``Fuse(int..., [target])``). Only the target adapter (or the fusion layer) and the head train.
    With MAD-X language adapters, English's sits below everything (``Stack(lang_en, ...)``) while training."""
    from adapters.composition import Fuse, Stack

    fuse = mode == "fuse"
    model = new_model(backbone)
    langs = [code for code, _ in lang_adapters or []]
    for code, folder in lang_adapters or []:
        model.load_adapter(str(folder), load_as=LANG_PREFIX + code, with_head=False, use_safetensors=True)
    # A multi-task intermediate is called "stsb+mnli"; adapter names stay plain identifiers.
    names = [model.load_adapter(str(folder), load_as=t.replace("+", "_"), with_head=False, use_safetensors=True)
             for t, folder in intermediates]
    if fuse:
        members = names + ([name] if with_target else [])
        if with_target:
            model.add_adapter(name, config=adapter_config(spec))
        setup = Fuse(*members)
        model.add_adapter_fusion(setup)
        add_head(model, task, name)
        # Freezes every adapter and trains the fusion layer; the target's own adapter (if any) trains with it.
        model.train_adapter_fusion(setup)
        model.active_adapters = setup
        if with_target:
            for n, p in model.named_parameters():
                if f"adapters.{name}." in n:
                    p.requires_grad_(True)
    else:
        model.add_adapter(name, config=adapter_config(spec))
        add_head(model, task, name)
        model.train_adapter(name)  # freezes the base and every other adapter
        setup = Stack(*names, name)
        model.active_adapters = setup
    comp = {"kind": "fuse" if fuse else "stack", "adapters": names + ([name] if (with_target or not fuse) else [])}
    if langs:
        comp["languages"] = langs  # MAD-X language adapters available; "en" trains
        model.active_adapters = _setup(comp, "en")
    model.active_head = name
    only_head_trainable(model, name)
    hooks = Hooks(switch_language=_switcher(model, comp) if langs else None)
    return Module(model, spec, task, name, composition=comp, hooks=hooks)


LANG_PREFIX = "lang_"  # adapter names of MAD-X language adapters inside a composition


def _setup(comp: dict, lang: str | None = None):  # noqa: ANN202
    """The active setup of a composition; with language adapters, ``lang``'s (English's where it has none) below."""
    from adapters.composition import Fuse, Stack

    inner = Fuse(*comp["adapters"]) if comp["kind"] == "fuse" else None
    if not comp.get("languages"):
        return inner or Stack(*comp["adapters"])
    code = lang if lang in comp["languages"] else "en"
    return Stack(LANG_PREFIX + code, inner) if inner is not None else Stack(LANG_PREFIX + code, *comp["adapters"])


def _switcher(model, comp: dict):  # noqa: ANN001, ANN202
    def switch(lang: str) -> bool:
        """Activate ``lang``'s language adapter; returns whether the language has its own."""
        model.active_adapters = _setup(comp, lang)
        return lang in comp["languages"]

    return switch


def save_composed(module, folder: Path) -> None:
    comp = module.composition
    with _prefix_aliases_dropped():
        module.model.save_adapter_setup(str(folder), _setup(comp, "en"), head_setup=module.name, use_safetensors=True)
    for code in comp.get("languages", []):
        if code != "en":  # en is part of the saved setup
            sub = folder / "lang_adapters" / code
            sub.mkdir(parents=True, exist_ok=True)
            module.model.save_adapter(str(sub), LANG_PREFIX + code, with_head=False, use_safetensors=True)


def load_composed(folder: Path, backbone, task, spec, name: str, comp: dict):  # noqa: ANN201

    model = new_model(backbone)
    model.load_adapter_setup(str(folder), set_active=True, use_safetensors=True)
    for code in comp.get("languages", []):
        if code != "en":
            model.load_adapter(str(Path(folder) / "lang_adapters" / code), load_as=LANG_PREFIX + code, with_head=False,
                               use_safetensors=True)
    model.active_head = name
    hooks = Hooks()
    if comp.get("languages"):
        hooks.switch_language = _switcher(model, comp)
        model.active_adapters = _setup(comp, "en")
    return Module(model, spec, task, name, composition=comp, hooks=hooks)


def fusion_attention(module, batch: dict) -> dict[int, list[float]] | None:
    """Mean AdapterFusion attention over the adapters, per layer, for one batch (None where there is no fusion)."""
    comp = module.composition or {}
    if comp.get("kind") != "fuse":
        return None
    out = module.model(**batch, output_adapter_fusion_attentions=True)
    att = getattr(out, "adapter_fusion_attentions", None)
    if not att:
        return None
    result: dict[int, list[float]] = {}
    for _fusion, layers in att.items():
        for layer, parts in layers.items():
            arr = parts.get("output_adapter")
            if arr is not None:
                # arr: [batch, seq, n_adapters] attention probabilities (numpy); average over tokens and examples.
                result[int(layer)] = [float(x) for x in arr.reshape(-1, arr.shape[-1]).mean(axis=0)]
    return result
