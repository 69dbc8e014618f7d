"""One recipe cell on several processes: ``accelerate launch ... -m adapterx.grid.launch CELL OUT RESULT``.

The runner (:mod:`adapterx.grid.runner`) calls :func:`run_launched` for a cell when the recipe's
``execution.processes_per_cell`` is above 1 (by default: the GPUs a local or slurm worker gets). It starts
``accelerate launch`` on this host; every rank runs the cell function (``adapterx.grid.run_cell:run_cell`` unless a
recipe test injects another), data-parallel (:mod:`adapterx.engine.distributed`), and rank 0 writes the cell's result to
``RESULT`` as JSON, which the runner reads back and records like any other cell's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapterx.errors import AdapterxError, ConfigError
from adapterx.engine import distributed
from adapterx.engine.distributed import launch_command
from adapterx.fsio import atomic_write_json
from adapterx.grid.cell_function import adapterx_pythonpath
from adapterx.grid.cell_function import resolve_cell_fn

LOG_NAME = "launch.log"
RESULT_NAME = "launch-result.json"
ERROR_GLOB = "launch-error-rank*.txt"  # each failing rank's error message, rank 0's first when sorted


def run_launched(cell: dict[str, Any], out_dir: Path, processes: int, cell_fn: str | None = None,
                 threads: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run ``cell`` under ``accelerate launch`` with ``processes`` processes; returns rank 0's result dict.

    The launch's output goes to ``OUT/launch.log``; a failed launch raises with the end of that log. The launch runs
    in a process group of its own, ended with this call however it ends (an error, Ctrl-C, a ``timeout`` in
    seconds, a TERM from a scheduler), so no rank outlives the cell holding a GPU.
    """
    if cell_fn is not None and not isinstance(cell_fn, str):
        raise ConfigError("processes_per_cell > 1 starts new processes: give the cell function as 'module:function'")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cell_file, result_file = out_dir / "launch-cell.json", out_dir / RESULT_NAME
    cell_file.write_text(json.dumps(cell, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for stale in [result_file, *out_dir.glob(ERROR_GLOB)]:
        stale.unlink(missing_ok=True)
    args = [str(cell_file), str(out_dir), str(result_file)] + (["--cell-fn", cell_fn] if cell_fn else [])
    env = dict(os.environ)
    # N ranks share the worker's cores (`threads`, or the host's): a thread pool of cores / N each (torchrun would
    # otherwise pick 1); 8 cores, 2 ranks -> 4 threads per rank.
    env["OMP_NUM_THREADS"] = str(max(1, (threads or os.cpu_count() or 2) // processes))

    env["PYTHONPATH"] = adapterx_pythonpath(env.get("PYTHONPATH"))  # the ranks import this adapterx
    with (out_dir / LOG_NAME).open("wb") as log:
        proc = subprocess.Popen(launch_command(processes, "adapterx.grid.launch", args), stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with _term_raises():
            try:
                proc.wait(timeout=timeout)
            except BaseException:
                _end_group(proc)
                raise
    # Rank 0 writes the result only after the cell finished on every rank; a launch that then dies on its way out
    # (the process group's teardown) still has its result. A rank's error file means it did not finish, and its
    # message (what the single-process cell would have raised) beats torchrun's summary of exit codes.
    errors = sorted(out_dir.glob(ERROR_GLOB))
    if result_file.is_file() and not errors:
        return json.loads(result_file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    if errors:
        raise AdapterxError(errors[0].read_text(encoding="utf-8") + f" (under accelerate launch of {processes}"
                            f" processes; log: {out_dir / LOG_NAME})")
    tail = (out_dir / LOG_NAME).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
    raise AdapterxError(f"accelerate launch of {processes} processes exited with {proc.returncode}"
                        f" (log: {out_dir / LOG_NAME}):\n" + "\n".join(tail))


def _end_group(proc: subprocess.Popen) -> None:
    """TERM the launch's process group (accelerate, torchrun and every rank), KILL what is left after 30 s."""
    import signal

    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def _term_raises() -> Iterator[None]:
    """While the launch runs, a TERM to this process (a scheduler's timeout) raises SystemExit, so the cleanup above
    runs instead of the process vanishing with its ranks left behind. Main thread only (signal's rule)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: list[str] | None = None) -> int:
    """The entry point of each launched rank."""
    parser = argparse.ArgumentParser(prog="python -m adapterx.grid.launch", description=__doc__.splitlines()[0])
    parser.add_argument("cell", type=Path, help="the cell's JSON (written by run_launched)")
    parser.add_argument("out_dir", type=Path, help="the cell's folder, cells/<hash>")
    parser.add_argument("result", type=Path, help="where rank 0 writes the cell's result JSON")
    parser.add_argument("--cell-fn", default=None, help="module:function (default adapterx.grid.run_cell:run_cell)")
    ns = parser.parse_args(argv)

    cell = json.loads(ns.cell.read_text(encoding="utf-8"))
    try:
        result = resolve_cell_fn(ns.cell_fn)(cell, ns.out_dir)
    except Exception as exc:
        msg = str(exc) if isinstance(exc, AdapterxError) else f"{type(exc).__name__}: {exc}"
        (ns.out_dir / ERROR_GLOB.replace("*", str(distributed.rank()))).write_text(msg, encoding="utf-8")
        raise
    if distributed.is_main():
        atomic_write_json(ns.result, result, indent=None, default=str)
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
