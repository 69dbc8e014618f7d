"""A fake Slurm for tests: imitates only what submitit (1.5) runs of sbatch, srun and sacct, on this machine.

The test writes three executables ``sbatch``, ``srun``, ``sacct`` into a folder it puts first on PATH; each one is
``#!<python>`` calling :func:`main` with its name. What they do:

- ``sbatch SCRIPT`` (submitit's exact argv) prints ``Submitted batch job <id>``, the line submitit parses, and
  starts a detached background process (``run``) that executes the script's tasks with ``bash``: one task, or one
  per index of ``#SBATCH --array=0-N%P``, at most P at once. Each task gets the environment of the submitting
  process (sbatch's default ``--export=ALL``) plus the SLURM_* variables a batch step has (the ones submitit's
  SlurmJobEnvironment reads among them) and appends its stdout/stderr to the ``#SBATCH --output/--error`` files.
  As on Slurm, array task ``i`` of array job ``A`` has its own job id ``A + i`` (SLURM_JOB_ID) besides
  SLURM_ARRAY_JOB_ID=A, SLURM_ARRAY_TASK_ID=i.
- ``srun --unbuffered --output F [--error F] CMD...`` runs CMD (in place: exec) with its output appended to F.
- ``sacct -o JobID,State,NodeList --parsable2 -j ID [-j ID...]`` prints each task's state: PENDING, RUNNING,
  COMPLETED or FAILED (the script's exit status), from the marker files the background process writes.

``%A %a %j %t`` in output paths are expanded as Slurm does. ``scontrol ping`` answers UP. Nothing else of Slurm
exists here (no scancel, squeue: submitit calls them only to cancel, requeue or signal jobs).

State lives in ``$FAKE_SLURM_STATE``: ``next_id`` (the job id counter), ``sbatch.jsonl`` (one line per call: argv
and job id), and per job ``<id>/`` holding ``script.sh``, ``runner.pid`` and ``task_<i>.state``. When
``$FAKE_SLURM_HOLD`` names a file, tasks stay PENDING until that file exists (to observe a queue).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


def _state_dir() -> Path:
    return Path(os.environ["FAKE_SLURM_STATE"])


def _expand(path: str, env: dict[str, str]) -> str:
    """Slurm's filename patterns: %A array job id, %a array index, %j job id, %t task rank (always 0 here)."""
    subs = {"A": env.get("SLURM_ARRAY_JOB_ID", env["SLURM_JOB_ID"]), "a": env.get("SLURM_ARRAY_TASK_ID", "0"),
            "j": env["SLURM_JOB_ID"], "t": env.get("SLURM_PROCID", "0"), "%": "%"}
    return re.sub(r"%([Aajt%])", lambda m: subs[m.group(1)], path)


def _directives(script: str) -> dict[str, str]:
    """``#SBATCH --key=value`` lines (submitit writes them so) as {key: value}; a bare flag maps to ''."""
    out = {}
    for m in re.finditer(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script, re.M):
        out[m.group(1)] = (m.group(2) or "").strip().strip("'\"")
    return out


def _set_state(job_dir: Path, task: int, state: str) -> None:
    tmp = job_dir / f".task_{task}.tmp"
    tmp.write_text(state)
    os.replace(tmp, job_dir / f"task_{task}.state")  # sacct never reads a half-written file


