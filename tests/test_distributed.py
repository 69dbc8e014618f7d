"""Data-parallel training under ``accelerate launch`` (issue "Experiments": several GPUs per cell), run here as two
CPU processes over gloo: the same code path as NCCL on GPUs but for the backend.

- the pure pieces: how a global batch is split, the batch check, the launch command, processes per cell;
- a training command under ``accelerate launch`` makes the same optimizer steps as one process (the loss curve of
  20 steps matches to dropout noise), writes one run directory and prints once;
- a recipe with ``execution.processes_per_cell: 2`` trains each cell, intermediate and target, on two processes and
  records it; a failing launch fails its cell with the launch's own error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from adapterx.engine import distributed
from adapterx.errors import ConfigError
from adapterx.grid.recipe import ExecutionConfig
from adapterx.engine.loop import TrainingError, check_batch

pytest.importorskip("accelerate")


# ------------------------------------------------------------------------------------------------ pure pieces


@pytest.mark.parametrize("n, batch, world", [(10, 4, 2), (10, 4, 4), (7, 3, 2), (5, 8, 4), (1, 4, 2)])
def test_shards_of_a_global_batch_cover_it_once(n: int, batch: int, world: int) -> None:
    order = list(range(n))[::-1]
    for pos in range(0, n, batch):
        chunk = order[pos : pos + batch]
        parts = [distributed.shard(chunk, order, r, world) for r in range(world)]
        assert all(parts), "every rank gets at least one example (DDP needs all ranks in every step)"
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        got = sorted(i for p in parts for i in p)
        if len(chunk) >= world:
            assert got == sorted(chunk)  # a partition of the chunk
        else:  # topped up from the start of the order, nothing of the chunk lost
            assert set(chunk) <= set(got) and len(got) == world


def test_one_process_takes_the_whole_batch() -> None:
    assert distributed.shard([3, 1, 2], [3, 1, 2, 0], 0, 1) == [3, 1, 2]


def test_the_batch_must_split_evenly() -> None:
    check_batch(16, 4)
    with pytest.raises(TrainingError, match="use 8 or 12"):
        check_batch(10, 4)


def test_launch_command_pins_every_setting() -> None:
    cmd = distributed.launch_command(4, "adapterx.grid.launch", ["a", "b"], port=29999)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    for flag, value in (("--num_processes", "4"), ("--mixed_precision", "no"), ("--main_process_port", "29999")):
        assert cmd[cmd.index(flag) + 1] == value
    assert cmd[-4:] == ["-m", "adapterx.grid.launch", "a", "b"]
    with pytest.raises(ConfigError):
        distributed.launch_command(1, "m", [])


def test_processes_per_cell_follow_the_gpus_unless_given() -> None:
    ex = ExecutionConfig(gpus_per_cell=4)
    assert (ex.processes("inline"), ex.processes("local"), ex.processes("slurm")) == (1, 4, 1)
    assert ExecutionConfig(slurm={"gpus_per_node": 8}).processes("slurm") == 8
    assert ExecutionConfig(gpus_per_cell=4, processes_per_cell=2).processes("local") == 2


def test_outside_a_launch_nothing_is_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched() and distributed.is_main() and distributed.setup() is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="does not run data-parallel"):
        distributed.refuse("train-language")


# ------------------------------------------------------------------------------------ a command, two processes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


ARGS = ["train-target", "xnli", "--model", "tiny", "--method", "lora", "--max-steps", "20", "--batch-size", "8",
        "--lr", "1e-2", "--langs", "en,sw,de", "--eval-steps", "10"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny) -> tuple[Path, Path, str]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("ddp")
    single, double = root / "single", root / "double"
    res = run_cli(*ARGS, "--output", str(single), "--quiet")
    assert res.exit_code == 0, res.output
    cmd = distributed.launch_command(2, "cli", [*ARGS, "--output", str(double), "--report-to", "tensorboard"])
    proc = subprocess.run(cmd, cwd=root, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return single, double, proc.stdout


def test_two_processes_make_the_steps_of_one(two_runs: tuple[Path, Path, str]) -> None:
    single, double, _ = two_runs
    a = json.loads((single / "metrics.json").read_text())["loss_curve"]
    b = json.loads((double / "metrics.json").read_text())["loss_curve"]
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 21))
    # Same examples in every step (each rank takes half of the global batch of 8) and gradients averaged: the curves
    # differ only by dropout masks. Measured: |diff| 0.001 at step 1, mean 0.02 over the 20 steps; a run that saw
    # other batches, or half of each batch, differs by ~0.1 per step (the loss itself moves 0.95-1.45).
    assert abs(a[0][1] - b[0][1]) < 0.02
    assert sum(abs(x - y) for (_, x), (_, y) in zip(a, b)) / len(a) < 0.05


def test_the_launch_writes_one_run_and_prints_once(two_runs: tuple[Path, Path, str]) -> None:
    _, double, stdout = two_runs
    run = json.loads((double / "run.json").read_text())
    assert run["distributed"] == {"world_size": 2, "backend": "gloo", "launcher": "accelerate", "per_process_batch": 4}
    assert run["hyperparameters"]["batch_size"] == 8  # the global batch, as asked
    assert (double / "module").is_dir() and sorted(run["languages"]) == ["de", "en", "sw"]
    assert stdout.count("English dev (best)") == 1, stdout  # rank 1 prints nothing
    assert not list(double.parent.glob(".double.partial-*"))  # no rank left a temporary folder behind
    # One tracker, rank 0's, with the averaged loss of every step.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert len(list((double / "tracking").glob("events.out.tfevents.*"))) == 1
    acc = EventAccumulator(str(double / "tracking"))
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    curve = json.loads((double / "metrics.json").read_text())["loss_curve"]
    assert [s for s, _ in logged] == [s for s, _ in curve] == list(range(1, 21))
    assert [v for _, v in logged] == pytest.approx([v for _, v in curve], abs=1e-5)  # float32 in the event file


def test_the_ranks_split_the_zero_shot_evaluation_and_score_as_one_process(two_runs: tuple[Path, Path, str],
                                                                            tmp_path: Path) -> None:
    _, double, _ = two_runs
    ev = json.loads((double / "metrics.json").read_text())["eval"]["xnli"]
    assert list(ev["scores"]) == ["de", "en", "sw"]  # rank 0 scored de and sw, rank 1 en; in the selection's order
    assert "evaluated by 2 processes, languages split between them" in ev["notes"]
    # The saved module evaluated again in one process: the same numbers, example for example.
    res = run_cli("eval", "xnli", "--module", str(double), "--model", "tiny", "--langs", "en,sw,de", "--json",
                  "--save-predictions", str(tmp_path / "again"))
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["scores"] == ev["scores"] and again["n_examples"] == ev["n_examples"]
    for lang in ("en", "sw", "de"):
        assert (tmp_path / "again" / "xnli" / f"{lang}.jsonl").read_text() == \
            (double / "predictions" / "xnli" / f"{lang}.jsonl").read_text()


def test_a_batch_that_does_not_split_fails_before_training(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    cmd = distributed.launch_command(2, "cli", [*ARGS[:6], "--batch-size", "7", "--output", str(tmp_path / "o")])
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "must divide by the 2 processes" in proc.stdout + proc.stderr
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ a recipe, two per cell

RECIPE = """
name: ddp-grid
backbones: [tiny]
methods:
  - {name: adapter, reduction_factor: 4, lr: 1.0e-2}
  - {name: full, lr: 1.0e-3}
