"""Pure readers of the official data formats: each ``read_X(path, ...) -> list[Example]``.

Written for the *format*, not only the files at hand: TSV with or without header, CRLF, UTF-8 BOM, CSV-quoted
or literal quotes, string or integer labels, unlabelled test files (label/tags ``None``, answers ``()``).
Problems raise :class:`adapterx.errors.DataError` naming ``path:line`` and the fix; a file that is not UTF-8
says so. Example ids are 0-based positions, except QA (question ids) and HellaSwag / Cosmos QA / CommonsenseQA
(the files' own ``ind`` / ``id``).

| reader | format |
|---|---|
| :func:`read_xnli` | XTREME ``dev-<l>.tsv`` / JSON lines / headered XNLI-MNLI TSV -> PairExample |
| :func:`read_mnli` | GLUE MNLI TSV (columns by name) -> PairExample |
| :func:`read_pawsx` | PAWS-X TSV, with or without header -> PairExample |
| :func:`read_stsb` | GLUE STS-B TSV or stsb-multi-mt CSV -> PairExample (float label) |
| :func:`read_copa` | XCOPA/COPA JSON lines -> ChoiceExample |
| :func:`read_siqa` | Social IQa JSON lines + sibling ``<split>-labels.lst`` (or inline labels) -> ChoiceExample |
| :func:`read_hellaswag` | HellaSwag ``hellaswag_{train,val,test}.jsonl`` -> ChoiceExample (4 endings) |
| :func:`read_cosmosqa` | Cosmos QA ``{train,valid}.csv`` (headered CSV) or JSON lines -> ChoiceExample (4 answers) |
| :func:`read_commonsenseqa` | CommonsenseQA ``*_rand_split*.jsonl`` -> ChoiceExample (5 choices, label from answerKey) |
| :func:`read_conllu` | CoNLL-U, UPOS column -> TagExample |
| :func:`read_token_tags` | XTREME ``token<TAB>tag`` -> TagExample |
| :func:`read_squad` | SQuAD v1.1 JSON (XQuAD, MLQA, TyDiQA-GoldP) -> QAExample |
"""

from __future__ import annotations

from collections.abc import Sequence

from adapterx.data.examples import ChoiceExample, Example, PairExample, QAExample, TagExample
from adapterx.data.readers.files import csv_rows, read_json, read_jsonl, read_lines, read_text, tsv_rows
from adapterx.data.readers.choice import (
    COPA_QUESTIONS,
    SIQA_ANSWERS,
    read_commonsenseqa,
    read_copa,
    read_cosmosqa,
    read_hellaswag,
    read_siqa,
    siqa_labels_path,
)
from adapterx.data.readers.pairs import NLI_LABELS, PAWSX_LABELS, read_mnli, read_pawsx, read_stsb, read_xnli
from adapterx.data.readers.qa import read_squad
from adapterx.data.readers.tagging import read_conllu, read_token_tags


def has_labels(examples: Sequence[Example]) -> bool:
    """Whether every example carries gold labels (tags, label, answers); False for an empty list or for
    unlabelled test files (PAN-X test without tags, XTREME's answer-stripped QA test files)."""
    if not examples:
        return False
    for ex in examples:
        if isinstance(ex, TagExample) and ex.tags is None:
            return False
        if isinstance(ex, (PairExample, ChoiceExample)) and ex.label is None:
            return False
        if isinstance(ex, QAExample) and not ex.answers:
            return False
    return True


__all__ = [
    "COPA_QUESTIONS",
    "NLI_LABELS",
    "PAWSX_LABELS",
    "SIQA_ANSWERS",
    "csv_rows",
    "has_labels",
    "read_commonsenseqa",
    "read_conllu",
    "read_copa",
    "read_cosmosqa",
    "read_hellaswag",
    "read_json",
    "read_jsonl",
    "read_lines",
    "read_mnli",
    "read_pawsx",
    "read_siqa",
    "read_squad",
    "read_stsb",
    "read_text",
    "read_token_tags",
    "read_xnli",
    "siqa_labels_path",
    "tsv_rows",
]
