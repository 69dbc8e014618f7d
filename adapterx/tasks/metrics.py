"""Metrics as pure functions, on a 0-100 scale, matching the official scripts XTREME(-R) reports with.

- :func:`accuracy`: XNLI, PAWS-X, XCOPA, Tatoeba (XTREME ``evaluate.accuracy``).
- :func:`pearson`, :func:`spearman`: STS-B (x100; ``scipy.stats.pearsonr``/``spearmanr`` conventions,
  average ranks for ties; NaN when an input is constant, as scipy).
- :func:`tagging_f1`: ``seqeval.metrics.f1_score`` in its default mode (micro average, no scheme), re-implemented
  entity for entity. XTREME scores UD-POS with it too, on raw UPOS tags: seqeval then reads the first character
  of a tag as its B/I/E/S/O prefix and the rest as the type (``NOUN`` -> prefix ``N``, type ``OUN``; ``INTJ`` acts
  as an ``I-`` tag, ``SCONJ``/``SYM`` as ``S-`` singletons), so runs of the same tag merge into one "entity".
  This quirk is reproduced on purpose: it is what the published UD-POS numbers mean.
- :func:`qa_scores`: SQuAD v1.1 EM/F1 (XQuAD, TyDiQA-GoldP, SQuAD) or, with ``mlqa=True``, MLQA's language-aware
  normalisation (``mlqa_evaluation_v1.py``); ``score`` = (EM + F1) / 2 as XTREME's ``avg_metric`` for QA.

Per-example sufficient statistics (``docs/internals.md``): every metric reduces records of one kind,
``mean`` ``{"score"}``, ``f1`` ``{"tp", "n_pred", "n_gold"}`` or ``correlation`` ``{"pred", "gold"}``;
:func:`per_example_stats` makes them and :func:`metric_from_stats` reduces any subset (a bootstrap resample).
The reduction of all records equals the corpus metric.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from adapterx.data.examples import QAExample
from adapterx.errors import ConfigError, DataError
from adapterx.registry import suggest

Record = dict[str, float]

# --------------------------------------------------------------------------------------------------------------
# classification and regression


def _check_pair(gold: Sequence[Any], pred: Sequence[Any], what: str) -> None:
    if len(gold) != len(pred):
        raise DataError(f"{what}: {len(pred)} predictions for {len(gold)} gold items; they must align one to one.")
    if not gold:
        raise DataError(f"{what}: nothing to score (no examples).")


def _mean100(scores: Sequence[float]) -> float:
    # 100 * sum / n, summed left to right: the order of operations of the SQuAD/MLQA scripts.
    total = 0.0
    for s in scores:
        total += s
    return 100.0 * total / len(scores)


def accuracy(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Percentage of predictions equal to the gold label."""
    _check_pair(gold, pred, "accuracy")
    return _mean100([1.0 if g == p else 0.0 for g, p in zip(gold, pred)])


