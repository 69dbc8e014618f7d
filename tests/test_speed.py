"""Speedups change no result: length-grouped training batches (same loss curve within noise), the attention
implementation and compilation flags recorded in run.json. No test here measures a time (benchmarks/speed.py does)."""

from __future__ import annotations

import random
import statistics

import pytest
import torch

from adapterx.engine import batching


def _lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(8, 128) for _ in range(n)]


def test_grouped_order_is_a_permutation_cut_into_batches_of_similar_length():
    lengths = _lengths(1000)
    order = batching.length_grouped_order(lengths, 16, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(1000))
    batches = [order[b : b + 16] for b in range(0, 1000, 16)]
    # Every example of the longest batch is first: a run that cannot fit it fails at step 1.
    assert max(lengths[i] for i in batches[0]) == max(lengths)
    # The short last batch (1000 = 62 x 16 + 8) stays last, so the order still cuts into whole global batches.
    assert len(batches[-1]) == 8
    spread = statistics.mean(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    rand = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).tolist()
    rand_spread = statistics.mean(max(lengths[i] for i in rand[b : b + 16]) - min(lengths[i] for i in rand[b : b + 16])
                                  for b in range(0, 1000, 16))
    assert spread < rand_spread / 5, (spread, rand_spread)
    assert batching.padded_tokens(lengths, order, 16) < 0.8 * batching.padded_tokens(lengths, rand, 16)


def test_grouped_order_is_seeded_and_random_across_epochs():
    lengths = _lengths(640)
    a = batching.length_grouped_order(lengths, 8, torch.Generator().manual_seed(1))
    b = batching.length_grouped_order(lengths, 8, torch.Generator().manual_seed(1))
    assert a == b
    gen = torch.Generator().manual_seed(1)
    epoch1, epoch2 = (batching.length_grouped_order(lengths, 8, gen) for _ in range(2))
    assert epoch1 != epoch2
    # Batches are random draws, not a fixed sorted partition: the second epoch's batches are mostly new ones.
    cut = lambda o: {frozenset(o[i : i + 8]) for i in range(0, len(o), 8)}  # noqa: E731
    assert len(cut(epoch1) & cut(epoch2)) < 0.1 * len(cut(epoch1))
    # Batches are shuffled across the epoch, not left sorted inside each mega-batch (a saw-toothed loss curve).
    firsts = [max(lengths[i] for i in epoch1[b : b + 8]) for b in range(0, 640, 8)]
    assert firsts != sorted(firsts, reverse=True)


def test_auto_grouping_is_on_for_short_varied_texts_and_off_for_full_windows():
    assert batching.resolve_group_by_length(None, _lengths(500), 16) is True
    full = [128] * 480 + [60] * 20  # QA windows: nearly all full
    assert batching.resolve_group_by_length(None, full, 16) is False
    assert batching.resolve_group_by_length(False, _lengths(500), 16) is False
    assert batching.resolve_group_by_length(True, full, 16) is True


def test_auto_grouping_stays_off_where_the_length_predicts_the_label():
    rng = random.Random(0)
    lengths = _lengths(600)
    tied = [float(n) / 128 * 5 + rng.gauss(0, 0.3) for n in lengths]  # a score that grows with the length
    free = [rng.random() * 5 for _ in lengths]
    assert batching.length_label_association(lengths, tied) > 0.9
    assert batching.length_label_association(lengths, free) < 0.1
    assert batching.resolve_group_by_length(None, lengths, 16, tied) is False
    assert batching.resolve_group_by_length(None, lengths, 16, free) is True
    classes = [int(n > 64) for n in lengths]  # classes told apart by length: eta near 1
    assert batching.length_label_association(lengths, classes) > 0.8
    assert batching.length_label_association(lengths, [rng.randrange(3) for _ in lengths]) < 0.1
    assert batching.item_labels([{"labels": [0, 1]}, {"labels": [1]}]) is None  # token tags: no check


def test_item_lengths_counts_every_option_of_a_choice_feature():
    items = [{"input_ids": [1, 2, 3]}, {"input_ids": [[1, 2], [3, 4, 5]]}]
    assert batching.item_lengths(items) == [3, 5]


def _run(tmp_path, group: bool | None, seed: int):
    from adapterx.data.sources import DataOptions
    from adapterx.engine.loop import TrainConfig
    from adapterx.methods import AdapterSpec
    from adapterx.workflows.train import TrainRequest, train_run

    cfg = TrainConfig(lr=3e-3, batch_size=16, max_steps=160, eval_steps=40, seed=seed, group_by_length=group)
    req = TrainRequest(task="stsb", method=AdapterSpec(reduction_factor=2), model="tiny",
                       data=DataOptions(data="synthetic"), train=cfg, output=tmp_path / f"{group}-{seed}")
    return train_run(req)


