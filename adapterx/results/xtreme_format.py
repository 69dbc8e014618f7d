"""XTREME(-R)'s submission layout: one prediction (or gold) file per task and language, as the benchmark's own scoring
script reads it (``evaluate.py`` of google-research/xtreme, ``--prediction_folder`` / ``--label_folder``).

``<folder>/<task folder>/test-<lang>.<ext>``, the task folders and formats being:

| adapterx task | folder | file | one line / entry per example |
|---|---|---|---|
| xnli, pawsx | ``xnli``, ``pawsx`` | ``.tsv`` | the label (``entailment`` / ``neutral`` / ``contradiction``; ``0`` / ``1``) |
| xcopa | ``xcopa`` | ``.jsonl`` | ``{"label": <option index>}`` (read with ``json.loads(row)['label']``) |
| udpos, panx | ``udpos``, ``panx`` | ``.tsv`` | one tag per line, a blank line between sentences |
| xquad, mlqa, tydiqa | ``xquad``, ``mlqa``, ``tydiqa`` | ``.json`` | ``{question id: answer text}`` |
| tatoeba | ``tatoeba`` | ``.tsv`` | the 0-based index of the retrieved sentence |
| bucc | ``bucc2018`` | ``.tsv`` | ``src_id<TAB>en_id`` per mined pair |

Label files of the same layout hold the gold in the same shapes (QA: SQuAD JSON). Lines are in the order of the
official test file. The script strips every line; tagging files are split into sentences at blank lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx.data.readers import read_lines
from adapterx.errors import ConfigError, DataError
from adapterx.fsio import atomic_write_text
from adapterx.registry import suggest
from adapterx.tasks import get_task, xtreme_tasks
from adapterx.tasks.base import XtremeShape

MANIFEST = "manifest.json"
"""Written beside adapterx's predictions (``<task>/manifest.json``): split, and per language the examples predicted
(``n``), in the file (``n_total``), whether they had gold (``labelled``) and where they came from (``source``)."""

Shape = XtremeShape


@dataclass(frozen=True)
class XtremeTask:
    """How one adapterx task appears in the layout."""

    task: str  # the adapterx task name
    folder: str  # the task's folder name in the layout
    ext: str  # file extension without the dot
    shape: Shape

    def file_name(self, lang: str) -> str:
        return f"test-{lang}.{self.ext}"


XTREME_TASKS: dict[str, XtremeTask] = {
    t.name: XtremeTask(t.name, t.xtreme.folder, t.xtreme.ext, t.xtreme.shape) for t in xtreme_tasks() if t.xtreme
}
"""adapterx task name -> its place in the layout, from each task record's ``xtreme`` (lareqa and mewslix: adapterx does
not run them)."""

_BY_FOLDER = {t.folder: t for t in XTREME_TASKS.values()}

OFFICIAL_LANGUAGES: dict[str, tuple[str, ...]] = {t.name: t.xtreme.official_languages for t in xtreme_tasks() if t.xtreme}
"""Languages the official script needs for each task (its ``TASK2LANGS``: XTREME-R's, PAWS-X and BUCC from XTREME),
from each task record's ``xtreme``."""


def xtreme_task(name: str) -> XtremeTask:
    """The layout entry of an adapterx task name or a layout folder name (``bucc2018``)."""
    key = name.strip().lower()
    if key in XTREME_TASKS:
        return XTREME_TASKS[key]
    if key in _BY_FOLDER:
        return _BY_FOLDER[key]
    raise ConfigError(suggest(name, tuple(XTREME_TASKS) + ("bucc2018",), "XTREME task"))


def submission_split(task: str) -> str:
    """The split a submission's ``test-<lang>`` file holds: ``test``, except TyDiQA-GoldP's (its dev set: GoldP has
    no public test set, XTREME scores dev)."""
    return "dev" if xtreme_task(task).task == "tydiqa" else "test"


# XNLI-MT / MultiNLI spell the third NLI class "contradictory"; the readers accept it, so scoring does too.
_LABEL_ALIASES = {"contradictory": "contradiction"}


@dataclass(frozen=True)
class LabelSet:
    """The values one task's predictions and gold may hold, and the one canonical form each is compared in.

    Every spelling the task's readers accept is read (XNLI: ``entailment``/``neutral``/``contradiction`` or the
    0/1/2 of its JSON lines files; XCOPA: option indices as integers or strings); anything else is a
    :class:`DataError` naming ``file:line``, never a silent mismatch scored as wrong.
    """

    task: str
    shape: Shape
    labels: tuple[str, ...] = ()  # label / tags shapes: the task's label names
    n_options: int = 0  # choice shape: options per example

    @classmethod
    def of(cls, task: str) -> LabelSet:
        t = xtreme_task(task)
        spec = get_task(t.task)
        return cls(t.task, t.shape, tuple(spec.labels), int(spec.num_choices) if t.shape == "choice" else 0)

    def canonical(self, value: Any, where: str) -> Any:
        """``value`` in its canonical form (label name, tag, option or sentence index); ``where`` (``file:line``)
        names it in the error."""
        if self.shape in ("qa", "pairs"):
            return value
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise DataError(f"{where}: {value!r} is not a {self.task} {self._what()}; {self._expected()}")
        text = str(int(value) if isinstance(value, float) else value).strip()
        if self.shape in ("choice", "index"):
            try:
                n = int(text)
            except ValueError:
                raise DataError(f"{where}: {value!r} is not a {self.task} {self._what()}; {self._expected()}") from None
            if n < 0 or (self.n_options and n >= self.n_options):
                raise DataError(f"{where}: {n} is outside the {self.task} {self._what()}s; {self._expected()}")
            return n
        if self.shape == "tags":
            if self.labels and text not in self.labels:
                raise DataError(f"{where}: {text!r} is not a {self.task} tag; {self._expected()}")
            return text
        if text in self.labels:  # label
            return text
        key = _LABEL_ALIASES.get(text.lower(), text.lower())
        by_name = {name.lower(): name for name in self.labels}
        if key in by_name:
            return by_name[key]
        if text.isdigit() and int(text) < len(self.labels):  # the integer order of the task's data files
            return self.labels[int(text)]
        raise DataError(f"{where}: {value!r} is not a {self.task} label; {self._expected()}")

    def _what(self) -> str:
        return {"choice": "option index", "index": "sentence index"}.get(self.shape, "label")

    def _expected(self) -> str:
        if self.shape == "choice":
            return f"expected 0..{self.n_options - 1}"
        if self.shape == "index":
            return "expected a 0-based sentence index"
        shown = ", ".join(self.labels[:8]) + (", ..." if len(self.labels) > 8 else "")
        numbered = "" if all(x.isdigit() for x in self.labels) or self.shape == "tags" else \
            f" (or 0..{len(self.labels) - 1} in that order)"
        return f"expected one of {shown}{numbered}"


def file_path(folder: str | os.PathLike[str], task: str, lang: str) -> Path:
    """``folder/<task folder>/test-<lang>.<ext>``."""
    t = xtreme_task(task)
    return Path(folder) / t.folder / t.file_name(lang)


# ---------------------------------------------------------------------------------------------------------------
# writing


def _lines(t: XtremeTask, predictions: Any) -> str:
    if t.shape == "qa":
        if not isinstance(predictions, Mapping):
            raise TypeError("QA predictions are a mapping question id -> answer text")
        return json.dumps({str(k): str(v) for k, v in predictions.items()}, ensure_ascii=False, indent=1) + "\n"
    out: list[str] = []
    for p in predictions:
        if t.shape == "label":
            out.append(f"{_one_line(p)}\n")
        elif t.shape == "choice":
            out.append(json.dumps({"label": int(p)}) + "\n")
        elif t.shape == "index":
            out.append(f"{int(p)}\n")
        elif t.shape == "pairs":
            s, e = p[0], p[1]
            out.append(f"{_one_line(s)}\t{_one_line(e)}\n")
        else:  # tags: one per line, a blank line after each sentence
            out.extend(f"{_one_line(tag)}\n" for tag in p)
            out.append("\n")
    return "".join(out)


def _one_line(value: Any) -> str:
    text = str(value)
    if not text.strip() or "\n" in text or "\t" in text:
        raise DataError(f"prediction {text!r} cannot be one field of a line (empty, or holds a tab or line break)")
    return text


def write_file(path: Path, task: str, predictions: Any) -> Path:
    """Write one language's predictions (a list in file order; QA: a mapping id -> text; BUCC: (src, en) pairs)
    to ``path``, renamed into place when complete."""
    t = xtreme_task(task)
    atomic_write_text(path, _lines(t, predictions))
    return path


# ---------------------------------------------------------------------------------------------------------------
# reading


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte offset {exc.start}); write the file as UTF-8") from None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_file(path: str | os.PathLike[str], task: str) -> Any:
    """Read one file of the layout (predictions or gold) as the official script does:

    - label / index: stripped lines (a list); index: integers;
    - choice: ``json.loads(line)['label']`` per line;
    - tags: sentences (lists of stripped tags) split at blank lines;
    - qa: a prediction dict ``{id: text}``, or a SQuAD-format file's question list (gold) as ``{id: [answers]}``;
    - pairs: ``(src_id, en_id)`` tuples.
    Problems raise :class:`DataError` naming ``path:line``.
    """
    t = xtreme_task(task)
    labels = LabelSet.of(t.task)
    p = Path(path)
    text = _read(p)
    if t.shape == "qa":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if isinstance(obj, dict) and "data" in obj or isinstance(obj, list):
            return _squad_answers(p, obj)
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise DataError(f"{p}: expected a JSON object {{question id: answer text}} (or SQuAD JSON for gold)")
        return {str(k): v for k, v in obj.items()}
    lines = _split_lines(text)
    if t.shape == "tags":
        sentences: list[list[str]] = []
        cur: list[str] = []
        for n, line in enumerate(lines, start=1):
            s = line.strip()
            if s:
                if "\t" in s or " " in s:
                    raise DataError(f"{p}:{n}: expected one tag per line, found {s!r} (a token<TAB>tag data file?)")
                cur.append(labels.canonical(s, f"{p}:{n}"))
            else:
                sentences.append(cur)
                cur = []
        if cur:
            sentences.append(cur)
        return sentences
    out: list[Any] = []
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        if t.shape == "label":
            if "\t" in s:
                raise DataError(f"{p}:{n}: expected one label per line, found tab-separated fields (a data file?)")
            out.append(labels.canonical(s, f"{p}:{n}"))
        elif t.shape == "index":
            out.append(labels.canonical(s, f"{p}:{n}"))
        elif t.shape == "choice":
            try:
                obj = json.loads(line)
                value = obj["label"]
            except (json.JSONDecodeError, TypeError, KeyError):
                raise DataError(f"{p}:{n}: expected a JSON object with a 'label' key") from None
            out.append(labels.canonical(value, f"{p}:{n}"))
        else:  # pairs
            if not s:
                continue
            fields = s.split("\t")
            if len(fields) != 2:
                raise DataError(f"{p}:{n}: expected 'src_id<TAB>en_id', found {len(fields)} field(s)")
            out.append((fields[0], fields[1]))
    return out


