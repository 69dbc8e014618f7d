"""Failures inside a run (issue "Failure inside a run: a clear message, nothing corrupted") and unusable outputs:
NaN/inf loss stops with the step, exit 2 and no run directory (nor a hidden ``.NAME.partial-*`` folder); an output
that exists or cannot be written is refused before anything trains, with a message naming the fix."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ._cli import ax, one_line_error, partials


def _train(out: Path, *extra) -> object:  # noqa: ANN002
    return ax("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "4", "--batch-size", "8",
              "--output", out, "-q", *extra)


# ---------------------------------------------------------------------------------------------- NaN / inf loss


@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_huge_learning_rate_stops_at_the_step_and_leaves_nothing(method, tmp_path):
    out = tmp_path / "nan"
    err = one_line_error(_train(out, "--method", method, "--lr", "1e30"), "loss became", "--lr")
    assert re.search(r"at step \d+", err), err
    assert not out.exists() and not partials(tmp_path), os.listdir(tmp_path)


def test_huge_regression_score_stops_at_the_step_and_leaves_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [f'"a cat number {i} sits","a cat number {i} sat",{1e38 if i % 2 == 0 else 3.0}' for i in range(32)]
    (data / "stsb-en-train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (data / "stsb-en-dev.csv").write_text('"a b","a c",2.0\n"d e","d f",3.0\n"g h","g i",1.0\n', encoding="utf-8")
    out = tmp_path / "inf"
    # Refused when read (the task's rules: STS scores are 0-5), before the loss could overflow at step 1.
    one_line_error(_train(out, "--data", data / "stsb-en-train.csv"), "stsb-en-train.csv:1", "score 1e+38",
                   "outside stsb's range 0-5")
    assert not out.exists() and not partials(tmp_path) and not partials(data)


# ---------------------------------------------------------------------------------------------- late failures


def test_failure_after_training_leaves_no_run_directory(tmp_path, monkeypatch):
    """An error in the zero-shot evaluation, after the module was trained and saved into the partial folder."""
    import adapterx.workflows.train
    from adapterx.errors import DataError

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise DataError("sw.tsv:7: injected fault")

    monkeypatch.setattr(adapterx.workflows.train, "zero_shot", broken)
    out = tmp_path / "late"
    res = ax("train-target", "xnli", "--model", "tiny", "--max-steps", "2", "--langs", "en", "--output", out, "-q")
    one_line_error(res, "sw.tsv:7")
    assert not out.exists() and not partials(tmp_path)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_interrupt_or_crash_inside_training_leaves_no_run_directory(exc, tmp_path, monkeypatch):
    import adapterx.engine.loop

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise exc(28, "No space left on device") if exc is OSError else exc()

    monkeypatch.setattr(adapterx.engine.loop, "train", boom)
    out = tmp_path / "crash"
    res = _train(out)
    if exc is KeyboardInterrupt:
        assert res.exit_code == 130 and res.stderr.strip() == "interrupted"
    else:
        assert isinstance(res.exception, OSError)  # a bug-class error keeps its traceback; the folder is cleaned
    assert not out.exists() and not partials(tmp_path)


# ---------------------------------------------------------------------------------------------- outputs


def test_existing_output_is_refused_before_training_and_left_untouched(tmp_path, train_calls):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    one_line_error(_train(out), str(out), "already exists", "choose another folder or remove it")
    assert not train_calls
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert not partials(tmp_path)


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_unwritable_output_is_refused_before_training(where, tmp_path, train_calls):
    if where == "under-a-file":
        (tmp_path / "a-file").write_text("x", encoding="utf-8")
        out = tmp_path / "a-file" / "run"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out = ro / "run"
    try:
        one_line_error(_train(out), str(out), "cannot write there", "choose a writable folder")
    finally:
        (tmp_path / "ro").exists() and (tmp_path / "ro").chmod(0o755)
    assert not train_calls and not out.exists() and not partials(tmp_path)


def test_stack_with_an_existing_output_and_given_module_trains_nothing(tmp_path, stsb_modules, train_calls):
    out = tmp_path / "exists"
    out.mkdir()
    res = ax("stack", "stsb", "xnli", "--module", f"stsb={stsb_modules['adapter']}", "--model", "tiny",
             "--max-steps", "2", "--langs", "en", "--output", out, "-q")
    one_line_error(res, "already exists", "choose another folder or remove it")
    assert not train_calls and list(out.iterdir()) == [] and not partials(tmp_path)


def test_stack_with_an_existing_output_trains_no_intermediate(tmp_path, train_calls):
    out = tmp_path / "exists"
    out.mkdir()
    res = ax("stack", "stsb", "xnli", "--model", "tiny", "--max-steps", "2", "--langs", "en", "--output", out, "-q")
    one_line_error(res, "already exists")
    assert not train_calls, "an intermediate was trained although the output was unusable"
    assert not (tmp_path / "exists.intermediate-stsb").exists()


def test_stack_with_an_unwritable_output_trains_nothing(tmp_path, train_calls):
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    out = tmp_path / "a-file" / "run"
    res = ax("stack", "stsb", "xnli", "--model", "tiny", "--max-steps", "2", "--langs", "en", "--output", out, "-q")
    one_line_error(res, "cannot write there", "choose a writable folder")
    assert not train_calls and not partials(tmp_path)


def test_run_with_an_unwritable_run_dir_is_one_line(tmp_path):
    from conftest import REPO

    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    res = ax("run", REPO / "recipes" / "smoke-tiny.yaml", "--run-dir", tmp_path / "a-file" / "rd", "--set", "seeds=[1]")
    assert res.exit_code == 2, (res.exception, res.stderr)
    # `run` prints its plan line to stderr first; the error itself is one line.
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "a-file" in errors[0] and "writable" in errors[0], res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "a-file").is_dir()


def test_output_appearing_between_the_check_and_the_rename_is_a_config_error(tmp_path):
    from adapterx.errors import ConfigError
    from adapterx.engine.rundir import RunWriter

    out = tmp_path / "race"
    writer = RunWriter(out)
    writer.write_json("run.json", {"mine": True})

    class Racy(type(out)):
        def exists(self, *a, **k) -> bool:  # noqa: ANN002, ANN003
            # the other run commits right after this check
            self.mkdir()
            (self / "run.json").write_text(json.dumps({"theirs": True}))
            return False

    writer.output = Racy(out)
    with pytest.raises(ConfigError):
        writer.commit()
    assert json.loads((out / "run.json").read_text()) == {"theirs": True}
