"""A grid's results as a folder to check in: ``adapterx export bundle RUN --to docs/results/NAME``.

The bundle is what a reader needs to see and to re-check a study without the run folder (modules, checkpoints and
caches stay behind)::

    results.sqlite            the results store: a consistent copy (sqlite3's backup API), WAL-mode header kept so
                              that `adapterx report BUNDLE` reads it without changing a byte
    recipe.yaml, runs.jsonl   the resolved recipe and every `adapterx run` invocation (as in the run folder)
    plan.json, times.md       where the run folder has them: the dry-run plan and estimate made before the run, and
                              the measured wall time per stage against it (benchmarks/grid_times.py)
    report.html, report.md|csv|json|tex, *.svg|png
                              what `adapterx report RUN --html --out BUNDLE` writes
    question.md|json          what `adapterx report RUN --question` writes
    predictions/<cell hash>/<task>/<lang>.jsonl.gz, manifest.json
                              each cell's saved predictions (eval.save_predictions), deterministic gzip (mtime 0, no
                              file name: the same predictions give the same bytes); all of them, or only the lowest
                              seed's where all would pass the size limit
    predictions-sha256.json   {cell hash: {"<task>/<lang>.jsonl": sha256 of the uncompressed file}} of every cell,
                              kept or not
    MANIFEST.json             adapterx version, recipe name and YAML, cell count, what was kept, sha256 of each file
    README.md                 what each file is and how to recompute it

Written into a temporary folder beside the destination and renamed into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapterx import __version__
from adapterx.fsio import file_sha256
from adapterx.errors import ConfigError, DataError
from adapterx.results.store import DB_NAME

MANIFEST = "MANIFEST.json"
PREDICTIONS = "predictions"
PREDICTIONS_SHA = "predictions-sha256.json"
DEFAULT_MAX_PREDICTIONS_MB = 20.0
# Copied as they are, where the run folder has them: plan.json (`adapterx run --dry-run --json` made before the run)
# and times.md (benchmarks/grid_times.py: measured wall time per stage against that plan) are put there by hand.
_RUN_FILES = ("recipe.yaml", "runs.jsonl", "plan.json", "times.md")


@dataclass(frozen=True)
class BundleSummary:
    """What :func:`export_bundle` wrote."""

    folder: Path
    n_cells: int
    predictions: str  # all | lowest_seed | none
    predictions_bytes: int  # compressed bytes of the prediction files kept
    predictions_bytes_all: int  # compressed bytes all of them would take
    files: list[str] = field(default_factory=list)  # paths relative to folder

    def to_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "n_cells": self.n_cells, "predictions": self.predictions,
                "predictions_bytes": self.predictions_bytes, "predictions_bytes_all": self.predictions_bytes_all,
                "n_files": len(self.files)}


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, fixed level; the same input gives the same bytes on any machine."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def copy_store(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite store (the backup API copies a snapshot, whatever the writers do), left in
    WAL mode as the store opens itself, checkpointed, with no ``-wal``/``-shm`` beside it."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        with target:
            source.backup(target)
        target.execute("PRAGMA journal_mode = WAL")
        target.execute("VACUUM")
        target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        source.close()
        target.close()


def _store_cells(db: Path) -> dict[str, dict[str, Any]]:
    # immutable: a read-only connection to a WAL database would leave -wal/-shm files in the bundle
    con = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        return {h: json.loads(s) for h, s in con.execute("SELECT cell_hash, spec_json FROM cells")}
    finally:
        con.close()


def _prediction_files(run_dir: Path, cells: Sequence[str]) -> dict[str, list[Path]]:
    """Per finished cell, its ``<task>/<lang>.jsonl`` files under ``RUN/cells/<hash>/predictions`` (may be none)."""
    out: dict[str, list[Path]] = {}
    for h in sorted(cells):
        root = run_dir / "cells" / h / "predictions"
        out[h] = sorted(root.glob("*/*.jsonl")) if root.is_dir() else []
    return out


def _write_report_files(run_dir: Path, out: Path, intermediate: str, n_boot: int) -> None:
    """What ``adapterx report RUN --html --out OUT`` and ``--question`` write, through the same library calls."""
    from adapterx.results.aggregate import ReportOptions, build_report
    from adapterx.results.export import write_exports
    from adapterx.results.html import write_html
    from adapterx.results.plots import write_plots
    from adapterx.results.question import answer, render_text

    report = build_report(run_dir, ReportOptions(n_boot=n_boot))
    written = write_exports(report, out)
    written += write_plots(report, out)
    figures = {p.stem: p.read_text(encoding="utf-8") for p in written if p.suffix == ".svg"}
    write_html(report, run_dir, out, intermediate=intermediate, figures=figures)
    ans = answer(report, intermediate=intermediate)
    (out / "question.md").write_text(render_text(ans), encoding="utf-8")
    (out / "question.json").write_text(json.dumps(ans, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _readme(name: str | None, n_cells: int, kept: str, limit_mb: float, seed: int | None) -> str:
    what = {"all": "every cell's predictions",
            "lowest_seed": f"the predictions of seed {seed}'s cells only (all of them pass {limit_mb:g} MB compressed); "
                           f"{PREDICTIONS_SHA} has the sha256 of every cell's files",
            "none": "no predictions (the recipe did not set eval.save_predictions)"}[kept]
    title = name or "grid"
    return f"""# Results bundle: {title}

