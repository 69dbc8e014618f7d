"""Fixtures of the fault-injection tests: one small trained stsb module per method, corrupted per test on a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import ax

METHODS = ("adapter", "lora", "full")


@pytest.fixture
def train_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """Count calls of the training loop (the real one still runs)."""
    import adapterx.engine.loop

    calls: list = []
    real = adapterx.engine.loop.train

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(adapterx.engine.loop, "train", counting)
    return calls


@pytest.fixture(scope="session")
def stsb_modules(tmp_path_factory: pytest.TempPathFactory, tiny) -> dict[str, Path]:  # noqa: ANN001
    """``adapterx train-intermediate stsb --model tiny --max-steps 2`` for adapter, LoRA and full: run dirs."""
    root = tmp_path_factory.mktemp("fault-modules")
    out = {}
    for method in METHODS:
        run = root / f"stsb-{method}"
        res = ax("train-intermediate", "stsb", "--model", "tiny", "--method", method, "--max-steps", "2",
                 "--batch-size", "8", "--output", run, "-q")
        assert res.exit_code == 0, (res.exception, res.stderr)
        out[method] = run
    return out