def _squad_answers(path: Path, obj: Any) -> dict[str, list[str]]:
    data = obj["data"] if isinstance(obj, dict) else obj
    out: dict[str, list[str]] = {}
    try:
        for article in data:
            for par in article["paragraphs"]:
                for qa in par["qas"]:
                    out[str(qa["id"])] = [a["text"] for a in qa.get("answers", []) if a.get("text", "") != ""]
    except (KeyError, TypeError):
        raise DataError(f"{path}: not SQuAD v1.1 JSON (data / paragraphs / qas / answers)") from None
    return out


def languages_in(folder: str | os.PathLike[str], task: str) -> list[str]:
    """Languages with a ``test-<lang>.<ext>`` file in ``folder/<task folder>/``, sorted."""
    t = xtreme_task(task)
    d = Path(folder) / t.folder
    if not d.is_dir():
        return []
    suffix = "." + t.ext
    return sorted(p.name[len("test-") : -len(suffix)] for p in d.iterdir()
                  if p.is_file() and p.name.startswith("test-") and p.name.endswith(suffix))


def tasks_in(folder: str | os.PathLike[str]) -> list[str]:
    """adapterx names of the tasks whose folders ``folder`` holds."""
    root = Path(folder)
    return [t.task for t in XTREME_TASKS.values() if (root / t.folder).is_dir()]


