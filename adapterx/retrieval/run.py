"""The library call behind ``adapterx retrieve``: sentence retrieval without training data, and the layer sweep.

:func:`retrieve` embeds both sides of every selected language pair with an encoder *as a module leaves it*
(:func:`adapterx.retrieval.encode.load_encoder`: adapter or LoRA active, or fully fine-tuned weights; ``none`` = the
bare backbone), pools one layer, and scores:

- ``tatoeba``: top-1 accuracy of cosine nearest-neighbour retrieval, with XTREME's direction by default (English
  queries, non-English side searched; :mod:`adapterx.retrieval.search`);
- ``bucc``: margin-based candidate mining, the threshold chosen to maximise F1 on the gold of the same split (XTREME's
  ``bucc_optimize``), and precision / recall / F1 of the pairs at or above it.

:func:`layer_sweep` does the same for every layer (one forward pass per sentence gives all layers) for the module and,
unless told otherwise, for the bare backbone, so that the table and plot show at which layers the module helps.

Data: ``data_dir`` is an XTREME-style download folder (``<dir>``, ``<dir>/tatoeba``, ``<dir>/tatoeba/v1`` are looked
at for Tatoeba; ``<dir>``, ``<dir>/bucc2018``, ``<dir>/bucc/bucc2018`` for BUCC), or ``data="synthetic"`` (the default
with ``--model tiny`` and no folder) builds parallel data per language with :func:`adapterx.data.synthetic.parallel`.

Results follow ``adapterx eval``'s JSON (``task``, ``metric``, ``scores`` 0-100 per language, the three averages)
plus what the number depends on: layer, pooling, direction (Tatoeba) or mining settings (BUCC), module, backbone,
data, max_length, search backend. Predictions go to ``DIR/<task>/<lang>.jsonl``: Tatoeba ``{"id": q, "prediction":
j}`` (``q`` the 0-based line of the query, ``j`` the 0-based line of the retrieved sentence on the searched side);
BUCC ``{"id": source_id, "prediction": target_id, "score": margin}`` for every extracted pair.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from adapterx.backbone import DEFAULT_MODEL
from adapterx.data.examples import ParallelCorpus
from adapterx.data.sources import BUILT_IN_MODELS
from adapterx.errors import ConfigError, DataError
from adapterx.engine.loop import check_device
from adapterx.registry import check_choice
from adapterx.data import synthetic
from adapterx.results.predictions import write_prediction_files
from adapterx.hub.resolve import resolve_module_ref
from adapterx.languages import averages, get_language
from adapterx.languages import select_languages
from adapterx.tasks import get_task, retrieval_tasks
from adapterx.results.xtreme_export import check_exportable
from adapterx.results.predictions import write_xtreme

__all__ = [
    "LanguageRetrieval",
    "RetrievalResult",
    "RetrieveRequest",
    "SweepResult",
    "layer_sweep",
    "load_corpora",
    "retrieve",
    "run_request",
    "synthetic_bucc",
    "synthetic_tatoeba",
]

# Synthetic sizes: Tatoeba pairs per language; BUCC gold pairs per language (plus as many source-only and twice as
# many English-only distractor sentences).
SYNTHETIC_SIZE = {"tatoeba": 500, "bucc": 200}

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RetrieveRequest:
    """Every option of one retrieval evaluation (the CLI's options, one to one)."""

    task: str  # tatoeba | bucc
    module: str = "none"  # a run directory, a module folder, a hub id, or "none" (bare backbone)
    model: str | None = None  # backbone; default: the module's, xlm-roberta-base for none
    data: str | None = None  # "synthetic" or a folder (same as data_dir); None: data_dir, or synthetic with tiny
    data_dir: Path | None = None
    langs: str = "all"
    layer: int | None = None  # hidden_states index; None = default_layer(num_layers)
    pooling: str = "mean"
    direction: str = "tgt2src"  # Tatoeba only (search.DEFAULT_DIRECTION)
    split: str = "dev"  # BUCC split (XTREME calls the released "sample" set dev)
    # BUCC: the split whose gold picks the mining threshold; None: the split itself, or dev where it has no gold
    # (the official protocol: threshold chosen on dev, applied to test)
    threshold_from: str | None = None
    k: int = 4  # BUCC margin neighbourhood (search.DEFAULT_K)
    mode: str = "max"  # BUCC mining mode (search.DEFAULT_MINING_MODE)
    batch_size: int = 64
    max_length: int = 512
    skip_special_tokens: bool = False
    device: str | None = None
    bf16: bool = False
    backend: str = "torch"  # or "faiss"
    max_sentences: int | None = None  # subsample each side (speed); Tatoeba: the first N lines
    synthetic_size: int | None = None
    seed: int = 0  # synthetic data and BUCC subsampling
    save_predictions: Path | None = None
    xtreme_out: Path | None = None  # also write the predictions in XTREME's submission layout
    low_threshold: int = 2
    # layer sweep
    sweep: bool = False
    baseline: bool = True  # sweep: also sweep the bare backbone, to show where the module helps
    plot: Path | None = None
    allow_backbone_mismatch: bool = False  # a module trained on other weights of the same shape (noted in the result)


# ---------------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class LanguageRetrieval:
    """One language pair's scores (0-100), predictions and counts."""

    scores: dict[str, float]  # empty: no gold (a BUCC test split), predictions only
    predictions: list[Any]  # Tatoeba: retrieved index per query; BUCC: (source_id, target_id, score) per pair
    n: int  # Tatoeba: queries; BUCC: gold pairs
    extra: dict[str, Any] = field(default_factory=dict)  # BUCC: threshold, n_candidates; sizes of both sides


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _averages(headline: Mapping[str, float], threshold: int) -> tuple[dict[str, float | None], list[str]]:
    """:func:`adapterx.languages.averages`, but codes without a resource class still count in the overall average."""
    known, unknown = {}, []
    for lang, v in headline.items():
        try:
            get_language(lang)
            known[lang] = v
        except ConfigError:
            unknown.append(lang)
    avg = averages(known, threshold=threshold)
    if unknown:
        vals = [float(headline[lang]) for lang in headline if headline[lang] is not None]
        avg["average"] = math.fsum(vals) / len(vals) if vals else None
    notes = [f"no resource class for {', '.join(unknown)}: counted in the average only"] if unknown else []
    return avg, notes


@dataclass
class RetrievalResult:
    """Per-language retrieval scores at one layer, convertible to ``adapterx eval``-style JSON."""

    task: str
    metric: str
    layer: int
    num_layers: int
    pooling: str
    direction: str | None
    module: str
    method: str | None
    model: str
    data: str
    max_length: int
    backend: str
    mining: dict[str, Any] | None = None
    langs: dict[str, LanguageRetrieval] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    split: str | None = None  # BUCC: the split mined; Tatoeba: "test"
    complete: bool = True  # False where --max-sentences cut the data (the predictions cover part of it)

    def headline(self) -> dict[str, float]:
        return {lang: r.scores[self.metric] for lang, r in self.langs.items() if self.metric in r.scores}

    def unscored(self) -> list[str]:
        """Languages mined without gold (a BUCC test split): predictions, no score."""
        return [lang for lang, r in self.langs.items() if not r.scores]

    def averages(self, threshold: int = 2) -> dict[str, float | None]:
        return _averages(self.headline(), threshold)[0]

    def to_json(self, threshold: int = 2) -> dict[str, Any]:
        avg, notes = _averages(self.headline(), threshold)
        notes = list(self.notes) + notes
        if self.unscored():
            notes.append(f"no gold for {', '.join(self.unscored())} (split {self.split}): predictions written, no score")
        if avg["low_resource_average"] is None and self.langs:
            notes.append(f"no low-resource language (class <= {threshold}) evaluated: low_resource_average is null")
        if avg["high_resource_average"] is None and self.langs:
            notes.append(f"no high-resource language (class > {threshold}) evaluated: high_resource_average is null")
        out: dict[str, Any] = {
            "task": self.task,
            "metric": self.metric,
            "scores": {lang: {k: round(v, 4) for k, v in r.scores.items()} for lang, r in self.langs.items() if r.scores},
            "average": _r(avg["average"]),
            "low_resource_average": _r(avg["low_resource_average"]),
            "high_resource_average": _r(avg["high_resource_average"]),
            "n_examples": {lang: r.n for lang, r in self.langs.items()},
            **({"unscored": self.unscored()} if self.unscored() else {}),
            "layer": self.layer,
            "num_layers": self.num_layers,
            "pooling": self.pooling,
            "direction": self.direction,
            "module": self.module,
            "method": self.method,
            "model": self.model,
            "data": self.data,
            "max_length": self.max_length,
            "backend": self.backend,
        }
        if self.mining is not None:
            out["mining"] = self.mining
            out["thresholds"] = {lang: _r(r.extra.get("threshold")) for lang, r in self.langs.items()}
            out["n_candidates"] = {lang: r.extra.get("n_candidates") for lang, r in self.langs.items()}
        out["sizes"] = {lang: {"source": r.extra.get("n_source"), "target": r.extra.get("n_target")}
                        for lang, r in self.langs.items()}
        out["seconds"] = round(self.seconds, 3)
        if notes:
            out["notes"] = notes
        return out

    def save_predictions(self, folder: Path) -> Path:
        """Write ``folder/<task>/<lang>.jsonl`` (see the module doc for the line format); returns the task folder."""
        def lines(r: Any) -> Iterable[dict[str, Any]]:
            if self.task == "bucc":
                return ({"id": sid, "prediction": tid, "score": round(float(score), 6)} for sid, tid, score in r.predictions)
            return ({"id": q, "prediction": int(j)} for q, j in enumerate(r.predictions))

        manifest = {"split": self.split, "languages": {
            lang: {"n": len(r.predictions), "n_total": None if self.task == "bucc" else len(r.predictions),
                   "complete": self.complete, "labelled": bool(r.scores), "source": self.data,
                   **({} if self.complete else {"why": "--max-sentences"})}
            for lang, r in self.langs.items()}}
        return write_prediction_files(folder, self.task, {lang: lines(r) for lang, r in self.langs.items()}, manifest)


@dataclass
class SweepResult:
    """Retrieval at every layer, for the module and (optionally) the bare backbone."""

    task: str
    metric: str
    layers: list[int]
    default_layer: int
    module: dict[int, RetrievalResult]
    baseline: dict[int, RetrievalResult] | None = None
    plot: Path | None = None
    low_threshold: int = 2

    def average(self, which: str = "module", key: str = "average") -> dict[int, float | None]:
        """``{layer: average}`` of ``which`` (``module`` or ``baseline``); ``key`` also low/high_resource_average."""
        res = self.module if which == "module" else (self.baseline or {})
        return {layer: r.averages(self.low_threshold)[key] for layer, r in res.items()}

    def delta(self) -> dict[int, float | None]:
        """Module average minus bare-backbone average per layer (None without a baseline)."""
        mod, base = self.average("module"), self.average("baseline")
        return {layer: (None if mod[layer] is None or base.get(layer) is None else mod[layer] - base[layer])
                for layer in self.layers}

    def best_layer(self, which: str = "module") -> int | None:
        avg = {k: v for k, v in self.average(which).items() if v is not None}
        return max(avg, key=lambda layer: (avg[layer], -layer)) if avg else None

    def helps(self) -> list[int]:
        """Layers where the module's average is above the bare backbone's."""
        return [layer for layer, d in self.delta().items() if d is not None and d > 0]

    def to_json(self) -> dict[str, Any]:
        first = self.module[self.layers[0]]
        rows = []
        deltas = self.delta() if self.baseline else {}
        for layer in self.layers:
            row: dict[str, Any] = {"layer": layer, "module": _layer_json(self.module[layer], self.low_threshold)}
            if self.baseline:
                row["none"] = _layer_json(self.baseline[layer], self.low_threshold)
                row["delta_average"] = _r(deltas[layer])
            rows.append(row)
        out: dict[str, Any] = {
            "task": self.task,
            "metric": self.metric,
            "sweep": rows,
            "layers": self.layers,
            "default_layer": self.default_layer,
            "best_layer": {"module": self.best_layer("module"),
                           **({"none": self.best_layer("baseline")} if self.baseline else {})},
            "module_helps_at": self.helps() if self.baseline else None,
            "pooling": first.pooling,
            "direction": first.direction,
            "module": first.module,
            "method": first.method,
            "model": first.model,
            "data": first.data,
            "max_length": first.max_length,
            "backend": first.backend,
            "plot": str(self.plot) if self.plot else None,
        }
        if first.mining is not None:
            out["mining"] = first.mining
        return out


def _layer_json(res: RetrievalResult, threshold: int) -> dict[str, Any]:
    full = res.to_json(threshold)
    return {k: full[k] for k in ("scores", "average", "low_resource_average", "high_resource_average")}


# ---------------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------------


def synthetic_tatoeba(lang: str, n: int, seed: int = 0) -> ParallelCorpus:
    """Synthetic Tatoeba pair: ``n`` aligned sentences (:func:`adapterx.data.synthetic.parallel`)."""
    return synthetic.parallel(lang, n, seed=seed, split="test")


def synthetic_bucc(lang: str, n_gold: int, seed: int = 0) -> ParallelCorpus:
    """A BUCC-like corpus: ``n_gold`` translation pairs hidden among ``n_gold`` source-only and ``2 n_gold``
    English-only sentences, both sides shuffled, with BUCC-style ids (``<lang>-000123``, ``en-000456``)."""
    par = synthetic.parallel(lang, 4 * n_gold, seed=seed, split="bucc")
    src = list(par.source[: 2 * n_gold])  # rows < n_gold have their translation on the English side
    tgt = list(par.target[:n_gold]) + list(par.target[2 * n_gold :])  # rows >= n_gold: no source counterpart
    rng = random.Random(f"bucc-{lang}-{seed}")
    src_order, tgt_order = list(range(len(src))), list(range(len(tgt)))
    rng.shuffle(src_order)
    rng.shuffle(tgt_order)
    src_id = {row: f"{lang}-{pos:06d}" for pos, row in enumerate(src_order)}
    tgt_id = {row: f"en-{pos:06d}" for pos, row in enumerate(tgt_order)}
    gold = tuple((src_id[i], tgt_id[i]) for i in range(n_gold))
    return ParallelCorpus(
        source=tuple(src[row] for row in src_order),
        target=tuple(tgt[row] for row in tgt_order),
        source_lang=lang,
        target_lang="en",
        source_ids=tuple(src_id[row] for row in src_order),
        target_ids=tuple(tgt_id[row] for row in tgt_order),
        gold_pairs=gold,
    )


def _first_folder(candidates: list[Path], probe: Callable[[Path], Any]) -> tuple[Path, Any]:
    errors = []
    for folder in candidates:
        if not folder.is_dir():
            continue
        try:
            return folder, probe(folder)
        except DataError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    raise DataError(f"{candidates[0]}: no such folder")


def _tatoeba_folder(data_dir: Path) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    from adapterx.retrieval.data import find_tatoeba

    root = Path(data_dir).expanduser()
    return _first_folder([root, root / "tatoeba", root / "tatoeba" / "v1", root / "v1"], find_tatoeba)


def _bucc_folder(data_dir: Path) -> tuple[Path, dict[tuple[str, str], Any]]:
    from adapterx.retrieval.data import find_bucc

    root = Path(data_dir).expanduser()
    return _first_folder([root, root / "bucc2018", root / "bucc" / "bucc2018", root / "bucc"], find_bucc)


def _subsample_bucc(corpus: ParallelCorpus, n: int, seed: int) -> ParallelCorpus:
    """At most ``n`` sentences a side, file order kept: gold pairs first (a seeded sample if more than ``n``), then a
    seeded sample of sentences outside any gold pair (so that no unlisted true pair is added)."""
    rng = random.Random(f"bucc-subsample-{seed}")
    gold = list(corpus.gold_pairs)
    if len(gold) > n:
        keep = sorted(rng.sample(range(len(gold)), n))
        gold = [gold[i] for i in keep]
    in_gold_src = {s for s, _ in corpus.gold_pairs}
    in_gold_tgt = {t for _, t in corpus.gold_pairs}

    def side(ids: tuple[str, ...], sents: tuple[str, ...], chosen: set[str], gold_ids: set[str]):  # noqa: ANN202
        others = [i for i, x in enumerate(ids) if x not in gold_ids]
        room = max(0, n - len(chosen))
        extra = set(rng.sample(others, min(room, len(others))))
        rows = [i for i, x in enumerate(ids) if x in chosen or i in extra]
        return tuple(ids[i] for i in rows), tuple(sents[i] for i in rows)

    src_ids, src = side(corpus.source_ids, corpus.source, {s for s, _ in gold}, in_gold_src)
    tgt_ids, tgt = side(corpus.target_ids, corpus.target, {t for _, t in gold}, in_gold_tgt)
    return replace(corpus, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids, gold_pairs=tuple(gold))


def _use_synthetic(req: RetrieveRequest, model_id: str) -> bool:
    if req.data == "synthetic":
        if req.data_dir is not None:
            raise ConfigError("--data synthetic and --data-dir exclude each other: pick one")
        return True
    if req.data is None and req.data_dir is None:
        if model_id in BUILT_IN_MODELS:
            return True
        raise ConfigError(
            f"{req.task} needs data: pass --data-dir (an XTREME-style folder, e.g. the one holding "
            f"{'tatoeba/' if req.task == 'tatoeba' else 'bucc2018/'}) or --data synthetic"
        )
    return False


def load_corpora(req: RetrieveRequest, model_id: str) -> tuple[dict[str, ParallelCorpus], str]:
    """The selected language pairs and a provenance string (``synthetic:<n>`` or ``dir:<folder>``)."""
    task = get_task(req.task)
    size = req.synthetic_size or SYNTHETIC_SIZE[req.task]
    if req.max_sentences is not None and (isinstance(req.max_sentences, bool) or req.max_sentences < 1):
        raise ConfigError(f"--max-sentences must be a positive integer, got {req.max_sentences!r}")
    if _use_synthetic(req, model_id):
        if size < 2:
            raise ConfigError(f"--synthetic-size must be at least 2, got {size}")
        langs = select_languages(req.langs, task.languages, req.low_threshold)
        make = synthetic_tatoeba if req.task == "tatoeba" else synthetic_bucc
        corpora = {lang: make(lang, size, req.seed) for lang in langs}
        source = f"synthetic:{size}"
    else:
        folder_arg = Path(req.data) if req.data not in (None, "synthetic") else req.data_dir
        if req.data not in (None, "synthetic") and req.data_dir is not None and Path(req.data) != req.data_dir:
            raise ConfigError("--data FOLDER and --data-dir name two folders: pass one")
        assert folder_arg is not None
        if req.task == "tatoeba":
            from adapterx.retrieval.data import read_tatoeba

            folder, pairs = _tatoeba_folder(folder_arg)
            langs = select_languages(req.langs, list(pairs), req.low_threshold)
            corpora = {lang: read_tatoeba(*pairs[lang], source_lang=lang) for lang in langs}
        else:
            from adapterx.retrieval.data import read_bucc

            folder, found = _bucc_folder(folder_arg)
            by_lang = {lang: files for (lang, split), files in found.items() if split == req.split}
            if not by_lang:
                splits = sorted({split for _, split in found})
                raise DataError(f"{folder}: no BUCC files of split {req.split!r}; found splits: {', '.join(splits)}")
            langs = select_languages(req.langs, list(by_lang), req.low_threshold)
            corpora = {}
            for lang in langs:
                files = by_lang[lang]
                if files.gold is None and (req.threshold_from or "dev") == req.split:
                    raise DataError(
                        f"{files.source}: split {req.split!r} has no .gold file, so neither a score nor a mining "
                        "threshold can come from it; pass a split whose threshold --threshold-from can set"
                    )
                # A split without gold (BUCC test) is mined with the threshold chosen on --threshold-from (dev).
                corpora[lang] = read_bucc(files.source, files.target, files.gold, source_lang=lang)
        source = f"dir:{folder}"
    if not corpora:
        raise ConfigError(f"--langs {req.langs!r} selects no language of {req.task} here")
    if req.max_sentences is not None:
        n = req.max_sentences
        if req.task == "tatoeba":
            corpora = {lang: replace(c, source=c.source[:n], target=c.target[:n]) for lang, c in corpora.items()}
        else:
            corpora = {lang: _subsample_bucc(c, n, req.seed) for lang, c in corpora.items()}
        source += f" (max {n} sentences a side)"
    return corpora, source


# ---------------------------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------------------------


def threshold_split(req: RetrieveRequest, corpus: ParallelCorpus) -> str | None:
    """The BUCC split whose gold sets ``corpus``'s mining threshold, None for the corpus's own gold (XTREME's
    default on dev): ``--threshold-from``, else dev where the split has no gold (the official test protocol)."""
    chosen = req.threshold_from or (None if corpus.gold_pairs else "dev")
    return None if chosen in (None, req.split) else chosen


def load_threshold_corpora(req: RetrieveRequest, model_id: str,
                           corpora: Mapping[str, ParallelCorpus]) -> dict[str, ParallelCorpus]:
    """For every BUCC language mined with another split's threshold, that split's corpus (with gold)."""
    from adapterx.retrieval.data import read_bucc

    need = {lang: threshold_split(req, c) for lang, c in corpora.items()}
    need = {lang: sp for lang, sp in need.items() if sp is not None}
    if req.task != "bucc" or not need:
        return {}
    out: dict[str, ParallelCorpus] = {}
    if _use_synthetic(req, model_id):
        size = req.synthetic_size or SYNTHETIC_SIZE[req.task]
        out = {lang: synthetic_bucc(lang, size, req.seed + 1) for lang in need}
    else:
        folder_arg = Path(req.data) if req.data not in (None, "synthetic") else req.data_dir
        assert folder_arg is not None
        folder, found = _bucc_folder(folder_arg)
        for lang, sp in need.items():
            files = found.get((lang, sp))
            if files is None or files.gold is None:
                what = "files" if files is None else "gold file"
                raise DataError(f"{folder}: no BUCC {lang}-en {sp} {what} to choose the mining threshold of split "
                                f"{req.split!r} on; pass --threshold-from with a split that has gold")
            out[lang] = read_bucc(files.source, files.target, files.gold, source_lang=lang)
    if req.max_sentences is not None:
        out = {lang: _subsample_bucc(c, req.max_sentences, req.seed) for lang, c in out.items()}
    return out


def _validate(req: RetrieveRequest) -> None:
    from adapterx.retrieval import search

    task = get_task(req.task)  # unknown names: ConfigError with did-you-mean
    runnable = retrieval_tasks()  # the task records: retrieval kind, runnable
    if task.name not in runnable:
        why = f" ({task.notes})" if task.notes else ""
        kind = "a retrieval task that is not runnable yet" if task.kind == "retrieval" else f"a {task.kind} task"
        raise ConfigError(
            f"{task.name} is {kind}{why}; `adapterx retrieve` runs {', '.join(runnable)}"
            + ("" if task.kind == "retrieval" else f": evaluate it with `adapterx eval {task.name}`")
        )
    if req.pooling not in ("mean", "cls"):
        raise ConfigError(f"--pooling {req.pooling!r}: use mean or cls")
    check_choice(req.direction, search.DIRECTIONS, "retrieval direction")
    check_choice(req.mode, search.MODES, "mining mode")
    check_choice(req.backend, search.BACKENDS, "search backend")
    search._positive(req.k, "--k")
    search._positive(req.batch_size, "--batch-size")
    check_device(req.device)
    if req.backend == "faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--faiss needs the faiss package, which is not installed: pip install faiss-cpu (or faiss-gpu), or "
                "leave --faiss out (the torch search is exact too)"
            ) from None


