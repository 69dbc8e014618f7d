"""A content-addressed cache of featurized examples (tokenized inputs, labels, QA windows, word ids).

Tokenizing is the repeated cost of a grid: every cell of a recipe tokenizes the same English training set and the
same evaluation files again. The key is a sha256 over everything the features depend on -- the task's kind, labels
and options, the tokenizer's full serialisation, ``max_length``, ``doc_stride``, train/eval, and the examples
themselves -- so a changed file, tokenizer or setting can never hit a stale entry.

Entries live in ``<adapterx cache>/features/<key>.pkl`` (pickle of plain lists and dicts written by adapterx itself,
in the user's own cache; nothing downloaded is ever unpickled). Written to a temporary file and renamed, so
concurrent processes never read half an entry. ``ADAPTERX_FEATURE_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

_TOKENIZER_KEYS: dict[int, str] = {}


def enabled() -> bool:
    return os.environ.get("ADAPTERX_FEATURE_CACHE", "1").lower() not in {"0", "false", "no", "off"}


def folder() -> Path:
    from adapterx.backbone import cache_dir

    return cache_dir() / "features"


def tokenizer_key(tokenizer: Any) -> str:
    """sha256 of the tokenizer's complete serialisation (vocabulary, normaliser, templates), memoised per object."""
    key = _TOKENIZER_KEYS.get(id(tokenizer))
    if key is None:
        blob = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer)
        key = hashlib.sha256(blob.encode()).hexdigest()
        _TOKENIZER_KEYS[id(tokenizer)] = key
    return key


def features_key(task: Any, examples: list, tokenizer: Any, max_length: int, doc_stride: int, train: bool) -> str:
    h = hashlib.sha256()
    spec = (task.kind, task.labels, task.num_choices, max_length, doc_stride, train, tokenizer_key(tokenizer), 1)
    h.update(repr(spec).encode())
    # Examples are frozen dataclasses of str/float/tuples: their pickle is a stable serialisation of their content.
    h.update(pickle.dumps(examples, protocol=4))
    return h.hexdigest()


def featurize(ops: Any, task: Any, examples: list, tokenizer: Any, max_length: int, doc_stride: int, train: bool):  # noqa: ANN201
    """``ops.featurize(...)``, served from the cache when the same inputs were featurized before."""
    if not enabled():
        return ops.featurize(task, examples, tokenizer, max_length, doc_stride, train)
    key = features_key(task, examples, tokenizer, max_length, doc_stride, train)
    path = folder() / f"{key}.pkl"
    if path.is_file():
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except (EOFError, pickle.UnpicklingError, OSError):  # a damaged entry is recomputed, not trusted
            path.unlink(missing_ok=True)
    feats = ops.featurize(task, examples, tokenizer, max_length, doc_stride, train)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".feat-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(feats, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache only costs speed
        pass
    return feats
