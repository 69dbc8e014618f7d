"""``adapterx run RECIPE`` and ``adapterx report RUN_DIR``.

Only typer and the stdlib at import time; the recipe, runner and results modules (pydantic, numpy, matplotlib) are
imported inside the command bodies. Tables go to stdout; progress lines go to stderr.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from cli.common import DEBUG_HELP, console, handle_errors, print_json
from cli.main import app


class ExecutorChoice(str, Enum):
    inline = "inline"
    local = "local"
    slurm = "slurm"


class TrackerChoice(str, Enum):
    tensorboard = "tensorboard"
    wandb = "wandb"
    mlflow = "mlflow"


_SET_HELP = "Override a recipe field: dotted path = YAML value, e.g. --set seeds=[1] --set methods[1].rank=4. Repeatable."
_PLAN_ROWS = 40


def _render_table(con: Any, table: Any) -> None:
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    t = Table(title=table.title, title_justify="left", show_lines=False, header_style="bold")
    for i, h in enumerate(table.headers):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for row in table.rows:
        t.add_row(*row)
    # Report tables are wide (conditions x "mean ± std [CI]"): render them whole rather than folded into 80
    # columns; a terminal wraps long lines, a file or pager keeps them intact.
    needed = Measurement.get(con, con.options.update(width=100_000), t).maximum
    out = con if needed <= con.width else Console(highlight=False, width=needed, file=con.file)
    out.print(t)
    if table.notes:
        out.print(f"[dim]{table.notes}[/dim]")
    out.print()


@app.command("run")
@handle_errors
def run_cmd(
    recipe_path: Path = typer.Argument(..., metavar="RECIPE", help="A recipe YAML file, e.g. recipes/sts-lowres.yaml."),
    set_: list[str] = typer.Option([], "--set", help=_SET_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, the number of cells and the cost per stage; run nothing."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="--dry-run: measure this machine's speed"
                                   " for the grid's backbones (a minute or two, cached) for the per-stage estimate."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run folder (default: runs/<recipe name>)."),
    executor: Optional[ExecutorChoice] = typer.Option(
        None, "--executor", help="inline: here, one cell after another (default); local: parallel processes;"
        " slurm: one job per cell (both through submitit)."),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", min=1, help="Cells at once (local, slurm)."),
    processes_per_cell: Optional[int] = typer.Option(
        None, "--processes-per-cell", min=1, help="Train each cell data-parallel on N processes under accelerate"
        " launch, one per GPU (default: the GPUs a local or slurm worker gets). The batch size stays the global"
        " batch, so results do not change."),
    report_to: Optional[TrackerChoice] = typer.Option(None, "--report-to", help="Experiment tracker for every cell."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed cell."),
    no_wait: bool = typer.Option(False, "--no-wait", help="slurm: return after submitting; a later run/report collects."),
    cell_fn: Optional[str] = typer.Option(None, "--cell-fn", hidden=True, help="module:function replacing run_cell."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Run every cell of a recipe's grid (backbone x method x intermediate x target x seed), skipping done ones.

    A cell is done when a cell with the same content hash is recorded in RUN_DIR/results.sqlite, so an interrupted
    or extended grid picks up where it was.
    """
    from adapterx.grid.recipe import load_recipe
    from adapterx.grid.runner import make_plan, resolve_run_dir, run_recipe

    overrides = list(set_)
    if report_to is not None:
        overrides.append(f"report_to={report_to.value}")
    if processes_per_cell is not None:
        overrides.append(f"execution.processes_per_cell={processes_per_cell}")
    recipe = load_recipe(recipe_path, overrides)
    folder = resolve_run_dir(recipe, run_dir)
    if dry_run:
        from adapterx.grid.runner import check_report_to

        check_report_to(recipe.report_to)
        from adapterx.grid.cost import grid_cost

        made = make_plan(recipe, folder)
        plan = made.to_json()

        def on_start(backbone: str, methods: list[str]) -> None:
            console(stderr=True).print(f"[dim]calibrating {backbone} ({', '.join(methods)}) on this machine; cached"
                                       " for later dry runs[/dim]")

        plan["cost"] = grid_cost(made.todo, measure=calibrate, on_start=on_start)
        where = executor.value if executor else recipe.execution.executor
        plan["execution"] = {"executor": where, "processes_per_cell": recipe.execution.processes(where)}
        if as_json:
            print_json(plan)
            return
        _print_plan(plan, recipe)
        return

    err = console(stderr=True)
    counter = {"n": 0}
    total = {"n": 0}

    def on_event(outcome: Any) -> None:
        counter["n"] += 1
        style = {"done": "green", "failed": "red", "skipped": "dim"}[outcome.status]
        extra = f" ({outcome.seconds:.1f}s)" if outcome.status == "done" else f": {outcome.error}" if outcome.error else ""
        err.print(f"[{counter['n']}/{total['n']}] [{style}]{outcome.status}[/{style}] {outcome.label}{extra}")

    if (executor.value if executor else recipe.execution.executor) == "slurm":
        from adapterx.grid.slurm import check_reachable

        check_reachable()  # before the plan line: an unreachable Slurm is the one line printed
    plan = make_plan(recipe, folder)
    total["n"] = len(plan.todo)
    if not as_json:
        err.print(f"{recipe.name}: {len(plan.cells)} cells, {plan.n_done} already done, {total['n']} to run"
                  f" in {folder}")
        if plan.stale:
            first = next(iter(plan.stale.values()))[0]
            err.print(f"note: {len(plan.stale)} recorded cell(s) run again: a data file they read changed ({first})",
                      soft_wrap=True)
        if plan.unchecked:
            err.print(f"note: {plan.unchecked} recorded cell(s) predate data fingerprints (an older adapterx): a "
                      "changed data file is not detected for them", soft_wrap=True)
    summary = run_recipe(recipe, folder, executor=executor.value if executor else None, cell_fn=cell_fn,
                         max_parallel=max_parallel, fail_fast=fail_fast, wait=not no_wait, on_event=on_event)
    if as_json:
        print_json(summary.to_json())
    else:
        if summary.submitted_only:
            typer.echo(f"submitted {total['n']} cells; `adapterx run` again or `adapterx report {folder}` collects them")
        n_ran = sum(o.status == "done" for o in summary.outcomes)
        typer.echo(f"{n_ran} cells ran, {len(summary.failed)} failed, {summary.n_done_before} were already done."
                   f" Results: {folder / 'results.sqlite'}; next: adapterx report {folder}")
        for o in summary.failed:
            typer.echo(f"failed {o.cell_hash} {o.label}: {o.error} (traceback: {folder / 'cells' / o.cell_hash / 'error.txt'})",
                       err=True)
    if summary.failed:
        raise typer.Exit(code=1)


