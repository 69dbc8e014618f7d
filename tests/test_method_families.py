"""The parameter-efficient families (issue 16) beyond the contract suite: the catalogue and `adapterx methods`,
every composition each method supports end to end on the tiny model (stack, eval, retrieve), and bad input refused
in one line (exit 2) before anything trains."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from adapterx.errors import ConfigError
from adapterx.methods import catalog
from adapterx.methods.compose import ModuleRef, Stack, validate
from adapterx.methods.spec import method_from_options, parse_method

COMMON = ["--model", "tiny", "--max-steps", "3", "--intermediate-steps", "3", "--batch-size", "8", "-q"]
SMALL = {"prefix": "prefix:prefix_length=4,bottleneck_size=16", "prompt": "prompt:prompt_length=4"}


def test_catalogue_lists_every_method_with_its_compositions():
    res = run_cli("methods", "--json")
    assert res.exit_code == 0, res.stderr
    rows = {r["method"]: r for r in json.loads(res.stdout)["methods"]}
    assert len(rows) >= 10
    assert {"adapter", "par_bn", "compacter", "compacter++", "prefix", "prompt", "lora", "ia3", "bitfit", "full"} <= set(rows)
    assert rows["par_bn"]["compositions"]["fuse"] and not rows["prompt"]["compositions"]["fuse"]
    assert rows["ia3"]["compositions"]["continue"] == "merge" and rows["ia3"]["library"] == "peft"
    assert "dora" in rows["lora"]["options"] and rows["bitfit"]["library"] == "torch"
    for r in rows.values():  # what `continue` means is one of the method's own compositions
        assert r["compositions"][r["compositions"]["continue"]] is True


def test_methods_counts_trainable_parameters_on_the_backbone():
    res = run_cli("methods", "--model", "tiny", "--only", "ia3,bitfit,full", "--json")
    assert res.exit_code == 0, res.stderr
    params = {r["method"]: r["params"] for r in json.loads(res.stdout)["methods"]}
    assert params["full"]["trainable"] == params["full"]["total"]
    assert 0 < params["ia3"]["trainable"] < params["bitfit"]["trainable"] < params["full"]["trainable"] // 10
    res = run_cli("methods", "--model", "tiny", "--only", "ia3")  # the table
    assert res.exit_code == 0 and "ia3" in res.stdout and "merge" in res.stdout


@pytest.mark.parametrize(("data", "needle"), [
    ({"name": "prompt", "r": 4}, "method.r: not an option of method 'prompt'"),
    ({"name": "ia3", "prefix_length": 4}, "it is an option of prefix"),
    ({"name": "lora", "dora": True, "init": "pissa"}, "init=pissa does not combine with dora=true"),
    ({"name": "prompt", "init": "from_string"}, "init_text is needed"),
    ({"name": "compacter", "phm_dim": 0}, "method.phm_dim"),
    ({"name": "bitfti"}, "Did you mean 'bitfit'"),
])
def test_specs_name_the_field(data, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_method(data)


def test_method_flag_takes_options_after_the_name():
    assert method_from_options("lora:dora=true,r=4").dora is True
    assert method_from_options("prompt:prompt_length=20").prompt_length == 20
    with pytest.raises(ConfigError, match="--lora-rank applies to --method lora, not --method ia3"):
        method_from_options("ia3", lora_rank=4)
    with pytest.raises(ConfigError, match="--reduction-factor applies to --method adapter / par_bn"):
        method_from_options("prefix", reduction_factor=4)


def test_the_composition_table_is_enforced():
    ref = ModuleRef("stsb", "x", "0", "ia3")
    with pytest.raises(ConfigError, match="sum is not available for --method ia3: it composes by merge"):
        validate(Stack((ref,), "xnli", "sum"), "ia3")
    validate(Stack((ref,), "xnli", "merge"), "ia3")
    with pytest.raises(ConfigError, match="--lora-mode chain: not with this LoRA \\(dora\\); use --lora-mode sum or merge"):
        from adapterx.methods.compose import mode_for

        mode_for("lora", "chain", parse_method({"name": "lora", "dora": True}))


@pytest.mark.parametrize(("args", "needle"), [
    (["fuse", "stsb", "mnli", "--target", "xnli", "--method", "prompt"],
     "fuse is not available for --method prompt: AdapterFusion needs bottleneck adapters (--method adapter / par_bn"),
    (["fuse", "stsb", "mnli", "--target", "xnli", "--method", "prefix"], "fuse is not available for --method prefix"),
    (["stack", "stsb", "xnli", "--method", "ia3", "--lora-mode", "sum"], "--lora-mode applies to --method lora"),
    (["stack", "stsb", "xnli", "--method", "lora:init=pissa", "--lora-mode", "sum"], "use --lora-mode merge"),
    (["stack", "stsb", "xnli", "--method", "bitfit", "--lang-adapters", "en=x"], "compose with --method adapter / par_bn"),
    (["train-target", "xnli", "--method", "prompt", "--lora-rank", "4"], "--lora-rank applies to --method lora"),
    (["train-target", "xnli", "--method", "prompt:prefix_length=3"], "it is an option of --method prefix"),
    (["train-intermediate", "stsb", "mnli", "--method", "ia3"], "multi-task training (one module, a head per task) is not"),
    (["train-target", "xnli", "--method", "compacter:reduction_factor=32"], "is not a multiple of phm_dim 4"),
])
def test_bad_input_is_one_line_before_training(args, needle, tmp_path):
    res = run_cli(*args, "--model", "tiny", "--max-steps", "2", "--output", str(tmp_path / "out"))
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.intermediate-stsb").exists()


@pytest.mark.parametrize(("method", "target"), [
    ("prompt", "tydiqa"),  # chain (SPoT); QA spans shifted past the soft prompt
    ("bitfit", "panx"),    # chain: the target's biases start from the intermediate's
    ("ia3", "xnli"),       # merge
    ("prefix", "panx"),    # stack of prefixes
    ("par_bn", "xnli"),    # adapters Stack
])
def test_each_family_stacks_end_to_end_and_reloads(method, target, tmp_path):
    out = tmp_path / "stack"
    res = run_cli("stack", "stsb", target, "--method", SMALL.get(method, method), *COMMON, "--langs", "en,sw",
                  "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["chain"] == ["stsb", target]
    assert run["composition"]["kind"] == catalog.get(method).continue_as
    scores = json.loads(res.stdout)["metrics"]["eval"][target]["scores"]
    res = run_cli("eval", target, "--module", str(out), "--langs", "en,sw", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["scores"] == scores


def test_fuse_over_parallel_adapters_and_retrieval_through_a_prompt(tmp_path):
    out = tmp_path / "fuse"
    res = run_cli("fuse", "stsb", "mnli", "--target", "xnli", "--method", "compacter++", *COMMON, "--langs", "en,sw",
                  "--output", str(out))
    assert res.exit_code == 0, res.stderr
    assert json.loads((out / "run.json").read_text())["composition"]["kind"] == "fuse"
    prompt = tmp_path / "prompt"
    res = run_cli("train-intermediate", "stsb", "--method", "prompt:prompt_length=4", "--model", "tiny", "--max-steps",
                  "2", "-q", "--output", str(prompt))
    assert res.exit_code == 0, res.stderr
    res = run_cli("retrieve", "tatoeba", "--module", str(prompt), "--data", "synthetic", "--langs", "de,sw", "--json")
    assert res.exit_code == 0, res.stderr
