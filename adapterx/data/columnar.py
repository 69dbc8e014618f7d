"""Featurized examples in columns: what the feature cache (:mod:`adapterx.data.cache`) stores and reads back.

A :class:`~adapterx.data.examples.Features` holds, per feature, a dict of token lists (``input_ids``,
``attention_mask``, token ``labels``), per-option token lists (multiple choice), or scalars (a class, a score, an
answer's start and end), plus per-token ``extra`` (QA character offsets or ``None``; tagging word ids or ``None``).
Each key becomes one flat integer array with row offsets -- 8.7k TyDiQA windows of 384 tokens are three arrays, not
6.6M Python ints -- and reading back gives sequences whose items are built from the arrays when they are used
(:class:`LazyItems`, :class:`LazyExtra`). A built item equals the original: the same dict of the same lists and
numbers (``tests/test_feature_cache.py`` compares them for every task kind).

:func:`encode` returns None for anything else (a key missing from some items, strings, a negative offset), and the
cache falls back to a pickle then.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
from adapterx.data.examples import Features

FORMAT = 1
_NONE = -1  # offsets and word ids are >= 0: -1 stands for None in the extra columns


def _ints(flat: list[int]) -> np.ndarray:
    arr = np.asarray(flat, dtype=np.int64)
    if arr.size and -(2**31) <= arr.min() and arr.max() < 2**31:
        return arr.astype(np.int32)  # token ids and masks: half the bytes
    return arr


def _offsets(lengths: list[int]) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _encode_key(values: list[Any]) -> tuple[str, dict[str, np.ndarray]] | None:
    first = values[0]
    if all(_is_int(v) for v in values):
        return "int", {"v": np.asarray(values, dtype=np.int64)}
    if all(isinstance(v, float) for v in values):
        return "float", {"v": np.asarray(values, dtype=np.float64)}  # float64 keeps every Python float exactly
    if isinstance(first, list) and all(isinstance(v, list) and all(_is_int(x) for x in v) for v in values):
        return "seq", {"v": _ints([x for v in values for x in v]), "o": _offsets([len(v) for v in values])}
    if isinstance(first, list) and all(
        isinstance(v, list) and all(isinstance(r, list) and all(_is_int(x) for x in r) for r in v) for v in values
    ):
        rows = [r for v in values for r in v]
        return "seq2", {"v": _ints([x for r in rows for x in r]), "o": _offsets([len(r) for r in rows]),
                        "n": _offsets([len(v) for v in values])}
    return None


def _encode_extra(extra: list[Any]) -> tuple[str, dict[str, np.ndarray]] | None:
    if not extra:
        return "none", {}
    if not all(isinstance(row, list) for row in extra):
        return None
    tokens = [t for row in extra for t in row]
    lengths = [len(row) for row in extra]
    if all(t is None or (_is_int(t) and t >= 0) for t in tokens):  # tagging: word ids
        return "ids", {"v": _ints([_NONE if t is None else t for t in tokens]), "o": _offsets(lengths)}
    if all(t is None or (isinstance(t, tuple) and len(t) == 2 and all(_is_int(x) and x >= 0 for x in t))
           for t in tokens):  # QA: (start, end) character offsets of context tokens
        pairs = [(_NONE, _NONE) if t is None else t for t in tokens]
        return "pairs", {"v": _ints([x for p in pairs for x in p]).reshape(-1, 2), "o": _offsets(lengths)}
    return None


def encode(features: Any) -> dict[str, np.ndarray] | None:
    """The arrays of ``features`` (names ``<column>.<part>``, plus a JSON ``meta``), or None where a column has a
    shape this format does not cover."""
    items = list(features.items)
    keys = list(items[0]) if items else []
    if any(list(it) != keys for it in items):
        return None
    arrays: dict[str, np.ndarray] = {"example_index": np.asarray(features.example_index, dtype=np.int64)}
    kinds: dict[str, str] = {}
    for key in keys:
        enc = _encode_key([it[key] for it in items])
        if enc is None:
            return None
        kinds[key] = enc[0]
        arrays.update({f"item.{key}.{part}": arr for part, arr in enc[1].items()})
    extra = _encode_extra(list(features.extra))
    if extra is None:
        return None
    arrays.update({f"extra.{part}": arr for part, arr in extra[1].items()})
    meta = {"format": FORMAT, "n": len(items), "keys": keys, "kinds": kinds, "extra": extra[0]}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def write(arrays: dict[str, np.ndarray], fh: IO[bytes]) -> None:
    np.savez(fh, **arrays)  # uncompressed: reading is the point


class LazyItems(Sequence):
    """The items of a cached Features: ``items[i]`` builds feature i's dict from the columns."""

    def __init__(self, n: int, keys: list[str], kinds: dict[str, str], cols: dict[str, dict[str, np.ndarray]]) -> None:
        self._n, self._keys, self._kinds, self._cols = n, keys, kinds, cols
        # Row offsets as Python ints: indexing a list is ~10x cheaper than indexing an array for a numpy scalar,
        # and every item build reads two of them per key.
        self._o = {k: c["o"].tolist() for k, c in cols.items() if "o" in c}

    def __len__(self) -> int:
        return self._n

    def _value(self, key: str, i: int) -> Any:
        c, kind = self._cols[key], self._kinds[key]
        if kind == "int":
            return int(c["v"][i])
        if kind == "float":
            return float(c["v"][i])
        if kind == "seq":
            o = self._o[key]
            return c["v"][o[i] : o[i + 1]].tolist()
        o, n = self._o[key], c["n"]  # seq2: rows n[i]..n[i+1] of feature i
        return [c["v"][o[r] : o[r + 1]].tolist() for r in range(n[i], n[i + 1])]

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - int or slice, as a list
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return {key: self._value(key, i) for key in self._keys}

    def lengths(self) -> list[int]:
        """Tokens per feature (all options of a multiple-choice feature), without building the items: evaluation
        sorts features by length to pad little."""
        c, kind = self._cols["input_ids"], self._kinds["input_ids"]
        per_row = np.diff(c["o"])
        if kind == "seq":
            return per_row.tolist()
        return np.add.reduceat(per_row, c["n"][:-1]).tolist() if len(per_row) else [0] * self._n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == self._n and all(a == b for a, b in zip(self, other))


