"""LT-SFT: lottery-ticket sparse fine-tuning (Ansell et al. 2022, "Composable Sparse Fine-Tuning for Cross-Lingual
Transfer"), written from the paper with plain torch and transformers (nothing of composable-sft is on PyPI).

The algorithm, as adapterx runs it:

1. **Phase 1 (dense).** A plain copy of the model fine-tunes every *eligible* weight (below) and the head, for
   ``phase1`` x the run's steps (the paper gives both phases the same budget: ``phase1 = 1.0``), with the run's
   learning rate and schedule. Its English dev score is taken once, at its end (``run.json`` ``sft.phase1_dev``);
   no best-checkpoint selection in phase 1.
2. **The mask.** The K eligible weights whose value moved most, ``|theta_1 - theta_0|``, ranked over all eligible
   tensors together (not per tensor), form the mask. The dense copy is then dropped.
3. **Reset.** Every weight goes back to its value before phase 1: the pretrained backbone (plus the differences
   composed under it), *and the head to its initialisation* (the lottery-ticket reset).
4. **Phase 2 (sparse).** Only the K masked entries train, and the head. They are the ``sft_delta`` vectors of a
   parametrization on each eligible tensor, ``W = W_0 + scatter(idx, sft_delta)``: the gradient reaches exactly the
   masked entries (gradient masking, the optimizer holding K numbers and no state for the rest), and ``W_0`` stays
   bitwise as it was. Best-checkpoint selection on English dev, as for every method. For inference the difference
   is added into the weights (:func:`fold`): a plain model, no per-forward scatter.

Both phases run in :func:`adapterx.engine.loop.train`: the module hands it phase 1 as its ``prelude`` hook.
A killed run resumed with ``--resume`` continues phase 2 from its checkpoint (the mask is kept beside it once phase 1
is done); a run killed in phase 1 starts phase 1 again (phase 1 writes no checkpoint: it evaluates only at its end).

The module is the **sparse difference**: ``sft.safetensors`` holds, per tensor with masked entries, ``<name>.idx``
(flat indices, int32 where the tensor has fewer than 2^31 entries) and ``<name>.val`` (float32), names relative to
the transformer body (``encoder.layer.0.attention.self.query.weight``), so a difference learned under one head (MLM)
applies under any other (classification, QA, tagging). 8 bytes per weight plus the header: K weights are stored in
about ``8 K`` bytes, not the dense model (``run.json`` ``sft.stored_bytes`` against ``sft.dense_bytes``). The head
is new per task and is stored densely (``head.safetensors``). Plain torch applies it: ``W.view(-1)[idx] += val``.

**Composition is addition of differences** (the paper's ``theta = theta_0 + phi_language + phi_task``):

- ``adapterx stack stsb xnli --method sft``: the intermediate's difference is added to the backbone, the target SFT
  trains on that (its phase 1 starts there, its mask ranks movement away from there, its reset goes back there), and
  the module holds both (``intermediates/<task>/``, recursively where an intermediate was itself stacked).
- Language SFTs (``adapterx train-language sw --text FILE --method sft``: MLM on target-language text) compose the
  same way (``stack ... --method sft --lang-adapters en=RUN,sw=RUN``): the task SFT trains with English's added, and
  each evaluation language gets its own added instead (English's where it has none), recomputed from the pretrained
  values at every entry a language touches -- the paper's recipe for low-resource languages.

Choices (the paper and its released training recipes where they say; ours where they do not):

- **K**: ``k`` weights, or ``density`` x the eligible count (default 1%) where ``k`` is not given. The released
  recipes for XLM-R/mBERT base use K = 7,667,712 for language SFTs and 14,155,776 for task SFTs (MAD-X's adapter
  sizes); pass ``--sft-k`` to match them. A ``k`` above the eligible count is refused before anything trains.
- **Eligible**: every weight of the transformer body except LayerNorm parameters (the released recipes freeze
  layer norms), embeddings included (the recipes do not freeze them; ``embeddings: false`` excludes word, position
  and type embeddings). The pooler counts where the task model has one (multiple choice). For language SFTs the MLM
  output matrix is untied from the word embeddings and frozen (the recipes freeze the decoder); the rest of the MLM
  head trains densely and is not kept (nothing downstream uses it).
- **Heads** train densely in both phases, are reset between them, are stored densely, and are not counted in K.
- **Phase lengths**: phase 1 = ``phase1`` x the run's steps (or epochs), phase 2 = the run's steps; one learning rate
  for both (the CLI's default for sft is full fine-tuning's: 2e-5 on real backbones, as the paper's task SFTs).
- **Left out**: the L1 regularisation towards the pretrained values (the released language-SFT recipe uses 0.1, the
  task recipes none) and iterated mask selection (the paper uses one iteration).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx.engine import distributed
from adapterx.errors import ConfigError, ModelError
from adapterx.methods.heads import auto_class, head_kwargs
from adapterx.methods.module import Module

DIFF_FILE = "sft.safetensors"
HEAD_FILE = "head.safetensors"
FORMAT = "adapterx-sft/1"
DELTA = "sft_delta"  # the parametrization's parameter: every trainable SFT tensor's name contains it


@dataclass
class SFTState:
    """What an LT-SFT module keeps beside its model (``Module.state``)."""

    k: int = 0  # weights in the difference
    eligible: int = 0  # weights LT-SFT may change on this backbone
    plain: Callable[[], Any] | None = None  # a fresh plain copy (W_0 and the head's initialisation): phase 1's model
    composition: Any = None  # the differences under it (_Composition): added, saved with it, switched per language
    untie: Callable[[Any], None] | None = None  # language SFTs: untie phase 1's MLM decoder from the embeddings
    frozen_head: tuple[str, ...] = ()  # head parameters that never train (a language SFT's MLM decoder)
    no_head: bool = False  # a language SFT: its MLM head is not kept
    trained: dict[str, tuple[Any, Any]] | None = None  # its own difference, once folded or loaded


# --------------------------------------------------------------------------- the parametrization


@functools.lru_cache(maxsize=1)
def _delta_class():  # noqa: ANN202 - torch is imported on first use, not with adapterx
    import torch
    from torch import nn

    class SparseDelta(nn.Module):
        """``W -> W + scatter(idx, sft_delta)``: the only trainable numbers of a tensor in phase 2."""

        def __init__(self, numel: int) -> None:
            super().__init__()
            self.numel = numel
            self.register_buffer("idx", torch.zeros(0, dtype=torch.long), persistent=False)
            self.sft_delta = nn.Parameter(torch.zeros(0))

        def set_mask(self, idx, values=None) -> None:  # noqa: ANN001
            self.idx = idx.to(self.idx.device, torch.long)
            vals = torch.zeros(len(idx)) if values is None else values.detach().float().clone()
            self.sft_delta = nn.Parameter(vals.to(self.sft_delta.device), requires_grad=len(idx) > 0)

        def forward(self, w):  # noqa: ANN001, ANN201
            if self.idx.numel() == 0:
                return w
            return w.reshape(-1).index_add(0, self.idx, self.sft_delta.to(w.dtype)).view_as(w)

    return SparseDelta


def body_prefix(model) -> str:  # noqa: ANN001
    """``roberta`` for XLM-R task models: body parameters are ``roberta.*``, the rest is the head."""
    return model.base_model_prefix


def eligible(model, spec) -> dict[str, Any]:  # noqa: ANN001
    """Body tensor name (relative to the body) -> its weight (W_0 where a SparseDelta is installed), for every
    weight LT-SFT may change: the body's parameters except LayerNorm's (and embeddings, where excluded)."""
    from torch import nn

    out: dict[str, Any] = {}
    for mod_name, mod in model.base_model.named_modules():
        if "parametrizations" in mod_name.split("."):
            continue
        if isinstance(mod, nn.LayerNorm) or (isinstance(mod, nn.Embedding) and not spec.embeddings):
            continue
        tensors = dict(mod.named_parameters(recurse=False))
        pz = getattr(mod, "parametrizations", None)
        if pz is not None:
            tensors.update({t: pz[t].original for t in pz})
        for t, p in tensors.items():
            out[f"{mod_name}.{t}" if mod_name else t] = p
    return out


def eligible_count(backbone, spec) -> int:  # noqa: ANN001
    """How many weights of ``backbone``'s body LT-SFT may change (counted on a weightless copy: no file is read;
    a multiple-choice model's pooler adds its own)."""
    import torch
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.from_pretrained(backbone.path)
    with torch.device("meta"):
        body = AutoModel.from_config(cfg, add_pooling_layer=False)
    holder = torch.nn.Module()
    holder.base_model = body
    return sum(p.numel() for p in eligible(holder, spec).values())