def _score_language(task: str, corpus: ParallelCorpus, src: Any, tgt: Any, req: RetrieveRequest,
                    threshold: float | None = None) -> LanguageRetrieval:
    from adapterx.retrieval import search

    sizes = {"n_source": len(corpus.source), "n_target": len(corpus.target)}
    if task == "tatoeba":
        acc, preds = search.top1_accuracy(
            src, tgt, direction=req.direction, backend=req.backend  # type: ignore[arg-type]
        )
        return LanguageRetrieval({"accuracy": acc}, preds, len(preds), sizes)
    # search.evaluate_bucc's steps, keeping the candidates' scores for the predictions file. ``threshold``: chosen
    # on another split's gold (test mined with dev's threshold); None: optimised on this corpus's own gold.
    if not corpus.gold_pairs and threshold is None:
        raise DataError(f"BUCC {corpus.source_lang}-en has no gold pairs: it cannot be scored")
    cands = search.bucc_candidates(
        src, tgt, corpus, k=req.k, mode=req.mode, backend=req.backend  # type: ignore[arg-type]
    )
    if threshold is None:
        threshold = search.optimise_threshold(cands, corpus.gold_pairs)
    predicted = search.extract_pairs(cands, threshold)
    scores: dict[str, float] = {}
    if corpus.gold_pairs:
        p, r, f = search.bitext_f1(predicted, corpus.gold_pairs)
        scores = {"f1": f, "precision": p, "recall": r}
    return LanguageRetrieval(
        scores,
        [(s, t, cands[(s, t)]) for s, t in predicted],
        len(corpus.gold_pairs),
        {**sizes, "threshold": threshold, "n_candidates": len(cands)},
    )


