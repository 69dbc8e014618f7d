"""Zero-shot evaluation over languages: which languages and split, one process or split across launched ranks,
and `adapterx eval` of any module (a run, a module folder, a hub id, or none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapterx.backbone import DEFAULT_MODEL
from adapterx.engine import speed
from adapterx.data.sources import DataOptions, available_languages, load_split, with_model_defaults
from adapterx.errors import AdapterxError, ConfigError, DataError
from adapterx.engine.loop import Progress, TrainConfig, check_device
from adapterx.hub.resolve import resolve_module_ref
from adapterx.methods.fit import check_fit
from adapterx import backbone as bbmod
from adapterx.data import layout
from adapterx.data.readers import has_labels
from adapterx.engine import distributed
from adapterx.engine.rundir import module_folder
from adapterx.evaluate.zero_shot import EvalReport
from adapterx.evaluate.zero_shot import evaluate_languages
from adapterx.languages import select_languages
from adapterx.methods import FullSpec, build_module, load_module
from adapterx.tasks import get_task
from adapterx.data.layout import canonical_split
from adapterx.fsio import check_output_dir
from adapterx.results.xtreme_export import check_exportable
from adapterx.results.predictions import write_xtreme


def select_eval_languages(task, spec: str, opts: DataOptions, threshold: int = 2,  # noqa: ANN001
                          split: str | None = None) -> list[str]:
    """The languages to evaluate: ``all|low|high|sw,te`` among those the data can provide (of ``split``, default
    the task's evaluation split)."""
    split = "test" if opts.eval_files else split or eval_split(task, opts)
    available = available_languages(task, split, opts)
    return select_languages(spec, available, threshold)


def eval_split(task, opts: DataOptions) -> str:  # noqa: ANN001
    """The task's evaluation split; with a --data-dir that has no files of it (e.g. MLQA test, over 4 MiB and absent
    from a partial copy) but has dev files, dev."""
    if opts.eval_split == "dev":  # asked for (a recipe's eval.split: dev); "test" means the task's own split
        return "dev"
    folder = opts.data_dir or (Path(opts.data) if opts.data and Path(opts.data).is_dir() else None)
    if folder is None or task.layout is None or task.eval_split == "dev":
        return task.eval_split

    if not layout.find_split_files(task.layout, Path(folder), task.eval_split) and layout.find_split_files(task.layout, Path(folder), "dev"):
        return "dev"
    return task.eval_split


def zero_shot(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig,  # noqa: ANN001
              batch_size: int = 32, progress: Progress | None = None, max_examples: int | None = None,
              allow_unlabelled: bool = False, split: str | None = None):  # noqa: ANN201
    """Evaluate every language in ``langs`` on the task's evaluation split, or ``split`` (the first
    ``max_examples`` of each, where given: a quick look, recorded in the report's notes).

    A language whose file has no gold labels (XTREME's test files) is predicted without a score where
    ``allow_unlabelled`` (its predictions are written somewhere); otherwise it is refused before anything runs."""
    module.for_inference()
    if cfg.compile:  # a no-op where training compiled the layers already
        speed.compile_layers(module.model)
    chosen = split or eval_split(task, opts)
    examples, totals, sources, unlabelled = {}, {}, {}, set()
    for lang in langs:
        ex, prov = load_split(task, chosen, lang, opts, for_eval=True)
        totals[lang], sources[lang] = len(ex), prov.source
        ex = ex[:max_examples] if max_examples else ex
        if not has_labels(ex):
            # Unlabelled files (PAN-X test, XTREME's answer-stripped copies, a TSV without its label column) would
            # score 0: predict them without a score where the predictions are kept, refuse them otherwise.
            if not allow_unlabelled:
                raise DataError(f"{task.name} {chosen} ({lang}) from {prov.source} has examples without gold labels; "
                                "evaluate a labelled split (e.g. dev) or file, or pass --save-predictions DIR / "
                                "--xtreme-out DIR to write its predictions without a score")
            unlabelled.add(lang)
        examples[lang] = ex

    def on_lang(lang: str, res: Any) -> None:
        if progress:
            progress({"phase": "eval", "lang": lang, "scores": res.scores})

    report = evaluate_languages(module, task, examples, tok, cfg.max_length, cfg.doc_stride, batch_size, cfg.device,
                                cfg.bf16, on_language=on_lang, unlabelled=frozenset(unlabelled))
    report.split = chosen
    for lang, res in report.langs.items():
        res.total, res.source = totals[lang], sources[lang]
    if unlabelled:
        report.notes.append(f"no gold labels for {', '.join(sorted(unlabelled))} ({chosen} files): predictions "
                            "written, no score")
    if split is None and chosen != task.eval_split:
        report.notes.append(f"evaluated on the {chosen} split: the data folder has no {task.eval_split} files")
    if max_examples:
        report.notes.append(f"only the first {max_examples} examples of each language (--max-examples)")
    return report


def zero_shot_part(module, task, tok, langs: list[str], opts: DataOptions, cfg: TrainConfig,  # noqa: ANN001, ANN202
                    batch_size: int, max_examples: int | None, progress: Progress | None = None,
                    allow_unlabelled: bool = False):
    """This rank's share of a launched run's zero-shot evaluation (languages round-robin over the ranks); every rank
    gets every share back, and rank 0 the whole report. An error on any rank is in the gathered shares: rank 0
    raises it, the others go on to the run's final settle(), where rank 0's error reaches them."""
    rank, world = distributed.rank(), distributed.world_size()
    mine = langs[rank::world]
    try:
        # Each rank reports the languages it scores; rank 0 alone has a progress callback.
        part: Any = zero_shot(module, task, tok, mine, opts, cfg, batch_size, progress, max_examples,
                              allow_unlabelled) if mine else None
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
    report.split = next((r.split for r in reports), None)
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
    split: str | None = None  # default: the task's evaluation split
    xtreme_out: Path | None = None  # also write the predictions in XTREME's submission layout
    compile: bool = False  # torch.compile the transformer layers (adapterx.engine.speed)


def eval_run(req: EvalRequest, progress: Progress | None = None):  # noqa: ANN201
    """Evaluate a trained module (or the bare backbone with a seeded fresh head) on every selected language."""
    distributed.refuse("adapterx eval")  # evaluation only: every rank would evaluate and write the same files

    task = get_task(req.task)
    check_device(req.device)
    if req.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {req.batch_size}")
    module_path, run = resolve_module_ref(req.module)
    model = req.model or (run.get("backbone", {}).get("id") if run else None) or DEFAULT_MODEL
    opts = with_model_defaults(req.data, model, task, training=False)
    try:
        cfg = TrainConfig(max_length=req.max_length, doc_stride=req.doc_stride, seed=req.seed, bf16=req.bf16,
                          device=req.device, compile=req.compile)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--{str(err['loc'][-1]).replace('_', '-')}: {err['msg']}") from None
    if req.xtreme_out:
        check_exportable(task.name, req.max_examples, opts)
    for option, path in (("--save-predictions", req.save_predictions), ("--xtreme-out", req.xtreme_out)):
        if path is not None:  # checked before the model loads: a bad path costs nothing
            check_output_dir(path, option)
    if req.split is not None:
        from dataclasses import replace

        req = replace(req, split=canonical_split(req.split))
    langs = select_eval_languages(task, req.langs, opts, req.low_threshold, req.split)
    bb = bbmod.resolve(model)
    check_fit(bb, max_length=req.max_length)
    tok = bbmod.load_tokenizer(bb)
    note = None
    if module_path is None:
        module = build_module(FullSpec(), bb, task, req.seed)
    else:
        if run.get("backbone"):
            note = bbmod.check_compatible(bb, run["backbone"], f"module {req.module}", req.allow_backbone_mismatch)

        module = load_module(module_folder(module_path), bb)
        if module.task.name != task.name:
            if module.task.kind != task.kind or module.task.labels != task.labels:
                raise ConfigError(
                    f"module {req.module} has a {module.task.name} head ({module.task.kind}); it cannot predict "
                    f"{task.name} ({task.kind}). Train {task.name} on top of it with `adapterx stack`"
                )
    report = zero_shot(module, task, tok, langs, opts, cfg, req.batch_size, progress, req.max_examples,
                       allow_unlabelled=bool(req.save_predictions or req.xtreme_out), split=req.split)
    if note:
        report.notes.append(f"{note}; evaluated with --allow-backbone-mismatch")
    if req.save_predictions:
        report.save_predictions(req.save_predictions)
    if req.xtreme_out:
        write_xtreme(report, req.xtreme_out)
    return report
