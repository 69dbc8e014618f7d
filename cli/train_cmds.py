"""Commands that train and evaluate: train-intermediate, train-target, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import handle_errors, print_json
from cli.main import app
from cli.options import MODEL_HELP, OPTIONS, Context, Given, eval_files, method_spec, training_options
from cli.render import show_run



def _show_multitask(outcome, as_json: bool) -> None:  # noqa: ANN001
    from cli.render import summary_table

    run, metrics = outcome.run, outcome.metrics
    if as_json:
        print_json({"output": str(outcome.output), "run": run, "metrics": {k: v for k, v in metrics.items() if k != "loss_curve"}})
        return
    mt = run["multitask"]
    rows = [(f"{t} dev", "  ".join(f"{k} {v:.2f}" for k, v in metrics["dev"][t].items())
             + f"   (p={mt['probabilities'][t]:.2f}, {mt['steps_per_task'][t]} steps)") for t in mt["tasks"]]
    p = run["params"]
    rows += [("best step", f"{metrics['best_step']} of {metrics['steps']}"),
             ("trainable params", f"{p['trainable']:,} of {p['total']:,}"),
             ("time", f"{run['wall_time_s']:.1f} s"), ("output", str(outcome.output))]
    summary_table(f"{run['task']}: multi-task {run['method']['name']} on {run['backbone']['id']}", rows)


def _common_train(task: str, given: Given, *, method: str, model: str, adapter_config, reduction_factor, lora_rank,  # noqa: ANN001
                  lora_alpha, lora_dropout, lora_targets, sft_k, output, langs, save_predictions, xtreme_out, as_json,
                  quiet, resume, report_to, evaluate: bool, command: str) -> None:
    from adapterx.workflows.train import TrainRequest, train_run
    from cli.render import TrainProgress

    spec = method_spec(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets, sft_k)
    cfg = given.train_config(method, model)
    req = TrainRequest(task=task, method=spec, model=model, data=given.data_options(), train=cfg, output=output,
                       langs=langs, evaluate=evaluate, save_predictions=save_predictions, command=command,
                       resume=resume, report_to=report_to, xtreme_out=xtreme_out)
    with TrainProgress(enabled=not (as_json or quiet)) as prog:
        outcome = train_run(req, progress=prog)
    show_run(outcome, task, as_json)
    if xtreme_out and not as_json:
        typer.echo(f"XTREME submission files: {xtreme_out}", err=True)


@app.command("train-intermediate")
@handle_errors
@training_options(data=("data", "train_file", "dev_file", "data_revision"))
def train_intermediate(
    tasks: list[str] = typer.Argument(..., help="English intermediate task(s), e.g. stsb, mnli, squad (see `adapterx tasks`). Several: one shared module, a head per task."),
    multi_task: bool = OPTIONS["multi_task"], temperature: Optional[float] = OPTIONS["temperature"],
    method: str = OPTIONS["method"], model: str = OPTIONS["model"], output: Optional[Path] = OPTIONS["output"],
    adapter_config: Optional[str] = OPTIONS["adapter_config"], reduction_factor: Optional[int] = OPTIONS["reduction_factor"],
    lora_rank: Optional[int] = OPTIONS["lora_rank"], lora_alpha: Optional[int] = OPTIONS["lora_alpha"],
    lora_dropout: Optional[float] = OPTIONS["lora_dropout"], lora_targets: Optional[str] = OPTIONS["lora_targets"],
    sft_k: Optional[int] = OPTIONS["sft_k"], as_json: bool = OPTIONS["as_json"], quiet: bool = OPTIONS["quiet"],
    resume: bool = OPTIONS["resume"], report_to: Optional[str] = OPTIONS["report_to"],
    debug: bool = OPTIONS["debug"], given: Given = None,  # type: ignore[assignment] - filled by training_options
) -> None:
    """Train an English intermediate task (STS-B by default in the research question) as an adapter, LoRA or full
    fine-tune, select on English dev, and write a self-describing run directory."""
    from adapterx.tasks import get_task

    for n in tasks:
        get_task(n)  # unknown names fail before anything loads
    names = list(tasks)
    if multi_task:
        names = [m for n in names for m in (get_task(n).members or (n,))]
    several = ({"several" if len(names) > 1 else "one"}, f"one task ({', '.join(names)})")
    given.check(Context.of("train-intermediate", list(tasks), method=method, data=given.values.get("data"),
                           extra={"tasks": several}))
    if len(names) > 1:
        from adapterx.workflows.multitask import MultiTaskRequest, train_multitask
        from cli.render import TrainProgress

        from adapterx.errors import ConfigError

        if given.values["train_file"] or given.values["dev_file"]:
            raise ConfigError("--train-file/--dev-file name one task's files; with several tasks use --data DIR or hf")
        spec = method_spec(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets, sft_k)
        cfg = given.train_config(method, model)
        req = MultiTaskRequest(tasks=tuple(names), method=spec, model=model, data=given.data_options(), train=cfg,
                               temperature=1.0 if temperature is None else temperature, output=output,
                               report_to=report_to, resume=resume)
        with TrainProgress(enabled=not (as_json or quiet)) as prog:
            outcome = train_multitask(req, progress=prog)
        _show_multitask(outcome, as_json)
        return
    _common_train(
        names[0], given, method=method, model=model, adapter_config=adapter_config, reduction_factor=reduction_factor,
        lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets, sft_k=sft_k,
        output=output, langs="all", save_predictions=None, xtreme_out=None, as_json=as_json, quiet=quiet,
        resume=resume, report_to=report_to, evaluate=False, command="train-intermediate",
    )


@app.command("train-target")
@handle_errors
@training_options()
def train_target(
    task: str = typer.Argument(..., help="Target task: xnli, pawsx, xcopa, udpos, panx, xquad, mlqa, tydiqa."),
    method: str = OPTIONS["method"], model: str = OPTIONS["model"],
    output: Optional[Path] = OPTIONS["output"], langs: str = OPTIONS["langs"], save_predictions: Optional[Path] = OPTIONS["save_predictions"],
    xtreme_out: Optional[Path] = OPTIONS["xtreme_out"],
    adapter_config: Optional[str] = OPTIONS["adapter_config"], reduction_factor: Optional[int] = OPTIONS["reduction_factor"],
    lora_rank: Optional[int] = OPTIONS["lora_rank"], lora_alpha: Optional[int] = OPTIONS["lora_alpha"],
    lora_dropout: Optional[float] = OPTIONS["lora_dropout"], lora_targets: Optional[str] = OPTIONS["lora_targets"],
    sft_k: Optional[int] = OPTIONS["sft_k"], as_json: bool = OPTIONS["as_json"], quiet: bool = OPTIONS["quiet"],
    resume: bool = OPTIONS["resume"], report_to: Optional[str] = OPTIONS["report_to"],
    debug: bool = OPTIONS["debug"], given: Given = None,  # type: ignore[assignment] - filled by training_options
) -> None:
    """Train a target task on English, select on English dev only (strict zero-shot), then evaluate every language
    and print the per-language table with average, low-resource and high-resource averages."""
    from adapterx.tasks import get_task

    get_task(task)  # unknown names fail before anything loads
    given.check(Context.of("train-target", [task], method=method, data=given.values.get("data")))
    _common_train(
        task, given, method=method, model=model, adapter_config=adapter_config, reduction_factor=reduction_factor,
        lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets, sft_k=sft_k,
        output=output, langs=langs, save_predictions=save_predictions, xtreme_out=xtreme_out, as_json=as_json,
        quiet=quiet, resume=resume, report_to=report_to, evaluate=True, command="train-target",
    )


@app.command("eval")
@handle_errors
def eval_cmd(
    task: str = typer.Argument(..., help="Task to evaluate (a target task, or stsb-multi)."),
    module: str = typer.Option(..., "--module", help="A run directory, a module folder, a hub id, or 'none' (bare backbone, seeded fresh head)."),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP + " Default: the module's backbone."),
    data: Optional[str] = OPTIONS["data"], data_dir: Optional[Path] = OPTIONS["data_dir"],
    eval_file: Optional[list[str]] = OPTIONS["eval_file"], langs: str = OPTIONS["langs"],
    save_predictions: Optional[Path] = OPTIONS["save_predictions"], xtreme_out: Optional[Path] = OPTIONS["xtreme_out"],
    split: Optional[str] = typer.Option(None, "--split", help="The split to evaluate (default: the task's, e.g. dev for "
                                        "panx); files without gold labels are predicted without a score."),
    seed: int = OPTIONS["seed"],
    max_length: int = OPTIONS["max_length"], doc_stride: int = OPTIONS["doc_stride"],
    batch_size: int = typer.Option(32, "--batch-size"), bf16: bool = OPTIONS["bf16"], device: Optional[str] = OPTIONS["device"],
    max_examples: Optional[int] = typer.Option(None, "--max-examples", min=1, help="Only the first N examples of each language (a quick look; noted in the output)."),
    compare: Optional[list[str]] = typer.Option(None, "--compare", help="Also evaluate this module (or 'none') and print both side by side with the difference (repeatable)."),
    allow_backbone_mismatch: bool = OPTIONS["allow_backbone_mismatch"],
    data_revision: Optional[list[str]] = OPTIONS["data_revision"],
    as_json: bool = OPTIONS["as_json"], debug: bool = OPTIONS["debug"], compile: bool = OPTIONS["compile"],
) -> None:
    """Evaluate a module zero-shot on the task's languages (--langs all|low|high|sw,te)."""
    from adapterx.data.sources import DataOptions
    from adapterx.workflows.eval import EvalRequest, eval_run
    from adapterx.tasks import get_task
    from cli.render import eval_table

    get_task(task)
    opts = DataOptions(data=data, data_dir=data_dir, eval_files=eval_files(eval_file), data_revisions=tuple(data_revision or ()))
    req = EvalRequest(task=task, module=module, model=model, data=opts, langs=langs, seed=seed, max_length=max_length,
                      doc_stride=doc_stride, batch_size=batch_size, bf16=bf16, device=device, save_predictions=save_predictions,
                      max_examples=max_examples, split=split, xtreme_out=xtreme_out, compile=compile,
                      allow_backbone_mismatch=allow_backbone_mismatch)
    report = eval_run(req)
    ev = report.to_json()
    if compare:
        from dataclasses import replace

        # The compared module runs on the same backbone and data as the first (e.g. --compare none: the bare model).
        backbone = model or _backbone_of(module)
        evs = {module: ev}
        for other in compare:
            evs[other] = eval_run(replace(req, module=other, model=backbone, save_predictions=None,
                                          xtreme_out=None)).to_json()
        if as_json:
            print_json({"task": task, "metric": ev["metric"], "modules": evs})
        else:
            from cli.render import compare_table

            compare_table(evs)
        return
    if as_json:
        print_json(ev)
    elif ev["scores"] or not ev.get("unscored"):
        eval_table(ev)
    else:  # only files without gold labels (XTREME's test sets): nothing to score
        where = ", ".join(str(p) for p in (save_predictions, xtreme_out) if p)
        typer.echo(f"{task}: no score, the {report.split} files of {', '.join(ev['unscored'])} have no gold labels; "
                   f"predictions for {sum(ev['n_examples'].values())} examples written to {where}")


def _backbone_of(module: str) -> str | None:
    from adapterx.hub.resolve import resolve_module_ref

    _, run = resolve_module_ref(module)
    return (run.get("backbone") or {}).get("id")


@app.command("tasks")
@handle_errors
def tasks_cmd(as_json: bool = OPTIONS["as_json"], debug: bool = OPTIONS["debug"]) -> None:
    """List the registered tasks: kind, metric, languages, role."""
    from adapterx.tasks import get_task, task_names

    rows = []
    for name in task_names():
        t = get_task(name)
        role = "target" if t.target else "intermediate" if t.intermediate else "probe"
        rows.append({"name": name, "kind": t.kind, "metric": t.metric, "role": role, "languages": len(t.languages), "description": t.description})
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    from cli.common import console

    table = Table(title="adapterx tasks")
    for col in ("name", "kind", "metric", "role", "languages", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(*[str(r[c]) for c in ("name", "kind", "metric", "role", "languages", "description")])
    console().print(table)
