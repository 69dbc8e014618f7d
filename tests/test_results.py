"""The results store (concurrent writers), the runner (skipping, failures, executors) and the aggregation.

``fake_run_cell`` stands in for adapterx.grid.run_cell.run_cell: deterministic synthetic scores with a real effect of the
stsb intermediate task on low-resource languages, built from per-example records so the bootstrap has data.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapterx.errors import ConfigError
from adapterx.grid.recipe import cell_hash, expand, validate_recipe
from adapterx.results.aggregate import ReportOptions, build_report, metric_from_stats
from adapterx.results.store import CellRecord, ResultsStore
from adapterx.grid.execute_cell import execute_cell, record_from_result
from adapterx.grid.runner import make_plan, run_recipe

LANGS = {"xnli": ["en", "de", "hi", "sw", "ur"], "panx": ["en", "de", "sw", "yo", "te"],
         "tydiqa": ["en", "fi", "sw", "te"], "xquad": ["en", "de", "es"]}
LOW = {"sw", "yo", "te", "ur"}  # ur is class 3: "low" only in the fake's effect, to keep the data varied
TRUE_LOW = {"sw", "yo", "te"}
N_EX = 150
PARAMS = {"full": 278_000_000, "adapter": 1_500_000, "lora": 300_000}


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def fake_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Scores = base(lang) + effect(intermediate, lang) + seed noise; records share a per-example difficulty."""
    target, method, chain = cell["target"], cell["method"]["name"], cell["intermediate"]
    kind = "f1" if target == "panx" else "mean"
    per_example: dict[str, list[dict[str, Any]]] = {}
    scores: dict[str, dict[str, float]] = {}
    for lang in LANGS[target]:
        difficulty = _rng(target, lang).random((N_EX, 2))  # shared by all conditions: the comparison is paired
        p = 0.75 - (0.25 if lang in LOW else 0.0) - (0.05 if method != "full" else 0.0)
        if "stsb" in chain:
            p += 0.15 if lang in TRUE_LOW else 0.01
        p += _rng(cell["seed"], method, "+".join(chain), lang).normal(0, 0.01)
        hit = difficulty < p
        if kind == "f1":
            recs = [{"tp": int(h.sum()), "n_pred": 2, "n_gold": 2} for h in hit]
            scores[lang] = {"f1": metric_from_stats("f1", recs)}
        elif target in ("tydiqa", "xquad"):
            recs = [{"score": (float(h[0] and h[1]) + float(h[0])) / 2} for h in hit]
            em = 100 * float(np.mean([h[0] and h[1] for h in hit]))
            f1 = 100 * float(np.mean(hit[:, 0]))
            scores[lang] = {"em": em, "f1": f1, "score": (em + f1) / 2}
        else:
            recs = [{"score": float(h[0])} for h in hit]
            scores[lang] = {"accuracy": metric_from_stats("mean", recs)}
        per_example[lang] = recs
    metric = "f1" if kind == "f1" else "score" if target in ("tydiqa", "xquad") else "accuracy"
    (out_dir / "run.json").write_text(json.dumps({"task": target, "chain": [*chain, target]}))
    return {"eval": {"task": target, "metric": metric, "scores": scores}, "per_example": per_example,
            "metric_kind": kind, "trainable_params": PARAMS[method], "train_time_s": 1.0 + len(chain),
            "run_dir": str(out_dir)}


def broken_run_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    if cell["target"] == "panx":
        raise RuntimeError("boom")
    return fake_run_cell(cell, out_dir)


def small_recipe(**changes: Any) -> Any:
    data = {"name": "t", "backbones": ["tiny"], "methods": ["full", "adapter", "lora"],
            "intermediates": ["none", "stsb"], "targets": ["xnli", "panx"], "seeds": [1, 2]}
    return validate_recipe({**data, **changes})


# --------------------------------------------------------------------------------------------------------------
# store


def _record(seed: int) -> CellRecord:
    import tempfile

    cell = expand(small_recipe(seeds=[seed]))[0]
    with tempfile.TemporaryDirectory() as d:
        return record_from_result(cell, cell_hash(cell), fake_run_cell(cell, Path(d)), {"pid": 0})


