"""A run killed with SIGKILL during training continues with --resume from its last checkpoint and ends with the
metrics of an uninterrupted run (CPU, same seed); the same command twice gives identical metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from pathlib import Path

from adapterx.engine.rundir import checkpoint_path

ARGS = ["train-intermediate", "stsb", "--model", "tiny", "--method", "lora", "--max-steps", "80", "--eval-steps", "5",
        "--batch-size", "8", "-q"]
TIMING = {"train_time_s", "examples_per_s", "resumed_from_step"}  # the only fields an interruption may change


def _cli(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _metrics(run: Path) -> dict:
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k not in TIMING}


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = _cli(*ARGS, "--output", str(tmp_path / "straight"), env=env)
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    out = tmp_path / "killed"
    ckpt = checkpoint_path(out)
    proc = _cli(*ARGS, "--output", str(out), env=env)
    deadline = time.time() + 120
    while not ckpt.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; raise --max-steps"
    time.sleep(0.3)  # somewhere after the first checkpoint, mid-training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a finished-looking run directory"
    assert ckpt.is_file() and "partial" in ckpt.parent.name

    again = _cli(*ARGS, "--output", str(out), "--resume", env=env)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    resumed = json.loads((out / "metrics.json").read_text())["resumed_from_step"]
    assert resumed is not None and 0 < resumed < 80, "the second run must continue from the checkpoint"
    assert _metrics(out) == _metrics(tmp_path / "straight")
    assert not ckpt.parent.exists(), "the checkpoint is removed once the run is finished"
    assert not list(tmp_path.glob(".killed.partial-*")), "the killed process's temporary folder is cleaned up"


def test_same_command_same_seed_same_metrics(tmp_path):
    from conftest import run_cli

    for name in ("a", "b"):
        res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "12", "--eval-steps", "4",
                      "--batch-size", "8", "--output", str(tmp_path / name), "-q")
        assert res.exit_code == 0, res.stderr
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_gradient_checkpointing_changes_memory_not_results(method, tmp_path):
    from conftest import run_cli

    for name, extra in (("plain", []), ("ckpt", ["--gradient-checkpointing"])):
        res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", method, "--max-steps", "6",
                      "--eval-steps", "3", "--batch-size", "8", "--output", str(tmp_path / name), "-q", *extra)
        assert res.exit_code == 0, res.stderr
    a, b = _metrics(tmp_path / "plain"), _metrics(tmp_path / "ckpt")
    assert [round(x[1], 4) for x in a["loss_curve"]] == [round(x[1], 4) for x in b["loss_curve"]]
