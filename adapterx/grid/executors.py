"""Where a recipe's cells run besides inline: submitit's local executor (worker processes of this machine) and
Slurm (one array job per grid). Both call :func:`adapterx.grid.execute_cell.execute_cell` in the worker, so a cell records the
same way wherever it ran.

Slurm workers may sit on other hosts with the run folder on NFS: they write ``cells/<hash>/record.json.gz`` only and
the driver (or a later ``adapterx run`` / ``adapterx report``) ingests them. ``RUN/submitit/slurm_jobs.json`` maps
cell hashes to the job ids that ran them, so a later run waits for a still-queued job instead of submitting its cell
again.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError
from adapterx.fsio import atomic_write_json
from adapterx.grid.recipe import Recipe, cell_hash
from adapterx.grid.cell_function import CellFn, importable_in_workers
from adapterx.grid.execute_cell import CellOutcome, RunSummary, cell_label, execute_cell
from adapterx.grid.slurm import (JOBS_FILE, QUEUED, annotate_store, failure_kind, failure_message, in_queue,
                                 report_dead_jobs, signal_delay_s, slurm_entry, wait_accounting, write_failure_file)
from adapterx.results.store import ResultsStore


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("the local and slurm executors need submitit: pip install submitit"
                          " (or use --executor inline)") from None
    return submitit


def run_local(recipe: Recipe, run_dir: Path, todo: list[dict[str, Any]], cell_fn: str | CellFn | None,
               max_parallel: int | None, fail_fast: bool, summary: RunSummary,
               emit: Callable[[CellOutcome], None], processes: int = 1) -> None:
    submitit = require_submitit()
    cores = os.cpu_count() or 2
    parallel = max_parallel or recipe.execution.max_parallel or max(1, cores // 2)
    threads = max(1, cores // parallel)
    per_cell = recipe.execution.gpus_per_cell
    slots: list[tuple[int, ...]] = []
    if per_cell:
        # Each running cell gets GPUs of its own (submitit alone would give every worker GPUs 0..n-1): 8 GPUs and
        # 2 per cell make 4 slots, so at most 4 cells at once.
        gpus = visible_gpus()
        slots = [tuple(gpus[i : i + per_cell]) for i in range(0, len(gpus) - per_cell + 1, per_cell)]
        if not slots:
            raise ConfigError(f"execution.gpus_per_cell: {per_cell}, but {len(gpus)} GPU(s) are visible here; set"
                              " it to 0 to train on the CPU")
        parallel = min(parallel, len(slots))
    ex = submitit.LocalExecutor(folder=str(run_dir / "submitit"))
    ex.update_parameters(timeout_min=recipe.execution.timeout_min, gpus_per_node=per_cell)
    pending = list(todo)
    running: list[tuple[Any, dict[str, Any]]] = []
    with importable_in_workers():
        try:
            _local_loop(ex, run_dir, pending, running, parallel, threads, cell_fn, fail_fast, summary, emit, processes,
                        slots)
        except KeyboardInterrupt:
            for job, _cell in running:  # do not leave orphaned training processes behind
                job.cancel(check=False)
            raise


def _local_loop(ex: Any, run_dir: Path, pending: list[dict[str, Any]], running: list[tuple[Any, dict[str, Any]]],
                parallel: int, threads: int, cell_fn: str | CellFn | None, fail_fast: bool, summary: RunSummary,
                emit: Callable[[CellOutcome], None], processes: int = 1,
                slots: list[tuple[int, ...]] | None = None) -> None:
    stop = False
    free = list(slots or [])
    held: dict[int, tuple[int, ...]] = {}  # id(job) -> its GPUs
    while pending or running:
        while pending and len(running) < parallel and not stop:
            cell = pending.pop(0)
            if slots:
                ex.update_parameters(visible_gpus=free[0])  # applies to the next submission
            job = ex.submit(execute_cell, cell, str(run_dir), cell_fn, write_db=True, executor="local",
                            threads=threads, processes=processes)
            if slots:
                held[id(job)] = free.pop(0)
            running.append((job, cell))
        if stop and not running:
            break
        time.sleep(0.2)
        for job, cell in [jc for jc in running if jc[0].done()]:
            running.remove((job, cell))
            if id(job) in held:
                free.append(held.pop(id(job)))
            outcome = _job_outcome(job, cell, run_dir, write_failure=True)
            summary.outcomes.append(outcome)
            emit(outcome)
            if fail_fast and outcome.status == "failed":
                stop = True
                pending.clear()


def visible_gpus() -> list[int]:
    """The GPU ids workers may be given: ``CUDA_VISIBLE_DEVICES`` where it lists ids, else all that torch sees."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [x.strip() for x in env.split(",") if x.strip()]
        if all(x.isdigit() for x in ids):
            return [int(x) for x in ids]
    import torch

    return list(range(torch.cuda.device_count()))


