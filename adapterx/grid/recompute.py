"""Every checked-in score from the checked-in predictions: :func:`recompute_scores` over a results bundle
(:mod:`adapterx.results.bundle`).

Here in ``grid`` rather than beside the bundle in ``results``: it reads the gold as a grid cell does
(:func:`adapterx.grid.run_cell.data_options`) and scores with :mod:`adapterx.evaluate.score`, both layers above
``results``.

For each ``predictions/<cell>/<task>/<lang>.jsonl.gz`` of the bundle, the gold is read as the cell read it: the
cell's data options (:func:`adapterx.grid.run_cell.data_options`: the recipe's source, root and caps), the split its
predictions manifest records, the examples the file names by id. The predictions are scored by
:func:`adapterx.evaluate.score.score_language`, the scoring of ``adapterx score`` (adapterx's metric functions, the
ones ``eval`` uses), and compared with the store's score of that cell and language.
"""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from adapterx.data.readers import has_labels
from adapterx.data.sources import load_split, with_model_defaults
from adapterx.errors import DataError
from adapterx.evaluate.score import Gold, score_language
from adapterx.grid.run_cell import data_options
from adapterx.results.bundle import PREDICTIONS
from adapterx.results.store import DB_NAME
from adapterx.results.xtreme_format import XTREME_TASKS, xtreme_task
from adapterx.tasks import get_task

TOLERANCE = 1e-3  # points (0-100): the eval JSON keeps 4 decimals, so anything above rounding is a real difference


class Recomputed(NamedTuple):
    """One language of one cell: the store's score and the one recomputed from the checked-in predictions (None
    where it could not be: the reason is in ``error``)."""

    cell: str
    task: str
    lang: str
    stored: float | None
    recomputed: float | None
    error: str | None = None

    def agrees(self, tolerance: float = TOLERANCE) -> bool:
        if self.stored is None or self.recomputed is None:
            return self.stored is None and self.recomputed is None and self.error is None
        if math.isnan(self.stored) or math.isnan(self.recomputed):
            return math.isnan(self.stored) and math.isnan(self.recomputed)
        return abs(self.stored - self.recomputed) <= tolerance


def _connect_ro(db: Path) -> sqlite3.Connection:
    # immutable: a checked-in store is read without a -shm file or any write to its folder
    return sqlite3.connect(f"file:{db}?immutable=1", uri=True)


def _gold(task: Any, examples: Sequence[Any], where: str) -> tuple[dict[str, Any], Any]:
    """id -> gold value in the shape :func:`score_language` takes (as ``load_gold`` builds it from files)."""
    shape = xtreme_task(task.name).shape
    if shape == "tags":
        return {ex.id: list(ex.tags) for ex in examples}, shape
    if shape == "qa":
        return {ex.id: [a.text for a in ex.answers] for ex in examples}, shape
    if shape == "choice":
        return {ex.id: int(ex.label) for ex in examples}, shape
    return {ex.id: str(ex.label) for ex in examples}, shape


def _read_predictions(path: Path) -> list[dict[str, Any]]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or "id" not in obj or "prediction" not in obj:
                raise DataError(f"{path}:{n}: expected an object with 'id' and 'prediction'")
            out.append(obj)
    return out


def recompute_language(cell: dict[str, Any], task_name: str, lang: str, path: Path, split: str,
                       data_root: Path | None = None) -> dict[str, float]:
    """Scores of one checked-in predictions file (``<lang>.jsonl.gz``) of ``cell`` against its gold on ``split``.
    ``data_root`` replaces the cell's ``data.root`` (a clone elsewhere). :class:`DataError` names the file."""
    task = get_task(task_name)
    if task_name not in XTREME_TASKS:
        raise DataError(f"{path}: {task_name} predictions have no scoring path outside `eval` (not an XTREME task)")
    if data_root is not None and (cell.get("data") or {}).get("root"):
        cell = {**cell, "data": {**cell["data"], "root": str(data_root)}}
    root = (cell.get("data") or {}).get("root")
    if root and not Path(root).is_dir():
        raise DataError(f"{root}: the data folder cell {cell.get('recipe', '')} names is absent (run from the "
                        "repository root, or pass data_root)")
    opts = with_model_defaults(data_options(cell), cell["backbone"], task, training=False)
    opts = replace(opts, max_eval_examples=None)  # the file names its examples by id
    examples, prov = load_split(task, split, lang, opts, for_eval=True)
    if not has_labels(examples):
        raise DataError(f"{prov.source}: {task_name} {split} ({lang}) has no gold labels to score against")
    gold_of, shape = _gold(task, examples, prov.source)
    records = _read_predictions(path)
    unknown = [str(r["id"]) for r in records if str(r["id"]) not in gold_of]
    if unknown:
        raise DataError(f"{path}: {len(unknown)} id(s) not in {prov.source} {split} (e.g. {unknown[0]!r})")
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: {len(ids) - len(set(ids))} example(s) predicted twice")
    gold_where = f"{prov.source} ({split})"
    if shape == "qa":
        preds: Any = {i: str(r["prediction"]) for i, r in zip(ids, records)}
        value: Any = {i: gold_of[i] for i in ids}
    else:
        preds = [r["prediction"] for r in records]
        value = [gold_of[i] for i in ids]
    scores, _stats, _n = score_language(task_name, lang, preds, Gold(value, gold_where), str(path))
    return scores


