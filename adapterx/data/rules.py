"""The rules a task's records must satisfy, checked once for every read (local files, data folders, Hugging Face
rows, the gold of ``adapterx score``), before any training and before any download.

What a task allows is declared in one place: :class:`RecordRules` on its :class:`~adapterx.tasks.base.TaskSpec`
(``rules=``), completed by what its kind implies (tags from the task's label set, QA answers inside their context,
as many examples as its metric needs). :func:`check_records` applies them and raises one :class:`DataError` naming
``path:line`` (or the path and the record id for JSON), found through the readers' origin log
(:func:`adapterx.data.readers.files.record_origins`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapterx.data.examples import ChoiceExample, PairExample, QAExample, TagExample
from adapterx.errors import DataError


@dataclass(frozen=True)
class RecordRules:
    """A task's own rules for its records (declared on the task; the kind adds the rest, see the module doc).

    ``value_range``: the closed range of a regression score (STS: 0-5). ``unique_ids``: example ids must be unique
    (predictions are matched by id; on by default for extractive QA). ``min_examples``: fewest labelled examples
    a split that is scored must hold (a correlation needs 2, with at least two distinct scores)."""

    value_range: tuple[float, float] | None = None
    unique_ids: bool | None = None  # None: the kind decides (span_qa: True)
    min_examples: int | None = None  # None: the metric decides (correlation: 2, else 1)


def _where(origins: Sequence[str] | None, i: int, source: str, ex: Any) -> str:
    if origins is not None and i < len(origins):
        return origins[i]
    return f"{source}: example id {ex.id}"


def check_records(task: Any, examples: Sequence[Any], split: str, source: str,
                  origins: Sequence[str] | None = None) -> None:
    """Raise one :class:`DataError` for the first record of ``examples`` (``task``'s ``split``, read from
    ``source``) that breaks the task's rules. ``origins[i]`` names where example i was read (None: its id)."""
    if origins is not None and len(origins) != len(examples):
        origins = None  # a reader that keeps no log (or dropped rows after noting them): name ids instead
    rules: RecordRules = getattr(task, "rules", None) or RecordRules()
    labels = set(task.labels)
    for i, ex in enumerate(examples):
        problem = _problem(task, rules, labels, ex)
        if problem:
            raise DataError(f"{_where(origins, i, source, ex)}: {problem}")
    unique = rules.unique_ids if rules.unique_ids is not None else task.kind == "span_qa"
    if unique:
        seen: dict[str, int] = {}
        for i, ex in enumerate(examples):
            if ex.id in seen:
                first = _where(origins, seen[ex.id], source, examples[seen[ex.id]])
                raise DataError(f"{_where(origins, i, source, ex)}: id {ex.id!r} repeats (first at {first}); "
                                f"{task.name} matches predictions by id: give each record its own id")
            seen[ex.id] = i
    if split != "train":
        _check_enough(task, rules, examples, split, source)


def _problem(task: Any, rules: RecordRules, labels: set[str], ex: Any) -> str | None:
    if isinstance(ex, PairExample):
        if not str(ex.text_a).strip() or (ex.text_b is not None and not str(ex.text_b).strip()):
            return "an empty sentence; every record needs its text"
        if ex.label is None:
            return None
        if task.kind == "regression":
            lo_hi = rules.value_range
            if isinstance(ex.label, float) and not math.isfinite(ex.label):
                return f"score {ex.label} is not a finite number"
            if lo_hi is not None and not lo_hi[0] <= float(ex.label) <= lo_hi[1]:
                return (f"score {ex.label:g} is outside {task.name}'s range {lo_hi[0]:g}-{lo_hi[1]:g}; fix the value "
                        "(or the file is of another scale)")
        elif labels and str(ex.label) not in labels:
            return f"label {ex.label!r} is not one of {task.name}'s labels ({', '.join(task.labels)})"
        return None
    if isinstance(ex, TagExample):
        for k, tok in enumerate(ex.tokens):
            if not tok.strip():
                return f"token {k + 1} of the sentence is empty"
        if ex.tags is None:
            return None
        for k, tag in enumerate(ex.tags):
            if not tag.strip():
                return f"the tag of token {k + 1} ({ex.tokens[k]!r}) is empty"
            if labels and tag not in labels:
                return (f"tag {tag!r} (token {k + 1}, {ex.tokens[k]!r}) is not one of {task.name}'s tags "
                        f"({', '.join(task.labels)})")
        return None
    if isinstance(ex, QAExample):
        if not ex.context.strip() or not ex.question.strip():
            return "an empty context or question"
        for a in ex.answers:
            end = a.start + len(a.text)
            if a.start < 0 or end > len(ex.context):
                return (f"answer {a.text!r} at answer_start {a.start} lies beyond its context "
                        f"({len(ex.context)} characters); fix answer_start")
            if a.text not in ex.context:
                return f"answer {a.text!r} is not in its context; fix the answer or the context"
        return None
    if isinstance(ex, ChoiceExample):
        if any(not str(c).strip() for c in ex.choices):
            return "an empty answer option"
        if ex.label is not None and not 0 <= ex.label < len(ex.choices):
            return f"label {ex.label} names no option (there are {len(ex.choices)})"
    return None


def _check_enough(task: Any, rules: RecordRules, examples: Sequence[Any], split: str, source: str) -> None:
    gold = [ex for ex in examples if getattr(ex, "label", None) is not None
            or getattr(ex, "tags", None) is not None or getattr(ex, "answers", None)]
    if not gold:
        return  # unlabelled (a test file without gold): nothing is scored on it
    need = rules.min_examples or (2 if task.metric_kind == "correlation" else 1)
    if len(gold) < need:
        raise DataError(f"{source}: {len(gold)} labelled example(s) in the {split} split; {task.name}'s {task.metric} "
                        f"needs at least {need}: give a larger file")
    if task.metric_kind == "correlation" and len({float(ex.label) for ex in gold}) < 2:
        raise DataError(f"{source}: every score of the {split} split is {float(gold[0].label):g}; {task.metric} of a "
                        "constant is undefined: give a file with varied scores")


__all__ = ["RecordRules", "check_records"]
