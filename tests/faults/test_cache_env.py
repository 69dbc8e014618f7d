"""The environment a run meets: a cache folder that cannot be one (issue 28, class 4, second bullet).

One mechanism: :func:`adapterx.cachedir.cache_dir` checks the cache root on first use (a folder adapterx can write a
file in) and names the variable that chose it. Tests run as root, so "unwritable" is a path under a regular file or a
device, never a permission bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import ax, one_line_error


def _places(tmp_path: Path) -> dict[str, str]:
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    return {
        "a regular file": str(afile),
        "under a regular file": str(afile / "cache"),
        "deeper under a regular file": str(afile / "a" / "b"),
        "a device": "/dev/full",
        "under a device": "/dev/null/cache",
    }


@pytest.mark.parametrize("where", ["a regular file", "under a regular file", "deeper under a regular file", "a device",
                                   "under a device"])
def test_adapterx_cache_that_is_no_folder(where, tmp_path, monkeypatch):
    place = _places(tmp_path)[where]
    monkeypatch.setenv("ADAPTERX_CACHE", place)
    out = tmp_path / "run"
    res = ax("train-target", "xnli", "--model", "tiny", "--max-steps", "1", "--output", out)
    one_line_error(res, f"ADAPTERX_CACHE={place}")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert (tmp_path / "afile").read_text() == "keep me\n"


def test_xdg_cache_home_that_is_a_file_is_named(tmp_path, monkeypatch):
    """Without ADAPTERX_CACHE the root comes from XDG_CACHE_HOME: the message names that variable."""
    place = _places(tmp_path)["a regular file"]
    monkeypatch.delenv("ADAPTERX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", place)
    one_line_error(ax("eval", "xnli", "--module", "none", "--model", "tiny", "--langs", "en", "--max-examples", "4"),
                   f"XDG_CACHE_HOME={place}", "cannot write in")


def test_a_writable_cache_that_does_not_exist_yet_is_created(tmp_path, monkeypatch):
    from adapterx.cachedir import cache_dir

    monkeypatch.setenv("ADAPTERX_CACHE", str(tmp_path / "new" / "cache"))
    assert cache_dir() == tmp_path / "new" / "cache" and cache_dir().is_dir()
    assert list(cache_dir().iterdir()) == []  # the write probe is gone