def resolve_k(spec, n_eligible: int) -> int:  # noqa: ANN001
    """K for a model with ``n_eligible`` eligible weights; a ``k`` above that is refused (before any training)."""
    if spec.k is not None:
        if spec.k > n_eligible:
            raise ConfigError(f"method.k (--sft-k) = {spec.k} is larger than the {n_eligible:,} weights of this backbone"
                              f" that LT-SFT may change (embeddings {'included' if spec.embeddings else 'excluded'}):"
                              f" use at most {n_eligible}, or --method full")
        return spec.k
    return max(1, round(spec.density * n_eligible))


def _install(model, spec) -> dict[str, Any]:  # noqa: ANN001
    """Put an empty SparseDelta on every eligible tensor of ``model``'s body; returns name -> SparseDelta."""
    from torch.nn.utils import parametrize

    cls = _delta_class()
    body = model.base_model
    deltas = {}
    for name, p in eligible(model, spec).items():
        mod_name, _, t_name = name.rpartition(".")
        mod = body.get_submodule(mod_name) if mod_name else body
        p.requires_grad_(False)
        d = cls(p.numel())
        parametrize.register_parametrization(mod, t_name, d)
        deltas[name] = d
    return deltas


def _deltas(model) -> dict[str, Any]:  # noqa: ANN001
    """name (relative to the body) -> SparseDelta of a model with the parametrizations installed."""
    body = model.base_model
    out = {}
    for mod_name, mod in body.named_modules():
        pz = getattr(mod, "parametrizations", None)
        if pz is None:
            continue
        for t_name in pz:
            out[f"{mod_name}.{t_name}" if mod_name else t_name] = pz[t_name][0]
    return out


