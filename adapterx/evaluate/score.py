"""Score anyone's predictions with adapterx's metrics: ``adapterx score PREDICTIONS --gold GOLD``.

Predictions come in either layout:

- ``xtreme``: XTREME(-R)'s submission folder (:mod:`adapterx.results.xtreme_format`), ``<task>/test-<lang>.<ext>``;
- ``adapterx``: what ``--save-predictions`` writes, ``<task>/<lang>.jsonl`` of ``{"id", "prediction"}`` lines.

Gold is either a label folder in the XTREME layout (the benchmark's ``--label_folder``) or the official data files
adapterx reads for evaluation (an XTREME download folder, ``--data-dir``), per file: a ``test-<lang>`` file whose
lines have the gold's shape is gold in the layout; otherwise the language is read from the data folder.

Every language is scored with the functions ``adapterx eval`` uses (:mod:`adapterx.tasks.metrics`, MLQA with
its per-language normalisation), and the result is the eval JSON (the same keys, averages and low-resource averages),
plus the per-example statistics ``report`` bootstraps. Problems (a missing language, a wrong count, an unparsable
file, ids that are not in the gold) are collected over all files and raised together, one line each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.data import layout
from adapterx.data.examples import Answer, QAExample
from adapterx.data.readers import has_labels
from adapterx.data.readers.files import record_origins
from adapterx.data.rules import check_records
from adapterx.errors import ConfigError, DataError
from adapterx.tasks import metrics
from adapterx.evaluate.zero_shot import EvalReport, LanguageResult
from adapterx.results import xtreme_format as xf
from adapterx.retrieval.data import find_bucc, find_tatoeba, read_bucc, read_tatoeba
from adapterx.tasks import get_task
from adapterx import __version__
from adapterx.engine.rundir import now_iso
from adapterx.fsio import atomic_write_json
from adapterx.results.xtreme_export import seqeval_version

FORMATS = ("xtreme", "adapterx")


@dataclass(frozen=True)
class ScoreRequest:
    predictions: Path
    gold: Path
    format: str | None = None  # xtreme | adapterx | None: detected
    tasks: tuple[str, ...] = ()  # empty: every task found in the predictions
    split: str | None = None  # data-folder gold: the split (default: the predictions' manifest, else the task's)
    low_threshold: int = 2


@dataclass
class ScoredTask:
    task: str
    report: Any  # adapterx.evaluate.zero_shot.EvalReport
    gold: dict[str, str] = field(default_factory=dict)  # lang -> where its gold came from

    def to_json(self, threshold: int = 2) -> dict[str, Any]:
        out = self.report.to_json(threshold)
        out["gold"] = self.gold
        return out


def detect_format(folder: Path) -> str:
    """``xtreme`` when ``folder`` has ``<task folder>/test-<lang>.<ext>`` files, ``adapterx`` when it has
    ``<task>/<lang>.jsonl`` files."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; pass the predictions folder")
    if any(xf.languages_in(folder, t) for t in xf.XTREME_TASKS):
        return "xtreme"
    if any((folder / t).is_dir() and any((folder / t).glob("*.jsonl")) for t in xf.XTREME_TASKS):
        return "adapterx"
    raise DataError(
        f"{folder}: no predictions found (expected <task>/test-<lang>.<ext> as XTREME's layout, or <task>/<lang>.jsonl "
        f"as adapterx writes them, for a task among {', '.join(xf.XTREME_TASKS)})"
    )


# ---------------------------------------------------------------------------------------------------------------
# loading


def _prediction_languages(folder: Path, fmt: str, task: str) -> dict[str, Path]:
    if fmt == "xtreme":
        return {lang: xf.file_path(folder, task, lang) for lang in xf.languages_in(folder, task)}
    d = folder / task
    return {p.stem: p for p in sorted(d.glob("*.jsonl"))} if d.is_dir() else {}


def _load_predictions(path: Path, fmt: str, task: str, n_total: int | None) -> Any:
    if fmt == "xtreme":
        preds = xf.read_file(path, task)
        if xf.xtreme_task(task).shape == "qa" and preds and isinstance(next(iter(preds.values())), list):
            raise DataError(f"{path}: holds SQuAD gold, not predictions {{question id: answer text}}")
        return preds
    return xf.to_official(task, xf.read_prediction_lines(path), str(path), n_total)


