"""``adapterx data download`` and ``adapterx data check``: the Hugging Face sources, prepared and verified.

``download`` reads each task's Hugging Face data through the same path training reads it (:func:`load_split`, pinned
revisions, ``--data-revision``) and writes it as XTREME's download folder lays it out (the targets of the task's
:class:`~adapterx.data.layout.FolderLayout`: the file names it reads, in the official formats, :mod:`adapterx.data.writers`), so a cluster whose
nodes have no network prepares the data once on a login node and passes ``--data-dir DIR`` (``--data DIR`` for the
English training data). What a run reads: English train and dev, and the task's evaluation split in every
evaluation language. Files that exist are kept unless ``force``; each task is written into a scratch folder inside
the target and moved into place file by file when all its files are complete, so an interrupted download leaves no
half-written file. ``DIR/adapterx-download.json`` records, per file, the revision, commit and fingerprint it came
from.

``check`` streams the first row of every config and split a task reads and checks the columns its converter uses.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.data.hf_load import first_row, hub_reachable
from adapterx.data.hf_sources import get_dataset, resolve_revision
from adapterx.data.sources import DataOptions, load_split
from adapterx.data.layout import LAYOUTS, Target
from adapterx.errors import ConfigError, DataError
from adapterx.fsio import atomic_write_json
from adapterx.languages import get_language
from adapterx.tasks import get_task
from adapterx.tasks import task_names

MANIFEST = "adapterx-download.json"


@dataclass(frozen=True)
class Read:
    """One split and language a task reads from its Hugging Face sources."""

    task: str
    split: str
    lang: str
    datasets: tuple[tuple[str, str], ...]  # (data set key, split there) per source of the split


@dataclass
class FileResult:
    task: str
    split: str
    lang: str
    path: str  # relative to the download folder
    status: str  # "written", "kept" (exists; no --force), "skipped" (the source has no such language)
    examples: int = 0
    reason: str = ""
    hf: list[dict[str, Any]] = field(default_factory=list)


def _task(name: str):
    return get_task(name.strip().lower())


def _sources(task) -> tuple:
    return task.hf if isinstance(task.hf, tuple) else (task.hf,) if task.hf else ()


def _codes(langs: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for lang in langs:
        try:
            out.append(get_language(lang).code)
        except ConfigError:
            out.append(lang)
    return tuple(out)


def _eval_languages(task, langs: tuple[str, ...] | None) -> list[str]:
    """The task's evaluation languages, those of ``langs`` only where given (languages the task does not evaluate
    are not its business: ``data download xnli siqa --langs sw`` gives SIQA English only)."""
    if not langs:
        return list(task.languages)
    return [c for c in _codes(langs) if c in task.languages]


def _lang_available(task, split: str, lang: str) -> str | None:
    """Why the task's Hugging Face sources lack ``lang`` for ``split`` (None where they have it)."""
    for src in _sources(task):
        if split in src.splits:
            try:
                get_dataset(src.splits[split][0]).config_for(lang)
            except DataError as exc:
                return str(exc)
    return None


def plan_reads(task, langs: tuple[str, ...] | None = None) -> list[Read]:
    """What a run of ``task`` reads from the Hugging Face sources: English train and dev, and the evaluation split
    in each evaluation language (``langs``: a subset of the task's; default all)."""
    eval_langs = _eval_languages(task, langs)
    wanted: list[tuple[str, str]] = [("train", "en"), ("dev", "en")]
    wanted += [(task.eval_split, lang) for lang in eval_langs]
    out, seen = [], set()
    for split, lang in wanted:
        srcs = tuple(src.splits[split] for src in _sources(task) if split in src.splits)
        if srcs and (split, lang) not in seen:
            seen.add((split, lang))
            out.append(Read(task.name, split, lang, srcs))
    return out


@dataclass
class DownloadReport:
    root: Path
    files: list[FileResult]

    def to_json(self) -> dict[str, Any]:
        return {"root": str(self.root), "files": [vars(f) for f in self.files]}