def head_params(model) -> dict[str, Any]:  # noqa: ANN001
    """The task head's parameters: everything outside the body (``roberta.*``)."""
    prefix = body_prefix(model) + "."
    return {n: p for n, p in model.named_parameters() if not n.startswith(prefix)}


# --------------------------------------------------------------------------- differences (the module's content)


def read_diff(path: Path) -> dict[str, tuple[Any, Any]]:
    """``sft.safetensors`` -> {tensor name: (flat indices int64, values float32)}."""
    from safetensors.torch import load_file

    raw = load_file(str(path))
    out = {}
    for key in raw:
        if key.endswith(".idx"):
            name = key[: -len(".idx")]
            if name + ".val" not in raw:
                raise ModelError(f"{path}: {name}.idx without {name}.val; re-train or pull the module again")
            out[name] = (raw[key].long(), raw[name + ".val"])
    return out


def write_diff(path: Path, diff: dict[str, tuple[Any, Any]], meta: dict[str, Any]) -> int:
    """Write a sparse difference; returns the file's size in bytes."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name, (idx, val) in sorted(diff.items()):
        small = int(idx.max()) < 2**31 if idx.numel() else True
        tensors[name + ".idx"] = idx.to(torch.int32 if small else torch.int64).contiguous()
        tensors[name + ".val"] = val.detach().float().contiguous().cpu()
    save_file(tensors, str(path), metadata={"format": FORMAT, **{k: str(v) for k, v in meta.items()}})
    return path.stat().st_size


def apply_diff(model, diff: dict[str, tuple[Any, Any]], where: str, sign: float = 1.0) -> None:  # noqa: ANN001
    """Add a difference to ``model``'s body weights in place (W[idx] += val). A parameter the model lacks is an
    error (another backbone), except the pooler, which only some heads have."""
    import torch

    params = dict(model.base_model.named_parameters())
    with torch.no_grad():
        for name, (idx, val) in diff.items():
            p = params.get(name)
            if p is None:
                if name.startswith("pooler."):
                    continue
                raise ModelError(f"{where}: the difference names {name}, which this backbone does not have")
            if idx.numel() and (int(idx.max()) >= p.numel() or int(idx.min()) < 0):
                raise ModelError(f"{where}: indices of {name} beyond its {p.numel()} entries: another backbone?")
            p.view(-1).index_add_(0, idx.to(p.device), (sign * val).to(p.device, p.dtype))


# --------------------------------------------------------------------------- the two phases


def _task_model(backbone, task):  # noqa: ANN001, ANN202
    return auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))


def _phase1_cfg(cfg, spec):  # noqa: ANN001, ANN202
    """Phase 1's training config: ``phase1`` x the run's length, one dev evaluation (at its end)."""
    upd: dict[str, Any] = {"eval_steps": 10**9}
    if cfg.max_steps:
        upd["max_steps"] = max(1, math.ceil(spec.phase1 * cfg.max_steps))
    else:
        upd["epochs"] = spec.phase1 * cfg.epochs
    return cfg.model_copy(update=upd)


def select_mask(dense, sparse_model, spec, k: int) -> dict[str, Any]:  # noqa: ANN001
    """The K eligible entries that moved most in phase 1 (``dense``) away from where they started (``sparse_model``'s
    W_0), ranked over all eligible tensors together: {tensor name: sorted flat indices}."""
    import torch

    start, moved = eligible(sparse_model, spec), eligible(dense, spec)
    names = list(start)
    with torch.no_grad():
        flat = torch.cat([(moved[n].detach().float().cpu() - start[n].detach().float().cpu()).abs().reshape(-1)
                          for n in names])
        top = torch.topk(flat, k, sorted=False).indices.sort().values
        del flat
    ends = torch.tensor([start[n].numel() for n in names]).cumsum(0)
    which = torch.bucketize(top, ends, right=True)  # the tensor each selected entry belongs to
    out = {}
    for i, n in enumerate(names):
        sel = top[which == i] - (int(ends[i - 1]) if i else 0)
        if sel.numel():
            out[n] = sel
    return out


def make_prelude(module, spec, k: int):  # noqa: ANN001, ANN201
    """Phase 1, the mask and the reset, run by :func:`adapterx.engine.loop.train` before it trains ``module``
    (phase 2). A resumed run whose phase 1 finished finds the mask beside its checkpoint and goes on from there.
    Phase 1 evaluates once, at its end, so it writes no checkpoint of its own."""

    def prelude(run_train, cfg, checkpoint):  # noqa: ANN001, ANN202
        """``run_train(cfg, checkpoint)`` trains ``module`` as it then is; ``cfg`` is the run's (phase 2's)."""
        import torch
        from safetensors.torch import load_file, save_file

        sparse = module.model
        mask_file = checkpoint.with_name("sft-mask.safetensors") if checkpoint is not None else None
        if mask_file is not None and mask_file.is_file():  # a resumed run: phase 1 is done, its mask kept
            mask = {k_[: -len(".idx")]: v.long() for k_, v in load_file(str(mask_file)).items()}
            phase1_dev = json.loads((mask_file.with_suffix(".json")).read_text())
        else:
            head0 = {n: p.detach().clone() for n, p in head_params(sparse).items()}
            # A fresh plain copy (W_0: the backbone plus any composed differences; the head's initialisation).
            # Not deepcopy: parametrize's generated classes are shared by copies, and removing one copy's
            # parametrization would remove the other's.
            state: SFTState = module.state
            dense = state.plain()
            dense.load_state_dict(head0, strict=False)
            if state.untie:
                state.untie(dense)
            for p in dense.parameters():
                p.requires_grad_(False)
            for p in eligible(dense, spec).values():
                p.requires_grad_(True)
            for n, p in head_params(dense).items():
                p.requires_grad_(n not in state.frozen_head)
            module.model = dense
            try:
                res = run_train(_phase1_cfg(cfg, spec), None)
            finally:
                module.model = sparse
            phase1_dev = res.best_dev
            mask = select_mask(dense, sparse, spec, k)
            del dense
            # The lottery-ticket reset: the head back to its initialisation (the body was never changed).
            with torch.no_grad():
                for n, p in head_params(sparse).items():
                    p.copy_(head0[n])
            if mask_file is not None and distributed.is_main():
                mask_file.parent.mkdir(parents=True, exist_ok=True)
                save_file({n + ".idx": v for n, v in mask.items()}, str(mask_file))
                mask_file.with_suffix(".json").write_text(json.dumps(phase1_dev))
        deltas = _deltas(sparse)
        for n, d in deltas.items():
            d.set_mask(mask.get(n, torch.zeros(0, dtype=torch.long)))
        module.meta.setdefault("sft", {})["phase1_dev"] = phase1_dev

    return prelude


def _finish(module, spec):  # noqa: ANN001, ANN202
    """K checked against this model's eligible weights; only the head trainable until phase 1 has picked the mask."""
    n_eligible = sum(p.numel() for p in eligible(module.model, spec).values())
    k = resolve_k(spec, n_eligible)
    for n, p in module.model.named_parameters():
        if DELTA not in n:
            p.requires_grad_(False)
    for n, p in head_params(module.model).items():
        p.requires_grad_(n not in module.state.frozen_head)
    module.state.k, module.state.eligible = k, n_eligible
    module.meta["sft"] = {"k": k, "eligible": n_eligible}
    module.hooks.prelude = make_prelude(module, spec, k)
    module.hooks.fold = lambda: fold(module)
    return module


