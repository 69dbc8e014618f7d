"""Commands that compose modules: stack and fuse."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import handle_errors
from cli.main import app
from cli.train_cmds import _O, _eval_files, _method, _show_run, _train_config


def _modules(items: list[str] | None) -> dict[str, str]:
    from adapterx.errors import ConfigError

    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--module {it!r}: use TASK=REF, e.g. --module stsb=runs/stsb-adapter-...")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _run(tasks, target, fuse, with_target_adapter, module, lora_mode, intermediate_steps, method, model, data, data_dir,
         eval_file, output, langs, save_predictions, seed, lr, batch_size, max_steps, epochs, eval_steps, max_length,
         doc_stride, bf16, device, reduction_factor, lora_rank, as_json, quiet):  # noqa: ANN001, ANN202
    from adapterx.data.sources import DataOptions
    from adapterx.pipeline import TrainRequest
    from adapterx.stacking import StackRequest, stack_run
    from cli.render import TrainProgress

    spec = _method(method, None, reduction_factor, lora_rank, None, None, None)
    cfg = _train_config(_method=method, _model=model, lr=lr, batch_size=batch_size, max_steps=max_steps, epochs=epochs,
                        eval_steps=eval_steps, max_length=max_length, doc_stride=doc_stride, seed=seed, bf16=bf16, device=device)
    inter_cfg = cfg.model_copy(update={"max_steps": intermediate_steps}) if intermediate_steps else None
    opts = DataOptions(data=data, data_dir=data_dir, eval_files=_eval_files(eval_file))
    treq = TrainRequest(task=target, method=spec, model=model, data=opts, train=cfg, output=output, langs=langs,
                        save_predictions=save_predictions)
    req = StackRequest(intermediates=tuple(tasks), target=treq, modules=_modules(module), lora_mode=lora_mode, fuse=fuse,
                       with_target_adapter=with_target_adapter, intermediate_train=inter_cfg)
    with TrainProgress(enabled=not (as_json or quiet)) as prog:
        outcome = stack_run(req, progress=prog)
    _show_run(outcome, target, as_json)


MODULE_OPT = typer.Option(None, "--module", help="TASK=REF: use this run dir / module folder / hub id for an intermediate task (repeatable). Without it, the intermediate is trained first.")
STEPS_OPT = typer.Option(None, "--intermediate-steps", help="Max steps for intermediates trained here (default: as the target).")


@app.command("stack")
@handle_errors
def stack_cmd(
    tasks: list[str] = typer.Argument(..., help="Intermediate task(s) or module references, then the target task: stsb tydiqa; stsb mnli tydiqa."),
    module: Optional[list[str]] = MODULE_OPT,
    lora_mode: Optional[str] = typer.Option(None, "--lora-mode", help="lora: sum (intermediate LoRA frozen and active: W h + dW_i h + dW_t h; default), merge (intermediate merged into the base), or chain (W h + dW_t(dW_i h), as adapters' LoRA Stack)."),
    intermediate_steps: Optional[int] = STEPS_OPT,
    method: str = _O["method"], model: str = _O["model"], data: Optional[str] = _O["data"],
    data_dir: Optional[Path] = _O["data_dir"], eval_file: Optional[list[str]] = _O["eval_file"],
    output: Optional[Path] = _O["output"], langs: str = _O["langs"], save_predictions: Optional[Path] = _O["save_predictions"],
    seed: int = _O["seed"], lr: Optional[float] = _O["lr"], batch_size: int = _O["batch_size"],
    max_steps: Optional[int] = _O["max_steps"], epochs: float = _O["epochs"], eval_steps: Optional[int] = _O["eval_steps"],
    max_length: int = _O["max_length"], doc_stride: int = _O["doc_stride"], bf16: bool = _O["bf16"],
    device: Optional[str] = _O["device"], reduction_factor: Optional[int] = _O["reduction_factor"],
    lora_rank: Optional[int] = _O["lora_rank"], as_json: bool = _O["as_json"], quiet: bool = _O["quiet"],
    debug: bool = _O["debug"],
) -> None:
    """Train a target module stacked on frozen intermediate module(s) and evaluate it zero-shot on every language.
    adapter: adapters' Stack(intermediate, target); lora: --lora-mode sum|merge; full: the X-STILTs chain."""
    from adapterx.errors import ConfigError

    if len(tasks) < 2:
        raise ConfigError("stack needs an intermediate task and a target task, e.g. `adapterx stack stsb tydiqa`")
    _run(tasks[:-1], tasks[-1], False, False, module, lora_mode, intermediate_steps, method, model, data, data_dir,
         eval_file, output, langs, save_predictions, seed, lr, batch_size, max_steps, epochs, eval_steps, max_length,
         doc_stride, bf16, device, reduction_factor, lora_rank, as_json, quiet)


@app.command("fuse")
@handle_errors
def fuse_cmd(
    tasks: list[str] = typer.Argument(..., help="Intermediate tasks (or module references) to fuse: stsb mnli squad."),
    target: str = typer.Option(..., "--target", help="The target task trained through the fusion layer."),
    with_target_adapter: bool = typer.Option(False, "--with-target-adapter", help="Also fuse a new adapter for the target task (trained with the fusion)."),
    module: Optional[list[str]] = MODULE_OPT,
    intermediate_steps: Optional[int] = STEPS_OPT,
    method: str = _O["method"], model: str = _O["model"], data: Optional[str] = _O["data"],
    data_dir: Optional[Path] = _O["data_dir"], eval_file: Optional[list[str]] = _O["eval_file"],
    output: Optional[Path] = _O["output"], langs: str = _O["langs"], save_predictions: Optional[Path] = _O["save_predictions"],
    seed: int = _O["seed"], lr: Optional[float] = _O["lr"], batch_size: int = _O["batch_size"],
    max_steps: Optional[int] = _O["max_steps"], epochs: float = _O["epochs"], eval_steps: Optional[int] = _O["eval_steps"],
    max_length: int = _O["max_length"], doc_stride: int = _O["doc_stride"], bf16: bool = _O["bf16"],
    device: Optional[str] = _O["device"], reduction_factor: Optional[int] = _O["reduction_factor"],
    as_json: bool = _O["as_json"], quiet: bool = _O["quiet"], debug: bool = _O["debug"],
) -> None:
    """AdapterFusion over frozen intermediate adapters: train the fusion layer and a head on the target task, then
    evaluate zero-shot on every language (adapters only)."""
    _run(tasks, target, True, with_target_adapter, module, None, intermediate_steps, method, model, data, data_dir,
         eval_file, output, langs, save_predictions, seed, lr, batch_size, max_steps, epochs, eval_steps, max_length,
         doc_stride, bf16, device, reduction_factor, None, as_json, quiet)
