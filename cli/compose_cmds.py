"""Commands that compose modules: stack and fuse."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import handle_errors
from cli.main import app
from cli.options import OPTIONS, Context, Given, declare, method_spec, training_options
from cli.render import sft_rows, show_run


def _modules(items: list[str] | None) -> dict[str, str]:
    from adapterx.errors import ConfigError

    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--module {it!r}: use TASK=REF, e.g. --module stsb=runs/stsb-adapter-...")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _known_tasks(names: list[str]) -> list[str]:
    """The task names among ``names`` (the others are module references: nothing of theirs trains here)."""
    from adapterx.tasks import task_names

    known = set(task_names())
    return [n for n in names if n in known]


def _run(given: Given, *, tasks: list[str], target: str, fuse: bool, with_target_adapter: bool = False, module,  # noqa: ANN001
         lora_mode: str | None = None, intermediate_steps: int | None, method: str, model: str, output, langs: str,
         save_predictions, reduction_factor, lora_rank=None, as_json: bool, quiet: bool, lang_adapters=None,
         resume: bool = False, xtreme_out=None, sft_k=None, allow_backbone_mismatch: bool = False) -> None:
    from adapterx.tasks import get_task
    from adapterx.workflows.train import TrainRequest
    from adapterx.workflows.stack import StackRequest, stack_run
    from cli.render import TrainProgress

    get_task(target)
    given.check(Context.of("fuse" if fuse else "stack", [*_known_tasks(list(tasks)), target], method=method,
                           data=given.values.get("data")))
    if xtreme_out:  # before any intermediate trains
        from adapterx.results.xtreme_export import check_exportable

        check_exportable(target)
    spec = method_spec(method, None, reduction_factor, lora_rank, None, None, None, sft_k)
    cfg = given.train_config(method, model)
    inter_cfg = cfg.model_copy(update={"max_steps": intermediate_steps}) if intermediate_steps else None
    from adapterx.workflows.language import parse_lang_adapters

    treq = TrainRequest(task=target, method=spec, model=model, data=given.data_options(), train=cfg, output=output,
                        langs=langs, save_predictions=save_predictions, resume=resume, xtreme_out=xtreme_out)
    req = StackRequest(intermediates=tuple(tasks), target=treq, modules=_modules(module), lora_mode=lora_mode, fuse=fuse,
                       with_target_adapter=with_target_adapter, intermediate_train=inter_cfg,
                       lang_adapters=parse_lang_adapters(lang_adapters), allow_backbone_mismatch=allow_backbone_mismatch)
    with TrainProgress(enabled=not (as_json or quiet)) as prog:
        outcome = stack_run(req, progress=prog)
    show_run(outcome, target, as_json)


MODULE_OPT = typer.Option(None, "--module", help="TASK=REF: use this run dir / module folder / hub id for an intermediate task (repeatable). Without it, the intermediate is trained first.")
LANG_OPT = typer.Option(None, "--lang-adapters", help="MAD-X language adapters (or, with --method sft, language SFTs) en=RUN,sw=RUN,... (from train-language): en's trains under the target; each evaluation language uses its own where given.")
COMPOSE_DATA = ("data", "data_dir", "eval_file", "data_revision")


@app.command("stack")
@handle_errors
@training_options(data=COMPOSE_DATA)
def stack_cmd(
    tasks: list[str] = typer.Argument(..., help="Intermediate task(s) or module references, then the target task: stsb tydiqa; stsb mnli tydiqa."),
    module: Optional[list[str]] = MODULE_OPT, lora_mode: Optional[str] = OPTIONS["lora_mode"],
    intermediate_steps: Optional[int] = OPTIONS["intermediate_steps"],
    method: str = OPTIONS["method"], model: str = OPTIONS["model"],
    output: Optional[Path] = OPTIONS["output"], langs: str = OPTIONS["langs"], save_predictions: Optional[Path] = OPTIONS["save_predictions"],
    reduction_factor: Optional[int] = OPTIONS["reduction_factor"],
    lora_rank: Optional[int] = OPTIONS["lora_rank"], as_json: bool = OPTIONS["as_json"], quiet: bool = OPTIONS["quiet"],
    lang_adapters: Optional[str] = LANG_OPT, resume: bool = OPTIONS["resume"], sft_k: Optional[int] = OPTIONS["sft_k"],
    xtreme_out: Optional[Path] = OPTIONS["xtreme_out"],
    allow_backbone_mismatch: bool = OPTIONS["allow_backbone_mismatch"], debug: bool = OPTIONS["debug"],
    given: Given = None,  # type: ignore[assignment] - filled by training_options
) -> None:
    """Train a target module stacked on frozen intermediate module(s) and evaluate it zero-shot on every language.

    adapter: adapters' Stack(intermediates..., target); lora: --lora-mode sum|merge|chain; full: the X-STILTs chain,
    one model trained on the tasks in order (`stack stsb siqa xcopa --method full`: SIQA from the STS-B model, COPA
    from SIQA's); par_bn, compacter(++), prefix: Stack; ia3: merge; bitfit, prompt: chain (the target starts from the
    intermediate's biases / prompt); sft: the target's sparse difference trained on, and added to, the intermediates'.
    `adapterx methods` has the table. Intermediates not given with --module are trained first, beside --output."""
    from adapterx.errors import ConfigError

    if len(tasks) < 2:
        raise ConfigError("stack needs an intermediate task and a target task, e.g. `adapterx stack stsb tydiqa`")
    _run(given, tasks=tasks[:-1], target=tasks[-1], fuse=False, module=module, lora_mode=lora_mode,
         intermediate_steps=intermediate_steps, method=method, model=model, output=output, langs=langs,
         save_predictions=save_predictions, reduction_factor=reduction_factor, lora_rank=lora_rank, as_json=as_json,
         quiet=quiet, lang_adapters=lang_adapters, resume=resume, xtreme_out=xtreme_out, sft_k=sft_k,
         allow_backbone_mismatch=allow_backbone_mismatch)


@app.command("fuse")
@handle_errors
@training_options(data=COMPOSE_DATA)
def fuse_cmd(
    tasks: list[str] = typer.Argument(..., help="Intermediate tasks (or module references) to fuse: stsb mnli squad."),
    target: str = typer.Option(..., "--target", help="The target task trained through the fusion layer."),
    with_target_adapter: bool = typer.Option(False, "--with-target-adapter", help="Also fuse a new adapter for the target task (trained with the fusion)."),
    module: Optional[list[str]] = MODULE_OPT,
    intermediate_steps: Optional[int] = OPTIONS["intermediate_steps"],
    method: str = OPTIONS["method"], model: str = OPTIONS["model"],
    output: Optional[Path] = OPTIONS["output"], langs: str = OPTIONS["langs"], save_predictions: Optional[Path] = OPTIONS["save_predictions"],
    reduction_factor: Optional[int] = OPTIONS["reduction_factor"],
    as_json: bool = OPTIONS["as_json"], quiet: bool = OPTIONS["quiet"], lang_adapters: Optional[str] = LANG_OPT,
    resume: bool = OPTIONS["resume"], allow_backbone_mismatch: bool = OPTIONS["allow_backbone_mismatch"],
    debug: bool = OPTIONS["debug"], given: Given = None,  # type: ignore[assignment] - filled by training_options
) -> None:
    """AdapterFusion over frozen intermediate adapters: train the fusion layer and a head on the target task, then
    evaluate zero-shot on every language (adapters only)."""
    _run(given, tasks=tasks, target=target, fuse=True, with_target_adapter=with_target_adapter, module=module,
         intermediate_steps=intermediate_steps, method=method, model=model, output=output, langs=langs,
         save_predictions=save_predictions, reduction_factor=reduction_factor, as_json=as_json, quiet=quiet,
         lang_adapters=lang_adapters, resume=resume, allow_backbone_mismatch=allow_backbone_mismatch)


@app.command("train-language")
@handle_errors
@training_options(data=(), defaults={"lr": 1e-4}, help={"lr": "Peak learning rate (default 1e-4; tiny: try 3e-3)."})
def train_language_cmd(
    lang: str = typer.Argument(..., help="Language code (ISO 639-1 or -3), e.g. sw."),
    text: Optional[str] = typer.Option(None, "--text", help="Unlabelled text: a file (one line per sentence/paragraph), a Hugging Face data set id, or 'synthetic' (default with --model tiny)."),
    text_config: Optional[str] = declare(typer.Option(None, "--text-config", help="Configuration of the --text data set (e.g. a language)."),
                                         applies={"text": ("hf",)}),
    max_lines: Optional[int] = typer.Option(None, "--max-lines", min=1, help="Use at most N lines."),
    method: str = typer.Option("adapter", "--method", "-m", help="adapter (MAD-X language adapter) or sft (language SFT: LT-SFT with MLM, a sparse difference of the body)."),
    reduction_factor: Optional[int] = typer.Option(None, "--reduction-factor", help="adapter: hidden size / N (default 2, as MAD-X)."),
    sft_k: Optional[int] = OPTIONS["sft_k"],
    model: str = OPTIONS["model"], output: Optional[Path] = OPTIONS["output"],
    as_json: bool = OPTIONS["as_json"], quiet: bool = OPTIONS["quiet"], debug: bool = OPTIONS["debug"],
    given: Given = None,  # type: ignore[assignment] - filled by training_options
) -> None:
    """Train a MAD-X language adapter (invertible bottleneck, seq_bn_inv) with masked language modelling on unlabelled
    text, the backbone frozen; use it with `stack`/`fuse --lang-adapters en=RUN,sw=RUN`. With --method sft: a
    language SFT (the same MLM; the module is a sparse difference of K body weights), for `stack --method sft`."""
    from adapterx.errors import ConfigError
    from adapterx.workflows.language import LanguageRequest, train_language
    from cli.common import print_json
    from cli.render import TrainProgress, summary_table

    if text is None:
        if model != "tiny":
            raise ConfigError("--text is needed: a text file, a Hugging Face data set id, or 'synthetic'")
        text = "synthetic"
    if method not in ("adapter", "sft"):
        raise ConfigError(f"--method {method}: train-language trains a MAD-X adapter (adapter) or a language SFT (sft)")
    source = text if text == "synthetic" else "file" if Path(text).exists() else "hf"
    given.check(Context.of("train-language", ["mlm"], method=method, extra={"text": ({source}, f"--text {text}")}))
    spec = method_spec(method, None, reduction_factor, None, None, None, None, sft_k)  # flags of the other method fail
    cfg = given.train_config(method, model)
    req = LanguageRequest(lang=lang, text=text, text_config=text_config, model=model, reduction_factor=reduction_factor or 2,
                          train=cfg, max_lines=max_lines, output=output, method=spec if method == "sft" else None)
    with TrainProgress(enabled=not (as_json or quiet)) as prog:
        out = train_language(req, progress=prog)
    if as_json:
        print_json({"output": str(out.output), "run": out.run, "metrics": {k: v for k, v in out.metrics.items() if k != "loss_curve"}})
        return
    dev = out.metrics["dev"]
    what = "language SFT" if method == "sft" else "language adapter"
    summary_table(f"{what} {out.run['language']} on {out.run['backbone']['id']}", [
        ("masked-token accuracy (dev)", f"{dev['mlm_accuracy']:.2f}  (loss {dev['mlm_loss']:.3f})"),
        ("data", f"{out.run['data']['source']} ({out.run['data']['train_size']} lines)"),
        ("trainable params", f"{out.run['params']['trainable']:,} of {out.run['params']['total']:,}"),
        *sft_rows(out.run),
        ("time", f"{out.run['wall_time_s']:.1f} s"), ("output", str(out.output)),
    ])
