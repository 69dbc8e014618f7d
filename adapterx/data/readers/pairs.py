"""Readers for sentence-pair data: XNLI, MNLI, PAWS-X and STS-B -> :class:`PairExample`."""

from __future__ import annotations

import csv
import io
import math

from adapterx.data.examples import PairExample
from adapterx.data.readers.files import (
    PathArg,
    find_header,
    looks_like_jsonl,
    note_origin,
    read_jsonl,
    read_text,
    tsv_rows,
)
from adapterx.errors import DataError

NLI_LABELS: tuple[str, str, str] = ("entailment", "neutral", "contradiction")
"""XNLI/MNLI label strings in the integer order of the XNLI JSON lines files and Hugging Face ``xnli``/``multi_nli``
(0 entailment, 1 neutral, 2 contradiction). Checked on the real English test file: label 2 has the most negations in
the hypothesis and label 0 the highest word overlap with the premise, as ``contradiction``/``entailment`` do in dev."""

PAWSX_LABELS: tuple[str, str] = ("0", "1")
"""PAWS-X labels as the files write them: 1 = paraphrase."""

_NLI_COLUMNS = {
    "text_a": ("sentence1", "premise"),
    "text_b": ("sentence2", "hypothesis", "hypo"),
    "label": ("gold_label", "label"),
    "language": ("language",),
}
_NO_CONSENSUS = "-"  # SNLI/MNLI gold_label for pairs without annotator majority: not a class, such rows are skipped


def _nli_label(value: object, where: str) -> str:
    """Normalise an NLI label: strings are lower-cased, XNLI's ``contradictory`` (XNLI-MT/MultiNLI spelling, which
    XTREME's preprocessing renames) becomes ``contradiction``; integers 0/1/2 follow :data:`NLI_LABELS`."""
    if isinstance(value, bool):
        raise DataError(
            f"{where}: label {value!r} is not an NLI label; "
            f"expected one of {', '.join(NLI_LABELS)} or 0/1/2."
        )
    if isinstance(value, int):
        if 0 <= value < len(NLI_LABELS):
            return NLI_LABELS[value]
        raise DataError(
            f"{where}: label {value} is out of range; integer NLI "
            "labels are 0 entailment, 1 neutral, 2 contradiction."
        )
    text = str(value).strip().lower()
    if text.isdigit() and int(text) < len(NLI_LABELS):
        return NLI_LABELS[int(text)]
    if text == "contradictory":
        return "contradiction"
    if text in NLI_LABELS:
        return text
    raise DataError(f"{where}: unknown NLI label {value!r}; expected one of {', '.join(NLI_LABELS)} (or 0/1/2).")


def _read_nli_jsonl(path: PathArg) -> list[PairExample]:
    # ids are positions among the file's rows, skipped rows included, so predictions follow the file line for line
    # (an official submission needs one line per row; a gap shows which rows had no prediction).
    out: list[PairExample] = []
    for pos, (n, obj) in enumerate(read_jsonl(path)):
        where = f"{path}:{n}"
        a = next((obj[k] for k in ("premise", "sentence1") if k in obj), None)
        b = next((obj[k] for k in ("hypothesis", "sentence2") if k in obj), None)
        if not isinstance(a, str) or not isinstance(b, str):
            raise DataError(f"{where}: expected string keys 'premise' and 'hypothesis', found keys {sorted(obj)}.")
        raw = obj.get("label", obj.get("gold_label"))
        if raw == _NO_CONSENSUS or raw == -1:  # -1: Hugging Face's "no label"
            continue
        label = None if raw is None else _nli_label(raw, where)
        out.append(PairExample(id=str(pos), text_a=a, text_b=b, label=label))
        note_origin(where)
    return out