def _print_plan(plan: dict[str, Any], recipe: Any) -> None:
    from rich.table import Table

    from adapterx.grid.recipe import chain_name
    from adapterx.results.export import fmt_seconds

    con = console()
    est = plan["estimate"]
    con.print(f"[bold]{plan['recipe']}[/bold] -> {plan['run_dir']}")
    con.print(f"  backbones {len(recipe.backbones)} x methods {len(recipe.methods)} x intermediates"
              f" {len(recipe.intermediates)} ({', '.join(chain_name(c) for c in recipe.intermediates)}) x targets"
              f" {len(recipe.targets)} x seeds {len(recipe.seeds)}")
    con.print(f"  {plan['n_cells']} cells: {plan['n_done']} done, {plan['n_todo']} to run")
    ex = plan.get("execution") or {}
    if ex:
        n = ex["processes_per_cell"]
        con.print(f"  executor {ex['executor']}, " + (f"{n} data-parallel processes per cell (accelerate launch)"
                                                      if n > 1 else "one process per cell"))
    con.print(f"  rough cost of the cells to run: {est['optimizer_steps']:,} optimizer steps"
              f" ({est['intermediate_trainings']} intermediate trainings), ~{fmt_seconds(est['cpu_seconds'])} on a"
              f" 2-core CPU or ~{fmt_seconds(est['gpu_seconds'])} on one GPU")
    con.print(f"  [dim]({est['assumptions']})[/dim]")
    cost = plan.get("cost")
    if cost:
        sec = cost["seconds"]
        cal = cost["calibration"]
        con.print(f"  measured estimate on this machine ({cal['device']}, {cal['threads']} threads, calibrated"
                  f" {cal['created']} at load {cal['load']:.1f}): ~{fmt_seconds(cost['total_seconds'])} =")
        for stage, label in (("intermediate", "intermediate training"), ("target", "target training"),
                             ("zero_shot", "zero-shot evaluation")):
            share = sec[stage] / cost["total_seconds"] if cost["total_seconds"] else 0.0
            con.print(f"    {label:22s} ~{fmt_seconds(sec[stage]):>10s}  {share:4.0%}")
        if cost["uncalibrated_cells"]:
            con.print(f"  [dim]{cost['uncalibrated_cells']} cells not counted: their backbone could not be calibrated here[/dim]")
    table = Table(show_header=True, header_style="bold")
    table.add_column("hash")
    table.add_column("cell")
    table.add_column("state")
    cells = plan["cells"]
    for c in cells[:_PLAN_ROWS]:
        table.add_row(c["hash"], c["label"], "done" if c["done"] else "to run")
    con.print(table)
    if len(cells) > _PLAN_ROWS:
        con.print(f"... {len(cells) - _PLAN_ROWS} more cells (--json lists all)")