Written by `adapterx export bundle RUN --to THIS_FOLDER` (adapterx {__version__}) from a run folder of
`adapterx run`: {n_cells} finished cells. Nothing here is edited by hand.

| file | what it is |
|---|---|
| `results.sqlite` | the results store (schema in adapterx/results/store.py): every cell's spec, provenance, per-language scores and per-example statistics |
| `recipe.yaml`, `runs.jsonl` | the resolved recipe, and every `adapterx run` invocation on the run folder |
| `plan.json`, `times.md` | (where the run folder had them) `adapterx run --dry-run --json` made before the run, and the measured wall time per stage against its estimate (`benchmarks/grid_times.py`) |
| `report.html` | the report in one page: the answer first, per-language tables, plots, provenance of every cell |
| `report.md`, `report.csv`, `report.json`, `report.tex`, `*.svg`, `*.png` | the report's tables and figures |
| `question.md`, `question.json` | `adapterx report --question`: did the intermediate task help, per target and method |
| `predictions/<cell>/<task>/<lang>.jsonl.gz` | {what}; one `{{"id", "prediction"}}` line per example, gzip without time stamp |
| `predictions/<cell>/<task>/manifest.json` | the split and the number of examples predicted per language |
| `{PREDICTIONS_SHA}` | sha256 of every cell's uncompressed prediction files |
| `MANIFEST.json` | adapterx version, recipe, cell count, what was kept, and the sha256 of every file here |

Recompute:

