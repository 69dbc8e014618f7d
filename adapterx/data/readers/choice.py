"""Readers for multiple choice JSON lines -> :class:`ChoiceExample`: XCOPA / COPA, Social IQa."""

from __future__ import annotations

from pathlib import Path

from adapterx.data.examples import ChoiceExample
from adapterx.data.readers._io import PathArg, numbered_lines, read_jsonl
from adapterx.errors import DataError

COPA_QUESTIONS: tuple[str, str] = ("cause", "effect")


def read_copa(path: PathArg) -> list[ChoiceExample]:
    """XCOPA/COPA JSON lines ``{"premise", "choice1", "choice2", "question": "cause"|"effect", "label", "idx"}``
    (XCOPA adds ``changed``). ``label`` 0 means choice1; a missing label gives ``label=None``. ``question`` is kept
    as the word ``"cause"``/``"effect"``: the task featurizer turns it into a connector ("because"/"so")."""
    out: list[ChoiceExample] = []
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        missing = [k for k in ("premise", "choice1", "choice2", "question") if not isinstance(obj.get(k), str)]
        if missing:
            raise DataError(
                f"{where}: missing or non-string key(s) {', '.join(missing)}; "
                "COPA lines need premise, choice1, choice2, question."
            )
        question = obj["question"].strip().lower()
        if question not in COPA_QUESTIONS:
            raise DataError(f"{where}: question {obj['question']!r} must be 'cause' or 'effect'.")
        raw = obj.get("label")
        label: int | None
        if raw is None:
            label = None
        elif isinstance(raw, bool) or str(raw).strip() not in ("0", "1"):
            raise DataError(f"{where}: label {raw!r} must be 0 (choice1) or 1 (choice2).")
        else:
            label = int(str(raw).strip())
        out.append(
            ChoiceExample(
                id=str(len(out)),
                context=obj["premise"],
                question=question,
                choices=(obj["choice1"], obj["choice2"]),
                label=label,
            )
        )
    return out


SIQA_ANSWERS: tuple[str, str, str] = ("answerA", "answerB", "answerC")
_SIQA_LABELS = {"1": 1, "2": 2, "3": 3, "a": 1, "b": 2, "c": 3}


def siqa_labels_path(path: PathArg) -> Path:
    """The official labels file beside a Social IQa split: ``train.jsonl`` -> ``train-labels.lst``."""
    p = Path(path)
    stem = p.name[: -len(".jsonl")] if p.name.lower().endswith(".jsonl") else p.stem
    return p.with_name(f"{stem}-labels.lst")


def _siqa_label(raw: object, where: str, what: str) -> int:
    """A 1-based SIQA label (``1``/``"1"``..``3``, or the letter ``A``..``C``) as a 0-based option index."""
    if isinstance(raw, bool) or raw is None:
        text = ""
    elif isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    else:
        text = str(raw).strip()
    value = _SIQA_LABELS.get(text.lower())
    if value is None:
        raise DataError(f"{where}: {what} {raw!r} must be 1, 2 or 3 (or A, B, C): answerA, answerB, answerC, 1-based.")
    return value - 1


def _siqa_label_file(path: Path) -> list[tuple[int, str]]:
    """``(line number, label)`` per line of a ``*-labels.lst`` file; trailing blank lines are dropped, a blank line
    among the labels would shift every later label onto the wrong example, so it is an error."""
    lines = list(numbered_lines(path))
    while lines and not lines[-1][1].strip():
        lines.pop()
    for n, line in lines:
        if not line.strip():
            raise DataError(f"{path}:{n}: blank line among the labels; each line holds the label of one example, "
                            "in the order of the .jsonl file.")
    return [(n, line.strip()) for n, line in lines]


def read_siqa(path: PathArg, labels: PathArg | None = None) -> list[ChoiceExample]:
    """Social IQa JSON lines ``{"context", "question", "answerA", "answerB", "answerC"}`` -> :class:`ChoiceExample`.

    The official download (``socialiqa-train-dev.zip``) keeps the gold answers in a separate file, one 1-based label
    (``1``..``3``) per line, matched to the examples in order: ``train.jsonl`` + ``train-labels.lst``,
    ``dev.jsonl`` + ``dev-labels.lst``. ``labels`` names that file; by default the sibling ``<split>-labels.lst`` is
    read where it exists. Lines may also carry their own label: ``"label"`` (1-based, as in the Hugging Face copy)
    or ``"correct"`` (the letter ``"A"``..``"C"``, as in the v1.4 files); where both a labels file and inline labels
    exist they must agree. Without either, labels are ``None`` (unlabelled). Labels become 0-based option indices.
    """
    path = Path(path)
    rows = read_jsonl(path)
    examples: list[tuple[str, str, tuple[str, ...], int | None]] = []
    for n, obj in rows:
        where = f"{path}:{n}"
        missing = [k for k in ("context", "question", *SIQA_ANSWERS) if not isinstance(obj.get(k), str)]
        if missing:
            raise DataError(
                f"{where}: missing or non-string key(s) {', '.join(missing)}; "
                "Social IQa lines need context, question, answerA, answerB, answerC."
            )
        inline: int | None = None
        for key in ("label", "correct"):
            if obj.get(key) not in (None, ""):
                inline = _siqa_label(obj[key], where, key)
                break
        examples.append((obj["context"], obj["question"], tuple(obj[k] for k in SIQA_ANSWERS), inline))
    label_path = Path(labels) if labels is not None else siqa_labels_path(path)
    if labels is not None or label_path.is_file():
        gold = _siqa_label_file(label_path)
        if len(gold) != len(examples):
            if len(gold) < len(examples):
                n = rows[len(gold)][0]
                raise DataError(
                    f"{path}:{n}: no label for this example: {label_path} has {len(gold)} label(s) for "
                    f"{len(examples)} examples; use the labels file of the same split (re-download if cut short)."
                )
            n = gold[len(examples)][0]
            raise DataError(
                f"{label_path}:{n}: label without an example: {path} has {len(examples)} examples and "
                f"{label_path.name} {len(gold)} labels; use the labels file of the same split."
            )
        merged = []
        for (n, raw), (ctx, q, choices, inline), (line, _) in zip(gold, examples, rows, strict=True):
            value = _siqa_label(raw, f"{label_path}:{n}", "label")
            if inline is not None and inline != value:
                raise DataError(
                    f"{path}:{line}: the line's own label ({inline + 1}) disagrees with {label_path.name}:{n} "
                    f"({value + 1}); the two files are not of the same split or order."
                )
            merged.append((ctx, q, choices, value))
        examples = merged
    else:
        have = [i for i, ex in enumerate(examples) if ex[3] is not None]
        if have and len(have) != len(examples):
            first = next(i for i, ex in enumerate(examples) if ex[3] is None)
            raise DataError(
                f"{path}:{rows[first][0]}: no label (\"label\" or \"correct\") but other lines have one, and no "
                f"{label_path.name} beside the file; label every line or give the labels file."
            )
    return [ChoiceExample(str(i), ctx, q, choices, lab) for i, (ctx, q, choices, lab) in enumerate(examples)]
