"""Turn any module id into a verified local folder: :func:`resolve_module` (used by every command that takes a
module) and :func:`pull` (``adapterx pull``).

Cache layout (root ``$ADAPTERX_CACHE/hub``, else ``$XDG_CACHE_HOME/adapterx/hub``, else ``~/.cache/adapterx/hub``)::

    folder/<hub-name>-<hash of hub path>/<REPO>/<manifest id[:16]>/   a folder-hub repository, one folder per version
    hf/<USER>/<REPO>/<commit>/                                       an HF repository at a commit (huggingface.co)
    hf/<USER>/<REPO>/refs/<revision>                                 the commit a branch/tag pointed to when pulled
    hf-mirror/<host>-<hash of endpoint>/<USER>/<REPO>/...            the same for another endpoint (a mirror): two
                                                                     servers may hold different repos under one name
    .tmp/<random>/                                                   downloads in flight

Cached folders are immutable once in place: a download goes into ``.tmp`` (same filesystem), is verified against its
manifest (sha256, then the safetensors headers), rearranged into a run dir (manifest.as_run_dir: a published
repository holds the module at its root) and only then renamed into place, so a failed or interrupted pull leaves
nothing that looks complete. A copy pulled from a mirror also holds ``source.json`` (id, commit, endpoint; not part
of the manifest). With ``HF_HUB_OFFLINE=1`` an ``hf:`` id is served from the cache alone (fully re-verified).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapterx.engine.rundir import read_run
from adapterx.errors import HubError
from adapterx.fsio import atomic_write_text
from adapterx.hub.ids import (
    CARD_NAME,
    MANIFEST_NAME,
    FolderRef,
    HfRef,
    PickleRefused,
    check_file_policy,
    is_folder_hub,
    is_hf_id,
    parse_folder_ref,
    parse_hf,
    revision_key,
    slug,
)
from adapterx.fsio import fsync_dir
from adapterx.hub.manifest import as_run_dir, manifest_id, read_manifest, verify, write_manifest
from adapterx.hub import hf
from adapterx.hub.folder import FolderHub

_COMMIT = re.compile(r"[0-9a-f]{40}")
# Where a copy pulled from a mirror came from (not part of the manifest: written by this machine, not published).
SOURCE_NAME = "source.json"


def cache_root() -> Path:
    """The hub cache; the same root as adapterx's other caches (``adapterx.paths.cache_dir``) plus ``hub``."""
    env = os.environ.get("ADAPTERX_CACHE")
    if env:
        return Path(env).expanduser() / "hub"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "adapterx" / "hub"


def _new_tmp() -> Path:
    tmp = cache_root() / ".tmp" / uuid.uuid4().hex
    tmp.mkdir(parents=True)
    return tmp


