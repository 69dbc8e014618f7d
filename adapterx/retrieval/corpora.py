"""The parallel data ``adapterx retrieve`` scores: synthetic Tatoeba / BUCC corpora, the XTREME-style folders they are
found in (``<dir>``, ``<dir>/tatoeba``, ``<dir>/tatoeba/v1`` for Tatoeba; ``<dir>``, ``<dir>/bucc2018``,
``<dir>/bucc/bucc2018`` for BUCC), subsampling, and the BUCC corpora whose gold sets another split's threshold."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapterx.data import synthetic
from adapterx.data.examples import ParallelCorpus
from adapterx.data.sources import BUILT_IN_MODELS
from adapterx.errors import ConfigError, DataError
from adapterx.languages import select_languages
from adapterx.retrieval.result import RetrieveRequest
from adapterx.tasks import get_task

# Synthetic sizes: Tatoeba pairs per language; BUCC gold pairs per language (plus as many source-only and twice as
# many English-only distractor sentences).
SYNTHETIC_SIZE = {"tatoeba": 500, "bucc": 200}


def synthetic_tatoeba(lang: str, n: int, seed: int = 0) -> ParallelCorpus:
    """Synthetic Tatoeba pair: ``n`` aligned sentences (:func:`adapterx.data.synthetic.parallel`)."""
    return synthetic.parallel(lang, n, seed=seed, split="test")


def synthetic_bucc(lang: str, n_gold: int, seed: int = 0) -> ParallelCorpus:
    """A BUCC-like corpus: ``n_gold`` translation pairs hidden among ``n_gold`` source-only and ``2 n_gold``
    English-only sentences, both sides shuffled, with BUCC-style ids (``<lang>-000123``, ``en-000456``)."""
    par = synthetic.parallel(lang, 4 * n_gold, seed=seed, split="bucc")
    src = list(par.source[: 2 * n_gold])  # rows < n_gold have their translation on the English side
    tgt = list(par.target[:n_gold]) + list(par.target[2 * n_gold :])  # rows >= n_gold: no source counterpart
    rng = random.Random(f"bucc-{lang}-{seed}")
    src_order, tgt_order = list(range(len(src))), list(range(len(tgt)))
    rng.shuffle(src_order)
    rng.shuffle(tgt_order)
    src_id = {row: f"{lang}-{pos:06d}" for pos, row in enumerate(src_order)}
    tgt_id = {row: f"en-{pos:06d}" for pos, row in enumerate(tgt_order)}
    gold = tuple((src_id[i], tgt_id[i]) for i in range(n_gold))
    return ParallelCorpus(
        source=tuple(src[row] for row in src_order),
        target=tuple(tgt[row] for row in tgt_order),
        source_lang=lang,
        target_lang="en",
        source_ids=tuple(src_id[row] for row in src_order),
        target_ids=tuple(tgt_id[row] for row in tgt_order),
        gold_pairs=gold,
    )


def _first_folder(candidates: list[Path], probe: Callable[[Path], Any]) -> tuple[Path, Any]:
    errors = []
    for folder in candidates:
        if not folder.is_dir():
            continue
        try:
            return folder, probe(folder)
        except DataError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    raise DataError(f"{candidates[0]}: no such folder")


def _tatoeba_folder(data_dir: Path) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    from adapterx.retrieval.data import find_tatoeba

    root = Path(data_dir).expanduser()
    return _first_folder([root, root / "tatoeba", root / "tatoeba" / "v1", root / "v1"], find_tatoeba)


def _bucc_folder(data_dir: Path) -> tuple[Path, dict[tuple[str, str], Any]]:
    from adapterx.retrieval.data import find_bucc

    root = Path(data_dir).expanduser()
    return _first_folder([root, root / "bucc2018", root / "bucc" / "bucc2018", root / "bucc"], find_bucc)


def subsample_bucc(corpus: ParallelCorpus, n: int, seed: int) -> ParallelCorpus:
    """At most ``n`` sentences a side, file order kept: gold pairs first (a seeded sample if more than ``n``), then a
    seeded sample of sentences outside any gold pair (so that no unlisted true pair is added)."""
    rng = random.Random(f"bucc-subsample-{seed}")
    gold = list(corpus.gold_pairs)
    if len(gold) > n:
        keep = sorted(rng.sample(range(len(gold)), n))
        gold = [gold[i] for i in keep]
    in_gold_src = {s for s, _ in corpus.gold_pairs}
    in_gold_tgt = {t for _, t in corpus.gold_pairs}

    def side(ids: tuple[str, ...], sents: tuple[str, ...], chosen: set[str], gold_ids: set[str]):  # noqa: ANN202
        others = [i for i, x in enumerate(ids) if x not in gold_ids]
        room = max(0, n - len(chosen))
        extra = set(rng.sample(others, min(room, len(others))))
        rows = [i for i, x in enumerate(ids) if x in chosen or i in extra]
        return tuple(ids[i] for i in rows), tuple(sents[i] for i in rows)

    src_ids, src = side(corpus.source_ids, corpus.source, {s for s, _ in gold}, in_gold_src)
    tgt_ids, tgt = side(corpus.target_ids, corpus.target, {t for _, t in gold}, in_gold_tgt)
    return replace(corpus, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids, gold_pairs=tuple(gold))


def use_synthetic(req: RetrieveRequest, model_id: str) -> bool:
    """Whether ``req`` runs on synthetic parallel data (``--data synthetic``, or a built-in model and no folder)."""
    if req.data == "synthetic":
        if req.data_dir is not None:
            raise ConfigError("--data synthetic and --data-dir exclude each other: pick one")
        return True
    if req.data is None and req.data_dir is None:
        if model_id in BUILT_IN_MODELS:
            return True
        raise ConfigError(
            f"{req.task} needs data: pass --data-dir (an XTREME-style folder, e.g. the one holding "
            f"{'tatoeba/' if req.task == 'tatoeba' else 'bucc2018/'}) or --data synthetic"
        )
    return False


def load_corpora(req: RetrieveRequest, model_id: str) -> tuple[dict[str, ParallelCorpus], str]:
    """The selected language pairs and a provenance string (``synthetic:<n>`` or ``dir:<folder>``)."""
    task = get_task(req.task)
    size = req.synthetic_size or SYNTHETIC_SIZE[req.task]
    if req.max_sentences is not None and (isinstance(req.max_sentences, bool) or req.max_sentences < 1):
        raise ConfigError(f"--max-sentences must be a positive integer, got {req.max_sentences!r}")
    if use_synthetic(req, model_id):
        if size < 2:
            raise ConfigError(f"--synthetic-size must be at least 2, got {size}")
        langs = select_languages(req.langs, task.languages, req.low_threshold)
        make = synthetic_tatoeba if req.task == "tatoeba" else synthetic_bucc
        corpora = {lang: make(lang, size, req.seed) for lang in langs}
        source = f"synthetic:{size}"
    else:
        folder_arg = Path(req.data) if req.data not in (None, "synthetic") else req.data_dir
        if req.data not in (None, "synthetic") and req.data_dir is not None and Path(req.data) != req.data_dir:
            raise ConfigError("--data FOLDER and --data-dir name two folders: pass one")
        assert folder_arg is not None
        if req.task == "tatoeba":
            from adapterx.retrieval.data import read_tatoeba

            folder, pairs = _tatoeba_folder(folder_arg)
            langs = select_languages(req.langs, list(pairs), req.low_threshold)
            corpora = {lang: read_tatoeba(*pairs[lang], source_lang=lang) for lang in langs}
        else:
            from adapterx.retrieval.data import read_bucc

            folder, found = _bucc_folder(folder_arg)
            by_lang = {lang: files for (lang, split), files in found.items() if split == req.split}
            if not by_lang:
                splits = sorted({split for _, split in found})
                raise DataError(f"{folder}: no BUCC files of split {req.split!r}; found splits: {', '.join(splits)}")
            langs = select_languages(req.langs, list(by_lang), req.low_threshold)
            corpora = {}
            for lang in langs:
                files = by_lang[lang]
                if files.gold is None and (req.threshold_from or "dev") == req.split:
                    raise DataError(
                        f"{files.source}: split {req.split!r} has no .gold file, so neither a score nor a mining "
                        "threshold can come from it; pass a split whose threshold --threshold-from can set"
                    )
                # A split without gold (BUCC test) is mined with the threshold chosen on --threshold-from (dev).
                corpora[lang] = read_bucc(files.source, files.target, files.gold, source_lang=lang)
        source = f"dir:{folder}"
    if not corpora:
        raise ConfigError(f"--langs {req.langs!r} selects no language of {req.task} here")
    if req.max_sentences is not None:
        n = req.max_sentences
        if req.task == "tatoeba":
            corpora = {lang: replace(c, source=c.source[:n], target=c.target[:n]) for lang, c in corpora.items()}
        else:
            corpora = {lang: subsample_bucc(c, n, req.seed) for lang, c in corpora.items()}
        source += f" (max {n} sentences a side)"
    return corpora, source


def threshold_split(req: RetrieveRequest, corpus: ParallelCorpus) -> str | None:
    """The BUCC split whose gold sets ``corpus``'s mining threshold, None for the corpus's own gold (XTREME's
    default on dev): ``--threshold-from``, else dev where the split has no gold (the official test protocol)."""
    chosen = req.threshold_from or (None if corpus.gold_pairs else "dev")
    return None if chosen in (None, req.split) else chosen


def load_threshold_corpora(req: RetrieveRequest, model_id: str,
                           corpora: Mapping[str, ParallelCorpus]) -> dict[str, ParallelCorpus]:
    """For every BUCC language mined with another split's threshold, that split's corpus (with gold)."""
    from adapterx.retrieval.data import read_bucc

    need = {lang: threshold_split(req, c) for lang, c in corpora.items()}
    need = {lang: sp for lang, sp in need.items() if sp is not None}
    if req.task != "bucc" or not need:
        return {}
    out: dict[str, ParallelCorpus] = {}
    if use_synthetic(req, model_id):
        size = req.synthetic_size or SYNTHETIC_SIZE[req.task]
        out = {lang: synthetic_bucc(lang, size, req.seed + 1) for lang in need}
    else:
        folder_arg = Path(req.data) if req.data not in (None, "synthetic") else req.data_dir
        assert folder_arg is not None
        folder, found = _bucc_folder(folder_arg)
        for lang, sp in need.items():
            files = found.get((lang, sp))
            if files is None or files.gold is None:
                what = "files" if files is None else "gold file"
                raise DataError(f"{folder}: no BUCC {lang}-en {sp} {what} to choose the mining threshold of split "
                                f"{req.split!r} on; pass --threshold-from with a split that has gold")
            out[lang] = read_bucc(files.source, files.target, files.gold, source_lang=lang)
    if req.max_sentences is not None:
        out = {lang: subsample_bucc(c, req.max_sentences, req.seed) for lang, c in out.items()}
    return out
