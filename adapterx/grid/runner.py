"""Run a recipe's cells, skipping those already done, in this process, in local processes or on slurm.

The training itself is ``adapterx.grid.run_cell.run_cell(cell, out_dir) -> dict`` (the cell dict is documented in
:mod:`adapterx.grid.recipe`). It must return::

    {"eval": <eval JSON of the target, docs/internals.md>,    # {"task", "metric", "scores": {lang: {metric: v}}, ...}
     "per_example": {lang: [records]},                         # additive sufficient statistics, one record per example
     "metric_kind": "mean" | "f1" | "correlation",
     "trainable_params": int,                                  # distinct parameters trained across all stages
     "train_time_s": float,                                    # training wall time of all stages (a reused cached
                                                               # intermediate module counts its original time)
     "run_dir": str}                                           # where the cell's run.json / module landed

QA targets are scored (EM + F1) / 2 (XTREME-R): where a language's scores hold EM and F1, the stored score is their
mean, and the per-example ``score`` records must be each example's (EM + F1) / 2 so the bootstrap matches it.

The function is injectable (``cell_fn``: a callable or ``"module:function"``) so tests and demos run grids without
training. Run folder::

    RUN/recipe.yaml           the resolved recipe of the latest invocation (runs.jsonl lists every invocation)
    RUN/results.sqlite        the results store (adapterx.results.store)
    RUN/cells/<hash>/         cell.json, result.json, error.txt on failure, record.json.gz, and run_cell's own output
    RUN/intermediates/<key>/  free for run_cell to cache intermediate modules by the cell's intermediate_key
    RUN/submitit/             logs of the local / slurm executors (adapterx.grid.executors); slurm_jobs.json: cell -> job id
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from adapterx.data.sources import changed_files
from adapterx.errors import ConfigError
from adapterx.grid.cell_function import CellFn, resolve_cell_fn
from adapterx.grid.executors import collect_slurm, require_submitit, run_local, run_slurm
from adapterx.grid.execute_cell import CellOutcome, RunSummary, cell_label, execute_cell
from adapterx.grid.recipe import Recipe, cell_hash, expand, recipe_to_yaml, stage_data
from adapterx.grid.recipe_check import check_recipe
from adapterx.grid.slurm import check_reachable
from adapterx.results.store import RECORD_NAME, ResultsStore
from adapterx.tasks import get_task
from adapterx.engine.tracking import check
from adapterx.fsio import atomic_write_text

Executor = Literal["inline", "local", "slurm"]


def check_report_to(name: str | None) -> None:
    """Fail early, before hours of training, when the chosen experiment tracker is not installed."""
    check(name)


def _require_accelerate() -> None:
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError("processes_per_cell > 1 trains under accelerate launch: pip install accelerate")


# --------------------------------------------------------------------------------------------------------------
# Plans and cost


# Seconds per optimizer step at batch 8 x 128 tokens on the 2-core CPU of shared/design/library-notes.md
# (XLM-R base size); "peft" covers adapters and LoRA. Large is ~3.5x base, the tiny test model ~1/100.
_S_PER_STEP = {"full": 3.9, "peft": 1.6}
# MiniLM-L6 (6 x 384, ~11M body weights against base's 85M): ~1/8 of base's matmul work per token.
_SIZE_SCALE = {"tiny": 0.01, "minilm": 0.125, "base": 1.0, "large": 3.5}
_GPU_SPEEDUP = 40.0  # a single modern GPU against that CPU, as an order of magnitude


def _size_of(backbone: str) -> str:
    name = backbone.lower()
    if "minilm" in name:
        return "minilm"
    return "tiny" if "tiny" in name else "large" if "large" in name else "base"


def _stage_cost(task: str, cfg: dict[str, Any], data: dict[str, Any], backbone: str, method: str) -> tuple[int, float]:
    size = get_task(task).train_size  # the task record's English training examples
    if data.get("max_train_examples"):
        size = min(size, int(data["max_train_examples"]))
    if data.get("source") == "synthetic" and not data.get("max_train_examples"):
        size = min(size, 2_000)
    if size == 0:
        return 0, 0.0
    per_step = cfg["batch_size"] * cfg["grad_accum"]
    steps = int(cfg["max_steps"]) if cfg.get("max_steps") else math.ceil(cfg["epochs"] * size / per_step)
    seconds = steps * _S_PER_STEP["full" if method == "full" else "peft"] * _SIZE_SCALE[_size_of(backbone)]
    return steps, seconds * per_step * cfg["max_length"] / (8 * 128)


def estimate_cost(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Optimizer steps and rough hours of the given cells; intermediates shared by ``intermediate_key`` count once."""
    steps = 0
    cpu_s = 0.0
    seen: set[str] = set()
    for cell in cells:
        be, mname, data = cell["backbone"], cell["method"]["name"], cell["data"]
        if cell["intermediate"] and cell["intermediate_key"] not in seen:
            seen.add(cell["intermediate_key"])
            for task, cfg in zip(cell["intermediate"], cell["training"]["intermediate"]):
                s, t = _stage_cost(task, cfg, stage_data(cell, task), be, mname)
                steps, cpu_s = steps + s, cpu_s + t
        s, t = _stage_cost(cell["target"], cell["training"]["target"], data, be, mname)
        steps, cpu_s = steps + s, cpu_s + t
    return {
        "optimizer_steps": steps, "intermediate_trainings": len(seen),
        "cpu_seconds": round(cpu_s, 1), "gpu_seconds": round(cpu_s / _GPU_SPEEDUP, 1),
        "cpu_hours": round(cpu_s / 3600, 2), "gpu_hours": round(cpu_s / _GPU_SPEEDUP / 3600, 2),
        "assumptions": "training only (evaluation not counted); 2-core CPU speeds of library-notes.md scaled by batch"
                       f" x length; GPU = CPU / {_GPU_SPEEDUP:g}; English train sizes from the task records (TaskSpec.train_size); intermediate"
                       " modules trained once per intermediate_key and reused across targets",
    }


