"""Helpers shared by the command modules: error mapping, the console, JSON output."""

from __future__ import annotations

import functools
import json
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
            return fn(*args, **kwargs)
        except AdapterxError as exc:
            if kwargs.get("debug"):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def console(stderr: bool = False):  # noqa: ANN201 - rich imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (machine-readable output)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")
