"""Helpers of the fault-injection tests: run the CLI in-process and check the one-line error contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO


def ax(*args: Any):  # noqa: ANN201 - typer's Result
    """``adapterx ARGS`` in-process. Unlike ``conftest.run_cli`` an unexpected exception does not propagate: it
    shows up as ``exit_code`` 1 with ``exception`` set, so a test can say what it expected instead."""
    from typer.testing import CliRunner

    from cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(res: Any, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr starting with ``error:``, containing every needle; returns it."""
    err = res.stderr.strip()
    assert res.exit_code == 2, (
        f"exit code {res.exit_code}, expected 2; exception {res.exception!r}; stderr: {err[-1500:]!r}"
    )
    assert len(err.splitlines()) == 1, f"expected one line on stderr, got:\n{err}"
    assert err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


def partials(folder: Path) -> list[str]:
    """Hidden half-written run folders (``.NAME.partial-PID``) left in ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir() if ".partial-" in p.name)


def clone(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def truncate(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)


def edit_json(path: Path, change: Any) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    change(obj)
    path.write_text(json.dumps(obj), encoding="utf-8")


def spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    """``adapterx ARGS`` as its own process (one torch thread: two of them share 2 cores)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