def _writable(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise DataError(f"--to {root}: is a file, expected a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".adapterx-write-test-"):
            pass
    except OSError as exc:
        raise DataError(f"--to {root}: cannot write there ({exc.strerror or exc})") from None


def _targets(task) -> dict[str, Target]:
    """Where each split of the task goes in the download folder (none: the task has no folder layout)."""
    return dict(LAYOUTS[task.layout].targets) if task.layout else {}


def _relative(task, split: str, lang: str) -> str | None:
    target = _targets(task).get(split)
    return None if target is None else target.path(lang)


def _download_task(task, root: Path, langs: tuple[str, ...] | None, force: bool, revisions: tuple[str, ...],
                   progress: Callable[[FileResult], None] | None) -> list[FileResult]:
    results: list[FileResult] = []
    todo: list[tuple[Read, str]] = []
    for read in plan_reads(task, langs):
        rel = _relative(task, read.split, read.lang)
        if rel is None:  # the layout has no file for this split (XQuAD/MLQA train on SQuAD: not an XTREME file)
            continue
        why = _lang_available(task, read.split, read.lang)
        if why is not None:  # (asked for by name, download() refused it already)
            results.append(FileResult(task.name, read.split, read.lang, rel, "skipped", reason=why))
        elif (root / rel).exists() and not force:
            results.append(FileResult(task.name, read.split, read.lang, rel, "kept", reason="exists (--force rewrites)"))
        else:
            todo.append((read, rel))
    if not todo:
        return results
    opts = DataOptions(data="hf", data_revisions=revisions)
    scratch = Path(tempfile.mkdtemp(prefix=f".adapterx-download-{task.name}-", dir=root))
    try:
        written: list[FileResult] = []
        for read, rel in todo:
            examples, prov = load_split(task, read.split, read.lang, opts)
            tmp = scratch / rel
            tmp.parent.mkdir(parents=True, exist_ok=True)
            _targets(task)[read.split].writer(examples, tmp)
            written.append(FileResult(task.name, read.split, read.lang, rel, "written", len(examples), hf=list(prov.hf)))
        # every file of the task is complete: move them into place (a writer may have added siblings: SIQA labels)
        for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
            dest = root / path.relative_to(scratch)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        for res in written:
            results.append(res)
            if progress:
                progress(res)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def _write_manifest(root: Path, results: list[FileResult]) -> None:
    path = root / MANIFEST
    if not any(r.status == "written" for r in results):
        return
    manifest: dict[str, Any] = {}
    if path.is_file():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            manifest = {}
    files = manifest.setdefault("files", {})
    for r in results:
        if r.status == "written":
            files[r.path] = {"task": r.task, "split": r.split, "lang": r.lang, "examples": r.examples, "hf": r.hf}
    atomic_write_json(path, manifest, indent=2, sort_keys=True)


def download(tasks: list[str], root: Path, langs: tuple[str, ...] | None = None, force: bool = False,
             revisions: tuple[str, ...] = (), progress: Callable[[FileResult], None] | None = None) -> DownloadReport:
    """Write the Hugging Face data of ``tasks`` under ``root`` in XTREME's download layout (see the module doc)."""
    specs = [_task(t) for t in tasks]  # unknown names fail before anything is written
    for spec in specs:
        if not _targets(spec) or not _sources(spec):
            known = sorted(downloadable())
            raise ConfigError(f"task {spec.name} has no XTREME download layout to write; "
                              f"`adapterx data download` writes: {', '.join(known)}")
    if langs:  # a language no task evaluates is a typo: say so before anything is downloaded
        unknown = [lang for lang, c in zip(langs, _codes(langs)) if not any(c in s.languages for s in specs)]
        if unknown:
            have = sorted({c for s in specs for c in s.languages})
            raise DataError(f"--langs {','.join(unknown)}: not a language of {', '.join(s.name for s in specs)} "
                            f"(they have: {', '.join(have)})")
        for spec in specs:  # a language the Hugging Face source lacks, asked for by name
            for read in plan_reads(spec, langs):
                why = _lang_available(spec, read.split, read.lang)
                if why is not None and _relative(spec, read.split, read.lang):
                    raise DataError(f"{spec.name} {read.split}: {why}")
    why = hub_reachable()
    if why is not None:
        raise DataError(f"no network: the Hugging Face Hub cannot be reached ({why}); run `adapterx data download` "
                        "where it can, then copy the folder")
    root = Path(root).expanduser()
    _writable(root)
    results: list[FileResult] = []
    try:
        for spec in specs:
            results += _download_task(spec, root, langs, force, revisions, progress)
    finally:
        _write_manifest(root, results)
    return DownloadReport(root, results)


def downloadable() -> list[str]:
    """The tasks `data download` writes: those with Hugging Face data and a folder layout with targets."""
    return [n for n in task_names() if _targets(_task(n)) and _sources(_task(n))]


@dataclass
class CheckRow:
    task: str
    split: str
    lang: str
    repo: str
    config: str | None
    hf_split: str
    revision: str
    status: str  # "ok", "broken" (with the reason), "absent" (the source has no such language: documented)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "broken"


def _check_one(task, src, read: Read, key: str, hf_split: str, revisions: tuple[str, ...]) -> CheckRow:
    ds = get_dataset(key)
    revision = resolve_revision(ds, revisions)
    try:
        config = ds.config_for(read.lang)
    except DataError as exc:
        return CheckRow(task.name, read.split, read.lang, ds.repo, None, hf_split, revision, "absent", str(exc))

    def row(status: str, reason: str = "") -> CheckRow:
        return CheckRow(task.name, read.split, read.lang, ds.repo, config, hf_split, revision, status, reason)

    try:
        first = first_row(ds, hf_split, read.lang, revisions)
    except DataError as exc:
        return row("broken", str(exc))
    missing = [c for c in ds.columns if c not in first]
    if missing:
        return row("broken", f"missing column(s) {', '.join(missing)}; the row has {', '.join(sorted(first))}")
    try:
        src.row(first, 0)
    except Exception as exc:  # noqa: BLE001 - the converter failing on a real row is what check reports
        return row("broken", f"the row converter fails on the first row: {type(exc).__name__}: {exc}")
    return row("ok")


def check(tasks: list[str] | None = None, revisions: tuple[str, ...] = (),
          progress: Callable[[CheckRow], None] | None = None) -> list[CheckRow]:
    """Stream the first row of every config and split ``tasks`` (default: every task with Hugging Face data)
    read, and check the columns their converters use. Needs the network (or ``ADAPTERX_HF_ROOT``)."""
    names = tasks or [n for n in task_names() if _sources(_task(n))]
    specs = [_task(n) for n in names]
    for spec in specs:
        if not _sources(spec):
            raise ConfigError(f"task {spec.name} has no Hugging Face data set to check"
                              f"{': ' + spec.notes if spec.notes else ''}")
    why = hub_reachable()
    if why is not None:
        raise DataError(f"no network: the Hugging Face Hub cannot be reached ({why}); `adapterx data check` needs it")
    rows: list[CheckRow] = []
    seen: set[tuple] = set()
    for spec in specs:
        for read in plan_reads(spec):
            for src in _sources(spec):
                if read.split not in src.splits:
                    continue
                key, hf_split = src.splits[read.split]
                ds = get_dataset(key)
                lang_key = read.lang if ds.per_language else None
                if (spec.name, key, hf_split, lang_key) in seen:
                    continue
                seen.add((spec.name, key, hf_split, lang_key))
                res = _check_one(spec, src, read, key, hf_split, revisions)
                rows.append(res)
                if progress:
                    progress(res)
    return rows


__all__ = ["MANIFEST", "CheckRow", "DownloadReport", "FileResult", "Read", "check", "download", "downloadable",
           "plan_reads"]
