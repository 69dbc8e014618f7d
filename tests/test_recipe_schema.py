"""One schema: a recipe parses into the same method specs and TrainConfig the commands use, and every field a recipe
can set is read by something. A field nothing reads would be accepted and then ignored: these tests fail on it."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import pytest

from adapterx.engine.loop import TrainConfig
from adapterx.errors import ConfigError
from adapterx.grid.run_cell import method_spec, train_config
from adapterx.grid.recipe import (
    RETRIEVAL_OPTIONS,
    STAGE_KEYS,
    ExecutionConfig,
    SlurmConfig,
    cell_hash,
    expand,
    validate_recipe,
)
from adapterx.methods.spec import parse_method, spec_classes

SPEC_CLASSES = spec_classes()

REPO = Path(__file__).resolve().parents[1]

BASE: dict[str, Any] = {
    "name": "schema", "backbones": ["tiny"], "methods": ["adapter", "lora", "full"],
    "intermediates": ["none", "stsb"], "targets": ["xnli", "tatoeba"], "seeds": [1],
    "training": {"intermediate": {"max_steps": 10}, "target": {"max_steps": 10}},
    "task_options": {"tatoeba": {"layer": 1}},
}


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_recipe(data)
    return str(exc.value)


@pytest.mark.parametrize(("change", "expected"), [
    # LoRA has no adapter-style stack: refused when the recipe loads, not after the cell's intermediate trained
    ({"methods": [{"name": "lora", "transfer": "stack"}]},
     "methods[0].transfer: 'stack' is not a composition of method lora; use one of continue, sum, merge, chain"),
    # the spec's own type: alpha is an integer (24.7 was silently cut to 24)
    ({"methods": [{"name": "lora", "alpha": 24.7}]}, "methods[0].alpha: Input should be a valid integer"),
    ({"methods": [{"name": "adapter", "config": "par_bn"}]}, "methods[0].config: Input should be 'seq_bn' or"),
    ({"training": {"target": {"precision": "fp16"}}}, "training.target.precision: 'fp16' is not supported; use bf16"),
    ({"training": {"intermediate": {"early_stoping_patience": 3}}},
     "training.intermediate.early_stoping_patience: unknown key. Did you mean 'early_stopping_patience'?"),
    ({"methods": [{"name": "full", "rank": 4}]}, "methods[0].rank: unknown key. Allowed: label, lr, name, transfer"),
    ({"task_options": {"xnli": {"layer": 3}}}, "task_options.xnli: only retrieval tasks (tatoeba, bucc) take options"),
    ({"task_options": {"tatoeba": {"pool": "cls"}}}, "task_options.tatoeba.pool: unknown option"),
    ({"training": {"target": {"eval_every": 5, "eval_steps": 5}}}, "eval_every and eval_steps: the same setting twice"),
])
def test_a_setting_a_cell_cannot_honour_is_refused_when_the_recipe_loads(change: dict[str, Any], expected: str) -> None:
    assert expected in _error({**BASE, **change})


def test_recipe_methods_are_the_commands_method_specs() -> None:
    r = validate_recipe({**BASE, "methods": [{"name": "lora", "rank": 4, "alpha": 8, "lr": 1e-3, "transfer": "merge"}]})
    entry = r.methods[0]
    assert entry.spec == parse_method({"name": "lora", "r": 4, "alpha": 8})
    cell = next(c for c in expand(r) if c["intermediate"])
    assert method_spec(cell["method"]) == entry.spec and cell["method"]["transfer"] == "merge"


def test_recipe_stages_are_the_commands_train_config() -> None:
    r = validate_recipe({**BASE, "methods": ["lora"], "training": {
        "target": {"lr": 3e-4, "eval_every": 7, "precision": "bf16", "early_stopping_patience": 2}}})
    cell = next(c for c in expand(r) if c["target"] == "xnli")
    cfg = train_config(cell["training"]["target"], seed=cell["seed"])
    assert isinstance(cfg, TrainConfig)
    assert (cfg.lr, cfg.eval_steps, cfg.bf16, cfg.early_stopping_patience, cfg.seed) == (3e-4, 7, True, 2, 1)
    # defaults are TrainConfig's and the method's default learning rate, as on the command line
    plain = train_config(next(c for c in expand(validate_recipe(BASE)) if c["target"] == "xnli"
                              and c["method"]["name"] == "full")["training"]["target"], seed=1)
    assert plain.batch_size == TrainConfig().batch_size and plain.lr == 1e-3  # default_lr("full", "tiny")


# --------------------------------------------------------------------------------------------------------------
# Every field is read: change it, and the cells change (or, for where cells run, the grid code reads it).

STAGE_ALTERNATIVES: dict[str, Any] = {
    "lr": 0.5, "batch_size": 8, "grad_accum": 2, "epochs": 1.5, "max_steps": 7, "warmup_ratio": 0.3,
    "weight_decay": 0.1, "max_grad_norm": 0.5, "eval_steps": 5, "eval_every": 5, "max_length": 64, "doc_stride": 16,
    "bf16": True, "precision": "bf16", "gradient_checkpointing": True, "early_stopping_patience": 2,
    "group_by_length": False, "compile": True,
}


def _alternative(annotation: Any, default: Any) -> Any:
    """A valid value other than ``default`` for a field of this type (method spec fields)."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin in (Union, UnionType) and len(args) == 1:  # Optional[X]
        return _alternative(args[0], default)
    if annotation is bool:
        return not default
    if origin is Literal:
        return next(a for a in get_args(annotation) if a != default)
    if annotation is int:
        return int(default or 0) + 2
    if annotation is float:
        return (default or 0.1) / 2
    if origin is tuple:
        return ("query",) if tuple(default or ()) != ("query",) else ("value",)
    raise AssertionError(f"add an alternative value for a field of type {annotation!r} to this test")


