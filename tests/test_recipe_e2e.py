"""The experiment runner for real (issue "Experiments"): ``adapterx run recipes/smoke-tiny.yaml`` trains real cells
through ``adapterx.grid.run_cell.run_cell``, ``adapterx report`` turns them into tables and plots whose numbers recompute
from ``results.sqlite`` with independent code (sqlite3, zlib, json), a rerun runs nothing, and a grid killed with
SIGKILL (from outside while a cell trains, and from inside right after a cell's run dir was committed but before it
was recorded) resumes with exactly the missing cells.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path
from statistics import mean
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import REPO, run_cli, store_contents

SMOKE = str(REPO / "recipes" / "smoke-tiny.yaml")
LANGS = ["en", "ar", "sw"]  # evaluated by both xnli and tydiqa
JOSHI = {"en": 5, "ar": 5, "sw": 2}  # Joshi et al. (2020) classes; <= 2 is low-resource
# 2 methods x (none, stsb) x (xnli, tydiqa) x 1 seed = 8 real cells, a few optimizer steps each.
SHORT = [
    "--set", "targets=[xnli, tydiqa]",
    "--set", "training.intermediate.max_steps=4",
    "--set", "training.target.max_steps=4",
    "--set", f"eval.languages=[{', '.join(LANGS)}]",
    "--set", "training.per_task={tydiqa: {max_length: 256}}",  # QA windows need room for the doc stride
]
N_CELLS = 8
TOL = 1e-3  # stored scores are rounded to 4 decimals


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One torch thread here and in the subprocesses: on 2 shared cores, two spinning OpenMP threads per process
    make these tiny models several times slower (measured 80 s against 22 s for the grid of (a))."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _db(run_dir: Path) -> sqlite3.Connection:
    con = sqlite3.connect(run_dir / "results.sqlite", timeout=30)
    con.row_factory = sqlite3.Row
    return con


def _cells(run_dir: Path) -> list[str]:
    con = _db(run_dir)
    try:
        return [r[0] for r in con.execute("SELECT cell_hash FROM cells")]
    finally:
        con.close()


def _results(run_dir: Path) -> list[sqlite3.Row]:
    con = _db(run_dir)
    try:
        return con.execute("SELECT * FROM results").fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------------------------------- (a) a real grid


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, tiny) -> SimpleNamespace:  # noqa: ANN001
    root = tmp_path_factory.mktemp("grid")
    run_dir = root / "run"
    t0 = time.perf_counter()
    res = run_cli("run", SMOKE, "--run-dir", str(run_dir), *SHORT, "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    seconds = time.perf_counter() - t0
    summary = json.loads(res.stdout)
    rep_dir = root / "report"
    res = run_cli("report", str(run_dir), "--json", "--bootstrap", "200", "--out", str(rep_dir))
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    q_dir = root / "question"
    res = run_cli("report", str(run_dir), "--question", "--json", "--bootstrap", "200", "--out", str(q_dir))
    assert res.exit_code == 0, res.stderr
    question = json.loads(res.stdout)
    return SimpleNamespace(root=root, run=run_dir, summary=summary, report=report, rep_dir=rep_dir,
                           question=question, q_dir=q_dir, seconds=seconds)


def test_the_grid_ran_real_cells_through_run_cell(grid: SimpleNamespace) -> None:
    s = grid.summary
    assert (s["n_cells"], s["n_done_before"], s["n_ran"], s["n_failed"]) == (N_CELLS, 0, N_CELLS, 0), s
    assert len(_cells(grid.run)) == N_CELLS
    for cell_dir in sorted((grid.run / "cells").iterdir()):
        cell = json.loads((cell_dir / "cell.json").read_text())
        run = json.loads((cell_dir / "run" / "run.json").read_text())  # written by the real training
        assert run["command"] in ("run", "stack") and run["task"] == cell["target"] and run["backbone"]["id"] == "tiny"
        assert run["method"]["name"] == cell["method"]["name"] and sorted(run["languages"]) == sorted(LANGS)
        assert run["chain"] == [*cell["intermediate"], cell["target"]]
        assert (cell_dir / "run" / "module" / "adapterx_module.json").is_file()
        if cell["intermediate"]:
            assert run["composition"]["kind"] == {"adapter": "stack", "lora": "sum"}[cell["method"]["name"]]
    # One stsb module per method, trained once and reused by both targets (the cells' intermediate_key).
    inters = sorted(grid.run.glob("intermediates/*/stsb/run.json"))
    assert len(inters) == 2
    assert {json.loads(p.read_text())["method"]["name"] for p in inters} == {"adapter", "lora"}


def test_report_numbers_recompute_from_the_sqlite_rows(grid: SimpleNamespace) -> None:
    rows = _results(grid.run)
    assert len(rows) == N_CELLS * len(LANGS)
    con = _db(grid.run)
    try:
        stats = {(r["cell_hash"], r["lang"]): (r["metric_kind"], r["n"], json.loads(zlib.decompress(r["stats"])))
                 for r in con.execute("SELECT * FROM example_stats")}
    finally:
        con.close()
    by_cond: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        kind, n, recs = stats[(r["cell_hash"], r["lang"])]
        assert kind == "mean" and n == len(recs) == r["n_examples"] > 0
        # The stored score is the per-example records' mean (tydiqa: each record is that example's (EM + F1) / 2)...
        assert abs(100 * mean(x["score"] for x in recs) - r["score"]) < TOL, (r["target"], r["lang"])
        lang_scores = json.loads(r["scores_json"])
        if r["target"] == "tydiqa":  # ... and the language's score is (EM + F1) / 2 (XTREME-R)
            assert abs((lang_scores["exact_match"] + lang_scores["f1"]) / 2 - r["score"]) < TOL
        else:
            assert abs(lang_scores["accuracy"] - r["score"]) < TOL
        by_cond[(r["target"], f"{r['backbone']}/{r['method']}/{r['intermediate']}", r["lang"])].append(r["score"])

    low = [lang for lang in LANGS if JOSHI[lang] <= 2]
    high = [lang for lang in LANGS if JOSHI[lang] > 2]
    csv_rows = {(c["target"], c["condition"], c["lang"]): c
                for c in csv.DictReader((grid.rep_dir / "report.csv").open(encoding="utf-8"))}
    targets = grid.report["targets"]
    assert sorted(targets) == ["tydiqa", "xnli"]
    n_checked = 0
    for target, t in targets.items():
        assert t["languages"] == LANGS and t["low_resource"] == low and t["high_resource"] == high
        for cond in t["conditions"]:
            per_lang = {lang: mean(by_cond[(target, cond, lang)]) for lang in LANGS}
            for lang, value in per_lang.items():
                assert abs(t["scores"][cond][lang]["mean"] - value) < TOL, (target, cond, lang)
                assert abs(float(csv_rows[(target, cond, lang)]["score_mean"]) - value) < TOL
                n_checked += 1
            for group, langs in (("all", LANGS), ("low", low), ("high", high)):
                assert abs(t["averages"][cond][group]["mean"] - mean(per_lang[x] for x in langs)) < TOL
            base = cond.rsplit("/", 1)[0] + "/none"
            if cond != base:
                delta = t["deltas"][cond]
                assert delta["baseline"] == base
                for lang in LANGS:
                    want = per_lang[lang] - mean(by_cond[(target, base, lang)])
                    assert abs(delta["languages"][lang]["mean"] - want) < TOL, (target, cond, lang)
                want_low = mean(per_lang[x] - mean(by_cond[(target, base, x)]) for x in low)
                assert abs(delta["groups"]["low"]["mean"] - want_low) < TOL
                lo, hi = delta["groups"]["low"]["ci"]
                assert lo - TOL <= want_low <= hi + TOL
    assert n_checked == N_CELLS * len(LANGS)


def test_report_writes_tables_and_plot_files(grid: SimpleNamespace) -> None:
    out = grid.rep_dir
    for name in ("report.md", "report.csv", "report.json", "report.tex"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "report.json").read_text())["targets"].keys() == grid.report["targets"].keys()
    md = (out / "report.md").read_text()
    assert "xnli" in md and "tydiqa" in md and "sw" in md
    for stem in ("heatmap_xnli", "heatmap_tydiqa", "low_vs_high", "score_vs_params"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert "<svg" in (out / f"{stem}.svg").read_text()[:2000], stem
    # The text report prints the per-language tables.
    res = run_cli("report", str(grid.run), "--bootstrap", "0", "--no-plots", "--out", str(grid.root / "text"))
    assert res.exit_code == 0, res.stderr
    assert "tydiqa" in res.stdout and "xnli" in res.stdout and "avg low" in res.stdout


def test_question_answers_from_the_same_rows(grid: SimpleNamespace) -> None:
    ans = grid.question
    rows = {(r["target"], r["method"]): r for r in ans["rows"]}
    assert set(rows) == {(t, m) for t in ("xnli", "tydiqa") for m in ("adapter", "lora")}
    by_cond: dict[tuple[str, str, str], float] = {}
    for r in _results(grid.run):
        by_cond[(r["target"], f"{r['method']}/{r['intermediate']}", r["lang"])] = r["score"]
    for (target, method), row in rows.items():
        assert row["languages"] == ["sw"] and row["verdict"] in ("helped", "hurt", "no clear effect")
        want = by_cond[(target, f"{method}/stsb", "sw")] - by_cond[(target, f"{method}/none", "sw")]
        assert abs(row["delta"]["mean"] - want) < TOL, (target, method)
    assert (grid.q_dir / "question.md").stat().st_size > 0 and (grid.q_dir / "question.json").is_file()


def test_rerun_skips_every_cell(grid: SimpleNamespace) -> None:
    before = [tuple(r) for r in _results(grid.run)]
    res = run_cli("run", SMOKE, "--run-dir", str(grid.run), *SHORT)
    assert res.exit_code == 0, res.stderr
    assert f"0 cells ran, 0 failed, {N_CELLS} were already done" in res.stdout
    res = run_cli("run", SMOKE, "--run-dir", str(grid.run), *SHORT, "--json")
    summary = json.loads(res.stdout)
    assert (summary["n_ran"], summary["n_done_before"], summary["outcomes"]) == (0, N_CELLS, [])
    assert [tuple(r) for r in _results(grid.run)] == before


def test_cost_counts_the_intermediate_stage(grid: SimpleNamespace) -> None:
    cost = grid.report["targets"]["xnli"]["cost"]
    for method in ("adapter", "lora"):
        assert cost[f"tiny/{method}/stsb"]["trainable_params"] > cost[f"tiny/{method}/none"]["trainable_params"]


def test_recipe_data_caps_reach_the_cells(grid: SimpleNamespace) -> None:
    assert all(r["n_examples"] <= 64 for r in _results(grid.run))


# --------------------------------------------------------------------------------------------- (b) SIGKILL

# 1 method x no intermediate x (xnli, tydiqa) x 3 seeds = 6 short cells.
KILL = [
    "--set", "methods=[{name: lora, rank: 4, alpha: 8, lr: 0.01}]",
    "--set", "intermediates=[none]",
    "--set", "targets=[xnli, tydiqa]",
    "--set", "seeds=[1, 2, 3]",
    "--set", "training.target.max_steps=4",
    "--set", f"eval.languages=[{', '.join(LANGS)}]",
    "--set", "training.per_task={tydiqa: {max_length: 256}}",
]
N_KILL = 6
# A cell function that SIGKILLs its own process right after the real run_cell returned: the cell's run dir is
# committed, its record is not yet written (the worst moment for a resume).
KILLER = '''
import os, signal
from adapterx.grid.run_cell import run_cell as _run_cell

def run_cell(cell, out_dir):
    _run_cell(cell, out_dir)
    os.kill(os.getpid(), signal.SIGKILL)
'''


def _adapterx(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(cwd)]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(run_dir: Path) -> set[str]:
    try:
        return set(_cells(run_dir))
    except sqlite3.OperationalError:  # the store is being created
        return set()


def _finished(run_dir: Path) -> set[str]:
    """Cells in the database, plus any whose record file was written just before the kill (the next run ingests
    those first, as it ingests the records of slurm workers)."""
    return _done(run_dir) | {p.parent.name for p in run_dir.glob("cells/*/record.json.gz")}


def test_sigkilled_grid_resumes_with_exactly_the_missing_cells(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    run_dir = tmp_path / "run"
    res = run_cli("run", SMOKE, "--run-dir", str(run_dir), *KILL, "--dry-run", "--no-calibrate", "--json")
    assert res.exit_code == 0, res.stderr
    plan = {c["hash"] for c in json.loads(res.stdout)["cells"]}
    assert len(plan) == N_KILL and not run_dir.exists()

    # 1. Killed from outside as soon as the first cell is recorded (the next one is training).
    proc = _adapterx(["run", SMOKE, "--run-dir", str(run_dir), *KILL], tmp_path)
    deadline = time.monotonic() + 120
    try:
        while not ((run_dir / "results.sqlite").is_file() and _done(run_dir)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no cell was recorded in 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    after_kill = _finished(run_dir)
    assert after_kill and after_kill < plan, "the kill must leave cells to run"

    # 2. Killed from inside between the commit of a cell's run dir and its record.
    (tmp_path / "axkill.py").write_text(KILLER)
    proc = _adapterx(["run", SMOKE, "--run-dir", str(run_dir), *KILL, "--cell-fn", "axkill:run_cell"], tmp_path)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == -signal.SIGKILL, err
    assert _done(run_dir) == after_kill
    orphans = [p.parent.parent.name for p in run_dir.glob("cells/*/run/run.json")
               if p.parent.parent.name not in after_kill]
    assert len(orphans) == 1, "the second kill leaves one committed, unrecorded run dir"

    # 3. The rerun runs exactly the missing cells, the orphan included, once each.
    res = run_cli("run", SMOKE, "--run-dir", str(run_dir), *KILL, "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout)
    ran = [o["cell_hash"] for o in summary["outcomes"] if o["status"] == "done"]
    assert summary["n_failed"] == 0, summary["outcomes"]
    assert summary["n_done_before"] == len(after_kill) and sorted(ran) == sorted(plan - after_kill)
    assert orphans[0] in ran

    # The final set is complete, without duplicates, and every cell's files are whole.
    cells, pairs, stats, failures = store_contents(run_dir)
    assert sorted(cells) == sorted(plan) and len(set(cells)) == len(cells) == N_KILL
    assert len(pairs) == len(set(pairs)) == N_KILL * len(LANGS) and sorted(stats) == sorted(pairs)
    assert failures == 0
    assert sorted(p.name for p in (run_dir / "cells").iterdir()) == sorted(plan)
    for h in plan:
        assert (run_dir / "cells" / h / "record.json.gz").is_file()
        assert (run_dir / "cells" / h / "run" / "run.json").is_file()
    assert not [p for p in run_dir.glob("cells/*/.*partial*")], "no half-written run dir is left"
    assert len((run_dir / "runs.jsonl").read_text().splitlines()) == 3


def test_a_full_fine_tuning_chain_cell_trains_its_stages_in_order(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    """``intermediates: [[stsb, siqa]]`` with full fine-tuning: SIQA continues from the STS-B model and the target
    from SIQA's (adapters and LoRA would compose two modules trained on the frozen base instead)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: chain\nbackbones: [tiny]\nmethods: [{name: full, lr: 1.0e-3}]\nintermediates: [[stsb, siqa]]\n"
        "targets: [xcopa]\nseeds: [1]\ntraining:\n  intermediate: {max_steps: 2, batch_size: 4, max_length: 32}\n"
        "  target: {max_steps: 2, batch_size: 4, max_length: 32}\n"
        "data: {source: synthetic, max_train_examples: 32, max_eval_examples: 16}\neval: {languages: [en, sw]}\n")
    res = run_cli("run", str(recipe), "--run-dir", str(tmp_path / "run"), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_ran"] == 1 and summary["n_failed"] == 0, summary
    [siqa] = (tmp_path / "run").glob("intermediates/*/siqa/run.json")
    assert json.loads(siqa.read_text())["chain"] == ["stsb", "siqa"]
    [target] = (tmp_path / "run").glob("cells/*/run/run.json")
    assert json.loads(target.read_text())["chain"] == ["stsb", "siqa", "xcopa"]
