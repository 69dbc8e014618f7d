"""A validated recipe expanded into cells (the cell dict of :mod:`adapterx.grid.recipe`), and their content hashes."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from adapterx.engine.loop import TrainConfig
from adapterx.grid.recipe_schema import MethodEntry, Recipe, chain_name, stage_keys
from adapterx.methods.catalog import default_lr

CELL_SCHEMA_VERSION = 2  # 2: stages carry every TrainConfig key, methods the spec's own keys

# Keys of a cell that do not change its result, so not part of its hash: renaming a recipe or switching the
# experiment tracker must not rerun a finished grid.
UNHASHED_KEYS = frozenset({"recipe", "report_to", "intermediate_key"})

def _digest(obj: Any) -> str:
    # Canonical JSON: sorted keys, no whitespace, so equal specs hash equally whatever the recipe's key order.
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cell_hash(cell: dict[str, Any]) -> str:
    """16 hex digits of sha256 over the cell's result-relevant content (every key but :data:`UNHASHED_KEYS`)."""
    return _digest({k: v for k, v in cell.items() if k not in UNHASHED_KEYS})


def condition_id(cell: dict[str, Any]) -> str:
    """``backbone/method-label/chain``: what a report compares (one condition spans targets and seeds)."""
    return f"{cell['backbone']}/{cell['method']['label']}/{chain_name(cell['intermediate'])}"


def _stage(recipe: Recipe, patch: dict[str, Any], method: MethodEntry, task: str, backbone: str) -> dict[str, Any]:
    """The effective hyperparameters of one stage: every TrainConfig key but seed and device (the cell's seed is
    its own key; the device is the machine's), so a cell carries no default that a code change could move."""
    merged: dict[str, Any] = {"lr": default_lr(method.name, backbone), **stage_keys(patch)}
    if method.lr is not None:
        merged["lr"] = method.lr
    merged.update(stage_keys(recipe.training.per_task.get(task, {})))
    if "doc_stride" not in merged:
        # QA windows overlap by doc_stride tokens; where the recipe sets none it follows the window: a quarter of it,
        # at most 64 (128 -> 32, 384 -> 64), at least 8, which leaves room for the question (kinds.qa.max_query_tokens).
        merged["doc_stride"] = max(8, min(64, merged.get("max_length", 128) // 4))
    return TrainConfig(**merged).model_dump(mode="json", exclude={"seed", "device"})


def expand(recipe: Recipe) -> list[dict[str, Any]]:
    """All cells of the grid, ordered backbone, method, intermediate, target, seed.

    That order keeps cells sharing an intermediate module next to each other, so a cache of it stays warm.
    """
    cells: list[dict[str, Any]] = []
    # A recipe without per-task caps expands to the cells it always did (same hashes); with them, a cell's "data"
    # carries its target's caps and, under "intermediate_caps", each intermediate's (data_options(cell, task)).
    data = recipe.data.model_dump(mode="json", exclude={"per_task"})
    per_task = bool(recipe.data.per_task)
    evaluation = recipe.eval.model_dump(mode="json", exclude={"per_task"})
    for backbone in recipe.backbones:
        for method in recipe.methods:
            mdict = {"name": method.name, "label": method.display(), "transfer": method.transfer, "config": method.config()}
            for chain in recipe.intermediates:
                inter_cfg = [_stage(recipe, recipe.training.intermediate, method, t, backbone) for t in chain]
                for target in recipe.targets:
                    for seed in recipe.seeds:
                        tasks = [*chain, target]
                        cell: dict[str, Any] = {
                            "schema_version": CELL_SCHEMA_VERSION,
                            "recipe": recipe.name,
                            "backbone": backbone,
                            "method": copy.deepcopy(mdict),
                            "intermediate": list(chain),
                            "target": target,
                            "seed": seed,
                            "training": {"intermediate": copy.deepcopy(inter_cfg),
                                         "target": _stage(recipe, recipe.training.target, method, target, backbone)},
                            "data": _cell_data(recipe, data, chain, target) if per_task else dict(data),
                            "eval": {**evaluation, **(recipe.eval.per_task[target].model_dump(mode="json")
                                                      if target in recipe.eval.per_task else {})},
                            "task_options": {t: dict(recipe.task_options[t]) for t in tasks if t in recipe.task_options},
                            "intermediate_key": None,
                            "report_to": recipe.report_to,
                        }
                        if chain:
                            cell["intermediate_key"] = _digest({
                                "backbone": backbone, "method": mdict, "intermediate": list(chain), "seed": seed,
                                "training": inter_cfg,
                                "data": ({**data, **{"max_train_examples": None, "max_eval_examples": None},
                                          "intermediate_caps": {t: recipe.data.caps(t) for t in chain}}
                                         if per_task else data),
                                "task_options": {t: recipe.task_options[t] for t in chain if t in recipe.task_options},
                            })
                        cells.append(cell)
    return cells


def _cell_data(recipe: Recipe, data: dict[str, Any], chain: Sequence[str], target: str) -> dict[str, Any]:
    """A cell's data section where the recipe caps tasks one by one: the target's caps at the top (as without
    per-task caps) and every intermediate's under ``intermediate_caps``."""
    out = {**data, **recipe.data.caps(target)}
    if chain:
        out["intermediate_caps"] = {t: recipe.data.caps(t) for t in chain}
    return out


def stage_data(cell: dict[str, Any], task: str) -> dict[str, Any]:
    """The data section that applies to ``task``'s stage of a cell: the cell's, with an intermediate's own caps."""
    data = dict(cell.get("data") or {})
    own = (data.pop("intermediate_caps", None) or {}).get(task) if task != cell.get("target") else None
    return {**data, **own} if own else data
