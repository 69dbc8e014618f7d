"""--report-to: the training loop's steps and evaluations reach the tracker (TensorBoard here: it needs no server)."""

from __future__ import annotations

import pytest
from conftest import run_cli


def test_tensorboard_gets_loss_per_step_and_dev_per_evaluation(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "6", "--eval-steps", "3",
                  "--report-to", "tensorboard", "--output", str(out), "-q")
    assert res.exit_code == 0, res.stderr
    acc = EventAccumulator(str(out / "tracking"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in acc.Scalars("dev/spearman")] == [3, 6]


@pytest.mark.parametrize(("name", "needle"), [("tensorbord", "Did you mean 'tensorboard'"), ("comet", "Known: mlflow")])
def test_unknown_tracker_is_refused_before_training(name, needle, tmp_path):
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--report-to", name, "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and needle in res.stderr
    assert not (tmp_path / "o").exists()
