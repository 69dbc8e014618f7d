"""``adapterx run --executor slurm`` end to end, against the fake Slurm of tests/fake_slurm (sbatch, srun, sacct on
PATH; its docstring says what it imitates). submitit itself is real: it writes the sbatch script and the pickles, the
fake runs the array tasks as detached processes with Slurm's environment, and submitit's worker
(``python -m submitit.core._submit``) runs ``execute_cell`` there. Covered: the submission script (partition, array
parallelism, GPUs, ...), workers importing the cell function by name, record files ingested by the driver with slurm
provenance, a rerun submitting nothing, ``--no-wait`` and a later report or run collecting, a run while the array
is still queued waiting for it rather than submitting it again, a raising cell and a killed worker as recorded
failures, and the real run_cell training in a worker.

The grids use ``test_results.fake_run_cell`` (``--cell-fn``): workers import it by name, so tests/ is put on their
PYTHONPATH (a slurm job inherits the submitting shell's environment).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_cli
from test_results import fake_run_cell, small_recipe
from test_slurm_real import _reachable as _real_slurm_missing

from adapterx.grid.recipe import cell_hash, expand, recipe_to_yaml, validate_recipe

pytest.importorskip("submitit")
# Where a real Slurm answers, what a one-node cluster shows is tested there (tests/test_slurm_real.py); the fake keeps
# what one node cannot show (a GPU partition, an account, the exact sbatch script) and a worker killed outright.
on_real_slurm = pytest.mark.skipif(
    _real_slurm_missing() is None, reason="shown on the real Slurm that answers here (tests/test_slurm_real.py)")
if sys.platform == "win32":
    pytest.skip("the fake Slurm needs a POSIX shell", allow_module_level=True)

FAKE_DIR = REPO / "tests" / "fake_slurm"
TESTS_DIR = REPO / "tests"
SLURM = {"partition": "gpu-test", "gpus_per_node": 2, "cpus_per_task": 2, "mem_gb": 4, "timeout_min": 30,
         "array_parallelism": 2, "additional_parameters": {"account": "nlp"}}


class FakeSlurm:
    def __init__(self, state: Path) -> None:
        self.state = state

    def calls(self) -> list[dict[str, Any]]:
        """Every sbatch invocation so far (this session): argv and the job id it printed."""
        log = self.state / "sbatch.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []

    def sacct(self, job_id: int) -> dict[str, str]:
        out = subprocess.run(["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", str(job_id)],
                             capture_output=True, text=True, check=True).stdout
        rows = [line.split("|") for line in out.splitlines()[1:]]
        return {r[0]: r[1] for r in rows if "." not in r[0]}

    def wait_idle(self, job_id: int, timeout: float = 30.0) -> dict[str, str]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = self.sacct(job_id)
            if states and all(s in ("COMPLETED", "FAILED") for s in states.values()):
                return states
            time.sleep(0.1)
        raise AssertionError(f"fake slurm job {job_id} still running: {self.sacct(job_id)}")


@pytest.fixture(scope="session")
def _fake_slurm_dirs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shims and one state folder for the whole session: job ids never repeat, as submitit's sacct watcher
    is shared by every job of this process and caches finished ones by id."""
    bin_dir = tmp_path_factory.mktemp("fake-slurm-bin")
    state = tmp_path_factory.mktemp("fake-slurm-state")
    for name in ("sbatch", "srun", "sacct", "scontrol"):
        shim = bin_dir / name
        shim.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(FAKE_DIR)!r})\n"
                        f"import fake_slurm\nfake_slurm.main({name!r})\n")
        shim.chmod(0o755)
    yield bin_dir, state
    for pid_file in state.glob("*/runner.pid"):  # a failed test may leave its array running: end what we started
        if all(f.read_text() in ("COMPLETED", "FAILED") for f in pid_file.parent.glob("task_*.state")):
            continue  # that runner has exited (its pid may be another process's by now)
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)  # the runner and its tasks: its own session
        except (ProcessLookupError, PermissionError, ValueError):
            pass


@pytest.fixture
def slurm(_fake_slurm_dirs: Any, monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    bin_dir, state = _fake_slurm_dirs
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(state))
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR) if not old else f"{TESTS_DIR}{os.pathsep}{old}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("FAKE_SLURM_HOLD", raising=False)
    return FakeSlurm(state)