def _pearson_r(x: Sequence[float], y: Sequence[float]) -> float:
    n = len(x)
    if n < 2:
        return math.nan
    mx = math.fsum(x) / n
    my = math.fsum(y) / n
    dx = [v - mx for v in x]
    dy = [v - my for v in y]
    sxx = math.fsum(d * d for d in dx)
    syy = math.fsum(d * d for d in dy)
    if sxx == 0.0 or syy == 0.0:
        return math.nan  # constant input: undefined (scipy warns and returns nan)
    r = math.fsum(a * b for a, b in zip(dx, dy)) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank (``scipy.stats.rankdata(method="average")``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def pearson(gold: Sequence[float], pred: Sequence[float]) -> float:
    """Pearson correlation x 100 (NaN for fewer than 2 pairs or a constant input)."""
    _check_pair(gold, pred, "pearson")
    return 100.0 * _pearson_r([float(v) for v in gold], [float(v) for v in pred])


def spearman(gold: Sequence[float], pred: Sequence[float]) -> float:
    """Spearman rank correlation x 100: Pearson of average ranks."""
    _check_pair(gold, pred, "spearman")
    return 100.0 * _pearson_r(_average_ranks([float(v) for v in gold]), _average_ranks([float(v) for v in pred]))


# --------------------------------------------------------------------------------------------------------------
# tagging: seqeval-compatible entity F1


def _split_tag(tag: str) -> tuple[str, str]:
    # seqeval (prefix mode): the first character is the chunk tag, the part after the first '-' of the rest is the
    # type, '_' when empty. "B-PER" -> ("B", "PER"); "O" -> ("O", "_"); "NOUN" -> ("N", "OUN"); "X" -> ("X", "_").
    if not tag:
        raise DataError("tagging: empty tag string; every token needs a tag.")
    return tag[0], tag[1:].split("-", 1)[-1] or "_"


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` chunks of one flat tag sequence, end inclusive, exactly as
    ``seqeval.metrics.sequence_labeling.get_entities`` (default prefix mode) finds them.

    Like seqeval, a chunk may start at a tag without ``B-`` (``I-PER`` after ``O`` opens a chunk), and a tag whose
    type equals ``O``'s type ``_`` (``X``, ``B``) does not open a new chunk after ``O``: the chunk then reaches back
    to the last chunk start. :func:`tagging_f1` flattens sentences with an ``O`` between them, as seqeval does.
    """
    prev_tag, prev_type, begin = "O", "", 0
    chunks: list[tuple[str, int, int]] = []
    split_cache: dict[str, tuple[str, str]] = {}  # a corpus has few distinct tags
    for i, chunk in enumerate([*tags, "O"]):
        parts = split_cache.get(chunk)
        if parts is None:
            parts = split_cache[chunk] = _split_tag(chunk)
        tag, type_ = parts
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _tagging_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> list[Record]:
    """Per-sentence ``{"tp", "n_pred", "n_gold"}``. Entities come from the whole flattened corpus (sentences joined
    by ``O``, as seqeval does for a list of lists) and each is counted in the sentence where it starts, so the sums
    are exactly seqeval's counts even for its rare chunks that cross a sentence boundary (an ``X`` at a sentence
    end in UD-POS)."""
    if len(gold) != len(pred):
        raise DataError(f"tagging: {len(pred)} predicted sentences for {len(gold)} gold sentences.")
    flat_gold: list[str] = []
    flat_pred: list[str] = []
    sentence_of: list[int] = []  # flat position -> sentence index (its separating "O" included)
    for k, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise DataError(f"tagging: sentence {k} has {len(g)} gold tags but {len(p)} predicted tags.")
        flat_gold.extend(g)
        flat_gold.append("O")
        flat_pred.extend(p)
        flat_pred.append("O")
        sentence_of.extend([k] * (len(g) + 1))
    records: list[Record] = [{"tp": 0, "n_pred": 0, "n_gold": 0} for _ in gold]
    if not records:
        return records
    gold_ents = set(get_entities(flat_gold))
    pred_ents = set(get_entities(flat_pred))
    for ents, key in ((gold_ents, "n_gold"), (pred_ents, "n_pred"), (gold_ents & pred_ents, "tp")):
        for _, start, _ in ents:
            records[sentence_of[start]][key] += 1
    return records


def _prf(tp: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    # seqeval/sklearn: a 0/0 precision or recall is 0 (zero_division="warn"), and so is F when P + R == 0.
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    denom = precision + recall
    f1 = (1 + 1.0) * precision * recall / denom if denom else 0.0
    return precision, recall, f1


def tagging_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"f1", "precision", "recall"}`` x 100, as XTREME's ``evaluate.f1`` (seqeval, default mode)."""
    records = _tagging_counts(gold, pred)
    p, r, f = _prf(*(sum(rec[k] for rec in records) for k in ("tp", "n_pred", "n_gold")))
    return {"f1": 100.0 * f, "precision": 100.0 * p, "recall": 100.0 * r}


def tagging_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Micro entity F1 x 100, equal to ``seqeval.metrics.f1_score(gold, pred) * 100`` (sentences = lists of tags)."""
    return tagging_scores(gold, pred)["f1"]


# --------------------------------------------------------------------------------------------------------------
# extractive QA: SQuAD v1.1 and MLQA

_ASCII_PUNCT = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")

# mlqa_evaluation_v1.py, remove_articles: per answer language. Hindi and Chinese have none. The Arabic pattern is
# the script's own: its first branch "\sال^" can never match ('^' after characters), so every "ال" is removed,
# also inside words -- kept as published, since MLQA numbers are computed with it.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
MLQA_LANGUAGES: tuple[str, ...] = tuple(_MLQA_ARTICLES)
_MLQA_MIXED_SEGMENTATION = frozenset({"zh"})
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # the script's range for "one character = one token"


def _is_mlqa_punct(ch: str) -> bool:
    # The script's PUNCT: every code point whose Unicode category starts with "P", plus string.punctuation
    # (which adds the ASCII symbols $ + < = > ^ ` | ~).
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    # Each CJK character (and punctuation mark) is a token of its own; other runs split on whitespace.
    out: list[str] = []
    buf = ""
    for ch in text:
        if _CJK.match(ch) or _is_mlqa_punct(ch):
            if buf:
                out.extend(buf.split())
                buf = ""
            out.append(ch)
        else:
            buf += ch
    if buf:
        out.extend(buf.split())
    return out


