"""Test helpers for results bundles: a real tiny grid with saved predictions on data files, and the two checks a
checked-in bundle must pass (recompute every score from its predictions; rerun one cell as its recipe defines it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from tests.xtreme_files import write_task

LANGS = ("en", "sw", "de")


def write_data(root: Path) -> Path:
    """PAN-X (train/dev) and XNLI (train/dev/test) in the XTREME layout: English training, three evaluation
    languages, synthetic examples with real signal."""
    for task, splits in (("panx", ("train", "dev")), ("xnli", ("train", "dev", "test"))):
        for split in splits:
            for lang in (LANGS if split != "train" else ("en",)):
                write_task(root, task, lang, split=split)
    return root


def tiny_recipe(path: Path, data_root: Path, **changes: Any) -> Path:
    """A 4-cell grid on the tiny model (adapter, no intermediate, PAN-X and XNLI, seeds 1 and 2), a few steps,
    saving predictions, shaped like recipes/minilm-xstilts.yaml (data from a folder, PAN-X on its dev split)."""
    recipe = {
        "name": "bundle-tiny", "backbones": ["tiny"], "methods": [{"name": "adapter", "reduction_factor": 4,
                                                                   "lr": 1.0e-2}],
        "intermediates": ["none"], "targets": ["panx", "xnli"], "seeds": [1, 2],
        "training": {"target": {"max_steps": 8, "batch_size": 8, "max_length": 32, "eval_every": 8}},
        "data": {"source": "xtreme", "root": str(data_root), "max_eval_examples": 16},
        "eval": {"split": "test", "per_task": {"panx": {"split": "dev"}}, "languages": list(LANGS),
                 "save_predictions": True},
        **changes,
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def store_scores(bundle: Path, cell_hash: str) -> dict[str, float]:
    con = sqlite3.connect(f"file:{bundle / 'results.sqlite'}?immutable=1", uri=True)
    try:
        return {lang: score for lang, score in
                con.execute("SELECT lang, score FROM results WHERE cell_hash = ?", (cell_hash,))}
    finally:
        con.close()


def find_cell(bundle: Path, target: str, method: str = "adapter", seed: int = 1) -> tuple[str, dict[str, Any]]:
    """The cell hash and spec of ``bundle``'s cell (``target``, ``method``, no intermediate task, ``seed``)."""
    con = sqlite3.connect(f"file:{bundle / 'results.sqlite'}?immutable=1", uri=True)
    try:
        rows = con.execute("SELECT cell_hash, spec_json FROM cells WHERE target = ? AND method_name = ? AND"
                           " intermediate = 'none' AND seed = ? ORDER BY cell_hash", (target, method, seed)).fetchall()
    finally:
        con.close()
    assert rows, f"{bundle}: no {method} cell of {target}, seed {seed}, without intermediate task"
    return rows[0][0], json.loads(rows[0][1])


def check_recompute(bundle: Path, data_root: Path | None = None) -> int:
    """Every checked-in prediction file recomputes to its stored score; returns how many were checked."""
    from adapterx.grid.recompute import mismatches, recompute_scores

    rows = recompute_scores(bundle, data_root=data_root)
    assert rows, f"{bundle}: no prediction file to recompute"
    bad = mismatches(rows)
    assert not bad, "\n".join(bad)
    return len(rows)


def check_rerun(bundle: Path, target: str, out: Path, tolerance: float) -> dict[str, tuple[float, float]]:
    """Rerun the bundle's adapter cell of ``target`` (seed 1, no intermediate task) through ``run_cell``, exactly as
    its stored spec defines it, and compare every language's score with the stored one within ``tolerance``
    points. Returns {lang: (stored, rerun)}."""
    from adapterx.grid.run_cell import run_cell

    h, cell = find_cell(bundle, target)
    stored = store_scores(bundle, h)
    out_dir = out / "cells" / h
    out_dir.mkdir(parents=True)
    result = run_cell(cell, out_dir)
    metric = result["eval"]["metric"]
    rerun = {lang: s[metric] for lang, s in result["eval"]["scores"].items()}
    assert set(rerun) == set(stored), (sorted(rerun), sorted(stored))
    pairs = {lang: (stored[lang], rerun[lang]) for lang in stored}
    far = {lang: p for lang, p in pairs.items() if abs(p[0] - p[1]) > tolerance}
    assert not far, f"cell {h}: stored vs rerun beyond {tolerance} points: {far}"
    return pairs
