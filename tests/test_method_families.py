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
    assert list(rows) == list(catalog.names())
    for name, r in rows.items():  # each row is its registration
        info = catalog.get(name)
        assert r["library"] == info.library and set(r["options"]) == set(info.spec.model_fields) - {"name"}
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


# One case per way of composing (backend and what `continue` means), not per method: a new method that composes
# like a registered one (AdaLoRA and VeRA merge as (IA)^3 does) is covered by that case;
# test_every_way_of_composing_has_a_case asks for a case when a registration brings a new way.
STACK_CASES = [
    ("prompt", "tydiqa"),  # chain (SPoT); QA spans shifted past the soft prompt
    ("bitfit", "panx"),    # chain: the target's biases start from the intermediate's
    ("ia3", "xnli"),       # merge
    ("prefix", "panx"),    # stack of prefixes
    ("par_bn", "xnli"),    # adapters Stack
]
# Ways of composing that other files run end to end (test_stack_cli.py: lora sum, full chain; test_sft.py: sft sum).
COVERED_ELSEWHERE = {("peft_backend", "sum"), ("hf_backend", "chain"), ("sft_backend", "sum")}


def _way(method: str) -> tuple[str, str | None]:
    info = catalog.get(method)
    return info.backend, info.continue_as


def test_every_way_of_composing_has_a_case():
    ways = {_way(m) for m in catalog.names()}
    assert ways <= {_way(m) for m, _ in STACK_CASES} | COVERED_ELSEWHERE


@pytest.mark.parametrize(("method", "target"), STACK_CASES)
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


@pytest.mark.parametrize("method", ["bitfit", "prompt:prompt_length=4"])
def test_hub_push_pull_and_eval_of_a_family_module(method, tmp_path):
    run = tmp_path / "run"
    res = run_cli("train-target", "xnli", "--method", method, "--model", "tiny", "--max-steps", "2", "--langs", "en,sw",
                  "-q", "--output", str(run), "--json")
    assert res.exit_code == 0, res.stderr
    scores = json.loads(res.stdout)["metrics"]["eval"]["xnli"]["scores"]
    res = run_cli("push", str(run), "--to", str(tmp_path / "hub"))
    assert res.exit_code == 0, res.stderr
    ident = res.stdout.strip()
    card = (tmp_path / "hub" / ident.rsplit("/", 1)[-1] / "README.md").read_text()
    name = method.split(":")[0]
    assert f"method: {name}" in card or name in card
    if name == "bitfit":
        assert 'load_file(f"{path}/bitfit.safetensors")' in card  # a published repository: module at its root
    res = run_cli("pull", ident)
    assert res.exit_code == 0, res.stderr
    res = run_cli("eval", "xnli", "--module", res.stdout.strip(), "--langs", "en,sw", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["scores"] == scores


@pytest.mark.parametrize("name", ["peft-families", "peft-families-smoke"])
def test_families_recipes_cover_every_method_with_and_without_stsb(name):
    from pathlib import Path

    from adapterx.grid.recipe import expand, load_recipe

    r = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / f"{name}.yaml")
    assert {m.name for m in r.methods} >= {"adapter", "par_bn", "compacter", "compacter++", "prefix", "prompt", "lora",
                                           "ia3", "bitfit", "full"}
    assert r.intermediates == ((), ("stsb",)) and len(r.targets) == 1
    cells = expand(r)
    dora = next(c for c in cells if c["method"]["label"] == "dora")
    assert dora["method"]["config"]["dora"] is True
    if name.endswith("smoke"):
        assert r.backbones == ("tiny",) and all(c["training"]["target"]["max_steps"] <= 10 for c in cells)


def test_recipe_methods_are_checked_against_their_specs_and_compositions(tmp_path):
    from adapterx.grid.recipe import validate_recipe

    base = {"name": "t", "backbones": ["tiny"], "intermediates": ["none", "stsb"], "targets": ["xnli"], "seeds": [1]}
    for method, needle in [({"name": "prompt", "transfer": "fuse"}, "methods[0].transfer"),
                           ({"name": "ia3", "rank": 4}, "methods[0].rank: unknown key"),
                           ({"name": "lora", "init": "pissa", "transfer": "sum"}, "methods[0].transfer: 'sum' is not a composition of method lora")]:
        with pytest.raises(ConfigError, match=needle.replace("[", "\\[").replace("]", "\\]")):
            validate_recipe({**base, "methods": [method]})


def test_pareto_front_keeps_what_nothing_dominates():
    from adapterx.results.plots import pareto_front

    pts = [(10.0, 50.0), (5.0, 40.0), (20.0, 45.0), (1.0, 40.0), (30.0, 60.0)]
    assert pareto_front(pts) == [3, 0, 4]  # (1, 40) beats (5, 40); (20, 45) is beaten by (10, 50)


def test_families_smoke_grid_reports_score_against_parameters(tmp_path):
    """The whole smoke recipe (every family x {none, stsb} -> XNLI on the tiny model, 22 cells, ~30 s here): every
    cell runs, and the report writes the score-against-parameters plots from the counts the cells' run records hold."""
    from pathlib import Path

    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "peft-families-smoke.yaml")
    run_dir = tmp_path / "grid"
    res = run_cli("run", recipe, "--run-dir", str(run_dir), "--json")
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_cells"] == 22 and summary["n_ran"] == 22 and summary["n_failed"] == 0
    res = run_cli("report", str(run_dir), "--json", "--bootstrap", "0", "--out", str(tmp_path / "report"))
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "report" / "pareto.png").is_file() and (tmp_path / "report" / "score_vs_params.png").is_file()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    records = {}
    for run_json in run_dir.rglob("run/run.json"):
        run = json.loads(run_json.read_text())
        records.setdefault(run["method"]["name"], set()).add(run["params"]["trainable"])
    for cond, overall in report["overall"].items():
        method = report["conditions"][cond]["method_name"]
        if report["conditions"][cond]["intermediate"] == "none":
            assert overall["trainable_params"] in records[method]


@pytest.mark.parametrize("method", ["par_bn", "compacter++"])
def test_madx_language_adapters_stack_under_other_bottleneck_adapters(method, tmp_path_factory, tmp_path):
    lang = tmp_path_factory.getbasetemp() / "lang-en-families"
    if not (lang / "run.json").is_file():
        res = run_cli("train-language", "en", "--model", "tiny", "--max-steps", "3", "--batch-size", "8",
                      "--output", str(lang), "-q")
        assert res.exit_code == 0, res.stderr
    out = tmp_path / "madx"
    res = run_cli("stack", "stsb", "xnli", "--method", method, *COMMON, "--langs", "en,sw", "--lang-adapters",
                  f"en={lang}", "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert set(body["run"]["composition"]["language_adapters"]) == {"en"}
    again = run_cli("eval", "xnli", "--module", str(out), "--langs", "en,sw", "--json")
    assert json.loads(again.stdout)["scores"] == body["metrics"]["eval"]["xnli"]["scores"]
