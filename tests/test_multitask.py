"""Multi-task intermediate training (one shared module, a head per task), the STS union, and its use downstream."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from adapterx.data.sources import DataOptions, load_split
from adapterx.workflows.multitask import MultiTaskData, batch_counts, sampling_probabilities
from adapterx.tasks import get_task


def test_sampling_probabilities_follow_the_temperature():
    assert sampling_probabilities([100, 400], 1.0) == pytest.approx([0.2, 0.8])
    assert sampling_probabilities([100, 400], 2.0) == pytest.approx([1 / 3, 2 / 3])  # sqrt(100) : sqrt(400)
    assert sampling_probabilities([100, 400], 1e9) == pytest.approx([0.5, 0.5], abs=1e-6)


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_multitask_module_trains_every_head_and_stacks(method, tmp_path):
    out = tmp_path / "mt"
    res = run_cli("train-intermediate", "stsb", "mnli", "squad", "--model", "tiny", "--method", method,
                  "--max-steps", "9", "--eval-steps", "9", "--batch-size", "8", "--output", str(out), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert set(body["metrics"]["dev"]) == {"stsb", "mnli", "squad"}
    assert body["metrics"]["dev"]["squad"].keys() >= {"exact_match", "f1"}
    mt = body["run"]["multitask"]
    assert sum(mt["steps_per_task"].values()) == 9 and body["run"]["task"] == "stsb+mnli+squad"
    # The shared module is an intermediate like any other: stack a target on it.
    res = run_cli("stack", str(out), "xnli", "--model", "tiny", "--method", method, "--max-steps", "3",
                  "--langs", "en,sw", "--output", str(tmp_path / "st"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["run"]["chain"] == ["stsb+mnli+squad", "xnli"]


class _Feats:
    def __init__(self, n: int) -> None:
        self.items = [{"i": i} for i in range(n)]

    def __len__(self) -> int:
        return len(self.items)


def test_each_epoch_draws_every_task_without_replacement():
    import torch

    # T = 1: 8 and 24 examples, batch 4 -> 2 + 6 batches an epoch; every example exactly once per epoch.
    data = MultiTaskData(["a", "b"], [_Feats(8), _Feats(24)], [None, None], [0.25, 0.75], 4)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        order = data.epoch_order(gen)
        assert sorted(order) == list(range(32))
        runs = [order[k:k + 4] for k in range(0, 32, 4)]
        assert all(len({i >= 8 for i in run}) == 1 for run in runs)  # each batch from one task
    # Uniform sampling (T -> inf): 4 batches each; the small task repeats whole passes, the large one walks its
    # shuffled order without repeating an example before all 24 were seen.
    data = MultiTaskData(["a", "b"], [_Feats(8), _Feats(24)], [None, None], [0.5, 0.5], 4)
    seen_b: list[int] = []
    for _ in range(3):
        order = data.epoch_order(gen)
        a_part = [i for i in order if i < 8]
        assert sorted(a_part) == sorted(list(range(8)) * 2)
        seen_b += [i for i in order if i >= 8]
    assert sorted(seen_b[:24]) == list(range(8, 32)) and sorted(seen_b[24:48]) == list(range(8, 32))
    assert batch_counts([0.2, 0.3, 0.5], 7) == [1, 2, 4] and sum(batch_counts([1 / 3] * 3, 10)) == 10


def test_multitask_runs_through_the_one_loop(tmp_path):
    """Gradient accumulation, gradient checkpointing and early stopping apply to multi-task training as to any run."""
    res = run_cli("train-intermediate", "stsb", "mnli", "--model", "tiny", "--max-steps", "4", "--batch-size", "4",
                  "--grad-accum", "2", "--gradient-checkpointing", "--early-stopping-patience", "1", "--eval-steps", "1",
                  "--output", str(tmp_path / "o"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    hp = body["run"]["hyperparameters"]
    assert hp["grad_accum"] == 2 and hp["gradient_checkpointing"] and hp["early_stopping_patience"] == 1
    assert sum(body["run"]["multitask"]["steps_per_task"].values()) == 2 * body["metrics"]["steps"]  # micro-batches
    assert body["run"]["multitask"]["sampling"] == "without replacement"


def test_a_killed_multitask_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    args = ["train-intermediate", "stsb", "mnli", "--model", "tiny", "--max-steps", "8", "--eval-steps", "2",
            "--batch-size", "4", "--json", "-q"]
    res = run_cli(*args, "--output", str(tmp_path / "whole"))
    assert res.exit_code == 0, res.stderr
    whole = json.loads(res.stdout)["metrics"]

    original, calls = MultiTaskData.batch, {"n": 0}

    def dies(self, idx):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 6:  # after the checkpoint of step 4
            raise KeyboardInterrupt
        return original(self, idx)

    monkeypatch.setattr(MultiTaskData, "batch", dies)
    assert run_cli(*args, "--output", str(tmp_path / "killed")).exit_code == 130  # Ctrl-C
    monkeypatch.setattr(MultiTaskData, "batch", original)
    assert (tmp_path / "killed.partial-checkpoint" / "checkpoint.pt").is_file()
    res = run_cli(*args, "--output", str(tmp_path / "killed"), "--resume")
    assert res.exit_code == 0, res.stderr
    resumed = json.loads(res.stdout)["metrics"]
    assert resumed["resumed_from_step"] == 4
    assert resumed["dev"] == whole["dev"]
    curve = [json.loads((tmp_path / d / "metrics.json").read_text())["loss_curve"] for d in ("whole", "killed")]
    assert curve[0] == curve[1] and len(curve[0]) == 8


def test_sts_all_multi_task_expands_to_its_members(tmp_path):
    res = run_cli("train-intermediate", "sts-all", "--multi-task", "--model", "tiny", "--max-steps", "7",
                  "--batch-size", "4", "--output", str(tmp_path / "o"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["run"]["multitask"]["tasks"] == list(get_task("sts-all").members)


def test_sts_all_union_reads_every_member(monkeypatch):
    from adapterx.data import sources
    from adapterx.data.examples import PairExample

    def fake_hf(task, split, lang, revisions=()):  # one example per member and split, named after the member
        return [PairExample("0", task.name, split, 1.0)], sources.Provenance(f"hf:{task.name}", 1)

    monkeypatch.setattr(sources, "_load_hf", fake_hf)
    train, prov = load_split(get_task("sts-all"), "train", "en", DataOptions(data="hf"))
    assert [ex.text_a for ex in train] == list(get_task("sts-all").members)
    assert prov.source == "+".join(f"hf:{m}" for m in get_task("sts-all").members)
    dev, _ = load_split(get_task("sts-all"), "dev", "en", DataOptions(data="hf"))
    assert [ex.text_a for ex in dev] == ["stsb"]  # checkpoints are selected on STS-B dev


def test_eval_compare_prints_both_modules_and_the_difference(tmp_path):
    out = tmp_path / "sts"
    assert run_cli("train-intermediate", "stsb", "--model", "tiny", "--method", "lora", "--max-steps", "3",
                   "--output", str(out), "-q").exit_code == 0
    res = run_cli("eval", "stsb-multi", "--module", str(out), "--compare", "none", "--langs", "en,de", "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert set(body["modules"]) == {str(out), "none"}
    assert set(body["modules"]["none"]["scores"]) == {"en", "de"}
    res = run_cli("eval", "stsb-multi", "--module", str(out), "--compare", "none", "--langs", "en,de")
    assert "sts - none" in res.stdout


def _words(i: int) -> tuple[str, str]:
    a = f"kato lima {i} pesu"
    return a, a if i % 2 else f"rumi {i} soka"


def test_sick_and_semeval_sts_files_train(tmp_path, shared_data):
    sick = tmp_path / "SICK.txt"
    rows = ["pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\tSemEval_set"]
    for i in range(40):
        a, b = _words(i)
        rows.append(f"{i}\t{a}\t{b}\tNEUTRAL\t{1 + 4 * (i % 2)}.0\tA_neutral_B\t{'TRIAL' if i < 10 else 'TRAIN'}")
    sick.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = run_cli("train-intermediate", "sickr", "--model", "tiny", "--data", str(sick), "--max-steps", "2",
                  "--output", str(tmp_path / "sick"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)["run"]["data"]
    assert (data["train_size"], data["dev_size"]) == (30, 10)

    year = tmp_path / "sts14"
    year.mkdir()
    pairs = [_words(i) for i in range(20)]
    (year / "STS.input.news.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    (year / "STS.gs.news.txt").write_text("".join(f"{(i % 6)}\n" if i != 3 else "\n" for i in range(20)), encoding="utf-8")
    dev = shared_data / "stsb" / "stsb-en-dev.csv"
    res = run_cli("train-intermediate", "sts14", "--model", "tiny", "--data", str(year), "--dev-file", str(dev),
                  "--max-steps", "2", "--output", str(tmp_path / "s14"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)["run"]["data"]
    assert data["train_size"] == 19 and data["dev_size"] == 1500  # the unscored pair (empty gold line) is dropped
    res = run_cli("train-intermediate", "sts14", "--model", "tiny", "--data", str(year), "--output", str(tmp_path / "x"))
    assert res.exit_code == 2 and "--dev-file" in res.stderr
