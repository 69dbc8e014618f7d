"""The official file formats as readers of one file: a :class:`FileReader` is a name and ``read(path, lang)``.

Task records (:mod:`adapterx.tasks`) name the reader of the files a user passes (``--train-file``, ``--eval-file``,
``--data FILE``); folder layouts (:mod:`adapterx.data.layout`) name the reader of each file pattern. The functions
themselves are the pure readers of :mod:`adapterx.data.readers`; here they only get one calling convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapterx.data import readers
from adapterx.data.readers import sts as sts_readers


@dataclass(frozen=True)
class FileReader:
    """One format's reader: ``read(path, lang)`` -> examples (``lang``: the language the file is for, where the
    format needs it: a CoNLL-U treebank's, or one language of a multi-language XNLI TSV)."""

    name: str
    read: Callable[[Path, str | None], list]

    def __call__(self, path: Path, lang: str | None = None) -> list:
        return self.read(Path(path), lang)


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-1:]).lower()


def _tags(path: Path, lang: str | None) -> list:
    if _suffix(path) == ".conllu":
        return readers.read_conllu(path, mode="xtreme", lang=lang)
    return readers.read_token_tags(path)


def _nli(path: Path, lang: str | None) -> list:
    return readers.read_xnli(path, lang=lang)


def _mnli(path: Path, lang: str | None) -> list:
    """GLUE's MNLI TSV (columns by name) for a .tsv file; anything else as XNLI reads it."""
    return readers.read_mnli(path) if _suffix(path) == ".tsv" else readers.read_xnli(path, lang=lang)


def _path_only(fn: Callable[[Path], list]) -> Callable[[Path, str | None], list]:
    def read(path: Path, lang: str | None) -> list:  # noqa: ARG001 - the format has one language per file
        return fn(path)

    return read


# Readers of a file a user names: one per format, chosen by the task record.
SQUAD = FileReader("squad", _path_only(readers.read_squad))
TAGS = FileReader("tags", _tags)  # CoNLL-U (XTREME's word form) by suffix, else token<TAB>tag
STSB = FileReader("stsb", _path_only(readers.read_stsb))
SICK = FileReader("sick", _path_only(sts_readers.read_sick))
PAWSX = FileReader("pawsx", _path_only(readers.read_pawsx))
NLI = FileReader("nli", _nli)
MNLI = FileReader("mnli", _mnli)
COPA = FileReader("copa", _path_only(readers.read_copa))
SIQA = FileReader("siqa", _path_only(readers.read_siqa))  # labels from the sibling <split>-labels.lst
HELLASWAG = FileReader("hellaswag", _path_only(readers.read_hellaswag))
COSMOSQA = FileReader("cosmosqa", _path_only(readers.read_cosmosqa))  # CSV or JSON lines, sniffed
COMMONSENSEQA = FileReader("commonsenseqa", _path_only(readers.read_commonsenseqa))

# Readers of the files a folder layout finds (each pattern names one): one language per file, except CoNLL-U,
# read in XTREME's form for the language of the pattern's match.
FOLDER_XNLI = FileReader("xnli", _path_only(readers.read_xnli))
TOKEN_TAGS = FileReader("token_tags", _path_only(readers.read_token_tags))
CONLLU = FileReader("conllu", lambda path, lang: readers.read_conllu(path, mode="xtreme", lang=lang))


__all__ = ["COMMONSENSEQA", "CONLLU", "COPA", "COSMOSQA", "FOLDER_XNLI", "HELLASWAG", "MNLI", "NLI", "PAWSX", "SICK",
           "SIQA", "SQUAD", "STSB", "TAGS", "TOKEN_TAGS", "FileReader"]
