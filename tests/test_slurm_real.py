"""``adapterx run --executor slurm`` on a real Slurm: the one-node cluster of tests/slurm/start-local-slurm.sh
(slurmctld, slurmd, slurmdbd for sacct, munge), which .ci/run starts where it can (root and apt). Marked ``slurm``
and skipped, with the failed check as the reason, where no Slurm answers.

Covered: the smoke grid as one array job equals an inline run cell for cell (scores and seeds), with the job name and
sacct's record in each cell's provenance; ``--no-wait`` then a later ``report`` / ``run`` collecting; ``scancel`` of a
running array task is that cell's failure with the Slurm state, and a rerun runs only it; a job past its time limit
is a recorded timeout. Without any Slurm (these run everywhere): sbatch missing and the controller down are one line
naming the failed check, exit 2, before anything is written.

tests/test_slurm_executor.py keeps the fake Slurm (tests/fake_slurm) for machines where no real one can be started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, run_cli
from headless import chromium, render

from adapterx.errors import ConfigError
from adapterx.grid.recipe import cell_hash, expand, validate_recipe
from adapterx.grid.slurm import check_reachable

TESTS = REPO / "tests"
SMOKE = REPO / "recipes" / "smoke-tiny.yaml"
CPU = {"gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 1, "timeout_min": 10}


def _reachable() -> str | None:
    try:
        check_reachable()
    except ConfigError as exc:
        return f"{exc} (tests/slurm/start-local-slurm.sh starts one here where root and apt are available)"
    got = subprocess.run(["sacct", "-n", "-X", "-o", "JobID", "-S", "now"], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        return f"slurm has no accounting (sacct: {got.stderr.strip()[:200]}); start-local-slurm.sh sets up slurmdbd"
    return None


@pytest.fixture(scope="module")
def cluster() -> None:
    reason = _reachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm jobs inherit the submitting environment: the workers import this test module's cell functions."""
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(TESTS) if not old else f"{TESTS}{os.pathsep}{old}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("ADAPTERX_TEST_BLOCK", raising=False)


# Cell functions the workers import by name ("test_slurm_real:...").

def blocking_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Blocks on the target named by $ADAPTERX_TEST_BLOCK (until scancel ends it); the fake cell otherwise."""
    from test_results import fake_run_cell

    if cell["target"] == os.environ.get("ADAPTERX_TEST_BLOCK"):
        time.sleep(600)
    return fake_run_cell(cell, out_dir)


def slow_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The fake cell, after 8 s: still running when the next command looks."""
    from test_results import fake_run_cell

    time.sleep(8)
    return fake_run_cell(cell, out_dir)


def sleeping_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    time.sleep(600)
    raise AssertionError("slept through its time limit")


def _recipe(tmp_path: Path, name: str, targets: list[str], **execution: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "backbones": ["tiny"], "methods": ["lora"], "intermediates": ["none"],
                                    "targets": targets, "seeds": [1],
                                    "execution": {"slurm": {**CPU, **execution}}}))
    return path


def _hash(recipe: Path, target: str) -> str:
    [cell] = [c for c in expand(validate_recipe(yaml.safe_load(recipe.read_text()))) if c["target"] == target]
    return cell_hash(cell)


def _db(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return [tuple(r) for r in con.execute(sql)]
    finally:
        con.close()


def _jobs(run_dir: Path) -> dict[str, str]:
    return json.loads((run_dir / "submitit" / "slurm_jobs.json").read_text())


def _state(job_id: str) -> str:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id], capture_output=True, text=True,
                         check=False).stdout.split()
    return out[0] if out else ""


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.mark.slurm
def test_smoke_grid_on_slurm_equals_inline_with_sacct_in_provenance(cluster: None, env: None, tmp_path: Path) -> None:
    inline, slurm = tmp_path / "inline", tmp_path / "slurm"
    res = run_cli("run", str(SMOKE), "--run-dir", str(inline))
    assert res.exit_code == 0, res.output
    res = run_cli("run", str(SMOKE), "--run-dir", str(slurm), "--executor", "slurm")
    assert res.exit_code == 0, res.output
    assert "8 cells ran, 0 failed" in res.output

    query = "SELECT cell_hash, lang, seed, score FROM results"
    want, got = sorted(_db(inline, query)), sorted(_db(slurm, query))
    assert len(want) > 8 * 10 and got == want  # same cells, languages, seeds and scores

    provs = {h: json.loads(p) for h, p in _db(slurm, "SELECT cell_hash, provenance_json FROM cells")}
    arrays = {p["slurm_array_job"].split("_")[0] for p in provs.values()}
    assert len(arrays) == 1  # one array job for the grid
    for h, p in provs.items():
        acct = p["slurm"]
        assert p["executor"] == "slurm" and acct["job_id"] == p["slurm_array_job"] == _jobs(slurm)[h]
        assert acct["job_name"] == "adapterx-smoke-tiny" and acct["state"] == "COMPLETED"
        assert acct["exit_code"] == "0:0" and re.fullmatch(r"\d\d:\d\d:\d\d", acct["elapsed"])
        assert acct["time_limit"] == "00:30:00" and acct["alloc_cpus"] == "1" and acct["node_list"]
        assert acct["start"] <= acct["end"] and "max_rss" in acct

    # The page shows it too: job name and sacct's record in each cell's provenance.
    res = run_cli("report", str(slurm), "--html", "--no-plots", "--bootstrap", "50", "--out", str(tmp_path / "rep"))
    assert res.exit_code == 0, res.output
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("adapterx-smoke-tiny") >= 8 and page.count("sacct state</dt><dd>COMPLETED") == 8
    if chromium():  # the smoke grid's page renders in a browser without errors or requests
        got = render(tmp_path / "rep" / "report.html", tmp_path / "chromium")
        assert got.page_requests == [] and got.console_errors == [] and "backbone sha256" in got.dom


