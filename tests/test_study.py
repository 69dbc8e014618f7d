"""The pieces the real-weights study (recipes/minilm-xstilts.yaml) needs: per-task data caps and evaluation splits in
recipes, built-in models training on the real files of a data folder, and the script groups of the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapterx.data.sources import DataOptions, with_model_defaults
from adapterx.errors import ConfigError
from adapterx.grid.run_cell import data_options
from adapterx.grid.recipe import cell_hash, expand, stage_data, validate_recipe
from adapterx.results.aggregate import language_groups
from adapterx.tasks import get_task
from tests.xtreme_files import write_task

BASE = {
    "name": "caps", "backbones": ["tiny"], "methods": ["adapter"], "intermediates": ["none", "stsb"],
    "targets": ["panx", "udpos"], "seeds": [1],
    "data": {"source": "xtreme", "root": "data", "max_train_examples": 100, "max_eval_examples": 50},
}


def _cells(**over) -> list[dict]:
    return expand(validate_recipe({**BASE, **over}))


def test_per_task_caps_reach_each_stage() -> None:
    data = {**BASE["data"], "per_task": {"panx": {"max_train_examples": 7}, "stsb": {"max_eval_examples": 3}}}
    cells = {(c["target"], tuple(c["intermediate"])): c for c in _cells(data=data)}
    panx, udpos = cells[("panx", ("stsb",))], cells[("udpos", ("stsb",))]
    assert data_options(panx).max_train_examples == 7 and data_options(panx).max_eval_examples == 50
    assert data_options(udpos).max_train_examples == 100
    # the intermediate's own caps, whatever the target
    for cell in (panx, udpos):
        opts = data_options(cell, "stsb")
        assert (opts.max_train_examples, opts.max_eval_examples) == (100, 3)
        assert stage_data(cell, "stsb")["max_eval_examples"] == 3
    # targets capped differently still share one intermediate module
    assert panx["intermediate_key"] == udpos["intermediate_key"]
    # and a cap on the intermediate changes that key
    other = {**data, "per_task": {**data["per_task"], "stsb": {"max_train_examples": 5}}}
    again = {(c["target"], tuple(c["intermediate"])): c for c in _cells(data=other)}
    assert again[("panx", ("stsb",))]["intermediate_key"] != panx["intermediate_key"]


def test_recipes_without_per_task_settings_expand_as_before() -> None:
    plain = _cells()
    assert all("intermediate_caps" not in c["data"] and "per_task" not in c["data"] for c in plain)
    assert all("per_task" not in c["eval"] for c in plain)
    explicit_empty = _cells(data={**BASE["data"], "per_task": {}}, eval={"per_task": {}})
    assert [cell_hash(c) for c in plain] == [cell_hash(c) for c in explicit_empty]


def test_eval_split_per_target() -> None:
    cells = _cells(eval={"split": "test", "per_task": {"panx": {"split": "dev"}}})
    splits = {c["target"]: data_options(c).eval_split for c in cells}
    assert splits == {"panx": "dev", "udpos": "test"}


def test_per_task_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_train_exmples"):
        validate_recipe({**BASE, "data": {**BASE["data"], "per_task": {"panx": {"max_train_exmples": 3}}}})
    with pytest.raises(ConfigError, match="split"):
        validate_recipe({**BASE, "eval": {"per_task": {"panx": {"split": "train"}}}})
    # a setting of a task the grid never runs would be read by nothing
    with pytest.raises(ConfigError, match=r"data.per_task.xnli: xnli is not among the grid's"):
        validate_recipe({**BASE, "data": {**BASE["data"], "per_task": {"xnli": {"max_train_examples": 3}}}})
    with pytest.raises(ConfigError, match=r"eval.per_task.stsb: stsb is not among the grid's targets"):
        validate_recipe({**BASE, "eval": {"per_task": {"stsb": {"split": "dev"}}}})
    with pytest.raises(ConfigError, match=r"training.per_task.tydiqa"):
        validate_recipe({**BASE, "training": {"per_task": {"tydiqa": {"max_length": 256}}}})
    validate_recipe({**BASE, "data": {**BASE["data"], "per_task": {"stsb": {"max_train_examples": 3}}}})  # an intermediate


def test_built_in_model_trains_on_the_real_files_of_its_data_dir(tmp_path: Path) -> None:
    write_task(tmp_path, "panx", "en", split="train")
    task = get_task("panx")
    opts = with_model_defaults(DataOptions(data_dir=tmp_path), "tiny", task)
    assert opts.data == str(tmp_path) and not opts.default_synthetic
    # no training files there: training on synthetic data and scoring on real files is refused ...
    with pytest.raises(ConfigError, match="--data synthetic"):
        with_model_defaults(DataOptions(data_dir=tmp_path), "tiny", get_task("udpos"))
    # ... unless asked for, and evaluation alone keeps the synthetic default for what the folder lacks
    asked = DataOptions(data="synthetic", data_dir=tmp_path)
    assert with_model_defaults(asked, "tiny", get_task("udpos")) == asked
    assert with_model_defaults(DataOptions(data_dir=tmp_path), "tiny", get_task("udpos"), training=False).default_synthetic
    # a Hub model is untouched (its default is the task's Hugging Face data)
    assert with_model_defaults(DataOptions(data_dir=tmp_path), "xlm-roberta-base", task) == DataOptions(data_dir=tmp_path)


def test_script_groups() -> None:
    groups = language_groups(["en", "sw", "fi", "ar", "jv", "ko"], threshold=2)
    assert groups["zero_shot"] == ["sw", "fi", "ar", "jv", "ko"]
    assert groups["latin"] == ["sw", "fi", "jv"]
    assert groups["other_script"] == ["ar", "ko"]
    assert groups["low_latin"] == ["sw", "jv"]
    assert groups["low"] == ["sw", "jv"] and groups["english"] == ["en"]
