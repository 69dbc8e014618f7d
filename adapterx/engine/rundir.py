"""Run directories: written to a temporary sibling and renamed into place at the end, so a failed run leaves no
half-written run directory; read back by eval, stack, fuse, push and report."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from adapterx.engine import distributed
from adapterx.errors import ConfigError, ModelError
from adapterx.fsio import check_output_dir, lock_path, output_lock, write_error

RUN_JSON = "run.json"
METRICS_JSON = "metrics.json"
MODULE_DIR = "module"


def default_output(task: str, method: str, root: Path = Path("runs")) -> Path:
    """``runs/<task>-<method>-<timestamp>``, made unique: a folder of that name (or a run writing it) gets ``-2``,
    ``-3``, ... appended, so two commands in the same second never share a folder."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{task}-{method}-{stamp}"
    out, n = base, 1
    while out.exists() or lock_path(out).exists() or any(out.parent.glob(f".{out.name}.partial-*")):
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


class RunWriter:
    """Reserve ``output`` up front (fail before training if it cannot be written), fill a temporary folder beside it,
    then :meth:`commit` renames it into place. The output folder's lock (:func:`adapterx.fsio.output_lock`) is held
    from here to commit or abort, so a second run with the same ``--output`` is refused at its start, naming this one."""

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        check_output_dir(self.output, "--output", may_exist=False)
        # Folders made here for the output (the default runs/) are removed again by abort() while empty, so a
        # command that fails leaves nothing behind.
        self.made = [d for d in (self.output.parent, *self.output.parent.parents) if not d.exists()]
        self._lock = contextlib.ExitStack()
        try:
            self._lock.enter_context(output_lock(self.output))
            self._reserve()
        except BaseException:
            self._lock.close()
            self._remove_made()
            raise

    def _reserve(self) -> None:
        if self.output.exists():  # made between the check and the lock
            raise ConfigError(f"--output {self.output} already exists: choose another folder or remove it")
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = self.output.parent / f".{self.output.name}.partial-{os.getpid()}"
            _remove_stale(self.output)
            if self.tmp.exists():
                shutil.rmtree(self.tmp)
            self.tmp.mkdir()
        except OSError as exc:
            raise ConfigError(f"--output {self.output}: cannot write there ({exc.strerror}); choose a writable folder") from None

    def path(self, *parts: str) -> Path:
        return self.tmp.joinpath(*parts)

    def write_json(self, name: str, obj: Any) -> None:
        path = self.path(name)
        try:
            path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        except OSError as exc:  # the temporary folder is removed by abort(): nothing partial stays
            raise write_error(self.output / name, exc) from None

    def commit(self) -> Path:
        msg = f"--output {self.output} appeared while this run was training; results left in {self.tmp}"
        try:
            if self.output.exists():
                raise ConfigError(msg)
            try:
                self.tmp.rename(self.output)
            except OSError:  # created between the check and the rename (a process that ignored the lock)
                raise ConfigError(msg) from None
        finally:
            self._lock.close()
        return self.output

    def abort(self) -> None:
        """Remove the unfinished run; keep its tracker logs (``RUN/tracking/``) as ``<output>.failed-tracking/``:
        the loss curve up to a crash is what explains it. A later failure of the same output replaces them."""
        logs = self.tmp / "tracking"
        if logs.is_dir() and any(logs.iterdir()):
            kept = self.output.parent / f"{self.output.name}.failed-tracking"
            try:
                shutil.rmtree(kept, ignore_errors=True)
                logs.rename(kept)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._lock.close()
        self._remove_made()

    def _remove_made(self) -> None:
        for folder in self.made:  # innermost first; one that holds anything (another run) stays
            try:
                folder.rmdir()
            except OSError:
                break


class FollowerWriter:
    """The writer of a data-parallel rank other than 0: it trains but writes nothing (rank 0 writes the run
    directory); :meth:`path` gives a private scratch folder for anything that must still land somewhere."""

    def __init__(self, output: Path) -> None:
        import tempfile

        self.output = Path(output)
        self.tmp = Path(tempfile.mkdtemp(prefix="adapterx-rank-"))

    def path(self, *parts: str) -> Path:
        return self.tmp.joinpath(*parts)

    def write_json(self, name: str, obj: Any) -> None:
        pass

    def commit(self) -> Path:
        return self.output

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def checkpoint_path(output: Path) -> Path:
    """Where a run's resumable training state lives: beside the output, named as partial, removed on success."""
    output = Path(output)
    return output.parent / f"{output.name}.partial-checkpoint" / "checkpoint.pt"


def check_checkpoint(output: Path, resume: bool) -> None:
    """A killed run of ``output`` left its checkpoint: only ``--resume`` may use it, and nothing else replaces it."""
    ckpt = checkpoint_path(output)
    if ckpt.is_file() and not resume:
        raise ConfigError(f"{ckpt.parent} holds the checkpoint of an unfinished run of --output {output}: add --resume"
                          " to continue it, or remove that folder to start over")


def _remove_stale(output: Path) -> None:
    """Remove hidden temporary run folders of ``output`` left by processes that no longer run (killed runs)."""
    for tmp in output.parent.glob(f".{output.name}.partial-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(tmp, ignore_errors=True)
            except PermissionError:  # alive, someone else's
                pass


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def module_folder(ref: Path) -> Path:
    """The module folder of a run dir (``RUN/module``), or ``ref`` itself when it is a module folder."""
    ref = Path(ref)
    if (ref / MODULE_DIR).is_dir():
        return ref / MODULE_DIR
    return ref


def read_run(ref: Path) -> dict[str, Any]:
    """run.json of a run dir (empty dict for a bare module folder)."""
    ref = Path(ref)
    for cand in (ref / RUN_JSON, ref.parent / RUN_JSON):
        if cand.is_file():
            try:
                return json.loads(cand.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ModelError(f"{cand}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return {}


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json of a run dir (empty dict where there is none)."""
    path = Path(run_dir) / METRICS_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def tree_sha256(folder: Path) -> str:
    """sha256 over every file below ``folder`` (names and contents, sorted): identifies a module in a chain."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + b"\0")
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def reserve_output(output: Path):  # noqa: ANN201 - RunWriter | FollowerWriter
    """The run's writer, agreed by every data-parallel rank: they take rank 0's folder name (a default one carries a
    timestamp), rank 0 reserves it (failing before anything trains if it cannot), the others get a follower."""
    output = Path(distributed.broadcast_object(str(output)))
    try:
        writer = RunWriter(output) if distributed.is_main() else FollowerWriter(output)
    except ConfigError as exc:  # only rank 0 checks the folder: every rank must leave with its error
        distributed.settle(exc)
        raise
    distributed.settle()
    return writer
