"""``adapterx push``, ``adapterx pull`` and ``adapterx hub ls|search|reindex``.

Only typer and the stdlib at import time; :mod:`adapterx.hub` (and, for ``hf:`` ids, ``huggingface_hub``) is imported
inside the command bodies. Ids go to stdout (scripts capture them); progress and notes go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cli.common import DEBUG_HELP, console, handle_errors, print_json
from cli.main import app

hub_app = typer.Typer(
    name="hub",
    help="List and search modules in a folder hub or on the Hugging Face Hub.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(hub_app, name="hub")

_HUB_HELP = "A folder hub (path), 'hf' for the Hugging Face Hub, or 'hf:USER' for one author. Default: $ADAPTERX_HUB."
_ENDPOINT_HELP = ("Hub-compatible server for hf: ids (a private mirror), e.g. http://127.0.0.1:8090. "
                  "Default: $HF_ENDPOINT, else huggingface.co.")
_TRUST_HELP = "Accept pickle weights (.bin/.pt/.pth/.pkl/.ckpt); loading pickle can run arbitrary code."


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


@app.command("push")
@handle_errors
def push_cmd(
    run_dir: Path = typer.Argument(..., help="Run dir to publish (run.json, metrics.json, module/)."),
    to: str = typer.Option(
        ...,
        "--to",
        help="hf:USER/REPO or hf:USER (name from --name or the default), optionally @REV, for the Hugging Face "
        "Hub; or a folder hub PATH.",
    ),
    name: Optional[str] = typer.Option(
        None,
        "--name",
        help="Repository name. Default: task, chain, method and backbone, e.g. stsb-adapter-xlm-roberta-base.",
    ),
    private: bool = typer.Option(False, "--private", help="Create the HF repository as private."),
    revision: Optional[str] = typer.Option(None, "--revision", help="HF branch to push to (created if needed)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="HF commit message."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the exact files and the card; publish nothing."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Folder hub: replace a repository of that name that holds another module."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help=_TRUST_HELP),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help=_ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Publish a trained module with its run.json, metrics.json, a model card and a sha256 manifest.

    The Hub token comes from `hf auth login` or $HF_TOKEN; it is never written anywhere by adapterx.
    """
    from adapterx import hub

    if dry_run:
        plan = hub.prepare_push(run_dir, to, name=name, revision=revision, trust_pickle=trust_pickle)
        listing = plan.listing()
        if as_json:
            print_json({"id": plan.target, "dry_run": True, "files": listing, "card": plan.card})
            return
        typer.echo(f"dry run: would publish {run_dir} as {plan.target}")
        typer.echo(f"files ({len(listing)}):")
        for row in listing:
            digest = f"sha256:{row['sha256'][:16]}" if row["sha256"] else "(generated)".ljust(23)
            typer.echo(f"  {_size(row['size']):>9}  {digest}  {row['file']}")
        typer.echo(f"card ({'README.md'}):")
        typer.echo(plan.card)
        return
    result = hub.push(
        run_dir, to, name=name, private=private, revision=revision, trust_pickle=trust_pickle, message=message,
        overwrite=overwrite, endpoint=endpoint,
    )
    if as_json:
        print_json({"id": result.id, "location": result.location, "entry": result.entry})
        return
    typer.echo(f"published {run_dir} -> {result.location}", err=True)
    typer.echo(result.id)


