"""A content-addressed cache of featurized examples (tokenized inputs, labels, QA windows, word ids).

Tokenizing is the repeated cost of a grid: every cell of a recipe tokenizes the same English training set and the
same evaluation files again. The key is a sha256 over everything the features depend on -- the task's kind, labels
and options, the tokenizer's full serialisation, ``max_length``, ``doc_stride``, train/eval, and the examples
themselves -- so a changed file, tokenizer or setting can never hit a stale entry.

Entries live in ``<adapterx cache>/features/<key>.npz``: the features in columns (:mod:`adapterx.data.columnar`:
every token sequence of a key in one flat integer array plus row offsets), read back as views that build an item's
lists only when it is used. Unpickling the same features as Python lists took 0.6-0.8 s for TyDiQA's dev set (8.7k
windows of 384 tokens, 30 MB), about a quarter of featurizing it again; the columns load in milliseconds. Features
of another shape fall back to ``<key>.pkl`` (a pickle written by adapterx itself, in the user's own cache; nothing
downloaded is ever unpickled). Both are written to a temporary file and renamed, so concurrent processes never read
half an entry; each carries its sha256 in ``<entry>.sha256`` (:mod:`adapterx.cachedir`), and one that does not
match it is recomputed. ``ADAPTERX_FEATURE_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import weakref
import os
import pickle
from pathlib import Path
from typing import Any
from adapterx.cachedir import file_intact, sums_path, write_file_sum
from adapterx.paths import cache_dir
from adapterx.data import columnar
from adapterx.fsio import atomic_open

_TOKENIZER_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def enabled() -> bool:
    return os.environ.get("ADAPTERX_FEATURE_CACHE", "1").lower() not in {"0", "false", "no", "off"}


def folder() -> Path:
    return cache_dir() / "features"


def tokenizer_key(tokenizer: Any) -> str:
    """sha256 of the tokenizer's complete serialisation (vocabulary, normaliser, templates) and of the inputs it
    returns (``model_input_names``: with or without ``token_type_ids``), memoised per object."""
    # Memoised by the object itself (weakly), not by id(): an id is reused once its object is collected, and a stale
    # key would hand one tokenizer's cached features to another (seen: a DeBERTa run reading a BERT run's ids).
    try:
        key = _TOKENIZER_KEYS.get(tokenizer)
    except TypeError:  # not weak-referenceable or not hashable: no memo
        key = None
    if key is None:
        blob = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer)
        blob += repr(list(getattr(tokenizer, "model_input_names", [])))
        key = hashlib.sha256(blob.encode()).hexdigest()
        try:
            _TOKENIZER_KEYS[tokenizer] = key
        except TypeError:
            pass
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
    cols, pkl = folder() / f"{key}.npz", folder() / f"{key}.pkl"
    for path, load in ((cols, columnar.load), (pkl, _load_pickle)):
        if path.is_file():
            # An entry is loaded only where it matches the checksum written beside it: bytes changed inside its
            # arrays would still load, as other token ids. A damaged, unsealed or foreign entry is recomputed.
            if file_intact(path):
                try:
                    return load(path)
                except Exception:  # noqa: BLE001
                    pass
            path.unlink(missing_ok=True)
            sums_path(path).unlink(missing_ok=True)
    feats = ops.featurize(task, examples, tokenizer, max_length, doc_stride, train)
    try:
        arrays = columnar.encode(feats)  # None where the features have a shape the columns do not cover
        # atomic_open: a half-written entry is never left behind
        with atomic_open(cols if arrays is not None else pkl, "wb") as f:
            if arrays is not None:
                columnar.write(arrays, f)
            else:
                pickle.dump(feats, f, protocol=pickle.HIGHEST_PROTOCOL)
        write_file_sum(cols if arrays is not None else pkl)  # the cache entry's checksum, beside it
    except Exception:  # noqa: BLE001 - a read-only or full cache, or features it cannot store, only cost speed
        pass
    return feats


def _load_pickle(path: Path):  # noqa: ANN202
    import gc

    # Unpickling creates millions of small lists; the cyclic collector would walk them again and again meanwhile
    # (measured 0.61 -> 0.44 s for TyDiQA dev with it paused). None of them can form a cycle.
    enabled_before = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    finally:
        if enabled_before:
            gc.enable()
