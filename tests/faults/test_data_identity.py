"""Bad-input class 5, first bullet (issue "Bad input handled by class"), and the changed-data resume of issue "state
that heals" (3c): what was read must be identifiable. The mechanism: the readers' one file reader
(``adapterx.data.readers.files.read_text``) notes each file's sha256 (``record_files``), the data's Provenance carries
them into run.json (``data_reads[].files``), the checkpoint identity (``data_sha256``) and each grid cell's record
(``provenance.data_files``), and ``adapterx.grid.runner.make_plan`` re-runs recorded cells whose files changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from conftest import import_fake_cell_module, store_contents

from adapterx.engine.rundir import checkpoint_path

from ._cli import ax, one_line_error

STS = "sentence1\tsentence2\tscore\n" + "".join(f"Sentence {i} here.\tSentence {i} there.\t{i % 5}.5\n" for i in range(12))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text(STS, encoding="utf-8")
    dev.write_text(STS, encoding="utf-8")
    return train, dev


def test_run_json_records_the_sha256_of_every_file_read(tmp_path: Path) -> None:
    train, dev = _files(tmp_path)
    res = ax("train-intermediate", "stsb", "--model", "tiny", "--train-file", train, "--dev-file", dev,
             "--max-steps", "1", "--batch-size", "4", "--output", tmp_path / "run", "-q")
    assert res.exit_code == 0, res.stderr
    reads = json.loads((tmp_path / "run" / "run.json").read_text())["data_reads"]
    files = {f["path"]: f for r in reads for f in r["files"]}
    assert files[str(train)]["sha256"] == _sha(train) and files[str(dev)]["sha256"] == _sha(dev)
    assert files[str(train)]["bytes"] == train.stat().st_size


def test_resume_over_a_changed_training_file_is_refused(tmp_path: Path) -> None:
    """Killed after its first checkpoint; the training file then changes in place (same path, same rows)."""
    import adapterx.engine.loop as loop

    train, dev = _files(tmp_path)
    out = tmp_path / "run"
    args = ("train-intermediate", "stsb", "--model", "tiny", "--train-file", train, "--dev-file", dev,
            "--max-steps", "4", "--eval-steps", "2", "--batch-size", "4", "--output", out, "-q")
    real = loop._save_checkpoint

    def save_then_die(path, state):  # noqa: ANN001, ANN202
        real(path, state)
        raise KeyboardInterrupt

    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "_save_checkpoint", save_then_die)
    try:
        assert ax(*args).exit_code == 130
    finally:
        mp.undo()
    ckpt = checkpoint_path(out)
    before = ckpt.read_bytes()
    train.write_text(STS.replace("0.5\n", "4.5\n"), encoding="utf-8")  # same rows, other scores
    one_line_error(ax(*args, "--resume"), "--resume", "data_sha256=")
    assert ckpt.read_bytes() == before and not out.exists()


# --- adapterx run: a changed file re-runs the cells that read it -------------------------------------------------


@pytest.fixture
def grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A two-cell grid whose (fake) cells read ``data.tsv``; returns (recipe, run dir, data file, calls)."""
    import_fake_cell_module()
    import adapterx_test_fake  # type: ignore[import-not-found]

    data = tmp_path / "data.tsv"
    data.write_text("one\n", encoding="utf-8")
    calls: list[str] = []

    def cell(c, out_dir):  # noqa: ANN001, ANN202
        calls.append(c["target"])
        return {**adapterx_test_fake.fake_run_cell(c, out_dir), "data_files": {str(data): _sha(data)}}

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "d", "backbones": ["tiny"], "methods": ["adapter"],
                                      "intermediates": ["none"], "targets": ["xnli", "panx"], "seeds": [1]}))
    return recipe, tmp_path / "run", data, calls, cell


def _run(recipe: Path, run: Path, cell):  # noqa: ANN001, ANN202
    from adapterx.grid.recipe import load_recipe
    from adapterx.grid.runner import run_recipe

    return run_recipe(load_recipe(recipe), run, executor="inline", cell_fn=cell)


def test_a_changed_data_file_reruns_the_cells_that_read_it(grid) -> None:  # noqa: ANN001
    from adapterx.grid.recipe import load_recipe
    from adapterx.grid.runner import make_plan

    recipe, run, data, calls, cell = grid
    _run(recipe, run, cell)
    _run(recipe, run, cell)
    assert sorted(calls) == ["panx", "xnli"]  # the second run had nothing to do
    data.write_text("two\n", encoding="utf-8")
    plan = make_plan(load_recipe(recipe), run)
    assert len(plan.stale) == 2 and plan.n_done == 0 and all(v == [str(data)] for v in plan.stale.values())
    _run(recipe, run, cell)
    assert sorted(calls) == ["panx", "panx", "xnli", "xnli"]
    cells, _, _, _ = store_contents(run)
    assert len(cells) == 2  # replaced, not added


def test_a_deleted_data_file_also_reruns(grid) -> None:  # noqa: ANN001
    recipe, run, data, calls, cell = grid
    _run(recipe, run, cell)
    data.unlink()
    data.write_text("one\n", encoding="utf-8")  # the same content again: nothing to do
    _run(recipe, run, cell)
    assert len(calls) == 2
    data.unlink()
    from adapterx.grid.recipe import load_recipe
    from adapterx.grid.runner import make_plan

    assert len(make_plan(load_recipe(recipe), run).stale) == 2


def test_cells_recorded_before_fingerprints_are_counted_not_rerun(grid) -> None:  # noqa: ANN001
    """An older store (no data_files in the cells' provenance) is read as done, with a note (plan.unchecked)."""
    import sqlite3

    from adapterx.grid.recipe import load_recipe
    from adapterx.grid.runner import make_plan

    recipe, run, data, calls, cell = grid
    _run(recipe, run, cell)
    con = sqlite3.connect(run / "results.sqlite")
    with con:
        con.execute("UPDATE cells SET provenance_json = json_remove(provenance_json, '$.data_files')")
    con.close()
    data.write_text("changed\n", encoding="utf-8")
    plan = make_plan(load_recipe(recipe), run)
    assert plan.unchecked == 2 and plan.stale == {} and plan.n_done == 2
    res = ax("run", recipe, "--run-dir", run, "--cell-fn", "adapterx_test_fake:fake_run_cell")
    assert res.exit_code == 0 and "predate data fingerprints" in res.stderr, res.stderr
