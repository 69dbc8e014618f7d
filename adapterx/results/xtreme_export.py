"""``adapterx export xtreme RUN_DIR... --to FOLDER``: the predictions of runs as XTREME(-R)'s submission folder.

A source is a run directory (its ``predictions/``, with ``metrics.json`` saying what was evaluated) or a predictions
folder written by ``--save-predictions`` (``<task>/<lang>.jsonl``, with the ``manifest.json`` adapterx writes beside
them). Every language of every task found is written as ``FOLDER/<task folder>/test-<lang>.<ext>``
(:mod:`adapterx.results.xtreme_format`), lines in the order of the official file (example ids are positions in it).

A submission must be complete: a language whose examples were not all predicted (``--max-examples``, a subsampled
BUCC run, rows a reader skipped) is refused with the count, as is a task/language that two sources both provide.
Nothing is written unless every file can be. ``FOLDER/adapterx_export.json`` records where each file came from, the
adapterx and seqeval versions (XTREME's UD-POS F1 depends on seqeval's: 0.0.12 and 1.2.2 differ) and the official
languages a task still lacks (``evaluate.py`` needs all of them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx import __version__
from adapterx.engine.rundir import now_iso
from adapterx.errors import ConfigError, DataError
from adapterx.fsio import atomic_write_json, check_output_dir
from adapterx.results import xtreme_format as xf

METADATA = "adapterx_export.json"


@dataclass
class ExportSummary:
    """What :func:`export_xtreme` wrote."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    tasks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # task -> lang -> provenance
    missing: dict[str, list[str]] = field(default_factory=dict)  # task -> official languages without a file

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "files": [str(p) for p in self.files],
            "tasks": {t: sorted(langs) for t, langs in self.tasks.items()},
            "missing_official_languages": self.missing,
        }


@dataclass(frozen=True)
class _Item:
    task: str
    lang: str
    path: Path
    n_total: int | None
    origin: str
    split: str | None
    refuse: str | None = None  # why this language cannot be part of a submission


def evaluates_synthetic(opts: Any) -> bool:
    """Whether data options (``adapterx.data.sources.DataOptions``) evaluate on synthetic data: no evaluation
    folder or files, and synthetic data named or the built-in models' default."""
    if opts is None or getattr(opts, "data_dir", None) is not None or getattr(opts, "eval_files", ()):
        return False
    data = getattr(opts, "data", None)
    return data == "synthetic" or (data is None and bool(getattr(opts, "default_synthetic", False)))


def check_exportable(task: str, max_examples: int | None = None, opts: Any = None) -> None:
    """Refuse, before anything runs, an evaluation whose predictions cannot become a submission file (``opts``:
    the run's data options; synthetic evaluation data never reaches a submission)."""
    if evaluates_synthetic(opts):
        raise ConfigError("--xtreme-out: this run evaluates on synthetic data (the built-in models' default), and "
                          "a submission holds predictions of the real test files: pass --data-dir")
    if task not in xf.XTREME_TASKS:
        raise ConfigError(f"--xtreme-out: {task} is not a task of XTREME's layout "
                          f"({', '.join(xf.XTREME_TASKS)})")
    if max_examples:
        raise ConfigError("--xtreme-out needs every example of each language: drop --max-examples "
                          f"({max_examples}), a submission must be complete")


def _items_of(source: Path, origin: str | None = None) -> list[_Item]:
    """Every task/language predictions file of one source."""
    src = Path(source)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder; pass run directories or prediction folders")
    evals: dict[str, Any] = {}
    folder = src
    if (src / "run.json").is_file():
        folder = src / "predictions"
        metrics = src / "metrics.json"
        if metrics.is_file():
            try:
                evals = json.loads(metrics.read_text(encoding="utf-8")).get("eval") or {}
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(f"{metrics}: unreadable ({exc})") from None
    items: list[_Item] = []
    for task in xf.XTREME_TASKS:
        d = folder / task
        if not d.is_dir():
            continue
        manifest = xf.read_manifest(d)
        langs = manifest.get("languages") or {}
        ev = evals.get(task) or {}
        truncated = any("--max-examples" in str(n) for n in ev.get("notes", []))
        for path in sorted(d.glob("*.jsonl")):
            lang = path.stem
            info = langs.get(lang) or {}
            n_total = info.get("n_total")
            refuse = _not_a_submission(path, task, lang, manifest.get("split"), info)
            if refuse is None and (info.get("complete") is False or (not info and truncated)):
                n = info.get("n", ev.get("n_examples", {}).get(lang))
                of = f" of {n_total}" if n_total is not None else ""
                refuse = (f"{path}: {task} {lang} has predictions for {n}{of} examples only "
                          f"({info.get('why') or 'a partial evaluation'}); a submission needs the whole test file")
            items.append(_Item(task, lang, path, n_total, origin or str(src), manifest.get("split"), refuse))
    if not items:
        raise DataError(f"{src}: no predictions of {', '.join(xf.XTREME_TASKS)} ({folder}/<task>/<lang>.jsonl)")
    return items


