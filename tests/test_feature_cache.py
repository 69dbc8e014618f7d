"""The featurization cache: a second pass with the same inputs is served from disk and equals the first; any change
of examples, settings or tokenizer misses; a damaged entry is recomputed."""

from __future__ import annotations

from adapterx.data import cache, synthetic
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for


class CountingOps:
    def __init__(self, ops):
        self.ops, self.calls = ops, 0

    def featurize(self, *args, **kwargs):
        self.calls += 1
        return self.ops.featurize(*args, **kwargs)


def test_second_pass_is_a_hit_and_equal(tiny_tokenizer):
    task = get_task("tydiqa")
    ex = synthetic.qa("en", 20, split="cache-test")
    ops = CountingOps(ops_for(task.kind))
    first = cache.featurize(ops, task, ex, tiny_tokenizer, 64, 16, True)
    second = cache.featurize(ops, task, ex, tiny_tokenizer, 64, 16, True)
    assert ops.calls == 1
    assert second.items == first.items and second.extra == first.extra and second.example_index == first.example_index
    # Another stride, another split of the examples, eval instead of train: all misses.
    cache.featurize(ops, task, ex, tiny_tokenizer, 64, 8, True)
    cache.featurize(ops, task, ex[:-1], tiny_tokenizer, 64, 16, True)
    cache.featurize(ops, task, ex, tiny_tokenizer, 64, 16, False)
    assert ops.calls == 4


def test_damaged_entry_is_recomputed(tiny_tokenizer):
    task = get_task("stsb")
    ex = synthetic.sts("en", 10, split="cache-damage")
    ops = CountingOps(ops_for(task.kind))
    cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    key = cache.features_key(task, ex, tiny_tokenizer, 32, 8, True)
    entry = cache.folder() / f"{key}.npz"
    entry.write_bytes(entry.read_bytes()[:200])  # truncated, as by a full disk
    again = cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 2 and len(again) == 10
    entry.unlink()
    (cache.folder() / f"{key}.pkl").write_bytes(b"\x80\x05truncated")  # a damaged pickle entry, likewise
    again = cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 3 and len(again) == 10


def test_cache_can_be_turned_off(tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("ADAPTERX_FEATURE_CACHE", "0")
    task = get_task("stsb")
    ex = synthetic.sts("en", 5, split="cache-off")
    ops = CountingOps(ops_for(task.kind))
    cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 2


# ------------------------------------------------------------------------------------------ the columnar entries

import pytest  # noqa: E402

from adapterx.data import columnar  # noqa: E402

KINDS = [  # (task, examples) covering every shape of item and extra the featurizers make
    ("stsb", lambda: synthetic.sts("en", 12, split="col")),  # float labels
    ("xnli", lambda: synthetic.nli("en", 12, split="col")),  # int labels
    ("xcopa", lambda: synthetic.choice("en", 12, split="col")),  # per-option token lists
    ("panx", lambda: synthetic.ner("en", 12, split="col")),  # token labels, word ids in extra
    ("tydiqa", lambda: synthetic.qa("en", 12, split="col")),  # windows, offsets (or None) in extra
]


@pytest.mark.parametrize("name, make", KINDS, ids=[k for k, _ in KINDS])
@pytest.mark.parametrize("train", [True, False])
def test_columns_read_back_exactly_what_was_featurized(tiny_tokenizer, tmp_path, name, make, train):
    task = get_task(name)
    feats = ops_for(task.kind).featurize(task, make(), tiny_tokenizer, 48, 16, train)
    arrays = columnar.encode(feats)
    assert arrays is not None, "every featurizer's output fits the columns"
    with (tmp_path / "f.npz").open("wb") as fh:
        columnar.write(arrays, fh)
    back = columnar.load(tmp_path / "f.npz")
    assert len(back) == len(feats) and back.example_index == feats.example_index
    for got, want in zip(back.items, feats.items):
        assert got == want and {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
    assert len(back.extra) == len(feats.extra)
    for got, want in zip(back.extra, feats.extra):
        assert list(got) == want  # None, word ids, (start, end) pairs as they were
    assert back.items[-1] == feats.items[-1] and back.items[1:3] == feats.items[1:3]
    if task.kind == "span_qa" and train:  # the windows actually overlap: more features than examples
        assert len(feats) >= 12


def test_other_shapes_fall_back_to_a_pickle(tiny_tokenizer):
    from adapterx.tasks.kinds import Features

    assert columnar.encode(Features([{"input_ids": [1, 2], "id": "x"}], [0])) is None  # a string column
    assert columnar.encode(Features([{"input_ids": [1]}, {"labels": 1}], [0, 1])) is None  # keys differ
    assert columnar.encode(Features([{"input_ids": [1]}], [0], [[(-1, 3)]])) is None  # a negative offset


def test_a_hit_reads_the_columns_and_builds_items_lazily(tiny_tokenizer):
    task = get_task("tydiqa")
    ex = synthetic.qa("en", 8, split="cache-lazy")
    ops = CountingOps(ops_for(task.kind))
    first = cache.featurize(ops, task, ex, tiny_tokenizer, 64, 16, False)
    key = cache.features_key(task, ex, tiny_tokenizer, 64, 16, False)
    assert (cache.folder() / f"{key}.npz").is_file() and not (cache.folder() / f"{key}.pkl").exists()
    second = cache.featurize(ops, task, ex, tiny_tokenizer, 64, 16, False)
    assert ops.calls == 1 and isinstance(second.items, columnar.LazyItems)
    assert second.items.lengths() == [len(it["input_ids"]) for it in first.items]
    # QA decoding on the cached features gives the answers it gives on fresh ones.
    import numpy as np

    rng = np.random.default_rng(0)
    kept = [(rng.standard_normal(64), rng.standard_normal(64)) for _ in range(len(first))]
    assert ops.ops.decode(task, kept, second, ex) == ops.ops.decode(task, kept, first, ex)


def test_a_foreign_npz_is_recomputed(tiny_tokenizer):
    import numpy as np

    task = get_task("xnli")
    ex = synthetic.nli("en", 6, split="cache-foreign")
    ops = CountingOps(ops_for(task.kind))
    key = cache.features_key(task, ex, tiny_tokenizer, 32, 8, True)
    cache.folder().mkdir(parents=True, exist_ok=True)
    with (cache.folder() / f"{key}.npz").open("wb") as fh:
        np.savez(fh, meta=np.frombuffer(b'{"format": 99}', dtype=np.uint8))
    feats = cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 1 and len(feats) == 6
    assert cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True).items == feats.items and ops.calls == 1
