"""Where a task's examples come from, in this order of precedence:

1. explicit files (``--train-file``, ``--eval-file LANG=PATH``, or ``--data FILE`` for an intermediate task);
2. ``--data-dir DIR`` laid out like XTREME's ``download/`` folder (:mod:`adapterx.data.layout`);
3. the task's Hugging Face ``datasets`` id (the default);
4. ``synthetic``: generated in-process (the default with ``--model tiny``).

Every loader returns the examples and a :class:`Provenance` that the run records.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError, DataError
from adapterx.fsio import file_sha256
from adapterx.data import layout
from adapterx.data import synthetic
from adapterx.data.readers import read_stsb
from adapterx.data.readers.files import record_files, record_origins
from adapterx.data.readers.signature import check_signature
from adapterx.data.rules import check_records
from adapterx.data.readers import sts as sts_readers
from adapterx.languages import get_language
from adapterx.data.hf_load import load_rows
from adapterx.data.hf_sources import get_dataset

SYNTHETIC = "synthetic"
HF = "hf"


@dataclass(frozen=True)
class DataOptions:
    """The user's data choices for one command."""

    data: str | None = None  # "synthetic", "hf", a file, or a folder (XTREME layout); None = default
    data_dir: Path | None = None  # XTREME-style folder for evaluation languages
    train_file: Path | None = None
    dev_file: Path | None = None
    eval_files: tuple[tuple[str, Path], ...] = ()  # (lang, path)
    default_synthetic: bool = False  # --model tiny: synthetic unless the user names data
    max_train_examples: int | None = None  # keep the first N training examples (recipes' data caps)
    max_eval_examples: int | None = None  # evaluate the first N examples of each language
    eval_split: str | None = None  # "dev": evaluate on dev; None / "test": the task's evaluation split
    data_revisions: tuple[str, ...] = ()  # --data-revision: REV (every Hugging Face source) or OWNER/NAME=REV


@dataclass(frozen=True)
class Provenance:
    source: str  # "synthetic", "hf:<id>[/<config>]:<split>", "file:<path>", "dir:<path>"
    size: int
    # Hugging Face reads behind ``source``: repo, config, split, revision, resolved commit, datasets fingerprint
    hf: tuple[dict[str, Any], ...] = ()
    # Local files behind ``source``: {"path", "bytes", "sha256"} of each file read (changed data is detected by them)
    files: tuple[dict[str, Any], ...] = ()

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["hf"] = list(self.hf)
        out["files"] = list(self.files)
        return out


_READ_LOG: ContextVar[list[dict[str, Any]] | None] = ContextVar("adapterx_data_reads", default=None)


def data_files(reads: list[dict[str, Any]]) -> dict[str, str]:
    """``{path: sha256}`` of the local files behind a run.json's ``data_reads``."""
    return {f["path"]: f["sha256"] for r in reads or () for f in r.get("files") or ()}


def changed_files(files: dict[str, str], cache: dict[str, str | None] | None = None) -> list[str]:
    """The paths of ``files`` (``{path: sha256}``) whose content is no longer that sha256 (or that are gone).
    ``cache`` keeps the sha256 of each path across calls (a grid plan hashes each file once)."""
    cache = {} if cache is None else cache
    out = []
    for path, sha in files.items():
        if path not in cache:
            try:
                cache[path] = file_sha256(Path(path))
            except OSError:
                cache[path] = None
        if cache[path] != sha:
            out.append(path)
    return out


def start_read_log() -> list[dict[str, Any]]:
    """Record every split :func:`load_split` reads from now on in this context (a command: the training split,
    English dev and each evaluation language). Returns the list that fills up; runs store it in run.json
    (``data_reads``) with the revision and fingerprint of every Hugging Face split."""
    log: list[dict[str, Any]] = []
    _READ_LOG.set(log)
    return log


