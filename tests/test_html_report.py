"""``adapterx report RUN --html``: one self-contained report.html, read back and checked against the SQLite store,
and opened in headless Chromium (skipped, with the reason, where there is none): rendered, screenshot, the DOM's
tables and plots carry the store's numbers, and the page fetched nothing from the network.

The grid is the fake one of test_results (no training): 3 methods x 2 intermediates x 2 targets x 2 seeds.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from headless import Elements, chromium, render
from typer.testing import CliRunner

from adapterx.results.store import ResultsStore
from cli.main import app
from conftest import import_fake_cell_module

TESTS = Path(__file__).resolve().parent
FAKE = "adapterx_test_fake:fake_run_cell"
runner = CliRunner()


def _fake_module() -> None:
    # The fake lives in test_results.py; imported under a stable name so --cell-fn can name it.
    import_fake_cell_module()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, report.html) of a fake grid."""
    _fake_module()
    tmp = tmp_path_factory.mktemp("html")
    recipe = tmp / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "html", "backbones": ["tiny"], "methods": ["full", "adapter", "lora"],
                                      "intermediates": ["none", "stsb"], "targets": ["xnli", "panx"],
                                      "seeds": [1, 2]}))
    run_dir = tmp / "run"
    res = runner.invoke(app, ["run", str(recipe), "--run-dir", str(run_dir), "--cell-fn", FAKE])
    assert res.exit_code == 0, res.output
    out = tmp / "report"
    res = runner.invoke(app, ["report", str(run_dir), "--html", "--out", str(out), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    return run_dir, out / "report.html"


def _store_means(run_dir: Path) -> tuple[dict[tuple[str, str, str], float], dict[tuple[str, str, str], float],
                                          dict[tuple[str, str], int]]:
    """From the store with plain SQL: mean score per (target, condition, lang); mean over seeds of the paired delta
    against the same method without intermediate; seeds per (target, condition)."""
    con = sqlite3.connect(run_dir / "results.sqlite")
    rows = con.execute("SELECT target, backbone, method, intermediate, seed, lang, score FROM results").fetchall()
    con.close()
    by: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for target, backbone, method, chain, seed, lang, score in rows:
        by[(target, f"{backbone}/{method}/{chain}", lang)][seed] = score
    means = {k: sum(v.values()) / len(v) for k, v in by.items()}
    deltas = {}
    for (target, cond, lang), seeds in by.items():
        if cond.endswith("/none"):
            continue
        base = by[(target, cond.rsplit("/", 1)[0] + "/none", lang)]
        deltas[(target, cond, lang)] = sum(seeds[s] - base[s] for s in seeds) / len(seeds)
    n_seeds = {(t, c): len(v) for (t, c, _lang), v in by.items()}
    return means, deltas, n_seeds


def _check_numbers(doc: Elements, run_dir: Path) -> None:
    """The per-language tables, the delta plots and the answer carry the store's numbers, shown to one decimal."""
    means, deltas, n_seeds = _store_means(run_dir)
    seen_scores = seen_deltas = seen_bars = 0
    for table in doc.find("table", class_="langs"):
        target = table["attrs"]["data-target"]
        for cell in doc.items:
            if table not in cell["parents"] or cell["tag"] != "td":
                continue
            row = next((p for p in reversed(cell["parents"]) if p["tag"] == "tr"), None)
            lang = row["attrs"].get("data-lang") if row else None
            if lang is None:
                continue
            cond = cell["attrs"].get("data-condition")
            if "score" in cell["attrs"].get("class", "").split():
                want = means[(target, cond, lang)]
                assert float(cell["attrs"]["data-score"]) == pytest.approx(want, abs=1e-9), (target, cond, lang)
                assert cell["text"] == f"{round(want, 1) + 0.0:.1f}"
                seen_scores += 1
            elif "delta" in cell["attrs"].get("class", "").split() and cell["attrs"].get("data-delta"):
                want = deltas[(target, cond, lang)]
                assert float(cell["attrs"]["data-delta"]) == pytest.approx(want, abs=1e-9), (target, cond, lang)
                cls = cell["attrs"]["class"].split()
                assert ("pos" in cls) == (round(want, 1) > 0) and ("neg" in cls) == (round(want, 1) < 0)
                lo, hi = float(cell["attrs"]["data-lo"]), float(cell["attrs"]["data-hi"])
                assert lo <= hi and "interval" in cell["attrs"]["title"]
                seen_deltas += 1
    assert seen_scores == len(means) and seen_deltas == len(deltas)
    for bar in doc.find("rect", class_="bar"):
        svg = next(p for p in reversed(bar["parents"]) if p["tag"] == "svg")
        key = (svg["attrs"]["data-target"], bar["attrs"]["data-condition"], bar["attrs"]["data-lang"])
        assert float(bar["attrs"]["data-delta"]) == pytest.approx(deltas[key], abs=1e-9)
        seen_bars += 1
    assert seen_bars == len(deltas)
    answer = doc.find("tr", data_target="xnli", data_condition="tiny/lora/stsb")
    assert len(answer) == 1
    cells = [c for c in doc.items if answer[0] in c["parents"] and c["tag"] == "td"]
    assert {c["attrs"].get("data-group") for c in cells if "delta" in c["attrs"].get("class", "")} == \
        {"english", "zero_shot", "low", "latin", "other_script", "low_latin"}
    [seeds] = [c for c in cells if "seeds" in c["attrs"].get("class", "")]
    assert int(seeds["attrs"]["data-seeds"]) == n_seeds[("xnli", "tiny/lora/stsb")] == 2


def test_report_html_is_one_self_contained_page_with_the_stores_numbers(page: tuple[Path, Path]) -> None:
    run_dir, html = page
    text = html.read_text(encoding="utf-8")
    doc = Elements(text)
    # Self-contained: no scripts, no external styles, images or fonts; every plot inline SVG or a data: URL.
    assert not doc.find("script") and not doc.find("link")
    assert all(img["attrs"]["src"].startswith("data:image/svg+xml;base64,") for img in doc.find("img"))
    assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text
    _check_numbers(doc, run_dir)
    # The answer first, then per target a table and a plot, the score/parameter plot, provenance of every cell.
    assert text.index('id="answer"') < text.index('id="target-')
    # ... and under the answer, what every score was measured under (steps, length, caps, split), from the specs
    [setup] = [p for p in doc.find("p") if "setup" in p["attrs"].get("class", "")]
    assert text.index("Measured on tiny") < text.index('id="target-')
    # the fake grid trains by epochs: each stage's budget as its spec states it, intermediate and target alike
    # (the intermediate's once read "3.0 epochs steps of 16")
    assert "<b>stsb</b> (intermediate) 3.0 epochs of 16 x 128 tokens" in text and "epochs steps" not in text
    assert "<b>xnli</b> 3.0 epochs of 16 x 128 tokens, all evaluation examples" in text
    assert {t["attrs"]["data-target"] for t in doc.find("svg", class_="delta-plot")} == {"xnli", "panx"}
    points = doc.find("g", class_="point")
    overall = {c: o for c, o in _overall(run_dir).items()}
    assert {p["attrs"]["data-condition"] for p in points} == set(overall)
    for p in points:
        assert float(p["attrs"]["data-score"]) == pytest.approx(overall[p["attrs"]["data-condition"]], abs=1e-9)
    cells = doc.find("details", class_="cell")
    assert {c["attrs"]["data-cell"] for c in cells} == set(ResultsStore.for_run(run_dir).done_hashes())
    # Languages grouped by resource class: sw and yo (class 2) before the class-5 ones.
    classes = [b["attrs"]["data-class"] for b in doc.find("tbody", class_="rc")
               if b["parents"][-1]["attrs"].get("data-target") == "panx"]
    assert classes == sorted(classes) and classes[0] in ("1", "2")


def _overall(run_dir: Path) -> dict[str, float]:
    """XTREME-R overall per condition from plain SQL: languages averaged per task (over seeds), then tasks."""
    means, _, _ = _store_means(run_dir)
    per_task: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (target, cond, _lang), v in means.items():
        per_task[(cond, target)].append(v)
    by_cond: dict[str, list[float]] = defaultdict(list)
    for (cond, _target), vals in per_task.items():
        by_cond[cond].append(sum(vals) / len(vals))
    return {c: sum(v) / len(v) for c, v in by_cond.items()}


needs_chromium = pytest.mark.skipif(chromium() is None, reason="no chromium on PATH (tests/browser/install-chromium.sh"
                                                                " installs Debian's where root and apt are available)")


@needs_chromium
def test_report_html_renders_in_headless_chromium_without_fetching(page: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, html = page
    got = render(html, tmp_path / "chromium")
    assert got.page_requests == [] and got.console_errors == []
    doc = Elements(got.dom)
    assert len(doc.find("table", class_="langs")) == 2 and doc.find("svg", id="params-plot")
    _check_numbers(doc, run_dir)  # the numbers survive rendering: the DOM Chromium built, not the file
    png = got.screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280
    assert len(png) > 30_000  # a rendered page, not a blank one (a white 1280x2000 PNG is ~10 kB)


@needs_chromium
def test_the_network_check_sees_a_page_that_fetches(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.invalid/x.css"></head>'
                   '<body><img src="http://example.invalid/x.png"><p>hi</p></body></html>')
    got = render(bad, tmp_path / "chromium")
    assert {"https://cdn.invalid/x.css", "http://example.invalid/x.png"} <= set(got.page_requests)


def test_report_of_a_run_with_no_results_says_so(tmp_path: Path) -> None:
    ResultsStore.for_run(tmp_path / "empty")  # a store without a finished cell, as a fresh or all-failed run has
    res = runner.invoke(app, ["report", str(tmp_path / "empty"), "--html", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "no finished cell yet" in res.output, res.output
    assert not (tmp_path / "out" / "report.html").exists()
    (tmp_path / "nothing").mkdir()
    res = runner.invoke(app, ["report", str(tmp_path / "nothing"), "--html"])
    assert res.exit_code == 2 and "holds no results.sqlite" in res.output, res.output
