"""A recipe checked whole before any cell runs: what each cell will need, resolved with the resolvers the commands use.

The reader (:mod:`adapterx.grid.recipe`: the YAML's size, aliases expanded) and the schema
(:mod:`adapterx.grid.recipe_schema`: structure, names of tasks, methods and languages, seeds, the grid's size) come
first; this module checks what they mean on this machine, for every cell, before anything is written:

- backbones (``tiny``, a model folder, or a Hub id), and what each cell's method and lengths need of them
  (:func:`adapterx.methods.fit.check_fit` and each backend's ``for_backbone``, as ``train-target`` calls them);
- data: ``data.root`` exists, and holds the training files of every task a cell trains on it and the evaluation files
  of the languages each target evaluates (:func:`adapterx.workflows.eval.select_eval_languages`, as the cell calls it).

Every failure is one :class:`ConfigError` naming the recipe key. ``adapterx run`` and ``run --dry-run`` both call
:func:`check_recipe` when the grid is planned, so a dry run fails on everything a cell would fail on at its start.
A Hub id that is not cached here is the one thing left to the cell: the machine that runs the cells (a Slurm node)
may reach the Hub where this one cannot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapterx import backbone as bbmod
from adapterx.data import layout
from adapterx.errors import AdapterxError, ConfigError, ModelError
from adapterx.grid.expand import expand
from adapterx.grid.recipe_schema import MAX_CELLS, Recipe
from adapterx.tasks import get_task

def _keyed(key: str, exc: AdapterxError) -> ConfigError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigError(f"{key}: {msg}")


def _stages(recipe: Recipe, cell: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(task, recipe key of its max_length, stage config) of every stage a cell trains."""
    def key(task: str, stage: str) -> str:
        per_task = recipe.training.per_task.get(task) or {}
        return f"training.per_task.{task}.max_length" if "max_length" in per_task else f"training.{stage}.max_length"

    for task, cfg in zip(cell["intermediate"], cell["training"]["intermediate"]):
        yield task, key(task, "intermediate"), cfg
    yield cell["target"], key(cell["target"], "target"), cell["training"]["target"]


def _backbones(recipe: Recipe) -> dict[str, Any]:
    """Each backbone resolved as the commands resolve it; None for a Hub id not available here (left to the cell)."""
    out: dict[str, Any] = {}
    for i, name in enumerate(recipe.backbones):
        try:
            out[name] = bbmod.resolve(name)
        except ModelError as exc:
            looks_local = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
            if "not in the local cache" in str(exc) and not looks_local:
                out[name] = None
                continue
            raise _keyed(f"backbones[{i}]", exc) from None
        except AdapterxError as exc:
            raise _keyed(f"backbones[{i}]", exc) from None
    return out


def _check_root(recipe: Recipe) -> Path | None:
    data = recipe.data
    if data.source in ("synthetic", "hf") or not data.root:
        return None
    root = Path(data.root).expanduser()
    if not root.exists():
        raise ConfigError(f"data.root: {data.root} does not exist; give the XTREME download folder "
                          "(`adapterx data download` writes one)")
    if not root.is_dir():
        raise ConfigError(f"data.root: {data.root} is a file; give the XTREME download folder")
    return root


def _check_training_files(recipe: Recipe, root: Path, task_name: str) -> None:
    """With ``data.source: xtreme`` every stage reads its English train and dev files from ``data.root``."""
    spec = get_task(task_name)
    for name in spec.members or (spec.name,):
        member = get_task(name)
        if member.layout is None:
            raise ConfigError(f"data.source: xtreme reads every task from data.root, but {name} has no XTREME-style "
                              "files; use source: auto (data.root then serves evaluation only)")
        for split in ("train", "dev"):
            if "en" not in layout.find_split_files(member.layout, root, split):
                raise ConfigError(f"data.root: {root} holds no English {split} file of {name} (the XTREME download "
                                  f"layout; `adapterx data download {name}`)")


def check_recipe(recipe: Recipe, cells: list[dict[str, Any]] | None = None) -> None:
    """Resolve everything every cell of ``recipe`` needs at its start (see the module doc); one :class:`ConfigError`
    naming the recipe key on the first failure. ``cells``: the expanded grid, where the caller has it."""
    from adapterx.grid.run_cell import data_options, method_spec
    from adapterx.methods import for_backbone
    from adapterx.methods.fit import check_fit
    from adapterx.data.sources import with_model_defaults
    from adapterx.workflows.eval import select_eval_languages

    root = _check_root(recipe)
    backbones = _backbones(recipe)
    cells = expand(recipe) if cells is None else cells
    method_index = {m.display(): i for i, m in enumerate(recipe.methods)}
    done: set[Any] = set()
    for cell in cells:
        bb = backbones.get(cell["backbone"])
        spec = method_spec(cell["method"])
        mkey = f"methods[{method_index.get(cell['method']['label'], 0)}]"
        for task, key, cfg in _stages(recipe, cell):
            memo = ("fit", cell["backbone"], cell["method"]["label"], task, cfg.get("max_length"))
            if bb is None or memo in done:
                continue
            done.add(memo)
            try:
                check_fit(bb, None, cfg.get("max_length"))
            except ConfigError as exc:
                raise _keyed(key, exc) from None
            try:
                check_fit(bb, spec, None)
                for_backbone(spec, bb, get_task(task), "composed" if cell["intermediate"] else None)
            except AdapterxError as exc:
                raise _keyed(mkey, exc) from None
        for task in [*cell["intermediate"], cell["target"]]:
            if ("data", cell["backbone"], task) in done or get_task(task).kind == "retrieval":
                continue
            done.add(("data", cell["backbone"], task))
            if root is not None and recipe.data.source == "xtreme":
                _check_training_files(recipe, root, task)
            try:  # a built-in model's default data source, and the mix of synthetic training and real evaluation
                with_model_defaults(data_options(cell, task if task != cell["target"] else None), cell["backbone"],
                                    get_task(task))
            except ConfigError as exc:
                raise _keyed("data.root", exc) from None
        target = get_task(cell["target"])
        if target.kind == "retrieval" or ("langs", cell["backbone"], target.name) in done:
            continue
        done.add(("langs", cell["backbone"], target.name))
        wanted = [lang for lang in recipe.eval.languages or () if lang in target.languages]  # as run_cell selects
        opts = with_model_defaults(data_options(cell), cell["backbone"], target)
        try:
            select_eval_languages(target, ",".join(wanted) if wanted else "all", opts,
                                  recipe.eval.low_resource_threshold)
        except AdapterxError as exc:
            raise _keyed("eval.languages" if wanted else "data.root", exc) from None


__all__ = ["MAX_CELLS", "check_recipe"]
