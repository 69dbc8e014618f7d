"""``adapterx methods``: the method catalogue (library, compositions, and trainable parameters on a backbone)."""

from __future__ import annotations

from typing import Optional

import typer

from cli.common import console, handle_errors, print_json
from cli.main import app
from cli.options import MODEL_HELP

@app.command("methods")
@handle_errors
def methods(
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP + " With it, each method is built once on "
                                        "that backbone and its trainable parameters are counted (default: not counted)."),
    task: str = typer.Option("stsb", "--task", help="With --model: the task whose head is attached (counted too)."),
    only: Optional[str] = typer.Option(None, "--only", help="Comma-separated method names (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Every training method: its library, what it composes with (stack, fuse, sum, merge, chain; what a recipe's
    `continue` means; MAD-X language modules), and with --model its trainable parameters on that backbone.

    Options of a method go after its name: `--method lora:dora=true`, `--method prompt:prompt_length=20`."""
    from adapterx.methods.catalog import COMPOSITIONS, table

    rows = table(model, task, [m.strip() for m in only.split(",") if m.strip()] if only else None)
    if as_json:
        print_json({"methods": rows})
        return
    from rich.table import Table

    counted = model is not None
    title = "methods" + (f" (parameters on {rows[0]['params']['backbone']} with a {task} head)" if counted and rows else "")
    t = Table(title=title, title_justify="left", header_style="bold")
    t.add_column("method", no_wrap=True)
    t.add_column("library", no_wrap=True)
    if counted:
        t.add_column("trainable", justify="right", no_wrap=True)
        t.add_column("%", justify="right", no_wrap=True)
    t.add_column("compositions (* = continue)")
    t.add_column("MAD-X lang", no_wrap=True)
    t.add_column("options", overflow="fold")
    for r in rows:
        comp = r["compositions"]
        counts = ()
        if counted:
            p = r["params"]
            counts = (f"{p['trainable']:,}", f"{100 * p['trainable'] / max(p['total'], 1):.3g}")
        kinds = " ".join(c + ("*" if c == comp["continue"] else "") for c in COMPOSITIONS if comp[c])
        t.add_row(r["method"], r["library"], *counts, kinds or "-", "yes" if comp["language-module"] else "-",
                  ", ".join(r["options"]) or "-")
    console().print(t)
