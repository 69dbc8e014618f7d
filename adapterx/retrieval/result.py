"""What ``adapterx retrieve`` takes and gives: the request (every option, the CLI's one to one), one language's scores
and predictions, the result at one layer (``adapterx eval``-style JSON, predictions files) and the layer sweep."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError
from adapterx.languages import averages, get_language
from adapterx.results.predictions import write_prediction_files

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