def is_gold_file(path: Path, task: str, labels: Sequence[str] = ()) -> bool:
    """Whether ``path`` holds gold in the layout's shape, not an XTREME data file of the same name (``panx/test-de.tsv``
    with ``token<TAB>tag`` or bare token lines, ``xnli/test-de.tsv`` with sentence pairs). ``labels``: the task's label
    set, which a gold label or tag file's first entry must belong to."""
    t = xtreme_task(task)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    first = next((line.strip() for line in head.split("\n") if line.strip()), "")
    if t.shape == "qa":
        return True  # SQuAD JSON either way: read_file tells gold answers from predictions
    if t.shape == "choice":
        try:
            return set(json.loads(first)) == {"label"}
        except (json.JSONDecodeError, TypeError):
            return False
    if t.shape == "pairs":
        return first.count("\t") == 1
    if t.shape == "index":
        return first.isdigit()
    if "\t" in first:
        return False
    try:
        LabelSet.of(t.task).canonical(first, str(path))
    except DataError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# adapterx JSONL predictions -> the layout's shapes (shared with the export)


LINE_KEY = "__line__"
"""Added by :func:`read_prediction_lines` to each record: its line in the file, for errors naming ``file:line``."""


def read_prediction_lines(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``{"id", "prediction"}`` objects of an adapterx predictions file (each with its line number under
    :data:`LINE_KEY`), naming ``path:line`` on errors."""
    out: list[dict[str, Any]] = []
    for n, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: invalid JSON ({exc.msg}); expected one {{\"id\", \"prediction\"}} per line") from None
        if not isinstance(obj, dict) or "id" not in obj or "prediction" not in obj:
            raise DataError(f"{path}:{n}: expected an object with 'id' and 'prediction'")
        out.append({**obj, LINE_KEY: n})
    return out


def to_official(task: str, records: Sequence[Mapping[str, Any]], where: str, n_total: int | None = None) -> Any:
    """The predictions of one language in the layout's shape, ordered by example id (the position in the official
    file). Raises :class:`DataError` naming ``where`` and the count when examples have no prediction (or two)."""
    t = xtreme_task(task)
    if t.shape == "pairs":
        return [(str(r["id"]), str(r["prediction"])) for r in records]
    labels = LabelSet.of(t.task)

    def at(r: Mapping[str, Any]) -> str:
        return f"{where}:{r[LINE_KEY]}" if LINE_KEY in r else f"{where} (id {r.get('id')!r})"

    if t.shape == "qa":
        preds: dict[str, str] = {}
        dup = 0
        for r in records:
            dup += str(r["id"]) in preds
            preds[str(r["id"])] = str(r["prediction"])
        if dup:
            raise DataError(f"{where}: {dup} question id(s) predicted twice")
        if n_total is not None and len(preds) != n_total:
            raise DataError(f"{where}: {len(preds)} of {n_total} questions predicted; a submission needs every one")
        return preds
    by_pos: dict[int, Any] = {}
    bad = dup = 0
    for r in records:
        try:
            pos = int(str(r["id"]))
        except ValueError:
            bad += 1
            continue
        dup += pos in by_pos
        if t.shape == "tags":
            if not isinstance(r["prediction"], list):
                raise DataError(f"{at(r)}: expected a list of tags")
            by_pos[pos] = [labels.canonical(tag, at(r)) for tag in r["prediction"]]
        else:
            by_pos[pos] = labels.canonical(r["prediction"], at(r))
    if bad:
        raise DataError(f"{where}: {bad} id(s) are not example positions (0, 1, 2, ...)")
    if dup:
        raise DataError(f"{where}: {dup} example(s) predicted twice")
    n = n_total if n_total is not None else (max(by_pos) + 1 if by_pos else 0)
    missing = [i for i in range(n) if i not in by_pos]
    extra = [i for i in by_pos if i >= n]
    if missing or extra:
        first = f" (first missing: example {missing[0]})" if missing else ""
        raise DataError(f"{where}: {n - len(missing)} of {n} examples predicted{first}"
                        + (f", {len(extra)} id(s) beyond the file" if extra else "")
                        + "; a submission needs one prediction per example of the official file")
    return [by_pos[i] for i in range(n)]


def read_manifest(task_folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``<task folder>/manifest.json`` written beside adapterx predictions ({} where there is none)."""
    path = Path(task_folder) / MANIFEST
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from None
    return obj if isinstance(obj, dict) else {}


class Problems:
    """Problems found in the inputs, one line each, raised together."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def raise_if_any(self, what: str) -> None:
        if self.lines:
            head = f"{len(self.lines)} problem(s) in {what}:" if len(self.lines) > 1 else ""
            raise DataError("\n".join([head, *self.lines]) if head else self.lines[0])


__all__ = [
    "LINE_KEY",
    "MANIFEST",
    "OFFICIAL_LANGUAGES",
    "LabelSet",
    "XTREME_TASKS",
    "Problems",
    "XtremeTask",
    "file_path",
    "is_gold_file",
    "languages_in",
    "read_file",
    "read_manifest",
    "read_prediction_lines",
    "submission_split",
    "tasks_in",
    "to_official",
    "write_file",
    "xtreme_task",
]
