"""run.json: the one builder of a run's provenance record (every training workflow writes it through here).

The keys are the contract of docs/internals.md ("Run directory"); a workflow adds its own section (``multitask``,
``language``, ``distributed``) through ``extra``.
"""

from __future__ import annotations

import time
from typing import Any

from adapterx import __version__
from adapterx.engine.loop import TrainConfig
from adapterx.engine.rundir import now_iso


def run_record(
    *,
    command: str,
    task: str,
    chain: list[str],
    method: dict[str, Any],
    backbone: dict[str, Any],
    data: dict[str, Any],
    cfg: TrainConfig,
    started: float,
    params: dict[str, int],
    languages: list[str],
    composition: dict[str, Any] | None = None,
    labels: list[str] | None = None,
    data_reads: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run.json of a finished run; ``started`` is its ``time.perf_counter()`` at the start (wall time)."""
    run: dict[str, Any] = {
        "adapterx_version": __version__,
        "command": command,
        "created": now_iso(),
        "task": task,
        "chain": list(chain),
        "method": method,
        "composition": composition,
        "backbone": backbone,
        "data": data,
        # every Hugging Face split read (train, dev, each evaluation language): repo, config, revision, fingerprint
        "data_reads": list(data_reads or []),
        "seed": cfg.seed,
        "hyperparameters": cfg.model_dump(mode="json"),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "params": params,
        "languages": list(languages),
    }
    if labels is not None:
        run["labels"] = list(labels)
    run.update(extra or {})
    return run
