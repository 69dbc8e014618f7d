"""--report-to: the training loop's steps and evaluations reach the tracker. TensorBoard needs no server; wandb runs
offline and MLflow logs to the SQLite store in RUN/tracking/, so every test stays off the network. Each test reads
back what the backend wrote."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import run_cli


def test_tensorboard_gets_loss_per_step_and_dev_per_evaluation(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "6", "--eval-steps", "3",
                  "--report-to", "tensorboard", "--output", str(out), "-q")
    assert res.exit_code == 0, res.stderr
    acc = EventAccumulator(str(out / "tracking"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in acc.Scalars("dev/spearman")] == [3, 6]


@pytest.mark.parametrize(("name", "needle"), [("tensorbord", "Did you mean 'tensorboard'"), ("comet", "Known: mlflow")])
def test_unknown_tracker_is_refused_before_training(name, needle, tmp_path):
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--report-to", name, "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and needle in res.stderr
    assert not (tmp_path / "o").exists()


def test_multitask_training_reports_loss_per_step_and_each_tasks_dev_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "mt"
    res = run_cli("train-intermediate", "stsb", "mnli", "--model", "tiny", "--method", "lora", "--max-steps", "4",
                  "--eval-steps", "2", "--batch-size", "4", "--report-to", "tensorboard", "--output", str(out),
                  "--json")
    assert res.exit_code == 0, res.stderr
    acc = EventAccumulator(str(out / "tracking"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    # Each step's loss also under the task that step trained.
    tags = acc.Tags()["scalars"]
    per_task = {t: len(acc.Scalars(f"train/loss/{t}")) if f"train/loss/{t}" in tags else 0 for t in ("stsb", "mnli")}
    assert per_task == json.loads(res.stdout)["run"]["multitask"]["steps_per_task"]
    assert [e.step for e in acc.Scalars("dev/stsb/spearman")] == [2, 4]
    assert [e.step for e in acc.Scalars("dev/mnli/accuracy")] == [2, 4]
    assert json.loads((out / "tracking" / "tracker.json").read_text())["tracker"] == "tensorboard"


# --- wandb ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """wandb offline, with its settings, caches and service logs under tmp_path, not in $HOME; its service process
    (wandb-core) is stopped afterwards and must not outlive the test."""
    wandb = pytest.importorskip("wandb")
    psutil = pytest.importorskip("psutil")
    home = tmp_path / "wandb-home"
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var, sub in (("WANDB_DIR", "dir"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"),
                     ("WANDB_DATA_DIR", "data"), ("XDG_CACHE_HOME", "xdg-cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield wandb
    wandb.teardown()
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    psutil.wait_procs(left, timeout=10)
    assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], "wandb left processes"


def read_wandb_history(run_file) -> dict[int, dict[str, float]]:
    """step -> {key: value} of the history rows in an offline run's ``.wandb`` file: wandb's LevelDB-style log of
    protobuf records (a 7-byte ``:W&B`` header, then 32 KiB blocks of records, each with a 7-byte header:
    checksum, length, type; a record split across blocks comes as FIRST, MIDDLE..., LAST)."""
    from wandb.proto import wandb_internal_pb2

    data, block = run_file.read_bytes(), 32768
    assert data[:4] == b":W&B", f"{run_file} is not a wandb run file"
    pos, buf, rows = 7, b"", {}
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:  # zero padding: the end of what was written
            break
        buf += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(buf)
            buf = b""
            if rec.WhichOneof("record_type") == "history":
                rows.setdefault(rec.history.step.num, {}).update(
                    {it.key or "/".join(it.nested_key): json.loads(it.value_json) for it in rec.history.item})
    return rows


def test_wandb_offline_gets_loss_per_step_and_dev_per_evaluation(tmp_path, wandb_offline):
    out = tmp_path / "wb"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "4", "--eval-steps", "2",
                  "--report-to", "wandb", "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)  # wandb's own messages stay off stdout
    run_files = list((out / "tracking" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    rows = read_wandb_history(run_files[0])
    assert sorted(rows) == [1, 2, 3, 4]
    assert all(isinstance(rows[s]["train/loss"], float) for s in rows)
    dev_curve = {step: dev["spearman"] for step, dev in body["metrics"]["dev_curve"]}
    assert {s: rows[s]["dev/spearman"] for s in rows if "dev/spearman" in rows[s]} == pytest.approx(dev_curve)
    assert sorted(dev_curve) == [2, 4]
    record = json.loads((out / "tracking" / "tracker.json").read_text())
    assert record["tracker"] == "wandb" and record["mode"] == "offline" and "wandb sync" in record["sync"]
    assert not (tmp_path / "wandb").exists()  # nothing in the working folder


def test_wandb_without_credentials_or_mode_logs_offline(monkeypatch):
    from adapterx.engine.tracking import wandb_mode

    class FakeWandb:  # wandb.login(prompt=False) answers whether credentials exist, without asking or the network
        def __init__(self, logged_in: bool) -> None:
            self.logged_in = logged_in

        def login(self, *, prompt: bool, verify: bool) -> bool:
            assert prompt is False and verify is False
            return self.logged_in

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert wandb_mode(FakeWandb(False)) == "offline"
    assert wandb_mode(FakeWandb(True)) is None  # logged in: wandb's own default (online, or its settings file)
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wandb_mode(FakeWandb(False)) is None  # the user's WANDB_MODE wins (wandb reads it)


# --- mlflow --------------------------------------------------------------------------------------------------------


@pytest.fixture
def mlflow_local(monkeypatch):
    """MLflow with no tracking URI set (the SQLite store in RUN/tracking/) and no telemetry."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store needs sqlalchemy (not in mlflow-skinny)")
    pytest.importorskip("alembic", reason="MLflow's SQLite store needs alembic (not in mlflow-skinny)")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    return mlflow


