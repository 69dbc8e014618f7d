"""Readers for the sentence-retrieval data sets: Tatoeba (LASER v1 test set) and BUCC 2018.

Both return :class:`~adapterx.data.examples.ParallelCorpus` with the *non-English* side as ``source`` and English as
``target``, as XTREME names them (``--src_language xx --tgt_language en``).

Tatoeba comes in two layouts, and :func:`find_tatoeba` accepts both, for any language pair it finds:

- LASER (``data/tatoeba/v1`` of facebookresearch/LASER): ``tatoeba.<xxx>-eng.<xxx>`` and ``tatoeba.<xxx>-eng.eng``,
  ``<xxx>`` an ISO 639-3 code (``pes`` for Persian, ``cmn`` for Mandarin, ``swh`` for Swahili ...);
- XTREME (``utils_preprocess.py --task tatoeba`` only renames the LASER files): ``<l>-en.<l>`` and ``<l>-en.en``,
  ``<l>`` an ISO 639-1 code.

Line ``i`` of one file is the translation of line ``i`` of the other (gold is the identity), so a pair whose files
differ in length is rejected: one line lost or added shifts every later pair.

BUCC 2018 (XTREME's renamed copies, ``download/bucc2018/``): ``<src>-en.<split>.<src>`` and ``<src>-en.<split>.en``
hold ``id<TAB>sentence`` lines, ``<src>-en.<split>.gold`` holds ``src_id<TAB>en_id`` lines. XTREME calls BUCC's
``sample`` set ``dev`` and its ``training`` set ``test``; the real test gold was never released, so a split may have
no ``.gold`` file.

Files are read with :func:`adapterx.data.readers.read_lines`: UTF-8 (a leading byte-order mark dropped), split on
``\\n`` only, one trailing ``\\r`` removed. ``str.splitlines`` would also split on U+2028, U+0085 and form feeds,
which may occur *inside* a sentence and would silently break the line alignment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from adapterx.data.examples import ParallelCorpus
from adapterx.data.readers import read_lines
from adapterx.errors import ConfigError, DataError
from adapterx.languages import get_language

__all__ = [
    "BuccFiles",
    "find_bucc",
    "find_tatoeba",
    "iso639_1",
    "load_bucc",
    "load_tatoeba",
    "read_bucc",
    "read_tatoeba",
]


def iso639_1(code: str) -> str:
    """The ISO 639-1 code of ``code`` (639-1, 639-3 or a LASER macrolanguage member such as ``pes``, ``cmn``, ``swh``)
    as :func:`adapterx.languages.get_language` knows it; a code it does not know is returned as it is (lower-cased),
    so that data for any language pair can be read."""
    try:
        return get_language(code).code
    except ConfigError:
        return code.lower()


# ---------------------------------------------------------------------------------------------------------------
# Tatoeba
# ---------------------------------------------------------------------------------------------------------------

_LASER_SRC = re.compile(r"^tatoeba\.(?P<lang>[a-z]{2,3})-eng\.(?P=lang)$")
_XTREME_SRC = re.compile(r"^(?P<lang>[a-z]{2,3})-en\.(?P=lang)$")


def _tatoeba_in(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Pairs directly in ``folder``; raises when a source file lacks its English side or two files claim a code."""
    found: dict[str, tuple[Path, Path]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        laser = _LASER_SRC.match(path.name)
        xtreme = _XTREME_SRC.match(path.name)
        if laser:
            raw, eng = laser["lang"], folder / f"tatoeba.{laser['lang']}-eng.eng"
        elif xtreme:
            raw, eng = xtreme["lang"], folder / f"{xtreme['lang']}-en.en"
        else:
            continue
        if raw in ("eng", "en"):
            continue  # an English-English file is not a retrieval pair
        if not eng.is_file():
            raise DataError(f"{path}: its English side {eng.name} is missing in {folder}; copy both files of the pair")
        code = iso639_1(raw)
        if code in found:
            raise DataError(
                f"{found[code][0]} and {path} are both Tatoeba language {code!r}; keep one layout per folder"
            )
        found[code] = (path, eng)
    return found


def find_tatoeba(data_dir: str | Path) -> dict[str, tuple[Path, Path]]:
    """Every Tatoeba pair directly in ``data_dir``: ``{iso639_1: (non_english_path, english_path)}``, sorted by code.

    Both layouts are recognised (``tatoeba.<xxx>-eng.<xxx>`` + ``.eng``, and ``<l>-en.<l>`` + ``<l>-en.en``), for any
    language code, known or not; ISO 639-3 names are mapped to 639-1 where a 639-1 code exists (``pes`` -> ``fa``),
    others are kept as they are. Raises :class:`DataError` when the folder holds no pair (naming sub-folders that do).
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; pass the folder that holds the Tatoeba files")
    found = _tatoeba_in(folder)
    if not found:
        nested = [p for p in sorted(folder.iterdir()) if p.is_dir() and _safe_has_tatoeba(p)]
        hint = f"; found some in {', '.join(str(p) for p in nested)}: pass that folder" if nested else ""
        raise DataError(
            f"{folder}: no Tatoeba files (expected tatoeba.<xxx>-eng.<xxx> + .eng, or <l>-en.<l> + <l>-en.en){hint}"
        )
    return dict(sorted(found.items()))


def _safe_has_tatoeba(folder: Path) -> bool:
    try:
        return bool(_tatoeba_in(folder))
    except (DataError, OSError):
        return True  # there are Tatoeba-named files there, even if broken: worth naming in the hint


def read_tatoeba(
    source_path: str | Path, target_path: str | Path, source_lang: str, target_lang: str = "en"
) -> ParallelCorpus:
    """Read one aligned pair of Tatoeba files: ``source`` = the non-English file, ``target`` = the English file.

    Every line is one sentence, kept as written (no stripping: the tokenizer handles spaces). Different line counts
    or an empty line raise :class:`DataError`, since either means the alignment is lost.
    """
    src_path, tgt_path = Path(source_path), Path(target_path)
    source = read_lines(src_path)
    target = read_lines(tgt_path)
    if len(source) != len(target):
        raise DataError(
            f"{src_path} has {len(source)} lines but {tgt_path} has {len(target)}; the files of a Tatoeba pair must "
            "be aligned line by line: restore both from the same release"
        )
    for path, lines in ((src_path, source), (tgt_path, target)):
        for i, line in enumerate(lines):
            if not line.strip():
                raise DataError(f"{path}:{i + 1}: empty line; Tatoeba files hold one sentence on every line")
    if not source:
        raise DataError(f"{src_path}: empty file; restore the Tatoeba pair from its release")
    return ParallelCorpus(source=tuple(source), target=tuple(target), source_lang=source_lang, target_lang=target_lang)


def load_tatoeba(data_dir: str | Path, lang: str) -> ParallelCorpus:
    """The Tatoeba pair of ``lang`` (639-1 or 639-3 code) found in ``data_dir`` by :func:`find_tatoeba`."""
    pairs = find_tatoeba(data_dir)
    code = iso639_1(lang)
    if code not in pairs:
        raise DataError(f"{data_dir}: no Tatoeba pair for {lang!r}; available: {', '.join(pairs)}")
    src, tgt = pairs[code]
    return read_tatoeba(src, tgt, source_lang=code, target_lang="en")


# ---------------------------------------------------------------------------------------------------------------
# BUCC 2018
# ---------------------------------------------------------------------------------------------------------------

_BUCC_SRC = re.compile(r"^(?P<lang>[a-z]{2,3})-en\.(?P<split>[A-Za-z0-9_]+)\.(?P=lang)$")


@dataclass(frozen=True)
class BuccFiles:
    """The files of one BUCC language pair and split; ``gold`` is None where no gold file exists (the test set)."""

    source: Path
    target: Path
    gold: Path | None


def find_bucc(data_dir: str | Path) -> dict[tuple[str, str], BuccFiles]:
    """Every BUCC pair directly in ``data_dir``: ``{(src_lang, split): BuccFiles}`` for any language and split name."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; pass the folder that holds the BUCC files (bucc2018/)")
    found: dict[tuple[str, str], BuccFiles] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        m = _BUCC_SRC.match(path.name)
        if not m or m["lang"] == "en":
            continue
        lang, split = m["lang"], m["split"]
        eng = folder / f"{lang}-en.{split}.en"
        if not eng.is_file():
            raise DataError(f"{path}: its English side {eng.name} is missing in {folder}; copy all files of the pair")
        gold = folder / f"{lang}-en.{split}.gold"
        found[(iso639_1(lang), split)] = BuccFiles(path, eng, gold if gold.is_file() else None)
    if not found:
        raise DataError(
            f"{folder}: no BUCC files (expected <src>-en.<split>.<src>, <src>-en.<split>.en, <src>-en.<split>.gold)"
        )
    return dict(sorted(found.items()))


