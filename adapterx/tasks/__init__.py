"""The task registry: every task adapterx knows, by name.

``get_task("stsb")`` returns its :class:`TaskSpec`; unknown names raise a "did you mean" error listing the known
tasks. Tasks are defined by family in :mod:`sts`, :mod:`xtreme` (the XTREME-R targets), :mod:`xstilts` (Phang et
al.'s intermediate tasks) and :mod:`retrieval`; each definition is one ``TaskSpec`` and one registration.
"""

from __future__ import annotations

from adapterx.registry import Registry
from adapterx.tasks.base import KINDS, HFSource, TaskSpec, with_discovered_labels

TASKS: Registry[TaskSpec] = Registry("task")


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (its name is its key)."""
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The task called ``name`` (ConfigError with suggestions otherwise)."""
    _load()
    return TASKS.get(name)


def task_names(kind: str | None = None) -> list[str]:
    """Registered task names, optionally of one kind."""
    _load()
    return [n for n, t in TASKS.items() if kind is None or t.kind == kind]


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from adapterx.tasks import retrieval, sts, xstilts, xtreme  # noqa: F401  (registration on import)


__all__ = ["KINDS", "HFSource", "TASKS", "TaskSpec", "get_task", "register", "task_names", "with_discovered_labels"]
