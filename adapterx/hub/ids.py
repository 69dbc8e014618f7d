"""Module ids and the name rules that keep every published or fetched file inside its folder.

Ids:

- ``hf:USER/REPO[@REV]``: a repository on the Hugging Face Hub (``REV`` a branch, tag or commit).
- ``HUB_PATH/REPO``: repository ``REPO`` of a *folder hub* (a directory holding ``index.json``).
- any other path: a local run dir or a native ``adapters`` / ``peft`` folder, used in place.

Names coming from outside (a repository id typed by a user, a file name listed in somebody else's manifest) end up
in paths under the cache or a folder hub, so each segment is restricted to ``[A-Za-z0-9._-]``: no ``..``, no
absolute paths, no backslashes, no drive letters, no hidden files, nothing a shell or a filesystem treats specially.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from adapterx.errors import HubError

HF_PREFIX = "hf:"
INDEX_NAME = "index.json"
MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# The Hub's own limit for a repository name; also keeps cache paths short.
MAX_NAME = 96
# Weight formats that unpickle (run code) when loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Code never travels with a module: adapterx never sets trust_remote_code, so shipped code could only mislead.
CODE_SUFFIXES = (".py", ".pyc", ".so", ".dll", ".dylib", ".sh", ".exe")


def check_segment(segment: str, what: str, context: str = "") -> str:
    """Validate one path segment (a user, a repository or a file-name part) and return it.

    ``context`` (e.g. `` in 'module/../x'``) follows the segment in messages.
    """
    if not segment or not _SEGMENT.fullmatch(segment):
        raise HubError(
            f"unsafe {what} {segment!r}{context}: use only letters, digits, '.', '_' and '-' "
            "(no '/', '\\', spaces or ':')."
        )
    if segment.startswith((".", "-")) or ".." in segment:
        # Leading '.' hides files (and '..' climbs out of a folder); leading '-' reads as a command-line option.
        raise HubError(f"unsafe {what} {segment!r}{context}: it may not start with '.' or '-' nor contain '..'.")
    if len(segment) > MAX_NAME:
        raise HubError(f"{what} {segment[:20]!r}... is longer than {MAX_NAME} characters: choose a shorter one.")
    return segment


def check_repo_name(name: str) -> str:
    """Validate a repository name (one segment, as in a folder hub or the REPO part of an hf id)."""
    return check_segment(name, "repository name")


def check_file_name(name: str) -> str:
    """Validate a relative file name from a manifest or a listing: POSIX separators, safe segments only.

    Returns the name unchanged; raises :class:`HubError` for absolute paths, backslashes, ``..`` and odd characters,
    so that ``root / name`` can never leave ``root``.
    """
    if not isinstance(name, str) or not name:
        raise HubError(f"unsafe file name {name!r}: expected a non-empty relative path.")
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise HubError(f"unsafe file name {name!r}: absolute paths and backslashes are not allowed.")
    for part in name.split("/"):
        check_segment(part, "file name part", f" in {name!r}")
    return name


def is_pickle_file(name: str) -> bool:
    """True for weight files in a pickle-based format (loading them can run arbitrary code)."""
    return name.lower().endswith(PICKLE_SUFFIXES)


def is_code_file(name: str) -> bool:
    return name.lower().endswith(CODE_SUFFIXES)


class PickleRefused(HubError):
    """Pickle weights refused; ``where`` holds ``file``. Commands that load modules give their own advice: only push
    and pull have --trust-pickle."""

    def __init__(self, message: str, where: str, file: str) -> None:
        super().__init__(message)
        self.where, self.file = where, file


def check_file_policy(names: list[str], trust_pickle: bool, where: str) -> None:
    """Refuse code files always and pickle files unless ``trust_pickle``; the message names the first offender."""
    code = [n for n in names if is_code_file(n)]
    if code:
        raise HubError(
            f"{where} contains code file {code[0]!r}: adapterx never runs code shipped with a module "
            "(no trust_remote_code); remove it."
        )
    pickles = [n for n in names if is_pickle_file(n)]
    if pickles and not trust_pickle:
        more = f" (and {len(pickles) - 1} more)" if len(pickles) > 1 else ""
        raise PickleRefused(
            f"{where} contains pickle file {pickles[0]!r}{more}: loading pickle can run arbitrary code. Re-save the "
            "module as safetensors (use_safetensors=True / safe_serialization=True), or pass --trust-pickle "
            "(trust_pickle=True) if you trust its author.", where, pickles[0]
        )


@dataclass(frozen=True)
class HfRef:
    """``hf:USER/REPO[@REV]``."""

    user: str
    repo: str
    revision: str | None = None

    @property
    def repo_id(self) -> str:
        return f"{self.user}/{self.repo}"

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{HF_PREFIX}{self.repo_id}{rev}"


@dataclass(frozen=True)
class FolderRef:
    """Repository ``name`` in the folder hub at ``hub``."""

    hub: Path
    name: str

    @property
    def path(self) -> Path:
        return self.hub / self.name

    def __str__(self) -> str:
        return str(self.hub / self.name)


def check_revision(rev: str) -> str:
    """A branch, tag or commit: segments as for names, joined by '/' (``refs/pr/1`` is a valid revision)."""
    if not rev:
        raise HubError("empty revision after '@': write hf:USER/REPO@REVISION or drop the '@'.")
    for part in rev.split("/"):
        check_segment(part, "revision part", f" in {rev!r}")
    return rev


def revision_key(rev: str) -> str:
    """A single-segment form of a revision, for cache folder names (``refs/pr/1`` -> ``refs--pr--1``)."""
    return check_revision(rev).replace("/", "--")


def is_hf_id(ref: str) -> bool:
    return ref.startswith(HF_PREFIX)


def parse_hf(ref: str, need_repo: bool = True) -> HfRef:
    """Parse ``hf:USER/REPO[@REV]``; with ``need_repo=False`` also ``hf:USER`` (repo left empty for a default name)."""
    if not is_hf_id(ref):
        raise HubError(f"{ref!r} is not a Hugging Face id: write hf:USER/REPO.")
    body = ref[len(HF_PREFIX) :]
    revision = None
    if "@" in body:
        body, revision = body.split("@", 1)
        check_revision(revision)
    parts = body.split("/")
    if len(parts) == 1 and not need_repo:
        return HfRef(check_segment(parts[0], "Hub user or organization"), "", revision)
    if len(parts) != 2:
        raise HubError(f"bad Hugging Face id {ref!r}: write hf:USER/REPO (optionally @REVISION).")
    return HfRef(check_segment(parts[0], "Hub user or organization"), check_repo_name(parts[1]), revision)


def is_folder_hub(path: Path) -> bool:
    """A folder hub is any directory holding an ``index.json`` (created by the first push)."""
    return (path / INDEX_NAME).is_file()


def parse_folder_ref(ref: str | Path) -> FolderRef | None:
    """``HUB_PATH/REPO`` when the parent folder is a folder hub, else None (a plain local path)."""
    path = Path(ref).expanduser()
    parent = path.parent
    if path.name and is_folder_hub(parent):
        return FolderRef(parent, check_repo_name(path.name))
    return None


def slug(text: str) -> str:
    """Squash free text into a repository-name segment (``FacebookAI/xlm-roberta-base`` -> ``xlm-roberta-base``)."""
    text = PurePosixPath(str(text).replace("\\", "/")).name or str(text)
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return re.sub(r"\.{2,}", ".", out)
