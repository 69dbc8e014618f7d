"""Repositories and folder hubs.

A *repository* (on the HF Hub or in a folder hub) holds the module's files at its root, as peft and AdapterHub
publish them, so the plain libraries load it by its id (``PeftModel.from_pretrained(base, "USER/REPO")``, adapters'
``load_adapter("USER/REPO", source="hf")``)::

    README.md        the model card (card.py); it replaces the module's own README (peft writes one)
    manifest.json    sha256 and size of every other file (manifest.py, format 2)
    run.json         provenance, as written by training
    metrics.json     dev metrics, loss curve, zero-shot eval
    ...              the run dir's module/ folder, in its library's native format (safetensors)

A pulled copy in the cache is a run dir again (module files under ``module/``; manifest.as_run_dir). Repositories
pushed by earlier versions hold ``module/...`` themselves (manifest format 1) and are pulled as they are.

A *folder hub* is a directory holding one such folder per repository plus ``index.json`` (one entry per repository,
for ``hub ls`` / ``hub search``). Pushes copy into a staging folder inside the hub (same filesystem), then, under the
hub's lock file, swap it into place with renames and rewrite the index atomically (temp file + ``os.replace``), so
readers never see a half-written index and concurrent pushes never lose each other's entries.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from adapterx.errors import HubError
from adapterx.fsio import atomic_write_json, exclusive_lock, fsync_dir
from adapterx.hub import card as _card
from adapterx.hub.ids import (
    CARD_NAME,
    INDEX_NAME,
    MANIFEST_NAME,
    check_file_name,
    check_file_policy,
    check_repo_name,
)
from adapterx.hub.manifest import (
    RUN_FILES,
    build_manifest,
    manifest_id,
    published_name,
    read_manifest,
    write_manifest,
)
from adapterx.hub.weights import SAFETENSORS_SUFFIX, check_safetensors

INDEX_FORMAT = 1
LOCK_NAME = ".lock"
LOCK_TIMEOUT_S = 120.0
# Looks like a Hugging Face access token; such a string in a file to publish is refused (tokens never leave disk).
_TOKEN_RE = re.compile(rb"hf_[A-Za-z0-9]{30,}")
_TEXT_SUFFIXES = (".json", ".txt", ".md", ".yaml", ".yml", ".cfg", ".ini", ".jsonl")


@dataclass
class PushPlan:
    """Everything a push will publish, computed without writing anything (``--dry-run`` prints it)."""

    run_dir: Path
    name: str
    target: str  # the id it is published under: "hf:USER/REPO[@REV]" or "HUB/REPO"
    files: dict[str, Path]  # name in the run dir (module/...) -> source file (README.md / manifest.json are generated)
    card: str
    run: dict[str, Any]
    metrics: dict[str, Any] | None
    _manifest: dict[str, Any] | None = field(default=None, repr=False)

    def published(self) -> dict[str, Path]:
        """The files by their name in the published repository (the module's at its root); the module's own README
        gives way to the card."""
        out = {published_name(n): p for n, p in self.files.items()}
        out.pop(CARD_NAME, None)
        return out

    def manifest(self) -> dict[str, Any]:
        """The manifest of the sources (hashes every file once; a real push hashes the staged copies instead)."""
        if self._manifest is None:
            self._manifest = build_manifest(self.published())
        return self._manifest

    def listing(self) -> list[dict[str, Any]]:
        """Every file the repository will hold, with size and sha256 (``None`` for the generated card)."""
        files = self.manifest()["files"]
        rows = [{"file": n, "size": e["size"], "sha256": e["sha256"]} for n, e in files.items()]
        rows.append({"file": CARD_NAME, "size": len(self.card.encode("utf-8")), "sha256": None})
        rows.append({"file": MANIFEST_NAME, "size": None, "sha256": None})
        return sorted(rows, key=lambda r: r["file"])


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HubError(f"{path} is not readable JSON ({exc}); it should be the {what} written by training.") from None


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """run.json (required) and metrics.json (optional) of a run dir, with messages that name the file."""
    if not run_dir.is_dir():
        raise HubError(f"{run_dir} is not a folder: push takes a run dir (run.json, metrics.json, module/).")
    run_path = run_dir / "run.json"
    if not run_path.is_file():
        raise HubError(f"{run_path} is missing: push takes a run dir written by an adapterx training command.")
    run = _read_json(run_path, "run provenance")
    if not isinstance(run, dict):
        raise HubError(f"{run_path} must hold a JSON object (see docs/internals.md).")
    metrics_path = run_dir / "metrics.json"
    metrics = _read_json(metrics_path, "metrics file") if metrics_path.is_file() else None
    if metrics is not None and not isinstance(metrics, dict):
        raise HubError(f"{metrics_path} must hold a JSON object (see docs/internals.md).")
    return run, metrics


def collect_files(run_dir: Path) -> dict[str, Path]:
    """run.json, metrics.json and every file under module/, by name in the repository.

    Hidden files (``.DS_Store``, ``.ipynb_checkpoints``) are left out; links are refused because they could publish
    a file from outside the run dir.
    """
    files: dict[str, Path] = {"run.json": run_dir / "run.json"}
    if (run_dir / "metrics.json").is_file():
        files["metrics.json"] = run_dir / "metrics.json"
    module = run_dir / "module"
    if not module.is_dir() or module.is_symlink():
        raise HubError(f"{module} is missing: the run dir holds no trained module to publish.")
    for dirpath, dirnames, filenames in os.walk(module):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if fname.startswith("."):
                continue
            path = Path(dirpath) / fname
            rel = path.relative_to(run_dir).as_posix()
            if path.is_symlink():
                raise HubError(f"{path} is a symbolic link: copy the real file into the run dir before pushing.")
            try:
                check_file_name(rel)
            except HubError as exc:
                raise HubError(f"{exc} Rename {path} before pushing.") from None
            files[rel] = path
    for dirpath, dirnames, _ in os.walk(module):
        for d in dirnames:
            if (Path(dirpath) / d).is_symlink():
                raise HubError(f"{Path(dirpath) / d} is a symbolic link: copy the real folder before pushing.")
    if len([n for n in files if n.startswith("module/")]) == 0:
        raise HubError(f"{module} is empty: the run dir holds no trained module to publish.")
    for reserved in (*RUN_FILES, MANIFEST_NAME):
        if f"module/{reserved}" in files:  # the module's files sit beside these in the published repository
            raise HubError(f"{module / reserved} would take the place of the repository's own {reserved}: rename it"
                           " before pushing.")
    return files


def check_weights(files: dict[str, Path]) -> None:
    """Every safetensors file to publish loads: header and tensor sizes (weights.check_safetensors)."""
    for name, path in files.items():
        if name.endswith(SAFETENSORS_SUFFIX):
            check_safetensors(path, str(path))


def scan_for_tokens(files: dict[str, Path]) -> None:
    """Refuse to publish a text file that contains an access token (a Hub token pattern or $HF_TOKEN's value)."""
    env = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
    secrets = [os.environ[k].encode() for k in env if len(os.environ.get(k, "")) >= 8]
    for name, path in files.items():
        if not name.lower().endswith(_TEXT_SUFFIXES) or path.stat().st_size > 50 << 20:
            continue
        data = path.read_bytes()
        if _TOKEN_RE.search(data) or any(s in data for s in secrets):
            raise HubError(
                f"{path} contains what looks like a Hugging Face access token: remove it before pushing "
                "(tokens are never published)."
            )


LOCAL = "<local>"


def _is_abs(path: str) -> bool:
    return path.startswith("/") or bool(re.match(r"^[A-Za-z]:[\\/]", path))


def _redact_one(s: str) -> str:
    for prefix in ("", "file:", "dir:"):  # the data provenance forms of adapterx.data.sources
        rest = s[len(prefix):]
        if s.startswith(prefix) and _is_abs(rest):
            return f"{prefix}{LOCAL}/{PurePath(rest.replace(chr(92), '/')).name}"
    return s


def redact_local_paths(obj: Any) -> Any:
    """A run record as published: every absolute local path (a data file, the tiny model's cache folder, the run
    dirs of a composition's modules) becomes ``<local>/NAME``. Such paths mean nothing on another machine and show
    the author's disk layout; the sha256 fields beside them still identify each module of a chain."""
    if isinstance(obj, dict):
        return {k: redact_local_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_local_paths(v) for v in obj]
    if isinstance(obj, str):
        # Several data sources joined, "file:/a/x.tsv+file:/a/y.tsv" (adapterx.data.sources); a plain path may hold
        # a "+" of its own ("/opt/c++/model"), so only provenance forms are split.
        parts = obj.split("+")
        if len(parts) > 1 and all(p.startswith(("file:", "dir:", "hf:", "synthetic")) for p in parts):
            return "+".join(_redact_one(p) for p in parts)
        return _redact_one(obj)
    return obj


def _publish_as(files: dict[str, Path], scratch: Path, name: str, text: str) -> None:
    """Publish ``text`` as file ``name``: a copy in this push's scratch folder, so the manifest, the dry-run listing
    and the upload all describe the published bytes."""
    dest = scratch / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    files[name] = dest


def _published_json(files: dict[str, Path], scratch: Path, run: dict[str, Any],
                    metrics: dict[str, Any] | None) -> None:
    """run.json / metrics.json as published: the redacted records."""
    for name, obj in (("run.json", run), ("metrics.json", metrics)):
        if name in files and obj is not None:
            _publish_as(files, scratch, name, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _public_backbone(run: dict[str, Any]) -> str:
    """How the backbone is named in published files: its Hub id, or ``<local>/NAME`` for a local model."""
    bb = run.get("backbone") if isinstance(run.get("backbone"), dict) else {}
    ident = str(bb.get("id") or "")
    if _card.hub_id_or_none(ident):
        return ident
    return f"{LOCAL}/{PurePath(str(bb.get('path') or ident or 'model').replace(chr(92), '/')).name}"


def _published_module_files(files: dict[str, Path], scratch: Path, backbone_path: str | None,
                            public_base: str) -> None:
    """The libraries write the local folder the model was loaded from into the module's own files (peft's
    ``base_model_name_or_path`` and README front matter, adapters' ``model_name``): published copies name the
    backbone by its Hub id instead, and any other absolute path as ``<local>/NAME``. Loading never reads these
    fields (the user passes the base model), so the weights load as before."""
    for name, path in list(files.items()):
        if not name.startswith("module/") or not name.endswith((".json", ".md")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if name.endswith(".json"):
            try:
                data = json.loads(text)
            except ValueError:
                continue
            swapped = _swap_paths(data, backbone_path, public_base)
            if swapped != data:
                _publish_as(files, scratch, name, json.dumps(swapped, indent=2, ensure_ascii=False) + "\n")
        elif backbone_path and backbone_path in text:
            _publish_as(files, scratch, name, text.replace(backbone_path, public_base))


def _swap_paths(obj: Any, backbone_path: str | None, public_base: str) -> Any:
    if isinstance(obj, dict):
        return {k: _swap_paths(v, backbone_path, public_base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap_paths(v, backbone_path, public_base) for v in obj]
    if isinstance(obj, str) and backbone_path and obj.rstrip("/") == backbone_path.rstrip("/"):
        return public_base
    return redact_local_paths(obj) if isinstance(obj, str) else obj


def plan_push(
    run_dir: Path,
    target: str,
    name: str,
    trust_pickle: bool = False,
    hf_repo_id: str | None = None,
) -> PushPlan:
    """Collect, check and describe what a push of ``run_dir`` publishes as repository ``name`` under ``target``."""
    run_dir = Path(run_dir)
    run, metrics = read_run(run_dir)
    backbone_path = (run.get("backbone") or {}).get("path") if isinstance(run.get("backbone"), dict) else None
    public_base = _public_backbone(run)
    run, metrics = redact_local_paths(run), redact_local_paths(metrics)
    check_repo_name(name)
    files = collect_files(run_dir)
    scratch = Path(tempfile.mkdtemp(prefix="adapterx-publish-"))  # this push's published copies, removed at exit
    atexit.register(shutil.rmtree, scratch, True)
    _published_json(files, scratch, run, metrics)
    _published_module_files(files, scratch, backbone_path, public_base)
    check_file_policy(list(files), trust_pickle, str(run_dir))
    check_weights(files)
    scan_for_tokens(files)
    card = _card.render_card(run, metrics, files, ref=target, hf_repo_id=hf_repo_id)
    return PushPlan(run_dir=run_dir, name=name, target=target, files=files, card=card, run=run, metrics=metrics)


def stage_repo(plan: PushPlan, dest: Path) -> dict[str, Any]:
    """Write the repository into the new folder ``dest``: copies, card, then the manifest of the copies.

    Hashing the copies (not the sources) makes the manifest describe exactly the bytes that are published.
    """
    dest.mkdir(parents=True)
    published = plan.published()
    for name, src in published.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)  # contents only: no permissions, no links
    (dest / CARD_NAME).write_text(plan.card, encoding="utf-8")
    copied = {name: dest / name for name in published}
    manifest = build_manifest(copied)
    write_manifest(dest, manifest)
    return manifest


def index_entry(
    name: str, run: dict[str, Any], metrics: dict[str, Any] | None, manifest: dict[str, Any]
) -> dict[str, Any]:
    """One index row: what ``hub ls`` shows and ``hub search`` filters on (also the shape of HF search results)."""
    evals = {}
    for target, report in ((metrics or {}).get("eval") or {}).items():
        if isinstance(report, dict):
            evals[target] = {k: report.get(k) for k in ("metric", "average", "low_resource_average")}
    return {
        "name": name,
        "task": run.get("task"),
        "chain": _card.chain_of(run),
        "method": _card.method_name(run),
        "composition": _card.composition_kind(run),
        "base_model": _card.backbone_id(run),
        "library_name": _card.LIBRARY_BY_METHOD.get(_card.method_name(run), "transformers"),
        "languages": _card.languages_of(run, metrics),
        "tags": _card.card_tags(run),
        "dev": (metrics or {}).get("dev") or {},
        "eval": evals,
        "files": len(manifest["files"]),
        "size": sum(e["size"] for e in manifest["files"].values()),
        "manifest_sha256": manifest_id(manifest),
        "pushed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive lock on ``path`` (adapterx.fsio's filelock), released when the holder exits, even by a crash."""
    with exclusive_lock(path, timeout=timeout) as other:
        if other is not None:
            raise HubError(f"{path} has been held by another push ({other}) for {timeout:.0f} s: wait for it to "
                           "finish and retry.")
        yield


class FolderHub:
    """A directory of repositories plus ``index.json``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def ref(self, name: str) -> str:
        """The id of repository ``name`` (``HUB_PATH/REPO``)."""
        return str(self.root / name)

    def ensure(self) -> None:
        """Create the hub (folder and empty index) if needed; refuse a non-empty folder that is not a hub."""
        if self.root.exists() and not self.root.is_dir():
            raise HubError(f"{self.root} is a file: --to needs a folder hub (a new, empty or existing hub folder).")
        def foreign() -> bool:
            # One listing, so "no index" and "not empty" are read at the same moment: a concurrent first push that
            # creates index.json between two separate looks would make a new hub look foreign.
            names = [p.name for p in self.root.iterdir()]
            return INDEX_NAME not in names and any(not n.startswith(".") for n in names)

        # Checked once without the lock (a foreign folder gets no lock file), and again under it.
        if self.root.is_dir() and foreign():
            raise HubError(
                f"{self.root} is not a folder hub (no {INDEX_NAME}) and not empty: point --to at a new or empty "
                "folder, or at an existing hub."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not self.index_path.exists():
                if foreign():
                    raise HubError(f"{self.root} is not a folder hub (no {INDEX_NAME}) and not empty: point --to at a "
                                   "new or empty folder, or at an existing hub.")
                self._write_index({})

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with _file_lock(self.root / LOCK_NAME):
            yield

    def read_index(self) -> dict[str, dict[str, Any]]:
        """Repository name -> entry. A damaged index names the file and the way out."""
        if not self.index_path.is_file():
            raise HubError(f"{self.root} is not a folder hub ({INDEX_NAME} missing): push a module into it first.")
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            repos = data["repos"]
            if data.get("adapterx_hub") != INDEX_FORMAT or not isinstance(repos, dict):
                raise ValueError("unexpected structure")
            for name in repos:  # a hand-edited index must not point ids outside the hub
                check_repo_name(name)
        except (OSError, ValueError, KeyError, TypeError, HubError) as exc:
            raise HubError(
                f"{self.index_path} is damaged ({exc}): rebuild it with `adapterx hub reindex {self.root}`."
            ) from None
        return repos

    def _write_index(self, repos: dict[str, dict[str, Any]]) -> None:
        """Atomic replace: write a temp file in the hub, fsync, rename over index.json."""
        atomic_write_json(self.index_path, {"adapterx_hub": INDEX_FORMAT, "repos": dict(sorted(repos.items()))},
                          indent=2, ensure_ascii=True, fsync=True)

    def _check_replace(self, name: str, manifest: dict[str, Any] | None, overwrite: bool) -> None:
        """A repository ``name`` that holds another module is replaced only with ``overwrite``: a folder hub keeps one
        version per repository, so replacing it loses the earlier module. The same files again are no loss."""
        final = self.root / name
        if overwrite or not final.exists():
            return
        try:
            old = {k: v.get("sha256") for k, v in read_manifest(final)["files"].items() if k != CARD_NAME}
        except HubError:
            old = None
        new = None if manifest is None else {k: v.get("sha256") for k, v in manifest["files"].items() if k != CARD_NAME}
        if manifest is not None and old == new:
            return
        raise HubError(f"{final} already holds {'another' if manifest is not None else 'a'} module: pushing would"
                       " replace it (a folder hub keeps one version per repository). Pass --overwrite to replace it,"
                       " or --name to publish under another name.")

    def publish(self, plan: PushPlan, overwrite: bool = False) -> tuple[str, dict[str, Any]]:
        """Copy the plan's repository into the hub and index it; returns (id, index entry).

        A repository that already exists with other files is refused unless ``overwrite``; then it is replaced as a
        whole (like a new commit on the Hub, without the history).
        """
        if not overwrite and (self.root / plan.name).exists():
            self._check_replace(plan.name, plan.manifest(), overwrite)  # before copying anything
        self.ensure()
        staging = self.root / f".staging-{plan.name}-{uuid.uuid4().hex[:12]}"
        trash = self.root / f".trash-{plan.name}-{uuid.uuid4().hex[:12]}"
        try:
            # Copy and hash outside the lock (slow for full checkpoints); only the swap and the index are locked.
            manifest = stage_repo(plan, staging)
            entry = index_entry(plan.name, plan.run, plan.metrics, manifest)
            with self._lock():
                self._check_replace(plan.name, manifest, overwrite)  # again: another push may have come first
                repos = self.read_index()
                final = self.root / plan.name
                replaced = final.exists()
                if replaced:
                    os.rename(final, trash)
                try:
                    os.rename(staging, final)
                except OSError:
                    if replaced:  # put the old version back rather than lose it
                        os.rename(trash, final)
                    raise
                fsync_dir(self.root)
                repos[plan.name] = entry
                self._write_index(repos)
        finally:
            for leftover in (staging, trash):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
        return self.ref(plan.name), entry

    def repo_dir(self, name: str) -> Path:
        """The folder of repository ``name``; unknown names list the known ones."""
        check_repo_name(name)
        path = self.root / name
        if not path.is_dir():
            known = sorted(self.read_index()) if self.index_path.is_file() else []
            hint = f" Known: {', '.join(known)}." if known else " The hub is empty."
            raise HubError(f"no repository {name!r} in folder hub {self.root}.{hint}")
        return path

    def rebuild_index(self) -> dict[str, dict[str, Any]]:
        """Re-create index.json from the repositories' run.json / metrics.json / manifest.json."""
        if not self.root.is_dir():
            raise HubError(f"{self.root} is not a folder: nothing to index.")
        repos: dict[str, dict[str, Any]] = {}
        with self._lock():
            for path in sorted(self.root.iterdir()):
                if path.name.startswith(".") or not path.is_dir() or not (path / MANIFEST_NAME).is_file():
                    continue
                check_repo_name(path.name)
                run, metrics = read_run(path)
                entry = index_entry(path.name, run, metrics, read_manifest(path))
                mtime = (path / MANIFEST_NAME).stat().st_mtime
                entry["pushed"] = _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).isoformat(timespec="seconds")
                repos[path.name] = entry
            self._write_index(repos)
        return repos

    def entries(self) -> list[dict[str, Any]]:
        """Index entries with their ids, sorted by name."""
        return [{"id": self.ref(name), **entry} for name, entry in sorted(self.read_index().items())]


def matches(
    entry: dict[str, Any],
    task: str | None = None,
    lang: str | None = None,
    base: str | None = None,
    method: str | None = None,
    query: str | None = None,
) -> bool:
    """Filter semantics shared by folder hubs and HF results.

    ``task`` matches the trained task or any task of its chain (as the Hub's tags do); ``base`` matches the full id
    or its last part (``xlm-roberta-base`` matches ``FacebookAI/xlm-roberta-base``); ``method`` matches the method
    or the composition kind; ``query`` is a case-insensitive substring of the id.
    """
    if task and task != entry.get("task") and task not in (entry.get("chain") or []):
        return False
    if lang and lang not in (entry.get("languages") or []):
        return False
    if base:
        full = str(entry.get("base_model") or "")
        if base not in (full, full.rsplit("/", 1)[-1]):
            return False
    if method and method not in (entry.get("method"), entry.get("composition")):
        return False
    if query and query.lower() not in str(entry.get("id") or entry.get("name") or "").lower():
        return False
    return True
