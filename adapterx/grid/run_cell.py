"""``run_cell``: one grid cell of a recipe through the same library calls as the single commands.

The cell dict is documented in :mod:`adapterx.grid.recipe`. A cell with intermediate tasks trains (or reuses, by its
``intermediate_key``) each intermediate module, then the target through :func:`adapterx.workflows.stack.stack_run`; a cell
without one is ``train-target``; a retrieval target evaluates the encoder the intermediate module leaves.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from adapterx.data.sources import DataOptions, changed_files, data_files
from adapterx.errors import ConfigError
from adapterx.fsio import exclusive_lock, lock_path
from adapterx.engine.loop import TrainConfig
from adapterx.grid.recipe import RETRIEVAL_OPTIONS
from adapterx.methods.compose import continue_mode, trains_in_sequence
from adapterx.methods.spec import parse_method
from adapterx.engine import distributed
from adapterx.tasks import get_task
from adapterx.workflows.stack import StackRequest, stack_run
from adapterx.workflows.stack import chain_start, module_ref
from adapterx.workflows.train import TrainRequest, train_run

def method_spec(method: dict[str, Any]):  # noqa: ANN201
    """The cell's method dict (``{"name", "config": <the spec's own keys>}``) as the method spec it was expanded from."""
    return parse_method({"name": method["name"], **(method.get("config") or {})}, where="method")


def train_config(stage: dict[str, Any], seed: int) -> TrainConfig:
    """A stage of the cell (every TrainConfig key but seed and device, see grid.recipe) as the TrainConfig it is."""
    return TrainConfig(seed=seed, **stage)


def data_options(cell: dict[str, Any], task: str | None = None) -> DataOptions:
    """The cell's data source, example caps and evaluation split (eval.split) as the commands' DataOptions.

    ``task``: an intermediate task of the cell, whose own caps (``data.intermediate_caps``, from the recipe's
    ``data.per_task``) apply where the recipe sets them; otherwise the cell's caps (its target's)."""
    data = cell.get("data") or {}
    source, root = data.get("source", "auto"), data.get("root")
    own = (data.get("intermediate_caps") or {}).get(task) if task else None
    capped = own if own is not None else data
    caps = {"max_train_examples": capped.get("max_train_examples"), "max_eval_examples": capped.get("max_eval_examples"),
            "eval_split": (cell.get("eval") or {}).get("split")}
    if source == "synthetic":
        return DataOptions(data="synthetic", **caps)
    if source == "hf":
        return DataOptions(data="hf", **caps)
    if source == "xtreme":
        if not root:
            raise ConfigError("data.root: the XTREME download folder is needed with data.source: xtreme")
        return DataOptions(data=str(root), data_dir=Path(root), **caps)
    return DataOptions(data_dir=Path(root) if root else None, **caps)


def run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Run one cell; returns ``{eval, per_example, metric_kind, trainable_params, train_time_s, run_dir}``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    target = get_task(cell["target"])
    spec = method_spec(cell["method"])
    seed = int(cell["seed"])
    opts = data_options(cell)
    ev = cell.get("eval") or {}
    # eval.languages: "evaluate only these (those the task has)".
    wanted = [lang for lang in ev.get("languages") or [] if lang in target.languages]
    langs = ",".join(wanted) if wanted else "all"
    threshold = int(ev.get("low_resource_threshold", 2))
    inters = list(cell.get("intermediate") or [])
    inter_cfgs = cell.get("training", {}).get("intermediate") or []
    modules: dict[str, str] = {}
    inter_time = 0.0
    inter_params = 0
    inter_files: dict[str, str] = {}  # {path: sha256} the intermediates read (the target's are in its run.json)
    if inters:
        cache = out_dir.parents[1] / "intermediates" / str(cell.get("intermediate_key") or "none")
        distributed.setup()  # no-op outside a launch; inside, rank 0 decides what exists (below)
        for i, name in enumerate(inters):
            folder = cache / name
            if distributed.is_main() and folder.is_dir() and _data_changed(folder):
                shutil.rmtree(folder)  # trained on data that has changed since: train it again
            # Another worker may be training this shared module right now (it holds the folder's output lock): wait
            # for it, then reuse what it committed instead of being refused as a second writer.
            _wait_for_writer(folder)
            # Another worker may commit this shared module at any moment: the ranks of one launch must not see it
            # differently, so rank 0's view is everyone's.
            if not distributed.broadcast_object(folder.exists()):
                cfg = train_config(inter_cfgs[i] if i < len(inter_cfgs) else {}, seed)
                # resume: a killed worker's checkpoint of this shared module is continued (its settings are checked
                # against this cell's), never silently restarted.
                req = TrainRequest(task=name, method=spec, model=cell["backbone"], data=data_options(cell, name),
                                   train=cfg, output=folder,
                                   evaluate=False, command="run (intermediate)", resume=True)
                # Chain methods train the tasks in order, each stage from the one before (adapters and LoRA train
                # each intermediate module on the frozen base; the target stage composes them).
                start = None
                if trains_in_sequence(spec.name) and i > 0:
                    start = chain_start(module_ref(str(cache / inters[i - 1]), inters[i - 1]), inters[:i], spec)
                try:
                    train_run(req, prepare=start)
                except ConfigError:
                    # another worker took the lock between our wait and our start: wait for it to commit
                    if not folder.exists() and lock_path(folder).exists():
                        _wait_for_writer(folder)
                    if not folder.exists():  # a concurrent worker did not finish it either
                        raise
            inter_run = json.loads((folder / "run.json").read_text())
            inter_files.update(data_files(inter_run.get("data_reads") or []))
            inter_time += inter_run["wall_time_s"]
            inter_params += inter_run["params"]["trainable"]
            modules[name] = str(folder)
    if target.kind == "retrieval":
        if not distributed.is_main():  # retrieval only evaluates: rank 0 does it alone
            return {}
        return _retrieval_cell(cell, target, modules, out_dir, langs, threshold, inter_time, t0)
    tcfg = train_config(cell.get("training", {}).get("target") or {}, seed)
    treq = TrainRequest(task=target.name, method=spec, model=cell["backbone"], data=opts, train=tcfg, output=out_dir / "run",
                        langs=langs, evaluate=True, low_threshold=threshold, command="run",
                        save_predictions=out_dir / "predictions" if ev.get("save_predictions") else None,
                        report_to=cell.get("report_to"))
    if inters:
        transfer = cell["method"].get("transfer", "continue")
        mode = continue_mode(spec.name) if transfer == "continue" else transfer
        outcome = stack_run(StackRequest(intermediates=tuple(inters), target=treq, modules=modules,
                                         lora_mode=None if mode in (continue_mode(spec.name), "fuse") else mode,
                                         fuse=mode == "fuse",
                                         with_target_adapter=mode == "fuse"))
    else:
        outcome = train_run(treq)
    report = outcome.report
    if not distributed.is_main():  # rank 0 evaluated and returns the cell's result
        return {}
    return {
        "eval": report.to_json(threshold),
        "per_example": report.per_example(),
        "metric_kind": target.metric_kind,
        # Distinct parameters trained over all stages: full fine-tuning trains the same weights twice (count once);
        # adapters and LoRA train a new module per stage (add them up).
        "trainable_params": outcome.run["params"]["trainable"] + (0 if trains_in_sequence(spec.name) else inter_params),
        "train_time_s": round(inter_time + outcome.run["wall_time_s"], 3),
        "run_dir": str(outcome.output),
        "data_files": inter_files,
    }


def _data_changed(run: Path) -> bool:
    """Whether a local file that run ``run`` read (its run.json's data_reads) has changed since."""
    try:
        reads = json.loads((run / "run.json").read_text(encoding="utf-8")).get("data_reads") or []
    except (OSError, ValueError):
        return False
    return bool(changed_files(data_files(reads)))


def _retrieval_cell(cell, target, modules, out_dir, langs, threshold, inter_time, t0):  # noqa: ANN001, ANN202
    from adapterx.retrieval.run import retrieve

    module = next(iter(modules.values()), "none")
    opts = (cell.get("task_options") or {}).get(target.name, {})
    data = cell.get("data") or {}
    kwargs: dict[str, Any] = {"model": cell["backbone"], "langs": langs}
    if data.get("source") == "synthetic":
        kwargs["data"] = "synthetic"
    elif data.get("root"):
        kwargs["data_dir"] = Path(data["root"])
    kwargs.update({k: v for k, v in opts.items() if k in RETRIEVAL_OPTIONS})  # the recipe checked the keys
    res = retrieve(target.name, module, **kwargs)
    js = res.to_json() if hasattr(res, "to_json") else res
    per_example = getattr(res, "per_example", lambda: {})()
    return {"eval": js, "per_example": per_example, "metric_kind": "mean", "trainable_params": 0,
            "train_time_s": round(inter_time, 3), "run_dir": str(out_dir)}


def _wait_for_writer(folder: Path, timeout_s: float = 24 * 3600.0) -> None:
    """Block while another process holds ``folder``'s output lock (a cell training the shared intermediate module
    this cell needs); returns at once when nobody does."""
    with exclusive_lock(lock_path(folder), timeout=timeout_s):
        pass
