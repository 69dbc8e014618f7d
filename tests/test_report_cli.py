"""``adapterx run`` and ``adapterx report`` end to end, with a fake run_cell (no training)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from conftest import import_fake_cell_module

TESTS = Path(__file__).resolve().parent
RECIPES = TESTS.parent / "recipes"
FAKE = "adapterx_test_fake:fake_run_cell"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake lives in test_results.py; import it under a stable name so --cell-fn can name it.
    import_fake_cell_module()
    monkeypatch.setenv("COLUMNS", "220")  # rich tables: no folding in the captured output


def _recipe(tmp_path: Path, **changes: object) -> Path:
    data = {"name": "cli", "backbones": ["tiny"], "methods": ["full", "adapter", "lora"],
            "intermediates": ["none", "stsb"], "targets": ["xnli", "panx", "xquad"], "seeds": [1, 2]}
    data.update(changes)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "run"
    recipe = _recipe(tmp)
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(out), "--cell-fn", FAKE])
    assert res.exit_code == 0, res.output
    assert "36 cells ran, 0 failed" in res.output
    return out


def test_dry_run_prints_plan_count_and_cost(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(RECIPES / "sts-lowres.yaml"), "--dry-run", "--no-calibrate", "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "108 cells: 0 done, 108 to run" in res.output and "optimizer steps" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke-tiny.yaml"), "--dry-run", "--no-calibrate", "--json",
                              "--set", "seeds=[7, 8]", "--run-dir", str(tmp_path / "r")])
    plan = json.loads(res.stdout)
    assert plan["n_cells"] == 16 and all("seed 7" in c["label"] or "seed 8" in c["label"] for c in plan["cells"])
    assert plan["estimate"]["optimizer_steps"] > 0
    assert plan["execution"] == {"executor": "inline", "processes_per_cell": 1}
    res = runner.invoke(app, ["run", str(RECIPES / "smoke-tiny.yaml"), "--dry-run", "--no-calibrate", "--executor", "local",
                              "--set", "execution.gpus_per_cell=4", "--run-dir", str(tmp_path / "r")])
    assert "executor local, 4 data-parallel processes per cell (accelerate launch)" in res.output
    assert not (tmp_path / "r").exists()


def test_invalid_recipe_and_override_exit_2_with_the_path(tmp_path: Path) -> None:
    bad = _recipe(tmp_path, methods=["full", {"name": "lora", "rank": -1}])
    res = runner.invoke(app, ["run", str(bad), "--dry-run"])
    assert res.exit_code == 2 and "methods[1].rank: Input should be greater than or equal to 1" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke-tiny.yaml"), "--dry-run", "--set", "methods[1].rnk=3"])
    assert res.exit_code == 2 and "methods[1].rnk: unknown key. Did you mean 'rank'?" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke-tiny.yaml"), "--dry-run", "--set", "methods[0].rank=2"])
    assert res.exit_code == 2 and "methods[0].rank" in res.output  # smoke-tiny's methods[0] is an adapter


def test_rerun_skips_done_cells(run_dir: Path, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(run_dir), "--cell-fn", FAKE, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 0 and summary["n_done_before"] == 36


def test_report_prints_and_writes_every_format(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(out), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    for text in ("xnli: accuracy per language", "Δ against no intermediate task", "avg low", "Overall",
                 "xquad: no low-resource language", "trainable"):
        assert text in res.output, text
    for name in ("report.md", "report.csv", "report.json", "report.tex", "heatmap_xnli.png", "heatmap_panx.svg",
                 "low_vs_high.png", "low_vs_high.svg", "score_vs_params.png", "score_vs_params.svg"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rep = json.loads((out / "report.json").read_text())
    assert rep["targets"]["panx"]["deltas"]["tiny/adapter/stsb"]["groups"]["low"]["ci"][0] > 0
    csv_text = (out / "report.csv").read_text()
    assert csv_text.startswith("target,condition,backbone,method,intermediate,lang,") and "overall" in csv_text
    assert "\\begin{tabular}" in (out / "report.tex").read_text()


def test_question_answers_in_one_screen(run_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(run_dir), "--question", "--bootstrap", "200", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "Does stsb intermediate training help low-resource languages?" in res.output
    assert "helped" in res.output and "Full fine-tuning first" in res.output
    assert len(res.output.splitlines()) < 40
    res = runner.invoke(app, ["report", str(run_dir), "--question", "--json", "--bootstrap", "200",
                              "--out", str(tmp_path)])
    ans = json.loads(res.stdout)
    rows = {(r["target"], r["method"]): r for r in ans["rows"]}
    assert rows[("panx", "lora")]["verdict"] == "helped" and rows[("panx", "lora")]["excludes_zero"] is True
    assert rows[("panx", "lora")]["reference"]["condition"] == "tiny/full/stsb"
    assert rows[("xquad", "adapter")]["note"] == "no low-resource language in xquad"
    assert (tmp_path / "question.md").is_file()
    # the second table: each (target, method) and the overall row per method, by language group
    matrix = {(r["target"], r["method"]): r["groups"] for r in ans["by_group"]}
    report = json.loads(runner.invoke(app, ["report", str(run_dir), "--json", "--bootstrap", "200", "--no-plots",
                                            "--out", str(tmp_path / "full")]).stdout)
    want = report["targets"]["panx"]["deltas"]["tiny/lora/stsb"]["groups"]
    for g in ("english", "zero_shot", "low", "latin", "other_script"):
        assert matrix[("panx", "lora")][g]["mean"] == pytest.approx(want[g]["mean"])
        assert matrix[("panx", "lora")][g]["ci"] == pytest.approx(want[g]["ci"])
    assert ("overall", "lora") in matrix and "Δ by language group" in (tmp_path / "question.md").read_text()


def test_report_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "results.sqlite" in res.output


def test_missing_packages_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = _recipe(tmp_path, targets=["xnli"], methods=["lora"], seeds=[1])
    monkeypatch.setitem(sys.modules, "submitit", None)
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--executor", "local",
                              "--cell-fn", FAKE])
    assert res.exit_code == 2 and "pip install submitit" in res.output
    if importlib.util.find_spec("mlflow") is None:
        res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--report-to", "mlflow",
                                  "--cell-fn", FAKE])
        assert res.exit_code == 2 and "pip install mlflow" in res.output


def test_report_to_goes_into_the_cell_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import adapterx.grid.runner as runner_mod

    monkeypatch.setattr(runner_mod, "check_report_to", lambda name: None)  # pretend the tracker is installed
    recipe = _recipe(tmp_path, targets=["xnli"], methods=["lora"], intermediates=["none"], seeds=[1])
    out = tmp_path / "r"
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(out), "--report-to", "tensorboard",
                              "--cell-fn", FAKE])
    assert res.exit_code == 0, res.output
    cell = json.loads(next(out.glob("cells/*/cell.json")).read_text())
    assert cell["report_to"] == "tensorboard"


def test_failed_cells_exit_1_and_are_listed(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, methods=["lora"], intermediates=["none"], seeds=[1])
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--cell-fn",
                              "adapterx_test_fake:broken_run_cell"])
    assert res.exit_code == 1 and "boom" in res.output and "2 cells ran, 1 failed" in res.output