def _read_nli_tsv(path: PathArg, lang: str | None) -> list[PairExample]:
    rows = tsv_rows(path)
    if not rows:
        raise DataError(f"{path}: no rows found.")
    header = find_header(rows[0][1], _NLI_COLUMNS, required=("text_a", "text_b"))
    out: list[PairExample] = []
    if header is not None:
        width = len(rows[0][1])
        pos = -1  # position among the rows of the language kept (ids: see _read_nli_jsonl)
        for n, fields in rows[1:]:
            where = f"{path}:{n}"
            if len(fields) != width:
                raise DataError(
                    f"{where}: expected {width} tab-separated fields as in the header, found {len(fields)}; "
                    "fix the line (a stray tab or line break inside a sentence?)."
                )
            if lang is not None and "language" in header and fields[header["language"]].strip() != lang:
                continue
            pos += 1
            raw = fields[header["label"]] if "label" in header else None
            if raw is not None and raw.strip() == _NO_CONSENSUS:
                continue
            label = None if raw is None else _nli_label(raw, where)
            out.append(PairExample(str(pos), fields[header["text_a"]], fields[header["text_b"]], label))
            note_origin(where)
        return out
    width = len(rows[0][1])
    for n, fields in rows:
        where = f"{path}:{n}"
        if len(fields) not in (2, 3):
            raise DataError(
                f"{where}: expected 3 tab-separated fields (premise, hypothesis, label) or 2 for unlabelled test "
                f"files, found {len(fields)}; fix the line."
            )
        if len(fields) != width:
            raise DataError(
                f"{where}: {len(fields)} fields where the first row "
                f"has {width}; labelled and unlabelled rows are mixed."
            )
        label = _nli_label(fields[2], where) if len(fields) == 3 else None
        out.append(PairExample(str(len(out)), fields[0], fields[1], label))
        note_origin(where)
    return out


def read_xnli(path: PathArg, lang: str | None = None) -> list[PairExample]:
    """XNLI in any of its published shapes.

    - XTREME's ``dev-<l>.tsv``: ``premise<TAB>hypothesis<TAB>label`` without header, CRLF, CSV-quoted
      (``test-<l>.tsv`` has no label column -> ``label=None``);
    - JSON lines ``{"premise", "hypothesis", "label"}`` with integer (0 entailment, 1 neutral, 2 contradiction)
      or string labels;
    - a TSV with a header naming ``sentence1``/``premise``, ``sentence2``/``hypothesis``/``hypo`` and
      ``gold_label``/``label`` (official ``xnli.dev.tsv``, XNLI-MT ``multinli.train.en.tsv``); with a ``language``
      column, ``lang`` keeps one language.
    Labels are the strings of :data:`NLI_LABELS`.
    """
    if looks_like_jsonl(path):
        return _read_nli_jsonl(path)
    return _read_nli_tsv(path, lang)


def read_mnli(path: PathArg) -> list[PairExample]:
    """GLUE MNLI TSV (header; ``sentence1``, ``sentence2``, ``gold_label`` found by name, so train, dev_matched and
    the label-less test files all work). Rows whose gold label is ``-`` (no annotator majority) are skipped.
    Literal quotes are kept (GLUE files are not CSV-quoted). Also reads the other shapes :func:`read_xnli` reads."""
    return read_xnli(path)


_PAWSX_COLUMNS = {
    "id": ("id",),
    "text_a": ("sentence1",),
    "text_b": ("sentence2",),
    "label": ("label",),
}


def _pawsx_label(value: str, where: str) -> str:
    text = value.strip()
    if text in PAWSX_LABELS:
        return text
    raise DataError(f"{where}: PAWS-X label {value!r} is not 0 or 1; fix the line.")


