"""The example types every reader produces and every task featurizer consumes.

Plain frozen dataclasses: cheap, hashable, picklable, and independent of torch.
``id`` is the question id for SQuAD-format QA, otherwise the 0-based position of the example in its file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PairExample:
    """One text or a text pair with a label.

    ``label`` is a float for regression (STS: the raw score as in the file, e.g. 0-5), or the label *string* as the
    data set names it for classification (XNLI: ``entailment``/``neutral``/``contradiction``; PAWS-X: ``"0"``/``"1"``).
    ``text_b`` is None for single-sentence tasks (SST-2).
    """

    id: str
    text_a: str
    text_b: str | None
    label: float | str | None


@dataclass(frozen=True)
class ChoiceExample:
    """Multiple choice: a context (premise), an optional question/connector, the options and the gold index."""

    id: str
    context: str
    question: str
    choices: tuple[str, ...]
    label: int | None


@dataclass(frozen=True)
class TagExample:
    """A pre-tokenised sentence with one tag per token (``tags`` is None for unlabelled test files)."""

    id: str
    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context


@dataclass(frozen=True)
class QAExample:
    """Extractive QA in SQuAD v1.1 form. ``answers`` may hold several gold answers (dev/test)."""

    id: str
    context: str
    question: str
    answers: tuple[Answer, ...]
    title: str = ""


@dataclass(frozen=True)
class ParallelCorpus:
    """Sentence retrieval data: ``source[i]`` is aligned with ``target[gold[i]]`` (Tatoeba: gold[i] == i).

    For BUCC, ``source_ids``/``target_ids`` hold the file ids and ``gold_pairs`` the gold (source_id, target_id) pairs.
    """

    source: tuple[str, ...]
    target: tuple[str, ...]
    source_lang: str
    target_lang: str
    source_ids: tuple[str, ...] = ()
    target_ids: tuple[str, ...] = ()
    gold_pairs: tuple[tuple[str, str], ...] = ()


Example = PairExample | ChoiceExample | TagExample | QAExample


@dataclass
class Features:
    """Model inputs for a list of examples; several features per example for windowed QA. Task kinds
    (:mod:`adapterx.tasks.kinds`) produce them; the feature cache (:mod:`adapterx.data.cache`) stores them."""

    items: list[dict[str, Any]]  # per feature: input_ids, attention_mask, labels...
    example_index: list[int]  # per feature: which example it came from
    extra: list[Any] = field(default_factory=list)  # per feature: offsets (QA) or word ids (tagging)

    def __len__(self) -> int:
        return len(self.items)
