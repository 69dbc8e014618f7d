"""Writers for the official file formats that :mod:`adapterx.data.readers` reads: examples -> file.

Each writer is the inverse of a reader for the examples it gets: reading the written file back gives the same
examples (ids included where the format stores them; elsewhere ids are positions, as both sides number them).
``adapterx data download`` uses them to lay Hugging Face data out as XTREME's download folder.

TSV files are written as XTREME writes its XNLI/PAWS-X files (``csv.writer`` with a tab: fields holding a quote are
quoted), which the readers decode. Line breaks inside a field would split a record, so they become spaces.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from adapterx.data.examples import ChoiceExample, PairExample, QAExample, TagExample
from adapterx.data.readers.choice import SIQA_ANSWERS
from adapterx.errors import DataError
from adapterx.data.readers.choice import siqa_labels_path


def _flat(text: object) -> str:
    """One line of text: the readers split records on ``\n`` (and drop a ``\r`` before it)."""
    return "" if text is None else str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _tsv(rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    for row in rows:
        writer.writerow([_flat(f) for f in row])
    return buf.getvalue()


def _jsonl(objs: Sequence[dict]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def _label(ex: PairExample | ChoiceExample | TagExample, what: str) -> None:
    if getattr(ex, "label", 0) is None or getattr(ex, "tags", ()) is None:
        raise DataError(f"example {ex.id}: no gold label; {what} files are written labelled only")


def write_pair_tsv(examples: Sequence[PairExample], path: Path) -> None:
    """XNLI / PAWS-X as XTREME writes them: ``text_a<TAB>text_b<TAB>label``, no header."""
    for ex in examples:
        _label(ex, "XNLI/PAWS-X")
    path.write_text(_tsv([(ex.text_a, ex.text_b or "", str(ex.label)) for ex in examples]), encoding="utf-8")


def write_sts_csv(examples: Sequence[PairExample], path: Path) -> None:
    """STS-B as the multilingual STS-B CSVs: ``sentence1,sentence2,score``, no header, quoted where needed."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for ex in examples:
        _label(ex, "STS-B")
        writer.writerow([_flat(ex.text_a), _flat(ex.text_b), repr(float(ex.label))])  # repr: the float exactly
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_token_tags(examples: Sequence[TagExample], path: Path) -> None:
    """PAN-X / UD-POS as XTREME's files: ``token<TAB>tag`` per line, a blank line after each sentence."""
    lines: list[str] = []
    for ex in examples:
        _label(ex, "tagging")
        for token, tag in zip(ex.tokens, ex.tags or (), strict=True):
            token = " ".join(token.split()) or "_"  # a token is one field of one line
            lines.append(f"{token}\t{tag}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_squad(examples: Sequence[QAExample], path: Path) -> None:
    """SQuAD v1.1 JSON: consecutive questions on the same title and context share an article and a paragraph."""
    data: list[dict] = []
    for ex in examples:
        if not data or data[-1]["title"] != ex.title:
            data.append({"title": ex.title, "paragraphs": []})
        pars = data[-1]["paragraphs"]
        if not pars or pars[-1]["context"] != ex.context:
            pars.append({"context": ex.context, "qas": []})
        pars[-1]["qas"].append({"id": ex.id, "question": ex.question,
                                "answers": [{"text": a.text, "answer_start": a.start} for a in ex.answers]})
    path.write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False), encoding="utf-8")


def write_copa(examples: Sequence[ChoiceExample], path: Path) -> None:
    """XCOPA / COPA JSON lines: premise, choice1, choice2, question (cause/effect), label, idx."""
    objs = []
    for i, ex in enumerate(examples):
        _label(ex, "COPA")
        objs.append({"premise": ex.context, "choice1": ex.choices[0], "choice2": ex.choices[1],
                     "question": ex.question, "label": ex.label, "idx": i})
    path.write_text(_jsonl(objs), encoding="utf-8")


def write_siqa(examples: Sequence[ChoiceExample], path: Path) -> None:
    """Social IQa as its official zip unpacks: ``<split>.jsonl`` and the 1-based labels in ``<split>-labels.lst``."""
    objs, labels = [], []
    for ex in examples:
        _label(ex, "Social IQa")
        objs.append({"context": ex.context, "question": ex.question, **dict(zip(SIQA_ANSWERS, ex.choices, strict=True))})
        labels.append(f"{ex.label + 1}\n")  # type: ignore[operator]
    path.write_text(_jsonl(objs), encoding="utf-8")
    siqa_labels_path(path).write_text("".join(labels), encoding="utf-8")


def write_hellaswag(examples: Sequence[ChoiceExample], path: Path) -> None:
    """HellaSwag JSON lines as rowanz/hellaswag's data/: ind, ctx, endings, label."""
    for ex in examples:
        _label(ex, "HellaSwag")
    path.write_text(_jsonl([{"ind": ex.id, "ctx": ex.context, "endings": list(ex.choices), "label": ex.label}
                            for ex in examples]), encoding="utf-8")


def write_cosmosqa(examples: Sequence[ChoiceExample], path: Path) -> None:
    """Cosmos QA CSV as wilburOne/cosmosqa's data/: header ``id,context,question,answer0..answerN,label``."""
    n = len(examples[0].choices) if examples else 4
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "context", "question", *(f"answer{k}" for k in range(n)), "label"])
    for ex in examples:
        _label(ex, "Cosmos QA")
        writer.writerow([ex.id, ex.context, ex.question, *ex.choices, ex.label])
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_commonsenseqa(examples: Sequence[ChoiceExample], path: Path) -> None:
    """CommonsenseQA JSON lines as the official ``*_rand_split.jsonl``: answerKey, id, question {stem, choices}."""
    letters = "ABCDEFGHIJ"
    objs = []
    for ex in examples:
        _label(ex, "CommonsenseQA")
        choices = [{"label": letters[k], "text": t} for k, t in enumerate(ex.choices)]
        objs.append({"answerKey": letters[ex.label], "id": ex.id,  # type: ignore[index]
                     "question": {"stem": ex.question, "choices": choices}})
    path.write_text(_jsonl(objs), encoding="utf-8")


__all__ = ["write_commonsenseqa", "write_copa", "write_cosmosqa", "write_hellaswag", "write_pair_tsv",
           "write_siqa", "write_squad", "write_sts_csv", "write_token_tags"]