def read_pawsx(path: PathArg) -> list[PairExample]:
    """PAWS-X TSV: XTREME's header-less ``sentence1<TAB>sentence2<TAB>label`` (CRLF, CSV-quoted; 2 columns for
    unlabelled test files) or the original layout with header ``id<TAB>sentence1<TAB>sentence2<TAB>label``.
    Labels stay the strings ``"0"``/``"1"``."""
    rows = tsv_rows(path)
    header = find_header(rows[0][1], _PAWSX_COLUMNS, required=("text_a", "text_b"))
    out: list[PairExample] = []
    if header is not None:
        width = len(rows[0][1])
        for n, fields in rows[1:]:
            where = f"{path}:{n}"
            if len(fields) != width:
                raise DataError(
                    f"{where}: expected {width} tab-separated fields as "
                    f"in the header, found {len(fields)}; fix the line."
                )
            label = _pawsx_label(fields[header["label"]], where) if "label" in header else None
            out.append(PairExample(str(len(out)), fields[header["text_a"]], fields[header["text_b"]], label))
            note_origin(where)
        return out
    width = len(rows[0][1])
    for n, fields in rows:
        where = f"{path}:{n}"
        if len(fields) != width:
            raise DataError(f"{where}: {len(fields)} fields where the first row has {width}; fix the line.")
        if len(fields) == 4 and fields[0].strip().isdigit():  # id, sentence1, sentence2, label without header
            fields = fields[1:]
        if len(fields) == 3:
            out.append(PairExample(str(len(out)), fields[0], fields[1], _pawsx_label(fields[2], where)))
            note_origin(where)
        elif len(fields) == 2:
            out.append(PairExample(str(len(out)), fields[0], fields[1], None))
            note_origin(where)
        else:
            raise DataError(
                f"{where}: expected 3 tab-separated fields (sentence1, sentence2, label), 2 for unlabelled test "
                f"files or a header line 'id sentence1 sentence2 label'; found {len(fields)}."
            )
    return out


_STS_COLUMNS = {
    "text_a": ("sentence1",),
    "text_b": ("sentence2",),
    "label": ("score", "similarity_score", "label"),
}


def _score(value: str, where: str) -> float:
    try:
        score = float(value.strip())
    except ValueError:
        raise DataError(f"{where}: similarity score {value!r} is not a number; fix the line.") from None
    if not math.isfinite(score):
        raise DataError(f"{where}: similarity score {value!r} is not finite.")
    return score


def _read_sts_tsv(path: PathArg) -> list[PairExample]:
    rows = tsv_rows(path)
    header = find_header(rows[0][1], _STS_COLUMNS, required=("text_a", "text_b"))
    out: list[PairExample] = []
    if header is None:
        for n, fields in rows:
            if len(fields) not in (2, 3):
                raise DataError(
                    f"{path}:{n}: expected a header naming sentence1/sentence2/score (GLUE STS-B) or 3 fields "
                    f"'sentence1<TAB>sentence2<TAB>score', found {len(fields)} fields."
                )
            label = _score(fields[2], f"{path}:{n}") if len(fields) == 3 else None
            out.append(PairExample(str(len(out)), fields[0], fields[1], label))
            note_origin(f"{path}:{n}")
        return out
    width = len(rows[0][1])
    for n, fields in rows[1:]:
        where = f"{path}:{n}"
        if len(fields) != width:
            raise DataError(
                f"{where}: expected {width} tab-separated fields as "
                f"in the header, found {len(fields)}; fix the line."
            )
        label = _score(fields[header["label"]], where) if "label" in header else None  # GLUE test: no score
        out.append(PairExample(str(len(out)), fields[header["text_a"]], fields[header["text_b"]], label))
        note_origin(where)
    return out


def _read_sts_csv(path: PathArg) -> list[PairExample]:
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[PairExample] = []
    first = True
    try:
        for fields in reader:
            n = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != 3:
                raise DataError(
                    f"{path}:{n}: expected 3 comma-separated fields 'sentence1,sentence2,score' (quote fields "
                    f"that hold commas), found {len(fields)}."
                )
            if first and "score" in fields[2].strip().lower():  # an optional header line
                first = False
                continue
            first = False
            out.append(PairExample(str(len(out)), fields[0], fields[1], _score(fields[2], f"{path}:{n}")))
            note_origin(f"{path}:{n}")
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc}); check the quoting of that line.") from None
    if not out:
        raise DataError(f"{path}: no rows found.")
    return out


def read_stsb(path: PathArg) -> list[PairExample]:
    """STS-B: the GLUE ``STS-B/*.tsv`` (header; ``sentence1``, ``sentence2``, ``score`` by name; the GLUE test file
    has no score -> ``label=None``) or the header-less CSV ``sentence1,sentence2,score`` of the multilingual STS-B
    (stsb-multi-mt: quoted fields, CRLF). The label is the raw float score (0-5)."""
    text = read_text(path)
    first_line = text.split("\n", 1)[0]
    if "\t" in first_line:
        return _read_sts_tsv(path)
    return _read_sts_csv(path)
