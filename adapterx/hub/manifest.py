"""The sha256 manifest (``manifest.json``) written on push and checked on pull.

Format::

    {"adapterx_manifest": 2, "files": {"adapter_config.json": {"sha256": "...", "size": 123}, ...}}

Format 2 describes a *published* repository: the module's files at its root (as peft and AdapterHub publish, so
``PeftModel.from_pretrained(base, "USER/REPO")`` loads it by id), run.json and metrics.json beside them. Format 1
describes a *run dir* layout (the module under ``module/``): repositories pushed by earlier versions, and every copy
in the pull cache (a pulled format-2 repository is rearranged into a run dir there; see :func:`as_run_dir`).

Every published file is listed except ``README.md`` (the card) and the manifest itself: cards get edited on the Hub
(by people and by the Hub's metadata bot) and are never loaded as code or weights, so checking them would only turn
routine edits into failed pulls.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from adapterx.errors import HubError
from adapterx.hub.ids import CARD_NAME, MANIFEST_NAME, check_file_name
from adapterx.hub.weights import SAFETENSORS_SUFFIX, check_safetensors

FORMAT_VERSION = 2  # what push writes: the published (root) layout
RUN_DIR_FORMAT = 1  # the run-dir layout (module/...): older pushes and the pull cache
FORMATS = (RUN_DIR_FORMAT, FORMAT_VERSION)
_CHUNK = 1 << 20
UNCHECKED = frozenset({CARD_NAME, MANIFEST_NAME})
# Files that sit at the top of a run dir and of a published repository alike; everything else published is the module.
RUN_FILES = frozenset({"run.json", "metrics.json"})
MODULE_DIR = "module"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (full checkpoints are ~1 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def published_name(run_dir_name: str) -> str:
    """Where a run dir's file sits in a published repository: ``module/X`` -> ``X``; run.json, metrics.json stay."""
    prefix = MODULE_DIR + "/"
    return run_dir_name[len(prefix):] if run_dir_name.startswith(prefix) else run_dir_name


def run_dir_name(published: str) -> str:
    """Inverse of :func:`published_name`: a published repository's file in a run dir."""
    return published if published in RUN_FILES else f"{MODULE_DIR}/{published}"


def as_run_dir(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Rearrange the verified repository copy at ``root`` into a run dir (module files under ``module/``) and write
    its run-dir manifest (format 1, same hashes); returns that manifest. A format-1 copy is left as it is."""
    if manifest["adapterx_manifest"] == RUN_DIR_FORMAT:
        return manifest
    files: dict[str, dict[str, Any]] = {}
    module = root / MODULE_DIR
    staged = root / f".{MODULE_DIR}-{os.getpid()}"  # the module's files first go aside: one may be named "module"
    staged.mkdir()
    for name, entry in manifest["files"].items():
        if name in RUN_FILES:
            files[name] = entry
            continue
        target = staged / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(root / name, target)
        files[run_dir_name(name)] = entry
    # Folders the module's files lived in are empty now (only listed files were downloaded).
    for name in sorted(manifest["files"], key=lambda n: -n.count("/")):
        parent = (root / name).parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    os.rename(staged, module)
    out = {"adapterx_manifest": RUN_DIR_FORMAT, "files": dict(sorted(files.items()))}
    write_manifest(root, out)
    return out


def build_manifest(files: dict[str, Path], fmt: int = FORMAT_VERSION) -> dict[str, Any]:
    """Manifest of ``{name in repo: source path}``; names are validated, card and manifest skipped."""
    entries: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        check_file_name(name)
        if name in UNCHECKED:
            continue
        path = files[name]
        entries[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return {"adapterx_manifest": fmt, "files": entries}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical serialization: the same manifest always gives the same bytes (and the same content id)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def manifest_id(manifest: dict[str, Any]) -> str:
    """Content id of a repository version: sha256 of the canonical manifest."""
    return hashlib.sha256(manifest_bytes(manifest)).hexdigest()


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    path = root / MANIFEST_NAME
    path.write_bytes(manifest_bytes(manifest))
    return path


def parse_manifest(raw: bytes | str, source: str) -> dict[str, Any]:
    """Parse and validate a manifest (structure, file names, hex digests, sizes). ``source`` names it in errors."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubError(f"{source} is not valid JSON ({exc}); the repository is damaged: push it again.") from None
    if not isinstance(data, dict) or data.get("adapterx_manifest") not in FORMATS:
        raise HubError(
            f"{source} is not an adapterx manifest (format {' or '.join(map(str, FORMATS))}); push the module with"
            " adapterx, "
            "or update adapterx if it was written by a newer version."
        )
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise HubError(f"{source} lists no files; the repository is damaged: push it again.")
    for name, entry in files.items():
        check_file_name(name)
        if name in UNCHECKED:
            raise HubError(f"{source} lists {name!r}, which is never part of a manifest: push the module again.")
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and len(entry["sha256"]) == 64
            and all(c in "0123456789abcdef" for c in entry["sha256"])
            and isinstance(entry.get("size"), int)
            and not isinstance(entry.get("size"), bool)
            and entry["size"] >= 0
        )
        if not ok:
            raise HubError(f"{source}: entry for {name!r} needs a hex 'sha256' and an integer 'size'; push again.")
    return data


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise HubError(f"{path} is missing: the repository was not published by adapterx push; push it again.")
    return parse_manifest(path.read_bytes(), str(path))


def verify(root: Path, manifest: dict[str, Any], where: str, full: bool = True) -> None:
    """Check every listed file under ``root``: present, a regular file, right size and (``full``) right sha256.

    ``where`` names the source in messages (an id or a folder). Sizes are checked for all files before any hash, so a
    truncated file is reported as such (and quickly) rather than as a changed one.
    """
    files: dict[str, dict[str, Any]] = manifest["files"]
    for name, entry in files.items():
        path = root / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise HubError(f"{where}: {name} is not a regular file (links are refused); push the module again.")
        if not path.is_file():
            raise HubError(f"{where}: {name} is listed in {MANIFEST_NAME} but missing; push the module again.")
        size = path.stat().st_size
        if size != entry["size"]:
            kind = "truncated" if size < entry["size"] else "larger than published"
            raise HubError(
                f"{where}: {name} is {kind} ({size} bytes, manifest says {entry['size']}); "
                "the copy is damaged or was tampered with: pull again or re-push from the original run."
            )
    if not full:
        return
    for name, entry in files.items():
        if sha256_file(root / name) != entry["sha256"]:
            raise HubError(
                f"{where}: {name} does not match its sha256 in {MANIFEST_NAME}; the file was changed or tampered "
                "with: pull again or re-push from the original run."
            )
    # The hashes say the bytes are the published ones; the weights must also load (a module pushed truncated by an
    # older adapterx has matching hashes).
    for name in files:
        if name.endswith(SAFETENSORS_SUFFIX):
            check_safetensors(root / name, f"{where}: {name}")