def _changed(mutate: Any) -> bool:
    before = {cell_hash(c): c for c in expand(validate_recipe(BASE))}
    data = copy.deepcopy(BASE)
    mutate(data)
    after = {cell_hash(c): c for c in expand(validate_recipe(data))}
    return set(before) != set(after) or [c.get("recipe") for c in before.values()] != [c.get("recipe") for c in after.values()]


@pytest.mark.parametrize("stage", ["intermediate", "target"])
@pytest.mark.parametrize("key", STAGE_KEYS)
def test_every_stage_key_reaches_the_cells(stage: str, key: str) -> None:
    assert key in STAGE_ALTERNATIVES, f"new stage key {key!r}: add an alternative value to STAGE_ALTERNATIVES"
    value = STAGE_ALTERNATIVES[key]
    assert _changed(lambda d: d["training"][stage].update({key: value})), f"training.{stage}.{key} changes no cell"
    task = "stsb" if stage == "intermediate" else "xnli"
    assert _changed(lambda d: d["training"].setdefault("per_task", {}).update({task: {key: value}})), \
        f"training.per_task.{task}.{key} changes no cell"


# Fields whose other value needs a companion (the spec refuses one without the other).
COMPANIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("prompt", "init"): {"init": "from_string", "init_text": "a task prompt"},
    ("prompt", "init_text"): {"init": "from_string", "init_text": "a task prompt"},
}


@pytest.mark.parametrize("method", sorted(SPEC_CLASSES))
def test_every_method_field_reaches_the_cells(method: str) -> None:
    fields = {n: f for n, f in SPEC_CLASSES[method].model_fields.items() if n != "name"}
    for name, f in fields.items():
        entry = COMPANIONS.get((method, name)) or {name: _alternative(f.annotation, f.default)}
        def mutate(d: dict[str, Any], entry: dict[str, Any] = entry) -> None:
            d["methods"] = [m for m in d["methods"] if m != method] + [{"name": method, **entry}]
        assert _changed(mutate), f"methods[].{name} of {method} changes no cell"
    for key, value in (("lr", 0.25), ("label", "renamed")):
        assert _changed(lambda d: d.update(methods=[{"name": method, key: value}])), f"methods[].{key} changes no cell"


