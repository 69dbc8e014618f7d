"""A cheap look at a data file's first lines, to say which format it is in before a reader parses it.

A file of one task's format given to another task used to fail deep inside (an ``AttributeError``) or, worse, read
as something else (a PAN-X ``token<TAB>tag`` file read as unlabelled XNLI pairs). :func:`check_signature` looks at
the head of the file (columns, JSON keys, the tag set) and, where the format it finds is a definite one that the
reader does not read, raises one :class:`DataError` naming the file, the format found (with the evidence) and the
formats expected. Where it cannot tell, it says nothing and the reader decides: the readers stay format-general
(other languages' files, headers or not, CRLF, BOMs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from adapterx.errors import DataError

HEAD_BYTES = 65536
_NLI = {"entailment", "neutral", "contradiction", "contradictory"}
_TAG = re.compile(r"^(O|[BIES]-[A-Za-z]+|[A-Z]{1,5}|_)$")
_CONLLU_ID = re.compile(r"^\d+(-\d+|\.\d+)?$")
_FLOAT = re.compile(r"^-?\d*\.\d+$")

# The formats each reader reads (names as :func:`sniff` reports them), by the reader's name
# (adapterx.data.formats.FileReader.name); a reader not named here is not checked (SICK).
READS: dict[str, tuple[str, ...]] = {
    "xnli": ("NLI pairs (TSV)", "NLI pairs (JSON lines)"),
    "nli": ("NLI pairs (TSV)", "NLI pairs (JSON lines)"),
    "mnli": ("NLI pairs (TSV)", "NLI pairs (JSON lines)"),
    "tags": ("token<TAB>tag lines", "CoNLL-U"),
    "pawsx": ("PAWS-X pairs (TSV)",),
    "stsb": ("STS pairs (TSV)", "STS pairs (CSV)"),
    "copa": ("COPA (JSON lines)",),
    "siqa": ("Social IQa (JSON lines)",),
    "hellaswag": ("HellaSwag (JSON lines)",),
    "cosmosqa": ("Cosmos QA (JSON lines)", "Cosmos QA (CSV)"),
    "commonsenseqa": ("CommonsenseQA (JSON lines)",),
    "squad": ("SQuAD JSON",),
    "token_tags": ("token<TAB>tag lines",),
    "conllu": ("CoNLL-U",),
}


def _jsonl_format(obj: dict) -> tuple[str, str] | None:
    keys = set(obj)
    shown = ", ".join(sorted(keys)[:6])
    if "data" in keys and isinstance(obj.get("data"), list):
        return "SQuAD JSON", f"keys {shown}"
    if isinstance(obj.get("question"), dict) and "stem" in obj["question"]:
        return "CommonsenseQA (JSON lines)", "key question.stem"
    if "endings" in keys and keys & {"ctx", "ctx_a"}:
        return "HellaSwag (JSON lines)", f"keys {shown}"
    if {"answerA", "answerB"} <= keys:
        return "Social IQa (JSON lines)", f"keys {shown}"
    if {"answer0", "answer1"} <= keys:
        return "Cosmos QA (JSON lines)", f"keys {shown}"
    if {"choice1", "choice2"} <= keys:
        return "COPA (JSON lines)", f"keys {shown}"
    if {"premise", "hypothesis"} <= keys or {"sentence1", "sentence2"} <= keys:
        return "NLI pairs (JSON lines)", f"keys {shown}"
    return None


def _lines_format(lines: list[str]) -> tuple[str, str] | None:
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    if not body:
        return None
    cols = [ln.split("\t") for ln in body[:200]]
    if sum(len(c) == 10 and bool(_CONLLU_ID.match(c[0])) for c in cols) >= max(1, len(cols) // 2):
        return "CoNLL-U", "10 tab-separated columns with word ids"
    blanks = sum(not ln.strip() for ln in lines[:400])
    two = [c for c in cols if len(c) == 2]
    if blanks and len(two) >= 0.9 * len(cols) and len(two) >= 2 and \
            sum(bool(_TAG.match(c[1].strip())) and " " not in c[0].strip() for c in two) >= 0.9 * len(two):
        tags = sorted({c[1].strip() for c in two})[:5]
        return "token<TAB>tag lines", f"one token per line, tags {', '.join(tags)}"
    first = [f.strip().lower() for f in cols[0]]
    if len(cols[0]) >= 3:
        if "gold_label" in first or ("premise" in first and "hypothesis" in first):
            return "NLI pairs (TSV)", f"header {' '.join(cols[0][:5])}"
        if "score" in first and "sentence1" in first:
            return "STS pairs (TSV)", f"header {' '.join(cols[0][:5])}"
        rows = [c for c in cols[1:] if len(c) == len(cols[0])] if "sentence1" in first else cols
        last = [c[-1].strip().lower() for c in rows if len(c) >= 3]
        if last and all(v in _NLI for v in last):
            return "NLI pairs (TSV)", f"labels {', '.join(sorted(set(last))[:3])} in the last column"
        if last and sum(bool(_FLOAT.match(v)) for v in last) >= 0.5 * len(last):
            return "STS pairs (TSV)", "decimal scores in the last column"
    if len(cols[0]) == 1 and "," in body[0]:
        fields = [ln.rsplit(",", 1)[-1].strip() for ln in body[1:20]]
        if fields and sum(bool(_FLOAT.match(v)) for v in fields) >= 0.5 * len(fields):
            return "STS pairs (CSV)", "comma-separated with decimal scores"
    return None


def sniff(path: str | Path) -> tuple[str, str] | None:
    """``(format, evidence)`` of the file at ``path`` from its first 64 KiB, or None where it cannot tell."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(HEAD_BYTES)
    except OSError:
        return None  # the reader reports the problem with the path
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(raw) == HEAD_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        first = lines[0].strip() if lines else ""
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return _jsonl_format(obj)
        if '"paragraphs"' in text or '"qas"' in text:
            return "SQuAD JSON", "a JSON document with paragraphs/qas"
        return None
    return _lines_format(lines)


def check_signature(path: str | Path, reader: str, task: str | None = None) -> None:
    """Refuse ``path`` where its format is a definite one that ``reader`` (a key of :data:`READS`) does not read."""
    expected = READS.get(reader)
    if not expected:
        return
    found = sniff(path)
    if found is None or found[0] in expected:
        return
    whose = f"{task} reads" if task else "expected"
    raise DataError(f"{path}: looks like {found[0]} ({found[1]}); {whose} {' or '.join(expected)}: give the file "
                    "of this task")


__all__ = ["READS", "check_signature", "sniff"]