def test_grouped_training_has_the_loss_curve_of_random_batches_within_noise(tmp_path):
    """Synthetic STS-B on the tiny model, adapter, 160 steps: grouped and random batches reach the same loss and dev
    score within the seed-to-seed noise of random batches (measured: see the assertions' margins)."""
    plain = _run(tmp_path, False, 3)
    grouped = _run(tmp_path, True, 3)
    other_seed = _run(tmp_path, False, 4)
    assert grouped.run["speed"]["group_by_length"] is True and plain.run["speed"]["group_by_length"] is False
    assert grouped.run["hyperparameters"]["group_by_length"] is True

    def tail(out) -> float:
        return statistics.mean(loss for _, loss in out.metrics["loss_curve"][-40:])

    noise = abs(tail(plain) - tail(other_seed))
    assert abs(tail(grouped) - tail(plain)) <= max(3 * noise, 0.1 * tail(plain)), (tail(grouped), tail(plain), noise)
    # Both learn: the loss falls from its start by a similar amount.
    start = statistics.mean(loss for _, loss in plain.metrics["loss_curve"][:10])
    assert tail(grouped) < start and tail(plain) < start


def test_run_json_records_what_ran(tmp_path):
    out = _run_short(tmp_path)
    speed = out.run["speed"]
    assert speed["attention"] == "sdpa"  # transformers picks the fused attention for XLM-R by itself
    assert speed["compile"] is False
    # auto (None) on synthetic STS-B: padded, but its pair length predicts the score (rank correlation 0.52), and
    # length-grouped batches would be score-grouped too: not grouped
    assert out.run["hyperparameters"]["group_by_length"] is None and speed["group_by_length"] is False


def _run_short(tmp_path):
    from adapterx.data.sources import DataOptions
    from adapterx.engine.loop import TrainConfig
    from adapterx.methods import LoRASpec
    from adapterx.workflows.train import TrainRequest, train_run

    cfg = TrainConfig(lr=3e-3, batch_size=8, max_steps=2, seed=0)
    return train_run(TrainRequest(task="stsb", method=LoRASpec(), model="tiny", data=DataOptions(data="synthetic"),
                                  train=cfg, output=tmp_path / "short"))


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_transformer_layers_are_found_under_every_method(tiny, method):
    from adapterx.engine import speed
    from adapterx.methods import AdapterSpec, FullSpec, LoRASpec, build_module
    from adapterx.tasks import get_task

    spec = {"adapter": AdapterSpec(), "lora": LoRASpec(), "full": FullSpec()}[method]
    module = build_module(spec, tiny, get_task("stsb"), seed=0)
    assert len(speed.transformer_layers(module.model)) == tiny.num_layers
    assert speed.attention_implementation(module.model) == "sdpa"


# --------------------------------------------------------------------------------------------------------------
# Whole-grid cost: the estimator, from a calibration planted in the cache (measuring one is benchmarks/speed.py's
# job: it takes a minute even on the tiny model).


def _fake_calibration(model: str, methods: list[str], targets: list[str]) -> dict:
    from adapterx.grid import cost

    rates = {"build_s": 1.0, "save_s": 0.5, "train_a": 0.01, "train_b": 0.001, "infer_a": 0.005, "infer_b": 0.0001}
    return {"version": cost.CALIBRATION_VERSION, "model": model, "device": "cpu", "threads": 1, "load": 0.5,
            "created": "2026-01-01T00:00:00", "seconds": 1.0, "featurize_s_per_example": 0.0001,
            "stage_overhead_s": 2.0, "loop_step_overhead_s": 0.002, "eval_example_overhead_s": 0.001,
            "eval_example_overhead_by_task": {}, "startup_s": 3.0, "methods": {m: dict(rates) for m in methods}}


def _plant(model: str, methods: list[str], targets: list[str]) -> None:
    import json

    from adapterx.engine.loop import pick_device
    from adapterx.grid import cost

    shape = cost.backbone_shape(model)
    path = cost.cache_folder() / f"{cost.calibration_key(model, shape, methods, pick_device(None), targets)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_fake_calibration(model, methods, targets)))


def test_grid_estimate_counts_each_stage_and_shared_intermediates_once(tiny):
    from pathlib import Path

    from adapterx.grid import cost
    from adapterx.grid.recipe import expand, load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "smoke-tiny.yaml", [])
    cells = expand(recipe)
    cals = {(c["backbone"], c["method"]["name"]): _fake_calibration("tiny", ["adapter", "lora"], [])
            for c in cells}
    est = cost.estimate_grid(cells, cals)
    assert est["intermediate_trainings"] == 2 and est["uncalibrated_cells"] == 0
    sec = est["seconds"]
    assert all(sec[k] > 0 for k in ("intermediate", "target", "zero_shot"))
    assert est["total_seconds"] == pytest.approx(sum(sec.values()) + 3.0, abs=0.2)
    # twice the seeds: twice the target and evaluation work, the same shared intermediates per seed pair
    cells2 = expand(load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "smoke-tiny.yaml", ["seeds=[1,2]"]))
    est2 = cost.estimate_grid(cells2, cals)
    assert est2["seconds"]["target"] == pytest.approx(2 * sec["target"], rel=0.01)
    assert est2["seconds"]["zero_shot"] == pytest.approx(2 * sec["zero_shot"], rel=0.01)
    # a cell whose backbone has no calibration is counted apart, not guessed
    assert cost.estimate_grid(cells, {})["uncalibrated_cells"] == len(cells)


