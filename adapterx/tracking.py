"""Experiment tracking (``--report-to tensorboard|wandb|mlflow``): the training loop's progress events, forwarded.

The loop already reports every step (loss, examples/s) and every evaluation (dev metrics) through one callback; a
tracker is one more listener on it, so no training code knows about trackers. Each backend is imported only when
chosen; a missing package is one clear error before anything trains (:func:`check`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError

PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}

Event = dict[str, Any]


def check(name: str | None) -> None:
    """Fail before training when ``name`` is unknown or its package is not installed."""
    if name is None:
        return
    if name not in PACKAGES:
        from adapterx.registry import suggest

        raise ConfigError(suggest(name, tuple(PACKAGES), "--report-to tracker"))
    if importlib.util.find_spec(PACKAGES[name]) is None:
        raise ConfigError(f"--report-to {name} needs the {PACKAGES[name]} package: pip install {PACKAGES[name]}")


class Tracker:
    """Logs ``loss`` per step and ``dev/<metric>`` per evaluation, plus the run's config once."""

    def __init__(self, name: str, log_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        check(name)
        self.name = name
        if name == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(log_dir))
            self._tb.add_text("config", "\n".join(f"{k}: {v}" for k, v in sorted(config.items())))
        elif name == "wandb":
            import wandb

            self._run = wandb.init(name=run_name, config=config, dir=str(log_dir), reinit=True)
        else:
            import mlflow

            self._mlflow = mlflow
            mlflow.start_run(run_name=run_name)
            mlflow.log_params({k: str(v)[:250] for k, v in config.items()})

    def __call__(self, ev: Event) -> None:
        step = ev.get("step")
        scalars: dict[str, float] = {}
        if "loss" in ev:
            scalars = {"train/loss": float(ev["loss"]), "train/examples_per_s": float(ev.get("examples_per_s", 0.0))}
        elif isinstance(ev.get("dev"), dict):
            scalars = {f"dev/{k}": float(v) for k, v in ev["dev"].items() if v is not None}
        if not scalars or step is None:
            return
        if self.name == "tensorboard":
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)
        elif self.name == "wandb":
            self._run.log(scalars, step=step)
        else:
            self._mlflow.log_metrics(scalars, step=step)

    def close(self) -> None:
        if self.name == "tensorboard":
            self._tb.close()
        elif self.name == "wandb":
            self._run.finish()
        else:
            self._mlflow.end_run()


def chain(*listeners: Callable[[Event], None] | None) -> Callable[[Event], None] | None:
    """One progress callback that calls every given listener (None where there is none)."""
    active = [fn for fn in listeners if fn is not None]
    if not active:
        return None

    def call(ev: Event) -> None:
        for fn in active:
            fn(ev)

    return call
