"""Train one task (intermediate or target) with one method, select on English dev, evaluate zero-shot, and write the
run directory: the library call behind `train-intermediate`, `train-target` and every training stage of a grid cell.

The CLI and the recipe runner both call these, so a grid cell does exactly what the single commands do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.backbone import DEFAULT_MODEL
from adapterx.data import cache as feature_cache
from adapterx.data.sources import DataOptions, load_split, start_read_log, with_model_defaults
from adapterx.engine import speed
from adapterx.engine.loop import RESUME_FREE, Progress, TrainConfig, check_device
from adapterx.engine.rundir import check_checkpoint
from adapterx.errors import AdapterxError, WriteError
from adapterx.evaluate.fusion import fusion_weights
from adapterx.fsio import check_output_dir, write_error
from adapterx.methods.fit import check_fit
from adapterx.tasks import check_trainable, get_task, with_discovered_labels
from adapterx.results.xtreme_export import check_exportable
from adapterx.workflows.record import run_record
from adapterx.workflows.eval import eval_split, select_eval_languages, zero_shot, zero_shot_part
from adapterx import backbone as bbmod
from adapterx.engine import distributed
from adapterx.engine import tracking
from adapterx.engine.loop import check_batch
from adapterx.engine import loop
from adapterx.engine.rundir import checkpoint_path, default_output, read_metrics, read_run, reserve_output
from adapterx.evaluate.fusion import plot_fusion
from adapterx.evaluate.zero_shot import predict
from adapterx.methods import build_module, for_backbone
from adapterx.tasks.kinds import ops_for
from adapterx.results.xtreme_export import export_xtreme



@dataclass(frozen=True)
class TrainRequest:
    """One training run: a task, a method, a backbone, data options and hyperparameters."""

    task: str
    method: Any  # AdapterSpec | LoRASpec | FullSpec
    model: str = DEFAULT_MODEL
    revision: str | None = None
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: Path | None = None
    langs: str = "all"  # zero-shot languages for a target task
    evaluate: bool | None = None  # zero-shot evaluation after training (default: for target tasks)
    save_predictions: Path | None = None
    low_threshold: int = 2
    command: str = "train"
    eval_batch_size: int = 32
    resume: bool = False  # continue from the checkpoint beside --output (left by a killed run)
    report_to: str | None = None  # experiment tracker: tensorboard | wandb | mlflow (logs in RUN/tracking/)
    xtreme_out: Path | None = None  # also write the zero-shot predictions in XTREME's submission layout


@dataclass
class RunOutcome:
    output: Path
    run: dict[str, Any]
    metrics: dict[str, Any]
    report: Any = None  # EvalReport of the zero-shot evaluation, where one ran


def train_run(req: TrainRequest, progress: Progress | None = None, prepare: Callable | None = None) -> RunOutcome:
    """Train ``req.task`` with ``req.method`` on English, select on English dev, optionally evaluate zero-shot,
    and write the run directory. ``prepare(backbone, task, seed) -> (module, chain record)`` builds the module
    instead of a fresh one (compositions)."""
    t_start = time.perf_counter()
    task = get_task(req.task)
    evaluate = task.target if req.evaluate is None else req.evaluate
    check_trainable(task, target=evaluate)
    opts = with_model_defaults(req.data, req.model, task)
    cfg = req.train
    check_device(cfg.device)
    if req.xtreme_out:
        check_exportable(task.name, req.data.max_eval_examples, opts)

    tracking.check(req.report_to)

    # Under `accelerate launch` every rank trains; rank 0 alone writes the run directory and evaluates, and the
    # others follow (adapterx.engine.distributed). They agree on the output folder first: a default one carries a timestamp.

    check_batch(cfg.batch_size, distributed.world_size())
    dist = distributed.setup(cfg.device)
    main = distributed.is_main()
    # Cheap checks first: output folder, languages, data; nothing trains before they pass.
    if req.output is not None:  # a killed run's checkpoint there is continued with --resume only
        check_checkpoint(Path(req.output), req.resume)
    for option, path in (("--save-predictions", req.save_predictions), ("--xtreme-out", req.xtreme_out)):
        if path is not None:  # outputs outside the run directory: checked before anything trains
            check_output_dir(path, option)
    writer = reserve_output(req.output or default_output(task.name, req.method.name))
    trained = False
    reads = start_read_log()  # every split this run reads, with its data revision: run.json data_reads
    try:
        eval_langs: list[str] = []
        if evaluate:
            eval_langs = select_eval_languages(task, req.langs, opts, req.low_threshold)
        # Local files first: one that breaks the task's rules is named before any model download.
        local = bool(opts.train_file or opts.dev_file or (opts.data and opts.data not in ("synthetic", "hf")))
        if local:
            train_ex, train_prov = load_split(task, "train", "en", opts)
            dev_ex, dev_prov = load_split(task, "dev", "en", opts)
        if evaluate and (opts.eval_files or opts.data_dir):  # local evaluation files: their rules before training
            for lang in eval_langs:
                load_split(task, eval_split(task, opts), lang, opts, for_eval=True)
        bb = bbmod.resolve(req.model, req.revision)
        check_fit(bb, req.method, cfg.max_length)
        # What the architecture cannot serve is refused here, before the Hub's data loads; its defaults are filled in.
        method = for_backbone(req.method, bb, task, "composed" if prepare is not None else None)
        tok = bbmod.load_tokenizer(bb)
        if not local:
            train_ex, train_prov = load_split(task, "train", "en", opts)
            dev_ex, dev_prov = load_split(task, "dev", "en", opts)
        train_ex = train_ex[: opts.max_train_examples] if opts.max_train_examples else train_ex
        dev_ex = dev_ex[: opts.max_eval_examples] if opts.max_eval_examples else dev_ex
        task = with_discovered_labels(task, train_ex)
        ops = ops_for(task.kind)
        if progress:
            progress({"phase": "featurize", "train": len(train_ex), "dev": len(dev_ex)})
        feats = feature_cache.featurize(ops, task, train_ex, tok, cfg.max_length, cfg.doc_stride, train=True)
        # The dev set is tokenized once; every evaluation during training reuses these features.
        dev_feats = feature_cache.featurize(ops, task, dev_ex, tok, cfg.max_length, cfg.doc_stride, train=False)

        chain_record = None
        if prepare is not None:  # a composition builds its own module (stack, fuse, the full-fine-tuning chain)
            module, chain_record = prepare(bb, task, cfg.seed)
        else:
            module = build_module(method, bb, task, cfg.seed)

        def dev_eval() -> dict[str, float]:
            preds = predict(module, task, dev_ex, tok, batch_size=req.eval_batch_size, device=cfg.device,
                            bf16=cfg.bf16, features=dev_feats)
            return ops.score(task, preds, dev_ex, "en")[0]

        ckpt = checkpoint_path(writer.output)
        # What decides the result: a checkpoint is resumed only by a run that agrees on all of it.
        identity = {"task": task.name, "method": req.method.model_dump(mode="json"), "backbone": bb.sha256,
                    "data": train_prov.source, "train_size": len(train_ex),
                    # what was read, not only where: a file changed in place (same path, same rows) is other data
                    **({"data_sha256": ",".join(f["sha256"][:16] for f in train_prov.files)} if train_prov.files else {}),
                    "modules": [m.get("sha256") for m in ((chain_record or {}).get("composition") or {}).get("modules", [])],
                    **{k: v for k, v in cfg.model_dump(mode="json").items() if k not in RESUME_FREE}}
        tracker = None
        if req.report_to and main:
            tracker = tracking.Tracker(req.report_to, writer.path("tracking"), writer.output.name,
                                       {"task": task.name, "method": req.method.name, "backbone": bb.id, **cfg.model_dump()})
        try:
            # Through the module: tests (and tools) replace the loop as adapterx.engine.loop.train.
            result = loop.train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), dev_eval,
                                ops.selection_metric(task), cfg, tracking.chain(progress, tracker), checkpoint=ckpt,
                                resume=req.resume, identity=identity)
        finally:
            if tracker is not None:
                tracker.close()
        counts = module.parameter_counts()
        trained = True
        # Zero-shot evaluation is split across the ranks by language when launched (rank 0 gathers the results),
        # except with MAD-X language adapters, whose per-language switching rank 0 does alone.
        shard_eval = bool(evaluate and dist is not None and module.hooks.switch_language is None)
        if not main:
            # Wait until rank 0 has saved the module (or failed: then raise what it raised), evaluate this rank's
            # languages, wait until rank 0 has committed the run; then read what it wrote.
            writer.abort()
            if shard_eval:
                distributed.settle()
                zero_shot_part(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size, opts.max_eval_examples,
                               allow_unlabelled=True)
            distributed.settle()
            return RunOutcome(writer.output, read_run(writer.output), read_metrics(writer.output), None)
        module.save(writer.path("module"))
        if shard_eval:
            distributed.settle()  # the others may start on their languages

        report = None
        metrics: dict[str, Any] = {"dev": result.best_dev, **result.to_json()}
        if evaluate:
            if shard_eval:
                report = zero_shot_part(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size,
                                         opts.max_eval_examples, progress, allow_unlabelled=True)
            else:
                # Unlabelled languages (XTREME's test files) are predicted without a score: the run keeps predictions.
                report = zero_shot(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size, progress,
                                   opts.max_eval_examples, allow_unlabelled=True)
            metrics["eval"] = {task.name: report.to_json(req.low_threshold)}
            fusion = _fusion(module, task, tok, eval_langs, opts, cfg)
            if fusion:
                metrics["fusion_attention"] = fusion
                plot_fusion(fusion, writer.path("fusion_attention.png"))
            report.save_predictions(writer.path("predictions"))
            writer.write_json("per_example.json", {task.name: report.per_example()})
        extra = {"speed": speed.record(module.model, result)}  # what ran: grouping resolved, compile, attention
        if "sft" in module.meta:  # LT-SFT: K, eligible weights, the difference's stored size
            extra["sft"] = module.meta["sft"]
        if dist is not None:
            extra["distributed"] = {**dist.record(), "per_process_batch": cfg.batch_size // dist.world_size}
        run = run_record(
            command=req.command, task=task.name, chain=(chain_record or {}).get("chain", []) + [task.name],
            method=method.model_dump(mode="json"), composition=(chain_record or {}).get("composition"),
            backbone=bb.record(), cfg=cfg, started=t_start, params=counts, languages=eval_langs, labels=list(task.labels),
            data={"source": train_prov.source, "train_size": len(train_ex), "dev_source": dev_prov.source,
                  "dev_size": len(dev_ex)},
            data_reads=reads, extra=extra,
        )
        writer.write_json("run.json", run)
        # wall time and throughput differ between an interrupted and an uninterrupted run; the metrics do not
        writer.write_json("metrics.json", metrics)
        out = writer.commit()
        import shutil

        shutil.rmtree(ckpt.parent, ignore_errors=True)
    except BaseException as exc:
        writer.abort()
        if trained and main:  # the other ranks wait in settle() for the outcome of rank 0's part
            distributed.settle(exc)
        raise
    distributed.settle()  # done: the other ranks may now read the committed run directory
    # Copies outside the run directory come after it is committed: a bad path never loses a finished run.
    if req.save_predictions and report is not None:
        _after_commit(out, req.save_predictions, lambda: report.save_predictions(req.save_predictions))
    if req.xtreme_out and evaluate:
        _after_commit(out, req.xtreme_out, lambda: export_xtreme([out], req.xtreme_out))
    return RunOutcome(out, run, metrics, report)


def _after_commit(out: Path, dest: Path, write: Any) -> None:
    """Run ``write`` (a copy of a committed run's results elsewhere); its failure says the run itself is kept."""
    try:
        write()
    except OSError as exc:
        raise WriteError(f"{write_error(exc.filename or dest, exc)} (the run itself is saved in {out})") from None
    except AdapterxError as exc:
        raise type(exc)(f"{exc} (the run itself is saved in {out})") from None


def _fusion(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig):  # noqa: ANN001, ANN202
    """Fusion attention per language (None for compositions without a fusion layer)."""
    comp = module.composition or {}
    if comp.get("kind") != "fuse":
        return None

    split = eval_split(task, opts)
    examples = {lang: load_split(task, split, lang, opts, for_eval=True)[0] for lang in langs}
    return fusion_weights(module, task, tok, examples, cfg.max_length, cfg.doc_stride)
