"""What a cell's real data looks like to the cost model: tokens per feature, features per example and examples per
language, measured on the files the cell will read, and the evaluation languages those files hold.

Why measure: the typical lengths by task kind (``cost.TYPICAL_TOKENS``) are XLM-R SentencePiece figures, and a
task's language list is every language it has anywhere. Sizing the MiniLM study found both off for a data folder:
PAN-X sentences are ~19 WordPiece tokens, not 32, and ``../shared/data`` holds 15 of PAN-X's 40 languages and 8 of
UD-POS's, so ``--dry-run`` predicted 70 s for a PAN-X cell that took 25 s. A plan that reads a local folder is now
measured on it (the first ``SAMPLE`` examples of each file, featurized with the backbone's tokenizer, as training
and evaluation will); anything that cannot be read here (a Hub data set, a missing file) keeps the typical figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx import backbone as bbmod
from adapterx.data.sources import DataOptions, load_split
from adapterx.engine.batching import item_lengths
from adapterx.errors import AdapterxError
from adapterx.tasks.kinds import ops_for
from adapterx.workflows.eval import eval_split, select_eval_languages

SAMPLE = 256  # examples featurized per file: the mean length of 256 sentences is within a few % of the file's
# Grouped batches pad to a little over the mean length (measured 1.01-1.04x on real STS-B / XNLI pairs).
PADDING = 1.05


@dataclass(frozen=True)
class Shape:
    """Tokens per feature (padded), features per example (QA windows), and the examples the split gives."""

    tokens: float
    features_per_example: float
    examples: int


_SHAPES: dict[tuple[Any, ...], Shape | None] = {}
_TOKENIZERS: dict[str, Any] = {}


def local_options(opts: DataOptions) -> bool:
    """Whether ``opts`` read a local folder or files (the only data this module measures)."""
    return opts.data_dir is not None or bool(opts.data and Path(opts.data).exists())


def measure(task, split: str, lang: str, opts: DataOptions, backbone: str, max_length: int,  # noqa: ANN001
            doc_stride: int = 64, for_eval: bool = False) -> Shape | None:
    """The shape of ``task``'s ``split`` in ``lang`` as ``opts`` read it (capped as the run caps it), or None when it
    cannot be read here. Cached per process."""
    if not local_options(opts):
        return None
    key = (task.name, split, lang, str(opts.data), str(opts.data_dir), backbone, max_length, doc_stride, for_eval,
           opts.max_train_examples, opts.max_eval_examples)
    if key not in _SHAPES:
        _SHAPES[key] = _measure(task, split, lang, opts, backbone, max_length, doc_stride, for_eval)
    return _SHAPES[key]


def _measure(task, split: str, lang: str, opts: DataOptions, backbone: str, max_length: int,  # noqa: ANN001
             doc_stride: int, for_eval: bool) -> Shape | None:
    try:
        examples, _ = load_split(task, split, lang, opts, for_eval=for_eval)
        tok = _tokenizer(backbone)
    except (AdapterxError, OSError, ValueError):  # not readable here: the caller keeps its typical figures
        return None
    cap = opts.max_train_examples if split == "train" and not for_eval else opts.max_eval_examples
    n = min(len(examples), cap) if cap else len(examples)
    sample = examples[:SAMPLE]
    if not sample:
        return None
    feats = ops_for(task.kind).featurize(task, sample, tok, max_length, doc_stride, train=split == "train" and not for_eval)
    lengths = item_lengths(feats.items)
    if not lengths:
        return None
    return Shape(tokens=PADDING * sum(lengths) / len(lengths), features_per_example=len(lengths) / len(sample),
                 examples=n)


def _tokenizer(backbone: str):  # noqa: ANN202
    if backbone not in _TOKENIZERS:
        _TOKENIZERS[backbone] = bbmod.load_tokenizer(bbmod.resolve(backbone))
    return _TOKENIZERS[backbone]


def eval_languages(task, opts: DataOptions, wanted: list[str], threshold: int = 2) -> tuple[str, list[str]] | None:  # noqa: ANN001
    """The evaluation split and languages a run with ``opts`` evaluates (``wanted``: the cell's eval.languages, empty
    for all), as the run chooses them; None when the options name no local folder or it cannot be listed."""
    if not local_options(opts):
        return None
    try:
        split = eval_split(task, opts)
        return split, select_eval_languages(task, ",".join(wanted) if wanted else "all", opts, threshold, split)
    except (AdapterxError, OSError):
        return None