def _not_a_submission(path: Path, task: str, lang: str, split: Any, info: dict[str, Any]) -> str | None:
    """Why one language's predictions cannot be a submission file (None where they can): a submission's
    ``test-<lang>`` file holds predictions of the real split XTREME scores, so predictions of another split, of no
    known split, or of synthetic data are refused (PAWS-X's dev and test have 2,000 lines each: a dev file would
    be graded against test gold without an error)."""
    want = xf.submission_split(task)
    manifest = path.parent / xf.MANIFEST
    if str(info.get("source") or "").startswith("synthetic"):
        return (f"{path}: {task} {lang} was predicted on synthetic data ({manifest}); a submission holds predictions "
                "of the real test files (--data-dir)")
    if not split:
        return (f"{path}: no split recorded for {task} ({manifest} is missing or says none); a submission needs "
                f"predictions of {want}: predict again with --save-predictions")
    if split != want:
        return (f"{path}: {task} {lang} predictions are of the {split} split ({manifest}); a submission's "
                f"test-{lang} file needs {want} predictions (--split {want})")
    return None


def seqeval_version() -> str | None:
    """The installed seqeval's version (None where it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seqeval")
    except PackageNotFoundError:
        return None


def export_xtreme(sources: Sequence[Path], to: Path, origin: str | None = None) -> ExportSummary:
    """Write the predictions of ``sources`` (run directories or prediction folders) into ``to`` in XTREME's layout;
    see the module doc. ``origin`` names the sources in the metadata (default: their paths)."""
    check_output_dir(to, "--to")  # a file, or a place under one, is refused before any prediction is read
    problems = xf.Problems()
    items: dict[tuple[str, str], _Item] = {}
    for source in sources:
        try:
            found = _items_of(Path(source), origin)
        except DataError as exc:
            problems.add(str(exc))
            continue
        for it in found:
            key = (it.task, it.lang)
            if key in items:
                problems.add(f"{it.path}: {it.task} {it.lang} is also in {items[key].path}; export one run per "
                             "task and language")
                continue
            items[key] = it
    converted: dict[tuple[str, str], Any] = {}
    for key, it in items.items():
        if it.refuse:
            problems.add(it.refuse)
            continue
        try:
            converted[key] = xf.to_official(it.task, xf.read_prediction_lines(it.path), str(it.path), it.n_total)
        except DataError as exc:
            problems.add(str(exc))
    problems.raise_if_any("the predictions to export")
    summary = ExportSummary(Path(to))
    made = [d for d in (Path(to), *Path(to).parents) if not d.exists()]
    added: list[Path] = []  # files this export created (a replaced one is not restored: it was atomically replaced)
    try:
        for (task, lang), preds in sorted(converted.items()):
            it = items[(task, lang)]
            path = xf.file_path(to, task, lang)
            if not path.exists():
                added.append(path)
            summary.files.append(xf.write_file(path, task, preds))
            summary.tasks.setdefault(task, {})[lang] = {"source": it.origin, "file": str(it.path), "split": it.split}
        _write_metadata(summary)
    except BaseException:  # disk full midway: the files this export added go again, so no half submission stays
        for f in added:
            f.unlink(missing_ok=True)
        for d in sorted({p.parent for p in added} | set(made), key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return summary


def _write_metadata(summary: ExportSummary) -> None:
    """Merge this export into ``FOLDER/adapterx_export.json`` (several exports may fill one folder)."""
    path = summary.folder / METADATA
    meta: dict[str, Any] = {}
    if path.is_file():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            meta = {}
    tasks = meta.get("tasks") or {}
    for task, langs in summary.tasks.items():
        tasks.setdefault(task, {}).update(langs)
    missing = {}
    for task in tasks:
        present = set(xf.languages_in(summary.folder, task))
        lack = [lang for lang in xf.OFFICIAL_LANGUAGES.get(task, ()) if lang not in present]
        if lack:
            missing[task] = lack
    summary.missing = {t: v for t, v in missing.items() if t in summary.tasks}
    meta.update({
        "adapterx_version": __version__,
        "created": now_iso(),
        "layout": "google-research/xtreme evaluate.py: <task>/test-<lang>.<ext> (--xtreme_version xtreme-r; "
                  "pawsx and bucc2018 with --xtreme_version xtreme)",
        "seqeval": seqeval_version(),
        "tagging_f1": "adapterx.tasks.metrics.tagging_f1: seqeval's default-mode entity F1, re-implemented "
                      "(UD-POS scores depend on the seqeval version the scorer runs: record it beside the scores)",
        "tasks": tasks,
        "missing_official_languages": missing,
    })
    atomic_write_json(path, meta)


__all__ = ["METADATA", "ExportSummary", "check_exportable", "evaluates_synthetic", "export_xtreme", "seqeval_version"]