```bash
adapterx report THIS_FOLDER --html --out THIS_FOLDER   # the report and its tables, from results.sqlite
adapterx report THIS_FOLDER --question                  # the one-screen answer
python -c "from adapterx.grid.recompute import recompute_scores, mismatches; print(mismatches(recompute_scores('THIS_FOLDER')))"
                                                        # every score from the checked-in predictions and the gold data
adapterx run {('recipes/' + name + '.yaml') if name else 'RECIPE'}   # the grid itself (cell hashes are in results.sqlite)
```
"""


def export_bundle(run_dir: str | Path, to: str | Path, *, max_predictions_mb: float = DEFAULT_MAX_PREDICTIONS_MB,
                  overwrite: bool = False, intermediate: str = "stsb", n_boot: int = 1000) -> BundleSummary:
    """Write the bundle of the run folder ``run_dir`` (see the module docstring) to ``to``, atomically.

    Raises :class:`ConfigError` for a folder that is not a run folder, an existing ``to`` without ``overwrite`` or a
    negative limit, :class:`DataError` for a store without finished cells."""
    run_dir, to = Path(run_dir), Path(to)
    db = run_dir / DB_NAME
    if not db.is_file():
        raise ConfigError(f"{run_dir} holds no {DB_NAME}: give a run folder written by `adapterx run`")
    if max_predictions_mb < 0:
        raise ConfigError(f"--max-predictions-mb {max_predictions_mb:g}: give a size in MB, 0 or more")
    if to.exists() and not overwrite:
        raise ConfigError(f"--to {to} exists: pass --overwrite to replace it, or choose another folder")
    if to.resolve() == run_dir.resolve() or run_dir.resolve() in to.resolve().parents:
        raise ConfigError(f"--to {to} is inside the run folder {run_dir}: choose a folder outside it")
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--to {to}: cannot create its parent folder ({exc.strerror})") from None
    tmp = to.parent / f".{to.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        summary = _write(run_dir, tmp, max_predictions_mb, intermediate, n_boot)
        old = to.parent / f".{to.name}.old-{os.getpid()}"
        if to.exists():
            to.replace(old)
        tmp.replace(to)
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BundleSummary(to, summary.n_cells, summary.predictions, summary.predictions_bytes,
                         summary.predictions_bytes_all, summary.files)


def _write(run_dir: Path, out: Path, max_mb: float, intermediate: str, n_boot: int) -> BundleSummary:
    copy_store(run_dir / DB_NAME, out / DB_NAME)
    specs = _store_cells(out / DB_NAME)
    if not specs:
        raise DataError(f"{run_dir / DB_NAME}: no finished cell yet: nothing to bundle (run the recipe first)")
    for name in _RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out / name)
    _write_report_files(run_dir, out, intermediate, n_boot)

    # Predictions: compress everything first (the size that decides what is kept is the compressed one).
    files = _prediction_files(run_dir, list(specs))
    packed: dict[str, dict[str, bytes]] = {}
    digests: dict[str, dict[str, str]] = {}
    for h, paths in files.items():
        for p in paths:
            raw = p.read_bytes()
            rel = f"{p.parent.name}/{p.name}"
            digests.setdefault(h, {})[rel] = hashlib.sha256(raw).hexdigest()
            packed.setdefault(h, {})[rel] = gzip_bytes(raw)
    total = sum(len(b) for per in packed.values() for b in per.values())
    seeds = sorted({int(specs[h]["seed"]) for h in packed})
    lowest = seeds[0] if seeds else None
    if not packed:
        kept, keep = "none", set()
    elif total <= max_mb * 1e6:
        kept, keep = "all", set(packed)
    else:
        kept, keep = "lowest_seed", {h for h in packed if int(specs[h]["seed"]) == lowest}
    kept_bytes = 0
    for h in sorted(keep):
        for rel, blob in packed[h].items():
            dest = out / PREDICTIONS / h / f"{rel}.gz"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(blob)
            kept_bytes += len(blob)
        for task in {rel.split("/")[0] for rel in packed[h]}:
            manifest = run_dir / "cells" / h / "predictions" / task / "manifest.json"
            if manifest.is_file():
                shutil.copyfile(manifest, out / PREDICTIONS / h / task / "manifest.json")
    if digests:
        (out / PREDICTIONS_SHA).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    recipe_yaml = (run_dir / "recipe.yaml").read_text(encoding="utf-8") if (run_dir / "recipe.yaml").is_file() else None
    names = sorted({str(s.get("recipe")) for s in specs.values() if s.get("recipe")})
    name = names[0] if len(names) == 1 else None
    (out / "README.md").write_text(_readme(name, len(specs), kept, max_mb, lowest), encoding="utf-8")
    listed = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    manifest_doc = {
        "adapterx_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": str(run_dir),
        "recipe": {"name": name, "names": names, "yaml": recipe_yaml},
        "n_cells": len(specs),
        "predictions": {
            "kept": kept, "limit_mb": max_mb, "compressed_bytes_all": total, "compressed_bytes_kept": kept_bytes,
            "seed": lowest if kept == "lowest_seed" else None,
            "cells_kept": sorted(keep), "cells_hash_only": sorted(set(packed) - keep),
            "cells_without_predictions": sorted(h for h, paths in files.items() if not paths),
        },
        "files": {rel: file_sha256(out / rel) for rel in listed},
    }
    (out / MANIFEST).write_text(json.dumps(manifest_doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return BundleSummary(out, len(specs), kept, kept_bytes, total, [*listed, MANIFEST])


__all__ = ["BundleSummary", "DEFAULT_MAX_PREDICTIONS_MB", "MANIFEST", "PREDICTIONS", "PREDICTIONS_SHA", "copy_store",
           "export_bundle", "gzip_bytes"]
