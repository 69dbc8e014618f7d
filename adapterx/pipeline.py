"""The library calls behind the commands: train a task (intermediate or target), evaluate zero-shot, run a cell.

The CLI and the recipe runner both call these, so a grid cell does exactly what the single commands do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.data import cache as feature_cache
from adapterx import __version__
from adapterx.data.sources import DataOptions, available_languages, load_split
from adapterx.errors import AdapterxError, ConfigError, DataError
from adapterx.train import TrainConfig

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainRequest:
    """One training run: a task, a method, a backbone, data options and hyperparameters."""

    task: str
    method: Any  # AdapterSpec | LoRASpec | FullSpec
    model: str = "xlm-roberta-base"
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


@dataclass
class RunOutcome:
    output: Path
    run: dict[str, Any]
    metrics: dict[str, Any]
    report: Any = None  # EvalReport of the zero-shot evaluation, where one ran


def _data_opts(opts: DataOptions, model: str) -> DataOptions:
    if model == "tiny" and opts.data is None and opts.train_file is None:
        from dataclasses import replace

        return replace(opts, default_synthetic=True)
    return opts


def train_run(req: TrainRequest, progress: Progress | None = None, prepare: Callable | None = None) -> RunOutcome:
    """Train ``req.task`` with ``req.method`` on English, select on English dev, optionally evaluate zero-shot,
    and write the run directory. ``prepare(backbone, task, seed) -> (module, chain record)`` builds the module
    instead of a fresh one (compositions)."""
    from adapterx import backbone as bbmod
    from adapterx.evaluate.zero_shot import predict
    from adapterx.methods import build_module
    from adapterx.rundir import FollowerWriter, RunWriter, checkpoint_path, default_output, now_iso, read_metrics, read_run
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for
    from adapterx.train import train

    t_start = time.perf_counter()
    task = get_task(req.task)
    if task.kind == "retrieval":
        raise ConfigError(f"{task.name} is a retrieval task without training data: use `adapterx retrieve {task.name}`")
    opts = _data_opts(req.data, req.model)
    cfg = req.train
    evaluate = task.target if req.evaluate is None else req.evaluate
    from adapterx import tracking

    tracking.check(req.report_to)
    from adapterx import distributed

    # Under `accelerate launch` every rank trains; rank 0 alone writes the run directory and evaluates, and the
    # others follow (adapterx.distributed). They agree on the output folder first: a default one carries a timestamp.
    from adapterx.train import check_batch

    check_batch(cfg.batch_size, distributed.world_size())
    dist = distributed.setup(cfg.device)
    main = distributed.is_main()
    output = Path(distributed.broadcast_object(str(req.output or default_output(task.name, req.method.name))))
    # Cheap checks first: output folder, languages, data; nothing trains before they pass.
    try:
        writer = RunWriter(output) if main else FollowerWriter(output)
    except ConfigError as exc:  # only rank 0 checks the folder: every rank must leave with its error
        distributed.settle(exc)
        raise
    distributed.settle()
    trained = False
    try:
        eval_langs: list[str] = []
        if evaluate:
            eval_langs = select_eval_languages(task, req.langs, opts, req.low_threshold)
        bb = bbmod.resolve(req.model, req.revision)
        tok = bbmod.load_tokenizer(bb)
        train_ex, train_prov = load_split(task, "train", "en", opts)
        dev_ex, dev_prov = load_split(task, "dev", "en", opts)
        train_ex = train_ex[: opts.max_train_examples] if opts.max_train_examples else train_ex
        dev_ex = dev_ex[: opts.max_eval_examples] if opts.max_eval_examples else dev_ex
        task = _with_discovered_labels(task, train_ex)
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
            module = build_module(req.method, bb, task, cfg.seed)

        def dev_eval() -> dict[str, float]:
            preds = predict(module, task, dev_ex, tok, batch_size=req.eval_batch_size, device=cfg.device,
                            bf16=cfg.bf16, features=dev_feats)
            return ops.score(task, preds, dev_ex, "en")[0]

        ckpt = checkpoint_path(writer.output)
        tracker = None
        if req.report_to and main:
            tracker = tracking.Tracker(req.report_to, writer.path("tracking"), writer.output.name,
                                       {"task": task.name, "method": req.method.name, "backbone": bb.id, **cfg.model_dump()})
        try:
            result = train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), dev_eval,
                           ops.selection_metric(task), cfg, tracking.chain(progress, tracker), checkpoint=ckpt,
                           resume=req.resume)
        finally:
            if tracker is not None:
                tracker.close()
        counts = module.parameter_counts()
        trained = True
        # Zero-shot evaluation is split across the ranks by language when launched (rank 0 gathers the results),
        # except with MAD-X language adapters, whose per-language switching rank 0 does alone.
        shard_eval = bool(evaluate and dist is not None and not (module.extra or {}).get("switch_language"))
        if not main:
            # Wait until rank 0 has saved the module (or failed: then raise what it raised), evaluate this rank's
            # languages, wait until rank 0 has committed the run; then read what it wrote.
            writer.abort()
            if shard_eval:
                distributed.settle()
                _zero_shot_part(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size, opts.max_eval_examples)
            distributed.settle()
            return RunOutcome(writer.output, read_run(writer.output), read_metrics(writer.output), None)
        module.save(writer.path("module"))
        if shard_eval:
            distributed.settle()  # the others may start on their languages

        report = None
        metrics: dict[str, Any] = {"dev": result.best_dev, **result.to_json()}
        if evaluate:
            if shard_eval:
                report = _zero_shot_part(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size,
                                         opts.max_eval_examples, progress)
            else:
                report = zero_shot(module, task, tok, eval_langs, opts, cfg, req.eval_batch_size, progress,
                                   opts.max_eval_examples)
            metrics["eval"] = {task.name: report.to_json(req.low_threshold)}
            fusion = _fusion(module, task, tok, eval_langs, opts, cfg)
            if fusion:
                from adapterx.fusion import plot_fusion

                metrics["fusion_attention"] = fusion
                plot_fusion(fusion, writer.path("fusion_attention.png"))
            if req.save_predictions:
                report.save_predictions(req.save_predictions)
            report.save_predictions(writer.path("predictions"))
            writer.write_json("per_example.json", {task.name: report.per_example()})
        run = {
            "adapterx_version": __version__,
            "command": req.command,
            "created": now_iso(),
            "task": task.name,
            "chain": (chain_record or {}).get("chain", []) + [task.name],
            "method": req.method.model_dump(mode="json"),
            "composition": (chain_record or {}).get("composition"),
            "backbone": bb.record(),
            "data": {"source": train_prov.source, "train_size": len(train_ex),
                     "dev_source": dev_prov.source, "dev_size": len(dev_ex)},
            "seed": cfg.seed,
            "hyperparameters": cfg.model_dump(mode="json"),
            "wall_time_s": round(time.perf_counter() - t_start, 3),
            "params": counts,
            "languages": eval_langs,
            "labels": list(task.labels),
        }
        if dist is not None:
            run["distributed"] = {**dist.record(), "per_process_batch": cfg.batch_size // dist.world_size}
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
    return RunOutcome(out, run, metrics, report)


def _with_discovered_labels(task, train_ex: list):  # noqa: ANN001, ANN202
    """Tasks with an open label set (CCG supertags) take theirs from the training data."""
    if task.kind == "tagging" and not task.labels:
        from dataclasses import replace

        tags = sorted({t for ex in train_ex for t in (ex.tags or ())})
        return replace(task, labels=tuple(tags))
    return task


def _fusion(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig):  # noqa: ANN001, ANN202
    """Fusion attention per language (None for compositions without a fusion layer)."""
    comp = module.extra.get("composition") or {}
    if comp.get("kind") != "fuse":
        return None
    from adapterx.fusion import fusion_weights

    split = eval_split(task, opts)
    examples = {lang: load_split(task, split, lang, opts, for_eval=True)[0] for lang in langs}
    return fusion_weights(module, task, tok, examples, cfg.max_length, cfg.doc_stride)


def select_eval_languages(task, spec: str, opts: DataOptions, threshold: int = 2) -> list[str]:  # noqa: ANN001
    """The languages to evaluate: ``all|low|high|sw,te`` among those the data can provide."""
    from adapterx.languages import select_languages

    split = "test" if opts.eval_files else eval_split(task, opts)
    available = available_languages(task, split, opts)
    return select_languages(spec, available, threshold)


def eval_split(task, opts: DataOptions) -> str:  # noqa: ANN001
    """The task's evaluation split; with a --data-dir that has no files of it (e.g. MLQA test, over 4 MiB and absent
    from a partial copy) but has dev files, dev."""
    folder = opts.data_dir or (Path(opts.data) if opts.data and Path(opts.data).is_dir() else None)
    if folder is None or task.layout is None or task.eval_split == "dev":
        return task.eval_split
    from adapterx.data import layout

    if not layout.find_split_files(task.layout, Path(folder), task.eval_split) and layout.find_split_files(task.layout, Path(folder), "dev"):
        return "dev"
    return task.eval_split


def zero_shot(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig,  # noqa: ANN001
              batch_size: int = 32, progress: Progress | None = None, max_examples: int | None = None):  # noqa: ANN201
    """Evaluate every language in ``langs`` on the task's evaluation split (the first ``max_examples`` of each,
    where given: a quick look, recorded in the report's notes)."""
    from adapterx.data.readers import has_labels
    from adapterx.evaluate.zero_shot import evaluate_languages

    module.for_inference()
    split = eval_split(task, opts)
    examples = {}
    for lang in langs:
        ex, prov = load_split(task, split, lang, opts, for_eval=True)
        ex = ex[:max_examples] if max_examples else ex
        if not has_labels(ex):
            # Unlabelled files (PAN-X test, XTREME's answer-stripped copies, a TSV without its label column) would
            # score 0 rather than fail: refuse them, naming where they came from.
            raise DataError(f"{task.name} {split} ({lang}) from {prov.source} has examples without gold labels; "
                            "evaluate a labelled split (e.g. dev) or file")
        examples[lang] = ex

    def on_lang(lang: str, res: Any) -> None:
        if progress:
            progress({"phase": "eval", "lang": lang, "scores": res.scores})

    report = evaluate_languages(module, task, examples, tok, cfg.max_length, cfg.doc_stride, batch_size, cfg.device,
                                cfg.bf16, on_language=on_lang)
    if split != task.eval_split:
        report.notes.append(f"evaluated on the {split} split: the data folder has no {task.eval_split} files")
    if max_examples:
        report.notes.append(f"only the first {max_examples} examples of each language (--max-examples)")
    return report


