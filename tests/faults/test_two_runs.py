"""Bad-input class 6 (issue "Bad input handled by class"): two runs, one folder. The mechanism is
``adapterx.fsio.output_lock`` (filelock), held by ``RunWriter`` from reservation to commit or abort: a second writer is
refused with one line naming the holder, and the lock file goes when the run ends. Default run folders are unique
(``adapterx.engine.rundir.default_output``). The two-process version is tests/faults/test_concurrency.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapterx import fsio
from adapterx.engine import rundir
from adapterx.errors import ConfigError, HubError

from ._cli import ax, one_line_error, partials


def test_second_writer_of_one_output_is_refused_naming_the_holder(tmp_path: Path, train_calls: list) -> None:
    out = tmp_path / "runs" / "a"
    with fsio.output_lock(out):  # the first run, still training
        res = ax("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "2", "--output", out, "-q")
        one_line_error(res, str(out), f"pid {os.getpid()}")
        assert train_calls == [] and not out.exists()
    assert os.listdir(tmp_path / "runs") == []  # the holder's lock file went with it


def test_the_lock_file_goes_when_the_run_ends(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "b"
    res = ax("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "2", "--batch-size", "8",
             "--output", out, "-q")
    assert res.exit_code == 0, res.stderr
    assert sorted(os.listdir(tmp_path / "runs")) == ["b"]


def test_the_lock_goes_when_the_run_fails_too(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "c"
    res = ax("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "2", "--lr", "-1", "--output", out)
    assert res.exit_code == 2
    assert not (tmp_path / "runs").exists() or os.listdir(tmp_path / "runs") == []


def test_a_writer_of_another_process_is_named(tmp_path: Path) -> None:
    out = tmp_path / "d"
    with fsio.output_lock(out):
        code = ("from adapterx import fsio\nfrom adapterx.errors import ConfigError\ntry:\n"
                f"    with fsio.output_lock({str(out)!r}): print('got it')\nexcept ConfigError as e: print(e)")
        said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert f"is being written by pid {os.getpid()}" in said, said
    assert os.listdir(tmp_path) == []


def test_default_run_folders_are_unique(tmp_path: Path) -> None:
    first = rundir.default_output("stsb", "lora", tmp_path)
    first.mkdir()
    second = rundir.default_output("stsb", "lora", tmp_path)
    assert second != first and second.name.startswith(first.name)
    with fsio.output_lock(second):  # being written, not there yet: still taken
        third = rundir.default_output("stsb", "lora", tmp_path)
    assert third not in (first, second)


def test_stack_default_output_carries_mode_and_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fuse` after `stack` collided on runs/tydiqa.intermediate-stsb: now both name their folders (and the
    intermediates beside them) after the mode, the method and the time."""
    from adapterx.workflows import stack

    seen: list[Path] = []

    def no_training(req, progress=None, prepare=None):  # noqa: ANN001, ANN202
        seen.append(Path(req.output))
        raise ConfigError("stop here")

    monkeypatch.setattr(stack, "train_run", no_training)
    monkeypatch.chdir(tmp_path)
    said = [ax(*cmd, "--model", "tiny", "--max-steps", "1").stderr
            for cmd in (["stack", "stsb", "tydiqa"], ["fuse", "stsb", "siqa", "--target", "tydiqa"])]
    assert len(seen) == 2, said
    stacked, fused = (p.name for p in seen)
    assert stacked.startswith("tydiqa-stack-") and ".intermediate-stsb" in stacked
    assert fused.startswith("tydiqa-fuse-") and stacked.split(".")[0] != fused.split(".")[0]
    assert partials(tmp_path / "runs") == [] if (tmp_path / "runs").exists() else True


def test_two_cells_of_one_grid_share_no_lock(tmp_path: Path) -> None:
    lock = tmp_path / "cells" / "h" / ".lock"
    with fsio.exclusive_lock(lock) as first:
        assert first is None and lock.is_file()
        code = (f"from adapterx import fsio\nwith fsio.exclusive_lock({str(lock)!r}) as o: print(o)")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert other.strip() == f"pid {os.getpid()} on {os.uname().nodename}"
    assert not lock.exists()


def test_hub_push_lock_names_the_other_push(tmp_path: Path) -> None:
    from adapterx.hub import folder

    lock = tmp_path / ".lock"
    with fsio.exclusive_lock(lock):
        code = (f"from adapterx.hub import folder\nfrom pathlib import Path\ntry:\n"
                f"    with folder._file_lock(Path({str(lock)!r}), timeout=0.2): print('got it')\n"
                f"except Exception as e: print(type(e).__name__, e)")
        said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert said.startswith(HubError.__name__) and f"pid {os.getpid()}" in said, said
    assert folder.LOCK_TIMEOUT_S > 0
