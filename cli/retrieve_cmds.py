"""``adapterx retrieve``: Tatoeba / BUCC sentence retrieval with a module active (or none), and the layer sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cli.common import DEBUG_HELP, handle_errors, print_json
from cli.main import app

MODEL_HELP = (
    "Backbone: a Hub id, a local model folder, or 'tiny' (built-in). Default: the module's backbone, "
    "xlm-roberta-base for --module none."
)


@app.command("retrieve")
@handle_errors
def retrieve_cmd(
    task: str = typer.Argument(..., help="tatoeba (top-1 accuracy) or bucc (margin mining F1)."),
    module: str = typer.Option(
        ..., "--module", help="A run directory, a module folder, a hub id, or 'none' (the bare backbone)."
    ),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
    data: Optional[str] = typer.Option(
        None, "--data", help="'synthetic' (default with the built-in models tiny and minilm, without --data-dir) or a data folder."
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="XTREME-style folder: DIR, DIR/tatoeba (or DIR/tatoeba/v1) and DIR/bucc2018 (or DIR/bucc/bucc2018) are searched."
    ),
    langs: str = typer.Option("all", "--langs", help="all, low, high, or a list like sw,te."),
    layer: Optional[int] = typer.Option(
        None, "--layer",
        help="hidden_states index (0 = embeddings, -1 = last). Default: X-STILTs' layer 14 of 24, scaled to the depth "
             "(7 for 12 layers). XTREME's BUCC setting: --layer 8 --pooling cls.",
    ),
    pooling: str = typer.Option("mean", "--pooling", help="mean (over all real tokens, XTREME) or cls."),
    direction: str = typer.Option(
        "tgt2src", "--direction",
        help="Tatoeba: tgt2src (English queries search the other language, XTREME/jiant) or src2tgt.",
    ),
    split: str = typer.Option("dev", "--split", help="BUCC split (XTREME's dev = BUCC's sample set, with gold)."),
    threshold_from: Optional[str] = typer.Option(
        None, "--threshold-from",
        help="BUCC: the split whose gold picks the mining threshold (default: the split itself; dev where it has no "
             "gold, as the official test protocol). A split without gold is mined, not scored.",
    ),
    k: int = typer.Option(4, "--k", help="BUCC: margin neighbourhood size."),
    mode: str = typer.Option("max", "--mining", help="BUCC mining: max (XTREME), intersect, fwd, bwd."),
    layer_sweep: bool = typer.Option(
        False, "--layer-sweep",
        help="Evaluate every layer, for the module and the bare backbone: table and plot of where the module helps.",
    ),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="--layer-sweep: skip the bare-backbone sweep."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="--layer-sweep: PNG path (default DIR/<task>/layer_sweep.png with --save-predictions)."
    ),
    save_predictions: Optional[Path] = typer.Option(
        None, "--save-predictions", help="Write DIR/<task>/<lang>.jsonl predictions."
    ),
    xtreme_out: Optional[Path] = typer.Option(
        None, "--xtreme-out", help="Also write the predictions as XTREME's submission folder (DIR/tatoeba, DIR/bucc2018)."
    ),
    max_sentences: Optional[int] = typer.Option(
        None, "--max-sentences", help="Subsample each side to N sentences (Tatoeba: first N; BUCC: gold pairs kept)."
    ),
    synthetic_size: Optional[int] = typer.Option(
        None, "--synthetic-size", help="Synthetic data: pairs per language (Tatoeba 500, BUCC 200 gold pairs)."
    ),
    seed: int = typer.Option(0, "--seed", help="Synthetic data and BUCC subsampling seed."),
    batch_size: int = typer.Option(64, "--batch-size"),
    max_length: int = typer.Option(512, "--max-length", help="Tokens per sentence (XTREME: 512)."),
    skip_special: bool = typer.Option(False, "--skip-special-tokens", help="Mean pooling without <s> and </s>."),
    use_faiss: bool = typer.Option(False, "--faiss", help="Search with faiss (IndexFlatIP, exact) instead of torch."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast where the hardware supports it."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: cuda when present)."),
    allow_backbone_mismatch: bool = typer.Option(
        False, "--allow-backbone-mismatch", help="Use a module trained on other backbone weights of the same shape."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Zero-shot sentence retrieval without training data: embed both sides with the encoder as the module leaves it
    (adapter or LoRA active, or fine-tuned weights; 'none' = bare backbone), pool one layer, and score every language
    (Tatoeba top-1 accuracy, BUCC F1). --layer-sweep scores every layer and shows where the module helps."""
    from adapterx.engine.distributed import refuse

    refuse("adapterx retrieve")  # evaluation only: nothing to split across processes
    from adapterx.fsio import check_output_dir, check_output_file
    from adapterx.retrieval.run import RetrieveRequest, SweepResult, run_request

    for option, folder in (("--save-predictions", save_predictions), ("--xtreme-out", xtreme_out)):
        if folder is not None:  # before any encoding: a bad path costs nothing
            check_output_dir(folder, option)
    if plot is not None:
        check_output_file(plot, "--plot")

    req = RetrieveRequest(
        task=task.lower(), module=module, model=model, data=data, data_dir=data_dir, langs=langs, layer=layer,
        pooling=pooling, direction=direction, split=split, threshold_from=threshold_from, k=k, mode=mode,
        batch_size=batch_size, xtreme_out=xtreme_out,
        max_length=max_length, skip_special_tokens=skip_special, device=device, bf16=bf16,
        backend="faiss" if use_faiss else "torch", max_sentences=max_sentences, synthetic_size=synthetic_size,
        seed=seed, save_predictions=save_predictions, sweep=layer_sweep, baseline=not no_baseline, plot=plot,
        allow_backbone_mismatch=allow_backbone_mismatch,
    )
    out = run_request(req, progress=None if (as_json or quiet) else _progress)
    if isinstance(out, SweepResult):
        if as_json:
            print_json(out.to_json())
        else:
            _sweep_table(out)
        return
    ev = out.to_json()
    if as_json:
        print_json(ev)
        return
    from cli.render import eval_table

    if not ev["scores"] and ev.get("unscored"):  # BUCC test: mined with another split's threshold, no gold
        typer.echo(f"{ev['task']}: no score, split {req.split} has no gold for {', '.join(ev['unscored'])}; mined pairs "
                   f"written ({ev['mining']['threshold']})")
        return
    where = f"layer {ev['layer']} of {ev['num_layers']}, {ev['pooling']} pooling"
    how = f", {ev['direction']}" if ev.get("direction") else f", {ev['mining']['mode']} mining k={ev['mining']['k']}"
    eval_table(ev, title=f"{ev['task']}: {ev['metric']} (0-100), module {ev['module']} ({where}{how})")
    for note in ev.get("notes", []):
        typer.echo(f"note: {note}", err=True)