def _first_dir(candidates: Sequence[Path], probe: Any) -> Any:
    first_error: DataError | None = None
    for folder in candidates:
        if not folder.is_dir():
            continue
        try:
            return probe(folder)
        except DataError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    raise DataError(f"{candidates[0]}: no such folder")


@dataclass(frozen=True)
class Gold:
    """One language's gold in the layout's shapes; ``ids`` (BUCC from the data files): the sentence ids of both
    sides, to report predicted pairs whose ids are not in the data."""

    value: Any
    where: str
    ids: tuple[frozenset[str], frozenset[str]] | None = None
    split: str | None = None  # the split the gold belongs to (a label folder: the submission's)


def load_gold(root: Path, task: str, lang: str, split: str) -> Gold:
    """The gold of ``task``/``lang``: the layout's ``test-<lang>`` file under ``root`` where it has the gold's
    shape, else the official data files under ``root`` (``split``)."""
    spec = get_task(task)
    layout_file = xf.file_path(root, task, lang)
    if xf.is_gold_file(layout_file, task, spec.labels):
        value = xf.read_file(layout_file, task)
        if isinstance(value, dict) and any(isinstance(v, str) for v in value.values()):
            raise DataError(f"{layout_file}: holds predictions {{question id: answer text}}, not SQuAD gold; pass the "
                            "label folder (or the data folder) as --gold")
        return Gold(value, str(layout_file), split=xf.submission_split(task))
    if task == "tatoeba":
        pairs = _first_dir([root, root / "tatoeba", root / "tatoeba" / "v1"], find_tatoeba)
        if lang not in pairs:
            raise DataError(f"{root}: no Tatoeba pair for {lang} (gold for {layout_file.name})")
        corpus = read_tatoeba(*pairs[lang], source_lang=lang)
        # the files are aligned line by line: query i's answer is line i
        return Gold(list(range(len(corpus.source))), str(pairs[lang][0]), split="test")
    if task == "bucc":
        found = _first_dir([root, root / "bucc2018", root / "bucc" / "bucc2018"], find_bucc)
        files = found.get((lang, split))
        if files is None:
            raise DataError(f"{root}: no BUCC {lang}-en files of split {split!r} (gold for {layout_file.name})")
        if files.gold is None:
            raise DataError(f"{files.source}: split {split!r} has no .gold file: no gold to score against")
        corpus = read_bucc(files.source, files.target, files.gold, source_lang=lang)
        return Gold(list(corpus.gold_pairs), str(files.gold), (frozenset(corpus.source_ids), frozenset(corpus.target_ids)),
                    split)
    with record_origins() as origins:
        examples = layout.read_split(spec.layout, root, split, lang)
    src = layout.find_split_sources(spec.layout, root, split)[lang]
    where = ", ".join(str(p) for p in src.paths)
    check_records(spec, examples, split, where, origins)  # the task's own rules, as for training data
    if not has_labels(examples):
        raise DataError(f"{where}: {spec.name} {split} ({lang}) has examples without gold labels: nothing to score "
                        "against (XTREME strips test labels; pass a labelled copy or a gold folder)")
    shape = xf.xtreme_task(task).shape
    if shape == "tags":
        return Gold([list(ex.tags) for ex in examples], where, split=split)
    if shape == "qa":
        return Gold({ex.id: [a.text for a in ex.answers] for ex in examples}, where, split=split)
    labels = xf.LabelSet.of(task)  # the readers' labels in the one form predictions are compared in
    return Gold([labels.canonical(ex.label, f"{where} (example {ex.id})") for ex in examples], where, split=split)


# ---------------------------------------------------------------------------------------------------------------
# scoring


