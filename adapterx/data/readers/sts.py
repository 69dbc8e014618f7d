"""Readers for the STS family beyond STS-B: SICK (relatedness) and the SemEval STS 2012-2016 test sets.

Every reader returns :class:`~adapterx.data.examples.PairExample` with a float ``label`` on the STS scale 0-5
(``id`` = the 0-based position of the pair among the data lines of its file, so ids stay stable when pairs are
dropped or filtered). The header-less multilingual STS-B CSV is read by :mod:`adapterx.data.readers`.

SICK (Marelli et al. 2014): tab-separated, one header line. The SemEval-2014 task 1 files (``SICK_train.txt``,
``SICK_trial.txt``, ``SICK_test_annotated.txt``) have ``pair_ID sentence_A sentence_B relatedness_score
entailment_judgment``; the full ``SICK.txt`` has more columns (``entailment_label`` before ``relatedness_score``,
``SemEval_set`` last: TRAIN / TRIAL / TEST). Columns are therefore found by *name* in the header. Relatedness is
rated 1-5 (mean of 10 ratings), mapped linearly onto 0-5 by :func:`normalise_score` so that both ends meet STS's:
``5 * (s - 1) / (5 - 1)``, i.e. 1 -> 0, 3 -> 2.5, 4.5 -> 4.375, 5 -> 5. A linear map changes neither Pearson nor
Spearman correlation, only the scale a regression head is trained on.

SemEval STS 2012-2016: per sub-corpus a pair of files in one folder per year,

- ``STS.input.<name>.txt`` (2016: ``STS2016.input.<name>.txt``): one pair per line, tab-separated; 2012-2015 have
  the two sentences only, 2016 adds two "source notes" columns, which are ignored (the task forbade using them);
- ``STS.gs.<name>.txt`` (2016: ``STS2016.gs.<name>.txt``): one score 0-5 per line, aligned with the input; an
  *empty* line marks a pair left out of the official scoring, which is dropped here.

Other files in such folders (``STS.gs.ALL.txt`` without an input, ``*.ascii`` copies, ``correlation*.pl``, readmes)
are ignored. Input lines are split on tabs only (no CSV quoting: the sentences contain bare ``"``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from adapterx.data.examples import PairExample
from adapterx.data.readers import read_lines
from adapterx.data.readers.files import note_origin
from adapterx.errors import ConfigError, DataError

__all__ = [
    "SICK_SCALE",
    "STS_SCALE",
    "find_sts",
    "load_sts_folder",
    "normalise_score",
    "read_sick",
    "read_sts",
]

STS_SCALE = (0.0, 5.0)
SICK_SCALE = (1.0, 5.0)

# SemEval_set values of the full SICK.txt; "dev" is accepted for TRIAL (SemEval 2014's development set).
_SICK_SPLITS = {"train": "TRAIN", "trial": "TRIAL", "dev": "TRIAL", "test": "TEST"}


def normalise_score(score: float, lo: float, hi: float) -> float:
    """Map ``score`` from the scale ``[lo, hi]`` linearly onto STS's 0-5: ``5 * (score - lo) / (hi - lo)``.

    Raises :class:`ConfigError` for an empty scale (``hi <= lo``) and :class:`ValueError` for a score outside it (or
    NaN), which readers turn into a :class:`DataError` naming the line.
    """
    if not hi > lo:
        raise ConfigError(f"normalise_score: the scale [{lo}, {hi}] is empty; need lo < hi")
    if math.isnan(score) or not lo <= score <= hi:
        raise ValueError(f"score {score} is outside [{lo}, {hi}]")
    return 5.0 * (score - lo) / (hi - lo)


def _score(text: str, where: str, scale: tuple[float, float], name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {name} {text!r} is not a number; fix the line") from None
    lo, hi = scale
    if math.isnan(value) or not lo <= value <= hi:
        raise DataError(f"{where}: {name} {value} is outside {lo:g}-{hi:g}; is this the right file?")
    return value


# ---------------------------------------------------------------------------------------------------------------
# SICK
# ---------------------------------------------------------------------------------------------------------------


def read_sick(path: str | Path, split: str | None = None, *, normalise: bool = True) -> list[PairExample]:
    """Read a SICK file (any of the published layouts; columns found by header name).

    ``split`` (train / trial / dev = trial / test) keeps only the rows of that ``SemEval_set`` and needs that column
    (the full ``SICK.txt``); the SemEval 2014 files are already one split each. ``normalise`` maps relatedness 1-5 onto
    0-5 (see the module doc); False keeps the raw 1-5 score.
    """
    p = Path(path)
    lines = read_lines(p)
    if not lines:
        raise DataError(f"{p}: empty file; expected a SICK header line and pairs")
    header = [h.strip() for h in lines[0].split("\t")]
    col = {name: i for i, name in enumerate(header)}
    for needed in ("sentence_A", "sentence_B", "relatedness_score"):
        if needed not in col:
            raise DataError(
                f"{p}:1: the header has no {needed!r} column; expected SICK's header "
                "'pair_ID<TAB>sentence_A<TAB>sentence_B<TAB>relatedness_score<TAB>entailment_judgment'"
            )
    wanted: str | None = None
    if split is not None:
        if split.lower() not in _SICK_SPLITS:
            raise ConfigError(f"unknown SICK split {split!r}; use one of: train, trial (= dev), test")
        if "SemEval_set" not in col:
            raise DataError(
                f"{p}:1: no SemEval_set column to select split {split!r} from; this file is one split already "
                "(read it without split=)"
            )
        wanted = _SICK_SPLITS[split.lower()]
    a, b, r = col["sentence_A"], col["sentence_B"], col["relatedness_score"]
    s = col.get("SemEval_set")
    out: list[PairExample] = []
    for n, line in enumerate(lines[1:]):
        lineno = n + 2
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(
                f"{p}:{lineno}: {len(fields)} tab-separated fields, the header has {len(header)}; fix the line"
            )
        if wanted is not None and s is not None and fields[s].strip().upper() != wanted:
            continue
        score = _score(fields[r].strip(), f"{p}:{lineno}", SICK_SCALE, "relatedness_score")
        label = normalise_score(score, *SICK_SCALE) if normalise else score
        out.append(PairExample(id=str(n), text_a=fields[a], text_b=fields[b], label=label))
        note_origin(f"{p}:{lineno}")
    if not out:
        what = f" of split {split!r}" if split is not None else ""
        raise DataError(f"{p}: no pairs{what}; check the file and the split")
    return out


# ---------------------------------------------------------------------------------------------------------------
# SemEval STS 2012-2016
# ---------------------------------------------------------------------------------------------------------------

_STS_INPUT = re.compile(r"^(?P<prefix>STS(?:\d{4})?)\.input\.(?P<name>.+)\.txt$")


def read_sts(input_path: str | Path, gs_path: str | Path) -> list[PairExample]:
    """Read one SemEval STS sub-corpus: the input pairs and their gold scores (0-5); unscored pairs are dropped.

    The two files must have the same number of lines. Inputs need at least two tab-separated fields; extra fields
    (2016's source notes) are ignored. ``id`` is the 0-based line of the pair, so dropped pairs leave gaps.
    """
    ip, gp = Path(input_path), Path(gs_path)
    inputs, golds = read_lines(ip), read_lines(gp)
    if len(inputs) != len(golds):
        raise DataError(
            f"{ip} has {len(inputs)} lines but {gp} has {len(golds)}; the gold file must have one line (a score, or "
            "empty for an unscored pair) per input pair: use the files of the same release"
        )
    out: list[PairExample] = []
    for n, (line, gs) in enumerate(zip(inputs, golds, strict=True)):
        gs = gs.strip()
        if not gs:
            continue  # not in the official scoring
        score = _score(gs, f"{gp}:{n + 1}", STS_SCALE, "gold score")
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{ip}:{n + 1}: expected 'sentence1<TAB>sentence2', found no tab; fix the line")
        out.append(PairExample(id=str(n), text_a=fields[0], text_b=fields[1], label=score))
        note_origin(f"{ip}:{n + 1}")
    if not out:
        raise DataError(f"{gp}: no scored pair (every gold line is empty); use the gold file with scores")
    return out


def find_sts(folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """The SemEval STS sub-corpora in ``folder``: ``{name: (input_path, gs_path)}``, sorted by name.

    ``name`` is the part between ``.input.`` and ``.txt`` (``MSRpar``, ``surprise.OnWN``, ``answer-answer`` ...).
    An input file without its gold file raises :class:`DataError`.
    """
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"{d}: no such folder; pass the folder of one STS year (STS.input.*.txt, STS.gs.*.txt)")
    found: dict[str, tuple[Path, Path]] = {}
    for path in sorted(p for p in d.iterdir() if p.is_file()):
        m = _STS_INPUT.match(path.name)
        if not m:
            continue
        name = m["name"]
        gs = d / f"{m['prefix']}.gs.{name}.txt"
        if not gs.is_file():
            raise DataError(f"{path}: its gold file {gs.name} is missing in {d}; copy it from the same release")
        if name in found:
            raise DataError(f"{found[name][0]} and {path} both hold STS sub-corpus {name!r}; keep one of them")
        found[name] = (path, gs)
    if not found:
        raise DataError(f"{d}: no STS.input.<name>.txt files; pass the folder of one STS year")
    return dict(sorted(found.items()))


def load_sts_folder(folder: str | Path) -> dict[str, list[PairExample]]:
    """Every sub-corpus of one STS year's folder, read with :func:`read_sts`: ``{name: examples}``."""
    return {name: read_sts(inp, gs) for name, (inp, gs) in find_sts(folder).items()}