def _evaluate(encoder: Any, corpora: Mapping[str, ParallelCorpus], layers: list[int], req: RetrieveRequest,
              data_source: str, progress: Progress | None, role: str = "module",
              threshold_corpora: Mapping[str, ParallelCorpus] | None = None) -> dict[int, RetrievalResult]:
    """Score every language at every layer in ``layers`` (each sentence embedded once for all of them). BUCC
    languages in ``threshold_corpora`` are mined with the threshold that maximises F1 on that corpus's gold."""
    from adapterx.retrieval.encode import embed_layers

    task = get_task(req.task)
    t0 = time.perf_counter()
    model_id = str(encoder.backbone.get("id", "?"))
    results = {
        layer: RetrievalResult(
            task=task.name, metric=task.metric, layer=layer, num_layers=encoder.num_layers, pooling=req.pooling,
            direction=req.direction if task.name == "tatoeba" else None, module=encoder.module,
            method=encoder.method, model=model_id, data=data_source, max_length=req.max_length, backend=req.backend,
            mining={"k": req.k, "mode": req.mode, "split": req.split,
                    "threshold": "optimised on gold (XTREME)" if not threshold_corpora else
                    f"optimised on the gold of split {threshold_split(req, next(iter(corpora.values())))} "
                    f"for {', '.join(threshold_corpora)}, applied to {req.split}"}
            if task.name == "bucc" else None,
            split=req.split if task.name == "bucc" else "test", complete=req.max_sentences is None,
        )
        for layer in layers
    }
    kw = {"batch_size": req.batch_size, "max_length": req.max_length, "skip_special_tokens": req.skip_special_tokens}
    for lang, corpus in corpora.items():
        if progress:
            progress({"phase": "embed", "role": role, "lang": lang, "n": len(corpus.source) + len(corpus.target)})
        src_all = embed_layers(encoder, corpus.source, layers, req.pooling, **kw)  # type: ignore[arg-type]
        tgt_all = embed_layers(encoder, corpus.target, layers, req.pooling, **kw)  # type: ignore[arg-type]
        thresholds: dict[int, float] = {}
        other = (threshold_corpora or {}).get(lang)
        if other is not None:
            from adapterx.retrieval import search

            o_src = embed_layers(encoder, other.source, layers, req.pooling, **kw)  # type: ignore[arg-type]
            o_tgt = embed_layers(encoder, other.target, layers, req.pooling, **kw)  # type: ignore[arg-type]
            for layer in layers:
                cands = search.bucc_candidates(o_src[layer], o_tgt[layer], other, k=req.k, mode=req.mode,  # type: ignore[arg-type]
                                               backend=req.backend)  # type: ignore[arg-type]
                thresholds[layer] = search.optimise_threshold(cands, other.gold_pairs)
        for layer in layers:
            res = _score_language(task.name, corpus, src_all[layer], tgt_all[layer], req, thresholds.get(layer))
            results[layer].langs[lang] = res
        if progress:
            progress({"phase": "eval", "role": role, "lang": lang,
                      "scores": results[layers[0]].langs[lang].scores if len(layers) == 1 else None})
    seconds = time.perf_counter() - t0
    for res in results.values():
        res.seconds = seconds
    return results