def build(backbone, task, spec, name: str):  # noqa: ANN201
    """A fresh LT-SFT module for ``task`` on the plain backbone."""
    return build_composed(backbone, task, spec, name, [], "sum", lang_adapters=[])


# --------------------------------------------------------------------------- composition: addition of differences


def chain_of(folder: Path) -> list[dict[str, tuple[Any, Any]]]:
    """The differences a saved SFT module adds to the backbone, in order: those of the intermediates it was trained
    on (recursively: ``intermediates/<task>/``), then its own."""
    folder = Path(folder)
    meta_file = folder / "adapterx_module.json"
    comp = (json.loads(meta_file.read_text()).get("composition") or {}) if meta_file.is_file() else {}
    chain: list[dict[str, tuple[Any, Any]]] = []
    for t in (comp.get("adapters") or [])[:-1]:
        chain += chain_of(folder / "intermediates" / t)
    chain.append(read_diff(folder / DIFF_FILE))
    return chain


class _Composition:
    """The differences under a target SFT: one language's (English's while training) and the intermediates'."""

    def __init__(self, backbone, task, intermediates, languages, mlm: bool = False) -> None:  # noqa: ANN001
        self.backbone, self.task, self.mlm = backbone, task, mlm
        self.inter_names = [t.replace("+", "_") for t, _ in intermediates]
        self.inter_folders = [(t.replace("+", "_"), Path(f)) for t, f in intermediates]
        self.chain = [d for _, f in self.inter_folders for d in chain_of(f)]
        self.lang_folders = {code: Path(f) for code, f in languages}
        self.langs = {code: read_diff(Path(f) / DIFF_FILE) for code, f in languages}
        self.base0: dict[str, tuple[Any, Any]] = {}  # pretrained values at every entry a language touches

    def plain(self):  # noqa: ANN201
        """The backbone with a fresh head, the differences added in their order: language (English), intermediates."""
        model = _mlm_model(self.backbone) if self.mlm else _task_model(self.backbone, self.task)
        if self.langs and not self.base0:
            self._capture(model)
        for diff in ([self.langs["en"]] if self.langs else []) + self.chain:
            apply_diff(model, diff, "composition")
        return model

    def _capture(self, model) -> None:  # noqa: ANN001
        import torch

        params = dict(model.base_model.named_parameters())
        names = sorted({n for d in self.langs.values() for n in d if n in params})
        for n in names:
            u = torch.unique(torch.cat([d[n][0] for d in self.langs.values() if n in d]))
            self.base0[n] = (u, params[n].detach().reshape(-1)[u].clone())

    def switcher(self, module):  # noqa: ANN001, ANN201
        """``switch(lang)``: the weights a language's own SFT gives (English's where it has none), recomputed from the
        pretrained values at every entry any language touches -- the same numbers whatever was active before."""
        import torch

        def switch(lang: str) -> bool:
            code = lang if lang in self.langs else "en"
            target = module.state.trained or trained_diff(module)
            params = dict(module.model.base_model.named_parameters())
            with torch.no_grad():
                for n, (u, vals) in self.base0.items():
                    out = vals.clone()
                    for diff in [self.langs[code], *self.chain, target]:
                        if n in diff:
                            idx, val = diff[n]
                            keep = torch.isin(idx, u)
                            out.index_add_(0, torch.searchsorted(u, idx[keep]), val[keep].to(out.dtype))
                    params[n].view(-1)[u.to(params[n].device)] = out.to(params[n].device)
            return lang in self.langs

        return switch


