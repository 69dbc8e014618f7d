"""The task registry: every task adapterx knows, by name.

``get_task("stsb")`` returns its :class:`TaskSpec`; unknown names raise a "did you mean" error listing the known
tasks. Tasks are defined by family in :mod:`sts`, :mod:`xtreme` (the XTREME-R targets), :mod:`xstilts` (Phang et
al.'s intermediate tasks) and :mod:`retrieval`; each definition is one ``TaskSpec`` and one registration.
"""

from __future__ import annotations

from adapterx.errors import ConfigError
from adapterx.registry import Registry
from adapterx.tasks.base import KINDS, HFSource, TaskSpec, XtremeExport, with_discovered_labels

TASKS: Registry[TaskSpec] = Registry("task")
_ORDER: list[str] = []  # registration order (the registry lists names sorted)


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (its name is its key)."""
    _ORDER.append(spec.name)
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The task called ``name`` (ConfigError with suggestions otherwise)."""
    _load()
    return TASKS.get(name)


def task_names(kind: str | None = None) -> list[str]:
    """Registered task names, optionally of one kind."""
    _load()
    return [n for n, t in TASKS.items() if kind is None or t.kind == kind]


def target_names() -> list[str]:
    """The XTREME-R target tasks that train on English and evaluate zero-shot (retrieval targets train nothing)."""
    _load()
    return [n for n, t in TASKS.items() if t.target and t.kind != "retrieval"]


def xtreme_tasks() -> list[TaskSpec]:
    """The tasks of XTREME's submission layout (``TaskSpec.xtreme``), in the submission's order: the targets as
    :mod:`adapterx.tasks.xtreme` registers them, then the retrieval tasks."""
    _load()
    exported = [TASKS.get(n) for n in _ORDER if TASKS.get(n).xtreme is not None]
    return sorted(exported, key=lambda t: t.kind == "retrieval")


def retrieval_tasks() -> list[str]:
    """The retrieval tasks ``adapterx retrieve`` runs (registered and runnable)."""
    _load()
    return [n for n in _ORDER if TASKS.get(n).kind == "retrieval" and TASKS.get(n).runnable]


def check_trainable(task: TaskSpec, target: bool) -> None:
    """Refuse, before anything loads, a task that cannot be trained as asked: a retrieval task (no training data),
    or a non-target task trained as a target (its English-only "zero-shot" table would answer nothing)."""
    if task.kind == "retrieval":
        raise ConfigError(f"{task.name} is a retrieval task without training data: evaluate a trained module on it"
                          f" with `adapterx retrieve {task.name} --module RUN`")
    if target and not task.target:
        if task.intermediate:
            hint = (f"train it with `adapterx train-intermediate {task.name}`, or under a target task:"
                    f" `adapterx stack {task.name} xnli`")
        else:
            hint = f"it is an evaluation probe: `adapterx eval {task.name} --module RUN`"
        raise ConfigError(f"{task.name} is not a target task ({', '.join(target_names())}): {hint}")


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from adapterx.tasks import retrieval, sts, xstilts, xtreme  # noqa: F401  (registration on import)


__all__ = ["KINDS", "HFSource", "TASKS", "TaskSpec", "XtremeExport", "check_trainable", "get_task", "register",
           "retrieval_tasks", "target_names", "task_names", "with_discovered_labels", "xtreme_tasks"]
