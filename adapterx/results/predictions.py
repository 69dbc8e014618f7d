"""Prediction folders: ``<folder>/<task>/<lang>.jsonl`` plus the task folder's ``manifest.json``, written by
``eval`` and ``retrieve`` alike, and read by ``adapterx export`` / ``adapterx score``; and the in-memory route from
an evaluation to XTREME's submission layout (:func:`write_xtreme`).

Here, below both the evaluation and the retrieval layers, so that each writes its predictions without importing the
other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from adapterx.fsio import atomic_open, atomic_write_json
from adapterx.results.xtreme_export import export_xtreme


def write_prediction_files(folder: Path, task: str, records: Mapping[str, Iterable[dict[str, Any]]],
                           manifest: Mapping[str, Any] | None = None) -> Path:
    """Write ``folder/<task>/<lang>.jsonl``, one JSON object per line, each file renamed into place when complete;
    returns the task folder. Shared by ``eval`` and ``retrieve``. ``manifest`` (``{"split", "languages": {lang:
    {...}}}``) is merged into the task folder's ``manifest.json``, which export and score read."""
    out = Path(folder) / task
    out.mkdir(parents=True, exist_ok=True)
    for lang, lines in records.items():
        with atomic_open(out / f"{lang}.jsonl") as f:
            for rec in lines:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if manifest is not None:
        path = out / "manifest.json"
        old: dict[str, Any] = {}
        if path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = {}
        langs = {**(old.get("languages") or {}), **dict(manifest.get("languages") or {})}
        doc = {**old, **{k: v for k, v in manifest.items() if k != "languages"}, "task": task, "languages": langs}
        atomic_write_json(path, doc)
    return out


def write_xtreme(report: Any, folder: Path) -> Any:
    """Write an evaluation's predictions (an EvalReport or a RetrievalResult) into ``folder`` in XTREME's
    submission layout; the export's checks apply (complete languages only). Returns the ExportSummary."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="adapterx-xtreme-") as tmp:
        report.save_predictions(Path(tmp))
        return export_xtreme([Path(tmp)], Path(folder), origin=report_origin(report))


def report_origin(report: Any) -> str:
    """How an in-memory evaluation is named in the export's metadata."""
    module = getattr(report, "module", None)
    return f"{report.task} evaluation" + (f" of {module}" if module else "")