def run_request(req: RetrieveRequest, progress: Progress | None = None) -> RetrievalResult | SweepResult:
    """Run ``req``: :class:`SweepResult` when ``req.sweep``, else :class:`RetrievalResult`."""
    from adapterx.retrieval.encode import load_encoder

    _validate(req)
    # Cheap checks first (module reference, data), then the model.
    resolved = resolve_module_ref(req.module)
    run = resolved[1]
    model_id = req.model or (run.get("backbone", {}).get("id") if run else None) or DEFAULT_MODEL
    corpora, data_source = load_corpora(req, model_id)
    thr_corpora = load_threshold_corpora(req, model_id, corpora)
    no_gold = [lang for lang, c in corpora.items() if req.task == "bucc" and not c.gold_pairs]
    if no_gold and not (req.save_predictions or req.xtreme_out):
        raise DataError(f"BUCC {req.split} has no gold for {', '.join(no_gold)}: it is mined without a score; pass "
                        "--save-predictions DIR or --xtreme-out DIR to keep the mined pairs")
    if req.xtreme_out:
        check_exportable(req.task, None)
        if req.max_sentences is not None:
            raise ConfigError(f"--xtreme-out needs every sentence: drop --max-sentences ({req.max_sentences}), a "
                              "submission must be complete")
    encoder = load_encoder(req.module, model_id, req.device, req.bf16, resolved=resolved,
                           allow_backbone_mismatch=req.allow_backbone_mismatch)
    chosen = encoder.resolve_layer(req.layer)

    if not req.sweep:
        result = _evaluate(encoder, corpora, [chosen], req, data_source, progress, threshold_corpora=thr_corpora)[chosen]
        result.notes.extend(encoder.notes)
        if req.save_predictions:
            result.save_predictions(req.save_predictions)
        if req.xtreme_out:
            write_xtreme(result, req.xtreme_out)
        return result

    layers = list(range(encoder.num_layers + 1))
    module_res = _evaluate(encoder, corpora, layers, req, data_source, progress, "module", thr_corpora)
    for res in module_res.values():
        res.notes.extend(encoder.notes)
    baseline_res = None
    if req.baseline and req.module != "none":
        del encoder
        base = load_encoder("none", model_id, req.device, req.bf16)
        baseline_res = _evaluate(base, corpora, layers, req, data_source, progress, "none", thr_corpora)
    sweep = SweepResult(req.task, module_res[layers[0]].metric, layers, chosen, module_res, baseline_res,
                        low_threshold=req.low_threshold)
    if req.save_predictions:
        module_res[chosen].save_predictions(req.save_predictions)
    if req.xtreme_out:
        write_xtreme(module_res[chosen], req.xtreme_out)
    plot_path = req.plot
    if plot_path is None and req.save_predictions:
        plot_path = Path(req.save_predictions) / req.task / "layer_sweep.png"
    if plot_path is not None:
        from adapterx.retrieval.plot import plot_layer_sweep

        sweep.plot = plot_layer_sweep(sweep, plot_path)
    return sweep


