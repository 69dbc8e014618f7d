"""Scoring retrieval: embeddings of both sides of every language pair at the requested layers, then Tatoeba top-1
accuracy or BUCC margin mining, threshold and F1 (:mod:`adapterx.retrieval.search`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from adapterx.data.examples import ParallelCorpus
from adapterx.errors import DataError
from adapterx.retrieval.corpora import threshold_split
from adapterx.retrieval.result import LanguageRetrieval, Progress, RetrievalResult, RetrieveRequest
from adapterx.tasks import get_task


def score_language(task: str, corpus: ParallelCorpus, src: Any, tgt: Any, req: RetrieveRequest,
                    threshold: float | None = None) -> LanguageRetrieval:
    """One language pair's scores from its embeddings: Tatoeba top-1 accuracy, or BUCC mining at ``threshold``
    (None: the threshold that maximises F1 on the corpus's own gold)."""
    from adapterx.retrieval import search

    sizes = {"n_source": len(corpus.source), "n_target": len(corpus.target)}
    if task == "tatoeba":
        acc, preds = search.top1_accuracy(
            src, tgt, direction=req.direction, backend=req.backend  # type: ignore[arg-type]
        )
        return LanguageRetrieval({"accuracy": acc}, preds, len(preds), sizes)
    # search.evaluate_bucc's steps, keeping the candidates' scores for the predictions file. ``threshold``: chosen
    # on another split's gold (test mined with dev's threshold); None: optimised on this corpus's own gold.
    if not corpus.gold_pairs and threshold is None:
        raise DataError(f"BUCC {corpus.source_lang}-en has no gold pairs: it cannot be scored")
    cands = search.bucc_candidates(
        src, tgt, corpus, k=req.k, mode=req.mode, backend=req.backend  # type: ignore[arg-type]
    )
    if threshold is None:
        threshold = search.optimise_threshold(cands, corpus.gold_pairs)
    predicted = search.extract_pairs(cands, threshold)
    scores: dict[str, float] = {}
    if corpus.gold_pairs:
        p, r, f = search.bitext_f1(predicted, corpus.gold_pairs)
        scores = {"f1": f, "precision": p, "recall": r}
    return LanguageRetrieval(
        scores,
        [(s, t, cands[(s, t)]) for s, t in predicted],
        len(corpus.gold_pairs),
        {**sizes, "threshold": threshold, "n_candidates": len(cands)},
    )


def evaluate_layers(encoder: Any, corpora: Mapping[str, ParallelCorpus], layers: list[int], req: RetrieveRequest,
                    data_source: str, progress: Progress | None, role: str = "module",
                    threshold_corpora: Mapping[str, ParallelCorpus] | None = None) -> dict[int, RetrievalResult]:
    """Score every language at every layer in ``layers`` (each sentence embedded once for all of them). BUCC
    languages in ``threshold_corpora`` are mined with the threshold that maximises F1 on that corpus's gold."""
    from adapterx.retrieval.encode import embed_layers

    task = get_task(req.task)
    t0 = time.perf_counter()
    model_id = str(encoder.backbone.get("id", "?"))
    results = {
        layer: RetrievalResult(
            task=task.name, metric=task.metric, layer=layer, num_layers=encoder.num_layers, pooling=req.pooling,
            direction=req.direction if task.name == "tatoeba" else None, module=encoder.module,
            method=encoder.method, model=model_id, data=data_source, max_length=req.max_length, backend=req.backend,
            mining={"k": req.k, "mode": req.mode, "split": req.split,
                    "threshold": "optimised on gold (XTREME)" if not threshold_corpora else
                    f"optimised on the gold of split {threshold_split(req, next(iter(corpora.values())))} "
                    f"for {', '.join(threshold_corpora)}, applied to {req.split}"}
            if task.name == "bucc" else None,
            split=req.split if task.name == "bucc" else "test", complete=req.max_sentences is None,
        )
        for layer in layers
    }
    kw = {"batch_size": req.batch_size, "max_length": req.max_length, "skip_special_tokens": req.skip_special_tokens}
    for lang, corpus in corpora.items():
        if progress:
            progress({"phase": "embed", "role": role, "lang": lang, "n": len(corpus.source) + len(corpus.target)})
        src_all = embed_layers(encoder, corpus.source, layers, req.pooling, **kw)  # type: ignore[arg-type]
        tgt_all = embed_layers(encoder, corpus.target, layers, req.pooling, **kw)  # type: ignore[arg-type]
        thresholds: dict[int, float] = {}
        other = (threshold_corpora or {}).get(lang)
        if other is not None:
            from adapterx.retrieval import search

            o_src = embed_layers(encoder, other.source, layers, req.pooling, **kw)  # type: ignore[arg-type]
            o_tgt = embed_layers(encoder, other.target, layers, req.pooling, **kw)  # type: ignore[arg-type]
            for layer in layers:
                cands = search.bucc_candidates(o_src[layer], o_tgt[layer], other, k=req.k, mode=req.mode,  # type: ignore[arg-type]
                                               backend=req.backend)  # type: ignore[arg-type]
                thresholds[layer] = search.optimise_threshold(cands, other.gold_pairs)
        for layer in layers:
            res = score_language(task.name, corpus, src_all[layer], tgt_all[layer], req, thresholds.get(layer))
            results[layer].langs[lang] = res
        if progress:
            progress({"phase": "eval", "role": role, "lang": lang,
                      "scores": results[layers[0]].langs[lang].scores if len(layers) == 1 else None})
    seconds = time.perf_counter() - t0
    for res in results.values():
        res.seconds = seconds
    return results
