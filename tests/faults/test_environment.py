"""The environment a run meets (issue 28, class 4, first bullet): an ASCII-only output encoding
(PYTHONIOENCODING=ascii, LANG=C on some systems) never fails a command on printing; output falls back to ASCII.

The one place: cli/common.py:ascii_fallback, called for every command by the root callback (cli/main.py), makes
stdout and stderr spell what they cannot encode in ASCII; print_json escapes instead, so JSON stays exact.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

from ._cli import ax


def _adapterx(args: list[str], cwd, **env: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    full = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-c", "from cli.main import main; main()", *args], cwd=cwd, env=full,
                          capture_output=True, timeout=600)


def test_a_finished_run_prints_its_summary_under_an_ascii_encoding(tmp_path):
    res = _adapterx(["train-intermediate", "stsb", "--model", "tiny", "--max-steps", "1", "--batch-size", "4",
                     "--output", str(tmp_path / "run")], tmp_path, PYTHONIOENCODING="ascii")
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    out = res.stdout.decode("ascii")  # every byte is ASCII
    assert "English dev" in out and str(tmp_path / "run") in out
    assert (tmp_path / "run" / "run.json").is_file()


@pytest.mark.parametrize("args", [["tasks"], ["methods"], ["train-intermediate", "stsb", "--help"]])
def test_listings_and_help_print_under_an_ascii_encoding(args, tmp_path):
    res = _adapterx(args, tmp_path, PYTHONIOENCODING="ascii")
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    res.stdout.decode("ascii")


def test_an_error_with_non_ascii_input_is_still_one_line(tmp_path):
    res = _adapterx(["train-intermediate", "stsb\u2026", "--model", "tiny"], tmp_path, PYTHONIOENCODING="ascii")
    err = res.stderr.decode("ascii").strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("error: unknown task"), err
    assert "stsb..." in err  # the ellipsis spelt in ASCII, not a UnicodeEncodeError


def test_json_output_stays_exact_under_an_ascii_encoding():
    """--json escapes what ASCII cannot hold (the fallback's '?' would change the data)."""
    from cli.common import ascii_fallback, print_json

    obj = {"language": "Norsk bokm\u00e5l", "note": "p \u221d size^(1/T)", "lang": "\u4e2d\u6587"}
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    real = sys.stdout
    try:
        sys.stdout = stream
        ascii_fallback()
        print_json(obj)
        stream.flush()
    finally:
        sys.stdout = real
    assert json.loads(raw.getvalue().decode("ascii")) == obj


def test_the_fallback_spells_common_symbols_in_ascii():
    from cli.common import ascii_fallback

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    real = sys.stdout
    try:
        sys.stdout = stream
        ascii_fallback()
        print("p \u221d size^(1/T) \u2264 2 \u2026 \u4e2d", file=stream)
        stream.flush()
    finally:
        sys.stdout = real
    assert raw.getvalue().decode("ascii") == "p ~ size^(1/T) <= 2 ... ?\n"


def test_a_utf8_stream_is_left_alone():
    from cli.common import ascii_fallback

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    real = sys.stdout
    try:
        sys.stdout = stream
        ascii_fallback()
        assert stream.errors == "strict"
    finally:
        sys.stdout = real
    assert ax("tasks").exit_code == 0
