"""``adapterx export xtreme RUN_DIR... --to FOLDER``, ``adapterx export bundle RUN --to FOLDER`` and ``adapterx score PREDICTIONS --gold GOLD``: results in the
benchmark's own submission layout, and anyone's predictions scored with adapterx's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import DEBUG_HELP, handle_errors, print_json
from cli.main import app

export_app = typer.Typer(help="Write results in a community format (xtreme: XTREME(-R)'s submission folder) or as a"
                         " folder to check in (bundle: a grid's store, report and predictions).",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("xtreme")
@handle_errors
def export_xtreme_cmd(
    sources: list[Path] = typer.Argument(..., metavar="RUN_DIR...",
                                         help="Run directories or --save-predictions folders (<task>/<lang>.jsonl)."),
    to: Path = typer.Option(..., "--to", help="The submission folder: <task>/test-<lang>.<ext>, as evaluate.py reads."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Write the predictions of runs in XTREME(-R)'s layout (google-research/xtreme evaluate.py): every language of
    every task the runs evaluated, one line per example of the official test file. A language not predicted whole is
    refused with the count; nothing is written unless every file can be."""
    from adapterx.results.xtreme_export import export_xtreme

    summary = export_xtreme(sources, to)
    if as_json:
        print_json(summary.to_json())
        return
    for task, langs in summary.tasks.items():
        typer.echo(f"{task}: {len(langs)} language(s) ({', '.join(sorted(langs))})")
    for task, lack in summary.missing.items():
        typer.echo(f"note: {task} lacks {len(lack)} of the official languages ({', '.join(lack)}); evaluate.py needs "
                   "all of them", err=True)
    typer.echo(f"wrote {len(summary.files)} files to {summary.folder} (metadata: {summary.folder / 'adapterx_export.json'})")


@export_app.command("bundle")
@handle_errors
def export_bundle_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder written by `adapterx run` (holds results.sqlite)."),
    to: Path = typer.Option(..., "--to", help="The bundle folder, e.g. docs/results/minilm-xstilts."),
    max_predictions_mb: float = typer.Option(20.0, "--max-predictions-mb", min=0.0, help="Compressed predictions above"
                                             " this: only the lowest seed's are kept (sha256 of all are listed)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --to folder."),
    intermediate: str = typer.Option("stsb", "--intermediate", help="Chain that report.html and question.md ask about."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Write a grid's results as a folder to check in: a consistent copy of results.sqlite, report.html and the
    report's tables, question.md, every cell's predictions (deterministic gzip), MANIFEST.json (sha256 of every file)
    and a README. `adapterx report FOLDER` works on it. Written beside --to and renamed into place."""
    from adapterx.results.bundle import export_bundle

    summary = export_bundle(run_dir, to, max_predictions_mb=max_predictions_mb, overwrite=overwrite,
                            intermediate=intermediate)
    if as_json:
        print_json(summary.to_json())
        return
    kept = {"all": "all predictions", "lowest_seed": "the lowest seed's predictions (the others: sha256 only)",
            "none": "no predictions (the recipe did not save them)"}[summary.predictions]
    typer.echo(f"wrote {len(summary.files)} files to {summary.folder}: {summary.n_cells} cells, {kept},"
               f" {summary.predictions_bytes / 1e6:.2f} of {summary.predictions_bytes_all / 1e6:.2f} MB compressed")


@app.command("score")
@handle_errors
def score_cmd(
    predictions: Path = typer.Argument(..., help="A predictions folder: XTREME's layout or adapterx's <task>/<lang>.jsonl."),
    gold: Path = typer.Option(..., "--gold", help="A gold folder in XTREME's layout, or the data folder adapterx "
                              "reads (--data-dir)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="xtreme or adapterx (default: detected)."),
    task: Optional[list[str]] = typer.Option(None, "--task", help="Only this task (repeatable; default: every task found)."),
    split: Optional[str] = typer.Option(None, "--split", help="Data-folder gold: the split (default: the predictions' "
                                        "own, test for XTREME's layout)."),
    per_example: bool = typer.Option(False, "--per-example", help="Write scored.json and per_example.json (the "
                                     "statistics report bootstraps) to --out, for `report --include-scored`."),
    out: Optional[Path] = typer.Option(None, "--out", help="--per-example: the folder (default PREDICTIONS/scored)."),
    name: Optional[str] = typer.Option(None, "--name", help="--per-example: the system's name in reports."),
    low_threshold: int = typer.Option(2, "--low-threshold", min=0, max=5, help="Joshi class <= this is low-resource."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Score a predictions folder against gold with adapterx's metrics (the functions `eval` uses; MLQA with its
    per-language normalisation): per-language tables with averages and low-resource averages. Every problem (a
    missing language, a wrong count, an unparsable file, ids not in the gold) is one line naming the file, exit 2."""
    from adapterx.evaluate.score import ScoreRequest, score, write_scored

    req = ScoreRequest(predictions=predictions, gold=gold, format=fmt, tasks=tuple(task or ()), split=split,
                       low_threshold=low_threshold)
    if per_example:
        from adapterx.fsio import check_output_dir

        check_output_dir(out or predictions / "scored", "--out")  # before scoring: a bad folder costs nothing
    scored = score(req)
    written = write_scored(scored, out or predictions / "scored", req, name) if per_example else None
    if as_json:
        print_json({s.task: s.to_json(low_threshold) for s in scored})
    else:
        from cli.render import eval_table

        for s in scored:
            eval_table(s.to_json(low_threshold), title=f"{s.task}: {s.report.metric} (0-100) of {predictions}")
    if written is not None:
        typer.echo(f"wrote {written / 'scored.json'} and {written / 'per_example.json'}", err=True)
