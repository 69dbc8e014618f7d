"""Commands for the Hugging Face data sources: ``adapterx data check`` and ``adapterx data download``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import DEBUG_HELP, handle_errors, print_json
from cli.main import app

data_app = typer.Typer(help="The tasks' Hugging Face data sources: check them, or download them for offline nodes.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

REVISION_HELP = ("Read the Hugging Face sources at this revision instead of the pinned one: REV for every source, "
                 "or OWNER/NAME=REV for one repository (repeatable).")


def _langs(values: list[str] | None) -> tuple[str, ...] | None:
    items = tuple(x.strip() for v in values or [] for x in v.split(",") if x.strip())
    return None if not items or items == ("all",) else items


@data_app.command("check")
@handle_errors
def check_cmd(
    tasks: Optional[list[str]] = typer.Argument(None, help="Tasks to check (default: every task with Hugging Face data)."),
    data_revision: Optional[list[str]] = typer.Option(None, "--data-revision", help=REVISION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Stream the first row of every config and split the tasks read from the Hugging Face Hub and check the
    columns their converters use: one table of ok / broken (with the reason). Exit 1 if any is broken."""
    from adapterx.workflows.download import check

    rows = check(list(tasks or []), tuple(data_revision or ()))
    broken = [r for r in rows if not r.ok]
    if as_json:
        print_json({"rows": [{**vars(r), "ok": r.ok} for r in rows], "broken": len(broken)})
    else:
        from rich.table import Table

        from cli.common import console

        table = Table(title="Hugging Face data sources")
        for col in ("task", "split", "lang", "data set", "split there", "revision", "status", "reason"):
            table.add_column(col)
        for r in rows:
            style = {"ok": "green", "broken": "bold red"}.get(r.status, "dim")
            table.add_row(r.task, r.split, r.lang, f"{r.repo}{'/' + r.config if r.config else ''}", r.hf_split,
                          r.revision[:12], f"[{style}]{r.status}[/{style}]", r.reason)
        con = console()
        con.print(table)
        con.print(f"{len(rows) - len(broken)} ok, {len(broken)} broken")
    if broken:
        raise typer.Exit(code=1)


@data_app.command("download")
@handle_errors
def download_cmd(
    tasks: list[str] = typer.Argument(..., help="Tasks whose data to write, e.g. xnli tydiqa panx."),
    to: Path = typer.Option(..., "--to", help="The download folder (XTREME's layout; pass it later as --data-dir)."),
    langs: Optional[list[str]] = typer.Option(None, "--langs", help="Evaluation languages, e.g. sw,te (default: all the task has; English train/dev always)."),
    force: bool = typer.Option(False, "--force", help="Rewrite files that exist (default: keep them)."),
    data_revision: Optional[list[str]] = typer.Option(None, "--data-revision", help=REVISION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-file lines while downloading."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Write the tasks' Hugging Face data as XTREME's download folder lays it out (the file names and formats
    --data-dir reads), so nodes without network can train and evaluate from it."""
    from adapterx.workflows.download import download

    def show(res) -> None:
        if not (as_json or quiet):
            typer.echo(f"{res.status:8s} {res.path}  ({res.examples} examples)", err=True)

    report = download(list(tasks), to, _langs(langs), force, tuple(data_revision or ()), progress=show)
    if as_json:
        print_json(report.to_json())
        return
    from rich.table import Table

    from cli.common import console

    table = Table(title=f"adapterx data download -> {report.root}")
    for col in ("task", "split", "lang", "file", "status", "examples", "note"):
        table.add_column(col)
    for f in report.files:
        table.add_row(f.task, f.split, f.lang, f.path, f.status, str(f.examples or ""), f.reason)
    console().print(table)
