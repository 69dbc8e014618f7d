"""State that heals: adapterx's cache entries (issue 28, class 3, first bullet).

One mechanism: :mod:`adapterx.cachedir`. Every entry adapterx builds carries a checksum (a folder entry its
``.adapterx-sha256.json``, a feature-cache file its ``.sha256``), and an entry that no longer matches is rebuilt where
adapterx built it: the tiny model, the extracted minilm, featurized examples. Damage is faked by truncating,
overwriting and deleting files (tests run as root)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ._cli import ax, truncate


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny) -> Path:  # noqa: ANN001
    """A cache of this test's own holding a copy of the session's tiny model; rebuilding copies the pristine files
    (the real build is exercised once, in the end-to-end case)."""
    from adapterx import backbone

    pristine = Path(tiny.path)
    cache = tmp_path / "cache"
    shutil.copytree(pristine, cache / pristine.name)
    monkeypatch.setenv("ADAPTERX_CACHE", str(cache))
    builds: list[Path] = []

    def copy_build(dest: Path) -> None:
        builds.append(dest)
        for p in pristine.iterdir():
            if p.is_file() and not p.name.startswith("."):
                shutil.copy2(p, dest / p.name)

    monkeypatch.setattr(backbone, "build_tiny", copy_build)
    monkeypatch.setattr(backbone, "_test_builds", builds, raising=False)
    return cache / pristine.name


def _damage(folder: Path, how: str) -> None:
    if how == "truncated weights":
        truncate(folder / "model.safetensors")
    elif how == "broken tokenizer":
        (folder / "tokenizer.json").write_text("{not json")
    elif how == "deleted config":
        (folder / "config.json").unlink()
    elif how == "weights overwritten, same size":
        data = bytearray((folder / "model.safetensors").read_bytes())
        for i in range(len(data) // 2, len(data), 97):
            data[i] ^= 0xFF
        (folder / "model.safetensors").write_bytes(bytes(data))
    elif how == "deleted tokenizer config":
        (folder / "tokenizer_config.json").unlink()
    elif how == "checksum record deleted":
        (folder / ".adapterx-sha256.json").unlink()
    elif how == "checksum record garbage":
        (folder / ".adapterx-sha256.json").write_text("\x00\x01")


@pytest.mark.parametrize("how", ["truncated weights", "broken tokenizer", "deleted config", "weights overwritten, same size",
                                 "deleted tokenizer config", "checksum record deleted", "checksum record garbage"])
def test_damaged_tiny_model_is_rebuilt(how, own_cache):
    from adapterx import backbone
    from adapterx.cachedir import folder_damage

    before = {p.name: p.read_bytes() for p in own_cache.iterdir() if p.is_file()}
    _damage(own_cache, how)
    assert folder_damage(own_cache) is not None
    bb = backbone.resolve("tiny")
    assert backbone._test_builds, "not rebuilt"  # noqa: SLF001 - the fixture's record
    assert Path(bb.path) == own_cache and folder_damage(own_cache) is None
    assert {p.name: p.read_bytes() for p in own_cache.iterdir() if p.is_file()} == before
    backbone.load_tokenizer(bb)  # loads again
    assert not [p.name for p in own_cache.parent.iterdir() if "damaged" in p.name or p.name.startswith(".tiny-build")]


def test_an_intact_entry_is_not_rebuilt(own_cache):
    from adapterx import backbone

    backbone.resolve("tiny")
    assert not backbone._test_builds  # noqa: SLF001


def test_tiny_command_after_truncated_weights_runs(tmp_path, monkeypatch, tiny):  # noqa: ANN001
    """The issue's example end to end (the real build): `--model tiny` ended in a traceback, every time."""
    cache = tmp_path / "cache"
    shutil.copytree(Path(tiny.path), cache / Path(tiny.path).name)
    monkeypatch.setenv("ADAPTERX_CACHE", str(cache))
    truncate(cache / Path(tiny.path).name / "model.safetensors")
    res = ax("eval", "xnli", "--module", "none", "--model", "tiny", "--langs", "en", "--max-examples", "8", "--json")
    assert res.exit_code == 0, (res.exception, res.stderr)
    assert json.loads(res.stdout)["scores"]["en"]["accuracy"] is not None


