"""``adapterx push``, ``pull`` and ``hub ls|search|reindex`` through typer's CliRunner (offline, fabricated runs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapterx.errors import HubError
from cli.main import app

# The run-dir fabricator lives in test_hub.py; loaded by path so any pytest import mode works.
_spec = importlib.util.spec_from_file_location("_hub_test_fixtures", Path(__file__).with_name("test_hub.py"))
assert _spec and _spec.loader
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
make_run = _fixtures.make_run

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTERX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ADAPTERX_HUB", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_dry_run_to_hf_lists_files_and_card_offline(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    res = runner.invoke(app, ["push", str(run), "--to", "hf:me", "--dry-run"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "would publish" in out and "hf:me/stsb-adapter-xlm-roberta-base" in out
    for name in (
        " stsb/adapter.safetensors",
        " stsb/head_config.json",
        "run.json",
        "metrics.json",
        "manifest.json",
        "README.md",
    ):
        assert name in out
    assert "library_name: adapters" in out and "base_model: FacebookAI/xlm-roberta-base" in out

    res = runner.invoke(app, ["push", str(run), "--to", "hf:me/custom@dev", "--dry-run", "--json"])
    data = json.loads(res.stdout)
    assert data["id"] == "hf:me/custom@dev" and data["dry_run"] is True
    assert {f["file"] for f in data["files"]} >= {"stsb/model_head.safetensors", "README.md"}
    assert data["card"].startswith("---\nlibrary_name: adapters")


def test_folder_hub_push_ls_search_pull(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    res = runner.invoke(app, ["push", str(make_run(tmp_path)), "--to", str(hub_dir)])
    assert res.exit_code == 0, res.output
    ident = res.stdout.strip()
    assert ident == str(hub_dir / "stsb-adapter-xlm-roberta-base")
    res = runner.invoke(
        app,
        ["push", str(make_run(tmp_path, "r2", method="lora", task="xnli")), "--to", str(hub_dir), "--name", "my-lora"],
    )
    assert res.stdout.strip() == str(hub_dir / "my-lora")

    res = runner.invoke(app, ["hub", "ls", "--hub", str(hub_dir), "--json"])
    data = json.loads(res.stdout)
    assert data["count"] == 2 and {m["name"] for m in data["modules"]} == {"stsb-adapter-xlm-roberta-base", "my-lora"}
    res = runner.invoke(
        app,
        [
            "hub",
            "search",
            "--hub",
            str(hub_dir),
            "--task",
            "xnli",
            "--lang",
            "sw",
            "--base",
            "xlm-roberta-base",
            "--method",
            "lora",
            "--json",
        ],
    )
    assert [m["id"] for m in json.loads(res.stdout)["modules"]] == [str(hub_dir / "my-lora")]
    res = runner.invoke(app, ["hub", "search", "stsb"], env={"ADAPTERX_HUB": str(hub_dir), "COLUMNS": "200"})
    assert res.exit_code == 0 and "stsb-adapter-xlm-roberta-base" in res.stdout and "my-lora" not in res.stdout
    assert "low-res 58.4" in res.stdout  # the table shows the zero-shot low-resource average
    res = runner.invoke(app, ["hub", "ls", "--hub", str(hub_dir), "--lang", "fr"])
    assert res.exit_code == 0 and "no module matches" in res.stderr

    res = runner.invoke(app, ["pull", ident])
    assert res.exit_code == 0, res.output
    path = Path(res.stdout.strip())
    assert (path / "module/stsb/adapter.safetensors").is_file() and str(tmp_path / "cache") in str(path)
    res = runner.invoke(app, ["pull", ident, "--json"])
    assert json.loads(res.stdout)["path"] == str(path)


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["push", str(tmp_path / "nope"), "--to", str(tmp_path / "hub")])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    res = runner.invoke(app, ["push", str(make_run(tmp_path)), "--to", str(tmp_path / "hub"), "--name", "../x"])
    assert res.exit_code == 2 and "unsafe repository name" in res.stderr
    res = runner.invoke(app, ["pull", "hf:../etc"])
    assert res.exit_code == 2 and "unsafe" in res.stderr
    res = runner.invoke(app, ["hub", "ls"])
    assert res.exit_code == 2 and "ADAPTERX_HUB" in res.stderr
    res = runner.invoke(app, ["pull", "hf:me/x"])  # HF_HUB_OFFLINE=1 in tests
    assert res.exit_code == 2 and "HF_HUB_OFFLINE" in res.stderr


def test_debug_keeps_the_exception(tmp_path: Path) -> None:
    res = runner.invoke(app, ["pull", "hf:../etc", "--debug"])
    assert res.exit_code != 0 and isinstance(res.exception, HubError)


def test_pickle_refused_then_trusted(tmp_path: Path) -> None:
    run = make_run(tmp_path, extra={"stsb/pytorch_adapter.bin": b"\x80\x04"})
    hub_dir = tmp_path / "hub"
    res = runner.invoke(app, ["push", str(run), "--to", str(hub_dir)])
    assert res.exit_code == 2 and "pytorch_adapter.bin" in res.stderr and "--trust-pickle" in res.stderr
    res = runner.invoke(app, ["push", str(run), "--to", str(hub_dir), "--trust-pickle"])
    assert res.exit_code == 0
    ident = res.stdout.strip()
    assert runner.invoke(app, ["pull", ident]).exit_code == 2
    assert runner.invoke(app, ["pull", ident, "--trust-pickle"]).exit_code == 0


def test_tampered_repository_fails_pull_naming_the_file(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    ident = runner.invoke(app, ["push", str(make_run(tmp_path)), "--to", str(hub_dir)]).stdout.strip()
    weights = Path(ident) / "stsb/adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    res = runner.invoke(app, ["pull", ident])
    assert res.exit_code == 2 and " stsb/adapter.safetensors" in res.stderr and "sha256" in res.stderr
    cache = tmp_path / "cache" / "hub"
    assert not list(cache.rglob("*.safetensors"))  # nothing half-pulled


def test_reindex_rebuilds_a_damaged_index(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    runner.invoke(app, ["push", str(make_run(tmp_path)), "--to", str(hub_dir)])
    (hub_dir / "index.json").write_text("garbage")
    res = runner.invoke(app, ["hub", "ls", "--hub", str(hub_dir)])
    assert res.exit_code == 2 and "reindex" in res.stderr
    assert runner.invoke(app, ["hub", "reindex", str(hub_dir)]).exit_code == 0
    assert json.loads(runner.invoke(app, ["hub", "ls", "--hub", str(hub_dir), "--json"]).stdout)["count"] == 1


def test_help_is_light() -> None:
    res = runner.invoke(app, ["push", "--help"])
    assert res.exit_code == 0 and "--dry-run" in res.stdout and "--trust-pickle" in res.stdout


@pytest.mark.parametrize("to", ["folder", "hf:me"])
def test_push_refuses_a_truncated_weight_file_and_publishes_nothing(tmp_path: Path, to: str) -> None:
    run = make_run(tmp_path)
    weights = run / "module/stsb/adapter.safetensors"
    weights.write_bytes(weights.read_bytes()[:-5])  # header intact, the last tensor's bytes cut short
    target = str(tmp_path / "hub") if to == "folder" else to
    for extra in ([], ["--dry-run"]):
        res = runner.invoke(app, ["push", str(run), "--to", target, *extra])
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
        assert "adapter.safetensors is truncated" in res.stderr and "push again" in res.stderr
    assert not (tmp_path / "hub").exists()


def test_endpoint_flag_is_checked_and_applies_to_hf_ids_only(tmp_path: Path) -> None:
    res = runner.invoke(app, ["pull", "hf:me/x", "--endpoint", "ftp://mirror"])
    assert res.exit_code == 2 and "--endpoint 'ftp://mirror' is not a server URL" in res.stderr
    res = runner.invoke(app, ["hub", "ls", "--hub", str(tmp_path), "--endpoint", "http://127.0.0.1:1"])
    assert res.exit_code == 2 and "--endpoint applies to --hub hf only" in res.stderr
    res = runner.invoke(app, ["push", str(make_run(tmp_path)), "--to", str(tmp_path / "hub"), "--endpoint",
                              "http://127.0.0.1:1"])
    assert res.exit_code == 2 and "--endpoint applies to hf: targets only" in res.stderr
    assert not (tmp_path / "hub").exists()