def recompute_scores(bundle: str | Path, *, data_root: str | Path | None = None) -> list[Recomputed]:
    """Re-score every checked-in prediction file of ``bundle`` and pair it with the store's score: one
    :class:`Recomputed` (cell, task, lang, stored, recomputed) per file. A file that cannot be scored (absent data
    folder, ids not in the gold) gives ``recomputed=None`` and its one-line ``error``; nothing is raised per file.
    ``data_root``: the data folder to read instead of the one the cells name (relative to the working directory)."""
    bundle = Path(bundle)
    db = bundle / DB_NAME
    if not db.is_file():
        raise DataError(f"{bundle} holds no {DB_NAME}: give a bundle written by `adapterx export bundle`")
    con = _connect_ro(db)
    try:
        specs = {h: json.loads(s) for h, s in con.execute("SELECT cell_hash, spec_json FROM cells")}
        stored = {(h, lang): (metric, score)
                  for h, lang, metric, score in con.execute("SELECT cell_hash, lang, metric, score FROM results")}
    finally:
        con.close()
    root = Path(data_root) if data_root is not None else None
    out: list[Recomputed] = []
    for path in sorted((bundle / PREDICTIONS).glob("*/*/*.jsonl.gz")):
        h, task_name, lang = path.parent.parent.name, path.parent.name, path.name[: -len(".jsonl.gz")]
        cell = specs.get(h)
        metric, have = stored.get((h, lang), (None, None))
        if cell is None:
            out.append(Recomputed(h, task_name, lang, None, None, f"{path}: cell {h} is not in {db}"))
            continue
        manifest_path = path.parent / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        if ((manifest.get("languages") or {}).get(lang) or {}).get("labelled") is False:
            continue  # predicted without gold (an unlabelled test file): no score to recompute
        split = manifest.get("split") or get_task(task_name).eval_split
        try:
            scores = recompute_language(cell, task_name, lang, path, split, root)
        except DataError as exc:
            out.append(Recomputed(h, task_name, lang, have, None, str(exc)))
            continue
        if have is None:  # predicted without gold in the run (an unlabelled test file): nothing stored to compare
            out.append(Recomputed(h, task_name, lang, None, None, f"{path}: no stored score for {lang}"))
            continue
        # The store names QA's metric "em_f1" (the cell's (EM + F1) / 2), which the scores call "score": the task's
        # own metric name where the stored one is not a key of the scores.
        value = scores.get(metric) if metric in scores else scores.get(get_task(task_name).metric)
        out.append(Recomputed(h, task_name, lang, have, None if value is None else float(value)))
    return out


def mismatches(rows: Sequence[Recomputed], tolerance: float = TOLERANCE) -> list[str]:
    """One line per file whose recomputed score differs from the stored one beyond ``tolerance`` (or that could not
    be recomputed); empty when every score recomputes."""
    lines = []
    for r in rows:
        if r.agrees(tolerance):
            continue
        if r.error:
            lines.append(f"{r.cell} {r.task} {r.lang}: {r.error}")
        else:
            lines.append(f"{r.cell} {r.task} {r.lang}: stored {r.stored}, recomputed {r.recomputed}")
    return lines


__all__ = ["Recomputed", "TOLERANCE", "mismatches", "recompute_language", "recompute_scores"]
