"""Which function runs a grid cell, and how a fresh worker process imports this adapterx.

A leaf of the grid layer: the driver (runner), one cell's execution (execute), the executors and the launched
cell worker all import it, and it imports none of them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError

CellFn = Callable[[dict[str, Any], Path], dict[str, Any]]
DEFAULT_CELL_FN = "adapterx.grid.run_cell:run_cell"


def resolve_cell_fn(ref: str | CellFn | None) -> CellFn:
    """A callable, or ``"module:function"`` imported now; None means the real training, adapterx.grid.run_cell.run_cell."""
    if callable(ref):
        return ref
    ref = ref or DEFAULT_CELL_FN
    module_name, _, attr = ref.partition(":")
    if not attr:
        raise ConfigError(f"cell function {ref!r}: write module:function, e.g. {DEFAULT_CELL_FN}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if ref == DEFAULT_CELL_FN and exc.name in ("adapterx.grid.run_cell",):
            raise ConfigError("adapterx.grid.run_cell.run_cell is not available in this installation: running cells"
                              " needs it (--dry-run shows the plan without it)") from None
        raise ConfigError(f"cell function {ref!r}: cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn) and ref == DEFAULT_CELL_FN:
        raise ConfigError("adapterx.grid.run_cell.run_cell is not available in this installation: running cells"
                          " needs it (--dry-run shows the plan without it)")
    if not callable(fn):
        raise ConfigError(f"cell function {ref!r}: {module_name} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def callable_ref(fn: CellFn) -> str:
    """``module:function`` of a top-level function, for processes that must import it themselves."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "." in name or "<" in name:
        raise ConfigError("processes_per_cell > 1 starts new processes: the cell function must be a top-level"
                          " function, given as 'module:function'")
    return f"{module}:{name}"


_GIT_COMMIT: list[str | None] = []

def adapterx_pythonpath(current: str | None) -> str:
    """PYTHONPATH for a fresh interpreter that must import this adapterx, also where it is not pip-installed (a
    checkout): its root first, then ``current``."""
    root = str(Path(__file__).resolve().parents[2])
    return root if not current else f"{root}{os.pathsep}{current}"


@contextmanager
def importable_in_workers() -> Any:
    """Put this adapterx on PYTHONPATH while workers start (submitit's inherit this process's environment)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = adapterx_pythonpath(old)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