def _read_id_sentences(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``id<TAB>sentence`` lines -> (ids, sentences). Exactly one tab per line; ids unique; sentences non-empty."""
    ids: list[str] = []
    sentences: list[str] = []
    first_line: dict[str, int] = {}
    for i, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path}:{i}: expected 'id<TAB>sentence', found {len(fields)} tab-separated fields; "
                "fix the line or restore the file"
            )
        sid, sentence = fields
        if not sid or not sentence.strip():
            raise DataError(f"{path}:{i}: empty {'id' if not sid else 'sentence'}; fix the line or restore the file")
        if sid in first_line:
            raise DataError(f"{path}:{i}: id {sid!r} already used on line {first_line[sid]}; ids must be unique")
        first_line[sid] = i
        ids.append(sid)
        sentences.append(sentence)
    if not ids:
        raise DataError(f"{path}: empty file; restore it from the BUCC release")
    return tuple(ids), tuple(sentences)


def _read_gold(path: Path, source_ids: Iterable[str], target_ids: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``src_id<TAB>en_id`` lines; every id must occur in the sentence files. Repeated lines count once (a set)."""
    src, tgt = set(source_ids), set(target_ids)
    pairs: dict[tuple[str, str], None] = {}  # ordered set
    for i, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue  # a blank line holds no pair (e.g. a trailing empty line)
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(f"{path}:{i}: expected 'src_id<TAB>en_id', found {len(fields)} fields; fix the line")
        s, t = fields[0].strip(), fields[1].strip()
        if s not in src:
            raise DataError(f"{path}:{i}: source id {s!r} is not in the source sentence file; pass the matching files")
        if t not in tgt:
            raise DataError(
                f"{path}:{i}: English id {t!r} is not in the English sentence file; pass the matching files"
            )
        pairs[(s, t)] = None
    return tuple(pairs)


def read_bucc(
    source_path: str | Path,
    target_path: str | Path,
    gold_path: str | Path | None,
    source_lang: str,
    target_lang: str = "en",
) -> ParallelCorpus:
    """Read one BUCC split: sentences and ids of both sides in file order, and the gold (source_id, target_id) pairs.

    ``gold_path`` None gives a corpus without gold (mining works, scoring needs gold).
    """
    src_ids, src = _read_id_sentences(Path(source_path))
    tgt_ids, tgt = _read_id_sentences(Path(target_path))
    gold = _read_gold(Path(gold_path), src_ids, tgt_ids) if gold_path is not None else ()
    return ParallelCorpus(
        source=src,
        target=tgt,
        source_lang=source_lang,
        target_lang=target_lang,
        source_ids=src_ids,
        target_ids=tgt_ids,
        gold_pairs=gold,
    )


def load_bucc(data_dir: str | Path, lang: str, split: str = "dev") -> ParallelCorpus:
    """The BUCC pair ``<lang>-en`` of ``split`` found in ``data_dir`` by :func:`find_bucc`."""
    pairs = find_bucc(data_dir)
    key = (iso639_1(lang), split)
    if key not in pairs:
        avail = ", ".join(f"{lg}/{sp}" for lg, sp in pairs)
        raise DataError(f"{data_dir}: no BUCC files for {lang}-en split {split!r}; available: {avail}")
    files = pairs[key]
    return read_bucc(files.source, files.target, files.gold, source_lang=key[0], target_lang="en")