def _mlqa_lang(lang: str | None) -> str:
    if lang is None:
        raise ConfigError("MLQA scoring needs the answer language (one of " + ", ".join(MLQA_LANGUAGES) + ").")
    key = lang.strip().lower()
    if key not in _MLQA_ARTICLES:
        raise ConfigError(suggest(lang, MLQA_LANGUAGES, "MLQA language"))
    return key


def normalize_answer(text: str, lang: str | None = None, mlqa: bool = False) -> str:
    """The official answer normalisation.

    SQuAD v1.1 (default): lower-case, drop ASCII punctuation, drop English articles, collapse whitespace.
    MLQA (``mlqa=True``, ``lang`` required): lower-case, drop Unicode punctuation, drop ``lang``'s articles, then
    whitespace tokens (``zh``: mixed segmentation, one token per CJK character), joined by single spaces.
    """
    text = text.lower()
    if not mlqa:
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
        text = _SQUAD_ARTICLES.sub(" ", text)
        return " ".join(text.split())
    key = _mlqa_lang(lang)
    text = "".join(ch for ch in text if not _is_mlqa_punct(ch))
    pattern = _MLQA_ARTICLES[key]
    if pattern is not None:
        text = pattern.sub(" ", text)
    tokens = _mixed_segmentation(text) if key in _MLQA_MIXED_SEGMENTATION else text.split()
    return " ".join(t for t in tokens if t.strip() != "")


def exact_match_score(prediction: str, ground_truth: str, lang: str | None = None, mlqa: bool = False) -> float:
    """1.0 when the normalised strings are equal (two answers that both normalise to "" count as equal)."""
    return float(normalize_answer(prediction, lang, mlqa) == normalize_answer(ground_truth, lang, mlqa))


def token_f1_score(prediction: str, ground_truth: str, lang: str | None = None, mlqa: bool = False) -> float:
    """Bag-of-tokens F1 of the normalised strings (0 when they share no token, also when both are empty)."""
    pred_tokens = normalize_answer(prediction, lang, mlqa).split()
    gold_tokens = normalize_answer(ground_truth, lang, mlqa).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def qa_example_scores(
    prediction: str, ground_truths: Sequence[str], lang: str | None = None, mlqa: bool = False
) -> tuple[float, float]:
    """``(EM, F1)`` of one prediction, each the maximum over the gold answers (in 0-1)."""
    if not ground_truths:
        raise DataError("QA: a question without gold answers cannot be scored (XTREME strips test answers).")
    em = max(exact_match_score(prediction, g, lang, mlqa) for g in ground_truths)
    f1 = max(token_f1_score(prediction, g, lang, mlqa) for g in ground_truths)
    return em, f1


def _qa_pairs(
    predictions: Mapping[str, str], examples: Sequence[QAExample], lang: str | None, mlqa: bool
) -> list[tuple[float, float]]:
    if not examples:
        raise DataError("QA: nothing to score (no questions).")
    if mlqa:
        _mlqa_lang(lang)
    out: list[tuple[float, float]] = []
    for ex in examples:
        if not ex.answers:
            raise DataError(
                f"QA: question {ex.id} has no gold answer; the "
                "file is unlabelled (XTREME strips test answers)."
            )
        if ex.id not in predictions:
            out.append((0.0, 0.0))  # the official scripts: "Unanswered question ... will receive score 0."
            continue
        out.append(qa_example_scores(predictions[ex.id], [a.text for a in ex.answers], lang, mlqa))
    return out


def qa_scores(
    predictions: Mapping[str, str], examples: Sequence[QAExample], lang: str | None = None, mlqa: bool = False
) -> dict[str, float]:
    """``{"exact_match", "f1", "score"}`` x 100 over ``examples`` (all questions count; a missing prediction scores
    0, extra predictions are ignored, as in the official scripts). ``score`` = (EM + F1) / 2."""
    pairs = _qa_pairs(predictions, examples, lang, mlqa)
    em = _mean100([p[0] for p in pairs])
    f1 = _mean100([p[1] for p in pairs])
    return {"exact_match": em, "f1": f1, "score": (em + f1) / 2}


# --------------------------------------------------------------------------------------------------------------
# per-example sufficient statistics (bootstrap)