def _progress(ev: dict[str, Any]) -> None:
    if ev.get("phase") == "eval":
        who = "" if ev.get("role") == "module" else f" [{ev.get('role')}]"
        scores = ev.get("scores")
        txt = ("all layers done" if scores is None else "mined, no gold to score" if not scores
               else "  ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        typer.echo(f"{ev['lang']}{who}: {txt}", err=True)


def _sweep_table(sweep) -> None:  # noqa: ANN001 - adapterx.retrieval.run.SweepResult
    from rich.table import Table

    from cli.common import console
    from cli.render import fmt

    con = console()
    first = sweep.module[sweep.layers[0]]
    langs = list(first.langs)
    per_lang = len(langs) <= 8
    name = first.module if first.module == "none" else f"{first.method}:{Path(first.module).name}"
    table = Table(title=f"{sweep.task}: {sweep.metric} (0-100) per layer, {first.pooling} pooling, module {name}")
    table.add_column("layer", justify="right")
    if per_lang:
        for lang in langs:
            table.add_column(lang, justify="right")
    for col in ("average", "low", "high"):
        table.add_column(col, justify="right")
    if sweep.baseline:
        table.add_column("none avg", justify="right")
        table.add_column("delta", justify="right")
    avg, low, high = (sweep.average("module", k) for k in ("average", "low_resource_average", "high_resource_average"))
    base = sweep.average("baseline") if sweep.baseline else {}
    delta = sweep.delta() if sweep.baseline else {}
    for layer in sweep.layers:
        mark = "*" if layer == sweep.default_layer else ""
        row = [f"{layer}{mark}"]
        if per_lang:
            row += [fmt(sweep.module[layer].langs[lang].scores[sweep.metric]) for lang in langs]
        row += [fmt(avg[layer]), fmt(low[layer]), fmt(high[layer])]
        if sweep.baseline:
            d = delta[layer]
            style = "" if d is None else ("[green]" if d > 0 else "[red]" if d < 0 else "")
            row += [fmt(base[layer]), f"{style}{'-' if d is None else f'{d:+.2f}'}"]
        table.add_row(*row)
    con.print(table)
    con.print(f"* selected layer ({sweep.default_layer}); best layer: module {sweep.best_layer('module')}"
              + (f", none {sweep.best_layer('baseline')}" if sweep.baseline else ""))
    if sweep.baseline:
        helps = sweep.helps()
        con.print(f"the module helps at layers: {', '.join(map(str, helps)) if helps else 'none'}")
    if sweep.plot:
        con.print(f"plot: {sweep.plot}")
    else:
        con.print("no plot written: pass --plot PATH or --save-predictions DIR")