@dataclass
class Plan:
    recipe: Recipe
    run_dir: Path
    cells: list[dict[str, Any]]
    hashes: list[str]
    done: set[str]
    # recorded cells whose local data files changed since (hash -> the changed paths): they run again
    stale: dict[str, list[str]] = field(default_factory=dict)
    unchecked: int = 0  # recorded cells of this grid that hold no data fingerprints (an older adapterx wrote them)

    @property
    def n_done(self) -> int:
        """Cells of this grid already recorded (the store may hold others, from an earlier, larger grid)."""
        return sum(h in self.done for h in self.hashes)

    @property
    def todo(self) -> list[dict[str, Any]]:
        return [c for c, h in zip(self.cells, self.hashes) if h not in self.done]

    def to_json(self) -> dict[str, Any]:
        todo = self.todo
        return {
            "recipe": self.recipe.name, "run_dir": str(self.run_dir), "n_cells": len(self.cells),
            "n_done": self.n_done, "n_todo": len(todo), "stale": self.stale, "unchecked": self.unchecked,
            "estimate": estimate_cost(todo), "estimate_all": estimate_cost(self.cells),
            "cells": [{"hash": h, "label": cell_label(c), "done": h in self.done}
                      for c, h in zip(self.cells, self.hashes)],
        }