def _install(tmp: Path, dest: Path) -> Path:
    """Rename the verified ``tmp`` to ``dest``; if a concurrent pull got there first, keep theirs."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, dest)
    except OSError:
        if not dest.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(dest.parent)
    return dest


def _cached_ok(path: Path, where: str) -> bool:
    """A cached copy is used if its manifest parses and every file has its size (cheap: no hashing).

    Copies were fully verified when pulled; this catches truncation and deletions since. A damaged copy is removed
    so that the caller fetches it again.
    """
    if not path.is_dir():
        return False
    try:
        verify(path, read_manifest(path), where, full=False)
        return True
    except HubError:
        shutil.rmtree(path, ignore_errors=True)
        return False


def _hub_key(hub: Path) -> str:
    absolute = str(hub.expanduser().resolve())
    return f"{slug(hub.resolve().name) or 'hub'}-{hashlib.sha256(absolute.encode()).hexdigest()[:12]}"


def _copy_from_folder(ref: FolderRef, manifest: dict[str, Any], tmp: Path) -> None:
    """Copy the listed files (and the card) of a folder-hub repository into ``tmp``, refusing links out of it."""
    src_root = ref.path.resolve()
    for name in [*manifest["files"], CARD_NAME]:
        src = ref.path / name
        if name == CARD_NAME and not src.is_file():
            continue
        if src.is_symlink() or not src.resolve().is_relative_to(src_root):
            raise HubError(f"{ref}: {name} is a link or leads outside the repository; refused. Push the module again.")
        if not src.is_file():
            raise HubError(f"{ref}: {name} is listed in {MANIFEST_NAME} but missing; push the module again.")
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    write_manifest(tmp, manifest)


def _pull_folder(ref: FolderRef, trust_pickle: bool, refresh: bool) -> Path:
    repo = FolderHub(ref.hub).repo_dir(ref.name)
    manifest = read_manifest(repo)  # validates every file name before anything is copied
    check_file_policy(list(manifest["files"]), trust_pickle, str(ref))
    dest = cache_root() / "folder" / _hub_key(ref.hub) / ref.name / manifest_id(manifest)[:16]
    if dest.is_dir() and not refresh and _cached_ok(dest, str(ref)):
        return dest
    if dest.is_dir():
        # Re-check a present copy fully; repair it from the hub if it is damaged.
        try:
            verify(dest, read_manifest(dest), str(dest))
            return dest
        except HubError:
            shutil.rmtree(dest, ignore_errors=True)
    tmp = _new_tmp()
    try:
        _copy_from_folder(ref, manifest, tmp)
        verify(tmp, manifest, str(ref))
        as_run_dir(tmp, manifest)
        return _install(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful rename


def hf_cache_dir(ref: HfRef, endpoint: str) -> Path:
    """The cache folder of ``ref`` as served by ``endpoint`` (the Hub's keeps the layout of earlier versions)."""
    if hf.is_default_endpoint(endpoint):
        return cache_root() / "hf" / ref.user / ref.repo
    host = slug(urlsplit(endpoint).netloc.replace(":", "-")) or "mirror"
    key = f"{host}-{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}"
    return cache_root() / "hf-mirror" / key / ref.user / ref.repo


def _pull_hf(ref: HfRef, trust_pickle: bool, endpoint: str | None = None) -> Path:
    url = hf.endpoint_of(endpoint)
    if hf.offline():
        cached = _cached_hf(ref, url, full=True)
        if cached is None:
            server = "" if hf.is_default_endpoint(url) else f" from {url}"
            raise HubError(f"cannot pull {ref}: HF_HUB_OFFLINE is set and no copy of it{server} is in the cache "
                           f"({cache_root()}). Unset HF_HUB_OFFLINE to download it, or give a commit pulled before.")
        check_file_policy(list(read_manifest(cached)["files"]), trust_pickle, str(ref))
        return cached
    commit = hf.resolve_commit(ref, url)
    if not _COMMIT.fullmatch(commit):
        raise HubError(f"{ref}: the Hub returned an unexpected commit id {commit[:50]!r}; retry.")
    dest = hf_cache_dir(ref, url) / commit
    if dest.is_dir():
        try:
            manifest = read_manifest(dest)
            check_file_policy(list(manifest["files"]), trust_pickle, str(ref))
            verify(dest, manifest, str(dest))
        except HubError:
            shutil.rmtree(dest, ignore_errors=True)
    if not dest.is_dir():
        tmp = _new_tmp()
        try:
            manifest = hf.download(ref, commit, tmp, trust_pickle=trust_pickle, endpoint=url)
            verify(tmp, manifest, str(ref))
            as_run_dir(tmp, manifest)
            if not hf.is_default_endpoint(url):
                source = {"id": f"hf:{ref.repo_id}", "revision": ref.revision, "commit": commit, "endpoint": url}
                (tmp / SOURCE_NAME).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
            _install(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _write_ref(ref, commit, url)
    return dest


def _write_ref(ref: HfRef, commit: str, endpoint: str) -> None:
    refs = hf_cache_dir(ref, endpoint) / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    atomic_write_text(refs / revision_key(ref.revision or "main"), commit + "\n")


def _cached_hf(ref: HfRef, endpoint: str, full: bool = False) -> Path | None:
    """The cached copy for ``ref`` without network: a commit id directly, a branch/tag through refs/. ``full``
    re-hashes it (offline pulls: the copy is all there is to trust), else sizes only."""
    rev = ref.revision or "main"
    if _COMMIT.fullmatch(rev):
        commit = rev
    else:
        pointer = hf_cache_dir(ref, endpoint) / "refs" / revision_key(rev)
        if not pointer.is_file():
            return None
        commit = pointer.read_text(encoding="utf-8").strip()
        if not _COMMIT.fullmatch(commit):
            return None
    path = hf_cache_dir(ref, endpoint) / commit
    if full and path.is_dir():
        verify(path, read_manifest(path), str(path))  # a damaged copy is named, not silently replaced: offline
        return path
    return path if _cached_ok(path, str(ref)) else None


def pull(ref: str, trust_pickle: bool = False, endpoint: str | None = None) -> Path:
    """Fetch ``ref`` (``hf:USER/REPO[@REV]`` or ``HUB_PATH/REPO``) into the cache, verified; returns the folder.

    Always asks the source for its current version (an HF branch may have moved); files already cached for that
    version are re-verified rather than downloaded again. ``endpoint`` (default ``$HF_ENDPOINT``, else the Hub)
    names the server of an ``hf:`` id; with ``HF_HUB_OFFLINE=1`` the cached copy is used.
    """
    if is_hf_id(ref):
        return _pull_hf(parse_hf(ref), trust_pickle, endpoint)
    if endpoint:
        raise HubError(f"--endpoint applies to hf: ids only; {ref!r} is a folder hub path.")
    folder = parse_folder_ref(ref)
    if folder is None:
        raise HubError(
            f"{ref!r} is not a hub id: write hf:USER/REPO[@REV] or HUB_PATH/REPO (a folder holding {MANIFEST_NAME} "
            "inside a folder hub)."
        )
    return _pull_folder(folder, trust_pickle, refresh=True)


def check_local_module(path: Path, trust_pickle: bool = False) -> Path:
    """Safety checks on a local run dir or native adapters/peft folder; returns its absolute path.

    Pickle weights are refused unless ``trust_pickle``; a folder that carries a manifest (e.g. a pulled copy moved
    elsewhere) is verified against it.
    """
    if not path.is_dir():
        raise HubError(f"{path} is not a folder: expected a run dir, an adapters/peft folder or a hub id.")
    names = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(path)
        names += [(rel / f).as_posix() for f in filenames if not f.startswith(".")]
    check_file_policy_local(names, trust_pickle, str(path))
    if (path / MANIFEST_NAME).is_file():
        verify(path, read_manifest(path), str(path))
    return path.resolve()


def check_file_policy_local(names: list[str], trust_pickle: bool, where: str) -> None:
    """Local folders are the user's own: only pickle is refused (code files are never run, so they may stay)."""
    check_file_policy([n for n in names if not n.lower().endswith((".py", ".pyc", ".sh"))], trust_pickle, where)


def resolve_module(ref: str, trust_pickle: bool = False) -> Path:
    """A local folder holding the module ``ref`` names, ready to load (weights verified, no pickle unless trusted).

    - a local run dir or native adapters/peft folder -> itself (absolute), after safety checks;
    - ``HUB_PATH/REPO`` (a repository of a folder hub) -> its verified copy in the cache, copied on first use and
      again whenever the repository changes;
    - ``hf:USER/REPO[@REV]`` -> its cached copy if one was pulled for that revision (no network), else a verified
      ``snapshot_download`` into the cache. Run ``adapterx pull`` to move a cached branch to its newest commit.

    Raises :class:`HubError` with a one-line message naming the file and the fix.
    """
    ref = str(ref)
    if is_hf_id(ref):
        parsed = parse_hf(ref)
        cached = _cached_hf(parsed, hf.endpoint_of())
        if cached is not None:
            manifest = read_manifest(cached)
            check_file_policy(list(manifest["files"]), trust_pickle, ref)
            return cached
        return _pull_hf(parsed, trust_pickle)
    path = Path(ref).expanduser()
    folder = parse_folder_ref(path)
    if folder is not None and path.is_dir() and (path / MANIFEST_NAME).is_file():
        return _pull_folder(folder, trust_pickle, refresh=False)
    if path.is_dir():
        return check_local_module(path, trust_pickle)
    if folder is not None or is_folder_hub(path.parent):
        FolderHub(path.parent).repo_dir(path.name)  # raises with the list of known repositories
    raise HubError(
        f"no module at {ref!r}: expected a run dir, an adapters/peft folder, HUB_PATH/REPO of a folder hub or "
        "hf:USER/REPO[@REV]."
    )


def hub_source(module_folder: Path) -> dict[str, Any]:
    """``{"source": {id, revision, commit, endpoint}}`` for a module pulled from a mirror (its cached copy's
    source.json, beside ``module/``), else ``{}``: a run that used it records which server it came from."""
    for folder in (module_folder, module_folder.parent):
        path = folder / SOURCE_NAME
        if path.is_file() and cache_root().resolve() in path.resolve().parents:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            return {"source": data} if isinstance(data, dict) else {}
    return {}


def resolve_module_ref(ref: str) -> tuple[Path | None, dict[str, Any]]:
    """``none`` -> (None, {}); otherwise a local path (run dir or module folder) or a hub id, via the hub resolver."""
    if ref == "none":
        return None, {}
    # Local folders too: resolve_module refuses pickle weights and checks a manifest where there is one.
    try:
        path = Path(resolve_module(ref))
    except PickleRefused as exc:  # the commands that load modules have no --trust-pickle: they load safetensors only
        raise HubError(f"{exc.where} contains pickle file {exc.file!r}: adapterx loads module weights from safetensors"
                       " only (loading pickle can run arbitrary code). Re-save the module as safetensors"
                       " (save_adapter(..., use_safetensors=True) / save_pretrained(..., safe_serialization=True))"
                       ) from None
    return path, read_run(path)
