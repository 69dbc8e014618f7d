"""Experiment tracking (``--report-to tensorboard|wandb|mlflow``): the training loop's progress events, forwarded.

The loop already reports every step (loss, examples/s) and every evaluation (dev metrics) through one callback; a
tracker is one more listener on it, so no training code knows about trackers. Each backend is imported only when
chosen; a missing package is one clear error before anything trains (:func:`check`).

Where the logs go (``log_dir`` is ``RUN/tracking/``; ``RUN/tracking/tracker.json`` records it for every backend):

- tensorboard: event files in ``log_dir``.
- wandb: ``log_dir/wandb/``. ``WANDB_MODE`` (and wandb's own settings) decide online or offline; where it is unset
  and wandb has no credentials, the run is logged offline rather than stopping at a login prompt or a "no API key"
  error after the data is loaded (``wandb sync RUN/tracking/wandb/offline-run-*`` uploads it later).
- mlflow: the server or store named by ``MLFLOW_TRACKING_URI``; where it is unset, an SQLite store
  ``log_dir/mlflow.db`` (``mlflow ui --backend-store-uri sqlite:///RUN/tracking/mlflow.db``). MLflow 3 refuses the
  older ``./mlruns`` file store, and its SQLite store needs sqlalchemy and alembic (in ``mlflow``, not in
  ``mlflow-skinny``). Experiment: ``MLFLOW_EXPERIMENT_ID`` / ``MLFLOW_EXPERIMENT_NAME``, else ``adapterx``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError
from adapterx.registry import suggest

PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
INSTALL = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow (or mlflow-skinny sqlalchemy alembic)"}
PROJECT = "adapterx"  # wandb project / mlflow experiment where the environment names none
RECORD = "tracker.json"

Event = dict[str, Any]


def check(name: str | None) -> None:
    """Fail before training when ``name`` is unknown or a package it needs is not installed."""
    if name is None:
        return
    if name not in PACKAGES:
        raise ConfigError(suggest(name, tuple(PACKAGES), "--report-to tracker"))
    if importlib.util.find_spec(PACKAGES[name]) is None:
        raise ConfigError(f"--report-to {name} needs the {PACKAGES[name]} package: "
                          f"pip install {INSTALL.get(name, PACKAGES[name])}")
    if name == "mlflow" and not os.environ.get("MLFLOW_TRACKING_URI"):
        missing = [p for p in ("sqlalchemy", "alembic") if importlib.util.find_spec(p) is None]
        if missing:
            # mlflow-skinny lacks them; without them MLflow only fails at the first call, after the data is loaded.
            raise ConfigError(f"--report-to mlflow logs to an SQLite store in RUN/tracking/, which needs "
                              f"{' and '.join(missing)}: pip install {' '.join(missing)} (or the full mlflow package), "
                              "or set MLFLOW_TRACKING_URI to your tracking server")


class Tracker:
    """Logs ``train/loss`` per step and ``dev/<metric>`` per evaluation, plus the run's config once.

    A listener on the training loop's progress events: ``{"step", "loss", "examples_per_s"[, "task"]}`` per step
    (``task``: multi-task training, also logged as ``train/loss/<task>``) and ``{"step", "dev": {metric: value}}``
    per evaluation. Call :meth:`close` when training ends, also when it fails (the run is then marked failed)."""

    def __init__(self, name: str, log_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        check(name)
        self.name = name
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        backends = {"tensorboard": _TensorBoard, "wandb": _Wandb, "mlflow": _MLflow}
        self._backend = backends[name](self.log_dir, run_name, config)
        (self.log_dir / RECORD).write_text(json.dumps({"tracker": name, **self._backend.where}, indent=2) + "\n",
                                           encoding="utf-8")
        self._closed = False

    def __call__(self, ev: Event) -> None:
        step = ev.get("step")
        scalars: dict[str, float] = {}
        if "loss" in ev:
            scalars = {"train/loss": float(ev["loss"])}
            if ev.get("task"):
                scalars[f"train/loss/{ev['task']}"] = float(ev["loss"])
            if ev.get("examples_per_s") is not None:
                scalars["train/examples_per_s"] = float(ev["examples_per_s"])
        elif isinstance(ev.get("dev"), dict):
            scalars = {f"dev/{k}": float(v) for k, v in ev["dev"].items() if v is not None}
        if not scalars or step is None:
            return
        self._backend.log(scalars, int(step))

    def close(self, failed: bool | None = None) -> None:
        """Flush and end the run (once). ``failed`` None: failed when called while an exception propagates (a
        ``finally`` around training), so a crashed run is not left looking finished, or running, in the tracker."""
        if self._closed:
            return
        self._closed = True
        if failed is None:
            failed = sys.exc_info()[0] is not None
        self._backend.close(failed)


class _TensorBoard:
    def __init__(self, log_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._tb = SummaryWriter(log_dir=str(log_dir))
        self._tb.add_text("config", "\n".join(f"{k}: {v}" for k, v in sorted(config.items())))
        self.where = {"log_dir": ".", "view": "tensorboard --logdir RUN/tracking"}

    def log(self, scalars: dict[str, float], step: int) -> None:
        for k, v in scalars.items():
            self._tb.add_scalar(k, v, step)

    def close(self, failed: bool) -> None:
        self._tb.close()


def wandb_mode(wandb: Any) -> str | None:
    """The ``mode`` to pass to ``wandb.init``: None (wandb decides) where ``WANDB_MODE`` is set or wandb has
    credentials; "offline" where it has none, so that a run does not stop at a login prompt or fail for want of an
    API key after its data is loaded; its logs can be uploaded later with ``wandb sync``."""
    if os.environ.get("WANDB_MODE"):
        return None
    try:
        logged_in = wandb.login(prompt=False, verify=False)  # reads WANDB_API_KEY / .netrc / settings; no network
    except TypeError:  # wandb older than login(prompt=...): its own behaviour, as before
        return None
    return None if logged_in else "offline"


class _Wandb:
    def __init__(self, log_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        import wandb

        try:
            self._run = wandb.init(
                project=None if os.environ.get("WANDB_PROJECT") else PROJECT, name=run_name, config=config,
                dir=str(log_dir), mode=wandb_mode(wandb),
                # A new run even if one is active in this process (a grid runs many cells in one process); each
                # tracker logs to and finishes its own run object.
                reinit="create_new",
            )
        except wandb.errors.UsageError as exc:  # e.g. WANDB_MODE=online without an API key
            raise ConfigError(f"--report-to wandb: {exc} Or set WANDB_MODE=offline to log in RUN/tracking/wandb/ "
                              "and upload later with `wandb sync`.") from None
        offline = getattr(self._run.settings, "mode", None) == "offline"
        self.where = {"dir": "wandb", "mode": getattr(self._run.settings, "mode", None), "run_id": self._run.id,
                      "project": self._run.project}
        if offline:
            self.where["sync"] = "wandb sync RUN/tracking/wandb/offline-run-*"
        elif getattr(self._run, "url", None):
            self.where["url"] = self._run.url

    def log(self, scalars: dict[str, float], step: int) -> None:
        self._run.log(scalars, step=step)

    def close(self, failed: bool) -> None:
        self._run.finish(exit_code=1 if failed else 0)


def _redact(uri: str) -> str:
    """``uri`` without a password (``https://user:secret@host`` -> ``https://user:***@host``): it is written to a
    file that travels with the run."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class _MLflow:
    def __init__(self, log_dir: Path, run_name: str, config: dict[str, Any]) -> None:
        import logging
        import warnings

        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        self._local = not uri
        if self._local:
            uri = "sqlite:///" + (log_dir / "mlflow.db").resolve().as_posix()
        quiet = [logging.getLogger(n) for n in ("mlflow.store.db.utils", "alembic")] if self._local else []
        levels = [lg.level for lg in quiet]
        try:
            # A fresh store prints its schema migrations (INFO) and SQLAlchemy's deprecation notes about MLflow's
            # models: noise in a training log that names nothing the user can act on.
            for lg in quiet:
                lg.setLevel(logging.WARNING)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(mlflow|sqlalchemy)\b")
                self._client = client = MlflowClient(tracking_uri=uri)
                exp_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or self._experiment(client, log_dir, MlflowException)
        finally:
            for lg, level in zip(quiet, levels):
                lg.setLevel(level)
        self._run_id = client.create_run(exp_id, run_name=run_name).info.run_id
        try:
            # MLflow limits a parameter value's length (250 characters in older servers).
            client.log_batch(self._run_id, params=[Param(k, str(v)[:250]) for k, v in config.items()])
        except BaseException:
            client.set_terminated(self._run_id, status="FAILED")
            raise
        self.where = {"tracking_uri": "sqlite:///mlflow.db (this folder)" if self._local else _redact(uri),
                      "experiment_id": exp_id, "run_id": self._run_id}
        if self._local:
            self.where["view"] = "mlflow ui --backend-store-uri sqlite:///RUN/tracking/mlflow.db"

    def _experiment(self, client: Any, log_dir: Path, error: type) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or PROJECT
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        # A local store keeps artifacts beside it, not in ./mlruns of whatever folder training was started from.
        location = (log_dir / "artifacts").resolve().as_uri() if self._local else None
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except error:  # created meanwhile by a concurrent run on the same server
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def log(self, scalars: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._client.log_batch(self._run_id, metrics=[Metric(k, v, now, step) for k, v in scalars.items()])

    def close(self, failed: bool) -> None:
        try:
            self._client.set_terminated(self._run_id, status="FAILED" if failed else "FINISHED")
        finally:
            if self._local:
                # MLflow caches one engine per database for the life of the process; close its connections so
                # the store's file is not held open (the run folder is renamed into place next; a grid opens one
                # store per cell).
                store = getattr(getattr(self._client, "_tracking_client", None), "store", None)
                engine = getattr(store, "engine", None)
                if engine is not None:
                    engine.dispose()


def chain(*listeners: Callable[[Event], None] | None) -> Callable[[Event], None] | None:
    """One progress callback that calls every given listener (None where there is none)."""
    active = [fn for fn in listeners if fn is not None]
    if not active:
        return None

    def call(ev: Event) -> None:
        for fn in active:
            fn(ev)

    return call
