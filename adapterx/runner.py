"""Run a recipe's cells, skipping those already done, in this process, in local processes or on slurm.

The training itself is ``adapterx.pipeline.run_cell(cell, out_dir) -> dict`` (the cell dict is documented in
:mod:`adapterx.recipe`). It must return::

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
    RUN/submitit/             logs of the local / slurm executors (adapterx.executors); slurm_jobs.json: cell -> job id
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from adapterx.errors import AdapterxError, ConfigError, DataError
from adapterx.recipe import QA_TASKS, Recipe, cell_hash, chain_name, expand, recipe_to_yaml
from adapterx.results.store import FAILURE_NAME, RECORD_NAME, CellRecord, ResultsStore, write_record_file

CellFn = Callable[[dict[str, Any], Path], dict[str, Any]]
Executor = Literal["inline", "local", "slurm"]
DEFAULT_CELL_FN = "adapterx.pipeline:run_cell"
METRIC_KINDS = ("mean", "f1", "correlation")


def resolve_cell_fn(ref: str | CellFn | None) -> CellFn:
    """A callable, or ``"module:function"`` imported now; None means the real training, adapterx.pipeline.run_cell."""
    if callable(ref):
        return ref
    ref = ref or DEFAULT_CELL_FN
    module_name, _, attr = ref.partition(":")
    if not attr:
        raise ConfigError(f"cell function {ref!r}: write module:function, e.g. {DEFAULT_CELL_FN}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if ref == DEFAULT_CELL_FN and exc.name in ("adapterx.pipeline",):
            raise ConfigError("adapterx.pipeline.run_cell is not available in this installation: running cells"
                              " needs it (--dry-run shows the plan without it)") from None
        raise ConfigError(f"cell function {ref!r}: cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn) and ref == DEFAULT_CELL_FN:
        raise ConfigError("adapterx.pipeline.run_cell is not available in this installation: running cells"
                          " needs it (--dry-run shows the plan without it)")
    if not callable(fn):
        raise ConfigError(f"cell function {ref!r}: {module_name} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def check_report_to(name: str | None) -> None:
    """Fail early, before hours of training, when the chosen experiment tracker is not installed."""
    from adapterx.tracking import check

    check(name)


def _require_accelerate() -> None:
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError("processes_per_cell > 1 trains under accelerate launch: pip install accelerate")


# --------------------------------------------------------------------------------------------------------------
# One cell


def _is_qa(target: str) -> bool:
    try:
        from adapterx.tasks import get_task

        return str(get_task(target).kind) == "span_qa"
    except Exception:  # noqa: BLE001 - no task registry (yet): the constant list decides
        return target in QA_TASKS


def report_score(target: str, eval_json: dict[str, Any], lang_scores: dict[str, Any]) -> tuple[str, float | None]:
    """The one score a report uses for a language: QA (EM + F1) / 2, otherwise the eval JSON's headline metric."""
    em = next((lang_scores[k] for k in ("em", "exact_match", "exact", "EM") if k in lang_scores), None)
    f1 = lang_scores.get("f1", lang_scores.get("F1"))
    if _is_qa(target) and em is not None and f1 is not None:
        return "em_f1", (float(em) + float(f1)) / 2.0
    metric = eval_json.get("metric")
    if metric in lang_scores:
        value = lang_scores[metric]
        return str(metric), None if value is None else float(value)
    raise DataError(f"run_cell's eval JSON for {target} has no {metric!r} score in {sorted(lang_scores)}")


