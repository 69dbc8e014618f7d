"""A killed run's checkpoint (issue "Nothing accepted that is not honoured"): --resume with other settings is refused
naming the field (it continued under the new value and recorded it as used throughout); a damaged checkpoint is one
line (it was torch.load's OSError); a rerun without --resume refuses to start over it (it deleted it silently).
The checkpoint is left as it was in every case."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from adapterx.engine.rundir import checkpoint_path

from ._cli import ax, one_line_error, partials, truncate

ARGS = ("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "6", "--eval-steps", "2", "--batch-size", "8",
        "-q")


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run interrupted right after its first checkpoint (step 2 of 6): its checkpoint file, kept aside."""
    import adapterx.engine.loop as loop

    root = tmp_path_factory.mktemp("killed")
    real = loop._save_checkpoint

    def save_then_die(path, state):  # noqa: ANN001, ANN202
        real(path, state)
        raise KeyboardInterrupt

    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "_save_checkpoint", save_then_die)
    try:
        res = ax(*ARGS, "--output", root / "run")
    finally:
        mp.undo()
    assert res.exit_code == 130, (res.exception, res.stderr)
    ckpt = checkpoint_path(root / "run")
    assert ckpt.is_file() and not (root / "run").exists()
    return ckpt


@pytest.fixture
def leftover(killed: Path, tmp_path: Path) -> Path:
    """``tmp_path/run``'s checkpoint, as a killed run of that output leaves it; returns the output."""
    out = tmp_path / "run"
    dest = checkpoint_path(out)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(killed.read_bytes())
    return out


def _half_written(folder: Path) -> list[str]:
    """Hidden unfinished run folders (the checkpoint folder, also named ``.partial-``, is expected to stay)."""
    return [name for name in partials(folder) if name.startswith(".")]


def _with(args: tuple | list, flags: list[str]) -> list:
    """``args`` with ``flags`` (option-value pairs) in place of the same options: an option given twice is refused."""
    given = dict(zip(flags[::2], flags[1::2]))
    out, i = [], 0
    args = list(args)
    while i < len(args):
        if args[i] in given:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out + list(flags)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("flags", "needles"), [
    (["--lr", "0.01"], ["lr=0.003", "lr=0.01"]),
    (["--batch-size", "16"], ["batch_size=8", "batch_size=16"]),
    (["--method", "lora"], ["method.name=adapter", "method.name=lora"]),
    (["--reduction-factor", "4"], ["method.reduction_factor=16", "method.reduction_factor=4"]),
    (["--seed", "7"], ["seed=42", "seed=7"]),
    (["--data", "synthetic", "--max-steps", "8"], ["max_steps=6", "max_steps=8"]),
])
def test_resume_with_other_settings_names_the_field(flags, needles, leftover):
    before = _digest(checkpoint_path(leftover))
    err = one_line_error(ax(*_with(ARGS, flags), "--output", leftover, "--resume"), "--resume", *needles,
                         "Resume with the same settings", f"remove {checkpoint_path(leftover).parent}")
    assert "method.config" not in err or "method.name" not in err  # another method: its name, not every option
    assert not leftover.exists() and not _half_written(leftover.parent)
    assert _digest(checkpoint_path(leftover)) == before


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not-a-checkpoint"])
def test_damaged_checkpoint_is_one_line(damage, leftover):
    ckpt = checkpoint_path(leftover)
    if damage == "truncate":
        truncate(ckpt)
    elif damage == "garbage":
        ckpt.write_bytes(b"garbage\n")
    else:
        import torch

        torch.save([1, 2, 3], ckpt)
    one_line_error(ax(*ARGS, "--output", leftover, "--resume"), str(ckpt), "--resume",
                   "damaged" if damage != "not-a-checkpoint" else "not a training checkpoint",
                   "without --resume to start over")
    assert not leftover.exists() and ckpt.is_file()


def test_rerun_without_resume_refuses_to_start_over_the_checkpoint(leftover):
    ckpt = checkpoint_path(leftover)
    before = _digest(ckpt)
    one_line_error(ax(*ARGS, "--output", leftover), str(ckpt.parent), "add --resume",
                   "remove that folder to start over")
    assert _digest(ckpt) == before and not leftover.exists() and not _half_written(leftover.parent)


def test_resume_with_the_same_settings_continues(leftover):
    res = ax(*ARGS, "--output", leftover, "--resume")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads((leftover / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 6
    assert not checkpoint_path(leftover).parent.exists()


def test_stack_rerun_without_resume_refuses_before_training(leftover, monkeypatch):
    """stack checks the target's checkpoint before it trains (or reuses) any intermediate."""
    import adapterx.engine.loop

    calls: list = []
    monkeypatch.setattr(adapterx.engine.loop, "train", lambda *a, **k: calls.append(1))
    res = ax("stack", "stsb", "xnli", "--model", "tiny", "--max-steps", "2", "--langs", "en", "--output", leftover, "-q")
    one_line_error(res, "add --resume")
    assert not calls and not (leftover.parent / "run.intermediate-stsb").exists()
