"""One grid cell's execution: run it (in this process or launched on N processes), check what it returned,
record it (store or record file), and keep what a failure leaves (error.txt / failure.json).

The cell function's contract (``adapterx.grid.run_cell.run_cell(cell, out_dir) -> dict``) is documented in
:mod:`adapterx.grid.runner`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from adapterx import __version__
from adapterx.data.sources import data_files
from adapterx.errors import AdapterxError, DataError
from adapterx.fsio import atomic_write_json, exclusive_lock
from adapterx.grid.launch import run_launched
from adapterx.grid.cell_function import CellFn, callable_ref, resolve_cell_fn
from adapterx.grid.recipe import cell_hash, chain_name
from adapterx.results.store import FAILURE_NAME, RECORD_NAME, CellRecord, ResultsStore, write_record_file
from adapterx.tasks import get_task

METRIC_KINDS = ("mean", "f1", "correlation")

# --------------------------------------------------------------------------------------------------------------
# One cell


def _is_qa(target: str) -> bool:
    """Span QA (its score is (EM + F1) / 2, the XTREME-R convention): the task record's kind."""
    return get_task(target).kind == "span_qa"


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
    if result is not None:
        # {path: sha256} of every local file the cell read (its intermediates' too): a later `adapterx run` re-runs
        # the cell when one of them changed (adapterx.grid.runner.make_plan). Absent: recorded before this existed.
        prov["data_files"] = {**(result.get("data_files") or {}),
                              **data_files((prov.get("run_json") or {}).get("data_reads") or [])}
    return prov


def _slurm_timeout(exc: BaseException) -> bool:
    """submitit's warning signal shortly before a Slurm job's time limit raises this in a worker whose function
    cannot checkpoint: the cell timed out, it did not crash."""
    return type(exc).__name__ == "UncompletedJobError" and "timed-out" in str(exc)


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
    cell trains data-parallel under ``accelerate launch`` (:mod:`adapterx.grid.launch`).
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
    with exclusive_lock(out_dir / ".lock") as other:
        yield other is None


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
            result = run_launched(cell, out_dir, processes, cell_fn if isinstance(cell_fn, str) or cell_fn is None
                                  else callable_ref(cell_fn), threads)
        else:
            result = resolve_cell_fn(cell_fn)(cell, out_dir)
        record = record_from_result(cell, h, result, _provenance(executor, started, time.time(), result))
        write_record_file(record, out_dir)
        summary = {k: v for k, v in record.to_json().items() if k != "per_example"}
        atomic_write_json(out_dir / "result.json", summary, indent=2)
        if store is not None:
            store.record_cell(record)
        return CellOutcome(h, "done", label, time.time() - started)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a cell is recorded and the grid goes on
        msg = str(exc) if isinstance(exc, AdapterxError) else f"{type(exc).__name__}: {exc}"
        kind = "timeout" if _slurm_timeout(exc) else "error"
        prov = {**_provenance(executor, started, time.time(), None), "failure_kind": kind}
        if kind == "timeout":
            msg = (f"timed out: slurm job {prov['slurm_array_job'] or prov['slurm_job_id']} reached its time limit"
                   " (execution.slurm.timeout_min); a rerun runs this cell again")
        tb = traceback.format_exc()
        (out_dir / "error.txt").write_text(tb, encoding="utf-8")
        if store is not None:
            store.record_failure(h, cell, msg, tb, prov)
        else:  # a worker without the database: the driver (or the next run / report) ingests this file
            atomic_write_json(out_dir / FAILURE_NAME, {"spec": cell, "error": msg, "traceback": tb,
                                                       "provenance": prov}, indent=None)
        return CellOutcome(h, "failed", label, time.time() - started, msg)


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
