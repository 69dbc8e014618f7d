"""What adapterx asks Slurm itself, besides submitting through submitit: is it reachable, what did its accounting
(``sacct``) record for a cell's job, and what a job that died without a word from its worker means for the cell.

A cell that ran on Slurm carries ``provenance["slurm"]``: the job's name, state, exit code, elapsed and limit times,
node, CPUs, memory asked and used (MaxRSS of its steps) and its submit/start/end times, as ``sacct`` reports them once
the job has ended. The worker cannot know those (its job is still running when it writes its record), so the process
that collects the records adds them to the store's rows after ingesting (:func:`annotate_store`): the waiting
``adapterx run``, or a later ``run`` or ``report`` after ``--no-wait``. A job Slurm ended before its worker could write
anything (``scancel``, the time limit, out of memory, a node failure) gets a failure file with the Slurm state as the
cell's error (:func:`report_dead_jobs`), so a rerun runs it again.

``failure_kind`` in a failure's provenance: ``timeout`` (the job reached ``--time``; submitit's warning signal or
Slurm's kill), ``cancelled``, ``out_of_memory``, ``node_fail``, ``preempted``, ``crashed`` (the worker died any other
way) or ``error`` (the cell raised).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError
from adapterx.fsio import atomic_write_json
from adapterx.results.store import FAILURE_INGESTED, FAILURE_NAME, RECORD_NAME, ResultsStore

JOBS_FILE = "slurm_jobs.json"  # under RUN/submitit/: cell hash -> the array task (ARRAY_TASK) that ran it
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Elapsed", "Timelimit", "NodeList", "AllocCPUS", "ReqMem",
                "MaxRSS", "Submit", "Start", "End")
_KEYS = ("job_id", "job_name", "state", "exit_code", "elapsed", "time_limit", "node_list", "alloc_cpus", "req_mem",
         "max_rss", "submit", "start", "end")
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "REVOKED"}
_KINDS = {"TIMEOUT": "timeout", "DEADLINE": "timeout", "CANCELLED": "cancelled", "OUT_OF_MEMORY": "out_of_memory",
          "NODE_FAIL": "node_fail", "BOOT_FAIL": "node_fail", "PREEMPTED": "preempted"}
_TIMEOUT_S = 20.0


def check_reachable() -> None:
    """Fail in one line, naming the check, when this machine cannot submit to Slurm: ``sbatch`` is not on PATH, or
    the controller does not answer ``scontrol ping`` (slurmctld down, a wrong ``SLURM_CONF``, munge not running)."""
    if shutil.which("sbatch") is None:
        raise ConfigError("slurm check failed: sbatch is not on PATH; run on the cluster's login node"
                          " (or use --executor local)")
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return  # sbatch itself will say it when the controller is down
    try:
        got = subprocess.run([scontrol, "ping"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"slurm check failed: `scontrol ping` did not answer within {_TIMEOUT_S:.0f} s; is slurmctld"
                          " running?") from None
    said = [line.strip() for line in (got.stdout + "\n" + got.stderr).splitlines() if line.strip()]
    text = said[0] if said else ""  # "Slurmctld(primary) at HOST is DOWN" (then a banner of asterisks)
    if got.returncode != 0 or " is UP" not in text:
        raise ConfigError(f"slurm check failed: `scontrol ping`: {text or 'no answer'}; start slurmctld (locally:"
                          " tests/slurm/start-local-slurm.sh) or point SLURM_CONF at the cluster's slurm.conf")


QUEUED = {"READY", "PENDING", "RUNNING", "REQUEUED", "COMPLETING", "PREEMPTED", "CONFIGURING", "RESIZING",
          "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "STOPPED"}


def in_queue(job_id: str) -> bool:
    """Whether the controller still has this job or array task queued or running. ``squeue`` asks slurmctld,
    which knows a job as soon as sbatch returns; ``sacct`` may not list it for a second or two (the accounting
    database is written behind), so a job sacct does not know yet is not taken for a lost one."""
    squeue = shutil.which("squeue")
    if squeue is None:
        return False
    try:
        got = subprocess.run([squeue, "-h", "-r", "-o", "%i|%T", "-j", str(job_id)], capture_output=True, text=True,
                             timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return got.returncode == 0 and any(line.split("|")[-1].strip() in QUEUED for line in got.stdout.splitlines())


def signal_delay_s(timeout_min: int) -> int:
    """Seconds before the time limit at which submitit's worker gets its warning signal and records a timeout.
    submitit's default (90 s) would fire at once for a limit under 1.5 minutes; a sixth of the limit, 10..90 s."""
    return max(10, min(90, timeout_min * 60 // 6))


def accounting(job_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """``sacct`` for the given jobs or array tasks (``12_3``): job id -> {job_name, state, exit_code, elapsed, ...}.
    MaxRSS is the largest of the job's steps. Empty where sacct is missing or fails (no accounting storage)."""
    ids = [str(j) for j in job_ids]
    sacct = shutil.which("sacct")
    if not ids or sacct is None:
        return {}
    args = [sacct, "--parsable2", "-o", ",".join(SACCT_FIELDS)]
    for j in ids:
        args += ["-j", j]
    try:
        got = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if got.returncode != 0:
        return {}
    out: dict[str, dict[str, str]] = {}
    for line in got.stdout.splitlines():
        values = line.split("|")
        if len(values) != len(SACCT_FIELDS) or values[0] == "JobID":
            continue
        row = dict(zip(_KEYS, values))
        base, _, step = row["job_id"].partition(".")
        if not step:
            out[base] = {**row, "max_rss": out.get(base, {}).get("max_rss", "")}
        else:  # a step (batch, extern, 0): only its memory counts
            entry = out.setdefault(base, {k: "" for k in _KEYS})
            entry["max_rss"] = _larger_rss(entry.get("max_rss", ""), row["max_rss"])
    return {j: out[j] for j in ids if j in out}


def _rss_bytes(text: str) -> float:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip()
    if not text:
        return -1.0
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except ValueError:
        return -1.0


def _larger_rss(a: str, b: str) -> str:
    return a if _rss_bytes(a) >= _rss_bytes(b) else b


def wait_accounting(job_ids: Iterable[str], timeout_s: float = 30.0) -> dict[str, dict[str, str]]:
    """:func:`accounting` once every job has ended (its final times and memory), or what it says after
    ``timeout_s``: a worker's result can arrive while Slurm still lists its job as RUNNING or COMPLETING."""
    ids = list(job_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        info = accounting(ids)
        if not info or all(_first(info.get(j, {}).get("state", "")) in ENDED for j in ids) \
                or time.monotonic() > deadline:
            return info
        time.sleep(1.0)


def _first(state: str) -> str:
    return (state.split() or [""])[0].rstrip("+")


def failure_kind(state: str) -> str:
    """``timeout``, ``cancelled``, ``out_of_memory``, ``node_fail``, ``preempted`` or ``crashed``."""
    return _KINDS.get(_first(state), "crashed")


def failure_message(job_id: str, info: Mapping[str, str], timeout_min: int | None = None,
                    detail: str | None = None) -> str:
    """One line for a cell whose job Slurm ended: the state first, then what it means; ``detail`` (the worker's
    last words, from submitit) follows for a crash."""
    state = info.get("state") or "state unknown (no accounting)"
    kind = failure_kind(state)
    limit = f" ({info['time_limit']}, execution.slurm.timeout_min)" if info.get("time_limit") else (
        f" ({timeout_min} min, execution.slurm.timeout_min)" if timeout_min else "")
    what = {
        "timeout": f"timed out: slurm job {job_id} reached its time limit{limit}",
        "cancelled": f"cancelled: slurm job {job_id} ended {state}",
        "out_of_memory": f"out of memory: slurm job {job_id} exceeded its memory (execution.slurm.mem_gb)",
        "node_fail": f"node failure: slurm job {job_id} ended {state}",
        "preempted": f"preempted: slurm job {job_id} ended {state}",
    }.get(kind, f"worker died: slurm job {job_id} ended {state} (exit code {info.get('exit_code') or '?'})"
              + (f": {detail}" if detail else ""))
    return f"{what}; a rerun runs this cell again"


def read_jobs(run_dir: Path) -> dict[str, str]:
    """``RUN/submitit/slurm_jobs.json``: cell hash -> array task id of its latest submission."""
    try:
        return json.loads((Path(run_dir) / "submitit" / JOBS_FILE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def write_failure_file(cell_dir: Path, spec: Mapping[str, Any], error: str, traceback: str | None,
                       provenance: Mapping[str, Any]) -> None:
    """``cells/<hash>/failure.json`` (atomically), which the store ingests as the cell's failure."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cell_dir / FAILURE_NAME, {"spec": dict(spec), "error": error, "traceback": traceback,
                                                "provenance": dict(provenance)}, indent=None)


def report_dead_jobs(run_dir: str | Path, done: set[str], timeout_min: int | None = None) -> int:
    """Write a failure file for every cell of this run whose Slurm job ended without a record or failure file from
    its worker (scancel, the time limit, out of memory, a node failure while the worker could not write); the error
    is the Slurm state in one line. Returns how many; a no-op where sacct is missing or answers nothing."""
    run_dir = Path(run_dir)
    silent = {h: j for h, j in read_jobs(run_dir).items()
              if h not in done and _no_word_from(run_dir / "cells" / h, j)}
    info = accounting(silent.values()) if silent else {}
    n = 0
    for h, job_id in silent.items():
        acct = info.get(job_id)
        state = _first(acct["state"]) if acct else ""
        if not acct or not (state in ENDED - {"COMPLETED"} or (state == "COMPLETED"
                                                                and _result_missing(run_dir, job_id))):
            continue
        cell_json = run_dir / "cells" / h / "cell.json"
        if not cell_json.is_file():
            continue  # cancelled before its worker started: not run, so a rerun simply submits it
        write_failure_file(run_dir / "cells" / h, json.loads(cell_json.read_text(encoding="utf-8")),
                           failure_message(job_id, acct, timeout_min), None,
                           {"executor": "slurm", "slurm_array_job": job_id, "slurm": slurm_entry(job_id, acct),
                            "failure_kind": failure_kind(acct["state"])})
        n += 1
    return n


def annotate_store(store: ResultsStore, run_dir: str | Path, wait_s: float = 30.0) -> int:
    """Add sacct's record of its job to every finished cell and failure in the store that ran on Slurm and has no
    final one yet (the worker wrote its record while its job still ran). Waits up to ``wait_s`` for those jobs to
    end (their end is seconds away: the worker is done). Returns how many rows it completed."""
    jobs = read_jobs(Path(run_dir))
    cells, fails = store.slurm_provenance(lambda state: _first(state or "") in ENDED)
    todo: list[tuple[str, Any, str, dict[str, Any]]] = []
    def job_of(h: str, prov: dict[str, Any]) -> str | None:
        # an array task (ARRAY_TASK), else a plain job (submitit submits a one-cell grid as one)
        return (prov.get("slurm_array_job") or (prov.get("slurm") or {}).get("job_id") or jobs.get(h)
                or prov.get("slurm_job_id"))

    for h, prov in cells:
        if job := job_of(h, prov):
            todo.append(("cell", h, job, prov))
    for i, h, prov in fails:
        if job := job_of(h, prov):
            todo.append(("failure", i, job, prov))
    if not todo:
        return 0
    ids = sorted({job for _, _, job, _ in todo})
    info = wait_accounting(ids, wait_s) if wait_s > 0 else accounting(ids)
    n = 0
    for what, key, job, prov in todo:
        if job in info:
            new = {**prov, "slurm": slurm_entry(job, info[job])}
            store.set_provenance(new, **({"cell_hash": key} if what == "cell" else {"failure_id": key}))
            n += 1
    return n


def slurm_entry(job_id: str, acct: Mapping[str, str]) -> dict[str, str]:
    """``provenance["slurm"]``: the job id, then sacct's fields."""
    return {"job_id": job_id, **{k: v for k, v in acct.items() if k != "job_id"}}


def _no_word_from(cell_dir: Path, job_id: str) -> bool:
    """Neither a record nor a failure file, and no ingested failure of this job."""
    if (cell_dir / RECORD_NAME).is_file() or (cell_dir / FAILURE_NAME).is_file():
        return False
    ingested = cell_dir / FAILURE_INGESTED
    if ingested.is_file():
        try:
            prov = json.loads(ingested.read_text(encoding="utf-8")).get("provenance") or {}
        except (OSError, ValueError):
            return True
        return job_id not in (prov.get("slurm_array_job"), (prov.get("slurm") or {}).get("job_id"))
    return True


def _result_missing(run_dir: Path, job_id: str) -> bool:
    """submitit wrote no result for a job Slurm calls COMPLETED: its worker never ran the cell."""
    return not any((run_dir / "submitit").glob(f"{job_id}_*_result.pkl"))