def make_plan(recipe: Recipe, run_dir: str | Path, check: bool = True) -> Plan:
    """Expand the grid and mark the cells already recorded in ``run_dir`` (read only: a dry run writes nothing).
    ``check``: first resolve what every cell needs (:func:`adapterx.grid.recipe_check.check_recipe`), so a dry run
    fails on what a cell would fail on at its start."""
    run_dir = Path(run_dir)
    cells = expand(recipe)
    if check:
        check_recipe(recipe, cells)
    done: set[str] = set()
    stale: dict[str, list[str]] = {}
    unchecked = 0
    hashes = [cell_hash(c) for c in cells]
    db = run_dir / "results.sqlite"
    if db.exists():  # a folder in its place is refused by the store, as a damaged file is
        store = ResultsStore(db)
        store.ingest_records(run_dir)
        done = store.done_hashes()
        mine, seen = set(hashes), {}  # seen: each file is hashed once per plan
        for h, _spec, prov, _run in store.cell_provenance():
            if h not in mine:
                continue
            if "data_files" not in prov:
                unchecked += 1
                continue
            changed = changed_files(prov["data_files"], seen)
            if changed:
                stale[h] = changed
        done -= set(stale)
    return Plan(recipe, run_dir, cells, hashes, done, stale, unchecked)


# --------------------------------------------------------------------------------------------------------------
# Running a grid


def run_recipe(recipe: Recipe, run_dir: str | Path, *, executor: Executor | None = None,
               cell_fn: str | CellFn | None = None, max_parallel: int | None = None, fail_fast: bool = False,
               wait: bool = True, on_event: Callable[[CellOutcome], None] | None = None) -> RunSummary:
    """Run every cell of ``recipe`` not yet recorded in ``run_dir``; returns what happened to each."""
    run_dir = Path(run_dir)
    executor = executor or recipe.execution.executor
    check_report_to(recipe.report_to)
    if executor != "inline":
        require_submitit()
    if executor == "slurm":
        check_reachable()
    resolve_cell_fn(cell_fn)  # fail before the grid, not once per cell, when the training code is missing
    check_recipe(recipe)  # everything a cell needs at its start, before the run folder exists
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--run-dir {run_dir}: cannot write there ({exc.strerror}); choose a writable folder") from None
    store = ResultsStore.for_run(run_dir)
    collect_slurm(run_dir, store)  # what an earlier --no-wait submission has finished since
    plan = make_plan(recipe, run_dir, check=False)
    atomic_write_text(run_dir / "recipe.yaml", recipe_to_yaml(recipe))
    with (run_dir / "runs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "recipe": recipe.name,
                             "executor": executor, "n_cells": len(plan.cells), "n_todo": len(plan.todo),
                             "command": _command_line()}) + "\n")
    for h in plan.stale:  # its data changed: the old result goes, the cell runs again
        store.forget_cell(h)
        (run_dir / "cells" / h / RECORD_NAME).unlink(missing_ok=True)
    summary = RunSummary(run_dir, len(plan.cells), plan.n_done)
    emit = on_event or (lambda _o: None)
    todo = plan.todo
    if not todo:
        return summary
    processes = recipe.execution.processes(executor)
    if processes > 1:
        _require_accelerate()
    if executor == "inline":
        for cell in todo:
            outcome = execute_cell(cell, run_dir, cell_fn, executor="inline", processes=processes)
            summary.outcomes.append(outcome)
            emit(outcome)
            if fail_fast and outcome.status == "failed":
                break
    elif executor == "local":
        run_local(recipe, run_dir, todo, cell_fn, max_parallel, fail_fast, summary, emit, processes)
    elif executor == "slurm":
        run_slurm(recipe, run_dir, store, todo, cell_fn, max_parallel, wait, summary, emit, processes)
    else:
        raise ConfigError(f"--executor {executor!r}: choose inline, local or slurm")
    return summary


def _command_line() -> str:
    """How this process was started, for the run's provenance (``adapterx run ...`` from the CLI)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("adapterx", "__main__.py"):
        argv[0] = "adapterx"
    return shlex.join(argv)


def resolve_run_dir(recipe: Recipe, run_dir: str | Path | None) -> Path:
    """``runs/<recipe name>`` unless given."""
    return Path(run_dir) if run_dir is not None else Path("runs") / recipe.name
