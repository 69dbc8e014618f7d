"""Low-level text input shared by the readers: strict UTF-8 decoding, lines, TSV rows, JSON and JSON lines.

Every problem becomes a :class:`DataError` whose message starts with ``path:line:`` and ends with the fix.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from os import PathLike
from pathlib import Path
from typing import Any

from adapterx.errors import DataError

PathArg = str | PathLike[str]


# Byte-order marks of the encodings a spreadsheet or Windows editor saves "Unicode text" in: (mark, name, iconv name).
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with a byte-order mark)", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with a byte-order mark)", "UTF-32"),
    (b"\xff\xfe", "UTF-16 (little-endian, with a byte-order mark)", "UTF-16"),
    (b"\xfe\xff", "UTF-16 (big-endian, with a byte-order mark)", "UTF-16"),
)


def _wide_encoding(raw: bytes) -> tuple[str, str] | None:
    """(name, iconv name) of a UTF-16/32 file: by its byte-order mark, or by NUL bytes, which no text file in UTF-8
    holds but every ASCII character of UTF-16 does (every other byte: even offsets big-endian, odd little-endian)."""
    for bom, name, iconv in _BOMS:
        if raw.startswith(bom):
            return name, iconv
    head = raw[:4096]
    if b"\x00" not in head:
        return None
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if odd > len(head) // 4 and even < odd // 4:
        return "UTF-16 (little-endian, without a byte-order mark)", "UTF-16LE"
    if even > len(head) // 4 and odd < even // 4:
        return "UTF-16 (big-endian, without a byte-order mark)", "UTF-16BE"
    return "not text (it holds NUL bytes)", ""


def read_text(path: PathArg) -> str:
    """The whole file as text: UTF-8 (a leading BOM is dropped), line ends untouched.

    Raises :class:`DataError` when the file is missing, empty (or only whitespace) or not valid UTF-8.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{p}: no such file; check the path (or the data directory).") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory, expected a data file.") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc.strerror}).") from None
    _note_file(p, raw)
    wide = _wide_encoding(raw)
    if wide is not None:
        name, iconv = wide
        fix = (f"re-encode it as UTF-8: iconv -f {iconv} -t UTF-8 {p} > {p.stem}-utf8{p.suffix}" if iconv
               else "check that this is the data file")
        raise DataError(f"{p}: the file is {name}, not UTF-8; {fix}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{p}:{line}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "re-encode it as UTF-8 from its encoding (Latin-1 / Windows-1252 files: iconv -f cp1252 -t utf-8)."
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise DataError(f"{p}: the file is empty; expected data (re-download or check the path).")
    return text


def read_lines(path: PathArg) -> list[str]:
    """The file's lines without their line ends (``\\n`` or ``\\r\\n``). A final line end adds no empty line.

    Splits on ``\\n`` only: ``str.splitlines`` would also split on U+2028, U+0085 and other characters that occur
    inside real sentences (Wikipedia text in PAN-X, MLQA).
    """
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_lines(path: PathArg) -> Iterator[tuple[int, str]]:
    """``(1-based line number, line)`` for every line of the file."""
    return enumerate(read_lines(path), start=1)


def _csv_quoted(lines: list[tuple[int, str]]) -> bool:
    """Whether quotes in these TSV lines follow CSV quoting (as Python's ``csv.writer`` writes them).

    XTREME writes its XNLI/PAWS-X TSVs with ``csv.writer(delimiter='\\t')``: fields holding a ``"`` are quoted
    and inner quotes doubled (``"a ""b"" c"``). Raw corpora (GLUE MNLI, original PAWS-X) contain literal quotes
    that are not CSV quoting (``"Angel Eyes" is a song``). A file counts as CSV-quoted when every line that holds
    a quote parses under strict CSV rules; one line that does not means the quotes are literal text.
    """
    quoted = [line for _, line in lines if '"' in line]
    if not quoted:
        return False
    try:
        for line in quoted:
            next(csv.reader([line], delimiter="\t", strict=True))
    except csv.Error:
        return False
    return True


def tsv_rows(path: PathArg) -> list[tuple[int, list[str]]]:
    """Non-blank lines of a tab-separated file as ``(line number, fields)``.

    CRLF and a BOM are handled by :func:`read_lines`; CSV quoting is decoded when the whole file uses it
    (see :func:`_csv_quoted`), otherwise fields are taken literally (``QUOTE_NONE``, as GLUE's readers do).
    """
    lines = [(n, line) for n, line in numbered_lines(path) if line.strip()]
    if _csv_quoted(lines):
        return [(n, next(csv.reader([line], delimiter="\t", strict=True))) for n, line in lines]
    return [(n, line.split("\t")) for n, line in lines]


def find_header(
    fields: list[str], columns: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> dict[str, int] | None:
    """If ``fields`` is a header row, map each wanted column to its index.

    ``columns`` maps our name to the accepted header names (first match wins); the row is a header when all
    ``required`` names are found. Matching ignores case and surrounding spaces.
    """
    names = [f.strip().lower() for f in fields]
    found: dict[str, int] = {}
    for ours, aliases in columns.items():
        for alias in aliases:
            if alias in names:
                found[ours] = names.index(alias)
                break
    if all(name in found for name in required):
        return found
    return None


def read_json(path: PathArg) -> Any:
    """Parse a JSON file; a syntax error becomes ``path:line:column`` with the parser's message."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON "
            f"({exc.msg}); fix or re-download the file."
        ) from None


def read_jsonl(path: PathArg) -> list[tuple[int, dict[str, Any]]]:
    """JSON lines: one object per non-blank line, as ``(line number, object)``."""
    out: list[tuple[int, dict[str, Any]]] = []
    for n, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{n}: invalid JSON at column {exc.colno} ({exc.msg}); each line must be one JSON object."
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: expected a JSON object per line, found {type(obj).__name__}.")
        out.append((n, obj))
    if not out:
        raise DataError(f"{path}: no JSON lines found; the file holds only blank lines.")
    return out


def looks_like_jsonl(path: PathArg) -> bool:
    """Whether the first non-blank character of the file opens a JSON object (cheap format sniffing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False  # the reader's read_text reports the problem with the path
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{")


def csv_rows(path: PathArg) -> list[tuple[int, list[str]]]:
    """Records of a comma-separated file (Excel dialect: quoted fields may hold commas, doubled quotes and line
    breaks) as ``(line number where the record starts, fields)``; blank records are skipped.

    Line ends are read as Python's text mode reads them (``\\r\\n`` and ``\\r`` become ``\\n``, also inside quoted
    fields), so the fields are what ``csv.DictReader(open(path))`` gives. A quoting error (a stray quote in a quoted
    field, a quote left open at the end of the file) is a :class:`DataError` naming the line.
    """
    import io

    text = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if any(f.strip() for f in fields):
                out.append((line, fields))
    except csv.Error as exc:
        raise DataError(
            f"{path}:{start}: malformed CSV ({exc}); quote fields that hold commas, quotes or line breaks, "
            "double the quotes inside them, and close every quote (re-download if the file was cut short)."
        ) from None
    return out


# ---------------------------------------------------------------------------------------------------------------
# where each example was read: the task's record rules (adapterx.data.rules) name it in their one-line errors

_ORIGINS: ContextVar[list[str] | None] = ContextVar("adapterx_record_origins", default=None)


def note_origin(where: str) -> None:
    """Note where the example a reader just appended was read (``path:line``; for JSON, the path and record id).
    A no-op unless :func:`record_origins` is collecting: readers stay plain functions."""
    log = _ORIGINS.get()
    if log is not None:
        log.append(where)


_FILES: ContextVar[list[dict[str, Any]] | None] = ContextVar("adapterx_files_read", default=None)


def _note_file(path: Path, raw: bytes) -> None:
    log = _FILES.get()
    if log is not None and not any(f["path"] == str(path) for f in log):
        log.append({"path": str(path), "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()})


@contextmanager
def record_files() -> Iterator[list[dict[str, Any]]]:
    """Collect ``{"path", "bytes", "sha256"}`` of every file the readers read in the block (what a run records in
    run.json, and what decides whether a resumed run or a grid cell still has the data it was made with)."""
    log: list[dict[str, Any]] = []
    token = _FILES.set(log)
    try:
        yield log
    finally:
        _FILES.reset(token)


@contextmanager
def record_origins() -> Iterator[list[str]]:
    """Collect :func:`note_origin` calls of the readers run in the block: one entry per example, in order."""
    log: list[str] = []
    token = _ORIGINS.set(log)
    try:
        yield log
    finally:
        _ORIGINS.reset(token)

