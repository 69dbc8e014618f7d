"""Corrupted modules (issue "Corrupted inputs: each gets one clear line, exit code 2, and a test"): a truncated
safetensors file, a module folder without its config, a module from another backbone. ``eval`` and ``stack`` must
refuse them with one line naming the file (or the differing field), exit 2, and leave no output folder behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import ax, clone, edit_json, one_line_error, partials, truncate

WEIGHTS = {"adapter": "adapter.safetensors", "lora": "adapter_model.safetensors", "full": "model.safetensors"}
CONFIG = {"adapter": "adapter_config.json", "lora": "adapter_config.json", "full": "config.json"}

# Found by these tests before adapterx.methods.verify_module_folder / load_module mapped them: the libraries'
# loaders raised SafetensorError / OSError / ValueError, so the CLI exited 1 with a traceback.


def _commands(method: str, run: Path, out: Path) -> dict[str, list]:
    return {
        "eval": ["eval", "stsb-multi", "--module", run, "--langs", "en"],
        "stack": ["stack", "stsb", "xnli", "--module", f"stsb={run}", "--method", method, "--model", "tiny",
                  "--max-steps", "2", "--langs", "en", "--output", out, "-q"],
    }


@pytest.mark.parametrize("command", ["eval", "stack"])
@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_truncated_safetensors_is_one_line_naming_the_file(method, command, stsb_modules, tmp_path):
    run = clone(stsb_modules[method], tmp_path / "X")
    truncate(run / "module" / WEIGHTS[method])
    out = tmp_path / "out"
    res = ax(*_commands(method, run, out)[command])
    one_line_error(res, WEIGHTS[method])
    assert not out.exists() and not partials(tmp_path)


@pytest.mark.parametrize("damage", [b"", b"\x00" * 3, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......"])
@pytest.mark.parametrize("name", ["adapter.safetensors", "model_head.safetensors"])
def test_empty_or_garbage_safetensors_is_one_line_naming_the_file(name, damage, stsb_modules, tmp_path):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    (run / "module" / name).write_bytes(damage)
    one_line_error(ax(*_commands("adapter", run, tmp_path / "out")["eval"]), name)


@pytest.mark.parametrize("command", ["eval", "stack"])
@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_module_without_its_config_is_one_line_naming_the_file(method, command, stsb_modules, tmp_path):
    run = clone(stsb_modules[method], tmp_path / "X")
    (run / "module" / CONFIG[method]).unlink()
    out = tmp_path / "out"
    res = ax(*_commands(method, run, out)[command])
    one_line_error(res, CONFIG[method])
    assert not out.exists() and not partials(tmp_path)


def test_truncated_module_leaves_the_module_and_nothing_else(stsb_modules, tmp_path):
    """Whatever the message, a failed load must not touch the module or leave a half-written run behind."""
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    truncate(run / "module" / WEIGHTS["adapter"])
    before = sorted((p.relative_to(run).as_posix(), p.stat().st_size) for p in run.rglob("*") if p.is_file())
    out = tmp_path / "out"
    res = ax(*_commands("adapter", run, out)["stack"])
    one_line_error(res, WEIGHTS["adapter"])
    assert not out.exists() and not partials(tmp_path)
    assert not (tmp_path / "out.intermediate-stsb").exists(), "a given module must not be retrained"
    after = sorted((p.relative_to(run).as_posix(), p.stat().st_size) for p in run.rglob("*") if p.is_file())
    assert after == before


def _other_backbone(run: Path) -> None:
    def change(obj: dict) -> None:
        obj["backbone"].update(id="xlm-roberta-base", hidden_size=768)

    edit_json(run / "run.json", change)


@pytest.mark.parametrize("form", ["--module", "reference"])
def test_module_of_another_backbone_in_stack_names_the_field_and_suggests_model(form, stsb_modules, tmp_path):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    _other_backbone(run)
    out = tmp_path / "out"
    head = ["stack", "stsb", "xnli", "--module", f"stsb={run}"] if form == "--module" else ["stack", run, "xnli"]
    res = ax(*head, "--model", "tiny", "--max-steps", "2", "--langs", "en", "--output", out, "-q")
    err = one_line_error(res, "hidden_size", "768", "64", "--model xlm-roberta-base")
    assert "another backbone" in err
    assert not out.exists() and not partials(tmp_path) and not (tmp_path / "out.intermediate-stsb").exists()


def test_module_of_another_backbone_in_eval_with_model(stsb_modules, tmp_path):
    run = clone(stsb_modules["lora"], tmp_path / "X")
    _other_backbone(run)
    res = ax("eval", "stsb-multi", "--module", run, "--model", "tiny", "--langs", "en")
    one_line_error(res, "hidden_size", "--model xlm-roberta-base")


@pytest.mark.parametrize(("key", "value"), [("vocab_size", 250002), ("num_layers", 12), ("model_type", "bert")])
def test_every_recorded_backbone_field_is_checked(key, value, stsb_modules, tmp_path):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    edit_json(run / "run.json", lambda obj: obj["backbone"].update({key: value}))
    out = tmp_path / "out"
    res = ax("stack", "stsb", "xnli", "--module", f"stsb={run}", "--model", "tiny", "--max-steps", "2",
             "--langs", "en", "--output", out, "-q")
    one_line_error(res, f"{key}={value}", "--model")
    assert not out.exists()


def test_run_json_that_is_not_json_is_one_line(stsb_modules, tmp_path):
    run = clone(stsb_modules["adapter"], tmp_path / "X")
    (run / "run.json").write_text('{"backbone": {"id": "tiny", ', encoding="utf-8")
    res = ax("eval", "stsb-multi", "--module", run, "--langs", "en")
    one_line_error(res, "run.json", "not valid JSON")
