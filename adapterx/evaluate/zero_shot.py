"""Prediction and zero-shot evaluation over languages.

Inference runs in ``torch.inference_mode`` over *length-grouped* batches: features are sorted by length and padded
only to the longest in their batch, so a batch of short sentences does not pay for one long one (XNLI dev sentences
average about a third of the 128-token window).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.data import cache as feature_cache
from adapterx.tasks.kinds import Features, inputs_only, ops_for
from adapterx.engine.loop import autocast, pick_device
from adapterx.languages import averages
from adapterx.results.predictions import write_prediction_files


def predict(
    module,  # noqa: ANN001 - adapterx.methods.Module
    task,  # noqa: ANN001
    examples: list,
    tokenizer,  # noqa: ANN001
    max_length: int = 128,
    doc_stride: int = 64,
    batch_size: int = 32,
    device: str | None = None,
    bf16: bool = False,
    features: Features | None = None,
) -> list[Any]:
    """One prediction per example, in example order."""
    import torch

    ops = ops_for(task.kind)
    feats = features or feature_cache.featurize(ops, task, examples, tokenizer, max_length, doc_stride, train=False)
    device = pick_device(device)
    # Regression scores leave the model in bf16 under autocast: 8 mantissa bits make close scores equal (measured on
    # the tiny model: 8 dev predictions 1.8251..1.8256 all became 1.828125, Spearman NaN). Ranks need them apart.
    bf16 = bf16 and task.kind != "regression"
    model = module.model.to(device)
    model.eval()
    # Sorted by length so each batch pads little; cached features know their lengths without building every item.
    lengths = feats.items.lengths() if hasattr(feats.items, "lengths") else [_length(it) for it in feats.items]
    order = sorted(range(len(feats)), key=lengths.__getitem__)
    kept: list[Any] = [None] * len(feats)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            items = [inputs_only(feats.items[i]) for i in idx]
            batch = {k: v.to(device) for k, v in ops.collate(items, tokenizer.pad_token_id).items()}
            with autocast(device, bf16):
                out = model(**batch)
            for i, k in zip(idx, ops.outputs(out)):
                kept[i] = k
    return ops.decode(task, kept, feats, examples)


def _length(item: dict[str, Any]) -> int:
    ids = item["input_ids"]
    return sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


@dataclass
class LanguageResult:
    """One language's scores (empty where the file had no gold labels: predictions only), per-example statistics,
    predictions and example ids; ``total``: examples in the source file (more than ``n`` after --max-examples)."""

    scores: dict[str, float]
    stats: list[dict[str, float]]
    predictions: list[Any]
    ids: list[str]
    n: int
    total: int | None = None
    source: str | None = None

    @property
    def labelled(self) -> bool:
        return bool(self.scores)


@dataclass
class EvalReport:
    """Per-language results of one task, convertible to the ``--json`` object of ``adapterx eval``."""

    task: str
    metric: str
    metric_kind: str
    langs: dict[str, LanguageResult] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    split: str | None = None  # the split evaluated (recorded beside the predictions)

    def headline(self) -> dict[str, float]:
        return {lang: r.scores[self.metric] for lang, r in self.langs.items()
                if self.metric in r.scores and math.isfinite(r.scores[self.metric])}

    def unscored(self) -> list[str]:
        """Languages predicted without gold labels (XTREME's test files): predictions, no score."""
        return [lang for lang, r in self.langs.items() if not r.labelled]

    def to_json(self, threshold: int = 2) -> dict[str, Any]:
        avg = averages(self.headline(), threshold=threshold)
        return {
            "task": self.task,
            "metric": self.metric,
            # JSON has no NaN: an undefined score (a correlation of constant predictions) is null.
            "scores": {lang: {k: (round(v, 4) if math.isfinite(v) else None) for k, v in r.scores.items()}
                       for lang, r in self.langs.items() if r.labelled},
            "average": _r(avg.get("average")),
            "low_resource_average": _r(avg.get("low_resource_average")),
            "high_resource_average": _r(avg.get("high_resource_average")),
            "n_examples": {lang: r.n for lang, r in self.langs.items()},
            **({"unscored": self.unscored()} if self.unscored() else {}),
            **({"notes": self.notes} if self.notes else {}),
        }

    def per_example(self) -> dict[str, list[dict[str, float]]]:
        return {lang: r.stats for lang, r in self.langs.items() if r.labelled}

    def save_predictions(self, folder: Path) -> Path:
        """Write ``folder/<task>/<lang>.jsonl``: one ``{"id", "prediction"}`` line per example, and the task folder's
        ``manifest.json`` (split; per language the examples predicted and in the file, gold or not, source)."""
        manifest = {"split": self.split, "languages": {
            lang: {"n": r.n, "n_total": r.total if r.total is not None else r.n, "complete": r.total in (None, r.n),
                   "labelled": r.labelled, "source": r.source,
                   **({} if r.total in (None, r.n) else {"why": "--max-examples"})}
            for lang, r in self.langs.items()}}
        return write_prediction_files(
            folder, self.task,
            {lang: ({"id": i, "prediction": p} for i, p in zip(r.ids, r.predictions)) for lang, r in self.langs.items()},
            manifest,
        )


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def evaluate_languages(
    module,  # noqa: ANN001
    task,  # noqa: ANN001
    examples_by_lang: Mapping[str, list],
    tokenizer,  # noqa: ANN001
    max_length: int = 128,
    doc_stride: int = 64,
    batch_size: int = 32,
    device: str | None = None,
    bf16: bool = False,
    on_language: Callable[[str, LanguageResult], None] | None = None,
    unlabelled: frozenset[str] = frozenset(),
) -> EvalReport:
    """Predict and score every language; the same code path for English dev selection and zero-shot evaluation.
    Languages in ``unlabelled`` (files without gold labels) are predicted, not scored."""
    ops = ops_for(task.kind)
    report = EvalReport(task.name, task.metric, task.metric_kind)
    t0 = time.perf_counter()
    hooks = getattr(module, "hooks", None)  # a multi-task module view has none
    switch = hooks.switch_language if hooks is not None else None  # MAD-X: each language's own adapter
    own: list[str] = []
    for lang, examples in examples_by_lang.items():
        if switch is not None and switch(lang):
            own.append(lang)
        preds = predict(module, task, examples, tokenizer, max_length, doc_stride, batch_size, device, bf16)
        scores, stats = ({}, []) if lang in unlabelled else ops.score(task, preds, examples, lang)
        ids = [ex.id for ex in examples]
        res = LanguageResult(scores, stats, preds, ids, len(examples))
        report.langs[lang] = res
        if on_language:
            on_language(lang, res)
    if switch is not None:
        switch("en")
        others = [lang for lang in examples_by_lang if lang not in own]
        report.notes.append(f"language adapters: own for {', '.join(own) or 'none'}; English's for {', '.join(others) or 'none'}")
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