def read_task_file(task, path: Path, lang: str | None = None) -> list:  # noqa: ANN001
    """Read one file in the task's official format (its record's ``file_reader``; some choose by file suffix)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file: give the file itself, or the folder as --data {path}"
                        " (an XTREME-style download folder)")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if task.file_reader is None:
        raise ConfigError(f"task {task.name} ({task.kind}) reads no files of its own")
    check_signature(path, task.file_reader.name, task.name)  # a file of another task's format: said up front
    return task.file_reader(path, lang)


def load_split(task, split: str, lang: str, opts: DataOptions, synthetic_seed: int = 0,  # noqa: ANN001
               for_eval: bool = False) -> tuple[list, Provenance]:
    """Examples of ``task`` for one split and language, from the first source that the options name.

    ``for_eval``: zero-shot evaluation data. It comes from ``--eval-file`` / ``--data-dir`` where given (the same
    split name, e.g. PAN-X "dev", can mean English checkpoint selection or a language's evaluation set); training
    and English dev selection data come from ``--train-file`` / ``--dev-file`` / ``--data``.
    """
    examples, prov = _load_split(task, split, lang, opts, synthetic_seed, for_eval)
    log = _READ_LOG.get()
    if log is not None:
        entry = {"task": task.name, "split": split, "lang": lang, **prov.record()}
        if entry not in log:
            log.append(entry)
    return examples, prov


def _load_split(task, split: str, lang: str, opts: DataOptions, synthetic_seed: int,  # noqa: ANN001
                for_eval: bool) -> tuple[list, Provenance]:
    if for_eval:
        explicit = dict(opts.eval_files).get(lang)
        if explicit is None and opts.eval_files:
            raise DataError(f"no --eval-file for language {lang!r}; given: {', '.join(k for k, _ in opts.eval_files)}")
        if explicit is None and opts.data_dir is not None:
            return _load_dir(task, split, lang, opts.data_dir)
    else:
        explicit = {"train": opts.train_file, "dev": opts.dev_file}.get(split)
    if explicit is not None:
        return _checked(lambda: read_task_file(task, explicit, lang), task, split, f"file:{explicit}", explicit)
    data = opts.data
    if data is None:
        data = SYNTHETIC if opts.default_synthetic else HF
    if task.members and data != SYNTHETIC:  # a union task (sts-all): its members' data, one scale (0-5)

        members = task.member_tasks() if split == "train" else task.member_tasks()[:1]
        parts = [_load_split(m, split, lang, opts, synthetic_seed, False) for m in members]
        examples = [ex for exs, _ in parts for ex in exs]
        return examples, Provenance("+".join(p.source for _, p in parts), len(examples),
                                    tuple(r for _, p in parts for r in p.hf), tuple(f for _, p in parts for f in p.files))
    if data == SYNTHETIC:
        if task.synthetic is None:
            raise DataError(f"task {task.name} has no synthetic stand-in")
        extra = {"n_choices": task.num_choices} if task.kind == "multiple_choice" else {}
        if task.kind == "classification" and task.synthetic.generator == "nli":
            extra = {"labels": task.labels}
        ex = synthetic.generate(task.synthetic, lang, split, seed=synthetic_seed, **extra)
        return ex, Provenance(SYNTHETIC, len(ex))
    if data == HF:
        return _load_hf(task, split, lang, opts.data_revisions)
    path = Path(data)
    if task.data_path_loader is not None:  # the task's own reading of --data PATH (SICK, the SemEval STS years)
        return task.data_path_loader(task, split, path, opts)
    if path.is_dir():
        return _load_dir(task, split, lang, path)
    if path.is_file():
        if split == "dev" and opts.dev_file is None:
            sibling = _dev_sibling(path)
            if sibling is None:
                raise DataError(f"{path}: found no dev file beside it (e.g. *-dev.csv, dev.tsv); pass --dev-file")
            path = sibling
        return _checked(lambda: read_task_file(task, path, lang), task, split, f"file:{path}", path)
    raise DataError(f"--data {data}: no such file or folder (or use --data synthetic / --data hf)")


def load_sick_data(task, split: str, path: Path, opts: DataOptions) -> tuple[list, Provenance]:  # noqa: ANN001, ARG001
    """SICK (``--data SICK.txt``): TRAIN rows train, TRIAL rows select (SICK-R's ``data_path_loader``)."""
    if not path.is_file():
        raise DataError(f"--data {path}: no such file (sickr reads SICK.txt or SICK_<split>.txt)")
    return _checked(lambda: sts_readers.read_sick(path, {"train": "train", "dev": "trial"}.get(split, split)),
                    task, split, f"file:{path}", path)


def load_semeval_data(task, split: str, path: Path, opts: DataOptions) -> tuple[list, Provenance]:  # noqa: ANN001
    """A SemEval STS year (``--data FOLDER`` of ``STS.input.*.txt`` / ``STS.gs.*.txt``): every scored pair trains;
    those years have no dev split, so checkpoints are selected on ``--dev-file``, e.g. STS-B's English dev CSV
    (the STS years' ``data_path_loader``)."""
    if split == "dev":
        if opts.dev_file is None:
            raise DataError(f"{task.name}: the SemEval STS years have no dev split; pass --dev-file (e.g. STS-B's "
                            "stsb-en-dev.csv) to select checkpoints")

        return _checked(lambda: read_stsb(opts.dev_file), task, split, f"file:{opts.dev_file}", opts.dev_file)
    if not path.is_dir():
        raise DataError(f"--data {path}: pass the folder of an STS year (STS.input.*.txt and STS.gs.*.txt)")

    def read() -> list:
        parts = sts_readers.load_sts_folder(path)
        return [e for name in sorted(parts) for e in parts[name]]

    return _checked(read, task, split, f"dir:{path}", path)


def _dev_sibling(train: Path) -> Path | None:
    """The dev file that sits beside a train file: stsb-en-train.csv -> stsb-en-dev.csv, train.tsv -> dev.tsv,
    train_rand_split.jsonl -> dev_rand_split.jsonl (CommonsenseQA), train.csv -> valid.csv (Cosmos QA),
    hellaswag_train.jsonl -> hellaswag_val.jsonl."""
    name = train.name
    for a, b in (("train", "dev"), ("train", "validation"), ("train", "valid"), ("train", "val")):
        if a in name:
            cand = train.with_name(name.replace(a, b))
            if cand.is_file():
                return cand
    return None


def _checked(read: Callable[[], list], task, split: str, source: str,  # noqa: ANN001
             path: Path) -> tuple[list, Provenance]:
    """Read local data with ``read`` and apply the task's record rules (adapterx.data.rules): every local read goes
    through here, so a record that breaks them is named by file:line before anything trains or downloads."""
    with record_origins() as origins, record_files() as files:
        examples = read()
    if not examples:
        raise DataError(f"{path}: no examples in this file")
    check_records(task, examples, split, str(path), origins)
    return examples, Provenance(source, len(examples), files=tuple(files))


def _load_dir(task, split: str, lang: str, folder: Path) -> tuple[list, Provenance]:  # noqa: ANN001

    if task.layout is None:
        raise DataError(f"task {task.name} has no XTREME-style folder layout; pass files explicitly")
    return _checked(lambda: layout.read_split(task.layout, Path(folder), split, lang), task, split, f"dir:{folder}",
                    Path(folder))


def available_languages(task, split: str, opts: DataOptions) -> list[str]:  # noqa: ANN001
    """Languages the options can provide for ``split``: files in --data-dir, explicit --eval-file, or the task's list."""
    if opts.eval_files:
        return [lang for lang, _ in opts.eval_files]
    folder = opts.data_dir or (Path(opts.data) if opts.data and Path(opts.data).is_dir() else None)
    if folder is not None:
        if task.layout is None:
            raise DataError(f"task {task.name} has no XTREME-style folder layout")
        found = layout.find_split_files(task.layout, Path(folder), split)
        if not found:
            raise DataError(f"{folder}: no {task.name} {split} files found (expected the XTREME download layout)")
        return sorted(found)
    return list(task.languages)


def _load_hf(task, split: str, lang: str, revisions: tuple[str, ...] = ()) -> tuple[list, Provenance]:  # noqa: ANN001
    """The task's Hugging Face data for one split and language: every source of the split (ANLI+ has several),
    each read at its pinned revision (or ``--data-revision``) from :mod:`adapterx.data.hf_sources`."""
    sources = task.hf if isinstance(task.hf, tuple) else (task.hf,) if task.hf else ()
    if not sources:
        raise DataError(
            f"task {task.name} has no Hugging Face data set{': ' + task.notes if task.notes else ''}; "
            "pass --data FILE|DIR, or --data synthetic"
        )
    out: list = []
    reads = []
    for src in sources:
        if split not in src.splits:
            continue
        key, hf_split = src.splits[split]
        ds = get_dataset(key)
        if src.lang_prefix_ids and lang not in task.languages:
            raise DataError(f"{task.name}: the Hugging Face data set {ds.repo} has no language {lang!r} "
                            f"(it has: {', '.join(task.languages)})")
        try:
            rows, read = load_rows(ds, hf_split, lang, revisions)
        except DataError as exc:
            raise DataError(f"{task.name} {split} ({lang}): {exc}") from None
        prefix = _lang_name(lang).lower() + "-" if src.lang_prefix_ids else None
        for i, row in enumerate(rows):
            if prefix and not str(row.get("id", "")).startswith(prefix):
                continue
            ex = src.row(row, i)
            if ex is not None:
                out.append(ex)
        reads.append(read)
    if not reads:
        raise DataError(f"task {task.name} has no {split} split in its Hugging Face data")
    if not out:
        raise DataError(f"{task.name} {split} ({lang}): the Hugging Face data set returned no labelled examples")
    return out, Provenance("+".join(r.source for r in reads), len(out), tuple(r.record() for r in reads))


def _lang_name(code: str) -> str:
    return get_language(code).name


# The built-in models (the tiny random XLM-R, the packaged real MiniLM) run without any download: their default data
# is synthetic too, so every quickstart command runs offline with either; --data / --train-file name real data.
BUILT_IN_MODELS = ("tiny", "minilm")


def with_model_defaults(opts: DataOptions, model: str, task=None, training: bool = True) -> DataOptions:  # noqa: ANN001
    """A built-in model trains on synthetic data unless the user named a data source.

    Where ``--data-dir`` holds ``task``'s English training files, those are the data source: a real evaluation
    folder means real training (training on synthetic data and scoring on real files reports the head's chance level
    as a zero-shot result). A training command that names real evaluation or selection data (``--data-dir`` without
    training files, ``--eval-file``, ``--dev-file``) and no training data is refused unless ``--data synthetic`` says
    the mix is meant. ``training=False`` (``adapterx eval``): only the default changes, nothing is refused."""
    if model not in BUILT_IN_MODELS or opts.data is not None or opts.train_file is not None:
        return opts
    if opts.data_dir is not None and task is not None and _has_train_files(task, opts.data_dir):
        return replace(opts, data=str(opts.data_dir))
    real = [flag for flag, given in (("--data-dir", opts.data_dir), ("--eval-file", opts.eval_files),
                                     ("--dev-file", opts.dev_file)) if given]
    if training and real:
        where = f" ({opts.data_dir} has no {task.name} training files)" if task is not None and opts.data_dir else ""
        raise ConfigError(
            f"--model {model} trains on synthetic data unless told otherwise, and {' / '.join(real)} names real data"
            f"{where}: pass --data DIR or --train-file FILE to train on real data, or --data synthetic to train on "
            "synthetic data and evaluate on the real files deliberately")
    return replace(opts, default_synthetic=True)


def _has_train_files(task, folder: Path) -> bool:  # noqa: ANN001
    """Whether ``folder`` (XTREME layout) holds ``task``'s English training split (a union task: its members')."""
    if task.members:
        return all(_has_train_files(m, folder) for m in task.member_tasks())
    if task.layout is None or not Path(folder).is_dir():
        return False
    try:
        return "en" in layout.find_split_files(task.layout, Path(folder), "train")
    except DataError:
        return False