intermediates: [stsb]
targets: [xnli]
seeds: [1]
training:
  intermediate: {max_steps: 4, batch_size: 8, max_length: 32}
  target: {max_steps: 4, batch_size: 8, max_length: 32}
data: {source: synthetic, max_train_examples: 64, max_eval_examples: 32}
eval: {languages: [en, sw]}
execution: {processes_per_cell: 2}
"""


def test_recipe_cells_train_on_two_processes_each(tmp_path: Path, tiny, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    run_dir = tmp_path / "run"
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 2 and summary["n_failed"] == 0, summary
    for cell in run_dir.glob("cells/*"):
        target = json.loads((cell / "run" / "run.json").read_text())
        assert target["distributed"]["world_size"] == 2
        assert (cell / "launch.log").is_file() and (cell / "launch-result.json").is_file()  # rank 0's result
    for inter in run_dir.glob("intermediates/*/stsb/run.json"):
        assert json.loads(inter.read_text())["distributed"]["world_size"] == 2
    assert len(list(run_dir.glob("intermediates/*/stsb/run.json"))) == 2
    res = run_cli("report", str(run_dir), "--json", "--bootstrap", "50", "--out", str(tmp_path / "rep"))
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["targets"]["xnli"]
    assert rows, "the report reads the cells the launched ranks recorded"
    # Rerun: nothing left to do, nothing launched.
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--json")
    assert json.loads(res.stdout)["n_ran"] == 0


def test_a_failing_launch_fails_its_cell_with_the_reason(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("target: {max_steps: 4, batch_size: 8", "target: {max_steps: 4, batch_size: 7")
                      .replace("  - {name: full, lr: 1.0e-3}\n", "").replace("intermediates: [stsb]", "intermediates: [none]"))
    res = run_cli("run", str(recipe), "--run-dir", str(tmp_path / "run"), "--json")
    summary = json.loads(res.stdout)
    assert summary["n_failed"] == 1, summary
    assert "must divide by the 2 processes" in summary["outcomes"][0]["error"]


# ------------------------------------------------------------------------------------ submitit's local executor


def test_local_executor_runs_real_cells_in_worker_processes(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    """`--executor local`: submitit starts one worker process per cell (two at once), each imports the real
    run_cell and writes the shared SQLite store; the second worker's cell trains on two processes of its own."""
    pytest.importorskip("submitit")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("execution: {processes_per_cell: 2}", "execution: {max_parallel: 2}")
                      .replace("intermediates: [stsb]", "intermediates: [none]"))
    run_dir = tmp_path / "run"
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "local", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 2 and summary["n_failed"] == 0, summary
    import sqlite3

    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        provs = [json.loads(r[0]) for r in con.execute("SELECT provenance_json FROM cells")]
    finally:
        con.close()
    assert {p["executor"] for p in provs} == {"local"}
    assert len({p["pid"] for p in provs}) == 2 and os.getpid() not in {p["pid"] for p in provs}  # worker processes
    assert list((run_dir / "submitit").glob("*_log.out")), "submitit kept each worker's log"
    # One more cell, data-parallel inside its local worker (submitit -> accelerate launch -> 2 ranks).
    res = run_cli("run", str(recipe), "--run-dir", str(run_dir), "--executor", "local", "--processes-per-cell", "2",
                  "--set", "seeds=[1, 2]", "--set", "methods=[{name: adapter, reduction_factor: 4, lr: 1.0e-2}]",
                  "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 1 and summary["n_done_before"] == 1, summary
    new = next(run_dir.glob("cells/*/launch-result.json")).parent
    assert json.loads((new / "run" / "run.json").read_text())["distributed"]["world_size"] == 2


def test_multitask_training_runs_data_parallel(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    """Multi-task training goes through the one loop, so it launches like any run (each step trains one task's
    head: DDP looks for the unused ones)."""
    args = ["train-intermediate", "stsb", "mnli", "--model", "tiny", "--method", "lora", "--max-steps", "4",
            "--batch-size", "8", "--eval-steps", "2", "--output", str(tmp_path / "mt"), "--quiet"]
    proc = subprocess.run(distributed.launch_command(2, "cli", args), cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads((tmp_path / "mt" / "run.json").read_text())
    assert run["distributed"]["world_size"] == 2 and run["multitask"]["tasks"] == ["stsb", "mnli"]
    assert json.loads((tmp_path / "mt" / "metrics.json").read_text())["steps"] == 4


@pytest.mark.parametrize("args", [["eval", "xnli", "--module", "none", "--model", "tiny", "--langs", "en"],
                                  ["retrieve", "tatoeba", "--module", "none", "--model", "tiny", "--langs", "de"],
                                  ["train-language", "sw", "--model", "tiny"]])
def test_commands_that_are_not_data_parallel_refuse_a_launch(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = run_cli(*args)
    assert res.exit_code == 2 and "does not run data-parallel: start it without accelerate launch" in res.stderr


RACE = '''
import shutil
from adapterx.engine import distributed
from adapterx.grid.run_cell import run_cell
from adapterx.engine.rundir import RunWriter

_commit = RunWriter.commit


def commit_after_a_competitor(self):
    # As if another worker committed this shared intermediate while rank 0 trained it: rank 0's commit then fails
    # with "appeared while this run was training" -- and rank 0 alone sees that.
    if "intermediates" in str(self.output) and not self.output.exists():
        shutil.copytree(self.tmp, self.output)
    return _commit(self)


def cell(cell, out_dir):
    RunWriter.commit = commit_after_a_competitor
    return run_cell(cell, out_dir)
'''


def test_ranks_agree_when_another_worker_wins_the_shared_intermediate(tmp_path: Path, tiny,  # noqa: ANN001
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 0 alone sees its commit fail (the competitor's module appeared) and goes on with that module; the other
    rank must leave its wait with the same error and do the same, not wait for a collective rank 0 never reaches
    (that hung until the 12-hour group timeout)."""
    from adapterx.grid.launch import run_launched
    from adapterx.grid.recipe import expand, load_recipe

    (tmp_path / "racemod.py").write_text(RACE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("  - {name: full, lr: 1.0e-3}\n", ""))
    [cell] = expand(load_recipe(recipe, []))
    out = tmp_path / "run" / "cells" / "c"
    result = run_launched(cell, out, 2, "racemod:cell", timeout=300)  # returns: no hang (it hung before)
    assert set(result["eval"]["scores"]) == {"en", "sw"}
    [inter] = (tmp_path / "run").glob("intermediates/*/stsb/run.json")
    assert json.loads(inter.read_text())["distributed"]["world_size"] == 2


def test_a_launch_that_runs_past_its_timeout_leaves_no_rank_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess as sp

    from adapterx.grid.launch import run_launched

    (tmp_path / "sleepmod.py").write_text("import time\n\ndef cell(cell, out_dir):\n    time.sleep(600)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(sp.TimeoutExpired):
        run_launched({"target": "xnli"}, tmp_path / "c", 2, "sleepmod:cell", timeout=20)
    left = sp.run(["pgrep", "-f", "sleepmod:cell"], capture_output=True, text=True, check=False).stdout.split()
    assert left == [], f"ranks still running: {left}"


EVAL_FAILS = '''
import adapterx.workflows.eval as pipeline
from adapterx.grid.run_cell import run_cell
from adapterx.errors import DataError

_zero_shot = pipeline.zero_shot


def zero_shot(module, task, tok, langs, *args, **kwargs):
    if "sw" in langs:  # the rank that evaluates sw finds its file unlabelled, say
        raise DataError("xnli test (sw) has examples without gold labels")
    return _zero_shot(module, task, tok, langs, *args, **kwargs)


def cell(cell, out_dir):
    pipeline.zero_shot = zero_shot
    return run_cell(cell, out_dir)
'''


def test_an_error_in_one_ranks_share_of_the_evaluation_fails_the_cell_on_every_rank(
        tmp_path: Path, tiny, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from adapterx.grid.launch import run_launched
    from adapterx.errors import AdapterxError
    from adapterx.grid.recipe import expand, load_recipe

    (tmp_path / "evalfail.py").write_text(EVAL_FAILS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("  - {name: full, lr: 1.0e-3}\n", "").replace("intermediates: [stsb]",
                                                                                    "intermediates: [none]"))
    [cell] = expand(load_recipe(recipe, []))
    with pytest.raises(AdapterxError, match=r"xnli test \(sw\) has examples without gold labels"):
        run_launched(cell, tmp_path / "run" / "cells" / "c", 2, "evalfail:cell", timeout=300)
    assert not (tmp_path / "run" / "cells" / "c" / "run").exists()  # nothing committed
