"""Recipe schema, error paths, overrides, grid expansion and the content hash; the shipped recipes validate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adapterx.errors import ConfigError
from adapterx.grid.recipe import (
    apply_overrides,
    cell_hash,
    condition_id,
    expand,
    load_recipe,
    recipe_to_yaml,
    validate_recipe,
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
BASE: dict[str, Any] = {
    "name": "t", "backbones": ["tiny"], "methods": ["full", {"name": "lora", "rank": 4}],
    "intermediates": ["none", "stsb", "stsb+mnli"], "targets": ["xnli", "panx"], "seeds": [1, 2],
}


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_recipe(data)
    return str(exc.value)


@pytest.mark.parametrize("name", ["sts-lowres", "xstilts", "smoke-tiny"])
def test_shipped_recipes_validate(name: str) -> None:
    r = load_recipe(RECIPES / f"{name}.yaml")
    assert r.name == name
    assert {m.name for m in r.methods} >= {"adapter", "lora"}
    assert () in r.intermediates  # every recipe has the no-intermediate baseline


def test_shipped_recipes_match_the_issue() -> None:
    sts = load_recipe(RECIPES / "sts-lowres.yaml")
    assert sts.backbones == ("xlm-roberta-base",) and sts.seeds == (1, 2, 3)
    assert set(sts.targets) == {"tydiqa", "xnli", "udpos", "panx", "xcopa", "tatoeba"}
    assert sts.intermediates == ((), ("stsb",)) and {m.name for m in sts.methods} == {"full", "adapter", "lora"}
    xs = load_recipe(RECIPES / "xstilts.yaml")
    nine = {"mnli", "anli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg"}
    assert {c[0] for c in xs.intermediates if c} == nine and xs.backbones == ("xlm-roberta-large",)
    cell = next(c for c in expand(xs) if c["method"]["name"] == "full")
    assert cell["training"]["target"]["lr"] == 1e-5 and cell["training"]["target"]["max_length"] == 256
    assert cell["training"]["target"]["warmup_ratio"] == 0.1
    smoke = load_recipe(RECIPES / "smoke-tiny.yaml")
    assert smoke.backbones == ("tiny",) and smoke.data.source == "synthetic" and len(expand(smoke)) <= 16


def test_shipped_recipes_validate_against_the_task_registry() -> None:
    for path in RECIPES.glob("*.yaml"):
        load_recipe(path)


@pytest.mark.parametrize(("change", "expected"), [
    ({"methods": ["full", {"name": "lora", "rank": 0}]}, "methods[1].rank: Input should be greater than or equal to 1"),
    ({"methods": ["full", {"name": "lora", "rnk": 4}]}, "methods[1].rnk: unknown key. Did you mean 'rank'? Allowed:"),
    ({"methods": [{"name": "lorra"}]}, "methods[0].name: unknown method 'lorra'. Did you mean 'lora'"),
    ({"methods": [{"name": "adapter", "transfer": "merge"}]}, "methods[0].transfer: 'merge' is not a composition of method adapter; use one of continue, stack, fuse"),
    ({"targets": ["xnlii"]}, "targets[0]: unknown task 'xnlii'. Did you mean 'xnli'"),
    ({"intermediates": ["none", "stsb+mnlii"]}, "intermediates[1][1]: unknown task 'mnlii'"),
    ({"training": {"target": {"precision": "fp8"}}}, "training.target.precision: 'fp8' is not supported; use bf16 (or fp32)"),
    ({"training": {"per_task": {"tydiqa": {"max_lenght": 3}}}}, "training.per_task.tydiqa.max_lenght: unknown key"),
    ({"eval": {"low_resource_threshold": 7}}, "eval.low_resource_threshold: Input should be less than or equal to 5"),
    ({"extra": 1}, "extra: unknown key. Allowed: backbones, data, description, eval, execution"),
    ({"methods": ["full", "full"]}, "methods: duplicate full (give one of the methods a distinct `label`)"),
    ({"report_to": "comet"}, "report_to: Input should be 'tensorboard', 'wandb' or 'mlflow'"),
])
def test_errors_name_their_path_and_allowed_values(change: dict[str, Any], expected: str) -> None:
    assert expected in _error({**BASE, **change})


def test_yaml_errors_and_unsafe_tags(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmethods: [full\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_recipe(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):  # safe_load refuses python tags
        load_recipe(unsafe)
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")


def test_overrides_dotted_paths_and_yaml_values() -> None:
    out = apply_overrides(BASE, ["methods[1].rank=2", "methods.0.lr=1e-4", "training.target.lr=2e-5",
                                 "seeds=[3]", "intermediates=[none]", "eval.languages=[sw, te]"])
    assert out["methods"][1]["rank"] == 2
    assert out["methods"][0] == {"name": "full", "lr": 1e-4}  # shorthand name became a mapping
    assert out["training"]["target"]["lr"] == 2e-5 and out["seeds"] == [3]
    r = validate_recipe(out)
    assert r.eval.languages == ("sw", "te") and r.intermediates == ((),)
    assert BASE["seeds"] == [1, 2]  # the input is not modified
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(BASE, ["seeds"])
    with pytest.raises(ConfigError, match="past the end"):
        apply_overrides(BASE, ["methods[5].rank=1"])
    assert "methods[1].rnk" in _error(apply_overrides(BASE, ["methods[1].rnk=4"]))


def test_expansion_order_and_cell_schema() -> None:
    cells = expand(validate_recipe(BASE))
    assert len(cells) == 2 * 3 * 2 * 2
    c = cells[0]
    assert set(c) == {"schema_version", "recipe", "backbone", "method", "intermediate", "target", "seed", "training",
                      "data", "eval", "task_options", "intermediate_key", "report_to"}
    assert c["method"] == {"name": "full", "label": "full", "transfer": "continue", "config": {}}
    assert c["intermediate"] == [] and c["training"]["intermediate"] == [] and c["intermediate_key"] is None
    chain = next(x for x in cells if x["intermediate"] == ["stsb", "mnli"])
    assert len(chain["training"]["intermediate"]) == 2 and chain["intermediate_key"]
    lora = next(x for x in cells if x["method"]["name"] == "lora")
    # target_modules None: the architecture's default (peft's per-model mapping), resolved when the backbone loads
    assert lora["method"]["config"]["r"] == 4 and lora["method"]["config"]["target_modules"] is None
    assert condition_id(chain) == "tiny/full/stsb+mnli"
    # cells sharing backbone, method, chain and seed share the intermediate key, whatever the target
    same = [x["intermediate_key"] for x in cells if x["intermediate"] == ["stsb"] and x["method"]["name"] == "full"
            and x["seed"] == 1]
    assert len(same) == 2 and len(set(same)) == 1


def test_method_lr_and_per_task_patches_resolve_into_cells() -> None:
    r = validate_recipe({**BASE, "methods": [{"name": "lora", "lr": 5e-4}],
                         "training": {"target": {"max_length": 128}, "per_task": {"panx": {"max_length": 256}}}})
    cells = expand(r)
    panx = next(c for c in cells if c["target"] == "panx")
    xnli = next(c for c in cells if c["target"] == "xnli")
    assert panx["training"]["target"]["max_length"] == 256 and xnli["training"]["target"]["max_length"] == 128
    assert panx["training"]["target"]["lr"] == 5e-4
    again = validate_recipe(yaml.safe_load(recipe_to_yaml(r)))  # the run folder's recipe.yaml reloads identically
    assert [cell_hash(c) for c in expand(again)] == [cell_hash(c) for c in cells]


def test_hash_is_content_based() -> None:
    cells = expand(validate_recipe(BASE))
    hashes = [cell_hash(c) for c in cells]
    assert len(set(hashes)) == len(hashes)
    reordered = dict(reversed(list(BASE.items())))  # key order, recipe name and tracker do not matter
    renamed = expand(validate_recipe({**reordered, "name": "other", "report_to": "tensorboard"}))
    assert [cell_hash(c) for c in renamed] == hashes
    changed = expand(validate_recipe({**BASE, "training": {"target": {"lr": 3e-5}}}))
    assert not set(cell_hash(c) for c in changed) & set(hashes)
    # adding a seed keeps every existing cell's hash: an extended grid resumes
    extended = expand(validate_recipe({**BASE, "seeds": [1, 2, 3]}))
    assert set(hashes) < {cell_hash(c) for c in extended}
