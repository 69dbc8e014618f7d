"""Commands that train and evaluate: train-intermediate, train-target, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import DEBUG_HELP, handle_errors, print_json
from cli.main import app

MODEL_HELP = "Backbone: a Hub id (xlm-roberta-base, xlm-roberta-large), a local model folder, or 'tiny' (built-in)."
DATA_HELP = "Training data: 'hf' (the task's Hugging Face data set), 'synthetic', a file, or an XTREME-style folder. Default: hf; synthetic with --model tiny."


def _method(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets):  # noqa: ANN001, ANN202
    from adapterx.methods.spec import method_from_options

    return method_from_options(
        method, adapter_config=adapter_config, reduction_factor=reduction_factor, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets,
    )


def _train_config(**kw):  # noqa: ANN003, ANN202
    from pydantic import ValidationError

    from adapterx.errors import ConfigError
    from adapterx.train import TrainConfig

    method, model = kw.pop("_method"), kw.pop("_model")
    if kw.get("lr") is None:
        # Real backbones: the usual 1e-4 for adapters/LoRA, 2e-5 for full fine-tuning. The tiny model is random, not
        # pretrained: measured on synthetic STS-B (10 epochs), 1e-4 barely moves it, 3e-3 / 1e-3 learn.
        if model == "tiny":
            kw["lr"] = 1e-3 if method == "full" else 3e-3
        else:
            kw["lr"] = 2e-5 if method == "full" else 1e-4
    try:
        return TrainConfig(**{k: v for k, v in kw.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{str(err['loc'][-1]).replace('_', '-')}: {err['msg']}") from None


def _eval_files(items: list[str] | None):  # noqa: ANN202
    from adapterx.errors import ConfigError

    out = []
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--eval-file {it!r}: use LANG=PATH, e.g. --eval-file sw=dev-sw.tsv")
        lang, path = it.split("=", 1)
        out.append((lang.strip(), Path(path)))
    return tuple(out)


def _show_run(outcome, task_name: str, as_json: bool) -> None:  # noqa: ANN001
    from cli.render import eval_table, fusion_table, summary_table

    run, metrics = outcome.run, outcome.metrics
    if as_json:
        print_json({"output": str(outcome.output), "run": run, "metrics": {k: v for k, v in metrics.items() if k != "loss_curve"}})
        return
    dev = "  ".join(f"{k} {v:.2f}" for k, v in metrics["dev"].items())
    p = run["params"]
    summary_table(
        f"{task_name}: {run['method']['name']} on {run['backbone']['id']}",
        [
            ("English dev (best)", f"{dev}  (step {metrics['best_step']} of {metrics['steps']})"),
            ("trainable params", f"{p['trainable']:,} of {p['total']:,} ({100 * p['trainable'] / max(p['total'], 1):.2f}%)"),
            ("data", f"{run['data']['source']} ({run['data']['train_size']} train, {run['data']['dev_size']} dev)"),
            ("time", f"{run['wall_time_s']:.1f} s ({metrics['examples_per_s']:.0f} train examples/s)"),
            ("seed", str(run["seed"])),
            ("output", str(outcome.output)),
        ],
    )
    if "eval" in metrics:
        eval_table(metrics["eval"][task_name])
    if metrics.get("fusion_attention"):
        fusion_table(metrics["fusion_attention"])
        print(f"fusion attention plot: {outcome.output / 'fusion_attention.png'}")


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


def _common_train(
    task: str, *, method, model, data, train_file, dev_file, data_dir, eval_file, output, langs, save_predictions,
    seed, lr, batch_size, grad_accum, epochs, max_steps, eval_steps, max_length, doc_stride, warmup_ratio, bf16,
    device, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets, as_json, evaluate,
    command, quiet, resume=False, gradient_checkpointing=False, report_to=None,
):  # noqa: ANN001, ANN202
    from adapterx.data.sources import DataOptions
    from adapterx.pipeline import TrainRequest, train_run
    from adapterx.tasks import get_task
    from cli.render import TrainProgress

    get_task(task)  # unknown names fail before anything loads
    spec = _method(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets)
    cfg = _train_config(
        _method=method, _model=model, lr=lr, batch_size=batch_size, grad_accum=grad_accum, epochs=epochs, max_steps=max_steps,
        eval_steps=eval_steps, max_length=max_length, doc_stride=doc_stride, warmup_ratio=warmup_ratio, seed=seed,
        bf16=bf16, device=device, gradient_checkpointing=gradient_checkpointing,
    )
    opts = DataOptions(data=data, data_dir=data_dir, train_file=train_file, dev_file=dev_file, eval_files=_eval_files(eval_file))
    req = TrainRequest(task=task, method=spec, model=model, data=opts, train=cfg, output=output, langs=langs,
                       evaluate=evaluate, save_predictions=save_predictions, command=command, resume=resume,
                       report_to=report_to)
    with TrainProgress(enabled=not (as_json or quiet)) as prog:
        outcome = train_run(req, progress=prog)
    _show_run(outcome, task, as_json)


def _options():  # noqa: ANN202 - the options shared by the training commands, declared once
    return dict(
        method=typer.Option("adapter", "--method", "-m", help="adapter (bottleneck, adapters library), lora (peft) or full (fine-tune everything)."),
        model=typer.Option("xlm-roberta-base", "--model", help=MODEL_HELP),
        data=typer.Option(None, "--data", help=DATA_HELP),
        train_file=typer.Option(None, "--train-file", help="English training file in the task's official format."),
        dev_file=typer.Option(None, "--dev-file", help="English dev file (checkpoint selection)."),
        data_dir=typer.Option(None, "--data-dir", help="XTREME-style download folder for the evaluation languages."),
        eval_file=typer.Option(None, "--eval-file", help="LANG=PATH evaluation file; repeat for more languages."),
        output=typer.Option(None, "--output", "-o", help="Run directory (default runs/<task>-<method>-<timestamp>)."),
        langs=typer.Option("all", "--langs", help="Zero-shot languages: all, low, high, or a list like sw,te."),
        save_predictions=typer.Option(None, "--save-predictions", help="Also write DIR/<task>/<lang>.jsonl predictions."),
        seed=typer.Option(42, "--seed"),
        lr=typer.Option(None, "--lr", help="Peak learning rate (default 1e-4 adapter/LoRA, 2e-5 full; tiny: 3e-3, 1e-3)."),
        batch_size=typer.Option(16, "--batch-size"),
        grad_accum=typer.Option(1, "--grad-accum", help="Gradient accumulation steps."),
        epochs=typer.Option(3.0, "--epochs"),
        max_steps=typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
        eval_steps=typer.Option(None, "--eval-steps", help="Evaluate on English dev every N steps (default: each epoch)."),
        max_length=typer.Option(128, "--max-length", help="Tokens per input (QA: per window)."),
        doc_stride=typer.Option(64, "--doc-stride", help="QA: token overlap between windows."),
        warmup_ratio=typer.Option(0.1, "--warmup-ratio"),
        bf16=typer.Option(False, "--bf16", help="bf16 autocast where the hardware supports it."),
        report_to=typer.Option(None, "--report-to", help="Experiment tracker: tensorboard, wandb or mlflow (logs in RUN/tracking/)."),
        gradient_checkpointing=typer.Option(False, "--gradient-checkpointing", help="Recompute activations in backward: less memory, ~1.7x slower steps."),
        device=typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
        adapter_config=typer.Option(None, "--adapter-config", help="adapter: seq_bn (pfeiffer, default) or houlsby (double_seq_bn)."),
        reduction_factor=typer.Option(None, "--reduction-factor", help="adapter: hidden size / bottleneck size (default 16)."),
        lora_rank=typer.Option(None, "--lora-rank", help="lora: rank r (default 8)."),
        lora_alpha=typer.Option(None, "--lora-alpha", help="lora: alpha (default 16)."),
        lora_dropout=typer.Option(None, "--lora-dropout", help="lora: dropout (default 0.1)."),
        lora_targets=typer.Option(None, "--lora-targets", help="lora: comma-separated module names (default query,value)."),
        as_json=typer.Option(False, "--json", help="Print one JSON object instead of tables."),
        quiet=typer.Option(False, "--quiet", "-q", help="No progress bar."),
        resume=typer.Option(False, "--resume", help="Continue a killed run from the checkpoint beside --output (same command, same --output)."),
        debug=typer.Option(False, "--debug", help=DEBUG_HELP),
    )


_O = _options()


@app.command("train-intermediate")
@handle_errors
def train_intermediate(
    tasks: list[str] = typer.Argument(..., help="English intermediate task(s), e.g. stsb, mnli, squad (see `adapterx tasks`). Several: one shared module, a head per task."),
    multi_task: bool = typer.Option(False, "--multi-task", help="sts-all: train its members as separate heads of one module (default: their union as one task)."),
    temperature: float = typer.Option(1.0, "--temperature", help="Multi-task: sample tasks with p ∝ size^(1/T) (1 = by size; larger = more uniform)."),
    method: str = _O["method"], model: str = _O["model"], data: Optional[str] = _O["data"],
    train_file: Optional[Path] = _O["train_file"], dev_file: Optional[Path] = _O["dev_file"],
    output: Optional[Path] = _O["output"], seed: int = _O["seed"], lr: Optional[float] = _O["lr"],
    batch_size: int = _O["batch_size"], grad_accum: int = _O["grad_accum"], epochs: float = _O["epochs"],
    max_steps: Optional[int] = _O["max_steps"], eval_steps: Optional[int] = _O["eval_steps"],
    max_length: int = _O["max_length"], doc_stride: int = _O["doc_stride"], warmup_ratio: float = _O["warmup_ratio"],
    bf16: bool = _O["bf16"], device: Optional[str] = _O["device"], adapter_config: Optional[str] = _O["adapter_config"],
    reduction_factor: Optional[int] = _O["reduction_factor"], lora_rank: Optional[int] = _O["lora_rank"],
    lora_alpha: Optional[int] = _O["lora_alpha"], lora_dropout: Optional[float] = _O["lora_dropout"],
    lora_targets: Optional[str] = _O["lora_targets"], as_json: bool = _O["as_json"], quiet: bool = _O["quiet"],
    resume: bool = _O["resume"], gradient_checkpointing: bool = _O["gradient_checkpointing"],
    report_to: Optional[str] = _O["report_to"], debug: bool = _O["debug"],
) -> None:
    """Train an English intermediate task (STS-B by default in the research question) as an adapter, LoRA or full
    fine-tune, select on English dev, and write a self-describing run directory."""
    from adapterx.tasks import get_task

    names = list(tasks)
    if multi_task:
        names = [m for n in names for m in (get_task(n).members or (n,))]
    if len(names) > 1:
        from adapterx.data.sources import DataOptions
        from adapterx.multitask import MultiTaskRequest, train_multitask
        from cli.render import TrainProgress

        for n in names:
            get_task(n)
        from adapterx.errors import ConfigError

        if train_file or dev_file:
            raise ConfigError("--train-file/--dev-file name one task's files; with several tasks use --data DIR or hf")
        unsupported = [flag for flag, on in (("--resume", resume), ("--gradient-checkpointing", gradient_checkpointing),
                                             ("--grad-accum", grad_accum > 1)) if on]
        if unsupported:  # the multi-task loop has none of these yet: refuse rather than ignore them
            raise ConfigError(f"multi-task training does not support {', '.join(unsupported)} yet: drop it, or train"
                              " the tasks one after another (adapterx stack)")
        spec = _method(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets)
        cfg = _train_config(_method=method, _model=model, lr=lr, batch_size=batch_size, grad_accum=grad_accum, epochs=epochs,
                            max_steps=max_steps, eval_steps=eval_steps, max_length=max_length, doc_stride=doc_stride,
                            warmup_ratio=warmup_ratio, seed=seed, bf16=bf16, device=device)
        req = MultiTaskRequest(tasks=tuple(names), method=spec, model=model, data=DataOptions(data=data), train=cfg,
                               temperature=temperature, output=output, report_to=report_to)
        with TrainProgress(enabled=not (as_json or quiet)) as prog:
            outcome = train_multitask(req, progress=prog)
        _show_multitask(outcome, as_json)
        return
    _common_train(
        names[0], method=method, model=model, data=data, train_file=train_file, dev_file=dev_file, data_dir=None,
        eval_file=None, output=output, langs="all", save_predictions=None, seed=seed, lr=lr, batch_size=batch_size,
        grad_accum=grad_accum, epochs=epochs, max_steps=max_steps, eval_steps=eval_steps, max_length=max_length,
        doc_stride=doc_stride, warmup_ratio=warmup_ratio, bf16=bf16, device=device, adapter_config=adapter_config,
        reduction_factor=reduction_factor, lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_targets=lora_targets, as_json=as_json, evaluate=False, command="train-intermediate", quiet=quiet,
        resume=resume, gradient_checkpointing=gradient_checkpointing, report_to=report_to,
    )


@app.command("train-target")
@handle_errors
def train_target(
    task: str = typer.Argument(..., help="Target task: xnli, pawsx, xcopa, udpos, panx, xquad, mlqa, tydiqa."),
    method: str = _O["method"], model: str = _O["model"], data: Optional[str] = _O["data"],
    train_file: Optional[Path] = _O["train_file"], dev_file: Optional[Path] = _O["dev_file"],
    data_dir: Optional[Path] = _O["data_dir"], eval_file: Optional[list[str]] = _O["eval_file"],
    output: Optional[Path] = _O["output"], langs: str = _O["langs"], save_predictions: Optional[Path] = _O["save_predictions"],
    seed: int = _O["seed"], lr: Optional[float] = _O["lr"], batch_size: int = _O["batch_size"],
    grad_accum: int = _O["grad_accum"], epochs: float = _O["epochs"], max_steps: Optional[int] = _O["max_steps"],
    eval_steps: Optional[int] = _O["eval_steps"], max_length: int = _O["max_length"], doc_stride: int = _O["doc_stride"],
    warmup_ratio: float = _O["warmup_ratio"], bf16: bool = _O["bf16"], device: Optional[str] = _O["device"],
    adapter_config: Optional[str] = _O["adapter_config"], reduction_factor: Optional[int] = _O["reduction_factor"],
    lora_rank: Optional[int] = _O["lora_rank"], lora_alpha: Optional[int] = _O["lora_alpha"],
    lora_dropout: Optional[float] = _O["lora_dropout"], lora_targets: Optional[str] = _O["lora_targets"],
    as_json: bool = _O["as_json"], quiet: bool = _O["quiet"], resume: bool = _O["resume"],
    gradient_checkpointing: bool = _O["gradient_checkpointing"], report_to: Optional[str] = _O["report_to"],
    debug: bool = _O["debug"],
) -> None:
    """Train a target task on English, select on English dev only (strict zero-shot), then evaluate every language
    and print the per-language table with average, low-resource and high-resource averages."""
    _common_train(
        task, method=method, model=model, data=data, train_file=train_file, dev_file=dev_file, data_dir=data_dir,
        eval_file=eval_file, output=output, langs=langs, save_predictions=save_predictions, seed=seed, lr=lr,
        batch_size=batch_size, grad_accum=grad_accum, epochs=epochs, max_steps=max_steps, eval_steps=eval_steps,
        max_length=max_length, doc_stride=doc_stride, warmup_ratio=warmup_ratio, bf16=bf16, device=device,
        adapter_config=adapter_config, reduction_factor=reduction_factor, lora_rank=lora_rank, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_targets=lora_targets, as_json=as_json, evaluate=True, command="train-target",
        quiet=quiet, resume=resume, gradient_checkpointing=gradient_checkpointing, report_to=report_to,
    )


@app.command("eval")
@handle_errors
def eval_cmd(
    task: str = typer.Argument(..., help="Task to evaluate (a target task, or stsb-multi)."),
    module: str = typer.Option(..., "--module", help="A run directory, a module folder, a hub id, or 'none' (bare backbone, seeded fresh head)."),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP + " Default: the module's backbone."),
    data: Optional[str] = _O["data"], data_dir: Optional[Path] = _O["data_dir"],
    eval_file: Optional[list[str]] = _O["eval_file"], langs: str = _O["langs"],
    save_predictions: Optional[Path] = _O["save_predictions"], seed: int = _O["seed"],
    max_length: int = _O["max_length"], doc_stride: int = _O["doc_stride"],
    batch_size: int = typer.Option(32, "--batch-size"), bf16: bool = _O["bf16"], device: Optional[str] = _O["device"],
    max_examples: Optional[int] = typer.Option(None, "--max-examples", min=1, help="Only the first N examples of each language (a quick look; noted in the output)."),
    compare: Optional[list[str]] = typer.Option(None, "--compare", help="Also evaluate this module (or 'none') and print both side by side with the difference (repeatable)."),
    as_json: bool = _O["as_json"], debug: bool = _O["debug"],
) -> None:
    """Evaluate a module zero-shot on the task's languages (--langs all|low|high|sw,te)."""
    from adapterx.data.sources import DataOptions
    from adapterx.pipeline import EvalRequest, eval_run
    from adapterx.tasks import get_task
    from cli.render import eval_table

    get_task(task)
    opts = DataOptions(data=data, data_dir=data_dir, eval_files=_eval_files(eval_file))
    req = EvalRequest(task=task, module=module, model=model, data=opts, langs=langs, seed=seed, max_length=max_length,
                      doc_stride=doc_stride, batch_size=batch_size, bf16=bf16, device=device, save_predictions=save_predictions,
                      max_examples=max_examples)
    report = eval_run(req)
    ev = report.to_json()
    if compare:
        from dataclasses import replace

        # The compared module runs on the same backbone and data as the first (e.g. --compare none: the bare model).
        backbone = model or _backbone_of(module)
        evs = {module: ev}
        for other in compare:
            evs[other] = eval_run(replace(req, module=other, model=backbone, save_predictions=None)).to_json()
        if as_json:
            print_json({"task": task, "metric": ev["metric"], "modules": evs})
        else:
            from cli.render import compare_table

            compare_table(evs)
        return
    if as_json:
        print_json(ev)
    else:
        eval_table(ev)


def _backbone_of(module: str) -> str | None:
    from adapterx.pipeline import _resolve_module

    _, run = _resolve_module(module)
    return (run.get("backbone") or {}).get("id")


@app.command("tasks")
@handle_errors
def tasks_cmd(as_json: bool = _O["as_json"], debug: bool = _O["debug"]) -> None:
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