def build_composed(backbone, task, spec, name: str, intermediates: list[tuple[str, Path]],  # noqa: ANN001, ANN201
                   mode: str = "sum", with_target: bool = False, lang_adapters: list[tuple[str, Path]] | None = None):
    """A target SFT trained on the backbone plus the intermediates' differences (and English's language SFT, with
    ``lang_adapters``); only its K entries and the head train."""
    comp_state = _Composition(backbone, task, intermediates, lang_adapters or [])
    model = comp_state.plain()
    _install(model, spec)
    comp = None
    if intermediates or lang_adapters:
        comp = {"kind": "sum", "adapters": comp_state.inter_names + [name]}
        if lang_adapters:
            comp["languages"] = sorted(comp_state.langs)
    module = Module(model, spec, task, name, composition=comp,
                    state=SFTState(plain=comp_state.plain, composition=comp_state))
    if lang_adapters:
        module.hooks.switch_language = comp_state.switcher(module)
    return _finish(module, spec)


def fold(module) -> None:  # noqa: ANN001
    """Inference: add the trained difference into the weights (one plain model, no per-forward scatter)."""
    from torch.nn.utils import parametrize

    module.state.trained = trained_diff(module)
    for mod in list(module.model.modules()):
        pz = getattr(mod, "parametrizations", None)
        if pz is not None:
            for t_name in list(pz.keys()):
                parametrize.remove_parametrizations(mod, t_name, leave_parametrized=True)


