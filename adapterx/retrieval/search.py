"""Exact cosine nearest-neighbour search, Tatoeba top-1 accuracy and BUCC bitext mining, in torch.

Conventions follow XTREME's ``third_party/evaluate_retrieval.py`` and ``third_party/utils_retrieve.py`` (itself
derived from LASER); this module is an independent re-implementation, checked against numpy brute force in the tests.

**Tatoeba direction.** XTREME calls ``similarity_search(x, y)`` with ``x`` = embeddings of the non-English file and
``y`` = the English file; that function *indexes x* and *queries with y* (``idx.add(x); idx.search(y, 1)``), so for
every English sentence it retrieves the nearest non-English sentence and scores ``prediction[i] == i``. jiant's
Tatoeba evaluation (used by X-STILTs) does the same (``x=other_lang_embeddings, y=eng_embeddings``). The default here,
``direction="tgt2src"``, is therefore: queries = target (English) side, searched = source (non-English) side.
``"src2tgt"`` (retrieve the English sentence for each non-English one, LASER's "xx -> en" error rate) is available;
on Tatoeba the two usually differ by a point or two, so results must record which was used.

**Similarity.** Cosine: both sides are L2-normalised (float32) and compared by inner product. XTREME uses L2 distance
on normalised vectors for Tatoeba (``IndexFlatL2`` after ``normalize_L2``); since ``|x - y|^2 = 2 - 2 cos(x, y)`` for
unit vectors, the ranking is the same.

**Memory.** Scores are computed block by block: at most ``query_block x key_block`` similarities exist at once (the
defaults, 512 x 32768 float32, are 64 MiB), and a running top-k is merged across key blocks.

**Ties.** ``k = 1`` returns the lowest index among equal best scores (``torch.max`` returns the first maximum and a
later key block replaces the running best only when strictly better). For ``k > 1`` the returned neighbours are sorted
by score, ties by index; which of several keys tied exactly at the k-th place is kept is unspecified (as in faiss).

**BUCC.** Margin-based scoring (Artetxe & Schwenk 2019, "ratio" margin, XTREME's default), with ``k`` nearest
neighbours both ways::

    margin(x, y) = cos(x, y) / ( sum_{z in NN_k(x)} cos(x, z) / 2k  +  sum_{z in NN_k(y)} cos(y, z) / 2k )
                 = cos(x, y) / ( (mean_k(x) + mean_k(y)) / 2 )

Candidates come from ``mine_bitext(..., mode='mine')``: each source sentence's best target *among its k cosine nearest
neighbours* by margin (forward), each target's best source likewise (backward), combined by ``mode``: ``"fwd"``,
``"bwd"``, ``"intersect"`` (forward pairs confirmed backward) or ``"max"`` (XTREME's default: both lists pooled, sorted
by score, taken greedily so that each sentence is used at most once, and kept where the margin is > 0). The threshold
is then chosen as ``bucc_optimize`` does: the one maximising F1 against the gold of the *same* set (XTREME has no
separate threshold for BUCC's dev/"sample" set), and precision, recall and F1 (x100) are those of the pairs scoring at
or above it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

import torch

from adapterx.data.examples import ParallelCorpus
from adapterx.errors import ConfigError, DataError
from adapterx.registry import check_choice

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_DIRECTION",
    "DEFAULT_K",
    "DEFAULT_KEY_BLOCK",
    "DEFAULT_MINING_MODE",
    "DEFAULT_QUERY_BLOCK",
    "Backend",
    "BuccResult",
    "Candidate",
    "Direction",
    "MarginNeighbours",
    "MiningMode",
    "bitext_f1",
    "bucc_candidates",
    "evaluate_bucc",
    "extract_pairs",
    "knn",
    "margin_neighbours",
    "mine_candidates",
    "normalise",
    "optimise_threshold",
    "top1_accuracy",
]

Embeddings = Union[torch.Tensor, "np.ndarray"]
Backend = Literal["torch", "faiss"]
Direction = Literal["tgt2src", "src2tgt"]
MiningMode = Literal["max", "intersect", "fwd", "bwd"]

DEFAULT_QUERY_BLOCK = 512
DEFAULT_KEY_BLOCK = 32768
DEFAULT_DIRECTION: Direction = "tgt2src"  # XTREME and jiant: English queries, non-English side searched
DEFAULT_K = 4  # XTREME mine_bitext(neighborhood=4), LASER's default
DEFAULT_MINING_MODE: MiningMode = "max"  # XTREME mine_bitext(retrieval='max')

DIRECTIONS = ("tgt2src", "src2tgt")
MODES = ("max", "intersect", "fwd", "bwd")
BACKENDS = ("torch", "faiss")


def _positive(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")


def _matrix(emb: Embeddings, what: str) -> torch.Tensor:
    t = torch.as_tensor(emb)
    if t.dim() != 2:
        raise ValueError(f"{what}: embeddings must be a (n, dim) matrix, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    return t


def normalise(emb: Embeddings) -> torch.Tensor:
    """L2-normalised float32 rows; an all-zero row stays zero (as ``faiss.normalize_L2`` leaves it)."""
    return torch.nn.functional.normalize(_matrix(emb, "normalise").float(), p=2.0, dim=1, eps=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# k nearest neighbours
# ---------------------------------------------------------------------------------------------------------------


def _sort_ties_by_index(scores: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Order each row by score descending, equal scores by index ascending (two stable sorts on k columns)."""
    by_index = idx.argsort(dim=1, stable=True)
    scores, idx = scores.gather(1, by_index), idx.gather(1, by_index)
    by_score = scores.argsort(dim=1, descending=True, stable=True)
    return scores.gather(1, by_score), idx.gather(1, by_score)


