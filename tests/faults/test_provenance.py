"""Modules used for what they are not (issue "Nothing accepted that is not honoured"): a module of another task named
as an intermediate, a module trained on other backbone weights of the same shape, a non-target task trained as a
target, a retrieval target under `stack`. Each is refused before anything trains, with one line naming the field
and the fix, exit 2 and nothing written; the deliberate case (--allow-backbone-mismatch) is honoured and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._cli import ax, clone, edit_json, one_line_error, partials

STACK = ("--model", "tiny", "--max-steps", "2", "--batch-size", "8", "--langs", "en", "-q")


def _as_xnli(run: Path) -> None:
    """What an XNLI run's run.json says (the module loads as any adapter: the record is what is checked)."""
    edit_json(run / "run.json", lambda obj: obj.update(task="xnli", chain=["xnli"]))


def _other_weights(run: Path) -> None:
    """The same backbone shape (tiny), other weights: another content fingerprint."""
    edit_json(run / "run.json", lambda obj: obj["backbone"].update(id="tiny-other", sha256="0" * 64))


# ---------------------------------------------------------------------------------------------- task


@pytest.mark.parametrize("target", ["panx", "xnli"])  # xnli: the library said "adapter 'xnli' already added"
def test_module_of_another_task_named_as_the_intermediate_is_refused(target, stsb_modules, tmp_path, train_calls):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    _as_xnli(run)
    out = tmp_path / "out"
    res = ax("stack", "stsb", target, "--module", f"stsb={run}", *STACK, "--output", out)
    one_line_error(res, f"--module stsb={run}", "trained on xnli, not stsb")
    assert not train_calls and not out.exists() and not partials(tmp_path)


def test_the_same_intermediate_twice_is_refused(stsb_modules, tmp_path, train_calls):
    run = stsb_modules["adapter"]
    res = ax("stack", run, run, "xnli", *STACK, "--output", tmp_path / "out")
    one_line_error(res, "stsb is named twice")
    assert not train_calls


# ---------------------------------------------------------------------------------------------- backbone weights


@pytest.mark.parametrize("command", ["eval", "stack", "retrieve"])
def test_module_of_other_backbone_weights_is_refused(command, stsb_modules, tmp_path, train_calls):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    _other_weights(run)
    out = tmp_path / "out"
    args = {
        "eval": ["eval", "stsb-multi", "--module", run, "--model", "tiny", "--langs", "en"],
        "stack": ["stack", "stsb", "xnli", "--module", f"stsb={run}", *STACK, "--output", out],
        "retrieve": ["retrieve", "tatoeba", "--module", run, "--model", "tiny", "--langs", "sw", "--max-sentences", "8"],
    }[command]
    err = one_line_error(ax(*args), "other backbone weights", "tiny-other", "--model tiny-other",
                         "--allow-backbone-mismatch")
    assert "sha256 000000000000" in err
    assert not train_calls and not out.exists() and not partials(tmp_path)


def test_allowed_backbone_mismatch_is_recorded_in_eval_and_stack(stsb_modules, tmp_path):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    _other_weights(run)
    res = ax("eval", "stsb-multi", "--module", run, "--model", "tiny", "--langs", "en", "--json",
             "--allow-backbone-mismatch")
    assert res.exit_code == 0, res.stderr
    assert any("other backbone weights" in n for n in json.loads(res.stdout)["notes"])

    out = tmp_path / "out"
    res = ax("stack", "stsb", "xnli", "--module", f"stsb={run}", *STACK, "--output", out, "--allow-backbone-mismatch")
    assert res.exit_code == 0, res.stderr
    comp = json.loads((out / "run.json").read_text())["composition"]
    assert len(comp["backbone_mismatch"]) == 1 and "tiny-other" in comp["backbone_mismatch"][0]


def test_module_of_the_same_backbone_records_no_mismatch(stsb_modules, tmp_path):
    res = ax("eval", "stsb-multi", "--module", stsb_modules["lora"], "--langs", "en", "--json")
    assert res.exit_code == 0, res.stderr
    assert not any("backbone" in n for n in json.loads(res.stdout).get("notes", []))


# ---------------------------------------------------------------------------------------------- targets


@pytest.mark.parametrize(("args", "needles"), [
    (["train-target", "stsb"], ["stsb is not a target task", "adapterx train-intermediate stsb"]),
    (["train-target", "stsb-multi"], ["stsb-multi is not a target task", "adapterx eval stsb-multi"]),
    (["stack", "xnli", "stsb"], ["stsb is not a target task"]),
    (["stack", "stsb", "tatoeba"], ["tatoeba is a retrieval task", "adapterx retrieve tatoeba"]),
    (["fuse", "stsb", "mnli", "--target", "sst2"], ["sst2 is not a target task"]),
])
def test_non_target_as_target_is_refused_before_anything_trains(args, needles, tmp_path, monkeypatch, train_calls):
    monkeypatch.chdir(tmp_path)  # where runs/ would appear
    out = tmp_path / "out"
    one_line_error(ax(*args, *STACK, "--output", out), *needles)
    assert not train_calls, "an intermediate was trained for a target that is refused"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing may be written (no .intermediate-* folder)"


def test_recipe_with_a_non_target_task_as_target_is_refused_at_load(tmp_path):
    """Not only each cell, after its intermediates trained: the recipe itself."""
    from conftest import REPO

    res = ax("run", REPO / "recipes" / "smoke-tiny.yaml", "--set", "targets=[xnli, stsb]", "--dry-run",
             "--run-dir", tmp_path / "rd")
    one_line_error(res, "targets[1]", "stsb is not a target task", "intermediates")
    assert not (tmp_path / "rd").exists()
