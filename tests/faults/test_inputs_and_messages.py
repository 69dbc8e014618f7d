"""Inputs that do not fit, silent replacement, leftovers and misleading messages (issue "Nothing accepted that is not
honoured, no traceback on a fault a user meets, no silent loss"): each case one line naming the problem and the fix,
exit 2, nothing half-written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import REPO

from ._cli import ax, clone, one_line_error, partials

TRAIN = ("train-intermediate", "stsb", "--model", "tiny", "--max-steps", "2", "--batch-size", "8", "-q")


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list:
    import adapterx.engine.loop

    calls: list = []

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(adapterx.engine.loop, "train", refuse)
    return calls


# ---------------------------------------------------------------------------------------------- device


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda_available(), reason="this torch has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
@pytest.mark.parametrize("command", ["train", "eval", "retrieve"])
def test_cuda_on_a_cpu_only_torch_is_one_line(command, device, stsb_modules, tmp_path, no_training):
    out = tmp_path / "out"
    args = {"train": [*TRAIN, "--output", out],
            "eval": ["eval", "stsb-multi", "--module", stsb_modules["adapter"], "--langs", "en"],
            "retrieve": ["retrieve", "tatoeba", "--module", "none", "--model", "tiny", "--langs", "sw"]}[command]
    one_line_error(ax(*args, "--device", device), f"--device {device}", "--device cpu")
    assert not out.exists() and not partials(tmp_path)


@pytest.mark.parametrize("device", ["tpu", "gpu", "cpu:0", "cuda:x"])
def test_unknown_device_is_one_line(device, tmp_path, no_training):
    one_line_error(ax(*TRAIN, "--output", tmp_path / "o", "--device", device), f"--device {device!r}", "cpu, cuda")


# ---------------------------------------------------------------------------------------------- values that do not fit


@pytest.mark.parametrize(("extra", "needles"), [
    (["--max-length", "4096"], ["--max-length 4096", "at most 512 tokens"]),
    (["--reduction-factor", "1000"], ["--reduction-factor 1000", "hidden size 64", "0 units"]),
    (["--method", "lora", "--lora-rank", "1000"], ["--lora-rank 1000", "hidden size 64"]),
    (["--method", "lora", "--lora-targets", "nosuchmodule"], ["nosuchmodule", "query"]),
])
def test_options_the_backbone_cannot_honour_are_refused(extra, needles, tmp_path, no_training):
    out = tmp_path / "o"
    one_line_error(ax(*TRAIN, "--output", out, *extra), *needles)
    assert not out.exists() and not partials(tmp_path)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--batch-size", "0"], "--batch-size"),
    (["--max-length", "4"], "--max-length"),
    (["--max-length", "5000"], "at most 512 tokens"),
])
def test_eval_options_are_one_line(extra, needle, stsb_modules):
    one_line_error(ax("eval", "stsb-multi", "--module", stsb_modules["adapter"], "--langs", "en", *extra), needle)


def test_train_language_options_are_one_line(tmp_path):
    one_line_error(ax("train-language", "sw", "--model", "tiny", "--batch-size", "0", "--output", tmp_path / "o"),
                   "--batch-size")


# ---------------------------------------------------------------------------------------------- push


def _sha(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


def test_push_under_a_taken_name_needs_overwrite(stsb_modules, tmp_path):
    hub = tmp_path / "hub"
    res = ax("push", stsb_modules["adapter"], "--to", hub, "--name", "m")
    assert res.exit_code == 0, res.stderr
    before = _sha(hub / "m")
    err = one_line_error(ax("push", stsb_modules["lora"], "--to", hub, "--name", "m"), str(hub / "m"), "--overwrite",
                         "--name")
    assert "already holds another module" in err
    assert _sha(hub / "m") == before, "the earlier module was replaced"
    from adapterx.hub import FolderHub

    assert FolderHub(hub).read_index()["m"]["method"] == "adapter"
    assert not [p for p in hub.iterdir() if p.name.startswith((".staging", ".trash"))]

    res = ax("push", stsb_modules["adapter"], "--to", hub, "--name", "m")  # the same module again: no loss
    assert res.exit_code == 0, res.stderr
    res = ax("push", stsb_modules["lora"], "--to", hub, "--name", "m", "--overwrite")
    assert res.exit_code == 0, res.stderr
    assert json.loads((hub / "m" / "run.json").read_text())["method"]["name"] == "lora"


# ---------------------------------------------------------------------------------------------- leftovers


def test_failing_command_without_output_leaves_no_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(ax(*TRAIN, "--data", tmp_path / "missing.csv"), "missing.csv")
    assert list(tmp_path.iterdir()) == [], "an empty runs/ was left behind"


def test_failing_command_keeps_a_runs_folder_that_was_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    one_line_error(ax(*TRAIN, "--data", tmp_path / "missing.csv"), "missing.csv")
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").iterdir()) == []


def test_leftover_intermediate_of_other_settings_is_not_reused(stsb_modules, tmp_path, no_training):
    """stack reuses an intermediate an earlier invocation left beside --output only if it was trained as this
    command would train it (it was reused whatever its hyperparameters)."""
    out = tmp_path / "out"
    clone(stsb_modules["adapter"], tmp_path / "out.intermediate-stsb")  # trained with --max-steps 2
    err = one_line_error(ax("stack", "stsb", "xnli", "--model", "tiny", "--max-steps", "3", "--batch-size", "8",
                            "--langs", "en", "--output", out, "-q"), "out.intermediate-stsb", "max_steps=2",
                         "max_steps=3", "remove it")
    assert "earlier run" in err and not out.exists()


# ---------------------------------------------------------------------------------------------- messages


def test_folder_as_train_file_says_it_is_a_folder(tmp_path, no_training):
    folder = tmp_path / "data"
    folder.mkdir()
    err = one_line_error(ax(*TRAIN, "--train-file", folder, "--output", tmp_path / "o"), str(folder), "is a folder",
                         f"--data {folder}")
    assert "no such file" not in err


def test_run_of_a_run_folder_says_how_to_continue_or_report(tmp_path):
    run = tmp_path / "grid"
    (run / "cells").mkdir(parents=True)
    (run / "recipe.yaml").write_text("name: x\n", encoding="utf-8")
    err = one_line_error(ax("run", run), "run folder", f"adapterx run {run / 'recipe.yaml'} --run-dir {run}",
                         f"adapterx report {run}")
    assert "does not exist" not in err
    one_line_error(ax("run", REPO / "recipes"), "is a folder", f"e.g. {REPO / 'recipes'}/", ".yaml")


@pytest.mark.parametrize(("encoding", "bom", "needles"), [
    ("utf-16", True, ["UTF-16 (little-endian, with a byte-order mark)", "iconv -f UTF-16 -t UTF-8"]),
    ("utf-16-be", False, ["UTF-16 (big-endian, without a byte-order mark)", "iconv -f UTF-16BE -t UTF-8"]),
    ("utf-16-le", False, ["UTF-16 (little-endian, without a byte-order mark)", "iconv -f UTF-16LE -t UTF-8"]),
    ("utf-32", True, ["UTF-32", "iconv -f UTF-32 -t UTF-8"]),
])
def test_wide_unicode_files_are_named_by_their_encoding(encoding, bom, needles, tmp_path, no_training):
    path = tmp_path / "stsb-en-train.csv"
    path.write_bytes('"a b","a c",2.0\n"d e","d f",3.0\n'.encode(encoding))
    err = one_line_error(ax(*TRAIN, "--data", path, "--dev-file", path, "--output", tmp_path / "o"), str(path),
                         *needles)
    assert "latin1" not in err


@pytest.mark.parametrize(("method", "name"), [
    ("adapter", "adapter.safetensors"), ("adapter", "model_head.safetensors"), ("lora", "adapter_model.safetensors"),
    ("full", "model.safetensors"),
])
@pytest.mark.parametrize("command", ["eval", "stack"])
def test_deleted_weights_are_named(command, method, name, stsb_modules, tmp_path, no_training):
    run = clone(stsb_modules[method], tmp_path / "X")
    (run / "module" / name).unlink()
    out = tmp_path / "out"
    args = {"eval": ["eval", "stsb-multi", "--module", run, "--langs", "en"],
            "stack": ["stack", "stsb", "xnli", "--module", f"stsb={run}", "--method", method, "--model", "tiny",
                      "--max-steps", "2", "--langs", "en", "--output", out, "-q"]}[command]
    err = one_line_error(ax(*args), str(run / "module" / name), "is missing")
    assert "pytorch_adapter.bin" not in err
    assert not out.exists() and not partials(tmp_path)


@pytest.mark.parametrize("command", ["eval", "stack", "retrieve"])
def test_pickle_module_advice_fits_the_command(command, stsb_modules, tmp_path, no_training):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    (run / "module" / "adapter.safetensors").rename(run / "module" / "pytorch_adapter.bin")
    args = {"eval": ["eval", "stsb-multi", "--module", run, "--langs", "en"],
            "stack": ["stack", "stsb", "xnli", "--module", f"stsb={run}", "--model", "tiny", "--max-steps", "2",
                      "--langs", "en", "--output", tmp_path / "out", "-q"],
            "retrieve": ["retrieve", "tatoeba", "--module", run, "--model", "tiny", "--langs", "sw"]}[command]
    err = one_line_error(ax(*args), "pytorch_adapter.bin", "safetensors")
    assert "--trust-pickle" not in err, "eval/stack/retrieve have no --trust-pickle"
    # push does have it, and still says so
    one_line_error(ax("push", run, "--to", tmp_path / "hub"), "--trust-pickle")