def _recipe(tmp_path: Path, name: str = "slurm-grid", **changes: Any) -> Path:
    """4 cells: lora x {none, stsb} x {xnli, panx}, seed 1, with cluster settings to find in the sbatch script."""
    recipe = small_recipe(name=name, methods=["lora"], targets=["xnli", "panx"], seeds=[1],
                          execution={"processes_per_cell": 1, "slurm": SLURM}, **changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(recipe_to_yaml(recipe))
    return path


def _hashes(recipe_path: Path, target: str | None = None) -> set[str]:
    import yaml

    cells = expand(validate_recipe(yaml.safe_load(recipe_path.read_text())))
    return {cell_hash(c) for c in cells if target is None or c["target"] == target}


def _db(run_dir: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return [tuple(r) for r in con.execute(sql)]
    finally:
        con.close()


def _run(recipe: Path, run_dir: Path, *extra: str, cell_fn: str | None = "test_results:fake_run_cell") -> Any:
    args = ["run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--json", *extra]
    res = run_cli(*args, *(["--cell-fn", cell_fn] if cell_fn else []))
    return res, (json.loads(res.stdout) if res.stdout.strip().startswith("{") else None)


def test_grid_runs_as_one_job_array_and_rerun_skips_it(tmp_path: Path, slurm: FakeSlurm) -> None:
    recipe, run_dir = _recipe(tmp_path), tmp_path / "run"
    n_calls = len(slurm.calls())
    res, summary = _run(recipe, run_dir)
    assert res.exit_code == 0, res.output
    assert summary["n_ran"] == 4 and summary["n_failed"] == 0, summary
    assert {o["status"] for o in summary["outcomes"]} == {"done"}

    # One sbatch call, as submitit makes it, for one array of the 4 cells.
    calls = slurm.calls()[n_calls:]
    assert len(calls) == 1, calls
    argv, job_id = calls[0]["argv"], calls[0]["job_id"]
    assert argv[0] == "sbatch" and len(argv) == 2 and Path(argv[1]).parent == run_dir / "submitit", argv
    script = (run_dir / "submitit" / f"{job_id}_submission.sh").read_text()
    for line in ("--partition=gpu-test", "--array=0-3%2", "--gpus-per-node=2", "--cpus-per-task=2", "--mem=4GB",
                 "--time=30", "--account=nlp", "--job-name=adapterx-slurm-grid"):
        assert f"#SBATCH {line}\n" in script, (line, script)
    assert "\nsrun --unbuffered --output " in script and "-m submitit.core._submit" in script

    # Every cell ran in its own array task (a worker process, not this one) and was ingested from its record file.
    assert {h for (h,) in _db(run_dir, "SELECT cell_hash FROM cells")} == _hashes(recipe)
    provs = [json.loads(p) for (p,) in _db(run_dir, "SELECT provenance_json FROM cells")]
    assert {p["executor"] for p in provs} == {"slurm"}
    assert sorted(p["slurm_job_id"] for p in provs) == [str(job_id + i) for i in range(4)]  # one task each
    assert sorted(p["slurm_array_job"] for p in provs) == [f"{job_id}_{i}" for i in range(4)]  # submitit's names
    assert os.getpid() not in {p["pid"] for p in provs}
    assert _db(run_dir, "SELECT COUNT(*) FROM results") == [(2 * 5 + 2 * 5,)]  # 5 languages per target
    for h in _hashes(recipe):
        assert (run_dir / "cells" / h / "record.json.gz").is_file()
    assert slurm.wait_idle(job_id) == {f"{job_id}_{i}": "COMPLETED" for i in range(4)}
    for i in range(4):  # srun's --output with %A_%a/%t expanded: submitit's log of each task
        log = (run_dir / "submitit" / f"{job_id}_{i}_0_log.out").read_text() + \
            (run_dir / "submitit" / f"{job_id}_{i}_0_log.err").read_text()
        assert f"job_id={job_id}_{i}" in log, log

    # Rerun: everything is done, nothing is submitted.
    res, summary = _run(recipe, run_dir)
    assert res.exit_code == 0, res.output
    assert summary["n_ran"] == 0 and summary["n_done_before"] == 4 and summary["outcomes"] == [], summary
    assert len(slurm.calls()) == n_calls + 1


@on_real_slurm
def test_no_wait_returns_at_once_and_a_report_then_a_run_collect(tmp_path: Path, slurm: FakeSlurm,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-wait while the array is still queued; once it ran, `report` ingests the records and the failures the
    workers wrote beside their cells (they have no database access); a failed cell runs again with the next `run`."""
    recipe, run_dir = _recipe(tmp_path), tmp_path / "run"
    hold = tmp_path / "release"
    monkeypatch.setenv("FAKE_SLURM_HOLD", str(hold))  # tasks stay PENDING until the test creates this file
    n_calls = len(slurm.calls())
    started = time.time()
    res, summary = _run(recipe, run_dir, "--no-wait", cell_fn="test_results:broken_run_cell")
    assert res.exit_code == 0, res.output
    assert time.time() - started < 20
    assert summary["submitted_only"] is True and summary["outcomes"] == [], summary
    [call] = slurm.calls()[n_calls:]
    job_id = call["job_id"]
    assert set(slurm.sacct(job_id).values()) == {"PENDING"}  # it returned with the whole array still queued
    assert _db(run_dir, "SELECT COUNT(*) FROM cells") == [(0,)]

    hold.touch()
    states = slurm.wait_idle(job_id)
    assert set(states.values()) == {"COMPLETED"}, states  # a raising cell function is a recorded outcome
    res = run_cli("report", str(run_dir), "--json", "--bootstrap", "0", "--no-plots", "--out", str(tmp_path / "rep"))
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["targets"]["xnli"], "report ingests the record files the workers wrote"
    assert {h for (h,) in _db(run_dir, "SELECT cell_hash FROM cells")} == _hashes(recipe, "xnli")
    for h in _hashes(recipe, "panx"):
        assert "RuntimeError: boom" in (run_dir / "cells" / h / "error.txt").read_text()
    # ...and the failures the workers wrote beside their cells (no waiting run needed to see them).
    assert {f["cell_hash"] for f in report["failures"]} == _hashes(recipe, "panx")
    assert {f["error"] for f in report["failures"]} == {"RuntimeError: boom"}

    # The next run submits only the two failed cells; waiting, it records their failure with the message.
    res, summary = _run(recipe, run_dir, cell_fn="test_results:broken_run_cell")
    assert res.exit_code == 1, res.output
    assert summary["n_done_before"] == 2 and summary["n_failed"] == 2, summary
    assert {o["error"] for o in summary["outcomes"]} == {"RuntimeError: boom"}
    [call] = slurm.calls()[n_calls + 1:]
    assert "#SBATCH --array=0-1%2\n" in (run_dir / "submitit" / f"{call['job_id']}_submission.sh").read_text()
    failures = _db(run_dir, "SELECT cell_hash, error, traceback, provenance_json FROM failures")
    assert {f[0] for f in failures} == _hashes(recipe, "panx")
    for _h, error, tb, prov in failures:
        assert error == "RuntimeError: boom" and "broken_run_cell" in tb, (error, tb)
        assert json.loads(prov)["executor"] == "slurm"

    # Fixed: the failed cells run again and the grid is complete.
    res, summary = _run(recipe, run_dir)
    assert res.exit_code == 0 and summary["n_ran"] == 2, res.output
    assert {h for (h,) in _db(run_dir, "SELECT cell_hash FROM cells")} == _hashes(recipe)


@on_real_slurm
def test_a_run_while_the_array_is_queued_waits_for_it_instead_of_submitting_again(
        tmp_path: Path, slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe, run_dir = _recipe(tmp_path), tmp_path / "run"
    hold = tmp_path / "release"
    monkeypatch.setenv("FAKE_SLURM_HOLD", str(hold))
    n_calls = len(slurm.calls())
    res, summary = _run(recipe, run_dir, "--no-wait")
    assert res.exit_code == 0 and summary["submitted_only"], res.output
    job_id = slurm.calls()[-1]["job_id"]
    assert set(slurm.sacct(job_id).values()) == {"PENDING"}

    from adapterx.grid import executors

    collect = executors._job_outcome

    def release_then_collect(*args: Any, **kwargs: Any) -> Any:
        hold.touch()  # the queue moves once the second run waits for the jobs (it decided while they were queued)
        return collect(*args, **kwargs)

    monkeypatch.setattr(executors, "_job_outcome", release_then_collect)
    res, summary = _run(recipe, run_dir)
    assert res.exit_code == 0, res.output
    assert len(slurm.calls()) == n_calls + 1, "the queued cells were submitted a second time"
    assert summary["n_ran"] == 4 and summary["n_failed"] == 0, summary
    provs = [json.loads(p) for (p,) in _db(run_dir, "SELECT provenance_json FROM cells")]
    assert sorted(p["slurm_job_id"] for p in provs) == [str(job_id + i) for i in range(4)]


def dying_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Kills its worker on panx, as the OOM killer would: no outcome comes back from submitit."""
    if cell["target"] == "panx":
        print("slurmstepd: error: Detected 1 oom_kill event (simulated)", file=sys.stderr, flush=True)
        os._exit(137)
    return fake_run_cell(cell, out_dir)


def test_a_worker_that_dies_is_a_failure_naming_its_job(tmp_path: Path, slurm: FakeSlurm,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit

    monkeypatch.setattr(submitit.SlurmJob, "_results_timeout_s", 1)  # submitit waits 15 s for a late result file
    recipe, run_dir = _recipe(tmp_path, intermediates=["none"]), tmp_path / "run"
    res, summary = _run(recipe, run_dir, cell_fn="test_slurm_executor:dying_run_cell")
    assert res.exit_code == 1, res.output
    job_id = slurm.calls()[-1]["job_id"]
    assert slurm.wait_idle(job_id) == {f"{job_id}_0": "COMPLETED", f"{job_id}_1": "FAILED"}  # cells in grid order
    [failed] = [o for o in summary["outcomes"] if o["status"] == "failed"]
    assert failed["error"].startswith(f"worker died: slurm job {job_id}_1 ended FAILED"), failed
    assert "UncompletedJobError" in failed["error"] and "oom_kill" in failed["error"], failed
    [(h, error, prov)] = _db(run_dir, "SELECT cell_hash, error, provenance_json FROM failures")
    assert h in _hashes(recipe, "panx") and error == failed["error"]
    prov = json.loads(prov)
    assert (prov["executor"], prov["slurm_array_job"], prov["failure_kind"]) == ("slurm", f"{job_id}_1", "crashed")
    assert (prov["slurm"]["job_id"], prov["slurm"]["state"]) == (f"{job_id}_1", "FAILED")
    assert {h for (h,) in _db(run_dir, "SELECT cell_hash FROM cells")} == _hashes(recipe, "xnli")


RECIPE = """
name: slurm-real
backbones: [tiny]
methods:
  - {name: adapter, reduction_factor: 4, lr: 1.0e-2}
intermediates: [none]
targets: [xnli]
seeds: [1]
training:
  target: {max_steps: 4, batch_size: 8, max_length: 32}
data: {source: synthetic, max_train_examples: 64, max_eval_examples: 32}
eval: {languages: [en, sw]}
execution: {slurm: {gpus_per_node: 0, cpus_per_task: 1, mem_gb: 2, timeout_min: 10}}
"""


@on_real_slurm
def test_a_worker_trains_a_real_cell(tmp_path: Path, slurm: FakeSlurm, tiny) -> None:  # noqa: ANN001
    """The real adapterx.grid.run_cell.run_cell in a slurm worker: it imports adapterx, trains the tiny model on
    synthetic data, and the driver ingests its record."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    run_dir = tmp_path / "run"
    res, summary = _run(recipe, run_dir, cell_fn=None)
    assert res.exit_code == 0, res.output
    assert summary["n_ran"] == 1 and summary["n_failed"] == 0, summary
    [(prov,)] = _db(run_dir, "SELECT provenance_json FROM cells")
    prov = json.loads(prov)
    assert prov["executor"] == "slurm" and prov["slurm_job_id"] and prov["pid"] != os.getpid()
    assert prov["run_json"], "the worker's run.json is kept in the provenance"
    assert {lang for (lang,) in _db(run_dir, "SELECT lang FROM results")} == {"en", "sw"}
    [script] = (run_dir / "submitit").glob("*_submission.sh")
    assert "--gpus-per-node" not in script.read_text() and "--cpus-per-task=1" in script.read_text()  # 0 GPUs asked
