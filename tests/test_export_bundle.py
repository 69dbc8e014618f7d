"""``adapterx export bundle RUN --to FOLDER``: a grid's results as a folder to check in, on a grid of fake cells (no
training) whose prediction files are written here."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from conftest import import_fake_cell_module

FAKE = "adapterx_test_fake:fake_run_cell"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    import_fake_cell_module()
    monkeypatch.setenv("COLUMNS", "220")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 fake cells (adapter, none|stsb, xnli|panx, seeds 1 and 2), each with prediction files of ~40 kB."""
    tmp = tmp_path_factory.mktemp("bundle-cli")
    import_fake_cell_module()
    recipe = tmp / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "bundle-cli", "backbones": ["tiny"], "methods": ["adapter"],
                                      "intermediates": ["none", "stsb"], "targets": ["xnli", "panx"], "seeds": [1, 2]}))
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(tmp / "run"), "--cell-fn", FAKE])
    assert res.exit_code == 0, res.output
    rng = random.Random(0)
    for cell in sorted((tmp / "run" / "cells").iterdir()):
        task = json.loads((cell / "cell.json").read_text())["target"]
        folder = cell / "predictions" / task
        folder.mkdir(parents=True)
        for lang in ("en", "sw"):
            # incompressible enough that 8 cells pass a 0.1 MB limit and 4 do not
            (folder / f"{lang}.jsonl").write_text("".join(
                json.dumps({"id": str(i), "prediction": "%08x" % rng.getrandbits(32)}) + "\n" for i in range(1500)))
        (folder / "manifest.json").write_text(json.dumps({"split": "test", "task": task}))
    return tmp / "run"


def _export(run: Path, to: Path, *extra: str):
    return runner.invoke(app, ["export", "bundle", str(run), "--to", str(to), *extra])


def test_bundle_holds_store_report_question_predictions_and_manifest(run_dir: Path, tmp_path: Path) -> None:
    to = tmp_path / "docs" / "results" / "study"
    (run_dir / "times.md").write_text("| stage | measured |\n")  # put there by hand: copied, listed in MANIFEST
    res = _export(run_dir, to)
    (run_dir / "times.md").unlink()
    assert res.exit_code == 0, res.output
    assert "8 cells, all predictions" in res.output
    assert (to / "times.md").read_text() == "| stage | measured |\n" and not (to / "plan.json").exists()
    for name in ("results.sqlite", "report.html", "report.md", "report.csv", "report.json", "question.md",
                 "recipe.yaml", "README.md", "MANIFEST.json", "predictions-sha256.json"):
        assert (to / name).is_file(), name
    assert not list(to.glob("results.sqlite-*")) and [p.name for p in tmp_path.iterdir()] == ["docs"]
    con = sqlite3.connect(to / "results.sqlite")
    assert con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 8
    con.close()
    manifest = json.loads((to / "MANIFEST.json").read_text())
    assert manifest["recipe"]["name"] == "bundle-cli" and "bundle-cli" in manifest["recipe"]["yaml"]
    assert manifest["n_cells"] == 8 and manifest["predictions"]["kept"] == "all"
    files = sorted(p.relative_to(to).as_posix() for p in to.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    assert sorted(manifest["files"]) == files
    assert all(_sha(to / f) == digest for f, digest in manifest["files"].items())
    # every prediction file: deterministic gzip of the original bytes (no name, mtime 0), its sha256 listed
    digests = json.loads((to / "predictions-sha256.json").read_text())
    gz = sorted(to.glob("predictions/*/*/*.jsonl.gz"))
    assert len(gz) == 16 and sum(len(v) for v in digests.values()) == 16
    for path in gz:
        h, task, lang = path.parent.parent.name, path.parent.name, path.name.split(".")[0]
        original = (run_dir / "cells" / h / "predictions" / task / f"{lang}.jsonl").read_bytes()
        blob = path.read_bytes()
        assert gzip.decompress(blob) == original
        assert blob[3] & 0x08 == 0 and blob[4:8] == b"\0\0\0\0"  # FLG.FNAME unset, MTIME 0
        assert digests[h][f"{task}/{lang}.jsonl"] == hashlib.sha256(original).hexdigest()
        assert (path.parent / "manifest.json").is_file()
    # question.md: what `adapterx report RUN --question` writes
    assert runner.invoke(app, ["report", str(run_dir), "--question", "--out", str(tmp_path / "q")]).exit_code == 0
    assert (to / "question.md").read_text() == (tmp_path / "q" / "question.md").read_text()
    # the same run gives the same prediction bytes (quiet diffs in git)
    again = tmp_path / "again"
    assert _export(run_dir, again).exit_code == 0
    assert all((again / p.relative_to(to)).read_bytes() == p.read_bytes() for p in gz)


def test_report_and_question_work_on_the_bundle_without_changing_the_store(run_dir: Path, tmp_path: Path) -> None:
    to = tmp_path / "b"
    assert _export(run_dir, to).exit_code == 0
    before = _sha(to / "results.sqlite")
    res = runner.invoke(app, ["report", str(to), "--question"])
    assert res.exit_code == 0, res.output
    assert "panx" in res.output and "xnli" in res.output
    res = runner.invoke(app, ["report", str(to), "--html", "--no-plots", "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    assert (to / "report" / "report.html").is_file()
    assert _sha(to / "results.sqlite") == before and not list(to.glob("results.sqlite-*"))


def test_over_the_limit_only_the_lowest_seed_is_kept(run_dir: Path, tmp_path: Path) -> None:
    to = tmp_path / "b"
    res = _export(run_dir, to, "--max-predictions-mb", "0.1", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["predictions"] == "lowest_seed" and summary["predictions_bytes_all"] > 100_000
    manifest = json.loads((to / "MANIFEST.json").read_text())["predictions"]
    assert manifest["seed"] == 1 and len(manifest["cells_kept"]) == 4 and len(manifest["cells_hash_only"]) == 4
    con = sqlite3.connect(to / "results.sqlite")
    seed_of = dict(con.execute("SELECT cell_hash, seed FROM cells").fetchall())
    con.close()
    kept = {p.name for p in (to / "predictions").iterdir()}
    assert kept == set(manifest["cells_kept"]) and {seed_of[h] for h in kept} == {1}
    assert set(json.loads((to / "predictions-sha256.json").read_text())) == set(seed_of)  # every cell's sha256


def test_refusals_are_one_line_and_leave_nothing(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    to = tmp_path / "b"
    to.mkdir()
    (to / "mine.txt").write_text("keep")
    res = _export(run_dir, to)
    assert res.exit_code == 2 and "--overwrite" in res.output and len(res.output.strip().splitlines()) == 1
    assert [p.name for p in to.iterdir()] == ["mine.txt"]
    res = _export(tmp_path, tmp_path / "c")
    assert res.exit_code == 2 and "holds no results.sqlite" in res.output
    # a failure half-way: the old folder stays as it was, no temporary folder is left beside it
    import adapterx.results.bundle as bundle

    def boom(*_a: object, **_k: object) -> None:
        raise bundle.DataError("report failed")

    monkeypatch.setattr(bundle, "_write_report_files", boom)
    res = _export(run_dir, to, "--overwrite")
    assert res.exit_code == 2 and "report failed" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"] and [p.name for p in to.iterdir()] == ["mine.txt"]
    monkeypatch.undo()
    import_fake_cell_module()
    res = _export(run_dir, to, "--overwrite", "--max-predictions-mb", "0")
    assert res.exit_code == 0 and not (to / "mine.txt").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert json.loads((to / "MANIFEST.json").read_text())["predictions"]["kept"] == "lowest_seed"