def record_from_result(cell: dict[str, Any], h: str, result: Any, provenance: dict[str, Any]) -> CellRecord:
    """Check run_cell's return against the contract and turn it into a store record."""
    where = f"run_cell ({cell['target']}, cell {h})"
    if not isinstance(result, dict):
        raise DataError(f"{where} returned {type(result).__name__}, not a dict")
    missing = [k for k in ("eval", "per_example", "metric_kind", "trainable_params", "train_time_s") if k not in result]
    if missing:
        raise DataError(f"{where} returned no {', '.join(missing)}")
    ev = result["eval"]
    if not isinstance(ev, dict) or not isinstance(ev.get("scores"), dict) or not ev["scores"]:
        raise DataError(f"{where}: 'eval' must be the eval JSON with a non-empty 'scores' mapping")
    kind = result["metric_kind"]
    if kind not in METRIC_KINDS:
        raise DataError(f"{where}: metric_kind {kind!r} is not one of {', '.join(METRIC_KINDS)}")
    per_example = result["per_example"] or {}
    if not isinstance(per_example, dict):
        raise DataError(f"{where}: 'per_example' must map languages to lists of records")
    stray = sorted(set(per_example) - set(ev["scores"]))
    if stray:
        raise DataError(f"{where}: per-example statistics for languages without a score: {', '.join(stray)}")
    scores: dict[str, tuple[float | None, dict[str, Any]]] = {}
    metric = None
    for lang, lang_scores in ev["scores"].items():
        metric, value = report_score(cell["target"], ev, lang_scores)
        scores[lang] = (value, lang_scores)
    params = result["trainable_params"]
    return CellRecord(
        cell_hash=h, spec=cell, metric=str(metric), metric_kind=kind, eval=ev, scores=scores,
        per_example={k: list(v) for k, v in per_example.items()},
        trainable_params=None if params is None else int(params),
        train_time_s=None if result["train_time_s"] is None else float(result["train_time_s"]),
        provenance=provenance, run_dir=None if result.get("run_dir") is None else str(result["run_dir"]),
    )


