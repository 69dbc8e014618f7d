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
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def _follower_rank() -> bool:
    """A data-parallel rank other than 0 (the environment says so; nothing is imported)."""
    from adapterx.engine.distributed import is_main, launched

    return launched() and not is_main()


def console(stderr: bool = False):  # noqa: ANN201 - rich imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (machine-readable output)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")
