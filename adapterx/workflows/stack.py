"""``adapterx stack`` and ``adapterx fuse``: a target module trained on top of frozen intermediate modules, then
evaluated zero-shot exactly as ``adapterx eval`` does.

Everything that can be checked is checked before anything trains: names, methods, the composition table
(:mod:`adapterx.methods.compose`), backbone compatibility, the target's English training data. Intermediate modules that
the user did not give are trained first, with the same backbone and method.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapterx.methods.compose import (
    Fuse,
    ModuleRef,
    Stack,
    language_module_method,
    mode_for,
    takes_language_modules,
    trains_in_sequence,
    validate,
)
from adapterx.errors import ConfigError
from adapterx.methods.catalog import who_can
from adapterx.data.sources import with_model_defaults
from adapterx.engine.loop import RESUME_FREE, Progress, identity_diff
from adapterx.engine.rundir import check_checkpoint, default_output
from adapterx.hub.resolve import hub_source, resolve_module_ref
from adapterx.tasks import check_trainable
from adapterx.methods import build_composed, for_backbone
from adapterx.workflows.train import RunOutcome, TrainRequest, train_run
from adapterx import backbone as bbmod
from adapterx.data.sources import load_split
from adapterx.engine.rundir import module_folder, tree_sha256
from adapterx.methods import read_meta
from adapterx.methods import verify_module_folder
from adapterx.tasks import get_task
from adapterx.engine.rundir import read_run


@dataclass(frozen=True)
class StackRequest:
    intermediates: tuple[str, ...]  # task names, or module references (run dir, module folder, hub id)
    target: TrainRequest  # the target task's training request (task, method, backbone, data, output, langs...)
    modules: dict[str, str] = field(default_factory=dict)  # task -> module reference (--module TASK=REF)
    lora_mode: str | None = None
    fuse: bool = False
    with_target_adapter: bool = False
    intermediate_train: Any = None  # TrainConfig for intermediates trained here (default: the target's)
    lang_adapters: dict[str, str] = field(default_factory=dict)  # MAD-X: language code -> language adapter ref
    allow_backbone_mismatch: bool = False  # modules trained on other weights of the same shape (recorded in run.json)


def _is_reference(arg: str) -> bool:
    return Path(arg).expanduser().exists() or arg.startswith("hf:") or "/" in arg


def module_ref(arg: str, task_hint: str | None) -> ModuleRef:
    path, run = resolve_module_ref(arg)
    assert path is not None
    folder = module_folder(path)
    verify_module_folder(folder)
    meta_method = (run.get("method") or {}).get("name")
    if meta_method is None:
        meta_method = read_meta(folder)["method"]["name"]
    task = run.get("task") or task_hint
    if task is None:
        task = read_meta(folder)["task"]
    return ModuleRef(task=task, path=str(folder), sha256=tree_sha256(folder), method=meta_method,
                     backbone=run.get("backbone") or {}, chain=tuple(run.get("chain") or ()))


def _intermediate_output(tgt: TrainRequest, mode: str, task: str) -> Path:
    """Where ``stack`` trains (and on a rerun finds) an intermediate it was not given: beside the target's output."""
    base = tgt.output or Path("runs") / f"{tgt.task}-{mode}"
    return base.parent / f"{tgt.output.name if tgt.output else tgt.task}.intermediate-{task}"


def _check_leftover(out: Path, ref: ModuleRef, expected: list[str]) -> None:
    """An intermediate found beside --output (an earlier invocation's) is reused only if it holds ``expected``."""
    if ref.chain and list(ref.chain) != expected:
        raise ConfigError(f"{out} was left by an earlier run and holds {' -> '.join(ref.chain)}, not"
                          f" {' -> '.join(expected)}: remove it, or choose another --output")


def _check_leftover_settings(out: Path, cfg: Any, spec: Any) -> None:
    """A leftover intermediate is reused only if it was trained as this command would train it: same method and
    hyperparameters (its run.json says), else the stack would silently rest on a module of other settings."""
    run = read_run(out)
    if not run.get("hyperparameters"):
        return  # not written by an adapterx training command: nothing recorded to compare
    stored = {"method": run.get("method"),
              **{k: v for k, v in run["hyperparameters"].items() if k not in RESUME_FREE}}
    given = {"method": spec.model_dump(mode="json"),
             **{k: v for k, v in cfg.model_dump(mode="json").items() if k not in RESUME_FREE}}
    differ = identity_diff(stored, given)
    if differ:
        raise ConfigError(f"{out} was left by an earlier run with {differ[0]}; this command would train it with"
                          f" {differ[1]}: remove it to train it again, or give the earlier settings")


