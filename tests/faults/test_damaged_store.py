"""A damaged ``results.sqlite`` (issue "no traceback on a fault a user meets"): `report` and `run` ended in
sqlite3.DatabaseError. Now one line names the file and the way back, exit 2, the file untouched; moved aside, the
store is rebuilt from the cells' record files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ._cli import ax, truncate
from conftest import import_fake_cell_module

TESTS = Path(__file__).resolve().parents[1]
FAKE = "adapterx_test_fake:fake_run_cell"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished two-cell grid (the fake cell function of tests/test_results.py): (recipe, run folder)."""
    import_fake_cell_module()
    tmp = tmp_path_factory.mktemp("store")
    recipe = tmp / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "s", "backbones": ["tiny"], "methods": ["adapter"],
                                      "intermediates": ["none"], "targets": ["xnli", "panx"], "seeds": [1]}))
    run = tmp / "run"
    res = ax("run", recipe, "--run-dir", run, "--cell-fn", FAKE)
    assert res.exit_code == 0, (res.exception, res.stderr)
    return recipe, run


def _damage(db: Path, how: str) -> None:
    if how == "truncated":
        truncate(db)
    elif how == "header only":  # cut right after SQLite's 100-byte file header
        with db.open("r+b") as fh:
            fh.truncate(100)
    elif how == "zeroed header":
        data = bytearray(db.read_bytes())
        data[:100] = bytes(100)
        db.write_bytes(bytes(data))
    elif how == "garbage":
        db.write_bytes(b"this is not a database\n" * 300)
    else:  # pages overwritten after the header
        data = bytearray(db.read_bytes())
        for i in range(4096, len(data), 7):
            data[i] = 0xAB
        db.write_bytes(bytes(data))


COMMANDS = ["report", "run", "run --dry-run", "report --json", "report --question", "report --html", "run --json",
            "run --dry-run --json"]


@pytest.mark.parametrize("how", ["truncated", "garbage", "scrambled", "header only", "zeroed header"])
@pytest.mark.parametrize("command", COMMANDS)
def test_damaged_store_is_one_line_and_left_alone(command, how, grid, tmp_path):
    import shutil

    recipe, original = grid
    run = tmp_path / "run"
    shutil.copytree(original, run)
    db = run / "results.sqlite"
    for side in ("results.sqlite-wal", "results.sqlite-shm"):
        (run / side).unlink(missing_ok=True)
    _damage(db, how)
    before = db.read_bytes()
    args = {"report": ["report", run, "--no-plots"],
            "report --json": ["report", run, "--no-plots", "--json"],
            "report --question": ["report", run, "--question", "--intermediate", "none"],
            "report --html": ["report", run, "--no-plots", "--html"],
            "run": ["run", recipe, "--run-dir", run, "--cell-fn", FAKE],
            "run --json": ["run", recipe, "--run-dir", run, "--cell-fn", FAKE, "--json"],
            "run --dry-run": ["run", recipe, "--run-dir", run, "--dry-run", "--no-calibrate"],
            "run --dry-run --json": ["run", recipe, "--run-dir", run, "--dry-run", "--no-calibrate", "--json"]}[command]
    res = ax(*args)
    assert res.exit_code == 2, (res.exception, res.stderr)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]  # `run` prints its plan first
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    for needle in (str(db), "is damaged", f"mv {db} {db}.damaged", "record.json.gz"):
        assert needle in errors[0], errors[0]
    assert db.read_bytes() == before


def test_moved_aside_store_is_rebuilt_from_the_cell_records(grid, tmp_path):
    import shutil

    recipe, original = grid
    run = tmp_path / "run"
    shutil.copytree(original, run)
    for side in ("results.sqlite-wal", "results.sqlite-shm"):
        (run / side).unlink(missing_ok=True)
    truncate(run / "results.sqlite")
    (run / "results.sqlite").rename(run / "results.sqlite.damaged")  # what the message says to do
    res = ax("run", recipe, "--run-dir", run, "--cell-fn", FAKE, "--json")
    assert res.exit_code == 0, (res.exception, res.stderr)
    summary = json.loads(res.stdout)
    assert summary["n_cells"] == 2 and summary["n_done_before"] == 2 and summary["n_ran"] == 0
    res = ax("report", run, "--no-plots", "--json")
    assert res.exit_code == 0, (res.exception, res.stderr)
    assert set(json.loads(res.stdout)["targets"]) == {"xnli", "panx"}


@pytest.mark.parametrize("command", ["report", "run", "run --dry-run"])
@pytest.mark.parametrize("how", ["a folder", "empty file"])
def test_store_that_is_no_database_file(command, how, grid, tmp_path):
    """results.sqlite replaced by a folder, or emptied (SQLite reads 0 bytes as a new database: the cells' records
    must still count as done, not be run again or reported as missing)."""
    import shutil

    recipe, original = grid
    run = tmp_path / "run"
    shutil.copytree(original, run)
    db = run / "results.sqlite"
    for side in ("results.sqlite-wal", "results.sqlite-shm"):
        (run / side).unlink(missing_ok=True)
    db.unlink()
    if how == "a folder":
        db.mkdir()
    else:
        db.write_bytes(b"")
    args = {"report": ["report", run, "--no-plots", "--json"],
            "run": ["run", recipe, "--run-dir", run, "--cell-fn", FAKE, "--json"],
            "run --dry-run": ["run", recipe, "--run-dir", run, "--dry-run", "--no-calibrate", "--json"]}[command]
    res = ax(*args)
    if how == "a folder":
        errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
        assert res.exit_code == 2 and len(errors) == 1 and "Traceback" not in res.stderr, (res.exception, res.stderr)
        assert str(db) in errors[0] and "folder" in errors[0], errors[0]
        return
    assert res.exit_code == 0, (res.exception, res.stderr)
    out = json.loads(res.stdout)
    if command == "report":
        assert set(out["targets"]) == {"xnli", "panx"}
    elif command == "run":
        assert out["n_done_before"] == 2 and out["n_ran"] == 0
    else:
        assert out["n_done"] == 2