def score_language(task: str, lang: str, preds: Any, gold: Gold, where: str) -> tuple[dict[str, float], list[dict], int]:
    """adapterx's scores of one language (the keys ``eval`` / ``retrieve`` print), the per-example statistics and
    the number of examples. Raises :class:`DataError` (file and count) where predictions and gold do not match."""
    spec = get_task(task)
    shape = xf.xtreme_task(task).shape
    g = gold.value
    if shape == "qa":
        if not isinstance(preds, Mapping):
            raise DataError(f"{where}: expected {{question id: answer text}}")
        extra = [k for k in preds if k not in g]
        missing = [k for k in g if k not in preds]
        if extra or missing:
            parts = ([f"{len(extra)} question id(s) not in the gold {gold.where} (e.g. {extra[0]!r})"] if extra else []) \
                + ([f"{len(missing)} of {len(g)} gold questions without a prediction (e.g. {missing[0]!r})"] if missing else [])
            raise DataError(f"{where}: " + "; ".join(parts))
        unanswered = [k for k, answers in g.items() if not answers]
        if unanswered:
            raise DataError(f"{gold.where}: {len(unanswered)} question(s) without gold answers (stripped test file?)")
        examples = [QAExample(k, "", "", tuple(Answer(a, 0) for a in answers)) for k, answers in g.items()]
        try:
            scores = metrics.qa_scores(preds, examples, lang=lang, mlqa=spec.mlqa_normalisation)
            stats = metrics.qa_per_example(preds, examples, lang=lang, mlqa=spec.mlqa_normalisation)
        except ConfigError as exc:
            raise DataError(f"{where}: {exc}") from None
        return scores, stats, len(examples)
    if shape == "pairs":
        from adapterx.retrieval.search import bitext_f1

        pairs = [tuple(p) for p in preds]
        if gold.ids is not None:
            unknown = [p for p in pairs if p[0] not in gold.ids[0] or p[1] not in gold.ids[1]]
            if unknown:
                raise DataError(f"{where}: {len(unknown)} of {len(pairs)} pair(s) name ids that are not in the "
                                f"sentence files of {gold.where} (e.g. {unknown[0][0]} {unknown[0][1]})")
        p, r, f = bitext_f1(pairs, [tuple(x) for x in g])
        return {"f1": f, "precision": p, "recall": r}, [], len(g)
    if len(preds) != len(g):
        unit = "sentences" if shape == "tags" else "lines"
        raise DataError(f"{where}: {len(preds)} {unit} for {len(g)} in the gold {gold.where}")
    if shape == "tags":
        wrong = [i for i, (a, b) in enumerate(zip(preds, g)) if len(a) != len(b)]
        if wrong:
            i = wrong[0]
            raise DataError(f"{where}: {len(wrong)} sentence(s) with a different number of tags than the gold "
                            f"(first: sentence {i + 1}, {len(preds[i])} vs {len(g[i])})")
        return {"f1": metrics.tagging_f1(g, preds)}, metrics.tagging_per_example(g, preds), len(g)
    if shape == "index":  # a sentence of the target side: there are as many as queries
        outside = next((i for i, x in enumerate(preds) if not 0 <= int(x) < len(g)), None)
        if outside is not None:
            raise DataError(f"{where}:{outside + 1}: index {preds[outside]} is outside the {len(g)} target sentences")
    # predictions and gold are both in LabelSet's canonical form (xtreme_format reads every file through it)
    stats = [{"score": 1.0 if a == b else 0.0} for a, b in zip(preds, g)]
    return {"accuracy": metrics.accuracy(g, preds)}, stats, len(g)


def _prediction_splits(root: Path, fmt: str, task: str, manifest: Mapping[str, Any]) -> dict[str, str]:
    """Per language, the split the predictions were made on, where they say it: adapterx's ``manifest.json``, or for
    XTREME's layout the ``adapterx_export.json`` an export wrote beside the files."""
    if fmt == "adapterx":
        split = manifest.get("split")
        return {lang: str(split) for lang in (manifest.get("languages") or {})} if split else {}
    meta = root / "adapterx_export.json"
    if not meta.is_file():
        return {}
    try:
        langs = (json.loads(meta.read_text(encoding="utf-8")).get("tasks") or {}).get(task) or {}
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(f"{meta}: unreadable export record ({exc}); delete it to score the files as they are") from None
    return {lang: str(v["split"]) for lang, v in langs.items() if isinstance(v, dict) and v.get("split")}


def _default_split(task: str, fmt: str, manifest: Mapping[str, Any]) -> str:
    """The split of the data files that holds the gold: the one the predictions were made on (their manifest), else
    ``test`` for a submission (TyDiQA-GoldP's "test" is its dev set), else the task's evaluation split."""
    spec = get_task(task)
    if manifest.get("split"):
        return str(manifest["split"])
    if fmt == "xtreme":
        return spec.xtreme.gold_split if spec.xtreme else "test"
    return spec.eval_split


