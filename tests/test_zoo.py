"""Every intermediate task of the registry trains on the tiny model with synthetic data (methods rotate over the
tasks so each kind meets each method), and the registry's errors name the choices."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from adapterx.errors import ConfigError
from adapterx.tasks import get_task, task_names

INTERMEDIATE = [n for n in task_names() if get_task(n).intermediate]
METHODS = ["adapter", "lora", "full"]


def test_the_x_stilts_and_sts_tasks_are_registered():
    assert set(INTERMEDIATE) >= {"mnli", "anli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa",
                                 "ccg", "siqa", "stsb", "sickr", "sts12", "sts13", "sts14", "sts15", "sts16", "sts-all"}
    with pytest.raises(ConfigError, match="Did you mean 'hellaswag'"):
        get_task("helaswag")


@pytest.mark.parametrize("task", INTERMEDIATE)
def test_intermediate_task_trains_on_synthetic_data(task, tmp_path):
    method = METHODS[INTERMEDIATE.index(task) % 3]
    res = run_cli("train-intermediate", task, "--model", "tiny", "--method", method, "--max-steps", "2",
                  "--batch-size", "4", "--output", str(tmp_path / "o"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["run"]["task"] == task and body["run"]["data"]["source"] == "synthetic"
    assert body["metrics"]["dev"], "a dev metric is reported"