def _zero_shot_part(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig,  # noqa: ANN001, ANN202
                    batch_size: int, max_examples: int | None, progress: Progress | None = None):
    """This rank's share of a launched run's zero-shot evaluation (languages round-robin over the ranks); every rank
    gets every share back, and rank 0 the whole report. An error on any rank is in the gathered shares: rank 0
    raises it, the others go on to the run's final settle(), where rank 0's error reaches them."""
    from adapterx import distributed
    from adapterx.evaluate.zero_shot import EvalReport

    rank, world = distributed.rank(), distributed.world_size()
    mine = langs[rank::world]
    try:
        # Each rank reports the languages it scores; rank 0 alone has a progress callback.
        part: Any = zero_shot(module, task, tok, mine, opts, cfg, batch_size, progress, max_examples) if mine else None
    except Exception as exc:  # noqa: BLE001 - carried to rank 0 in the gather, raised there
        part = exc if isinstance(exc, AdapterxError) else AdapterxError(f"rank {rank}: {type(exc).__name__}: {exc}")
    parts = distributed.gather_parts(part)
    if rank != 0:
        return None
    errors = [p for p in parts if isinstance(p, BaseException)]
    if errors:
        raise errors[0]
    reports = [p for p in parts if p is not None]
    report = EvalReport(task.name, task.metric, task.metric_kind)
    by_lang = {lang: r.langs[lang] for r in reports for lang in r.langs}
    report.langs = {lang: by_lang[lang] for lang in langs if lang in by_lang}
    report.seconds = max((r.seconds for r in reports), default=0.0)
    report.notes = sorted({n for r in reports for n in r.notes})
    report.notes.append(f"evaluated by {world} processes, languages split between them")
    return report


