"""The Hugging Face Hub side: upload a staged repository, download one into a folder, search models.

``huggingface_hub`` is imported inside the functions (it costs import time and is not needed for folder hubs).
Tokens: we never read, print or store one. ``token=None`` lets ``huggingface_hub`` take ``$HF_TOKEN`` or the token
saved by ``hf auth login``; its errors do not echo tokens, and we keep only their first line.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapterx.errors import HubError
from adapterx.hub.ids import CARD_NAME, MANIFEST_NAME, HfRef, check_file_policy
from adapterx.hub.manifest import parse_manifest

# The tag every adapterx card carries (card.card_tags): searches on the Hub start from it.
ADAPTERX_TAG = "adapterx"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def _hub_errors(ref: str, action: str) -> Iterator[None]:
    """Translate huggingface_hub / network exceptions into one-line HubErrors with a fix."""
    from huggingface_hub import errors as hf_errors

    try:
        yield
    except HubError:
        raise
    except hf_errors.OfflineModeIsEnabled:
        raise HubError(
            f"cannot {action} {ref}: HF_HUB_OFFLINE is set. Unset it to reach the Hub (a pulled copy is used "
            "offline automatically)."
        ) from None
    except hf_errors.GatedRepoError:
        raise HubError(f"cannot {action} {ref}: the repository is gated; request access on the Hub first.") from None
    except hf_errors.RepositoryNotFoundError:
        raise HubError(
            f"cannot {action} {ref}: repository not found, or private and you are not logged in "
            "(run `hf auth login` or set HF_TOKEN)."
        ) from None
    except hf_errors.RevisionNotFoundError:
        raise HubError(f"cannot {action} {ref}: no such revision (branch, tag or commit).") from None
    except hf_errors.LocalTokenNotFoundError:
        raise HubError(f"cannot {action} {ref}: not logged in; run `hf auth login` or set HF_TOKEN.") from None
    except hf_errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(
                f"cannot {action} {ref}: permission denied ({status}); log in with a token that has write "
                "access (`hf auth login` or HF_TOKEN)."
            ) from None
        raise HubError(f"cannot {action} {ref}: {_first_line(exc)}") from None
    except (OSError, ConnectionError) as exc:
        raise HubError(f"cannot {action} {ref}: {_first_line(exc)} (check the network or the Hub's status).") from None


def upload(staged: Path, ref: HfRef, private: bool = False, message: str | None = None) -> str:
    """Create the repository if needed and upload ``staged`` as one commit; returns the commit URL.

    Files of an earlier push that are no longer part of the module are deleted in the same commit
    (``delete_patterns``), so the repository always equals the pushed run (``.gitattributes`` is kept by the Hub).
    ``private`` applies when the repository is created; an existing repository keeps its visibility.
    """
    from huggingface_hub import HfApi

    api = HfApi()
    with _hub_errors(str(ref), "push to"):
        api.create_repo(ref.repo_id, repo_type="model", private=private, exist_ok=True)
        if ref.revision:
            api.create_branch(ref.repo_id, branch=ref.revision, repo_type="model", exist_ok=True)
        info = api.upload_folder(
            repo_id=ref.repo_id,
            repo_type="model",
            folder_path=str(staged),
            revision=ref.revision,
            commit_message=message or "Upload module with adapterx push",
            delete_patterns=["*"],
        )
    return str(getattr(info, "commit_url", "") or f"https://huggingface.co/{ref.repo_id}")


def resolve_commit(ref: HfRef) -> str:
    """The commit a branch/tag/commit of ``ref`` points to now (pins both downloads of a pull to one commit)."""
    from huggingface_hub import HfApi

    with _hub_errors(str(ref), "pull"):
        info = HfApi().model_info(ref.repo_id, revision=ref.revision)
    if not info.sha:
        raise HubError(f"cannot pull {ref}: the Hub returned no commit for this revision; retry.")
    return str(info.sha)


def download(ref: HfRef, commit: str, dest: Path, trust_pickle: bool = False) -> dict[str, Any]:
    """Download the repository at ``commit`` into the empty folder ``dest``; returns its (validated) manifest.

    The manifest comes first: its file names are validated and checked against the pickle/code policy *before* any
    weight is fetched, and it becomes the exact allow-list of the snapshot, so nothing unlisted lands in ``dest``.
    Verification of the contents is the caller's job (resolve.py), after this returns.
    """
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download, snapshot_download

    where = str(ref)
    with _hub_errors(where, "pull"):
        try:
            path = hf_hub_download(ref.repo_id, MANIFEST_NAME, revision=commit, local_dir=str(dest))
        except hf_errors.EntryNotFoundError:
            raise HubError(
                f"{where} has no {MANIFEST_NAME}: it was not published with `adapterx push`, so its files cannot "
                "be verified; load it with its own library instead."
            ) from None
        manifest = parse_manifest(Path(path).read_bytes(), f"{where}: {MANIFEST_NAME}")
        check_file_policy(list(manifest["files"]), trust_pickle, where)
        # fnmatch patterns: safe as-is because validated names hold no '*', '?' or '['.
        allow = [*manifest["files"], CARD_NAME, MANIFEST_NAME]
        snapshot_download(ref.repo_id, revision=commit, local_dir=str(dest), allow_patterns=allow)
    # huggingface_hub keeps its download metadata in dest/.cache; it is not part of the module.
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    return manifest


def entry_from_model_info(info: Any) -> dict[str, Any]:
    """An index-shaped entry (folder.index_entry) from a ``ModelInfo`` of ``list_models(cardData=True)``."""
    card: Any = getattr(info, "card_data", None)
    data: dict[str, Any] = card.to_dict() if hasattr(card, "to_dict") else dict(card or {})
    extra: dict[str, Any] = data["adapterx"] if isinstance(data.get("adapterx"), dict) else {}
    langs = data.get("language") or []
    last: Any = getattr(info, "last_modified", None)
    return {
        "id": f"hf:{info.id}",
        "name": str(info.id).split("/")[-1],
        "task": extra.get("task"),
        "chain": extra.get("chain") or [],
        "method": extra.get("method"),
        "composition": extra.get("composition"),
        "base_model": data.get("base_model"),
        "library_name": data.get("library_name") or getattr(info, "library_name", None),
        "languages": [langs] if isinstance(langs, str) else list(langs),
        "tags": list(getattr(info, "tags", None) or data.get("tags") or []),
        "eval": extra.get("eval") or {},
        "downloads": getattr(info, "downloads", None),
        "pushed": last.isoformat(timespec="seconds") if hasattr(last, "isoformat") else last,
    }


def search(
    task: str | None = None,
    lang: str | None = None,
    method: str | None = None,
    author: str | None = None,
    query: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """adapterx modules on the Hub: ``list_models`` filtered by tags server-side (adapterx + task + method, and
    the language); base-model filtering is left to the caller (folder.matches) since the Hub's base-model tags vary.
    """
    from huggingface_hub import HfApi

    tags = [ADAPTERX_TAG, *(t for t in (task, method) if t)]
    with _hub_errors("the Hugging Face Hub", "search"):
        models = HfApi().list_models(
            filter=tags, language=lang, author=author, search=query, cardData=True, limit=limit
        )
        return [entry_from_model_info(m) for m in models]
