"""The library call behind ``adapterx retrieve``: sentence retrieval without training data, and the layer sweep.

:func:`retrieve` embeds both sides of every selected language pair with an encoder *as a module leaves it*
(:func:`adapterx.retrieval.encode.load_encoder`: adapter or LoRA active, or fully fine-tuned weights; ``none`` = the
bare backbone), pools one layer, and scores:

- ``tatoeba``: top-1 accuracy of cosine nearest-neighbour retrieval, with XTREME's direction by default (English
  queries, non-English side searched; :mod:`adapterx.retrieval.search`);
- ``bucc``: margin-based candidate mining, the threshold chosen to maximise F1 on the gold of the same split (XTREME's
  ``bucc_optimize``), and precision / recall / F1 of the pairs at or above it.

:func:`layer_sweep` does the same for every layer (one forward pass per sentence gives all layers) for the module and,
unless told otherwise, for the bare backbone, so that the table and plot show at which layers the module helps.

Modules: :mod:`result` (the request and results), :mod:`corpora` (the data), :mod:`scoring`; this one validates a
request and runs it. Data: ``data_dir`` is an XTREME-style download folder (``<dir>``, ``<dir>/tatoeba``, ``<dir>/tatoeba/v1`` are looked
at for Tatoeba; ``<dir>``, ``<dir>/bucc2018``, ``<dir>/bucc/bucc2018`` for BUCC), or ``data="synthetic"`` (the default
with ``--model tiny`` and no folder) builds parallel data per language with :func:`adapterx.data.synthetic.parallel`.

Results follow ``adapterx eval``'s JSON (``task``, ``metric``, ``scores`` 0-100 per language, the three averages)
plus what the number depends on: layer, pooling, direction (Tatoeba) or mining settings (BUCC), module, backbone,
data, max_length, search backend. Predictions go to ``DIR/<task>/<lang>.jsonl``: Tatoeba ``{"id": q, "prediction":
j}`` (``q`` the 0-based line of the query, ``j`` the 0-based line of the retrieved sentence on the searched side);
BUCC ``{"id": source_id, "prediction": target_id, "score": margin}`` for every extracted pair.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from adapterx.backbone import DEFAULT_MODEL
from adapterx.errors import ConfigError, DataError
from adapterx.engine.loop import check_device
from adapterx.hub.resolve import resolve_module_ref
from adapterx.registry import check_choice
from adapterx.results.predictions import write_xtreme
from adapterx.results.xtreme_export import check_exportable
from adapterx.retrieval.corpora import load_corpora, load_threshold_corpora, synthetic_bucc, synthetic_tatoeba
from adapterx.retrieval.result import LanguageRetrieval, Progress, RetrievalResult, RetrieveRequest, SweepResult
from adapterx.retrieval.scoring import evaluate_layers
from adapterx.tasks import get_task, retrieval_tasks

__all__ = [
    "LanguageRetrieval",
    "RetrievalResult",
    "RetrieveRequest",
    "SweepResult",
    "layer_sweep",
    "load_corpora",
    "retrieve",
    "run_request",
    "synthetic_bucc",
    "synthetic_tatoeba",
]


def _validate(req: RetrieveRequest) -> None:
    from adapterx.retrieval import search

    task = get_task(req.task)  # unknown names: ConfigError with did-you-mean
    runnable = retrieval_tasks()  # the task records: retrieval kind, runnable
    if task.name not in runnable:
        why = f" ({task.notes})" if task.notes else ""
        kind = "a retrieval task that is not runnable yet" if task.kind == "retrieval" else f"a {task.kind} task"
        raise ConfigError(
            f"{task.name} is {kind}{why}; `adapterx retrieve` runs {', '.join(runnable)}"
            + ("" if task.kind == "retrieval" else f": evaluate it with `adapterx eval {task.name}`")
        )
    if req.pooling not in ("mean", "cls"):
        raise ConfigError(f"--pooling {req.pooling!r}: use mean or cls")
    check_choice(req.direction, search.DIRECTIONS, "retrieval direction")
    check_choice(req.mode, search.MODES, "mining mode")
    check_choice(req.backend, search.BACKENDS, "search backend")
    search._positive(req.k, "--k")
    search._positive(req.batch_size, "--batch-size")
    check_device(req.device)
    if req.backend == "faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--faiss needs the faiss package, which is not installed: pip install faiss-cpu (or faiss-gpu), or "
                "leave --faiss out (the torch search is exact too)"
            ) from None


def run_request(req: RetrieveRequest, progress: Progress | None = None) -> RetrievalResult | SweepResult:
    """Run ``req``: :class:`SweepResult` when ``req.sweep``, else :class:`RetrievalResult`."""
    from adapterx.retrieval.encode import load_encoder

    _validate(req)
    # Cheap checks first (module reference, data), then the model.
    resolved = resolve_module_ref(req.module)
    run = resolved[1]
    model_id = req.model or (run.get("backbone", {}).get("id") if run else None) or DEFAULT_MODEL
    corpora, data_source = load_corpora(req, model_id)
    thr_corpora = load_threshold_corpora(req, model_id, corpora)
    no_gold = [lang for lang, c in corpora.items() if req.task == "bucc" and not c.gold_pairs]
    if no_gold and not (req.save_predictions or req.xtreme_out):
        raise DataError(f"BUCC {req.split} has no gold for {', '.join(no_gold)}: it is mined without a score; pass "
                        "--save-predictions DIR or --xtreme-out DIR to keep the mined pairs")
    if req.xtreme_out:
        check_exportable(req.task, None)
        if req.max_sentences is not None:
            raise ConfigError(f"--xtreme-out needs every sentence: drop --max-sentences ({req.max_sentences}), a "
                              "submission must be complete")
    encoder = load_encoder(req.module, model_id, req.device, req.bf16, resolved=resolved,
                           allow_backbone_mismatch=req.allow_backbone_mismatch)
    chosen = encoder.resolve_layer(req.layer)

    if not req.sweep:
        result = evaluate_layers(encoder, corpora, [chosen], req, data_source, progress, threshold_corpora=thr_corpora)[chosen]
        result.notes.extend(encoder.notes)
        if req.save_predictions:
            result.save_predictions(req.save_predictions)
        if req.xtreme_out:
            write_xtreme(result, req.xtreme_out)
        return result

    layers = list(range(encoder.num_layers + 1))
    module_res = evaluate_layers(encoder, corpora, layers, req, data_source, progress, "module", thr_corpora)
    for res in module_res.values():
        res.notes.extend(encoder.notes)
    baseline_res = None
    if req.baseline and req.module != "none":
        del encoder
        base = load_encoder("none", model_id, req.device, req.bf16)
        baseline_res = evaluate_layers(base, corpora, layers, req, data_source, progress, "none", thr_corpora)
    sweep = SweepResult(req.task, module_res[layers[0]].metric, layers, chosen, module_res, baseline_res,
                        low_threshold=req.low_threshold)
    if req.save_predictions:
        module_res[chosen].save_predictions(req.save_predictions)
    if req.xtreme_out:
        write_xtreme(module_res[chosen], req.xtreme_out)
    plot_path = req.plot
    if plot_path is None and req.save_predictions:
        plot_path = Path(req.save_predictions) / req.task / "layer_sweep.png"
    if plot_path is not None:
        from adapterx.retrieval.plot import plot_layer_sweep

        sweep.plot = plot_layer_sweep(sweep, plot_path)
    return sweep


def _request(task: str, module: str, options: Mapping[str, Any]) -> RetrieveRequest:
    known = {f.name for f in fields(RetrieveRequest)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown retrieve option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = dict(options)
    for key in ("data_dir", "save_predictions", "plot"):
        if opts.get(key) is not None:
            opts[key] = Path(opts[key])
    return RetrieveRequest(task=task, module=module, **opts)


def retrieve(task: str, module: str = "none", progress: Progress | None = None, **options: Any) -> RetrievalResult:
    """Retrieval scores of ``module`` (a run directory, a module folder, a hub id, or ``"none"``) on ``task``.

    ``options`` are the fields of :class:`RetrieveRequest`: ``model``, ``data`` / ``data_dir``, ``langs``,
    ``layer``, ``pooling``, ``direction``, ``batch_size``, ``max_length``, ``backend``, ``max_sentences``,
    ``save_predictions`` ... Returns a :class:`RetrievalResult` (``.to_json()`` is ``adapterx retrieve --json``).
    """
    req = replace(_request(task, module, options), sweep=False)
    out = run_request(req, progress)
    assert isinstance(out, RetrievalResult)
    return out


def layer_sweep(task: str, module: str = "none", progress: Progress | None = None, **options: Any) -> SweepResult:
    """:func:`retrieve` at every layer (and for the bare backbone unless ``baseline=False``); ``plot=PATH`` writes
    the PNG (also written to ``<save_predictions>/<task>/layer_sweep.png`` when only that is given)."""
    req = replace(_request(task, module, options), sweep=True)
    out = run_request(req, progress)
    assert isinstance(out, SweepResult)
    return out