@pytest.mark.parametrize(("path", "mutate"), [
    ("name", lambda d: d.update(name="other")),
    ("backbones", lambda d: d.update(backbones=["tiny", "xlm-roberta-base"])),
    ("intermediates", lambda d: d.update(intermediates=["none"])),
    ("targets", lambda d: d.update(targets=["xnli"])),
    ("seeds", lambda d: d.update(seeds=[2])),
    ("methods[].transfer", lambda d: d.update(methods=[{"name": "adapter", "transfer": "fuse"}])),
    ("data.source", lambda d: d.update(data={"source": "synthetic"})),
    ("data.root", lambda d: d.update(data={"root": "/data"})),
    ("data.max_train_examples", lambda d: d.update(data={"max_train_examples": 10})),
    ("data.max_eval_examples", lambda d: d.update(data={"max_eval_examples": 10})),
    ("eval.split", lambda d: d.update(eval={"split": "dev"})),
    ("eval.languages", lambda d: d.update(eval={"languages": ["sw"]})),
    ("eval.low_resource_threshold", lambda d: d.update(eval={"low_resource_threshold": 1})),
    ("eval.save_predictions", lambda d: d.update(eval={"save_predictions": True})),
    *[(f"task_options.tatoeba.{k}", lambda d, k=k: d.update(task_options={"tatoeba": {k: 3}}))
      for k in RETRIEVAL_OPTIONS],
])
def test_every_grid_field_reaches_the_cells(path: str, mutate: Any) -> None:
    assert _changed(mutate), f"{path} changes no cell"


def test_cell_fields_are_read_by_run_cell() -> None:
    """The cell keys above reach the training through code that reads them: the eval and data keys in grid/run_cell.py,
    the stage keys through TrainConfig (extra='forbid'), each of whose fields the engine or workflows read."""
    cell_src = (REPO / "adapterx/grid/run_cell.py").read_text()
    for key in ("languages", "low_resource_threshold", "save_predictions", "split", "max_train_examples",
                "max_eval_examples", "source", "root", "task_options", "transfer", "report_to"):
        assert re.search(rf"[\"']{key}[\"']", cell_src), f"grid/run_cell.py never reads the cell's {key!r}"
    src = "\n".join(p.read_text() for d in ("engine", "workflows", "grid") for p in (REPO / "adapterx" / d).glob("*.py"))
    for name in TrainConfig.model_fields:
        assert re.search(rf"\.{name}\b", src), f"TrainConfig.{name} is read nowhere in engine/, workflows/, grid/"


def test_execution_fields_are_read_by_the_grid_code() -> None:
    src = "\n".join(p.read_text() for p in (REPO / "adapterx" / "grid").glob("*.py"))
    src += (REPO / "cli" / "report_cmds.py").read_text()
    for model in (ExecutionConfig, SlurmConfig):
        for name in model.model_fields:
            assert re.search(rf"\.{name}\b", src), f"{model.__name__}.{name} is read nowhere in the grid code"


def test_every_train_config_field_is_a_recipe_field() -> None:
    """The recipe side of "every training flag everywhere" (tests/test_cli_train.py has the commands'): each
    TrainConfig field is a stage key (test_every_stage_key_reaches_the_cells shows it reaches the cells), but the
    seed (the recipe's ``seeds``, one cell per seed) and the device (where a cell runs: ``execution.gpus_per_cell``)."""
    cell_level = {"seed": "seeds", "device": "gpus_per_cell"}
    for name in TrainConfig.model_fields:
        assert name in STAGE_KEYS or name in cell_level, f"TrainConfig.{name} is no recipe field"
    assert "seeds" in BASE and "gpus_per_cell" in ExecutionConfig.model_fields
