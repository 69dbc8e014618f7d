"""Options and flag parsing shared by the training commands (declared once; the commands only pick them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from adapterx.backbone import DEFAULT_MODEL
from adapterx.methods.catalog import method_help
from cli.common import DEBUG_HELP

MODEL_HELP = "Backbone: a Hub id (xlm-roberta-base, xlm-roberta-large), a local model folder, or 'tiny' (built-in)."
DATA_HELP = "Training data: 'hf' (the task's Hugging Face data set), 'synthetic', a file, or an XTREME-style folder. Default: hf; synthetic with the built-in models (--model tiny, --model minilm)."


def method_spec(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets, sft_k=None):  # noqa: ANN001, ANN201
    """The method flags as a validated method spec."""
    from adapterx.methods.spec import method_from_options

    return method_from_options(
        method, adapter_config=adapter_config, reduction_factor=reduction_factor, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets, sft_k=sft_k,
    )


def train_config(**kw):  # noqa: ANN003, ANN201
    """The hyperparameter flags as a TrainConfig (with the per-method default learning rate)."""
    from pydantic import ValidationError

    from adapterx.errors import ConfigError
    from adapterx.engine.loop import TrainConfig
    from adapterx.methods.catalog import default_lr

    method, model = kw.pop("_method").partition(":")[0], kw.pop("_model")
    if kw.get("lr") is None:
        kw["lr"] = default_lr(method, model)
    try:
        return TrainConfig(**{k: v for k, v in kw.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{str(err['loc'][-1]).replace('_', '-')}: {err['msg']}") from None


def eval_files(items: list[str] | None):  # noqa: ANN201
    """--eval-file LANG=PATH items as (lang, path) pairs."""
    from adapterx.errors import ConfigError

    out = []
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--eval-file {it!r}: use LANG=PATH, e.g. --eval-file sw=dev-sw.tsv")
        lang, path = it.split("=", 1)
        out.append((lang.strip(), Path(path)))
    return tuple(out)


def _options() -> dict[str, Any]:
    """The options shared by the training commands, declared once."""
    return dict(
        method=typer.Option("adapter", "--method", "-m", help=method_help()),
        model=typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
        data=typer.Option(None, "--data", help=DATA_HELP),
        train_file=typer.Option(None, "--train-file", help="English training file in the task's official format."),
        dev_file=typer.Option(None, "--dev-file", help="English dev file (checkpoint selection)."),
        data_dir=typer.Option(None, "--data-dir", help="XTREME-style download folder for the evaluation languages."),
        eval_file=typer.Option(None, "--eval-file", help="LANG=PATH evaluation file; repeat for more languages."),
        data_revision=typer.Option(None, "--data-revision", help="Read the Hugging Face data at this revision instead of the pinned one: REV, or OWNER/NAME=REV for one repository (repeatable)."),
        output=typer.Option(None, "--output", "-o", help="Run directory (default runs/<task>-<method>-<timestamp>)."),
        langs=typer.Option("all", "--langs", help="Zero-shot languages: all, low, high, or a list like sw,te."),
        save_predictions=typer.Option(None, "--save-predictions", help="Also write DIR/<task>/<lang>.jsonl predictions."),
        xtreme_out=typer.Option(None, "--xtreme-out", help="Also write the predictions as XTREME(-R)'s submission folder: DIR/<task>/test-<lang>.<ext>."),
        seed=typer.Option(42, "--seed"),
        lr=typer.Option(None, "--lr", help="Peak learning rate (default 1e-4 adapter/LoRA, 2e-5 full/sft; tiny: 3e-3, 1e-3)."),
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
        early_stopping_patience=typer.Option(None, "--early-stopping-patience", help="Stop after N English dev evaluations without a better score (default: never)."),
        device=typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: cuda when present)."),
        group_by_length=typer.Option(None, "--group-by-length/--no-group-by-length", help="Batches of similar-length examples (less padding; default: on where random batches would be >= 10% padding and length says little of the label)."),
        compile=typer.Option(False, "--compile", help="torch.compile each transformer layer (training and evaluation); slower on CPU for typical runs: see benchmarks."),
        adapter_config=typer.Option(None, "--adapter-config", help="adapter: seq_bn (pfeiffer, default) or houlsby (double_seq_bn)."),
        reduction_factor=typer.Option(None, "--reduction-factor", help="adapter, par_bn, compacter(++): hidden size / bottleneck size (default 16; par_bn 2)."),
        lora_rank=typer.Option(None, "--lora-rank", help="lora: rank r (default 8)."),
        lora_alpha=typer.Option(None, "--lora-alpha", help="lora: alpha (default 16)."),
        lora_dropout=typer.Option(None, "--lora-dropout", help="lora: dropout (default 0.1)."),
        lora_targets=typer.Option(None, "--lora-targets", help="lora: comma-separated module names (default: the architecture's, from peft: query,value for XLM-R / BERT)."),
        sft_k=typer.Option(None, "--sft-k", help="sft: weights in the sparse difference, K (default 1% of the eligible weights)."),
        as_json=typer.Option(False, "--json", help="Print one JSON object instead of tables."),
        quiet=typer.Option(False, "--quiet", "-q", help="No progress bar."),
        resume=typer.Option(False, "--resume", help="Continue a killed run from the checkpoint beside --output (same command, same --output)."),
        allow_backbone_mismatch=typer.Option(False, "--allow-backbone-mismatch", help="Use a module trained on other backbone weights of the same shape (another sha256); the run records it."),
        debug=typer.Option(False, "--debug", help=DEBUG_HELP),
    )


OPTIONS = _options()