@pytest.mark.slurm
def test_no_wait_then_report_and_run_collect(cluster: None, env: None, tmp_path: Path) -> None:
    recipe, run_dir = _recipe(tmp_path, "nowait", ["xnli", "panx"]), tmp_path / "run"
    fake = ["--cell-fn", "test_results:fake_run_cell"]
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--no-wait", "--json", *fake)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["submitted_only"] is True
    jobs = _jobs(run_dir)
    _wait(lambda: all(_state(j) == "COMPLETED" for j in jobs.values()), 120, f"array {jobs}")

    res = run_cli("report", str(run_dir), "--json", "--bootstrap", "0", "--no-plots", "--out", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n_cells"] == 2
    provs = [json.loads(p) for (p,) in _db(run_dir, "SELECT provenance_json FROM cells")]
    assert sorted(p["slurm"]["job_id"] for p in provs) == sorted(jobs.values())
    assert {p["slurm"]["state"] for p in provs} == {"COMPLETED"}

    # A grid extended and submitted with --no-wait: the next `run` waits for those jobs, submitting nothing.
    more, fake = ["--set", "seeds=[1,2]"], ["--cell-fn", "test_slurm_real:slow_run_cell"]
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--no-wait", *more, *fake)
    assert res.exit_code == 0, res.output
    submitted = _jobs(run_dir)
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--json", *more, *fake)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 2 and _jobs(run_dir) == submitted, (summary["outcomes"], res.stderr)
    assert len(_db(run_dir, "SELECT cell_hash FROM cells")) == 4


@pytest.mark.slurm
def test_scancel_of_a_running_task_is_that_cells_failure_and_a_rerun_runs_only_it(
        cluster: None, env: None, tmp_path: Path) -> None:
    recipe, run_dir = _recipe(tmp_path, "cancel", ["xnli", "panx"]), tmp_path / "run"
    blocked = _hash(recipe, "panx")
    args = [sys.executable, "-m", "cli", "run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm",
            "--json", "--cell-fn", "test_slurm_real:blocking_run_cell"]
    driver = subprocess.Popen(args, cwd=REPO, env={**os.environ, "ADAPTERX_TEST_BLOCK": "panx"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (run_dir / "submitit" / "slurm_jobs.json").is_file(), 60, "submission")
        task = _jobs(run_dir)[blocked]
        _wait(lambda: _state(task) == "RUNNING" and (run_dir / "cells" / blocked / "cell.json").is_file(), 90,
              f"task {task} running its cell")
        subprocess.run(["scancel", task], check=True)
        out, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 1, err
    outcome = {o["cell_hash"]: o for o in json.loads(out)["outcomes"]}
    assert outcome[_hash(recipe, "xnli")]["status"] == "done"
    assert outcome[blocked]["status"] == "failed"
    assert outcome[blocked]["error"].startswith(f"cancelled: slurm job {task} ended CANCELLED"), outcome[blocked]
    [(h, error, prov)] = _db(run_dir, "SELECT cell_hash, error, provenance_json FROM failures")
    prov = json.loads(prov)
    assert h == blocked and error == outcome[blocked]["error"] and prov["failure_kind"] == "cancelled"
    assert prov["slurm"]["state"].startswith("CANCELLED") and prov["slurm"]["job_name"] == "adapterx-cancel"

    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--json",
                  "--cell-fn", "test_slurm_real:blocking_run_cell")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert [o["cell_hash"] for o in summary["outcomes"]] == [blocked] and summary["n_ran"] == 1
    assert _jobs(run_dir)[blocked] != task and {h for (h,) in _db(run_dir, "SELECT cell_hash FROM cells")} == {
        blocked, _hash(recipe, "xnli")}


@pytest.mark.slurm
def test_a_job_past_its_time_limit_is_a_recorded_timeout(cluster: None, env: None, tmp_path: Path) -> None:
    recipe, run_dir = _recipe(tmp_path, "timeout", ["xnli"], timeout_min=1), tmp_path / "run"
    started = time.time()
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm", "--json",
                  "--cell-fn", "test_slurm_real:sleeping_run_cell")
    assert res.exit_code == 1, res.output
    # The limit ended it, not the 600 s sleep (Slurm sends the warning signal up to a minute early: any time here).
    assert time.time() - started < 240
    [outcome] = json.loads(res.stdout)["outcomes"]
    assert outcome["status"] == "failed" and outcome["error"].startswith("timed out: slurm job"), outcome
    [(error, prov)] = _db(run_dir, "SELECT error, provenance_json FROM failures")
    prov = json.loads(prov)
    assert error == outcome["error"] and prov["failure_kind"] == "timeout"
    assert prov["slurm"]["time_limit"] == "00:01:00" and prov["slurm"]["job_name"] == "adapterx-timeout"