def _request(task: str, module: str, options: Mapping[str, Any]) -> RetrieveRequest:
    known = {f.name for f in fields(RetrieveRequest)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown retrieve option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = dict(options)
    for key in ("data_dir", "save_predictions", "plot"):
        if opts.get(key) is not None:
            opts[key] = Path(opts[key])
    return RetrieveRequest(task=task, module=module, **opts)


def retrieve(task: str, module: str = "none", progress: Progress | None = None, **options: Any) -> RetrievalResult:
    """Retrieval scores of ``module`` (a run directory, a module folder, a hub id, or ``"none"``) on ``task``.

    ``options`` are the fields of :class:`RetrieveRequest`: ``model``, ``data`` / ``data_dir``, ``langs``,
    ``layer``, ``pooling``, ``direction``, ``batch_size``, ``max_length``, ``backend``, ``max_sentences``,
    ``save_predictions`` ... Returns a :class:`RetrievalResult` (``.to_json()`` is ``adapterx retrieve --json``).
    """
    req = replace(_request(task, module, options), sweep=False)
    out = run_request(req, progress)
    assert isinstance(out, RetrievalResult)
    return out


def layer_sweep(task: str, module: str = "none", progress: Progress | None = None, **options: Any) -> SweepResult:
    """:func:`retrieve` at every layer (and for the bare backbone unless ``baseline=False``); ``plot=PATH`` writes
    the PNG (also written to ``<save_predictions>/<task>/layer_sweep.png`` when only that is given)."""
    req = replace(_request(task, module, options), sweep=True)
    out = run_request(req, progress)
    assert isinstance(out, SweepResult)
    return out
