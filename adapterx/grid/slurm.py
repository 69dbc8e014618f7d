"""What adapterx asks Slurm itself, besides submitting through submitit: is it reachable, what did its accounting
(``sacct``) record for a cell's job, and what a job that died without a word from its worker means for the cell.

A cell that ran on Slurm carries ``provenance["slurm"]``: the job's name, state, exit code, elapsed and limit times,
node, CPUs, memory asked and used (MaxRSS of its steps) and its submit/start/end times, as ``sacct`` reports them once
the job has ended. The worker cannot know those (its job is still running when it writes its record), so the process
that collects the records adds them (:func:`annotate_cells`): the waiting ``adapterx run``, or a later ``run`` or
``report`` after ``--no-wait``. A job Slurm ended before its worker could write anything (``scancel``, the time limit,
out of memory, a node failure) leaves a failure file with the Slurm state as the cell's error, so a rerun runs it again.

``failure_kind`` in a failure's provenance: ``timeout`` (the job reached ``--time``; submitit's warning signal or
Slurm's kill), ``cancelled``, ``out_of_memory``, ``node_fail``, ``preempted``, ``crashed`` (the worker died any other
way) or ``error`` (the cell raised).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError
from adapterx.results.store import FAILURE_INGESTED, FAILURE_NAME, RECORD_NAME

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
    text = " ".join((got.stdout + " " + got.stderr).split())
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
    tmp = cell_dir / f".{FAILURE_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"spec": dict(spec), "error": error, "traceback": traceback,
                               "provenance": dict(provenance)}, ensure_ascii=False), encoding="utf-8")
    tmp.replace(cell_dir / FAILURE_NAME)


def annotate_cells(run_dir: str | Path, done: set[str], specs: Mapping[str, Mapping[str, Any]] | None = None,
                   wait_s: float = 30.0, timeout_min: int | None = None, report_dead: bool = True) -> int:
    """Add ``sacct``'s record to the not yet ingested records and failure files of cells that ran on Slurm, and
    write a failure file for every cell whose job ended without either (killed before its worker could write).
    ``specs``: cell hash -> cell, for cells with no ``cell.json`` yet (cancelled while queued). Returns how many
    cells it touched; a no-op where sacct is missing or answers nothing. ``report_dead`` False: files only (the
    waiting driver, which reports each dead job itself as submitit returns it)."""
    run_dir = Path(run_dir)
    jobs = {h: j for h, j in read_jobs(run_dir).items() if h not in done}
    if not jobs:
        return 0
    pending = {h: j for h, j in jobs.items() if _needs_annotation(run_dir / "cells" / h, j)}
    if not pending:
        return 0
    # Jobs whose worker wrote its file end within seconds: wait for their final accounting. Jobs with nothing
    # written may run for hours: one look.
    written = {h for h in pending if any((run_dir / "cells" / h / n).is_file() for n in (RECORD_NAME, FAILURE_NAME))}
    if not report_dead:
        pending = {h: pending[h] for h in written}
    info = wait_accounting([pending[h] for h in written], wait_s) if written and wait_s > 0 else {}
    info.update(accounting([j for h, j in pending.items() if j not in info]))
    touched = 0
    for h, job_id in pending.items():
        acct = info.get(job_id)
        if not acct:
            continue
        cell_dir = run_dir / "cells" / h
        slurm = {"job_id": job_id, **{k: v for k, v in acct.items() if k != "job_id"}}
        if (cell_dir / RECORD_NAME).is_file():
            _update_record(cell_dir / RECORD_NAME, slurm)
        elif (cell_dir / FAILURE_NAME).is_file():
            _update_failure(cell_dir / FAILURE_NAME, slurm)
        elif not report_dead:
            continue
        elif _first(acct["state"]) in ENDED - {"COMPLETED"} or (
                _first(acct["state"]) == "COMPLETED" and _result_missing(run_dir, job_id)):
            spec = specs.get(h) if specs else None
            if spec is None and (cell_dir / "cell.json").is_file():
                spec = json.loads((cell_dir / "cell.json").read_text(encoding="utf-8"))
            if spec is None:
                continue
            write_failure_file(cell_dir, spec, failure_message(job_id, acct, timeout_min), None,
                               {"executor": "slurm", "slurm_array_job": job_id, "slurm": slurm,
                                "failure_kind": failure_kind(acct["state"])})
        else:
            continue
        touched += 1
    return touched


def _needs_annotation(cell_dir: Path, job_id: str) -> bool:
    """A record or failure file without sacct's data, or nothing at all from this job yet."""
    for name in (RECORD_NAME, FAILURE_NAME):
        path = cell_dir / name
        if path.is_file():
            try:
                prov = _read(path).get("provenance") or {}
            except (OSError, ValueError):
                return False
            return (prov.get("slurm") or {}).get("job_id") != job_id
    ingested = cell_dir / FAILURE_INGESTED
    if ingested.is_file():  # this job's failure is in the store already
        try:
            prov = json.loads(ingested.read_text(encoding="utf-8")).get("provenance") or {}
        except (OSError, ValueError):
            return True
        return job_id not in (prov.get("slurm_array_job"), (prov.get("slurm") or {}).get("job_id"))
    return True


def _result_missing(run_dir: Path, job_id: str) -> bool:
    """submitit wrote no result for a job Slurm calls COMPLETED: its worker never ran the cell."""
    return not any((run_dir / "submitit").glob(f"{job_id}_*_result.pkl"))


def _read(path: Path) -> dict[str, Any]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)  # type: ignore[no-any-return]
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _update_record(path: Path, slurm: dict[str, str]) -> None:
    data = _read(path)
    data["provenance"] = {**(data.get("provenance") or {}), "slurm": slurm}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    tmp.replace(path)


def _update_failure(path: Path, slurm: dict[str, str]) -> None:
    data = _read(path)
    data["provenance"] = {**(data.get("provenance") or {}), "slurm": slurm}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