def _job_outcome(job: Any, cell: dict[str, Any], run_dir: Path, write_failure: bool,
                 executor: str = "submitit") -> CellOutcome:
    """The worker's outcome, or a failure when the worker itself died (killed, timed out, out of memory)."""
    try:
        return job.result()  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - submitit raises its own FailedJobState etc.
        h = cell_hash(cell)
        msg = f"worker died: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        if write_failure:
            ResultsStore.for_run(run_dir).record_failure(
                h, cell, msg, str(exc), {"executor": executor, "job_id": getattr(job, "job_id", None)})
        return CellOutcome(h, "failed", cell_label(cell), 0.0, msg)


def _slurm_outcome(job: Any, cell: dict[str, Any], run_dir: Path, timeout_min: int) -> CellOutcome:
    """The worker's outcome, or, when Slurm ended the job before the worker returned (scancel, the time limit, out
    of memory, a node failure), a failure file naming the Slurm state, with sacct's record in its provenance."""
    try:
        return job.result()  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - submitit raises its own UncompletedJobError etc.
        h = cell_hash(cell)
        info = wait_accounting([job.job_id]).get(job.job_id)
        last = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else ""
        if info:
            msg = failure_message(job.job_id, info, timeout_min, detail=f"{type(exc).__name__}: {last}")
        else:  # no accounting: submitit's words
            msg = f"worker died: {type(exc).__name__}: {last}"
        write_failure_file(run_dir / "cells" / h, cell, msg, str(exc),
                           {"executor": "slurm", "slurm_array_job": job.job_id,
                            "slurm": slurm_entry(job.job_id, info or {}),
                            "failure_kind": failure_kind((info or {}).get("state", ""))})
        return CellOutcome(h, "failed", cell_label(cell), 0.0, msg)


def collect_slurm(run_dir: str | Path, store: ResultsStore, wait_s: float = 30.0) -> int:
    """Bring what Slurm jobs of this run left into the store: a failure file for each job that ended without a
    word from its worker, the records and failure files ingested, then sacct's record of each job into the rows'
    provenance. A later ``run`` or ``report`` after ``--no-wait`` calls this; a no-op for runs that never used
    Slurm. Returns the number of cells ingested."""
    run_dir = Path(run_dir)
    if not (run_dir / "submitit" / JOBS_FILE).is_file():
        return 0
    report_dead_jobs(run_dir, store.done_hashes())
    n = store.ingest_records(run_dir)
    annotate_store(store, run_dir, wait_s=wait_s)
    return n


