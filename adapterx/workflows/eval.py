"""Zero-shot evaluation over languages: which languages and split, one process or split across launched ranks,
and `adapterx eval` of any module (a run, a module folder, a hub id, or none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapterx.data.sources import DataOptions, available_languages, load_split, with_model_defaults
from adapterx.errors import AdapterxError, ConfigError, DataError
from adapterx.engine.loop import Progress, TrainConfig, check_device
from adapterx.hub.resolve import resolve_module_ref
from adapterx.methods.fit import check_fit


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


def zero_shot_part(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig,  # noqa: ANN001, ANN202
                    batch_size: int, max_examples: int | None, progress: Progress | None = None):
    """This rank's share of a launched run's zero-shot evaluation (languages round-robin over the ranks); every rank
    gets every share back, and rank 0 the whole report. An error on any rank is in the gathered shares: rank 0
    raises it, the others go on to the run's final settle(), where rank 0's error reaches them."""
    from adapterx.engine import distributed
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
    allow_backbone_mismatch: bool = False  # a module trained on other weights of the same shape (noted in the report)


def eval_run(req: EvalRequest, progress: Progress | None = None):  # noqa: ANN201
    """Evaluate a trained module (or the bare backbone with a seeded fresh head) on every selected language."""
    from adapterx import backbone as bbmod
    from adapterx.engine import distributed

    distributed.refuse("adapterx eval")  # evaluation only: every rank would evaluate and write the same files
    from adapterx.methods import FullSpec, build_module, load_module
    from adapterx.tasks import get_task

    task = get_task(req.task)
    check_device(req.device)
    if req.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {req.batch_size}")
    module_path, run = resolve_module_ref(req.module)
    model = req.model or (run.get("backbone", {}).get("id") if run else None) or "xlm-roberta-base"
    opts = with_model_defaults(req.data, model)
    try:
        cfg = TrainConfig(max_length=req.max_length, doc_stride=req.doc_stride, seed=req.seed, bf16=req.bf16,
                          device=req.device)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{str(err['loc'][-1]).replace('_', '-')}: {err['msg']}") from None
    langs = select_eval_languages(task, req.langs, opts, req.low_threshold)
    bb = bbmod.resolve(model)
    check_fit(bb, max_length=req.max_length)
    tok = bbmod.load_tokenizer(bb)
    note = None
    if module_path is None:
        module = build_module(FullSpec(), bb, task, req.seed)
    else:
        if run.get("backbone"):
            note = bbmod.check_compatible(bb, run["backbone"], f"module {req.module}", req.allow_backbone_mismatch)
        from adapterx.engine.rundir import module_folder

        module = load_module(module_folder(module_path), bb)
        if module.task.name != task.name:
            if module.task.kind != task.kind or module.task.labels != task.labels:
                raise ConfigError(
                    f"module {req.module} has a {module.task.name} head ({module.task.kind}); it cannot predict "
                    f"{task.name} ({task.kind}). Train {task.name} on top of it with `adapterx stack`"
                )
    report = zero_shot(module, task, tok, langs, opts, cfg, req.batch_size, progress, req.max_examples)
    if note:
        report.notes.append(f"{note}; evaluated with --allow-backbone-mismatch")
    if req.save_predictions:
        report.save_predictions(req.save_predictions)
    return report