@app.command("pull")
@handle_errors
def pull_cmd(
    ref: str = typer.Argument(..., metavar="ID", help="hf:USER/REPO (optionally @REV) or HUB_PATH/REPO."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help=_TRUST_HELP),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help=_ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Fetch a module into the local cache ($ADAPTERX_CACHE/hub), verified against its manifest; print its folder."""
    from adapterx import hub

    path = hub.pull(ref, trust_pickle=trust_pickle, endpoint=endpoint)
    if as_json:
        print_json({"id": ref, "path": str(path)})
        return
    typer.echo(f"pulled {ref} (verified)", err=True)
    typer.echo(str(path))


def _list(
    hub_path: Optional[str],
    query: Optional[str],
    task: Optional[str],
    lang: Optional[str],
    base: Optional[str],
    method: Optional[str],
    limit: int,
    as_json: bool,
    endpoint: Optional[str] = None,
) -> None:
    from adapterx import hub
    from adapterx.errors import ConfigError

    if not hub_path:
        raise ConfigError("no hub given: pass --hub PATH|hf|hf:USER or set $ADAPTERX_HUB.")
    found = hub.search(hub_path, task=task, lang=lang, base=base, method=method, query=query, limit=limit,
                       endpoint=endpoint)
    if as_json:
        print_json({"hub": hub_path, "count": len(found), "modules": found})
        return
    if not found:
        typer.echo("no module matches", err=True)
        return
    _table(found, hub_path)


def _score(entry: dict[str, Any]) -> str:
    """The first zero-shot result: low-resource average, else overall average."""
    for target, report in (entry.get("eval") or {}).items():
        for key, label in (("low_resource_average", "low-res"), ("average", "avg")):
            if isinstance(report, dict) and report.get(key) is not None:
                return f"{target} {label} {report[key]:.1f}"
    return "-"


def _table(found: list[dict[str, Any]], hub_path: str) -> None:
    from rich.table import Table

    # Folder-hub ids are HUB_PATH/NAME: the table shows NAME (the path is in the title), so ids never wrap.
    folder = not (hub_path == "hf" or hub_path.startswith("hf:"))
    title = f"{hub_path}: {len(found)} modules" + (" (pull with HUB_PATH/NAME)" if folder else "")
    table = Table(title=title, show_lines=False)
    table.add_column("name" if folder else "id", no_wrap=True)
    for col in ("task", "chain", "method", "base", "languages", "zero-shot", "size", "pushed"):
        table.add_column(col, overflow="fold")
    for e in found:
        method = e.get("method") or "-"
        if e.get("composition"):
            method = f"{method} ({e['composition']})"
        langs = e.get("languages") or []
        table.add_row(
            str(e.get("name") if folder else e.get("id")),
            str(e.get("task") or "-"),
            " -> ".join(e.get("chain") or []) or "-",
            method,
            str(e.get("base_model") or "-"),
            ", ".join(langs[:8]) + (f" +{len(langs) - 8}" if len(langs) > 8 else "") or "-",
            _score(e),
            _size(e.get("size")),
            str(e.get("pushed") or "-")[:19],
        )
    console().print(table)


@hub_app.command("ls")
@handle_errors
def ls_cmd(
    hub_path: Optional[str] = typer.Option(None, "--hub", envvar="ADAPTERX_HUB", help=_HUB_HELP),
    task: Optional[str] = typer.Option(None, "--task", help="Trained task, or a task of its chain."),
    lang: Optional[str] = typer.Option(None, "--lang", help="An evaluated language (ISO code)."),
    base: Optional[str] = typer.Option(None, "--base", help="Backbone id, e.g. xlm-roberta-base."),
    method: Optional[str] = typer.Option(None, "--method", help="adapter, lora, full, or a composition (stack, fuse)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many modules."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help=_ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """List the modules of a hub (optionally filtered)."""
    _list(hub_path, None, task, lang, base, method, limit, as_json, endpoint)


@hub_app.command("search")
@handle_errors
def search_cmd(
    query: Optional[str] = typer.Argument(None, help="Text to find in the module id."),
    hub_path: Optional[str] = typer.Option(None, "--hub", envvar="ADAPTERX_HUB", help=_HUB_HELP),
    task: Optional[str] = typer.Option(None, "--task", help="Trained task, or a task of its chain."),
    lang: Optional[str] = typer.Option(None, "--lang", help="An evaluated language (ISO code)."),
    base: Optional[str] = typer.Option(None, "--base", help="Backbone id, e.g. xlm-roberta-base."),
    method: Optional[str] = typer.Option(None, "--method", help="adapter, lora, full, or a composition (stack, fuse)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many modules."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help=_ENDPOINT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Search a hub by id text and filters (--task/--lang/--base/--method)."""
    _list(hub_path, query, task, lang, base, method, limit, as_json, endpoint)


@hub_app.command("reindex")
@handle_errors
def reindex_cmd(
    hub_path: Path = typer.Argument(..., metavar="HUB_PATH", help="The folder hub whose index.json to rebuild."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Rebuild a folder hub's index.json from its repositories (after a crash or a manual edit)."""
    from adapterx.hub import FolderHub

    repos = FolderHub(hub_path).rebuild_index()
    typer.echo(f"indexed {len(repos)} repositories in {hub_path}", err=True)
