"""Recipes: one YAML file describes a whole grid of experiments; this module validates it and expands it into cells.

A recipe names backbones x methods x intermediate chains (or none) x target tasks x seeds, plus the training, data and
evaluation settings shared by every cell. :func:`load_recipe` reads it (``yaml.safe_load`` only), applies ``--set``
overrides and validates it with pydantic (``extra="forbid"``, frozen): errors name their path in the file
(``methods[1].rank: ...``) and the allowed values. :func:`expand` turns it into *cells*, plain JSON-able dicts, each
identified by :func:`cell_hash`, a content hash of the fields that change its result.

The cell dict (the contract with ``adapterx.grid.run_cell.run_cell``; ``schema_version`` 1)::

    {
      "schema_version": 1,
      "recipe": "sts-lowres",                  # name of the recipe it came from (not hashed)
      "backbone": "xlm-roberta-base",          # backbone id as the recipe wrote it ("tiny" = the built-in tiny XLM-R)
      "method": {                              # the parameter-efficient (or full) method trained in every stage
        "name": "adapter" | "lora" | "full",
        "label": "adapter",                    # the condition's name in reports (defaults to name; unique per recipe)
        "transfer": "continue" | "stack" | "fuse" | "merge" | "sum" | "chain",
                                               # how the target stage builds on the intermediate module(s):
                                               #   continue: train the same module further (STILTs-style; full: the only one)
                                               #   stack: freeze intermediate module(s), train a new one on top (adapters, LoRA)
                                               #   fuse: AdapterFusion over the intermediate adapters + a new one (adapter)
                                               #   merge: merge the intermediate LoRA into the weights, new LoRA (lora)
                                               #   sum: intermediate LoRA frozen and active, new LoRA added (lora)
        "config": {...}                        # adapter: {"config": "seq_bn"|"double_seq_bn"|"par_bn",
                                               #           "reduction_factor": int, "non_linearity": str}
                                               # lora:    {"rank": int, "alpha": float, "dropout": float,
                                               #           "target_modules": [str, ...]}
                                               # full:    {}
      },
      "intermediate": ["stsb"],                # English intermediate tasks in training order; [] = no intermediate.
                                               # Several: full fine-tuning trains them in sequence, each stage from
                                               # the one before (X-STILTs; XTREME-R's SIQA -> COPA); adapters and
                                               # LoRA train each module on the frozen base and compose them all
      "target": "xnli",                        # the target task, trained on English, evaluated zero-shot per language
      "seed": 1,
      "training": {
        "intermediate": [{TrainingConfig}, ...],   # one per intermediate task, same order; [] when there is none
        "target": {TrainingConfig}                 # ignored by targets without training data (tatoeba, bucc)
      },                                           # TrainingConfig keys: lr, epochs, max_steps, batch_size, grad_accum,
                                                   # warmup_ratio, weight_decay, max_length, eval_every,
                                                   # early_stopping_patience, precision (fp32 | bf16 | fp16)
      "data": {"source": "auto"|"synthetic"|"xtreme"|"hf", "root": str|None,
               "max_train_examples": int|None, "max_eval_examples": int|None,   # the target's caps
               "intermediate_caps": {task: {"max_train_examples", "max_eval_examples"}}},  # only where the recipe
                                                   # sets data.per_task (cells of other recipes hash as before)
      "eval": {"split": "test"|"dev", "languages": [str]|None, "low_resource_threshold": int,
               "save_predictions": bool},
      "task_options": {task: {...}},           # free-form per-task options of the tasks in this cell (e.g. tatoeba's
                                               # {"layer": 14, "pooling": "mean"}), passed through to the task
      "intermediate_key": str | None,          # hash of what the intermediate stage depends on (backbone, method,
                                               # chain, seed, intermediate training, data): cells sharing it may reuse
                                               # one trained intermediate module, cached under
                                               # out_dir.parents[1] / "intermediates" / key (= RUN/intermediates/<key>/;
                                               # local workers run concurrently: lock or write-then-rename)
      "report_to": None | "tensorboard" | "wandb" | "mlflow"   # experiment tracker (not hashed)
    }

Method-level ``lr`` and per-task patches (``training.per_task``) are resolved into each stage's config (adapters and
LoRA want a larger learning rate than full fine-tuning; QA wants longer inputs), so a cell carries effective values
only.

The module is the recipe's front door: it reads a file and re-exports the parts, each in its own module
(:mod:`~adapterx.grid.recipe_schema` the models, :mod:`~adapterx.grid.recipe_errors` the one-line errors,
:mod:`~adapterx.grid.recipe_set` ``--set`` overrides, :mod:`~adapterx.grid.expand` cells and their hashes,
:mod:`~adapterx.grid.recipe_check` what every cell needs, resolved when the grid is planned, which imports this
module, not the other way round).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from adapterx.errors import ConfigError
from adapterx.grid.expand import CELL_SCHEMA_VERSION, UNHASHED_KEYS, cell_hash, condition_id, expand, stage_data
from adapterx.grid.recipe_errors import format_loc, validate_recipe
from adapterx.grid.recipe_schema import (
    MAX_CELLS,
    METHOD_CLASSES,
    NONE_CHAIN,
    RECIPE_METHOD_KEYS,
    RETRIEVAL_OPTIONS,
    STAGE_KEYS,
    DataCaps,
    DataConfig,
    EvalConfig,
    EvalTask,
    ExecutionConfig,
    MethodEntry,
    Recipe,
    SlurmConfig,
    Training,
    chain_name,
    known_tasks,
)
from adapterx.grid.recipe_set import apply_overrides

__all__ = [
    "CELL_SCHEMA_VERSION", "MAX_CELLS", "MAX_RECIPE_VALUES", "METHOD_CLASSES", "NONE_CHAIN", "RECIPE_METHOD_KEYS",
    "RETRIEVAL_OPTIONS", "STAGE_KEYS", "UNHASHED_KEYS", "DataCaps", "DataConfig", "EvalConfig", "EvalTask", "ExecutionConfig", "MethodEntry",
    "Recipe", "SlurmConfig", "Training", "apply_overrides", "cell_hash", "chain_name", "check_size", "count_values", "condition_id", "expand",
    "format_loc", "known_tasks", "load_recipe", "read_recipe_data", "recipe_to_yaml", "stage_data", "validate_recipe",
]


MAX_RECIPE_VALUES = 100_000
"""The most values (mappings, lists and scalars, counted as the YAML expands its aliases) a recipe file may hold;
the shipped recipes hold a few hundred."""


def count_values(data: Any, limit: int = MAX_RECIPE_VALUES) -> int:
    """Values in ``data`` as if every shared (aliased) node were copied, stopping past ``limit``: the walk costs at
    most ``limit`` steps, however far the aliases would expand."""
    seen = 0
    stack = [data]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return seen
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return seen


def check_size(data: Any, source: str) -> None:
    """Refuse a parsed recipe whose expansion (YAML aliases included) passes :data:`MAX_RECIPE_VALUES`."""
    if count_values(data) > MAX_RECIPE_VALUES:
        raise ConfigError(f"{source}: the recipe expands to more than {MAX_RECIPE_VALUES:,} values (YAML aliases "
                          "repeating lists?); a recipe lists each backbone, method, target and seed once")


def _folder_given(path: Path) -> str:
    """What to do when RECIPE is a folder: a grid's run folder (it keeps the recipe it ran), or one of recipes."""
    if (path / "recipe.yaml").is_file() and ((path / "results.sqlite").exists() or (path / "cells").is_dir()):
        return (f"{path} is the run folder of a grid, not a recipe: continue it with `adapterx run {path / 'recipe.yaml'}"
                f" --run-dir {path}`, or report it with `adapterx report {path}`")
    found = sorted(p.name for p in path.glob("*.y*ml"))[:3]
    hint = f", e.g. {path / found[0]}" if found else ""
    return f"recipe {path} is a folder: give a recipe YAML file{hint}"


def read_recipe_data(path: Path) -> dict[str, Any]:
    """Parse a recipe file with ``yaml.safe_load`` (never the unsafe loader: recipes are shared files)."""
    if path.is_dir():
        raise ConfigError(_folder_given(path))
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist (recipes ship in recipes/, e.g. recipes/smoke-tiny.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None
    if data is None:
        raise ConfigError(f"{path} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a YAML mapping (name, backbones, methods, targets, ...)")
    check_size(data, str(path))  # before anything walks it: aliases can make a small file stand for 10^8 values
    return data


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override and validate a recipe file."""
    path = Path(path)
    return validate_recipe(apply_overrides(read_recipe_data(path), overrides), source=str(path))


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML (what a run folder keeps next to its results)."""
    data = recipe.model_dump(mode="json", by_alias=True)
    data["intermediates"] = [chain_name(c) for c in recipe.intermediates]
    data["methods"] = [{"name": m.name, **m.config(), **{k: getattr(m, k) for k in RECIPE_METHOD_KEYS
                                                         if getattr(m, k) is not None}} for m in recipe.methods]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
