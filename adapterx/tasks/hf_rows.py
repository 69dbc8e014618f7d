"""Row converters for Hugging Face ``datasets`` rows: one pure function per data set schema.

Each takes a row (a mapping) and its index and returns an example, so the same :class:`TaskSpec` machinery serves
every data set. Field names follow the data sets' cards; where a schema has integer labels, the names are mapped to
the label strings the task uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapterx.data.examples import Answer, ChoiceExample, PairExample, QAExample, TagExample
from adapterx.errors import DataError

NLI = ("entailment", "neutral", "contradiction")  # GLUE MNLI, XNLI, SNLI, ANLI: 0, 1, 2
UPOS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # google/xtreme udpos.* pos_tags ids, in the data set's ClassLabel order
PANX = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme PAN-X.* ner_tags ids


def _score(row: Mapping[str, Any]) -> float:
    for key in ("score", "similarity_score", "relatedness_score", "label"):
        if key in row and row[key] is not None:
            return float(row[key])
    raise KeyError("no score column (score, similarity_score, relatedness_score, label)")


def sts_row(row: Mapping[str, Any], i: int) -> PairExample:
    a = row.get("sentence1", row.get("sentence_A"))
    b = row.get("sentence2", row.get("sentence_B"))
    return PairExample(str(i), a, b, _score(row))


def sick_row(row: Mapping[str, Any], i: int) -> PairExample:
    # SICK relatedness is on 1-5; map linearly to STS-B's 0-5 so every STS task shares one scale.
    ex = sts_row(row, i)
    return PairExample(ex.id, ex.text_a, ex.text_b, (float(ex.label) - 1.0) * 5.0 / 4.0)


def semrel_row(row: Mapping[str, Any], i: int) -> PairExample | None:
    """SemRel2024: relatedness 0-1 scaled to STS-B's 0-5; -1 (the withheld Spanish test scores) is no label."""
    ex = sts_row(row, i)
    if float(ex.label) < 0:
        return None
    return PairExample(ex.id, ex.text_a, ex.text_b, float(ex.label) * 5.0)


def nli_row(row: Mapping[str, Any], i: int) -> PairExample | None:
    lab = int(row["label"])
    if lab < 0:  # SNLI's and GLUE test's "no gold label"
        return None
    return PairExample(str(i), row["premise"], row["hypothesis"], NLI[lab])


def pair_row(a: str, b: str | None):  # noqa: ANN201
    def conv(row: Mapping[str, Any], i: int) -> PairExample | None:
        lab = int(row["label"])
        if lab < 0:
            return None
        return PairExample(str(i), row[a], row[b] if b else None, str(lab))

    return conv


def _row_id(row: Mapping[str, Any], key: str, i: int) -> str:
    """The record's own id where the data set has one, else its row number."""
    value = row.get(key)
    return str(value) if value not in (None, "") else str(i)


def copa_row(row: Mapping[str, Any], i: int) -> ChoiceExample:
    lab = int(row["label"])
    return ChoiceExample(str(i), row["premise"], row["question"], (row["choice1"], row["choice2"]), lab if lab >= 0 else None)


def hellaswag_row(row: Mapping[str, Any], i: int) -> ChoiceExample | None:
    if row.get("label") in (None, ""):
        return None
    # Ids as the official files give them (``ind``), so file and Hub runs name their predictions alike.
    return ChoiceExample(_row_id(row, "ind", i), row["ctx"], "", tuple(row["endings"]), int(row["label"]))


def cosmosqa_row(row: Mapping[str, Any], i: int) -> ChoiceExample:
    # The test split carries label -1 ("no gold label"): an unlabelled example, as the file reader gives it.
    raw = row.get("label")
    label = None if raw in (None, "") or int(raw) < 0 else int(raw)
    return ChoiceExample(_row_id(row, "id", i), row["context"], row["question"], tuple(row[f"answer{k}"] for k in range(4)),
                         label)


def siqa_row(row: Mapping[str, Any], i: int) -> ChoiceExample | None:
    """allenai/social_i_qa: context, question, answerA..answerC and ``label`` as a 1-based string ("1".."3")."""
    raw = row.get("label")
    if raw in (None, ""):
        return None
    lab = int(str(raw).strip())
    if not 1 <= lab <= 3:
        raise DataError(f"allenai/social_i_qa row {i}: label {raw!r} is not 1, 2 or 3 (answerA..answerC)")
    return ChoiceExample(str(i), row["context"], row["question"], (row["answerA"], row["answerB"], row["answerC"]), lab - 1)


def commonsenseqa_row(row: Mapping[str, Any], i: int) -> ChoiceExample | None:
    labels = list(row["choices"]["label"])
    if not row.get("answerKey"):
        return None
    return ChoiceExample(_row_id(row, "id", i), "", row["question"], tuple(row["choices"]["text"]),
                         labels.index(row["answerKey"]))


def squad_row(row: Mapping[str, Any], i: int) -> QAExample:
    ans = row["answers"]
    answers = tuple(Answer(t, int(s)) for t, s in zip(ans["text"], ans["answer_start"]))
    return QAExample(str(row["id"]), row["context"], row["question"], answers, row.get("title", ""))


def tags_row(names: tuple[str, ...], key: str):  # noqa: ANN201
    def conv(row: Mapping[str, Any], i: int) -> TagExample:
        tags = row[key]
        return TagExample(str(i), tuple(row["tokens"]), tuple(t if isinstance(t, str) else names[int(t)] for t in tags))

    return conv