def chain_start(prev: ModuleRef, chain: list[str], spec: Any):  # noqa: ANN202
    """``prepare`` for a ``chain`` stage that continues from ``prev`` (the chain trained so far)."""

    def prepare(backbone, task, seed: int):  # noqa: ANN001, ANN202
        module = build_composed(spec, backbone, task, [(prev.task, Path(prev.path))], "chain", seed)
        return module, {"chain": chain, "composition": {"kind": "chain", "modules": [
            {"task": prev.task, "run": prev.path, "sha256": prev.sha256}]}}

    return prepare


def stack_run(req: StackRequest, progress: Progress | None = None) -> RunOutcome:
    """Resolve or train the intermediates, build the composition, train the target on it, evaluate zero-shot."""
    tgt = req.target
    method = tgt.method.name
    target_task = get_task(tgt.task)
    check_trainable(target_task, target=tgt.evaluate is not False)  # before any intermediate trains for it
    mode = "fuse" if req.fuse else mode_for(method, req.lora_mode, tgt.method)
    # 1. What is given, what must be trained.
    given: list[ModuleRef | None] = []
    names: list[str] = []
    for arg in req.intermediates:
        if _is_reference(arg):
            ref = module_ref(arg, None)
            given.append(ref)
            names.append(ref.task)
        else:
            get_task(arg)
            names.append(arg)
            ref = module_ref(req.modules[arg], arg) if arg in req.modules else None
            if ref is not None and arg not in ref.task.split("+"):  # a multi-task module holds "stsb+mnli"
                chain = f" (chain {' -> '.join(ref.chain)})" if len(ref.chain) > 1 else ""
                instead = ("" if ref.task == tgt.task else f", or name the module in the task list instead"
                                                            f" (`adapterx stack {req.modules[arg]} {tgt.task}`)")
                raise ConfigError(f"--module {arg}={req.modules[arg]}: that module was trained on {ref.task}{chain},"
                                  f" not {arg}: give a {arg} module{instead}")
            given.append(ref)
    unknown = set(req.modules) - set(names)
    if unknown:
        raise ConfigError(f"--module {sorted(unknown)[0]}=...: that task is not among the intermediates {', '.join(names)}")
    if target_task.name in names:
        raise ConfigError(f"{target_task.name} is both an intermediate and the target task")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{twice[0]} is named twice among the intermediates ({', '.join(names)}): give each task once")
    # 2. The composition table and the modules' methods, before anything trains (placeholders for missing ones).
    placeholders = tuple(g or ModuleRef(n, "", "", method) for g, n in zip(given, names))
    comp = (Fuse(placeholders, tgt.task, req.with_target_adapter) if req.fuse else Stack(placeholders, tgt.task, mode))
    validate(comp, method, tgt.method)
    if req.lang_adapters and not takes_language_modules(method):
        raise ConfigError(f"--lang-adapters are language modules (MAD-X adapters, language SFTs): they compose with "
                          f"--method {' / '.join(who_can('language-module'))}, not {method}")
    if req.lang_adapters and "en" not in req.lang_adapters:
        raise ConfigError("--lang-adapters needs en=PATH: the English language adapter sits under the target during training")
    langs = {code: module_ref(ref, f"mlm-{code}") for code, ref in req.lang_adapters.items()}
    for code, ref in langs.items():
        if ref.task != "mlm":
            raise ConfigError(f"--lang-adapters {code}={ref.path}: a {ref.task} module, not a language adapter "
                              "(train one with `adapterx train-language`)")
        if ref.method != language_module_method(method):
            want = language_module_method(method)
            raise ConfigError(f"--lang-adapters {code}={ref.path} was trained with --method {ref.method}; this stack uses"
                              f" --method {method}, whose language modules are {want}: train it with"
                              f" `adapterx train-language {code} --method {want}`")
    bb = bbmod.resolve(tgt.model, tgt.revision)
    # The architecture must serve the method and the composition: refused here, before any intermediate trains.
    tgt = replace(tgt, method=for_backbone(tgt.method, bb, target_task, mode))
    mismatches: list[str] = []  # modules of other backbone weights, allowed by the user: recorded in run.json

    def check_backbone(g: ModuleRef) -> None:
        if g.backbone:
            note = bbmod.check_compatible(bb, g.backbone, f"module {g.task} ({g.path})", req.allow_backbone_mismatch)
            if note:
                mismatches.append(note)

    for g in [*given, *langs.values()]:
        if g is not None:
            check_backbone(g)
    # Full fine-tuning is one model trained on the chain in order (X-STILTs: STS-B, then SIQA, then COPA): each
    # intermediate starts from the one before, the target from the last. A given last module already holds the
    # earlier tasks, which its run.json chain must show; the earlier ones are then not needed.
    sequential = trains_in_sequence(method) and len(names) > 1
    if sequential and given[-1] is not None:
        recorded = list(given[-1].chain)
        if recorded and recorded != names:
            raise ConfigError(f"full fine-tuning trains the intermediates in sequence: {given[-1].path} was trained on"
                              f" {' -> '.join(recorded)}, not {' -> '.join(names)}; give the chain it was trained on")
        given = [None] * (len(given) - 1) + [given[-1]]
    # 3. The target's English training data must exist before intermediates are trained for it (train_run checks it
    # again, before the target trains, so with every intermediate given there is nothing to check here).
    if any(g is None for g in given):
        load_split(target_task, "train", "en", with_model_defaults(tgt.data, tgt.model, target_task))
    # 4. Train the missing intermediates with the same backbone and method -- after checking that the target's
    # output can be written, so an existing --output fails before any intermediate trains.
    if tgt.output is None:  # a unique default (timestamped, with the mode): `fuse` after `stack` shares no folder
        tgt = replace(tgt, output=default_output(tgt.task, f"{mode}-{tgt.method.name}"))
    if tgt.output is not None and Path(tgt.output).exists():
        raise ConfigError(f"--output {tgt.output} already exists: choose another folder or remove it")
    if tgt.output is not None:
        check_checkpoint(Path(tgt.output), tgt.resume)
    if sequential and not any(given):  # leftovers of another chain are refused before anything trains
        for k, n in enumerate(names):
            out = _intermediate_output(tgt, mode, n)
            if out.exists():
                _check_leftover(out, module_ref(str(out), n), names[: k + 1])
                _check_leftover_settings(out, req.intermediate_train or tgt.train, tgt.method)
    refs: list[ModuleRef] = []
    for k, (g, n) in enumerate(zip(given, names)):
        if sequential and given[-1] is not None and k < len(names) - 1:
            continue  # inside the given last module
        if g is None:
            out = _intermediate_output(tgt, mode, n)
            # Full fine-tuning: the chain this stage continues (the previous stage holds it); otherwise none.
            so_far = (list(refs[-1].chain) or [r.task for r in refs]) if sequential and refs else []
            if out.exists():
                g = module_ref(str(out), n)  # trained by an earlier invocation: reuse it, if it is what this needs
                _check_leftover(out, g, [*so_far, n])
                _check_leftover_settings(out, req.intermediate_train or tgt.train, tgt.method)
                check_backbone(g)
            else:
                if progress:
                    progress({"phase": "intermediate", "task": n})
                cfg = req.intermediate_train or tgt.train
                sub = TrainRequest(task=n, method=tgt.method, model=tgt.model, revision=tgt.revision,
                                   data=replace(tgt.data, train_file=None, dev_file=None, eval_files=(), data_dir=None),
                                   train=cfg, output=out, evaluate=False, command="stack (intermediate)",
                                   resume=tgt.resume)
                # Full fine-tuning: this stage starts from the previous stage's model.
                start = chain_start(refs[-1], so_far, tgt.method) if so_far else None
                train_run(sub, progress=progress, prepare=start)
                g = module_ref(str(out), n)
        refs.append(g)
    comp = (Fuse(tuple(refs), tgt.task, req.with_target_adapter) if req.fuse else Stack(tuple(refs), tgt.task, mode))
    validate(comp, method, tgt.method)
    record = {
        "chain": list(refs[-1].chain[:-1]) + [refs[-1].task] if sequential else [r.task for r in refs],
        "composition": {"kind": mode, "modules": [{"task": r.task, "run": r.path, "sha256": r.sha256,
                                                    **hub_source(Path(r.path))} for r in refs]},
    }
    if mismatches:
        record["composition"]["backbone_mismatch"] = mismatches
    if langs:
        record["composition"]["language_adapters"] = {c: {"run": r.path, "sha256": r.sha256} for c, r in langs.items()}

    def prepare(backbone, task, seed: int):  # noqa: ANN001, ANN202
        # Through the methods layer, whatever the method: the backend builds what `mode` names (the full
        # fine-tuning chain starts from the last stage, which holds all).
        module = build_composed(tgt.method, backbone, task, [(r.task, Path(r.path)) for r in refs], mode, seed,
                                with_target=req.with_target_adapter,
                                lang_adapters=[(c, Path(r.path)) for c, r in langs.items()])
        return module, record

    command = ("fuse" if req.fuse else "stack") if tgt.command == "train" else tgt.command
    return train_run(replace(tgt, command=command, evaluate=True if tgt.evaluate is None else tgt.evaluate), progress, prepare)