# --------------------------------------------------------------------------------------------------------------
# No Slurm to be had: one line naming the failed check, exit 2, nothing written.


def test_sbatch_missing_is_one_line_naming_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    recipe, run_dir = _recipe(tmp_path, "nosbatch", ["xnli"]), tmp_path / "run"
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "error: slurm check failed: sbatch is not on PATH; run on the cluster's login node (or use --executor local)"]
    assert not run_dir.exists()


@pytest.mark.skipif(not (shutil.which("sbatch") and shutil.which("scontrol")), reason="needs Slurm's client"
                    " commands (sbatch, scontrol): tests/slurm/start-local-slurm.sh installs them")
def test_a_controller_that_does_not_answer_is_one_line_naming_the_check(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "slurm.conf"  # a controller on a port where none listens
    conf.write_text("ClusterName=gone\nSlurmctldHost=localhost\nSlurmctldPort=9\nAuthType=auth/munge\n"
                    "NodeName=localhost\nPartitionName=p Nodes=localhost\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    recipe, run_dir = _recipe(tmp_path, "down", ["xnli"]), tmp_path / "run"
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "slurm")
    assert res.exit_code == 2
    [line] = res.output.strip().splitlines()
    assert line.startswith("error: slurm check failed: `scontrol ping`:") and "DOWN" in line, line
    assert not run_dir.exists()


def test_sacct_records_and_slurm_states_read_as_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapterx.grid.slurm import accounting, failure_kind, failure_message

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    rows = ["JobID|JobName|State|ExitCode|Elapsed|Timelimit|NodeList|AllocCPUS|ReqMem|MaxRSS|Submit|Start|End",
            "12_0|adapterx-g|COMPLETED|0:0|00:00:41|00:30:00|n1|1|2G||s|a|e",
            "12_0.batch|batch|COMPLETED|0:0|00:00:41||n1|1||812K|s|a|e",
            "12_0.0|python|COMPLETED|0:0|00:00:40||n1|1||1.50G|s|a|e",
            "12_1|adapterx-g|CANCELLED by 0|0:0|00:00:09|00:30:00|n2|1|2G||s|a|e",
            "12_2|adapterx-g|TIMEOUT|0:0|00:01:27|00:01:00|n1|1|2G||s|a|e"]
    (bin_dir / "sacct").write_text("#!/bin/sh\ncat <<'X'\n" + "\n".join(rows) + "\nX\n")
    (bin_dir / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    got = accounting(["12_0", "12_1", "12_2", "12_9"])
    assert sorted(got) == ["12_0", "12_1", "12_2"]  # a job sacct does not list is absent
    assert got["12_0"]["max_rss"] == "1.50G" and got["12_0"]["job_name"] == "adapterx-g"
    assert got["12_0"]["elapsed"] == "00:00:41" and got["12_0"]["node_list"] == "n1"
    assert [failure_kind(got[j]["state"]) for j in ("12_1", "12_2")] == ["cancelled", "timeout"]
    assert failure_kind("OUT_OF_MEMORY") == "out_of_memory" and failure_kind("FAILED") == "crashed"
    assert failure_message("12_1", got["12_1"]).startswith("cancelled: slurm job 12_1 ended CANCELLED by 0")
    assert failure_message("12_2", got["12_2"]).startswith(
        "timed out: slurm job 12_2 reached its time limit (00:01:00, execution.slurm.timeout_min)")
