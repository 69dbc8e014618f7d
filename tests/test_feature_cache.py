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
    (cache.folder() / f"{key}.pkl").write_bytes(b"\x80\x05truncated")
    again = cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 2 and len(again) == 10


def test_cache_can_be_turned_off(tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("ADAPTERX_FEATURE_CACHE", "0")
    task = get_task("stsb")
    ex = synthetic.sts("en", 5, split="cache-off")
    ops = CountingOps(ops_for(task.kind))
    cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    cache.featurize(ops, task, ex, tiny_tokenizer, 32, 8, True)
    assert ops.calls == 2
