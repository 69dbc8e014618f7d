"""Readers for multiple choice files -> :class:`ChoiceExample`: XCOPA / COPA, Social IQa, HellaSwag, Cosmos QA,
CommonsenseQA.

HellaSwag, Cosmos QA and CommonsenseQA give the examples that the task's Hugging Face row converter
(:mod:`adapterx.tasks.hf_rows`) gives for the same record, so a run on the official files and one on the Hugging
Face copy train the same task; their ids are the files' own (HellaSwag ``ind``, Cosmos QA / CommonsenseQA ``id``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from adapterx.data.examples import ChoiceExample
from adapterx.data.readers.files import PathArg, csv_rows, looks_like_jsonl, note_origin, numbered_lines, read_jsonl
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
        note_origin(where)
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
    for n, _ in rows:
        note_origin(f"{path}:{n}")
    return [ChoiceExample(str(i), ctx, q, choices, lab) for i, (ctx, q, choices, lab) in enumerate(examples)]


# ---------------------------------------------------------------------------------------------------------------
# HellaSwag, Cosmos QA, CommonsenseQA: shared checks


def _option_index(raw: object, n: int, where: str, what: str = "label") -> int | None:
    """A 0-based option index (an integer or its digits, as the Hugging Face copies store it); ``None``/``""`` and
    ``-1`` (the Hugging Face "no gold label" of test rows) mean unlabelled."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        value = int(raw.strip())
    if value == -1:
        return None
    if value is None or not 0 <= value < n:
        raise DataError(f"{where}: {what} {raw!r} must be an option index 0..{n - 1} ({n} options, 0-based).")
    return value


def _all_or_none_labelled(path: PathArg, lines: list[int], labels: list[int | None], what: str) -> None:
    """A file is labelled (train/dev) or not (test); some lines without a label are a broken file."""
    have = [lab is not None for lab in labels]
    if any(have) and not all(have):
        first = lines[have.index(False)]
        raise DataError(
            f"{path}:{first}: no {what} but other lines have one; label every example (or none, for a test file)."
        )


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _file_id(obj: dict[str, Any], key: str, position: int) -> str:
    value = obj.get(key)
    return str(value) if value not in (None, "") and not isinstance(value, (dict, list)) else str(position)


# ---------------------------------------------------------------------------------------------------------------
# HellaSwag


def read_hellaswag(path: PathArg, num_choices: int = 4) -> list[ChoiceExample]:
    """HellaSwag JSON lines (rowanz/hellaswag ``data/hellaswag_{train,val,test}.jsonl``) -> :class:`ChoiceExample`.

    Each line: ``{"ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings": [4 strings], "label": 0..3, "split",
    "source_id", ...}``; the test file has no ``label`` (``label=None``). As :func:`adapterx.tasks.hf_rows.hellaswag_row`
    does with the Hugging Face copy: context ``ctx`` (``ctx_a + " " + ctx_b``, rebuilt that way where a line has no
    ``ctx``), no question, the endings as the options, ``label`` as the option index (digits as in the Hugging Face
    copy are accepted too). Ids are ``ind``.
    """
    out: list[ChoiceExample] = []
    lines: list[int] = []
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        ctx = obj.get("ctx")
        if not isinstance(ctx, str):
            a, b = obj.get("ctx_a"), obj.get("ctx_b")
            if not (isinstance(a, str) and isinstance(b, str)):
                raise DataError(
                    f"{where}: missing or non-string key ctx (or ctx_a and ctx_b); HellaSwag lines need ctx, "
                    "endings and (train/val) label."
                )
            ctx = f"{a} {b}" if b else a
        endings = _string_list(obj.get("endings"))
        if endings is None:
            raise DataError(f"{where}: missing key endings or not a list of strings; HellaSwag lines need "
                            f"\"endings\": [{num_choices} strings].")
        if len(endings) != num_choices:
            raise DataError(f"{where}: {len(endings)} endings, the task has {num_choices} options per example.")
        label = _option_index(obj.get("label"), num_choices, where)
        out.append(ChoiceExample(_file_id(obj, "ind", len(out)), ctx, "", tuple(endings), label))
        note_origin(where)
        lines.append(n)
    _all_or_none_labelled(path, lines, [e.label for e in out], "label")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Cosmos QA

_ANSWER_KEY = re.compile(r"answer(\d+)")


def _check_answer_keys(keys: object, num_choices: int, where: str) -> None:
    """No ``answerN`` key (or CSV column) beyond ``answer{num_choices - 1}``: a file of another option count."""
    present = sorted(int(m[1]) for k in keys if isinstance(k, str) and (m := _ANSWER_KEY.fullmatch(k)))
    extra = [f"answer{k}" for k in present if k >= num_choices]
    if extra:
        raise DataError(
            f"{where}: {len(present)} options (answer0..answer{present[-1]}), the task has {num_choices} "
            f"(answer0..answer{num_choices - 1})."
        )


def _cosmosqa_jsonl(path: PathArg, num_choices: int) -> list[tuple[int, dict[str, Any]]]:
    rows = read_jsonl(path)
    for n, obj in rows:
        _check_answer_keys(obj, num_choices, f"{path}:{n}")
    return rows