def test_mlflow_local_store_gets_loss_per_step_and_dev_per_evaluation(tmp_path, mlflow_local, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a stray ./mlruns or ./mlflow.db would show up here
    out = tmp_path / "ml"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "4", "--eval-steps", "2",
                  "--report-to", "mlflow", "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    dev_curve = {step: dev["spearman"] for step, dev in json.loads(res.stdout)["metrics"]["dev_curve"]}
    record = json.loads((out / "tracking" / "tracker.json").read_text())
    assert record["tracker"] == "mlflow" and "mlflow.db" in record["view"]
    client = MlflowClient(tracking_uri=f"sqlite:///{(out / 'tracking' / 'mlflow.db').as_posix()}")
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "ml"
    assert run.data.params["task"] == "stsb" and run.data.params["max_steps"] == "4"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1, 2, 3, 4]
    dev = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "dev/spearman")}
    assert dev == pytest.approx(dev_curve) and sorted(dev) == [2, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml"]


def test_mlflow_run_is_marked_failed_when_training_raises(tmp_path, mlflow_local):
    from mlflow.tracking import MlflowClient

    from adapterx.engine.tracking import Tracker

    log_dir = tmp_path / "tracking"
    tracker = Tracker("mlflow", log_dir, "crash", {"task": "stsb"})
    with pytest.raises(RuntimeError):
        try:
            tracker({"step": 1, "loss": 0.5, "examples_per_s": 10.0})
            raise RuntimeError("loss became nan")
        finally:
            tracker.close()  # as train_run calls it: no argument, inside the finally of a failing training
    client = MlflowClient(tracking_uri=f"sqlite:///{(log_dir / 'mlflow.db').as_posix()}")
    run = client.get_run(json.loads((log_dir / "tracker.json").read_text())["run_id"])
    assert run.info.status == "FAILED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "train/loss")] == [0.5]


def test_mlflow_tracking_uri_is_respected_and_recorded_without_its_password(tmp_path, mlflow_local, monkeypatch):
    from mlflow.tracking import MlflowClient

    from adapterx.engine.tracking import Tracker, _redact

    uri = f"sqlite:///{(tmp_path / 'team.db').as_posix()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "xnli-sweep")
    tracker = Tracker("mlflow", tmp_path / "tracking", "r1", {"task": "xnli"})
    tracker({"step": 2, "dev": {"accuracy": 70.5, "f1": None}})
    tracker.close()
    assert not (tmp_path / "tracking" / "mlflow.db").exists()
    record = json.loads((tmp_path / "tracking" / "tracker.json").read_text())
    assert record["tracking_uri"] == uri
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(record["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "xnli-sweep"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "dev/accuracy")] == [(2, 70.5)]
    assert _redact("https://ana:s3cret@mlflow.lab.org/") == "https://ana:***@mlflow.lab.org/"
    assert _redact("postgresql://ana@db/mlflow") == "postgresql://ana@db/mlflow"


def test_mlflow_without_a_tracking_uri_needs_sqlalchemy(monkeypatch):
    import importlib.util

    from adapterx.errors import ConfigError
    from adapterx.engine.tracking import check

    pytest.importorskip("mlflow")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "alembic" else real(name, *a))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match=r"needs alembic: pip install alembic .*MLFLOW_TRACKING_URI"):
        check("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://localhost:5000")
    check("mlflow")  # a server holds the store: nothing more to install here


def test_a_crashed_runs_tracker_logs_are_kept_beside_its_output(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import adapterx.engine.loop
    from adapterx.engine.loop import TrainingError

    def crash(module, feats, collate, dev_eval, metric, cfg, progress=None, **kwargs):  # noqa: ANN001, ANN202
        for step in (1, 2):
            progress({"step": step, "total": 4, "loss": 1.0 / step, "examples_per_s": 10.0})
        raise TrainingError("loss became nan at step 3: lower --lr")

    monkeypatch.setattr(adapterx.engine.loop, "train", crash)
    out = tmp_path / "o"
    res = run_cli("train-intermediate", "stsb", "--model", "tiny", "--report-to", "tensorboard", "--output", str(out),
                  "-q")
    assert res.exit_code == 2 and "loss became nan" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))  # the unfinished run is gone...
    acc = EventAccumulator(str(tmp_path / "o.failed-tracking"))  # ...its loss curve up to the crash is not
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [(1, 1.0), (2, 0.5)]