def run_slurm(recipe: Recipe, run_dir: Path, store: ResultsStore, todo: list[dict[str, Any]],
               cell_fn: str | CellFn | None, max_parallel: int | None, wait: bool, summary: RunSummary,
               emit: Callable[[CellOutcome], None], processes: int = 1) -> None:
    submitit = require_submitit()
    cfg = recipe.execution.slurm
    ex = submitit.AutoExecutor(folder=str(run_dir / "submitit"), cluster="slurm")
    params: dict[str, Any] = {
        "timeout_min": cfg.timeout_min, "cpus_per_task": cfg.cpus_per_task,
        "mem_gb": cfg.mem_gb, "slurm_array_parallelism": max_parallel or cfg.array_parallelism,
        "name": f"adapterx-{recipe.name}",
        # the worker's warning before the time limit, when it records a timeout (not submitit's fixed 90 s, which
        # would fire at once for a limit of a minute)
        "slurm_signal_delay_s": signal_delay_s(cfg.timeout_min),
    }
    if cfg.gpus_per_node:  # CPU-only partitions: no GPU line at all (some sites reject a gres request of 0)
        params["gpus_per_node"] = cfg.gpus_per_node
    if cfg.partition:
        params["slurm_partition"] = cfg.partition
    if cfg.additional_parameters:
        params["slurm_additional_parameters"] = dict(cfg.additional_parameters)
    ex.update_parameters(**params)
    # Cells an earlier `--no-wait` (or interrupted) run submitted and slurm still has queued or running are not
    # submitted again: that run's job is collected instead. A second job would train the same cell in the same
    # cells/<hash>/ at once, or wipe the first one's output (the cell lock does not hold across NFS hosts).
    jobs_file = run_dir / "submitit" / JOBS_FILE
    try:
        submitted: dict[str, str] = json.loads(jobs_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        submitted = {}
    earlier = {h: submitit.SlurmJob(folder=str(run_dir / "submitit"), job_id=submitted[h])
               for h in map(cell_hash, todo) if h in submitted}
    if earlier:
        submitit.SlurmJob.watcher.update()  # one sacct call for all of them
    queued: list[tuple[Any, dict[str, Any]]] = []
    to_submit: list[dict[str, Any]] = []
    for cell in todo:
        job = earlier.get(cell_hash(cell))
        state = submitit.SlurmJob.watcher.get_state(job.job_id, mode="cache") if job is not None else ""
        # UNKNOWN: sacct does not list it, an id it forgot or one submitted a moment ago (the queue decides)
        if job is not None and not job.paths.result_pickle.exists() and (
                (state.split() or [""])[0] in QUEUED or (state.startswith("UNKNOWN") and in_queue(job.job_id))):
            queued.append((job, cell))
        else:
            to_submit.append(cell)
    jobs: list[Any] = []
    if to_submit:
        # Workers may sit on other hosts with the run folder on NFS, where SQLite's WAL is unsafe: they write record
        # files only, and this process (or the next `adapterx run` / `adapterx report`) ingests them.
        with importable_in_workers():
            try:
                jobs = ex.map_array(
                    functools.partial(execute_cell, run_dir=str(run_dir), cell_fn=cell_fn, write_db=False,
                                      executor="slurm", processes=processes),
                    to_submit,
                )
            except Exception as exc:  # noqa: BLE001 - submitit passes sbatch's refusal on as various errors
                said = " ".join(str(getattr(exc, "stderr", None) or exc).split())[-300:]
                raise ConfigError(f"slurm check failed: sbatch refused the array job: {said}; check"
                                  " execution.slurm (partition, gpus_per_node, cpus_per_task, mem_gb)") from None
        submitted.update({cell_hash(c): job.job_id for c, job in zip(to_submit, jobs)})
        atomic_write_json(jobs_file, submitted)
    if not wait:
        summary.submitted_only = True
        return
    for job, cell in [*queued, *zip(jobs, to_submit)]:
        outcome = _slurm_outcome(job, cell, run_dir, cfg.timeout_min)
        # The worker (no database access) left cells/<hash>/record.json.gz or failure.json: the store ingests it,
        # as the next `adapterx run` or `adapterx report` would, then sacct's record of the job joins its provenance.
        store.ingest_records(run_dir)
        annotate_store(store, run_dir)
        summary.outcomes.append(outcome)
        emit(outcome)
