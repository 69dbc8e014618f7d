"""The ``adapterx`` command: a thin typer layer over the library.

Each command module registers its commands on :data:`app`. Commands parse options, make one library call and
render the result; heavy imports (torch, transformers, adapters, peft) happen inside the command bodies so that
``adapterx --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
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
