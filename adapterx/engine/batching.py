"""Training batches grouped by length: the training counterpart of what evaluation's ``predict`` does.

Each batch is padded to its longest member, so a batch that mixes a 20-token pair with a 120-token one computes
100 positions of padding for the short one. The Hugging Face Trainer's ``group_by_length`` fixes that without
giving up random batches, and this is the same recipe:

1. shuffle the whole training set (the epoch's random order);
2. cut it into *mega-batches* of ``mult x batch_size`` examples (``mult`` = 50, fewer on small sets);
3. sort each mega-batch by length and cut it into batches.

Batches are then made of neighbours in length, but which examples meet in a mega-batch is random, so every epoch
still sees different batches. Two things differ from the Trainer: the batches are shuffled across the whole epoch
(the Trainer leaves them sorted inside each mega-batch, which makes the per-step loss curve saw-toothed by length),
and a short last batch stays last, so the order still cuts into whole global batches for data-parallel ranks. The
batch with the longest example goes first, as in the Trainer, so a run that cannot fit it in memory fails at step 1.

Measured on real STS-B training pairs (``benchmarks/speed.py``): with the packaged MiniLM's WordPiece tokenizer,
random batches of 16 compute 2.2x the real tokens, grouped ones 1.04x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Mega-batch size in batches (the Trainer's default cap): large enough that batches are tight in length, small
# enough that the examples of a batch are still a random draw.
MEGA_BATCH_MULT = 50
# group_by_length=None (auto) turns grouping on when random batches of this data would be at least this share of
# padding: short texts of varied length (sentence pairs, tagged sentences). Span QA windows are nearly all full.
AUTO_MIN_PADDING = 0.10
# ... and when the length says little about the label. Where it does, grouped batches are also grouped by label,
# and training suffers: synthetic STS-B (length-score rank correlation 0.52) on the tiny model, LoRA, 160 steps,
# dev Spearman 36.9 with random batches, 13.8 grouped (24.1 / 25.5 with mega-batches of 4 / 2 batches). Real STS-B
# train pairs: 0.19 (both tokenizers measured), grouped.
AUTO_MAX_ASSOCIATION = 0.3


def item_lengths(items: Sequence[dict[str, Any]]) -> list[int]:
    """Tokens per feature (all options of a multiple-choice feature together); cached features know them without
    building their items."""
    if hasattr(items, "lengths"):
        return list(items.lengths())  # type: ignore[attr-defined]
    out = []
    for it in items:
        ids = it["input_ids"]
        out.append(sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids))
    return out


def padded_tokens(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> int:
    """Positions a model computes when ``order`` is cut into batches, each padded to its longest member."""
    return sum(max(lengths[i] for i in order[b : b + batch_size]) * len(order[b : b + batch_size])
               for b in range(0, len(order), batch_size))


def padding_share(lengths: Sequence[int], batch_size: int, seed: int = 0) -> float:
    """The share of computed positions that are padding when the data is batched in a random order."""
    import torch

    if not lengths:
        return 0.0
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist()
    computed = padded_tokens(lengths, order, batch_size)
    return 1.0 - sum(lengths) / computed if computed else 0.0


def length_label_association(lengths: Sequence[int], labels: Sequence[Any]) -> float | None:
    """How much the length tells about the label, in [0, 1]: the absolute rank correlation for float labels
    (regression), the correlation ratio (eta) of length over classes for integer labels; None for other labels
    (token tags, answer spans) or fewer than 10 examples."""
    import numpy as np

    if len(labels) < 10 or len(labels) != len(lengths):
        return None
    if all(isinstance(x, float) for x in labels):
        ranks_x = np.argsort(np.argsort(np.asarray(lengths, dtype=float)))
        ranks_y = np.argsort(np.argsort(np.asarray(labels, dtype=float)))
        if ranks_x.std() == 0 or ranks_y.std() == 0:
            return 0.0
        return float(abs(np.corrcoef(ranks_x, ranks_y)[0, 1]))
    if all(isinstance(x, int) and not isinstance(x, bool) for x in labels):
        x = np.asarray(lengths, dtype=float)
        total = ((x - x.mean()) ** 2).sum()
        if total == 0:
            return 0.0
        y = np.asarray(labels)
        between = sum((y == c).sum() * (x[y == c].mean() - x.mean()) ** 2 for c in np.unique(y))
        return float(np.sqrt(between / total))
    return None


def resolve_group_by_length(setting: bool | None, lengths: Sequence[int], batch_size: int,
                            labels: Sequence[Any] | None = None) -> bool:
    """The setting, or for ``None`` (auto): on when random batches would be at least 10% padding and the length
    predicts the label weakly (association below 0.3, :func:`length_label_association`)."""
    if setting is not None:
        return setting
    if padding_share(lengths, batch_size) < AUTO_MIN_PADDING:
        return False
    assoc = length_label_association(lengths, labels) if labels is not None else None
    return assoc is None or assoc < AUTO_MAX_ASSOCIATION


def item_labels(items: Sequence[dict[str, Any]]) -> list[Any] | None:
    """Each feature's label where every feature has one scalar label (sequence tasks, multiple choice), else None."""
    out = []
    for it in items:
        label = it.get("labels") if isinstance(it, dict) else None
        if label is None or isinstance(label, (list, tuple)):
            return None
        out.append(label)
    return out


def length_grouped_order(lengths: Sequence[int], batch_size: int, generator, mega_batch_mult: int | None = None) -> list[int]:  # noqa: ANN001
    """A random epoch order of ``range(len(lengths))`` whose consecutive ``batch_size`` chunks hold examples of
    similar length (module docstring). Draws from ``generator`` (a ``torch.Generator``) only, so a seeded run, and a
    resumed one, gets the same order."""
    import torch

    n = len(lengths)
    if n == 0:
        return []
    if mega_batch_mult is None:
        # The Trainer's rule: at most 50 batches per mega-batch, and at least 4 mega-batches where the data allows.
        mega_batch_mult = max(1, min(n // (batch_size * 4), MEGA_BATCH_MULT))
    mega = mega_batch_mult * batch_size
    perm = torch.randperm(n, generator=generator).tolist()
    batches: list[list[int]] = []
    for start in range(0, n, mega):
        chunk = sorted(perm[start : start + mega], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    last = batches.pop() if len(batches[-1]) < batch_size else None
    if batches:
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in shuffled]
        longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
        batches[0], batches[longest] = batches[longest], batches[0]
    if last is not None:
        batches.append(last)
    return [i for batch in batches for i in batch]