@app.command("report")
@handle_errors
def report_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder written by `adapterx run` (holds results.sqlite)."),
    question: bool = typer.Option(False, "--question", help="Only the answer: did the intermediate task help"
                                  " low-resource languages, per target and method, next to full fine-tuning."),
    intermediate: str = typer.Option("stsb", "--intermediate", help="Chain that --question asks about (e.g. stsb, mnli)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write exports and plots (default RUN_DIR/report)."),
    n_boot: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples (0: no intervals)."),
    ci: float = typer.Option(0.95, "--ci", min=0.5, max=0.999, help="Interval level."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    low_threshold: Optional[int] = typer.Option(
        None, "--low-threshold", min=0, max=5, help="Joshi class <= this is low-resource (default: as evaluated, 2)."),
    formats: str = typer.Option("md,csv,json,tex", "--formats", help="Export formats, comma-separated."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG/SVG figures."),
    include_scored: Optional[list[Path]] = typer.Option(
        None, "--include-scored", help="A folder written by `adapterx score ... --per-example` (repeatable): that "
        "system's scores beside the run's conditions, as scored/<name>."),
    html: bool = typer.Option(False, "--html", help="Also write report.html: one self-contained page (the answer,"
                              " per-language tables and plots as inline SVG, provenance of every cell) that opens"
                              " from a file:// URL without the network."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (or the answer) as JSON instead of tables."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Tables per target and language, deltas against no intermediate task with seed std and bootstrap intervals,
    low/high-resource averages, the overall score and cost; written as Markdown, CSV, JSON, LaTeX and figures."""
    from adapterx.errors import ConfigError
    from adapterx.results.aggregate import ReportOptions, build_report
    from adapterx.results.export import FORMATS, report_tables, write_exports

    if not (run_dir / "results.sqlite").is_file() and not any(run_dir.glob("cells/*/record.json.gz")):
        raise ConfigError(f"{run_dir} holds no results.sqlite: give a folder written by `adapterx run`")
    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise ConfigError(f"--formats: unknown {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    out_dir = out or run_dir / "report"
    from adapterx.fsio import check_output_dir

    check_output_dir(out_dir, "--out")  # before the report is built: /dev/full or a path under a file fails first
    from adapterx.grid.executors import collect_slurm
    from adapterx.results.store import ResultsStore

    if (run_dir / "results.sqlite").is_file() or any(run_dir.glob("cells/*/record.json.gz")):
        # cells a `run --no-wait` left on Slurm: sacct's record and the failures of killed jobs, then ingested
        collect_slurm(run_dir, ResultsStore.for_run(run_dir), wait_s=5.0)
    report = build_report(run_dir, ReportOptions(n_boot=n_boot, ci=ci, seed=seed, low_resource_threshold=low_threshold,
                                                 include_scored=tuple(include_scored or ())))

    if question:
        from adapterx.fsio import atomic_write_json, atomic_write_text
        from adapterx.results.question import answer, render_text

        ans = answer(report, intermediate=intermediate)
        atomic_write_text(out_dir / "question.md", render_text(ans))
        atomic_write_json(out_dir / "question.json", ans, indent=2)
        if as_json:
            print_json(ans)
        else:
            _print_question(ans)
        return

    written = write_exports(report, out_dir, fmts)
    if not no_plots:
        from adapterx.results.plots import write_plots

        written += write_plots(report, out_dir)
    if html:
        from adapterx.results.html import write_html

        # the matplotlib figures (their SVG) ride along, collapsed, below the page's own inline plots
        figures = {p.stem: p.read_text(encoding="utf-8") for p in written if p.suffix == ".svg"}
        written.append(write_html(report, run_dir, out_dir, intermediate=intermediate, figures=figures))
    if as_json:
        print_json(report)
        return
    con = console()
    for table in report_tables(report):
        _render_table(con, table)
    for note in report["notes"]:
        con.print(f"[yellow]note:[/yellow] {note}")
    for f in report["failures"]:
        con.print(f"[red]failed cell[/red] {f['cell_hash']}: {f['error']}")
    typer.echo(f"wrote {len(written)} files to {out_dir}", err=True)


def _print_question(ans: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    from adapterx.results.question import ci_text, delta_text, split_rows

    con = console()
    level = int(round(100 * ans["ci"]))
    rows, empty = split_rows(ans)
    multi = len({r["backbone"] for r in rows}) > 1
    t = Table(title=ans["question"], title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (("target", "left"), ("method", "left"), (f"Δ {ans['group']}", "right"),
                         (f"{level}% CI", "right"), ("excl. 0", "center"), ("verdict", "left")):
        t.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    colour = {"helped": "green", "hurt": "red"}
    previous = None
    for r in rows:
        v = r["verdict"]
        t.add_row(
            r["target"] if r["target"] != previous else "", r["condition"] if multi else r["method"],
            delta_text(r["delta"]), ci_text(r["delta"]),
            "-" if r["excludes_zero"] is None else "yes" if r["excludes_zero"] else "no",
            f"[{colour[v]}]{v}[/{colour[v]}]" if v in colour else v,
            end_section=False,
        )
        previous = r["target"]
    con.print(t)
    con.print(f"Δ: {ans['group']}-resource average (Joshi class <= {ans['low_resource_threshold']}) against the same"
              f" method without intermediate task; mean ± std over seeds, {level}% paired bootstrap CI over test"
              " examples. Full fine-tuning first in each task.")
    con.print(ans["summary"])
    matrix = ans.get("by_group") or []
    if matrix:
        from adapterx.results.question import GROUP_TITLES, MATRIX_GROUPS, cell_text, groups_text

        m = Table(title=f"Δ by language group, {ans['intermediate']} against none ({level}% CI)", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
        m.add_column("target", no_wrap=True)
        m.add_column("method", no_wrap=True)
        for g in MATRIX_GROUPS:
            m.add_column(GROUP_TITLES[g], justify="right", no_wrap=True)
        for r in matrix:
            m.add_row(r["target"], r["method"], *(cell_text(r["groups"][g]) for g in MATRIX_GROUPS))
        con.print(m)
        con.print(f"[dim]{groups_text(ans)}[/dim]")
    if empty:
        con.print(f"[dim]No {ans['group']}-resource language in: {', '.join(empty)}.[/dim]")
    if ans["targets_without_condition"]:
        con.print(f"[dim]No {ans['intermediate']} condition for: {', '.join(ans['targets_without_condition'])}.[/dim]")
