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
            given = kwargs.get("args", args[0] if args else None)  # CliRunner passes args=; the script passes none
            repeated = _repeated_option(self, list(given) if given is not None else sys.argv[1:])
            if repeated:
                print(f"error: {repeated}", file=sys.stderr, flush=True)
                sys.exit(2)
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


def _repeated_option(group: Any, argv: list[str]) -> str | None:
    """The message for an option that takes one value given more than once (click keeps the last silently:
    `--method adapter ... --method lora` trained LoRA); ``--flag/--no-flag`` both given counts as twice. Options
    declared repeatable (``--set``, ``--eval-file``, ...) may repeat."""
    cmd, i = group, 0
    while hasattr(cmd, "commands") and i < len(argv) and not argv[i].startswith("-"):
        cmd = cmd.commands.get(argv[i])
        i += 1
        if cmd is None:
            return None  # click names the unknown command
    if hasattr(cmd, "commands"):
        return None
    by_opt: dict[str, Any] = {}
    for param in getattr(cmd, "params", []):
        for opt in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if opt.startswith("-"):
                by_opt[opt] = param
    seen: dict[str, str] = {}
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            break
        name = token.split("=", 1)[0]
        param = by_opt.get(name)
        if param is None:
            continue
        if not getattr(param, "is_flag", False) and "=" not in token:
            i += 1  # its value
        if getattr(param, "multiple", False) or getattr(param, "count", False):
            continue
        if param.name in seen:
            first = seen[param.name]
            return (f"{name} given twice (as {first} and {name}): give it once"
                    if first != name else f"{name} given twice: give it once")
        seen[param.name] = name
    return None


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
