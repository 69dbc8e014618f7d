"""``--set key.path=value``: overrides of a parsed recipe, applied before it is validated."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import yaml

from adapterx.errors import ConfigError
from adapterx.grid.recipe_errors import format_loc


_KEY_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(path: str) -> list[str | int]:
    """``methods[1].rank`` or ``methods.1.rank`` -> ["methods", 1, "rank"]."""
    parts: list[str | int] = []
    pos = 0
    for m in _KEY_RE.finditer(path):
        if path[pos:m.start()].strip(".") or (m.start() > pos and path[pos:m.start()] != "."):
            raise ConfigError(f"--set: cannot read the key path {path!r} (write e.g. methods[1].rank or training.target.lr)")
        pos = m.end()
        key, index = m.groups()
        parts.append(int(index) if index is not None else int(key) if key.isdigit() else key)
    if not parts or pos != len(path):
        raise ConfigError(f"--set: cannot read the key path {path!r} (write e.g. methods[1].rank or training.target.lr)")
    return parts


_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _yaml_value(raw: str) -> Any:
    """YAML-parse an override value; ``1e-4`` is a float (PyYAML's YAML 1.1 would keep it a string)."""
    if not raw.strip():
        return None
    if _FLOAT_RE.match(raw.strip()):
        return float(raw)
    return yaml.safe_load(raw)


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` set; values are parsed as YAML (``[1,2]``, ``1e-4``)."""
    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: write key=value, e.g. --set seeds=[1,2] or --set methods[1].rank=4")
        path, raw = item.split("=", 1)
        try:
            value = _yaml_value(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc.__class__.__name__})") from None
        keys = _parse_path(path.strip())
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = format_loc(keys[: depth + 1])
            if isinstance(key, int):
                if not isinstance(node, list):
                    raise ConfigError(f"--set {item!r}: {format_loc(keys[:depth]) or 'the recipe'} is not a list")
                if key > len(node):
                    raise ConfigError(f"--set {item!r}: {where} is past the end (the list has {len(node)} items)")
                if key == len(node):
                    node.append({} if not last else None)
                if last:
                    node[key] = value
                else:
                    if isinstance(node[key], str) and keys[0] == "methods":
                        node[key] = {"name": node[key]}  # shorthand method name -> mapping, to set a field on it
                    node = node[key]
            else:
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {item!r}: {format_loc(keys[:depth]) or 'the recipe'} is not a mapping")
                if last:
                    node[key] = value
                else:
                    if node.get(key) is None:
                        node[key] = {}
                    node = node[key]
    return out
