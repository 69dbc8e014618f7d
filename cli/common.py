"""Helpers shared by the command modules: error mapping, the console, JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_HELP = "Show the full traceback of an error."


def handle_errors(fn: F) -> F:
    """Map :class:`adapterx.errors.AdapterxError` to one line on stderr and exit code 2.

    The wrapped command must take a ``debug: bool`` keyword; with ``--debug`` the traceback is kept.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from adapterx.errors import AdapterxError

        try:
            if _follower_rank():
                # Under `accelerate launch`, ranks other than 0 train alongside rank 0 but print nothing: rank 0
                # prints the result once. Their errors still reach stderr.
                with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
                    result = fn(*args, **kwargs)
            else:
                result = fn(*args, **kwargs)
            from adapterx.engine.distributed import shutdown

            shutdown()  # a launched command leaves its process group together (no-op otherwise)
            return result
        except AdapterxError as exc:
            if kwargs.get("debug"):
                raise
            # print, not click.echo: click re-encodes an ASCII-only stderr as UTF-8; ascii_fallback spells it in ASCII
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def _follower_rank() -> bool:
    """A data-parallel rank other than 0 (the environment says so; nothing is imported)."""
    from adapterx.engine.distributed import is_main, launched

    return launched() and not is_main()


# Where output is not a terminal (a log, a pipe) nothing is cut: no line is wider than this, so rich neither wraps
# nor truncates paths, ids and names. COLUMNS, where set, wins (the user asked for that width).
_UNBOUNDED_WIDTH = 4096


def console(stderr: bool = False):  # noqa: ANN201 - rich imported lazily
    """The rich console of a command: the terminal's width on a terminal, COLUMNS where set, else unbounded."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not os.environ.get("COLUMNS", "").isdigit() and not _isatty(stream):
        width = _UNBOUNDED_WIDTH
    return Console(stderr=stderr, highlight=False, width=width, file=stream)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


# Characters adapterx prints that an ASCII-only terminal (PYTHONIOENCODING=ascii, LANG=C) cannot take, and their
# ASCII spelling; anything else becomes "?". A finished run must never fail on printing its summary.
_ASCII = {"\u2026": "...", "\u2264": "<=", "\u2265": ">=", "\u2192": "->", "\u2190": "<-", "\u00b1": "+-",
          "\u221d": "~", "\u2014": "-", "\u2013": "-", "\u00d7": "x", "\u2018": "'", "\u2019": "'",
          "\u201c": '"', "\u201d": '"', "\u2500": "-", "\u2501": "-", "\u2502": "|", "\u2588": "#",
          "\u00b7": ".", "\u2022": "*"}


def _to_ascii(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start:exc.end]
    return "".join(_ASCII.get(ch, "?") for ch in text), exc.end


def ascii_fallback() -> None:
    """Make stdout and stderr write what their encoding cannot hold as ASCII (``...`` for an ellipsis) instead of
    raising UnicodeEncodeError. Called once per command (cli/main.py): the one place output meets the encoding."""
    import codecs

    try:
        codecs.lookup_error("adapterx-ascii")
    except LookupError:
        codecs.register_error("adapterx-ascii", _to_ascii)
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
        if enc.startswith("utf") or not hasattr(stream, "reconfigure"):
            continue
        with contextlib.suppress(Exception):  # a stream that cannot be reconfigured keeps its behaviour
            stream.reconfigure(errors="adapterx-ascii")


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (machine-readable output); \\u escapes where stdout is not UTF-8, so the
    JSON stays exact under an ASCII-only encoding (the fallback would replace characters)."""
    enc = (getattr(sys.stdout, "encoding", None) or "utf-8").lower()
    sys.stdout.write(json.dumps(obj, ensure_ascii=not enc.startswith("utf"), indent=2, sort_keys=False) + "\n")
