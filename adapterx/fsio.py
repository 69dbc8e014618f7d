"""Every file adapterx writes goes through here: atomic writes, atomic folder commits, output-path checks, and the
lock that keeps two runs out of one output folder.

Why one module: a write that fails (disk full, a path under a regular file, a read-only place) must end in one line
that names the path and the errno, with nothing partial left behind, and a reader must never see half a file. Each
helper writes to a hidden temporary sibling (same folder, so the rename is atomic on POSIX and Windows), flushes,
renames it into place, and removes the temporary on any failure.

The lock is :mod:`filelock` (a native ``flock`` / ``LockFileEx`` lock: released by the OS when its holder dies, even
by SIGKILL). The lock file holds one line naming the holder, so a refused second writer can say who holds it; it is
removed when the holder releases it, so it is never a leftover.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from adapterx.errors import ConfigError, WriteError

LOCK_SUFFIX = ".lock"


def _why(exc: OSError) -> str:
    code = _errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{exc.strerror or exc} [{code}]"


def write_error(path: Path | str, exc: OSError) -> WriteError:
    """The one-line error for an OSError while writing ``path``: names the path and the errno."""
    return WriteError(f"{path}: cannot write ({_why(exc)}); nothing was written there: free space or choose "
                      "a writable place")


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (weights and data files run to GBs)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the OS supports it; best effort elsewhere."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` for a writer that wants a file name (``torch.save``, ``savefig``,
    ``gzip.open``); it is renamed over ``path`` when the block ends without error and removed otherwise. An
    OSError anywhere in the block becomes :class:`WriteError` naming ``path``."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a rename would replace a device node (/dev/full) or a folder
        raise WriteError(f"{path} is not a regular file (a folder or a device): name a file in a writable folder")
    tmp = _tmp_sibling(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if fsync:
            fsync_dir(path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                fsync: bool = False) -> Iterator[IO[Any]]:
    """``open(path, mode)`` on a temporary sibling, renamed into place when the block ends without error."""
    binary = "b" in mode
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding) as fh:
            yield fh


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 1, fsync: bool = False,
                      **dumps: Any) -> Path:
    """``json.dumps(obj)`` plus a newline, written atomically (``ensure_ascii=False`` unless given)."""
    dumps.setdefault("ensure_ascii", False)
    return atomic_write_text(path, json.dumps(obj, indent=indent, **dumps) + "\n", fsync=fsync)


@contextlib.contextmanager
def atomic_folder(dest: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary sibling folder of ``dest``; renamed to ``dest`` when the block ends without error,
    removed otherwise. With ``replace`` an existing ``dest`` is swapped out (and removed after the swap); without,
    an existing ``dest`` raises :class:`WriteError`."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        yield tmp
        if dest.exists():
            if not replace:
                raise WriteError(f"{dest} appeared while it was being written (another process?): remove it or "
                                 "choose another place")
            trash = dest.with_name(f".{dest.name}.{os.getpid()}.old")
            os.rename(dest, trash)
            os.rename(tmp, dest)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise write_error(dest, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# output paths, checked before the work


def _first_existing(path: Path) -> Path:
    for cand in (path, *path.parents):
        if cand.exists() or cand.is_symlink():
            return cand
    return Path(".")


def _writable_folder(folder: Path, shown: Path, what: str) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{what} {shown}: cannot write there ({folder} is a file, not a folder); choose a writable "
                          "folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {shown}: cannot write there ({folder} is not writable); choose a writable folder")


def check_output_dir(path: str | Path, what: str = "--output", *, may_exist: bool = True) -> Path:
    """Check, before any work, that ``path`` can become (or already is) a folder adapterx writes into: it is a
    folder, or its nearest existing ancestor is a writable folder. Creates nothing. ``what`` names the option."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{what} {path} is a file, not a folder: choose a folder")
        if not may_exist:
            raise ConfigError(f"{what} {path} already exists: choose another folder or remove it")
        _writable_folder(path, path, what)
        return path
    _writable_folder(_first_existing(path.parent), path, what)
    return path


def check_output_file(path: str | Path, what: str = "--out") -> Path:
    """Check, before any work, that the file ``path`` can be written: not a folder, and its nearest existing
    ancestor is a writable folder. A device (``/dev/full``, ``/dev/null``) is refused: it cannot take a rename."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder: name a file")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{what} {path} is not a regular file (a device?): name a file in a writable folder")
    _writable_folder(_first_existing(path.parent), path, what)
    return path


# ---------------------------------------------------------------------------------------------------------------
# the output-folder lock


def lock_path(folder: str | Path) -> Path:
    """The lock file of output ``folder``: a hidden sibling (the folder itself may not exist yet)."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def exclusive_lock(path: str | Path, *, timeout: float = 0.0) -> Iterator[str | None]:
    """Try to hold the lock file ``path`` (waiting up to ``timeout`` seconds) for the block. Yields None when held,
    or, when another process holds it, that holder's line (``pid N on HOST``) and the block runs unlocked: the
    caller decides (refuse, skip). A filesystem without locks runs unlocked too (yields None). The lock file
    names its holder while held and is removed on release."""
    from filelock import FileLock, Timeout

    path = Path(path)
    holder = f"pid {os.getpid()} on {socket.gethostname()}"

    def _stamp(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.write(fd, (holder + "\n").encode("utf-8"))

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path.parent, exc) from None
    lock = FileLock(str(path), timeout=timeout, on_acquired=_stamp, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        try:
            other = path.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            other = "another process"
        yield other
        return
    except OSError as exc:
        if exc.errno in (_errno.ENOLCK, _errno.ENOTSUP, _errno.EOPNOTSUPP):  # some NFS mounts: run unlocked
            yield None
            return
        raise write_error(path, exc) from None
    try:
        yield None
    finally:
        # Unlink while still holding it: a process that opens the path afterwards creates a fresh lock file.
        with contextlib.suppress(OSError):
            path.unlink()
        lock.release()


@contextlib.contextmanager
def output_lock(folder: str | Path, what: str = "--output") -> Iterator[None]:
    """Hold the lock of output ``folder`` for the block. A second writer is refused at once with one line naming
    the first (pid and host). The lock file (a hidden sibling) is removed on release."""
    path = lock_path(Path(folder))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: cannot write there ({_why(exc)}); choose a writable folder") from None
    with exclusive_lock(path) as other:
        if other is not None:
            raise ConfigError(f"{what} {folder} is being written by {other} (lock {path}): wait for it to finish or "
                              "choose another folder")
        yield


__all__ = ["LOCK_SUFFIX", "atomic_folder", "atomic_open", "atomic_path", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "check_output_dir", "check_output_file", "exclusive_lock", "lock_path", "output_lock", "write_error"]