def _callable_ref(fn: CellFn) -> str:
    """``module:function`` of a top-level function, for processes that must import it themselves."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "." in name or "<" in name:
        raise ConfigError("processes_per_cell > 1 starts new processes: the cell function must be a top-level"
                          " function, given as 'module:function'")
    return f"{module}:{name}"


_GIT_COMMIT: list[str | None] = []


def _git_commit() -> str | None:
    if not _GIT_COMMIT:
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                 text=True, timeout=5, check=False)
            _GIT_COMMIT.append(out.stdout.strip() or None if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _GIT_COMMIT.append(None)
    return _GIT_COMMIT[0]


def _provenance(executor: str, started: float, finished: float, result: dict[str, Any] | None) -> dict[str, Any]:
    from adapterx import __version__

    prov: dict[str, Any] = {
        "adapterx_version": __version__, "git_commit": _git_commit(), "host": socket.gethostname(), "pid": os.getpid(),
        "python": platform.python_version(), "platform": platform.platform(), "executor": executor,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        # submitit names an array task ARRAY_TASK (what `sacct -j` and the logs in RUN/submitit/ use)
        "slurm_array_job": (f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
                            if os.environ.get("SLURM_ARRAY_JOB_ID") else None),
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "finished": datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(finished - started, 3),
    }
    run_json = Path(result["run_dir"]) / "run.json" if result and result.get("run_dir") else None
    if run_json is not None and run_json.is_file():
        try:
            prov["run_json"] = json.loads(run_json.read_text(encoding="utf-8"))
        except ValueError:
            prov["run_json"] = None
    return prov


@dataclass(frozen=True)
class CellOutcome:
    cell_hash: str
    status: Literal["done", "failed", "skipped"]
    label: str
    seconds: float = 0.0
    error: str | None = None


def cell_label(cell: dict[str, Any]) -> str:
    return (f"{cell['backbone']} {cell['method']['label']} {chain_name(cell['intermediate'])} -> {cell['target']}"
            f" seed {cell['seed']}")


def execute_cell(cell: dict[str, Any], run_dir: str | Path, cell_fn: str | CellFn | None = None, *,
                 write_db: bool = True, executor: str = "inline", threads: int | None = None,
                 processes: int = 1) -> CellOutcome:
    """Run one cell and record it (module-level and picklable: the local and slurm executors call it in workers).

    With ``write_db`` False (workers on other hosts) only ``cells/<hash>/record.json.gz`` is written and the driver
    ingests it. A failure is recorded, not raised, so one bad cell does not end a grid. With ``processes`` > 1 the
    cell trains data-parallel under ``accelerate launch`` (:mod:`adapterx.cell_worker`).
    """
    run_dir = Path(run_dir)
    h = cell_hash(cell)
    label = cell_label(cell)
    out_dir = run_dir / "cells" / h
    store = ResultsStore.for_run(run_dir) if write_db else None
    if store is not None and store.has_cell(h):
        return CellOutcome(h, "skipped", label)
    with _cell_lock(out_dir) as mine:
        if not mine:
            return CellOutcome(h, "skipped", label, error="running in another process")
        if store is not None and store.has_cell(h):  # finished by another process while we waited for the lock
            return CellOutcome(h, "skipped", label)
        if (out_dir / RECORD_NAME).is_file():  # finished, but killed before the database recorded it
            if store is not None:
                store.ingest_records(run_dir)
            return CellOutcome(h, "skipped", label)
        _clear_attempt(out_dir)
        return _run_one(cell, h, label, out_dir, store, cell_fn, executor, threads, processes)


@contextmanager
def _cell_lock(out_dir: Path) -> Iterator[bool]:
    """Hold ``cells/<hash>/.lock`` while the cell runs; yields False when another process holds it (it is running
    this cell now: two ``adapterx run`` on one grid). The OS releases the lock when its holder dies, even by SIGKILL."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked
        yield True
        return
    with open(out_dir / ".lock", "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            locked = False
        except OSError:  # a filesystem without locks (some NFS mounts): run unlocked
            locked = True
        else:
            locked = True
        yield locked


def _clear_attempt(out_dir: Path) -> None:
    """Remove what an earlier, unrecorded attempt of this cell left (it was killed or failed): run_cell commits its
    run dir with a rename and refuses one that exists, so a leftover would fail the cell on every rerun."""
    for child in out_dir.iterdir():
        if child.name == ".lock":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _run_one(cell: dict[str, Any], h: str, label: str, out_dir: Path, store: ResultsStore | None,
             cell_fn: str | CellFn | None, executor: str, threads: int | None, processes: int = 1) -> CellOutcome:
    if threads:
        # Parallel workers on one machine would each start one thread per core; set before torch is imported.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    (out_dir / "cell.json").write_text(json.dumps(cell, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    started = time.time()
    result: dict[str, Any] | None = None
    try:
        if processes > 1:
            from adapterx.cell_worker import run_launched

            result = run_launched(cell, out_dir, processes, cell_fn if isinstance(cell_fn, str) or cell_fn is None
                                  else _callable_ref(cell_fn), threads)
        else:
            result = resolve_cell_fn(cell_fn)(cell, out_dir)
        record = record_from_result(cell, h, result, _provenance(executor, started, time.time(), result))
        write_record_file(record, out_dir)
        summary = {k: v for k, v in record.to_json().items() if k != "per_example"}
        (out_dir / "result.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if store is not None:
            store.record_cell(record)
        return CellOutcome(h, "done", label, time.time() - started)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a cell is recorded and the grid goes on
        msg = str(exc) if isinstance(exc, AdapterxError) else f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        (out_dir / "error.txt").write_text(tb, encoding="utf-8")
        prov = _provenance(executor, started, time.time(), None)
        if store is not None:
            store.record_failure(h, cell, msg, tb, prov)
        else:  # a worker without the database: the driver (or the next run / report) ingests this file
            tmp = out_dir / f".{FAILURE_NAME}.tmp"
            tmp.write_text(json.dumps({"spec": cell, "error": msg, "traceback": tb, "provenance": prov},
                                      ensure_ascii=False), encoding="utf-8")
            tmp.replace(out_dir / FAILURE_NAME)
        return CellOutcome(h, "failed", label, time.time() - started, msg)


# --------------------------------------------------------------------------------------------------------------
# Plans and cost


# English training set sizes (examples), rounded, from the data sets' cards; a cost estimate needs only magnitudes.
TRAIN_SIZES: dict[str, int] = {
    "stsb": 5_749, "mnli": 392_702, "anli": 1_105_719, "qqp": 363_846, "sst2": 67_349, "squad": 87_599,
    "hellaswag": 39_905, "cosmosqa": 25_262, "commonsenseqa": 9_741, "ccg": 38_015, "siqa": 33_410, "copa": 400,
    "xnli": 392_702, "pawsx": 49_401, "xcopa": 33_810, "udpos": 21_253, "panx": 20_000, "xquad": 87_599,
    "mlqa": 87_599, "tydiqa": 3_696, "lareqa": 87_599, "mewslix": 116_903, "tatoeba": 0, "bucc": 0,
}
# Seconds per optimizer step at batch 8 x 128 tokens on the 2-core CPU of shared/design/library-notes.md
# (XLM-R base size); "peft" covers adapters and LoRA. Large is ~3.5x base, the tiny test model ~1/100.
_S_PER_STEP = {"full": 3.9, "peft": 1.6}
_SIZE_SCALE = {"tiny": 0.01, "base": 1.0, "large": 3.5}
_GPU_SPEEDUP = 40.0  # a single modern GPU against that CPU, as an order of magnitude


def _size_of(backbone: str) -> str:
    name = backbone.lower()
    return "tiny" if "tiny" in name else "large" if "large" in name else "base"


def _stage_cost(task: str, cfg: dict[str, Any], data: dict[str, Any], backbone: str, method: str) -> tuple[int, float]:
    size = TRAIN_SIZES.get(task, 50_000)
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
                s, t = _stage_cost(task, cfg, data, be, mname)
                steps, cpu_s = steps + s, cpu_s + t
        s, t = _stage_cost(cell["target"], cell["training"]["target"], data, be, mname)
        steps, cpu_s = steps + s, cpu_s + t
    return {
        "optimizer_steps": steps, "intermediate_trainings": len(seen),
        "cpu_seconds": round(cpu_s, 1), "gpu_seconds": round(cpu_s / _GPU_SPEEDUP, 1),
        "cpu_hours": round(cpu_s / 3600, 2), "gpu_hours": round(cpu_s / _GPU_SPEEDUP / 3600, 2),
        "assumptions": "training only (evaluation not counted); 2-core CPU speeds of library-notes.md scaled by batch"
                       f" x length; GPU = CPU / {_GPU_SPEEDUP:g}; English train sizes from TRAIN_SIZES; intermediate"
                       " modules trained once per intermediate_key and reused across targets",
    }


@dataclass
class Plan:
    recipe: Recipe
    run_dir: Path
    cells: list[dict[str, Any]]
    hashes: list[str]
    done: set[str]

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
            "n_done": self.n_done, "n_todo": len(todo),
            "estimate": estimate_cost(todo), "estimate_all": estimate_cost(self.cells),
            "cells": [{"hash": h, "label": cell_label(c), "done": h in self.done}
                      for c, h in zip(self.cells, self.hashes)],
        }


def make_plan(recipe: Recipe, run_dir: str | Path) -> Plan:
    """Expand the grid and mark the cells already recorded in ``run_dir`` (read only: a dry run writes nothing)."""
    run_dir = Path(run_dir)
    cells = expand(recipe)
    done: set[str] = set()
    db = run_dir / "results.sqlite"
    if db.is_file():
        store = ResultsStore(db)
        store.ingest_records(run_dir)
        done = store.done_hashes()
    return Plan(recipe, run_dir, cells, [cell_hash(c) for c in cells], done)


# --------------------------------------------------------------------------------------------------------------
# Running a grid


@dataclass
class RunSummary:
    run_dir: Path
    n_cells: int
    n_done_before: int
    outcomes: list[CellOutcome] = field(default_factory=list)
    submitted_only: bool = False

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir), "n_cells": self.n_cells, "n_done_before": self.n_done_before,
            "n_ran": sum(o.status == "done" for o in self.outcomes), "n_failed": len(self.failed),
            "submitted_only": self.submitted_only,
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


