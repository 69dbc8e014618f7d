"""The ``adapterx`` command: a thin typer layer over the library.

Each command module registers its commands on :data:`app`. Commands parse options, make one library call and
render the result; heavy imports (torch, transformers, adapters, peft) happen inside the command bodies so that
``adapterx --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

# typer carries its own click; its usage-error classes are reached through the public BadParameter
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value of the wrong type, a missing argument) as one line on stderr and
    exit 2, as every other adapterx error; typer's own rendering is a framed panel of several lines."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:  # noqa: D102
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `adapterx` alone: the help, as before
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "adapterx"
            msg = " ".join(exc.format_message().split())
            print(f"error: {msg} (see `{where} --help`)", file=sys.stderr, flush=True)
            sys.exit(exc.exit_code)
        except _CLICK_EXCEPTION as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            print("Aborted!", file=sys.stderr, flush=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="adapterx",
    help=(
        "Parameter-efficient intermediate-task transfer experiments across languages.\n\n"
        "Train an English intermediate task (train-intermediate), a target task on top of it (stack, fuse, "
        "train-target), evaluate zero-shot on every language (eval, retrieve), run whole grids (run, report), "
        "and share modules (push, pull, hub)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        from adapterx import __version__

        typer.echo(f"adapterx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """adapterx command line."""
    from cli.common import ascii_fallback

    ascii_fallback()


COMMAND_MODULES = ("train_cmds", "compose_cmds", "retrieve_cmds", "report_cmds", "hub_cmds", "data_cmds",
                   "export_cmds", "methods_cmds")


def _register() -> None:
    # Each module adds its commands to ``app`` at import; they import only typer and the stdlib at top level.
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"cli.{name}") is not None:
            importlib.import_module(f"cli.{name}")


def main() -> None:
    """Console-script entry point."""
    app()


_register()