class _Row(Sequence):
    """One feature's extra: ``row[k]`` is None, a word id, or a (start, end) offset pair, built on access (QA
    decoding looks at a handful of tokens per window, not all 384)."""

    def __init__(self, values: np.ndarray) -> None:
        self._v = values

    def __len__(self) -> int:
        return len(self._v)

    def __getitem__(self, k):  # noqa: ANN001, ANN204
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self._v)))]
        v = self._v[k]
        if v.ndim:  # an offset pair
            return None if v[0] == _NONE else (int(v[0]), int(v[1]))
        return None if v == _NONE else int(v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(a == b for a, b in zip(self, other))


class LazyExtra(Sequence):
    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self._v, self._o = values, offsets

    def __len__(self) -> int:
        return len(self._o) - 1

    def __getitem__(self, f):  # noqa: ANN001, ANN204
        if isinstance(f, slice):
            return [self[j] for j in range(*f.indices(len(self)))]
        if f < 0:
            f += len(self)
        return _Row(self._v[self._o[f] : self._o[f + 1]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(a == b for a, b in zip(self, other))


def load(path: Any):  # noqa: ANN201 - Features
    """Features read back from :func:`encode`'s arrays (a ValueError for a file of another format)."""
    with np.load(path, allow_pickle=False) as z:  # allow_pickle=False: arrays only, never objects
        data = {k: z[k] for k in z.files}
    meta = json.loads(data.pop("meta").tobytes().decode())
    if meta.get("format") != FORMAT:
        raise ValueError(f"feature cache format {meta.get('format')}, expected {FORMAT}")
    cols: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in data.items():
        if name.startswith("item."):
            key, part = name[5:].rsplit(".", 1)
            cols.setdefault(key, {})[part] = arr
    items = LazyItems(meta["n"], meta["keys"], meta["kinds"], cols)
    extra: Sequence = [] if meta["extra"] == "none" else LazyExtra(data["extra.v"], data["extra.o"])
    return Features(items, data["example_index"].tolist(), extra)  # type: ignore[arg-type]