METRIC_KINDS: dict[str, str] = {
    "accuracy": "mean",
    "exact_match": "mean",
    "qa_f1": "mean",
    "qa_score": "mean",
    "mean": "mean",
    "f1": "f1",
    "pearson": "correlation",
    "spearman": "correlation",
}
"""Metric name -> kind of its per-example records. ``f1`` is seqeval entity F1; QA's token F1 is ``qa_f1`` and
(EM + F1) / 2 is ``qa_score``; ``mean`` reduces any ``{"score"}`` records."""


def _kind(metric: str) -> str:
    if metric not in METRIC_KINDS:
        raise ConfigError(suggest(metric, tuple(METRIC_KINDS), "metric"))
    return METRIC_KINDS[metric]


def per_example_stats(
    metric: str, gold: Sequence[Any], pred: Any, *, lang: str | None = None, mlqa: bool = False
) -> list[Record]:
    """One record per example (per sentence for tagging) from which :func:`metric_from_stats` recomputes
    ``metric``.

    - ``accuracy``: ``gold``/``pred`` label sequences -> ``{"score": 0|1}``
    - ``f1``: tag sequences per sentence -> ``{"tp", "n_pred", "n_gold"}``
    - ``pearson``/``spearman``: gold/predicted scores -> ``{"pred", "gold"}``
    - ``exact_match``/``qa_f1``/``qa_score``: ``gold`` the :class:`QAExample` list and ``pred`` a mapping
      id -> answer text (or gold answer-string lists and aligned predicted strings) -> ``{"score"}`` in 0-1
    """
    kind = _kind(metric)
    if kind == "f1":
        return _tagging_counts(gold, pred)
    if kind == "correlation":
        _check_pair(gold, pred, metric)
        return [{"pred": float(p), "gold": float(g)} for g, p in zip(gold, pred)]
    if metric in ("accuracy", "mean"):
        _check_pair(gold, pred, metric)
        return [{"score": 1.0 if g == p else 0.0} for g, p in zip(gold, pred)]
    if gold and all(isinstance(ex, QAExample) for ex in gold):
        pairs = _qa_pairs(pred, gold, lang, mlqa)
    else:
        _check_pair(gold, pred, metric)
        if mlqa:
            _mlqa_lang(lang)
        pairs = [qa_example_scores(p, list(g), lang, mlqa) for g, p in zip(gold, pred)]
    if metric == "exact_match":
        return [{"score": em} for em, _ in pairs]
    if metric == "qa_f1":
        return [{"score": f1} for _, f1 in pairs]
    return [{"score": (em + f1) / 2} for em, f1 in pairs]


def tagging_per_example(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> list[Record]:
    """Per-sentence ``{"tp", "n_pred", "n_gold"}`` of :func:`tagging_f1` (``per_example_stats("f1", ...)``)."""
    return _tagging_counts(gold, pred)


def qa_per_example(
    predictions: Mapping[str, str], examples: Sequence[QAExample], lang: str | None = None, mlqa: bool = False
) -> list[Record]:
    """Per-question records for QA, aligned with ``examples``: ``{"score": (EM + F1) / 2, "exact_match": EM,
    "f1": F1}`` in 0-1. ``metric_from_stats("mean", ...)`` reduces them to :func:`qa_scores`' ``score``; the extra
    keys let a bootstrap resample EM and F1 too (rename the key to ``score`` to reduce them)."""
    return [
        {"score": (em + f1) / 2, "exact_match": em, "f1": f1} for em, f1 in _qa_pairs(predictions, examples, lang, mlqa)
    ]


def metric_from_stats(metric: str, records: Sequence[Mapping[str, float]]) -> float:
    """Reduce per-example records (all, or a bootstrap resample) to the metric, x 100."""
    kind = _kind(metric)
    if not records:
        raise DataError(f"{metric}: no records to reduce.")
    if kind == "mean":
        return _mean100([r["score"] for r in records])
    if kind == "f1":
        tp = sum(r["tp"] for r in records)
        n_pred = sum(r["n_pred"] for r in records)
        n_gold = sum(r["n_gold"] for r in records)
        return 100.0 * _prf(tp, n_pred, n_gold)[2]
    gold = [r["gold"] for r in records]
    pred = [r["pred"] for r in records]
    return pearson(gold, pred) if metric == "pearson" else spearman(gold, pred)


__all__ = [
    "METRIC_KINDS",
    "MLQA_LANGUAGES",
    "accuracy",
    "exact_match_score",
    "get_entities",
    "metric_from_stats",
    "normalize_answer",
    "pearson",
    "per_example_stats",
    "qa_example_scores",
    "qa_per_example",
    "qa_scores",
    "spearman",
    "tagging_f1",
    "tagging_per_example",
    "tagging_scores",
    "token_f1_score",
]