def test_dry_run_prints_per_stage_estimates_from_the_cached_calibration(tiny, tmp_path):
    import json
    from pathlib import Path

    from conftest import run_cli

    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "smoke-tiny.yaml")
    _plant("tiny", ["adapter", "lora"], ["panx", "xnli"])
    res = run_cli("run", recipe, "--dry-run", "--no-calibrate", "--run-dir", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    for line in ("measured estimate on this machine", "intermediate training", "target training",
                 "zero-shot evaluation"):
        assert line in res.output
    res = run_cli("run", recipe, "--dry-run", "--no-calibrate", "--json", "--run-dir", str(tmp_path / "r"))
    plan = json.loads(res.stdout)
    assert plan["cost"]["dominant_stage"] in ("intermediate", "target", "zero_shot")
    assert not (tmp_path / "r").exists()


def test_compiled_layers_predict_what_plain_layers_predict(tiny, tiny_tokenizer):
    """compile_layers wiring: evaluation through the traced layers gives the same predictions. The dynamo trace runs
    with backend="eager" (no code generation: inductor takes minutes on this CPU, benchmarks/README.md)."""
    from adapterx.data import synthetic
    from adapterx.engine import speed
    from adapterx.evaluate.zero_shot import predict
    from adapterx.methods import AdapterSpec, build_module
    from adapterx.tasks import get_task

    task = get_task("xnli")
    module = build_module(AdapterSpec(), tiny, task, seed=0)
    examples = synthetic.nli("de", 48, seed=1, split="test")
    plain = predict(module, task, examples, tiny_tokenizer, 64, 16, 16, "cpu")
    assert speed.compile_layers(module.model, backend="eager") == tiny.num_layers
    assert predict(module, task, examples, tiny_tokenizer, 64, 16, 16, "cpu") == plain


def test_grid_estimate_reads_the_languages_and_lengths_of_a_local_data_folder(tiny, tmp_path):
    """A cell that reads a local folder is estimated on it: the evaluation languages the folder holds (not every
    language of the task: PAN-X has 40, ../shared/data 15), and their measured lengths (sizing the MiniLM study,
    the typical lengths and the task's language list predicted 70 s for a 25 s PAN-X cell)."""
    from adapterx.grid import cost, data_shape
    from adapterx.grid.recipe import expand, load_recipe
    from tests.study_bundle import tiny_recipe, write_data
    from tests.xtreme_files import write_task

    root = write_data(tmp_path / "data")  # PAN-X: en train/dev; dev in en, sw, de
    recipe = tiny_recipe(tmp_path / "r.yaml", root, targets=["panx"], seeds=[1],
                         eval={"split": "test", "per_task": {"panx": {"split": "dev"}}})
    cells = expand(load_recipe(recipe))
    cal = _fake_calibration("tiny", ["adapter"], [])
    cal["methods"]["adapter"]["infer_b"] = 0.01  # large enough for the 0.1 s rounding of the estimate
    cals = {("tiny", "adapter"): cal}
    opts = cost.data_options(cells[0])
    assert data_shape.eval_languages(cost.get_task("panx"), opts, []) == ("dev", ["de", "en", "sw"])
    before = cost.estimate_grid(cells, cals)["seconds"]["zero_shot"]
    write_task(root, "panx", "fr", split="dev")  # one more language in the folder: one more language evaluated
    data_shape._SHAPES.clear()
    after = cost.estimate_grid(cells, cals)["seconds"]["zero_shot"]
    assert after == pytest.approx(before * 4 / 3, rel=0.2)
    # lengths are measured: sentences of four times the words cost more per training step
    short = data_shape.measure(cost.get_task("panx"), "train", "en", opts, "tiny", 128)
    path = root / "panx" / "train-en.tsv"
    path.write_text("".join((line + "\n") * 4 if line else "\n"
                            for line in path.read_text(encoding="utf-8").split("\n")), encoding="utf-8")
    data_shape._SHAPES.clear()
    long = data_shape.measure(cost.get_task("panx"), "train", "en", opts, "tiny", 128)
    assert short is not None and long is not None and long.tokens > 2 * short.tokens