@dataclass(frozen=True)
class EvalRequest:
    task: str
    module: str  # a run dir, a module folder, a hub id, or "none"
    model: str | None = None  # the backbone (default: the module's, or xlm-roberta-base for none)
    data: DataOptions = field(default_factory=DataOptions)
    langs: str = "all"
    seed: int = 42
    max_length: int = 128
    doc_stride: int = 64
    batch_size: int = 32
    bf16: bool = False
    device: str | None = None
    save_predictions: Path | None = None
    low_threshold: int = 2
    max_examples: int | None = None


def eval_run(req: EvalRequest, progress: Progress | None = None):  # noqa: ANN201
    """Evaluate a trained module (or the bare backbone with a seeded fresh head) on every selected language."""
    from adapterx import backbone as bbmod
    from adapterx import distributed

    distributed.refuse("adapterx eval")  # evaluation only: every rank would evaluate and write the same files
    from adapterx.methods import FullSpec, build_module, load_module
    from adapterx.tasks import get_task

    task = get_task(req.task)
    module_path, run = _resolve_module(req.module)
    model = req.model or (run.get("backbone", {}).get("id") if run else None) or "xlm-roberta-base"
    opts = _data_opts(req.data, model)
    cfg = TrainConfig(max_length=req.max_length, doc_stride=req.doc_stride, seed=req.seed, bf16=req.bf16, device=req.device)
    langs = select_eval_languages(task, req.langs, opts, req.low_threshold)
    bb = bbmod.resolve(model)
    tok = bbmod.load_tokenizer(bb)
    if module_path is None:
        module = build_module(FullSpec(), bb, task, req.seed)
    else:
        if run.get("backbone"):
            bbmod.check_compatible(bb, run["backbone"], f"module {req.module}")
        from adapterx.rundir import module_folder

        module = load_module(module_folder(module_path), bb)
        if module.task.name != task.name:
            if module.task.kind != task.kind or module.task.labels != task.labels:
                raise ConfigError(
                    f"module {req.module} has a {module.task.name} head ({module.task.kind}); it cannot predict "
                    f"{task.name} ({task.kind}). Train {task.name} on top of it with `adapterx stack`"
                )
    report = zero_shot(module, task, tok, langs, opts, cfg, req.batch_size, progress, req.max_examples)
    if req.save_predictions:
        report.save_predictions(req.save_predictions)
    return report


def _resolve_module(ref: str) -> tuple[Path | None, dict[str, Any]]:
    """``none`` -> (None, {}); otherwise a local path (run dir or module folder) or a hub id, via the hub resolver."""
    from adapterx.rundir import read_run

    if ref == "none":
        return None, {}
    from adapterx.hub.resolve import resolve_module

    # Local folders too: resolve_module refuses pickle weights and checks a manifest where there is one.
    path = Path(resolve_module(ref))
    return path, read_run(path)


def run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """One recipe cell (see :mod:`adapterx.cells`)."""
    from adapterx.cells import run_cell as _run

    return _run(cell, out_dir)
