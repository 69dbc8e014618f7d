"""Share modules: push a run dir to the Hugging Face Hub or a folder hub, pull and resolve module ids, search.

Public API (all light to import; ``huggingface_hub`` is imported only when an ``hf:`` id is used):

- :func:`resolve_module` -- any module id -> a verified local folder (every command taking a module calls it);
- :func:`pull` -- fetch a hub id into the cache;
- :func:`prepare_push` / :func:`push` -- plan (``--dry-run``) and publish a run dir;
- :func:`search` -- list/filter modules of a folder hub or of the HF Hub.

See ``ids.py`` for the id syntax and the name rules, ``manifest.py`` for integrity, ``card.py`` for the model card.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx.errors import HubError
from adapterx.hub.card import default_repo_name
from adapterx.hub.folder import FolderHub, PushPlan, matches, plan_push, read_run, stage_repo
from adapterx.hub.ids import HfRef, is_hf_id, parse_hf
from adapterx.hub.resolve import cache_root, check_local_module, pull, resolve_module

__all__ = [
    "FolderHub",
    "PushPlan",
    "PushResult",
    "cache_root",
    "check_local_module",
    "prepare_push",
    "pull",
    "push",
    "resolve_module",
    "search",
]


@dataclass
class PushResult:
    """What a push published: the id to pull it by, where it went, and its index entry (folder hubs)."""

    id: str
    location: str  # a folder (folder hub) or a commit URL (HF)
    entry: dict[str, Any] | None = None


def _target(run_dir: Path, to: str, name: str | None, revision: str | None) -> tuple[str, str, HfRef | None]:
    """(repository name, id to publish under, HfRef or None) from ``--to`` / ``--name`` / ``--revision``."""
    run, _ = read_run(Path(run_dir))
    if is_hf_id(to):
        ref = parse_hf(to, need_repo=False)
        repo = ref.repo or name or default_repo_name(run)
        if ref.repo and name and name != ref.repo:
            raise HubError(f"--to {to} already names repository {ref.repo!r}; drop --name {name} or make them agree.")
        rev = ref.revision
        if revision and rev and revision != rev:
            raise HubError(f"--to {to} names revision {rev!r} but --revision is {revision!r}: give only one.")
        full = parse_hf(f"hf:{ref.user}/{repo}" + (f"@{rev or revision}" if (rev or revision) else ""))
        return full.repo, str(full), full
    if revision:
        raise HubError("--revision applies to hf: targets only; a folder hub keeps one version per repository.")
    repo = name or default_repo_name(run)
    return repo, str(Path(to).expanduser() / repo), None


def prepare_push(
    run_dir: str | Path,
    to: str,
    name: str | None = None,
    revision: str | None = None,
    trust_pickle: bool = False,
) -> PushPlan:
    """Everything a push would publish (files, card), without writing anything; this is ``--dry-run``."""
    run_dir = Path(run_dir).expanduser()
    repo, target, ref = _target(run_dir, to, name, revision)
    return plan_push(run_dir, target, repo, trust_pickle=trust_pickle, hf_repo_id=ref.repo_id if ref else None)


def push(
    run_dir: str | Path,
    to: str,
    name: str | None = None,
    private: bool = False,
    revision: str | None = None,
    trust_pickle: bool = False,
    message: str | None = None,
    overwrite: bool = False,
    endpoint: str | None = None,
) -> PushResult:
    """Publish the run dir's module, run.json, metrics.json, card and manifest to ``to`` (``hf:USER[/REPO]`` or a
    folder hub path); returns the id it is published under. A folder hub's repository that holds another module is
    replaced only with ``overwrite`` (an HF repository keeps its history: a push is a new commit). ``endpoint``
    (default ``$HF_ENDPOINT``, else the Hub) is the server of an ``hf:`` target."""
    if endpoint and not is_hf_id(to):
        raise HubError(f"--endpoint applies to hf: targets only; {to!r} is a folder hub path.")
    plan = prepare_push(run_dir, to, name=name, revision=revision, trust_pickle=trust_pickle)
    if is_hf_id(to):
        from adapterx.hub import hf

        ref = parse_hf(plan.target)
        # Stage in a private temp folder so the upload is exactly the manifest-checked bytes.
        with tempfile.TemporaryDirectory(prefix="adapterx-push-") as tmp:
            staged = Path(tmp) / ref.repo
            stage_repo(plan, staged)
            url = hf.upload(staged, ref, private=private, message=message, endpoint=endpoint)
        return PushResult(id=plan.target, location=url)
    if private:
        raise HubError("--private applies to hf: targets only; a folder hub is as private as its folder.")
    ident, entry = FolderHub(Path(to).expanduser()).publish(plan, overwrite=overwrite)
    return PushResult(id=ident, location=ident, entry=entry)


def search(
    hub: str,
    task: str | None = None,
    lang: str | None = None,
    base: str | None = None,
    method: str | None = None,
    query: str | None = None,
    limit: int = 100,
    endpoint: str | None = None,
) -> list[dict[str, Any]]:
    """Modules of ``hub`` (a folder hub path, ``hf``, or ``hf:USER`` for one author) that match every filter;
    ``endpoint`` (default ``$HF_ENDPOINT``, else the Hub) is the server behind ``hf``.

    Entries are index-shaped (see ``folder.index_entry``) with an ``id`` that ``pull`` / ``resolve_module`` accept.
    """
    if hub == "hf" or is_hf_id(hub):
        from adapterx.hub import hf

        author = parse_hf(hub, need_repo=False).user if is_hf_id(hub) else None
        found = hf.search(task=task, lang=lang, method=method, author=author, query=query, limit=limit,
                          endpoint=endpoint)
    else:
        if endpoint:
            raise HubError(f"--endpoint applies to --hub hf only; {hub!r} is a folder hub path.")
        found = FolderHub(hub).entries()
    return [e for e in found if matches(e, task=task, lang=lang, base=base, method=method, query=query)][:limit]


def clean_cache() -> None:
    """Remove the whole hub cache (pulled copies are re-fetched on next use)."""
    shutil.rmtree(cache_root(), ignore_errors=True)