def _writer(db: str, start: int, n: int) -> None:
    store = ResultsStore(db, timeout_s=60)
    for i in range(start, start + n):
        assert store.record_cell(_record(i))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "results.sqlite")
    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_writer, args=(db, start, 15)) for start in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = ResultsStore(db)
    assert store.count_cells() == 30
    assert len(store.rows()) == 30 * len(LANGS["xnli"])
    h = next(iter(store.done_hashes()))
    kind, recs = store.example_stats(h, "sw")  # type: ignore[misc]
    assert kind == "mean" and len(recs) == N_EX
    con = __import__("sqlite3").connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_record_is_idempotent_and_holds_the_contract_columns(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.sqlite")
    rec = _record(3)
    assert store.record_cell(rec) is True
    assert store.record_cell(rec) is False
    cols = [r[1] for r in store._query("PRAGMA table_info(results)")]
    for col in ("cell_hash", "backbone", "method", "intermediate", "target", "seed", "lang", "metric", "score",
                "n_examples", "trainable_params", "train_time_s", "spec_json", "provenance_json"):
        assert col in cols
    row = store.rows()[0]
    assert row.intermediate == "none" and row.n_examples == N_EX and row.trainable_params == PARAMS["full"]


# --------------------------------------------------------------------------------------------------------------
# runner


def test_grid_runs_skips_done_cells_and_extends(tmp_path: Path) -> None:
    recipe = small_recipe(seeds=[1])
    s1 = run_recipe(recipe, tmp_path, cell_fn=fake_run_cell)
    assert len(s1.outcomes) == 12 and not s1.failed
    s2 = run_recipe(recipe, tmp_path, cell_fn=fake_run_cell)
    assert s2.outcomes == [] and s2.n_done_before == 12
    bigger = small_recipe(seeds=[1, 2])  # extended grid: only the new seed runs
    s3 = run_recipe(bigger, tmp_path, cell_fn=fake_run_cell)
    assert len(s3.outcomes) == 12 and s3.n_done_before == 12
    assert (tmp_path / "recipe.yaml").is_file()
    h = s3.outcomes[0].cell_hash
    assert {"cell.json", "result.json", "record.json.gz"} <= {p.name for p in (tmp_path / "cells" / h).iterdir()}


def test_failed_cells_are_recorded_and_retried(tmp_path: Path) -> None:
    recipe = small_recipe(seeds=[1], methods=["adapter"])
    s = run_recipe(recipe, tmp_path, cell_fn=broken_run_cell)
    assert len(s.failed) == 2 and "boom" in (s.failed[0].error or "")
    store = ResultsStore.for_run(tmp_path)
    assert len(store.failures()) == 2
    s2 = run_recipe(recipe, tmp_path, cell_fn=fake_run_cell)
    assert len(s2.outcomes) == 2 and not s2.failed and store.failures() == []


def test_bad_run_cell_result_is_a_failure_naming_the_contract(tmp_path: Path) -> None:
    cell = expand(small_recipe(seeds=[1]))[0]
    out = execute_cell(cell, tmp_path, lambda c, d: {"eval": {}, "per_example": {}})
    assert out.status == "failed" and "returned no metric_kind" in (out.error or "")


def test_missing_pipeline_and_tracker_are_clear_errors(tmp_path: Path) -> None:
    from adapterx.grid.cell_function import resolve_cell_fn
    from adapterx.grid.runner import check_report_to

    with pytest.raises(ConfigError, match="module:function"):
        resolve_cell_fn("nocolon")
    with pytest.raises(ConfigError, match="pip install definitely_not_installed_pkg"):
        import adapterx.engine.tracking as t  # the tracker table the runner checks against

        t.PACKAGES["fake"] = "definitely_not_installed_pkg"
        try:
            check_report_to("fake")
        finally:
            del t.PACKAGES["fake"]


def test_plan_counts_and_estimates(tmp_path: Path) -> None:
    plan = make_plan(small_recipe(), tmp_path).to_json()
    assert plan["n_cells"] == 24 and plan["n_todo"] == 24
    est = plan["estimate"]
    # 3 methods x 2 seeds stsb trainings, shared across the two targets
    assert est["intermediate_trainings"] == 6 and est["optimizer_steps"] > 0
    assert not (tmp_path / "results.sqlite").exists()  # a dry run writes nothing


def test_local_executor_runs_cells_in_worker_processes(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    try:
        recipe = small_recipe(seeds=[1], methods=["lora"], targets=["xnli"])
        s = run_recipe(recipe, tmp_path, executor="local", cell_fn=fake_run_cell, max_parallel=2)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [o.status for o in s.outcomes] == ["done", "done"], s.outcomes
    assert ResultsStore.for_run(tmp_path).count_cells() == 2


def gpu_recording_cell(cell: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """fake_run_cell, noting the GPUs the worker was given and when it ran."""
    import os
    import time

    start = time.time()
    time.sleep(0.5)
    (out_dir / "gpus.json").write_text(json.dumps({"gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                                   "start": start, "end": time.time()}))
    return fake_run_cell(cell, out_dir)


def test_local_executor_gives_each_running_cell_gpus_of_its_own(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("submitit")
    import cloudpickle

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4")  # 5 GPUs, 2 per cell: 2 slots, GPU 4 unused
    recipe = small_recipe(seeds=[1, 2], methods=["lora"], targets=["xnli"],
                          execution={"gpus_per_cell": 2, "processes_per_cell": 1, "max_parallel": 4})
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        s = run_recipe(recipe, tmp_path, executor="local", cell_fn=gpu_recording_cell)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [o.status for o in s.outcomes] == ["done"] * 4, s.outcomes
    runs = [json.loads(p.read_text()) for p in tmp_path.glob("cells/*/gpus.json")]
    assert len(runs) == 4 and {r["gpus"] for r in runs} <= {"0,1", "2,3"}
    for a in runs:  # no two cells held the same GPUs at the same time
        for b in runs:
            if a is not b and a["gpus"] == b["gpus"]:
                assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    assert max(sum(r["start"] <= t < r["end"] for r in runs) for t in (r["start"] for r in runs)) <= 2
    with pytest.raises(ConfigError, match="gpus_per_cell: 8, but 5 GPU"):
        run_recipe(small_recipe(execution={"gpus_per_cell": 8}), tmp_path / "x", executor="local",
                   cell_fn=gpu_recording_cell)


# --------------------------------------------------------------------------------------------------------------
# aggregation


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    run_recipe(small_recipe(targets=["xnli", "panx", "tydiqa", "xquad"], seeds=[1, 2, 3]), d, cell_fn=fake_run_cell)
    return d


def test_report_deltas_seeds_and_intervals(report_dir: Path) -> None:
    rep = build_report(report_dir, ReportOptions(n_boot=300))
    xnli = rep["targets"]["xnli"]
    assert set(xnli["low_resource"]) == {"sw"} and "ur" in xnli["high_resource"]
    d = xnli["deltas"]["tiny/adapter/stsb"]
    assert d["baseline"] == "tiny/adapter/none"
    sw = d["languages"]["sw"]
    assert sw["n_seeds"] == 3 and sw["std"] is not None
    assert 8 < sw["mean"] < 22 and sw["ci"][0] > 0  # real effect, interval excludes zero
    de = d["languages"]["de"]
    assert de["ci"][0] < de["mean"] < de["ci"][1] and abs(de["mean"]) < 5
    low = d["groups"]["low"]
    assert low["n_langs"] == 1 and low["ci"][0] > 0
    # panx (f1 kind) has three low-resource languages; their group interval averages theirs
    pl = rep["targets"]["panx"]["deltas"]["tiny/lora/stsb"]["groups"]
    assert pl["low"]["n_langs"] == 3 and pl["low"]["mean"] > pl["high"]["mean"]
    # QA: stored score is (EM + F1) / 2
    ty = rep["targets"]["tydiqa"]
    assert ty["metric"] == "em_f1"
    # xquad has no low-resource language: said, not an empty average
    assert rep["targets"]["xquad"]["averages"]["tiny/full/none"]["low"] is None
    assert any("xquad: no low-resource language" in n for n in rep["notes"])
    # overall: average languages per task, then tasks
    o = rep["overall"]["tiny/full/none"]
    per_task = [rep["targets"][t]["averages"]["tiny/full/none"]["all"]["mean"] for t in rep["targets"]]
    assert o["score"]["all"] == pytest.approx(sum(per_task) / len(per_task))
    assert o["trainable_params"] == PARAMS["full"] and o["delta"] is None
    assert rep["overall"]["tiny/full/stsb"]["delta"]["low"]["ci"][0] > 0
    assert not any("disagree" in n for n in rep["notes"])  # stored scores match their per-example statistics
    json.dumps(rep, allow_nan=False)  # JSON-clean


def test_bootstrap_is_paired_and_reproducible(report_dir: Path) -> None:
    a = build_report(report_dir, ReportOptions(n_boot=200, seed=5))
    b = build_report(report_dir, ReportOptions(n_boot=200, seed=5))
    ci = a["targets"]["xnli"]["deltas"]["tiny/full/stsb"]["languages"]["de"]["ci"]
    assert ci == b["targets"]["xnli"]["deltas"]["tiny/full/stsb"]["languages"]["de"]["ci"]
    # Paired resampling: the delta interval is far narrower than a score's own resampling spread would give
    assert ci[1] - ci[0] < 8.0


def test_metrics_from_stats_and_vectorised_replicates_agree() -> None:
    from adapterx.results.aggregate import _metric_fallback, _Resampler

    assert metric_from_stats("mean", [{"score": 1}, {"score": 0}]) == pytest.approx(50.0)
    assert metric_from_stats("f1", [{"tp": 1, "n_pred": 2, "n_gold": 2}]) == pytest.approx(50.0)
    rng = np.random.default_rng(0)
    x = rng.random(40)
    recs = [{"pred": float(a), "gold": float(a + b)} for a, b in zip(x, rng.random(40))]
    for name in ("pearson", "spearman"):  # the shared reduction (where present) and ours agree
        assert metric_from_stats("correlation", recs, name) == pytest.approx(_metric_fallback(name, "correlation", recs))
    sampler = _Resampler(40, 20, 0, "t", "l")
    fast = sampler.replicates("correlation", recs, "pearson")  # weighted sums
    slow = [_metric_fallback("pearson", "correlation", [recs[i] for i in row]) for row in sampler.indices]
    assert fast == pytest.approx(slow)


def test_a_partial_grid_pairs_its_intervals_on_the_seeds_both_conditions_have(tmp_path: Path) -> None:
    """A grid still running (stsb done for seed 1, none for seeds 1-3): the delta pairs seed 1 with seed 1, and so
    must its interval. It resampled seed 1 of stsb against the mean of none's three seeds, which put the point
    estimate outside its own interval on the MiniLM study's first stsb cell."""
    base = {"methods": ["adapter"], "targets": ["xnli", "panx"]}
    a, b = tmp_path / "a", tmp_path / "b"
    run_recipe(small_recipe(**base, intermediates=["none"], seeds=[1, 2, 3]), a, cell_fn=fake_run_cell)
    run_recipe(small_recipe(**base, intermediates=["none", "stsb"], seeds=[1]), a, cell_fn=fake_run_cell)
    run_recipe(small_recipe(**base, intermediates=["none", "stsb"], seeds=[1]), b, cell_fn=fake_run_cell)
    ra, rb = (build_report(d, ReportOptions(n_boot=200, seed=3)) for d in (a, b))
    for target in ("xnli", "panx"):
        da = ra["targets"][target]["deltas"]["tiny/adapter/stsb"]
        db = rb["targets"][target]["deltas"]["tiny/adapter/stsb"]
        for lang, d in da["languages"].items():
            assert d["mean"] == pytest.approx(db["languages"][lang]["mean"]) and d["n_seeds"] == 1
            assert d["ci"] == pytest.approx(db["languages"][lang]["ci"]), (target, lang)
        for g, d in da["groups"].items():
            if d is not None:
                assert d["ci"] == pytest.approx(db["groups"][g]["ci"]), (target, g)


def test_intervals_resample_seeds_as_well_as_examples() -> None:
    """Three seeds at 0, 10 and 20 points with no example noise: an interval over examples alone has zero width;
    over seeds too it spans most of the seeds' range (UD-POS LoRA in the MiniLM study: seed std 7.8, the
    examples-only interval was 1.9 points wide)."""
    from adapterx.results.aggregate import _over_seeds

    per_seed = np.repeat(np.array([[0.0], [10.0], [20.0]]), 2000, axis=1)
    reps = _over_seeds(per_seed, seed=0)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    assert reps.mean() == pytest.approx(10.0, abs=0.5) and lo <= 3.4 and hi >= 16.6
    assert np.array_equal(_over_seeds(per_seed[:1], seed=0), per_seed[0])  # one seed: examples only
    assert np.array_equal(reps, _over_seeds(per_seed, seed=0))  # reproducible
