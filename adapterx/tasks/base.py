"""TaskSpec: the one record of a task. Every fact about it is held here or reached from here:

- what it is: kind, labels, languages, metric, intermediate / target, QA-ness (``kind == "span_qa"``);
- its Hugging Face data: ``hf`` (per split, a key of :data:`adapterx.data.hf_sources.DATASETS`: repo, config,
  revision, languages; a data set serving several tasks, e.g. ``glue/mnli`` or ``squad``, is one source object
  that each task names);
- its folder data: ``layout`` (a key of :data:`adapterx.data.layout.LAYOUTS`: file patterns and their readers,
  download targets and writers; None says the task has no folder layout) and ``file_reader`` (the format of a file
  the user names; None: the task reads no files of its own);
- ``eval_split``, the English ``train_size`` and per-language ``dev_size`` / ``test_size`` the cost estimate uses
  (None: not known, the estimate assumes its default), and ``xtreme`` (its XTREME submission shape and the
  official scorer's languages; None: not part of the submission).

A task is one :class:`TaskSpec` plus one registration in :data:`adapterx.tasks.TASKS`. How examples become model
inputs and predictions become scores is the job of its *kind* (:mod:`adapterx.tasks.kinds`), shared by every task
of that kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adapterx.data.formats import FileReader
from adapterx.data.rules import RecordRules
from adapterx.data.synthetic import SyntheticSpec

Kind = Literal["regression", "classification", "multiple_choice", "span_qa", "tagging", "retrieval"]
KINDS: tuple[str, ...] = ("regression", "classification", "multiple_choice", "span_qa", "tagging", "retrieval")


@dataclass(frozen=True)
class HFSource:
    """Which Hugging Face data set each split comes from, and how its rows map to examples.

    ``splits`` maps adapterx split names (train/dev/test) to ``(data set key, split name there)``; the keys name
    entries of :data:`adapterx.data.hf_sources.DATASETS`, which hold the ids, configs, revisions and columns (e.g.
    XNLI: train ``("glue/mnli", "train")``, test ``("xnli", "test")``). ``row`` turns one row (a dict) and its index
    into an example, or None to skip the row (no gold label).
    """

    row: Callable[[Mapping[str, Any], int], Any]
    splits: Mapping[str, tuple[str, str]]
    # Keep only rows whose id starts with the language's English name (TyDiQA: "swahili-...").
    lang_prefix_ids: bool = False


def hf_splits(key: str, train: str | None = "train", dev: str | None = "validation",
              test: str | None = "test") -> dict[str, tuple[str, str]]:
    """``HFSource.splits`` for a data set that serves every split itself (split names as the data set spells
    them; None leaves the split out)."""
    return {ours: (key, theirs) for ours, theirs in (("train", train), ("dev", dev), ("test", test)) if theirs}


XtremeShape = Literal["label", "choice", "tags", "qa", "index", "pairs"]


@dataclass(frozen=True)
class XtremeExport:
    """How a task appears in XTREME's submission layout (``<folder>/test-<lang>.<ext>``), and what the official
    scorer needs of it."""

    folder: str  # the task's folder in the layout (BUCC: bucc2018)
    ext: str  # file extension without the dot
    shape: XtremeShape  # what one prediction line holds
    official_languages: tuple[str, ...]  # the scorer's TASK2LANGS (XTREME-R's; PAWS-X and BUCC from XTREME)
    gold_split: str = "test"  # adapterx's split holding the gold of a submission's "test" (TyDiQA-GoldP: dev)


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
    synthetic: SyntheticSpec = field(default_factory=lambda: SyntheticSpec("sts"))
    eval_split: str = "test"  # the split zero-shot evaluation reads by default
    num_choices: int = 2  # multiple choice
    mlqa_normalisation: bool = False  # MLQA's language-aware answer normalisation
    intermediate: bool = False  # an English intermediate task (X-STILTs)
    target: bool = False  # an XTREME-R target task
    notes: str = ""  # where a public source is missing, what stands in for it
    members: tuple[str, ...] = ()  # a union task: its training data is its members' (dev: the first member's)
    # What its records must satisfy (score range, unique ids, examples its metric needs): checked on every read
    # (adapterx.data.rules); the kind adds its own (tags in ``labels``, QA answers inside their context).
    rules: RecordRules = field(default_factory=RecordRules)
    xtreme: XtremeExport | None = None  # its place in XTREME's submission layout; None: not part of it
    dev_size: int | None = None  # examples per evaluation language of dev / test (the cost estimate); None: unknown
    test_size: int | None = None
    runnable: bool = True  # False: registered for the tables, no data reader yet (LAReQA, Mewsli-X)
    # How ``--data PATH`` reads the task where PATH is neither a file of its format nor an XTREME-style folder
    # (SICK's one file of every split, a SemEval STS year's folder): (task, split, path, DataOptions) -> (examples,
    # Provenance), from adapterx.data.sources; None: the usual file / folder reading.
    data_path_loader: Callable[..., Any] | None = None
    # Said in every registration (no defaults), so a task without a folder layout or file format says so:
    layout: str | None = field(kw_only=True)  # its folder layout in a --data-dir (adapterx.data.layout.LAYOUTS)
    file_reader: FileReader | None = field(kw_only=True)  # the format of a file the user names (data.formats)
    train_size: int = field(kw_only=True)  # English training examples of the full data (the cost estimate)

    def member_tasks(self) -> tuple[TaskSpec, ...]:
        """A union task's members, resolved in the registry (the data layer reads their data without importing
        the registry)."""
        from adapterx.tasks import get_task

        return tuple(get_task(m) for m in self.members)

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