def _cosmosqa_csv(path: PathArg, num_choices: int) -> list[tuple[int, dict[str, Any]]]:
    rows = csv_rows(path)
    if not rows:
        raise DataError(f"{path}: no CSV records found; the file holds only blank lines.")
    head_line, header = rows[0]
    names = [h.strip().lower() for h in header]
    required = ("context", "question", *(f"answer{k}" for k in range(num_choices)))
    missing = [k for k in required if k not in names]
    if missing:
        raise DataError(
            f"{path}:{head_line}: the first row is not a Cosmos QA header (missing column(s) {', '.join(missing)}); "
            f"expected id,context,question,answer0..answer{num_choices - 1},label (label absent in test files)."
        )
    _check_answer_keys(names, num_choices, f"{path}:{head_line}")
    out = []
    for n, fields in rows[1:]:
        if len(fields) != len(names):
            raise DataError(
                f"{path}:{n}: {len(fields)} fields, the header has {len(names)}; quote fields that hold commas or "
                "line breaks."
            )
        out.append((n, dict(zip(names, fields))))
    if not out:
        raise DataError(f"{path}: a header and no examples.")
    return out


def read_cosmosqa(path: PathArg, num_choices: int = 4) -> list[ChoiceExample]:
    """Cosmos QA (wilburOne/cosmosqa ``data/{train,valid}.csv``, ``.jsonl``, ``test.jsonl``) -> :class:`ChoiceExample`.

    CSV with a header row ``id,context,question,answer0,answer1,answer2,answer3,label`` (columns by name; quoted
    fields may hold commas, quotes and line breaks) or JSON lines with the same keys; the format is sniffed from the
    content. ``label`` is the 0-based index of the right answer; test files have none (``label=None``). As
    :func:`adapterx.tasks.hf_rows.cosmosqa_row` does: context, question, answer0..answer3 as the options. Ids are
    ``id`` (the position where a record has none).
    """
    rows = _cosmosqa_jsonl(path, num_choices) if looks_like_jsonl(path) else _cosmosqa_csv(path, num_choices)
    out: list[ChoiceExample] = []
    for n, obj in rows:
        where = f"{path}:{n}"
        keys = ("context", "question", *(f"answer{k}" for k in range(num_choices)))
        missing = [k for k in keys if not isinstance(obj.get(k), str)]
        if missing:
            raise DataError(
                f"{where}: missing or non-string key(s) {', '.join(missing)}; Cosmos QA records need context, "
                f"question, answer0..answer{num_choices - 1} and (train/valid) label."
            )
        label = _option_index(obj.get("label"), num_choices, where)
        choices = tuple(obj[f"answer{k}"] for k in range(num_choices))
        out.append(ChoiceExample(_file_id(obj, "id", len(out)), obj["context"], obj["question"], choices, label))
        note_origin(where)
    _all_or_none_labelled(path, [n for n, _ in rows], [e.label for e in out], "label")
    return out


# ---------------------------------------------------------------------------------------------------------------
# CommonsenseQA


def read_commonsenseqa(path: PathArg, num_choices: int = 5) -> list[ChoiceExample]:
    """CommonsenseQA JSON lines (``train_rand_split.jsonl``, ``dev_rand_split.jsonl``,
    ``test_rand_split_no_answers.jsonl``) -> :class:`ChoiceExample`.

    Each line: ``{"answerKey": "A", "id", "question": {"question_concept", "choices": [{"label": "A", "text"}, ...
    5], "stem"}}``; the test file has no ``answerKey`` (``label=None``). The label is the position of ``answerKey``
    among the choices' labels (in the file's order, whatever the letters), an error where it is not one of them. As
    :func:`adapterx.tasks.hf_rows.commonsenseqa_row` does: no context, the stem as the question, the choices' texts
    as the options. Lines of the Hugging Face copy (``"question": stem``, ``"choices": {"label": [...], "text":
    [...]}``) are read too. Ids are ``id``.
    """
    out: list[ChoiceExample] = []
    lines: list[int] = []
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        q = obj.get("question")
        if isinstance(q, dict):  # the official files
            stem, raw = q.get("stem"), q.get("choices")
            if not isinstance(stem, str):
                raise DataError(f"{where}: missing or non-string key question.stem; CommonsenseQA lines need "
                                "question.stem, question.choices and (train/dev) answerKey.")
            ok = isinstance(raw, list) and all(
                isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("text"), str) for c in raw
            )
            if not ok:
                raise DataError(f"{where}: question.choices must be a list of {{\"label\": ..., \"text\": ...}} "
                                "objects with string values.")
            labels, texts = [c["label"] for c in raw], [c["text"] for c in raw]
        elif isinstance(q, str) and isinstance(obj.get("choices"), dict):  # the Hugging Face copy's layout
            stem = q
            labels, texts = _string_list(obj["choices"].get("label")), _string_list(obj["choices"].get("text"))
            if labels is None or texts is None or len(labels) != len(texts):
                raise DataError(f"{where}: choices must hold \"label\" and \"text\", lists of strings of one length.")
        else:
            raise DataError(f"{where}: missing key question (an object with stem and choices); CommonsenseQA lines "
                            "need question.stem, question.choices and (train/dev) answerKey.")
        if len(texts) != num_choices:
            raise DataError(f"{where}: {len(texts)} choices, the task has {num_choices} options per example.")
        if len(set(labels)) != len(labels):
            raise DataError(f"{where}: the choices' labels {', '.join(labels)} repeat; each choice needs its own.")
        key = obj.get("answerKey")
        label: int | None
        if key is None or key == "":
            label = None
        elif not isinstance(key, str) or key not in labels:
            raise DataError(f"{where}: answerKey {key!r} is not one of the choices' labels ({', '.join(labels)}).")
        else:
            label = labels.index(key)
        out.append(ChoiceExample(_file_id(obj, "id", len(out)), "", stem, tuple(texts), label))
        note_origin(where)
        lines.append(n)
    _all_or_none_labelled(path, lines, [e.label for e in out], "answerKey")
    return out