def run_recipe(recipe: Recipe, run_dir: str | Path, *, executor: Executor | None = None,
               cell_fn: str | CellFn | None = None, max_parallel: int | None = None, fail_fast: bool = False,
               wait: bool = True, on_event: Callable[[CellOutcome], None] | None = None) -> RunSummary:
    """Run every cell of ``recipe`` not yet recorded in ``run_dir``; returns what happened to each."""
    run_dir = Path(run_dir)
    executor = executor or recipe.execution.executor
    check_report_to(recipe.report_to)
    if executor != "inline":
        from adapterx.executors import require_submitit

        require_submitit()
    resolve_cell_fn(cell_fn)  # fail before the grid, not once per cell, when the training code is missing
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--run-dir {run_dir}: cannot write there ({exc.strerror}); choose a writable folder") from None
    store = ResultsStore.for_run(run_dir)
    plan = make_plan(recipe, run_dir)
    (run_dir / "recipe.yaml").write_text(recipe_to_yaml(recipe), encoding="utf-8")
    with (run_dir / "runs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "recipe": recipe.name,
                             "executor": executor, "n_cells": len(plan.cells), "n_todo": len(plan.todo)}) + "\n")
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
        from adapterx.executors import run_local

        run_local(recipe, run_dir, todo, cell_fn, max_parallel, fail_fast, summary, emit, processes)
    elif executor == "slurm":
        from adapterx.executors import run_slurm

        run_slurm(recipe, run_dir, store, todo, cell_fn, max_parallel, wait, summary, emit, processes)
    else:
        raise ConfigError(f"--executor {executor!r}: choose inline, local or slurm")
    return summary


def resolve_run_dir(recipe: Recipe, run_dir: str | Path | None) -> Path:
    """``runs/<recipe name>`` unless given."""
    return Path(run_dir) if run_dir is not None else Path("runs") / recipe.name
