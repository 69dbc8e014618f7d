"""Reading one split of a registered Hugging Face data set (:mod:`adapterx.data.hf_sources`), pinned.

One code path for the Hub and for local copies: with ``ADAPTERX_HF_ROOT=DIR`` set, repository ``owner/name`` is read
from the folder ``DIR/owner/name`` laid out as the repository is (README ``configs:`` and parquet files, or the
export's ``<config>/<split>/NNNN.parquet``). The tests build such folders; a cluster may keep mirrors there.

Each read returns the rows and a :class:`HFRead`: repository, config, split, the revision asked for, the commit the
Hub resolved it to, and the ``datasets`` fingerprint of the split, which a run records.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapterx.data.hf_sources import HFDataset, resolve_revision
from adapterx.errors import DataError

LOCAL_ROOT_ENV = "ADAPTERX_HF_ROOT"
_COMMIT = re.compile(r"@([0-9a-f]{40})")


@dataclass(frozen=True)
class HFRead:
    """What one read of one split was: enough to read the same rows again."""

    repo: str
    config: str | None
    split: str
    revision: str  # as asked for (pinned, or --data-revision)
    commit: str | None  # the commit the Hub resolved the revision to; None for a local copy
    fingerprint: str | None  # the datasets fingerprint of the split as read
    local: str | None = None  # the local copy read instead of the Hub (ADAPTERX_HF_ROOT)

    @property
    def source(self) -> str:
        """The provenance string runs have always recorded: ``hf:<id>[/<config>]:<split>``."""
        return f"hf:{self.repo}{'/' + self.config if self.config else ''}:{self.split}"

    def record(self) -> dict[str, Any]:
        return asdict(self)


def local_root() -> Path | None:
    """The folder of local repository copies (``ADAPTERX_HF_ROOT``), if set."""
    value = os.environ.get(LOCAL_ROOT_ENV)
    return Path(value).expanduser() if value else None


def _location(ds: HFDataset) -> tuple[str, Path | None]:
    root = local_root()
    if root is None:
        return ds.repo, None
    folder = root / ds.repo
    if not folder.is_dir():
        raise DataError(f"{LOCAL_ROOT_ENV}={root}: no folder {ds.repo} (a local copy of the repository) in it")
    return str(folder), folder


def _load_kwargs(ds: HFDataset, config: str | None, split: str, revision: str, local: Path | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if ds.files == "export":  # the parquet export has no README configs: name the files of this config and split
        kwargs["data_files"] = {split: f"{config or 'default'}/{split}/*.parquet"}
    else:
        kwargs["name"] = config
    if local is None:
        kwargs["revision"] = revision
    return kwargs


def _quiet_datasets() -> Any:
    import datasets

    # adapterx draws its own progress; the library's bars and info logs would interleave with it
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failure(ds: HFDataset, config: str | None, split: str, revision: str, exc: BaseException) -> DataError:
    """One clear line for a failed read: offline, unknown config or split, or the repository's own error."""
    where = f"{ds.repo}{'/' + config if config else ''}:{split}@{revision}"
    text = _one_line(exc)
    if isinstance(exc, ConnectionError) or "offline" in text.lower() or "couldn't reach" in text.lower():
        why = _HUB_DOWN[0] if _HUB_DOWN and _HUB_DOWN[0] else "offline?"
        return DataError(f"cannot reach the Hugging Face Hub for {where} ({why}) and no cached copy: pass the files "
                         "instead, --data-dir DIR (adapterx data download TASK --to DIR where there is network) or "
                         "--eval-file LANG=FILE")
    m = re.search(r"BuilderConfig '([^']+)' not found", text)
    if m:
        return DataError(f"the Hugging Face data set {ds.repo}@{revision} has no config {m[1]!r}")
    m = re.search(r"Unknown split \"?([^\".]+)\"?\. Should be one of (\[.*?\])", text)
    if m:
        return DataError(f"the Hugging Face data set {ds.repo}{'/' + config if config else ''} has no {split} split "
                         f"(it has: {m[2].strip('[]').replace(chr(39), '')})")
    return DataError(f"cannot load {where} ({text})")


def _prepare(ds: HFDataset, split: str, lang: str | None, revisions: tuple[str, ...]):  # noqa: ANN202
    """What a read needs, checked before the library is asked: the config, the revision, where the repository is
    (the Hub or a local copy) and the quieted ``datasets`` module."""
    config = ds.config_for(lang)
    ds.check_split(split)
    revision = resolve_revision(ds, revisions)
    path, local = _location(ds)
    datasets = _quiet_datasets()
    if local is None:
        _offline_once()
    return config, revision, path, local, datasets


# hub_reachable()'s answer, asked once per process: [None] the Hub answers, [why] it does not.
_HUB_DOWN: list[str | None] = []


def _offline_once() -> None:
    """Ask once whether the Hub answers; where it does not, switch the libraries to offline mode, so that a cached
    copy still serves and a read that needs the network fails at once (not after ~30 s of retries per file)."""
    if not _HUB_DOWN:
        _HUB_DOWN.append(hub_reachable(timeout=5.0))
    if _HUB_DOWN[0] is None:
        return
    import datasets.config
    import huggingface_hub.constants

    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def load_rows(ds: HFDataset, split: str, lang: str | None = None,
              revisions: tuple[str, ...] = ()) -> tuple[Any, HFRead]:
    """The rows of ``split`` of ``ds`` (for ``lang`` where it is per-language) as a ``datasets.Dataset``, and the
    :class:`HFRead` describing them. Failures (offline, a language or split the data set lacks, a broken
    repository) raise :class:`DataError` with one line."""
    config, revision, path, local, datasets = _prepare(ds, split, lang, revisions)
    try:
        builder = datasets.load_dataset_builder(path, **_load_kwargs(ds, config, split, revision, local))
        builder.download_and_prepare()
        rows = builder.as_dataset(split=split)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library's errors: offline, missing config or split, scripts, network
        raise _failure(ds, config, split, revision, exc) from None
    m = _COMMIT.search(str(getattr(builder, "base_path", "") or ""))
    # Dataset._fingerprint is the library's own content hash of the split; it changes whenever the files do.
    fingerprint = getattr(rows, "_fingerprint", None)
    read = HFRead(ds.repo, config, split, revision, m[1] if m else None, fingerprint, str(local) if local else None)
    return rows, read


def first_row(ds: HFDataset, split: str, lang: str | None = None,
              revisions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The first row of a split, streamed (nothing is downloaded but what that row needs)."""
    config, revision, path, local, datasets = _prepare(ds, split, lang, revisions)
    try:
        stream = datasets.load_dataset(path, split=split, streaming=True,
                                       **_load_kwargs(ds, config, split, revision, local))
        return dict(next(iter(stream)))
    except StopIteration:
        raise DataError(f"{ds.repo}{'/' + config if config else ''}:{split} is empty") from None
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in load_rows
        raise _failure(ds, config, split, revision, exc) from None


def hub_reachable(timeout: float = 10.0) -> str | None:
    """``None`` where the Hugging Face Hub answers (or a local root stands in for it), else why not (one line)."""
    if local_root() is not None:
        return None
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        urllib.request.urlopen(f"{endpoint}/api/datasets?limit=1", timeout=timeout).close()
    except Exception as exc:  # noqa: BLE001 - DNS, refused, timeout, proxy: all mean no network for this purpose
        return f"{endpoint} does not answer ({_one_line(exc)})"
    return None


__all__ = ["LOCAL_ROOT_ENV", "HFRead", "first_row", "hub_reachable", "load_rows", "local_root"]
