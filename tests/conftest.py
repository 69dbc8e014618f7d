"""Test setup: never touch the network; locate ../shared/data; build the tiny model once per session."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub / datasets: tests run offline, always.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data files in ../shared/data; skips the test where that folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One adapterx cache per test session (the tiny model is built into it once), unless the caller set one."""
    if "ADAPTERX_CACHE" not in os.environ:
        os.environ["ADAPTERX_CACHE"] = str(tmp_path_factory.mktemp("adapterx-cache"))
    return Path(os.environ["ADAPTERX_CACHE"])


@pytest.fixture(scope="session")
def tiny():
    """The built-in tiny XLM-R, built once per session."""
    from adapterx import backbone

    return backbone.resolve("tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny):
    from adapterx import backbone

    return backbone.load_tokenizer(tiny)


def run_cli(*args: str):
    """Invoke the adapterx CLI in-process; returns typer's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from cli.main import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def store_contents(run_dir: Path) -> tuple[list[str], list[tuple], list[tuple], int]:
    """What a results store holds, read with plain sqlite3: cell hashes, (cell, lang) result rows, (cell, lang)
    per-example rows, and the number of recorded failures."""
    import sqlite3

    con = sqlite3.connect(Path(run_dir) / "results.sqlite")
    try:
        cells = [r[0] for r in con.execute("SELECT cell_hash FROM cells")]
        pairs = [tuple(r) for r in con.execute("SELECT cell_hash, lang FROM results")]
        stats = [tuple(r) for r in con.execute("SELECT cell_hash, lang FROM example_stats")]
        failures = con.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
    finally:
        con.close()
    return cells, pairs, stats, failures


def import_fake_cell_module() -> None:
    """The fake cell function of tests/test_results.py, imported under a stable name (``adapterx_test_fake``) so a
    grid's ``--cell-fn adapterx_test_fake:fake_run_cell`` can name it."""
    import importlib.util
    import sys

    if "adapterx_test_fake" not in sys.modules:
        spec = importlib.util.spec_from_file_location("adapterx_test_fake", Path(__file__).resolve().parent / "test_results.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["adapterx_test_fake"] = module
        spec.loader.exec_module(module)