def _new_job_id(n_ids: int) -> int:
    import fcntl

    with open(_state_dir() / "next_id.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counter = _state_dir() / "next_id"
        job_id = int(counter.read_text()) if counter.is_file() else 1000
        counter.write_text(str(job_id + n_ids))
    return job_id


def sbatch(args: list[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        print(f"fake sbatch: only `sbatch SCRIPT` is imitated, got {args}", file=sys.stderr)
        return 1
    script = Path(args[0]).read_text()  # now: submitit renames the file as soon as we return
    array = re.fullmatch(r"0-(\d+)(?:%(\d+))?", _directives(script).get("array", "")) if "--array" in script else None
    n_tasks = int(array.group(1)) + 1 if array else 1
    job_id = _new_job_id(n_tasks)
    job_dir = _state_dir() / str(job_id)
    job_dir.mkdir()
    (job_dir / "script.sh").write_text(script)
    for i in range(n_tasks):
        _set_state(job_dir, i, "PENDING")
    with open(_state_dir() / "sbatch.jsonl", "a") as fh:
        fh.write(json.dumps({"argv": ["sbatch", *args], "job_id": job_id, "cwd": os.getcwd()}) + "\n")
    runner = subprocess.Popen([sys.executable, __file__, "run", str(job_dir)], start_new_session=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=open(job_dir / "runner.err", "w"))  # noqa: SIM115 - the child keeps it
    (job_dir / "runner.pid").write_text(str(runner.pid))
    print(f"Submitted batch job {job_id}")
    return 0


def run(job_dir: Path) -> int:
    """The background part of sbatch: run the tasks, P at a time, and keep their state files current."""
    script = job_dir / "script.sh"
    flags = _directives(script.read_text())
    job_id = int(job_dir.name)
    array = re.fullmatch(r"0-(\d+)(?:%(\d+))?", flags.get("array", ""))
    n_tasks = int(array.group(1)) + 1 if array else 1
    parallel = int(array.group(2)) if array and array.group(2) else n_tasks
    hold = os.environ.get("FAKE_SLURM_HOLD")
    deadline = time.time() + 60  # a forgotten hold does not keep processes around
    while hold and not Path(hold).exists() and time.time() < deadline:
        time.sleep(0.1)
    pending, running = list(range(n_tasks)), {}
    while pending or running:
        while pending and len(running) < parallel:
            i = pending.pop(0)
            env = dict(os.environ, SLURM_JOB_ID=str(job_id + i), SLURM_JOBID=str(job_id + i), SLURM_NTASKS="1",
                       SLURM_NPROCS="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
                       SLURM_JOB_NUM_NODES="1", SLURM_NNODES="1", SLURM_JOB_NODELIST="localhost",
                       SLURMD_NODENAME="localhost", SLURM_SUBMIT_DIR=os.getcwd(),
                       SLURM_JOB_NAME=flags.get("job-name", "script"), SLURM_JOB_PARTITION=flags.get("partition", ""))
            if array:
                env.update(SLURM_ARRAY_JOB_ID=str(job_id), SLURM_ARRAY_TASK_ID=str(i),
                           SLURM_ARRAY_TASK_COUNT=str(n_tasks))
            out = open(_expand(flags["output"], env), "a")  # noqa: SIM115 - closed when the task ends
            err = open(_expand(flags["error"], env), "a") if "error" in flags else out  # noqa: SIM115
            running[i] = (subprocess.Popen(["bash", str(script)], env=env, stdout=out, stderr=err,
                                           stdin=subprocess.DEVNULL), out, err)
            _set_state(job_dir, i, "RUNNING")
        time.sleep(0.05)
        for i, (proc, out, err) in list(running.items()):
            if proc.poll() is not None:
                out.close()
                err.close()
                _set_state(job_dir, i, "COMPLETED" if proc.returncode == 0 else "FAILED")
                del running[i]
    return 0


def srun(args: list[str]) -> int:
    files = {"--output": None, "--error": None}
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        key, _, value = opt.partition("=")
        if key in files:
            files[key] = value or args.pop(0)
        elif key != "--unbuffered":
            print(f"fake srun: option {opt} is not imitated", file=sys.stderr)
            return 1
    env = dict(os.environ, SLURM_STEP_ID="0", SLURM_PROCID="0", SLURM_LOCALID="0")
    for key, fd in (("--output", 1), ("--error", 2)):
        path = files[key] or (files["--output"] if key == "--error" else None)
        if path:
            target = os.open(_expand(path, env), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(target, fd)
    os.execvpe(args[0], args, env)
    return 127  # not reached


def sacct(args: list[str]) -> int:
    fields = args[args.index("-o") + 1].split(",") if "-o" in args else ["JobID", "State"]
    ids = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
    print("|".join(fields))
    for jid in ids:
        base, _, index = jid.partition("_")
        job_dir = _state_dir() / base
        if not job_dir.is_dir():
            continue  # unknown to the accounting: nothing printed, as sacct does
        is_array = "--array" in (job_dir / "script.sh").read_text()
        for state_file in sorted(job_dir.glob("task_*.state"), key=lambda p: int(p.stem[5:])):
            i = state_file.stem[5:]
            if index and i != index:
                continue
            state = state_file.read_text().strip()
            row = {"JobID": f"{base}_{i}" if is_array else base, "State": state,
                   "NodeList": "None assigned" if state == "PENDING" else "localhost"}
            print("|".join(row.get(f, "") for f in fields))
            if state != "PENDING":  # the batch step, as sacct lists it (submitit skips step lines)
                print("|".join({**row, "JobID": row["JobID"] + ".batch"}.get(f, "") for f in fields))
    return 0


def scontrol(args: list[str]) -> int:
    """Only ``scontrol ping`` (adapterx's reachability check): the controller is always up here."""
    if args[:1] != ["ping"]:
        print(f"fake scontrol: only `scontrol ping` is imitated, got {args}", file=sys.stderr)
        return 1
    print("Slurmctld(primary) at localhost is UP")
    return 0


def main(name: str) -> None:
    commands = {"sbatch": sbatch, "srun": srun, "sacct": sacct, "scontrol": scontrol}
    if name == "run":
        sys.exit(run(Path(sys.argv[2])))
    sys.exit(commands[name](sys.argv[1:]))


if __name__ == "__main__":  # the detached runner: python fake_slurm.py run JOB_DIR
    main(sys.argv[1])
