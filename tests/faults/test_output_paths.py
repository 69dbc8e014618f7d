"""Bad-input class 4 (issue "Bad input handled by class"): output paths are checked before the work and written
atomically. The mechanism is adapterx/fsio.py: ``check_output_dir`` / ``check_output_file`` before any work, and
``atomic_path`` / ``atomic_open`` / ``atomic_write_*`` / ``atomic_folder`` for every written file, whose OSError is
one line naming the path and the errno with no temporary left. Tests run as root: an unwritable place is a path
under a regular file, or /dev/full."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from adapterx import fsio
from adapterx.errors import ConfigError, WriteError

from ._cli import ax, one_line_error, partials


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "plain.txt"
    f.write_text("not a folder\n", encoding="utf-8")
    return f


# --- the examples -------------------------------------------------------------------------------------


def test_export_xtreme_to_a_file_is_refused_before_reading(tmp_path: Path, a_file: Path) -> None:
    res = ax("export", "xtreme", tmp_path / "no-such-run", "--to", a_file)
    one_line_error(res, "--to", str(a_file), "not a folder")
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"


def test_report_out_dev_full_is_refused_before_the_report(tmp_path: Path) -> None:
    run = tmp_path / "grid"
    (run / "cells" / "abc").mkdir(parents=True)
    (run / "cells" / "abc" / "record.json.gz").write_bytes(b"")
    before = _tree(run)
    one_line_error(ax("report", run, "--out", "/dev/full"), "--out", "/dev/full")
    assert _tree(run) == before  # no results.sqlite, no report/ folder


def test_disk_full_mid_write_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A writer that hits ENOSPC (writing into /dev/full) inside an atomic write: WriteError naming the target
    and the errno; neither the target nor a temporary is left."""
    target = tmp_path / "out" / "report.json"
    with pytest.raises(WriteError) as info:
        with fsio.atomic_open(target) as fh:
            fh.write("{}")
            with open("/dev/full", "w", encoding="utf-8") as full:
                full.write("x" * 65536)
                full.flush()
    msg = str(info.value)
    assert str(target) in msg and "ENOSPC" in msg and "\n" not in msg
    assert _tree(tmp_path / "out") == []


def test_a_finished_run_survives_a_bad_save_predictions_path(tmp_path: Path) -> None:
    """--save-predictions P passes the check (P is a folder) but P/xnli is a file: the write fails after training;
    the run directory was committed first and the one line says where it is."""
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "xnli").write_text("in the way", encoding="utf-8")
    out = tmp_path / "run"
    res = ax("train-target", "xnli", "--model", "tiny", "--max-steps", "1", "--langs", "en", "--max-length", "32",
             "--batch-size", "8", "--output", out, "--save-predictions", preds, "-q")
    one_line_error(res, str(preds / "xnli"), f"the run itself is saved in {out}")
    assert (out / "run.json").is_file() and (out / "metrics.json").is_file()
    assert (preds / "xnli").read_text(encoding="utf-8") == "in the way"


# --- more cases of the class ---------------------------------------------------------------------------------


# (--xtreme-out on synthetic data is refused for that first: a submission never holds synthetic predictions)
@pytest.mark.parametrize("option", ["--save-predictions", "--output"])
def test_train_output_under_a_file_is_refused_before_training(tmp_path: Path, a_file: Path, train_calls: list,
                                                               option: str) -> None:
    args = {"--output": tmp_path / "run", option: a_file / "sub"}
    res = ax("train-target", "xnli", "--model", "tiny", "--max-steps", "2", "--langs", "en",
             *[x for k, v in args.items() for x in (k, v)], "-q")
    one_line_error(res, option, str(a_file))
    assert train_calls == []
    assert not (tmp_path / "run").exists() and partials(tmp_path) == []


def test_eval_save_predictions_under_a_file_is_refused_before_the_model_loads(tmp_path: Path, a_file: Path,
                                                                              stsb_modules: dict) -> None:
    res = ax("eval", "stsb", "--module", stsb_modules["lora"], "--model", "tiny", "--save-predictions", a_file / "p")
    one_line_error(res, "--save-predictions", str(a_file))


def test_score_per_example_out_is_checked_before_scoring(tmp_path: Path, a_file: Path) -> None:
    res = ax("score", tmp_path / "preds", "--gold", tmp_path / "gold", "--per-example", "--out", a_file)
    one_line_error(res, "--out", str(a_file))


def test_atomic_write_never_renames_over_a_device_or_a_folder(tmp_path: Path) -> None:
    for target in (Path("/dev/full"), tmp_path):
        with pytest.raises(WriteError, match="not a regular file"):
            fsio.atomic_write_text(target, "x")
    assert Path("/dev/full").exists() and not Path("/dev/full").is_file()  # still the device


def test_write_under_a_regular_file_names_path_and_errno(a_file: Path) -> None:
    with pytest.raises(WriteError) as info:
        fsio.atomic_write_json(a_file / "x.json", {"a": 1})
    assert str(a_file / "x.json") in str(info.value) and errno.errorcode[errno.EEXIST] in str(info.value)


def test_atomic_folder_commits_whole_or_not_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "folder"
    with pytest.raises(RuntimeError):
        with fsio.atomic_folder(dest) as tmp:
            (tmp / "half").write_text("x", encoding="utf-8")
            raise RuntimeError("killed midway")
    assert os.listdir(tmp_path) == []
    with fsio.atomic_folder(dest) as tmp:
        (tmp / "whole").write_text("x", encoding="utf-8")
    assert os.listdir(dest) == ["whole"] and os.listdir(tmp_path) == ["folder"]


def test_check_output_paths(tmp_path: Path, a_file: Path) -> None:
    assert fsio.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # a check creates nothing
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        fsio.check_output_dir(a_file)
    with pytest.raises(ConfigError, match="already exists"):
        fsio.check_output_dir(tmp_path, may_exist=False)
    with pytest.raises(ConfigError, match="is a folder"):
        fsio.check_output_file(tmp_path)
    with pytest.raises(ConfigError, match="not a regular file"):
        fsio.check_output_file(Path("/dev/full"))
    json.dumps(str(fsio.check_output_file(tmp_path / "r.json")))


@pytest.mark.parametrize("option", ["--save-predictions", "--xtreme-out", "--plot"])
def test_retrieve_output_paths_are_checked_before_encoding(tmp_path: Path, a_file: Path, option: str) -> None:
    res = ax("retrieve", "tatoeba", "--module", "none", "--model", "tiny", "--data", "synthetic", "--layer-sweep",
             option, a_file / "sub")
    one_line_error(res, option, str(a_file), "cannot write there")
    assert os.listdir(a_file.parent) == [a_file.name]