def _knn_torch(
    q: torch.Tensor, keys: torch.Tensor, k: int, query_block: int, key_block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    n_q, n_k = q.shape[0], keys.shape[0]
    out_s = torch.empty((n_q, k), dtype=torch.float32, device=q.device)
    out_i = torch.empty((n_q, k), dtype=torch.long, device=q.device)
    for qs in range(0, n_q, query_block):
        qb = q[qs : qs + query_block]
        best_s: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for ks in range(0, n_k, key_block):
            sims = qb @ keys[ks : ks + key_block].T  # the only (query_block x key_block) matrix alive
            if k == 1:
                bs, bi = sims.max(dim=1, keepdim=True)  # first maximum on ties
                bi = bi + ks
                if best_s is None or best_i is None:
                    best_s, best_i = bs, bi
                else:
                    better = bs > best_s  # strictly: an earlier (lower-index) block wins ties
                    best_s = torch.where(better, bs, best_s)
                    best_i = torch.where(better, bi, best_i)
                continue
            bs, bi = sims.topk(min(k, sims.shape[1]), dim=1)
            bi = bi + ks
            if best_s is not None and best_i is not None:
                # Merge the running top-k with this block's; older (lower-index) entries first for stable ties.
                bs, bi = torch.cat([best_s, bs], dim=1), torch.cat([best_i, bi], dim=1)
                bs, order = bs.topk(min(k, bs.shape[1]), dim=1)
                bi = bi.gather(1, order)
            best_s, best_i = bs, bi
        assert best_s is not None and best_i is not None
        if k > 1:
            best_s, best_i = _sort_ties_by_index(best_s, best_i)
        out_s[qs : qs + query_block] = best_s
        out_i[qs : qs + query_block] = best_i
    return out_s, out_i


def _knn_faiss(q: torch.Tensor, keys: torch.Tensor, k: int, query_block: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        import faiss  # optional dependency, imported only when asked for
    except ImportError:
        raise ConfigError(
            "backend 'faiss' needs the faiss package, which is not installed: pip install faiss-cpu (or faiss-gpu), "
            "or use backend='torch' (exact, same results)"
        ) from None
    keys_np = keys.detach().cpu().contiguous().numpy()
    index = faiss.IndexFlatIP(keys_np.shape[1])
    index.add(keys_np)
    out_s, out_i = [], []
    for qs in range(0, q.shape[0], query_block):
        s, i = index.search(q[qs : qs + query_block].detach().cpu().contiguous().numpy(), k)
        out_s.append(torch.from_numpy(s))
        out_i.append(torch.from_numpy(i).long())
    return torch.cat(out_s).to(q.device), torch.cat(out_i).to(q.device)


def knn(
    queries: Embeddings,
    keys: Embeddings,
    k: int = 1,
    *,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` keys of highest cosine similarity for every query: ``(similarities, indices)``, both (n_q, k').

    ``k' = min(k, n_keys)`` (XTREME: ``min(y.shape[0], neighborhood)``); rows are sorted by similarity, descending.
    Both inputs are L2-normalised here. Runs on the queries' device. ``backend="faiss"`` uses ``faiss.IndexFlatIP``
    (exact too) and raises :class:`ConfigError` if faiss is not installed.
    """
    _positive(k, "k")
    _positive(query_block, "query_block")
    _positive(key_block, "key_block")
    check_choice(backend, BACKENDS, "search backend")
    q, kv = normalise(queries), normalise(keys)
    if q.shape[1] != kv.shape[1]:
        raise ValueError(f"knn: queries have dimension {q.shape[1]} but keys {kv.shape[1]}; use the same encoder/layer")
    if kv.shape[0] == 0:
        raise ValueError("knn: no keys to search")
    kv = kv.to(q.device)
    k = min(k, kv.shape[0])
    if q.shape[0] == 0:
        return torch.empty((0, k), device=q.device), torch.empty((0, k), dtype=torch.long, device=q.device)
    if backend == "faiss":
        return _knn_faiss(q, kv, k, query_block)
    return _knn_torch(q, kv, k, query_block, key_block)


# ---------------------------------------------------------------------------------------------------------------
# Tatoeba: top-1 accuracy
# ---------------------------------------------------------------------------------------------------------------


def top1_accuracy(
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    gold: Sequence[int] | None = None,
    *,
    direction: Direction = DEFAULT_DIRECTION,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> tuple[float, list[int]]:
    """Top-1 retrieval accuracy (0-100) by cosine similarity and the retrieved index of every query.

    ``src_emb`` embeds the non-English side (``ParallelCorpus.source``), ``tgt_emb`` the English side.
    ``direction="tgt2src"`` (default, XTREME/jiant): every target row is a query and ``predictions[j]`` is the index of
    the retrieved *source* row. ``"src2tgt"``: every source row is a query, ``predictions[i]`` indexes the targets.
    ``gold[q]`` is the correct index for query ``q``; None means the identity (Tatoeba: line i <-> line i), which
    needs both sides to have the same number of rows.
    """
    check_choice(direction, DIRECTIONS, "retrieval direction")
    queries, keys = (tgt_emb, src_emb) if direction == "tgt2src" else (src_emb, tgt_emb)
    _, idx = knn(queries, keys, 1, query_block=query_block, key_block=key_block, backend=backend)
    predictions = idx[:, 0].tolist()
    n = len(predictions)
    if n == 0:
        raise ValueError("top1_accuracy: no queries")
    if gold is None:
        n_keys = torch.as_tensor(keys).shape[0]
        if n_keys != n:
            raise ValueError(
                f"top1_accuracy: {n} queries but {n_keys} candidates; pass gold when the sides are not aligned 1:1"
            )
        gold = range(n)
    elif len(gold) != n:
        raise ValueError(f"top1_accuracy: {len(gold)} gold indices for {n} queries")
    correct = sum(int(p == g) for p, g in zip(predictions, gold, strict=True))
    return 100.0 * correct / n, predictions


# ---------------------------------------------------------------------------------------------------------------
# BUCC: margin scoring and candidate mining
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarginNeighbours:
    """The k-NN lists both ways and their mean similarities, everything margin scoring needs.

    ``fwd_*``: for every source row its k nearest targets; ``bwd_*``: for every target row its k nearest sources.
    ``fwd_mean[i] = mean_k cos(x_i, NN_k(x_i))`` = sum / k, so ``(fwd_mean[i] + bwd_mean[j]) / 2`` is the margin's
    denominator ``sum_x / 2k + sum_y / 2k``.
    """

    fwd_sim: torch.Tensor
    fwd_idx: torch.Tensor
    bwd_sim: torch.Tensor
    bwd_idx: torch.Tensor
    fwd_mean: torch.Tensor
    bwd_mean: torch.Tensor

    def forward_scores(self) -> torch.Tensor:
        """Margin of every forward candidate: (n_src, k)."""
        denom = (self.fwd_mean.unsqueeze(1) + self.bwd_mean[self.fwd_idx]) / 2
        return self.fwd_sim / denom

    def backward_scores(self) -> torch.Tensor:
        """Margin of every backward candidate: (n_tgt, k)."""
        denom = (self.bwd_mean.unsqueeze(1) + self.fwd_mean[self.bwd_idx]) / 2
        return self.bwd_sim / denom


def margin_neighbours(
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    k: int = DEFAULT_K,
    *,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> MarginNeighbours:
    """k-NN by cosine in both directions (k capped at the other side's size, as XTREME does)."""
    fwd_sim, fwd_idx = knn(src_emb, tgt_emb, k, query_block=query_block, key_block=key_block, backend=backend)
    bwd_sim, bwd_idx = knn(tgt_emb, src_emb, k, query_block=query_block, key_block=key_block, backend=backend)
    bwd_sim, bwd_idx = bwd_sim.to(fwd_sim.device), bwd_idx.to(fwd_sim.device)
    return MarginNeighbours(fwd_sim, fwd_idx, bwd_sim, bwd_idx, fwd_sim.mean(dim=1), bwd_sim.mean(dim=1))


@dataclass(frozen=True)
class Candidate:
    """A mined pair: row ``source`` of the source side, row ``target`` of the target side, and its margin score."""

    source: int
    target: int
    score: float


def mine_candidates(
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    *,
    k: int = DEFAULT_K,
    mode: MiningMode = DEFAULT_MINING_MODE,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> list[Candidate]:
    """Candidate pairs by margin, as XTREME's ``mine_bitext(mode='mine', margin='ratio')`` (see the module doc).

    Order: ``"max"`` in acceptance order (score descending; equal scores: forward entries before backward ones, then
    by row), the other modes by source row (``"bwd"``: by target row). ``"max"`` keeps only margins > 0, as XTREME's
    ``threshold=0`` does; the other modes keep every pair, as XTREME writes them.
    """
    check_choice(mode, MODES, "mining mode")
    nb = margin_neighbours(src_emb, tgt_emb, k, query_block=query_block, key_block=key_block, backend=backend)
    fwd_scores, bwd_scores = nb.forward_scores(), nb.backward_scores()
    fwd_pos = fwd_scores.argmax(dim=1, keepdim=True)  # best of the k candidates (first on ties)
    bwd_pos = bwd_scores.argmax(dim=1, keepdim=True)
    fwd_best = nb.fwd_idx.gather(1, fwd_pos)[:, 0].tolist()
    bwd_best = nb.bwd_idx.gather(1, bwd_pos)[:, 0].tolist()
    fwd_max = fwd_scores.gather(1, fwd_pos)[:, 0].tolist()
    bwd_max = bwd_scores.gather(1, bwd_pos)[:, 0].tolist()

    if mode == "fwd":
        return [Candidate(i, j, s) for i, (j, s) in enumerate(zip(fwd_best, fwd_max, strict=True))]
    if mode == "bwd":
        return [Candidate(i, j, s) for j, (i, s) in enumerate(zip(bwd_best, bwd_max, strict=True))]
    if mode == "intersect":
        return [Candidate(i, j, s) for i, (j, s) in enumerate(zip(fwd_best, fwd_max, strict=True)) if bwd_best[j] == i]

    # "max": pool both lists, visit by descending score, accept a pair if neither side is used yet.
    pairs = [(i, j) for i, j in enumerate(fwd_best)] + [(i, j) for j, i in enumerate(bwd_best)]
    all_scores = fwd_max + bwd_max
    order = torch.argsort(torch.tensor(all_scores, dtype=torch.float64), descending=True, stable=True).tolist()
    used_src: set[int] = set()
    used_tgt: set[int] = set()
    out: list[Candidate] = []
    for n in order:
        i, j = pairs[n]
        if i in used_src or j in used_tgt:
            continue
        used_src.add(i)
        used_tgt.add(j)
        if all_scores[n] > 0:
            out.append(Candidate(i, j, all_scores[n]))
    return out


# ---------------------------------------------------------------------------------------------------------------
# BUCC: ids, threshold, F1
# ---------------------------------------------------------------------------------------------------------------

Pair = tuple[str, str]


def _unify(sentences: Sequence[str]) -> tuple[list[int], list[bool]]:
    """XTREME's sentence handling: the rows of distinct sentences, and per such row whether its sentence is ambiguous.

    ``text_load_unify`` embeds each distinct raw line once; ``unique_embeddings`` takes the embedding of its *last*
    occurrence (``{j: i for i, j in enumerate(ind)}`` keeps the last ``i``). ``read_sent2id`` maps candidates back to
    ids through the *stripped* text and drops every stripped sentence that occurs on more than one line.
    """
    last: dict[str, int] = {}
    for i, s in enumerate(sentences):
        last[s] = i  # a dict keeps first-insertion order: distinct rows in order of first occurrence
    stripped = Counter(s.strip() for s in sentences)
    return list(last.values()), [stripped[s.strip()] > 1 for s in last]


def bucc_candidates(
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    corpus: ParallelCorpus,
    *,
    k: int = DEFAULT_K,
    mode: MiningMode = DEFAULT_MINING_MODE,
    unify: bool = True,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> dict[Pair, float]:
    """Mined candidates as ``{(source_id, target_id): margin}`` for a BUCC corpus (rows of the embeddings = lines).

    ``unify=True`` (default, XTREME): identical sentences are embedded once for the k-NN search
    (``text_load_unify``), and candidates whose sentence occurs more than once on its side are dropped, since XTREME
    maps candidates back to ids through the sentence text and cannot tell which id was meant (``read_sent2id``).
    ``unify=False`` mines over every line and keeps every id.
    """
    if not corpus.source_ids or not corpus.target_ids:
        raise DataError(
            "bucc_candidates: the corpus has no sentence ids; read it with adapterx.retrieval.data.read_bucc"
        )
    src, tgt = _matrix(src_emb, "source embeddings"), _matrix(tgt_emb, "target embeddings")
    if src.shape[0] != len(corpus.source) or tgt.shape[0] != len(corpus.target):
        raise ValueError(
            f"bucc_candidates: {src.shape[0]}/{tgt.shape[0]} embeddings for {len(corpus.source)}/{len(corpus.target)} "
            "sentences; embed every line of both files"
        )
    if unify:
        src_rows, src_amb = _unify(corpus.source)
        tgt_rows, tgt_amb = _unify(corpus.target)
    else:
        src_rows, src_amb = list(range(len(corpus.source))), [False] * len(corpus.source)
        tgt_rows, tgt_amb = list(range(len(corpus.target))), [False] * len(corpus.target)
    dev = src.device
    cands = mine_candidates(
        src[torch.tensor(src_rows, device=dev)],
        tgt[torch.tensor(tgt_rows, device=tgt.device)],
        k=k,
        mode=mode,
        query_block=query_block,
        key_block=key_block,
        backend=backend,
    )
    out: dict[Pair, float] = {}
    for c in cands:
        if src_amb[c.source] or tgt_amb[c.target]:
            continue
        key = (corpus.source_ids[src_rows[c.source]], corpus.target_ids[tgt_rows[c.target]])
        out[key] = max(c.score, out.get(key, c.score))  # XTREME keeps the best score of a repeated pair
    return out


def optimise_threshold(candidates: Mapping[Pair, float], gold: Iterable[Pair]) -> float:
    """The threshold maximising F1 of ``{pair: score >= threshold}`` against ``gold`` (XTREME's ``bucc_optimize``).

    Candidates are visited by descending score (ties in insertion order); after each one, precision and recall of the
    prefix are computed, and the best prefix's threshold is the midpoint between its last score and the next one.
    If the best prefix is all candidates, the threshold is the last score (XTREME would index past the end there).
    Returns 0.0 when no candidate is in the gold (XTREME's initial value).
    """
    gold_set = set(gold)
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    n_gold = len(gold_set)
    n_correct = 0
    best_f1, threshold = 0.0, 0.0
    for n, (pair, score) in enumerate(items, start=1):
        if pair in gold_set:
            n_correct += 1
        if n_correct == 0:
            continue
        precision, recall = n_correct / n, n_correct / n_gold
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (score + items[n][1]) / 2 if n < len(items) else score
    return threshold


def extract_pairs(candidates: Mapping[Pair, float], threshold: float) -> list[Pair]:
    """Pairs scoring at or above ``threshold`` (XTREME ``bucc_extract``), in candidate order."""
    return [pair for pair, score in candidates.items() if score >= threshold]


def bitext_f1(predicted: Iterable[Pair], gold: Iterable[Pair]) -> tuple[float, float, float]:
    """(precision, recall, F1), each x100, of the predicted pairs against the gold pairs (both as sets).

    All three are 0 when no predicted pair is in the gold (as XTREME's ``bucc_f1``).
    """
    pred_set, gold_set = set(predicted), set(gold)
    correct = len(pred_set & gold_set)
    if correct == 0:
        return 0.0, 0.0, 0.0
    precision, recall = correct / len(pred_set), correct / len(gold_set)
    return 100 * precision, 100 * recall, 100 * 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class BuccResult:
    """BUCC scores (x100) at ``threshold``, the pairs extracted there, and how many candidates were mined."""

    threshold: float
    precision: float
    recall: float
    f1: float
    predicted: tuple[Pair, ...]
    n_candidates: int


def evaluate_bucc(
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    corpus: ParallelCorpus,
    *,
    threshold: float | None = None,
    k: int = DEFAULT_K,
    mode: MiningMode = DEFAULT_MINING_MODE,
    unify: bool = True,
    query_block: int = DEFAULT_QUERY_BLOCK,
    key_block: int = DEFAULT_KEY_BLOCK,
    backend: Backend = "torch",
) -> BuccResult:
    """Mine, choose the threshold, extract and score, as XTREME's ``bucc_eval``.

    ``threshold`` None (default, XTREME) optimises it on ``corpus.gold_pairs``; pass a number (e.g. the dev set's
    ``BuccResult.threshold``) to apply a fixed one. Scoring needs gold pairs (:class:`DataError` without them).
    """
    if not corpus.gold_pairs:
        raise DataError(
            "evaluate_bucc: the corpus has no gold pairs (no .gold file); use mine_candidates/bucc_candidates to mine"
        )
    cands = bucc_candidates(
        src_emb,
        tgt_emb,
        corpus,
        k=k,
        mode=mode,
        unify=unify,
        query_block=query_block,
        key_block=key_block,
        backend=backend,
    )
    th = optimise_threshold(cands, corpus.gold_pairs) if threshold is None else float(threshold)
    predicted = extract_pairs(cands, th)
    p, r, f = bitext_f1(predicted, corpus.gold_pairs)
    return BuccResult(th, p, r, f, tuple(predicted), len(cands))