def trained_diff(module) -> dict[str, tuple[Any, Any]]:  # noqa: ANN001
    """The module's own difference: {tensor name: (indices, values)} of its masked entries."""
    return {n: (d.idx.detach().cpu(), d.sft_delta.detach().cpu()) for n, d in _deltas(module.model).items()
            if d.idx.numel()}


def save(module, folder: Path) -> None:
    import shutil

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state: SFTState = module.state
    diff = state.trained or trained_diff(module)
    size = write_diff(folder / DIFF_FILE, diff, {"k": state.k, "eligible": state.eligible})
    head = {n: p.detach().contiguous().cpu() for n, p in head_params(module.model).items()
            if n not in state.frozen_head}
    if head and not state.no_head:
        save_file(head, str(folder / HEAD_FILE))
    comp_state = state.composition
    if comp_state is not None:  # the differences under it travel with the module (push, pull, reload)
        for t, src in comp_state.inter_folders:
            if not (folder / "intermediates" / t).exists():
                shutil.copytree(src, folder / "intermediates" / t)
        for code, src in comp_state.lang_folders.items():
            dst = folder / "languages" / code
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / DIFF_FILE, dst / DIFF_FILE)
    module.meta.setdefault("sft", {}).update(
        {"stored_bytes": size, "dense_bytes": 4 * state.eligible,
         "nonzero": sum(int((v != 0).sum()) for _, v in diff.values())})


def load(folder: Path, backbone, task, spec, name: str, comp: dict | None = None):  # noqa: ANN201
    from safetensors.torch import load_file

    folder = Path(folder)
    comp = comp or {}
    inters = [(t, folder / "intermediates" / t) for t in (comp.get("adapters") or [])[:-1]]
    langs = [(c, folder / "languages" / c) for c in comp.get("languages", [])]
    comp_state = _Composition(backbone, task, inters, langs)
    model = comp_state.plain()
    head = load_file(str(folder / HEAD_FILE)) if (folder / HEAD_FILE).is_file() else {}
    missing = set(head_params(model)) - set(head)
    if missing:
        raise ModelError(f"{folder / HEAD_FILE}: no {min(missing)}: a module of another task kind?")
    model.load_state_dict(head, strict=False)
    own = read_diff(folder / DIFF_FILE)
    apply_diff(model, own, str(folder))
    model.eval()
    module = Module(model, spec, task, name, composition=comp or None, state=SFTState(trained=own))
    if langs:
        module.hooks.switch_language = comp_state.switcher(module)
    return module


# --------------------------------------------------------------------------- language SFTs (MLM)


def _mlm_model(backbone):  # noqa: ANN001, ANN202
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(backbone.path)


def _untie_decoder(model) -> None:  # noqa: ANN001
    """The paper's language SFTs freeze the MLM output matrix: a frozen copy, untied from the word embeddings."""
    import torch

    dec = model.get_output_embeddings()
    dec.weight = torch.nn.Parameter(dec.weight.detach().clone(), requires_grad=False)


def build_language(backbone, spec, name: str):  # noqa: ANN001, ANN201
    """A language SFT: MLM on the backbone; the module is the body's difference (the MLM head is not kept)."""
    comp_state = _Composition(backbone, None, [], [], mlm=True)
    model = comp_state.plain()
    _install(model, spec)  # the word embeddings' original stays tied to the decoder: frozen, as the paper's
    state = SFTState(plain=comp_state.plain, untie=_untie_decoder, frozen_head=("lm_head.decoder.weight",), no_head=True)
    return _finish(Module(model, spec, None, name, state=state), spec)