def test_overwritten_feature_cache_entry_is_recomputed(tmp_path, monkeypatch, tiny_tokenizer):  # noqa: ANN001
    """An entry overwritten with another valid entry (a copy gone wrong, a restore from another machine) loads without
    an error, as other examples' token ids: its checksum sends it back to featurizing."""
    from adapterx.data import cache as feature_cache
    from adapterx.data import synthetic
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    monkeypatch.setenv("ADAPTERX_CACHE", str(tmp_path / "cache"))
    task = get_task("xnli")
    examples = synthetic.generate(task.synthetic, "en", "dev", seed=0, labels=task.labels)
    a, b = examples[:16], examples[16:40]
    ops = ops_for(task.kind)
    calls: list[int] = []

    class Counting:
        def featurize(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(1)
            return ops.featurize(*args, **kwargs)

    first = feature_cache.featurize(Counting(), task, a, tiny_tokenizer, 64, 16, False)
    entry_a = feature_cache.folder() / f"{feature_cache.features_key(task, a, tiny_tokenizer, 64, 16, False)}.npz"
    assert entry_a.is_file() and (entry_a.parent / (entry_a.name + ".sha256")).is_file()
    feature_cache.featurize(Counting(), task, b, tiny_tokenizer, 64, 16, False)
    entry_b = feature_cache.folder() / f"{feature_cache.features_key(task, b, tiny_tokenizer, 64, 16, False)}.npz"
    feature_cache.featurize(Counting(), task, a, tiny_tokenizer, 64, 16, False)
    assert len(calls) == 2  # served from the cache
    shutil.copyfile(entry_b, entry_a)
    again = feature_cache.featurize(Counting(), task, a, tiny_tokenizer, 64, 16, False)
    assert len(calls) == 3 and len(again) == len(first) == 16
    assert [dict(x) for x in again.items] == [dict(x) for x in first.items]
    assert feature_cache.featurize(Counting(), task, a, tiny_tokenizer, 64, 16, False) is not None and len(calls) == 3


# --------------------------------------------------------------------------------------------------------------
# model folders adapterx did not build: named in one line, with what to delete


@pytest.fixture
def user_model(tmp_path, tiny) -> Path:  # noqa: ANN001
    folder = tmp_path / "my-model"
    shutil.copytree(Path(tiny.path), folder, ignore=shutil.ignore_patterns(".*"))
    return folder


@pytest.mark.parametrize("how,needles", [
    ("truncated weights", ("model.safetensors: damaged weights file", "save the model to")),
    ("weights header garbage", ("model.safetensors: damaged weights file",)),
    ("broken tokenizer", ("cannot load the model's tokenizer", "save the model to")),
    ("broken config", ("config.json: unreadable", "save the model to")),
])
def test_damaged_model_folder_is_one_line(how, needles, user_model, tmp_path):
    from ._cli import one_line_error

    if how == "truncated weights":
        truncate(user_model / "model.safetensors")
    elif how == "weights header garbage":
        with (user_model / "model.safetensors").open("r+b") as fh:
            fh.write(b"\xff" * 16)
    elif how == "broken tokenizer":
        (user_model / "tokenizer.json").write_text("garbage")
    else:
        (user_model / "config.json").write_text("{")
    res = ax("eval", "xnli", "--module", "none", "--model", user_model, "--langs", "en", "--max-examples", "4")
    one_line_error(res, *needles)


def test_damaged_hub_snapshot_names_the_cache_entry_to_delete(user_model, tmp_path):
    """A snapshot's files link to blobs: the whole models--* folder must go, or the download relinks the damage."""
    from adapterx import backbone
    from adapterx.errors import ModelError

    snap = tmp_path / "hub" / "models--org--name" / "snapshots" / "abc123"
    shutil.copytree(user_model, snap)
    truncate(snap / "model.safetensors")
    with pytest.raises(ModelError) as exc:
        backbone.check_weights_files(snap, "org/name")
    assert f"delete {tmp_path / 'hub' / 'models--org--name'}" in str(exc.value)
