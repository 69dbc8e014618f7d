"""Recipe errors as one line each: a pydantic error becomes ``methods[1].rank: ...``, the path as written in the file,
with the allowed keys (and a "did you mean") after an unknown one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from adapterx.errors import ConfigError
from adapterx.grid.recipe_schema import METHOD_CLASSES, RECIPE_METHOD_KEYS, Recipe
from adapterx.registry import suggest


def format_loc(loc: Sequence[Any]) -> str:
    """``("methods", 1, "lora", "rank")`` -> ``methods[1].rank``: list indices in brackets, union tags dropped."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in METHOD_CLASSES and i > 0 and loc[i - 1] == "spec" and loc[0] == "methods":
            continue  # the discriminated union's tag, not a key of the file
        elif part == "spec" and i > 0 and isinstance(loc[i - 1], int) and loc[0] == "methods":
            continue  # the method spec's keys sit beside label/lr/transfer in the file
        elif part == "[key]" or str(part).startswith(("function-", "tuple[", "list[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _models_in(ann: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (through tuple/dict/Union/Annotated)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    found: list[type[BaseModel]] = []
    for arg in get_args(ann):
        found.extend(m for m in _models_in(arg) if m not in found)
    return found


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model whose fields sit at ``loc`` (for listing allowed keys after an unknown one)."""
    candidates: list[type[BaseModel]] = [Recipe]
    skip_key = False
    for part in loc:
        if isinstance(part, int) or part == "[key]":
            continue
        if skip_key:  # the key of a dict field (a task name in per_task)
            skip_key = False
            continue
        if len(candidates) > 1:  # a discriminated union: this part of loc is the tag
            candidates = [m for m in candidates if m is METHOD_CLASSES.get(part)]
            continue
        if not candidates:
            return None
        model = candidates[0]
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        candidates = _models_in(field.annotation)
        skip_key = get_origin(field.annotation) is dict
    return candidates[0] if len(candidates) == 1 else None


def _format_error(err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "value_error" and loc and loc[0] in ("training", "task_options", "eval", "data"):
        key = re.match(r"^([A-Za-z_][\w.]*|\d+): (.*)$", msg, flags=re.S)
        if key:  # a stage's / task's own key, or an item's index: part of the path
            parts = [int(k) if k.isdigit() else k for k in key.group(1).split(".")]
            loc, msg = (*loc, *parts), key.group(2)
    if err.get("type") == "extra_forbidden":
        parent = _model_at(loc[:-1])
        if parent is not None:
            keys = sorted(f.alias or name for name, f in parent.model_fields.items())
            if parent in METHOD_CLASSES.values():  # a method entry: the recipe's own keys sit beside the spec's
                keys = sorted({*keys, *RECIPE_METHOD_KEYS, *("rank",) * ("r" in keys)})
            close = suggest(str(loc[-1]), keys, "key")
            hint = close[close.index(" Did you"):close.index("?") + 1] if " Did you" in close else ""
            msg = f"unknown key.{hint}"
            msg += f" Allowed: {', '.join(keys)}."
    elif err.get("type") == "union_tag_invalid":
        msg = suggest(str(err.get("input", {}).get("name")), list(METHOD_CLASSES), "method")
        loc = (*loc, "name")
    elif err.get("type") == "union_tag_not_found":
        msg = f"missing 'name'. Allowed: {', '.join(METHOD_CLASSES)}."
    return f"{format_loc(loc)}: {msg}" if loc else msg


def validate_recipe(data: Any, source: str = "recipe") -> Recipe:
    """Validate a parsed recipe mapping; errors become one :class:`ConfigError` naming every bad path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe is a YAML mapping (name, backbones, methods, targets, ...)")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An invalid item also makes pydantic report its container "too short": only the item's error is useful.
        errors = [
            e for e in errors
            if not (e["type"] == "too_short" and any(o is not e and o["loc"][: len(e["loc"])] == e["loc"] for o in errors))
        ]
        problems = "; ".join(_format_error(e) for e in errors)  # type: ignore[arg-type]
        raise ConfigError(f"{source} is invalid: {problems}") from None
