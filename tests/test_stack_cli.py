"""Compositions end to end on the tiny model: stack (adapter, lora sum/merge, full chain) and fuse, with the checks
that run before any training."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from adapterx.engine.rundir import tree_sha256

COMMON = ["--model", "tiny", "--max-steps", "4", "--intermediate-steps", "4", "--batch-size", "8", "-q"]
LANGS = ["--langs", "en,sw,te"]


@pytest.fixture(scope="module")
def stsb_runs(tmp_path_factory):
    """One STS-B intermediate module per method, trained once."""
    root = tmp_path_factory.mktemp("inter")
    runs = {}
    for method in ("adapter", "lora", "full"):
        out = root / method
        res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", method, "--max-steps", "4", "--output", str(out), "-q")
        assert res.exit_code == 0, res.stderr
        runs[method] = out
    return runs


@pytest.mark.parametrize(("method", "extra"), [("adapter", []), ("lora", ["--lora-mode", "sum"]),
                                               ("lora", ["--lora-mode", "merge"]), ("lora", ["--lora-mode", "chain"]),
                                               ("full", [])])
def test_stack_trains_only_the_target_and_records_the_chain(method, extra, stsb_runs, tmp_path):
    inter = stsb_runs[method]
    before = tree_sha256(inter / "module")
    out = tmp_path / "stack"
    res = run_cli("stack", "stsb", "tydiqa", "--method", method, *extra, "--module", f"stsb={inter}", *COMMON, *LANGS,
                  "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    ev = body["metrics"]["eval"]["tydiqa"]
    assert set(ev["scores"]) == {"en", "sw", "te"} and ev["low_resource_average"] is not None
    run = json.loads((out / "run.json").read_text())
    assert run["chain"] == ["stsb", "tydiqa"]
    mod = run["composition"]["modules"][0]
    assert mod["task"] == "stsb" and mod["sha256"] == before
    assert tree_sha256(inter / "module") == before, "the intermediate module on disk must stay bitwise unchanged"
    # The composed run reloads to the same zero-shot scores.
    res = run_cli("eval", "tydiqa", "--module", str(out), "--langs", "en,sw,te", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["scores"] == ev["scores"]


def test_stack_trains_a_missing_intermediate_first(tmp_path):
    out = tmp_path / "xnli"
    res = run_cli("stack", "stsb", "xnli", "--method", "adapter", *COMMON, "--langs", "en,sw", "--output", str(out))
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "xnli.intermediate-stsb" / "run.json").is_file()
    assert "low-resource" in res.stdout


def test_fuse_over_two_intermediate_adapters(tmp_path):
    res = run_cli("fuse", "stsb", "mnli", "--target", "xnli", "--method", "adapter", *COMMON, "--langs", "en,sw", "--output", str(tmp_path / "f"), "--json")
    assert res.exit_code == 0, res.stderr
    run = json.loads((tmp_path / "f" / "run.json").read_text())
    assert run["composition"]["kind"] == "fuse" and run["chain"] == ["stsb", "mnli", "xnli"]
    fusion = json.loads((tmp_path / "f" / "metrics.json").read_text())["fusion_attention"]
    assert fusion["adapters"] == ["stsb", "mnli"] and set(fusion["languages"]) == {"en", "sw"}
    for w in fusion["languages"].values():
        assert sum(w["mean"]) == pytest.approx(1.0, abs=1e-3) and len(w["layers"]) == 2  # tiny: 2 layers
    assert (tmp_path / "f" / "fusion_attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fuse", "stsb", "mnli", "--target", "xnli", "--method", "lora"], "AdapterFusion needs bottleneck adapters"),
        (["stack", "stsb", "xnli", "--method", "adapter", "--lora-mode", "sum"], "--lora-mode applies to --method lora"),
        (["stack", "stsb", "xnli", "--method", "lora", "--lora-mode", "prod"], "use sum, merge or chain"),
        (["stack", "stbs", "xnli", "--method", "adapter"], "Did you mean 'stsb'"),
        (["stack", "xnli"], "needs an intermediate task and a target task"),
        (["stack", "stsb", "xnli", "--data", "no-such-file.tsv"], "no such file or folder"),  # target data missing
        (["stack", "stsb", "ccg"], "ccg is not a target task"),
    ],
)
def test_compositions_are_checked_before_training(args, needle, tmp_path):
    res = run_cli(*args, "--model", "tiny", "--output", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert needle in res.stderr
    assert not list(tmp_path.iterdir()), "nothing may be trained or written"


def test_mixing_methods_is_refused(stsb_runs, tmp_path):
    res = run_cli("stack", "stsb", "xnli", "--method", "lora", "--module", f"stsb={stsb_runs['adapter']}",
                  "--model", "tiny", "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--method adapter" in res.stderr
    assert not (tmp_path / "o").exists()


def test_full_fine_tuning_trains_the_chain_in_order(tmp_path):
    """X-STILTs / XTREME-R's XCOPA protocol with full fine-tuning: STS-B, then SIQA from the STS-B model, then COPA
    from the SIQA model; each stage's run records the chain it holds."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "x"
    res = run_cli("stack", "stsb", "siqa", "xcopa", "--method", "full", *COMMON, "--langs", "en,sw", "--output", str(out),
                  "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["run"]["chain"] == ["stsb", "siqa", "xcopa"]
    stsb, siqa = (tmp_path / f"x.intermediate-{t}" for t in ("stsb", "siqa"))
    stage = json.loads((siqa / "run.json").read_text())
    assert stage["chain"] == ["stsb", "siqa"] and stage["composition"]["modules"][0]["task"] == "stsb"
    # SIQA started from the STS-B model, not from the base: its embeddings (trained in both stages, lr > 0) moved
    # away from the STS-B model's by SIQA's 4 steps only, much less than from the base model.
    key = next(k for k in load_file(str(stsb / "module" / "model.safetensors")) if "word_embeddings" in k)
    w = {n: load_file(str(d / "module" / "model.safetensors"))[key] for n, d in (("stsb", stsb), ("siqa", siqa))}
    from pathlib import Path

    from adapterx import backbone

    base_w = load_file(str(Path(backbone.resolve("tiny").path) / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert torch.dist(w["siqa"], w["stsb"]) < torch.dist(w["siqa"], base_w)

    # Given the SIQA stage, nothing is retrained: it holds STS-B already.
    res = run_cli("stack", "stsb", "siqa", "xcopa", "--method", "full", "--module", f"siqa={siqa}", *COMMON,
                  "--langs", "en", "--output", str(tmp_path / "y"), "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["run"]["chain"] == ["stsb", "siqa", "xcopa"]
    assert not (tmp_path / "y.intermediate-stsb").exists()
    # A module trained on another chain is refused before anything trains.
    res = run_cli("stack", "mnli", "siqa", "xcopa", "--method", "full", "--module", f"siqa={siqa}", *COMMON,
                  "--output", str(tmp_path / "z"))
    assert res.exit_code == 2 and "trained on stsb -> siqa, not mnli -> siqa" in res.stderr
    assert not list(tmp_path.glob("z*"))


def test_a_leftover_intermediate_of_another_chain_is_not_reused(tmp_path):
    out = tmp_path / "x"
    res = run_cli("stack", "siqa", "xcopa", "--method", "full", *COMMON, "--langs", "en", "--output", str(out))
    assert res.exit_code == 0, res.stderr
    import shutil

    shutil.rmtree(out)  # x.intermediate-siqa (trained from the base) stays behind
    res = run_cli("stack", "stsb", "siqa", "xcopa", "--method", "full", *COMMON, "--langs", "en", "--output", str(out))
    assert res.exit_code == 2 and "holds siqa, not stsb -> siqa" in res.stderr
    assert not out.exists() and not (tmp_path / "x.intermediate-stsb").exists()  # refused before training
