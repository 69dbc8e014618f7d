"""TaskSpec: what a task is (kind, labels, languages, metric) and where its data comes from.

A task is one :class:`TaskSpec` plus one registration in :data:`adapterx.tasks.TASKS`. How examples become model
inputs and predictions become scores is the job of its *kind* (:mod:`adapterx.tasks.kinds`), shared by every task
of that kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adapterx.data.synthetic import SyntheticSpec

Kind = Literal["regression", "classification", "multiple_choice", "span_qa", "tagging", "retrieval"]
KINDS: tuple[str, ...] = ("regression", "classification", "multiple_choice", "span_qa", "tagging", "retrieval")


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face ``datasets`` id and how its rows map to examples.

    ``splits`` maps adapterx split names (train/dev/test) to the data set's; ``config`` may hold ``{lang}``
    for per-language configurations (``xnli`` / ``{lang}``); ``row`` turns one row (a dict) and its index into an example.
    """

    path: str
    row: Callable[[Mapping[str, Any], int], Any]
    config: str | None = None
    splits: Mapping[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    # Per split, a different id/config (e.g. XNLI's English training data is MNLI).
    overrides: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    # Keep only rows whose id starts with the language's English name (TyDiQA: "swahili-...").
    lang_prefix_ids: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """Everything adapterx knows about one task."""

    name: str
    kind: Kind
    description: str
    metric: str  # the headline metric name in results: "spearman", "accuracy", "f1", "score" (QA: (EM+F1)/2)
    metric_kind: Literal["mean", "f1", "correlation"]  # how per-example statistics combine (docs/internals.md)
    labels: tuple[str, ...] = ()  # label names (classification, tagging); empty for regression / QA
    languages: tuple[str, ...] = ("en",)  # every language the task is evaluated on
    hf: HFSource | tuple[HFSource, ...] | None = None  # several sources are concatenated (ANLI+)
    layout: str | None = None  # the task's folder name in an XTREME-style --data-dir (adapterx.data.layout)
    synthetic: SyntheticSpec = field(default_factory=lambda: SyntheticSpec("sts"))
    eval_split: str = "test"  # the split zero-shot evaluation reads by default
    num_choices: int = 2  # multiple choice
    mlqa_normalisation: bool = False  # MLQA's language-aware answer normalisation
    intermediate: bool = False  # an English intermediate task (X-STILTs)
    target: bool = False  # an XTREME-R target task
    notes: str = ""  # where a public source is missing, what stands in for it
    members: tuple[str, ...] = ()  # a union task: its training data is its members' (dev: the first member's)

    @property
    def num_labels(self) -> int:
        if self.kind == "regression":
            return 1
        return len(self.labels)

    @property
    def label2id(self) -> dict[str, int]:
        return {lab: i for i, lab in enumerate(self.labels)}


def with_discovered_labels(task: TaskSpec, train_ex: list) -> TaskSpec:
    """Tasks with an open label set (CCG supertags) take theirs from the training data."""
    if task.kind == "tagging" and not task.labels:
        from dataclasses import replace

        tags = sorted({t for ex in train_ex for t in (ex.tags or ())})
        return replace(task, labels=tuple(tags))
    return task
