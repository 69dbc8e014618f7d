"""adapterx's cache folder, and checksums of what adapterx builds in it.

The root is ``$ADAPTERX_CACHE``, else ``$XDG_CACHE_HOME/adapterx``, else ``~/.cache/adapterx``. It is checked once
per process on first use: a root that is a file, or under a file, or where nothing can be written, is one
:class:`ConfigError` naming the variable that chose it (exit 2), not a traceback from the first model build.

Every entry adapterx builds in it carries a checksum: a folder entry (the built-in tiny model, the extracted minilm)
holds :data:`SUMS`, the sha256 and size of each of its files, written before the folder is renamed into place; a
file entry (a feature-cache ``.npz``) has a ``<file>.sha256`` beside it. :func:`folder_damage` /
:func:`file_intact` say whether an entry is still what was written; the builders rebuild a damaged entry
(truncated weights, a broken tokenizer, a deleted file) instead of loading it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from adapterx.errors import ConfigError
from adapterx.fsio import file_sha256

SUMS = ".adapterx-sha256.json"
"""The checksum record inside a folder entry: ``{"files": {name: {"sha256", "size"}}}``."""

_CHECKED: set[str] = set()


def _root() -> tuple[Path, str]:
    env = os.environ.get("ADAPTERX_CACHE")
    if env:
        return Path(env).expanduser(), "ADAPTERX_CACHE"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "adapterx", "XDG_CACHE_HOME"
    return Path.home() / ".cache" / "adapterx", "HOME"


def cache_dir() -> Path:
    """adapterx's cache root (see the module doc), created and checked to be a writable folder on first use."""
    root, var = _root()
    key = str(root)
    if key not in _CHECKED:
        check_writable(root, var)
        _CHECKED.add(key)
    return root


def check_writable(root: Path, var: str) -> None:
    """One :class:`ConfigError` naming ``var`` where ``root`` is not a folder adapterx can write in."""
    shown = f"{var}={os.environ.get(var, '')}" if var != "HOME" else f"the default cache {root}"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{shown}: {root} is a file, not a folder; point {var} at a folder adapterx may write in")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError(f"{shown}: cannot write in {root} ({why}); point {var} at a writable folder") from None


# --------------------------------------------------------------------------------------------------------------
# folder entries


def seal(folder: Path) -> None:
    """Write ``folder``'s checksum record (every plain file in it, not in subfolders)."""
    files = {p.name: {"sha256": file_sha256(p), "size": p.stat().st_size}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != SUMS}
    (folder / SUMS).write_text(json.dumps({"files": files}, indent=1) + "\n", encoding="utf-8")


def folder_damage(folder: Path) -> str | None:
    """None where ``folder`` holds exactly the files its record lists, unchanged; else what is wrong, in words."""
    record = folder / SUMS
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict):
            raise TypeError
    except FileNotFoundError:
        return f"no checksum record ({SUMS})"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its checksum record {SUMS} is unreadable"
    for name, want in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want.get("size"):
            return f"{name} has {path.stat().st_size} bytes, {want.get('size')} were written"
        if file_sha256(path) != want.get("sha256"):
            return f"{name} has changed since it was written"
    return None


def set_aside(folder: Path) -> None:
    """Remove a damaged folder entry: renamed first (a reader never sees it half deleted), then deleted."""
    aside = folder.with_name(f".{folder.name}.damaged-{os.getpid()}")
    try:
        folder.rename(aside)
    except OSError:
        if folder.exists():  # another process set it aside (and may be rebuilding it) first
            shutil.rmtree(folder, ignore_errors=True)
        return
    shutil.rmtree(aside, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------
# file entries


def sums_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_file_sum(path: Path) -> None:
    """Record ``path``'s checksum beside it (after the entry is in place: an entry without one is never trusted)."""
    tmp = sums_path(path).with_name(f".{sums_path(path).name}.{os.getpid()}.tmp")
    tmp.write_text(file_sha256(path) + "\n", encoding="utf-8")
    os.replace(tmp, sums_path(path))


def file_intact(path: Path) -> bool:
    """Whether ``path`` matches the checksum recorded beside it (False where there is none)."""
    try:
        want = sums_path(path).read_text(encoding="utf-8").strip()
        return bool(want) and file_sha256(path) == want
    except OSError:
        return False


__all__ = ["SUMS", "cache_dir", "check_writable", "file_intact", "file_sha256", "folder_damage", "seal", "set_aside",
           "sums_path", "write_file_sum"]