def score(req: ScoreRequest) -> list[ScoredTask]:
    """Score every task (``req.tasks`` or all found) and language of the predictions against the gold."""
    if req.format is not None and req.format not in FORMATS:
        raise ConfigError(f"--format {req.format!r}: use xtreme or adapterx")
    pred_root, gold_root = Path(req.predictions), Path(req.gold)
    if not gold_root.is_dir():
        raise ConfigError(f"--gold {gold_root}: no such folder; pass a gold folder (XTREME layout) or a data folder")
    fmt = req.format or detect_format(pred_root)
    wanted = [xf.xtreme_task(t).task for t in req.tasks] if req.tasks else list(xf.XTREME_TASKS)
    problems = xf.Problems()
    out: list[ScoredTask] = []
    for task in wanted:
        files = _prediction_languages(pred_root, fmt, task)
        if not files:
            if req.tasks:
                problems.add(f"{pred_root}: no {task} predictions ({'<task>/test-<lang>.<ext>' if fmt == 'xtreme' else '<task>/<lang>.jsonl'})")
            continue
        spec = get_task(task)
        manifest = xf.read_manifest(pred_root / task) if fmt == "adapterx" else {}
        split = req.split or _default_split(task, fmt, manifest)
        gold_langs = [lang for lang in xf.languages_in(gold_root, task)  # a gold folder's, not a data folder's files
                      if xf.is_gold_file(xf.file_path(gold_root, task, lang), task, spec.labels)]
        for lang in gold_langs:
            if lang not in files:
                missing = xf.file_path(pred_root, task, lang) if fmt == "xtreme" else pred_root / task / f"{lang}.jsonl"
                problems.add(f"{missing}: missing; the gold {xf.file_path(gold_root, task, lang)} has {task} {lang}")
        report = EvalReport(spec.name, spec.metric, spec.metric_kind)
        scored = ScoredTask(task, report)
        made_on = _prediction_splits(pred_root, fmt, task, manifest)
        if req.split and manifest.get("split") and req.split != manifest["split"]:
            problems.add(f"{pred_root / task / xf.MANIFEST}: the predictions were made on {manifest['split']}, not "
                         f"--split {req.split}; score them against {manifest['split']} gold")
            continue
        for lang, path in files.items():
            info = (manifest.get("languages") or {}).get(lang, {}) if manifest else {}
            n_total = info.get("n_total")
            try:
                if str(info.get("source") or "").startswith("synthetic"):
                    raise DataError(f"{path}: {task} {lang} was predicted on synthetic data (manifest); there is no "
                                    "gold to score it against: predict the real files (--data-dir)")
                preds = _load_predictions(path, fmt, task, n_total)
                gold = load_gold(gold_root, task, lang, split)
                pred_split = made_on.get(lang)
                if pred_split and gold.split and pred_split != gold.split:
                    raise DataError(f"{path}: {task} {lang} predictions of the {pred_split} split, gold of the "
                                    f"{gold.split} split ({gold.where}): score them against {pred_split} gold")
                scores, stats, n = score_language(task, lang, preds, gold, str(path))
            except DataError as exc:
                problems.add(str(exc))
                continue
            report.langs[lang] = LanguageResult(scores, stats, [], [], n)
            scored.gold[lang] = gold.where
        out.append(scored)
    problems.raise_if_any(str(pred_root))
    if not out:
        raise DataError(f"{pred_root}: no predictions of {', '.join(wanted)}")
    return out


def per_example(scored: Sequence[ScoredTask]) -> dict[str, dict[str, list[dict]]]:
    """``{task: {lang: records}}``, the shape of a run directory's ``per_example.json``."""
    return {s.task: {lang: r.stats for lang, r in s.report.langs.items() if r.stats} for s in scored}


def write_scored(scored: Sequence[ScoredTask], out: Path, req: ScoreRequest, name: str | None = None) -> Path:
    """Write ``out/scored.json`` (the eval JSON of every task, with provenance) and ``out/per_example.json``, the
    input of ``adapterx report --include-scored``."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name or Path(req.predictions).name,
        "adapterx_version": __version__,
        "created": now_iso(),
        "predictions": str(req.predictions),
        "gold": str(req.gold),
        "format": req.format or detect_format(Path(req.predictions)),
        "seqeval": seqeval_version(),  # the F1 adapterx re-implements; UD-POS numbers differ between its versions
        "eval": {s.task: s.to_json(req.low_threshold) for s in scored},
    }
    for fname, obj in (("scored.json", doc), ("per_example.json", per_example(scored))):
        atomic_write_json(out / fname, obj)
    return out
