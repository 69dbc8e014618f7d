"""The Hugging Face Hub side: upload a staged repository, download one into a folder, search models.

``huggingface_hub`` is imported inside the functions (it costs import time and is not needed for folder hubs).
Tokens: we never read, print or store one. ``token=None`` lets ``huggingface_hub`` take ``$HF_TOKEN`` or the token
saved by ``hf auth login``; its errors do not echo tokens, and we keep only their first line.

Endpoints: every call passes the endpoint explicitly (``--endpoint URL``, else ``$HF_ENDPOINT`` read at call time,
else the Hub), because ``huggingface_hub`` reads ``HF_ENDPOINT`` only once, when it is imported. A private mirror
(olah, tried in tests/test_hub_server.py) serves downloads but may lack parts of the API; see :func:`resolve_commit`
and :func:`search` for the two gaps adapterx works around or names.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import os
from urllib.parse import urlsplit

from adapterx.errors import HubError
from adapterx.hub.ids import CARD_NAME, MANIFEST_NAME, HfRef, check_file_policy
from adapterx.hub.manifest import parse_manifest

# The tag every adapterx card carries (card.card_tags): searches on the Hub start from it.
ADAPTERX_TAG = "adapterx"
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}


def endpoint_of(endpoint: str | None = None) -> str:
    """The Hub endpoint to use: ``endpoint``, else ``$HF_ENDPOINT``, else huggingface.co (no trailing slash)."""
    url = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        where = "--endpoint" if endpoint else "HF_ENDPOINT"
        raise HubError(f"{where} {url!r} is not a server URL: write http(s)://HOST[:PORT], e.g. http://127.0.0.1:8090.")
    return url


def is_default_endpoint(endpoint: str) -> bool:
    return endpoint.rstrip("/") == DEFAULT_ENDPOINT


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub itself only reads it at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


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


def upload(staged: Path, ref: HfRef, private: bool = False, message: str | None = None,
           endpoint: str | None = None) -> str:
    """Create the repository if needed and upload ``staged`` as one commit; returns the commit URL.

    Files of an earlier push that are no longer part of the module are deleted in the same commit
    (``delete_patterns``), so the repository always equals the pushed run (``.gitattributes`` is kept by the Hub).
    ``private`` applies when the repository is created; an existing repository keeps its visibility.
    """
    from huggingface_hub import HfApi

    url = endpoint_of(endpoint)
    if offline():
        raise HubError(f"cannot push to {ref}: HF_HUB_OFFLINE is set. Unset it to reach {url}.")
    api = HfApi(endpoint=url)
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
    return str(getattr(info, "commit_url", "") or f"{url}/{ref.repo_id}")


def resolve_commit(ref: HfRef, endpoint: str | None = None) -> str:
    """The commit a branch/tag/commit of ``ref`` points to now (pins both downloads of a pull to one commit).

    Without a revision it asks for ``main`` explicitly: a mirror such as olah answers ``model_info`` without a
    revision with 401, which would read as "not found, or private"; on the Hub the two are the same request.
    """
    from huggingface_hub import HfApi

    with _hub_errors(str(ref), "pull"):
        info = HfApi(endpoint=endpoint_of(endpoint)).model_info(ref.repo_id, revision=ref.revision or "main")
    if not info.sha:
        raise HubError(f"cannot pull {ref}: the Hub returned no commit for this revision; retry.")
    return str(info.sha)


def download(ref: HfRef, commit: str, dest: Path, trust_pickle: bool = False,
             endpoint: str | None = None) -> dict[str, Any]:
    """Download the repository at ``commit`` into the empty folder ``dest``; returns its (validated) manifest.

    The manifest comes first: its file names are validated and checked against the pickle/code policy *before* any
    weight is fetched, and it becomes the exact allow-list of the snapshot, so nothing unlisted lands in ``dest``.
    Verification of the contents is the caller's job (resolve.py), after this returns.
    """
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download, snapshot_download

    where = str(ref)
    url = endpoint_of(endpoint)
    with _hub_errors(where, "pull"):
        try:
            path = hf_hub_download(ref.repo_id, MANIFEST_NAME, revision=commit, local_dir=str(dest), endpoint=url)
        except hf_errors.EntryNotFoundError:
            raise HubError(
                f"{where} has no {MANIFEST_NAME}: it was not published with `adapterx push`, so its files cannot "
                "be verified; load it with its own library instead."
            ) from None
        manifest = parse_manifest(Path(path).read_bytes(), f"{where}: {MANIFEST_NAME}")
        check_file_policy(list(manifest["files"]), trust_pickle, where)
        # fnmatch patterns: safe as-is because validated names hold no '*', '?' or '['.
        allow = [*manifest["files"], CARD_NAME, MANIFEST_NAME]
        snapshot_download(ref.repo_id, revision=commit, local_dir=str(dest), allow_patterns=allow, endpoint=url)
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
    endpoint: str | None = None,
) -> list[dict[str, Any]]:
    """adapterx modules on the Hub: ``list_models`` filtered by tags server-side (adapterx + task + method, and
    the language); base-model filtering is left to the caller (folder.matches) since the Hub's base-model tags vary.

    A server whose models listing answers with no JSON (olah answers an empty body) is named in one line: it serves
    downloads by id but cannot be searched.
    """
    from huggingface_hub import HfApi

    url = endpoint_of(endpoint)
    where = "the Hugging Face Hub" if is_default_endpoint(url) else url
    tags = [ADAPTERX_TAG, *(t for t in (task, method) if t)]
    with _hub_errors(where, "search"):
        models = HfApi(endpoint=url).list_models(
            filter=tags, language=lang, author=author, search=query, cardData=True, limit=limit
        )
        try:
            return [entry_from_model_info(m) for m in models]
        except ValueError as exc:  # json's (and requests') decode errors; before OSError: requests' one is both
            if "Expecting value" not in str(exc) and "JSON" not in type(exc).__name__:
                raise
            raise HubError(
                f"cannot search {where}: the server has no models listing (GET {url}/api/models answered no JSON), "
                "so it serves modules by id only; pull one with `adapterx pull hf:USER/REPO[@REV]`."
            ) from None
