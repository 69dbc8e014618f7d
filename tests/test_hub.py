"""adapterx.hub: ids, manifest, card, folder hub, pull/resolve integrity, and the HF path with huggingface_hub faked.

Run dirs are fabricated in the documented layout (docs/internals.md) with tiny safetensors files written through
``safetensors.numpy`` (no torch needed). Nothing here touches the network: HF_HUB_OFFLINE=1 (conftest) and every HF
call that would need the Hub is replaced by a fake that serves files from a local folder.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from adapterx import hub
from adapterx.errors import HubError
from adapterx.hub import card, ids, manifest
from adapterx.hub.folder import FolderHub
from adapterx.hub.resolve import cache_root

EVAL = {
    "task": "xnli",
    "metric": "accuracy",
    "scores": {"en": {"accuracy": 80.0}, "sw": {"accuracy": 61.5}, "yo": {"accuracy": 55.25}},
    "average": 65.58,
    "low_resource_average": 58.375,
    "high_resource_average": 80.0,
}


def make_run(
    root: Path,
    dirname: str = "run",
    method: str = "adapter",
    task: str = "stsb",
    chain: list[str] | None = None,
    composition: dict[str, Any] | None = None,
    extra: dict[str, bytes] | None = None,
    run_extra: dict[str, Any] | None = None,
) -> Path:
    """A run dir as training writes it: run.json, metrics.json, module/ with small safetensors weights."""
    run_dir = root / dirname
    module = run_dir / "module"
    rng = np.random.default_rng(0)
    weights = {"w": rng.standard_normal((4, 3)).astype(np.float32)}
    if method == "adapter":
        names = [t for t in (chain or [task])] if composition else [task]
        for name in names:
            d = module / name
            d.mkdir(parents=True)
            (d / "adapter_config.json").write_text(json.dumps({"config": {"architecture": "seq_bn"}, "name": name}))
            save_file(weights, str(d / "adapter.safetensors"))
            (d / "head_config.json").write_text(json.dumps({"name": name, "config": {"head_type": "classification"}}))
            save_file({"b": np.zeros(3, np.float32)}, str(d / "model_head.safetensors"))
        if composition:
            (module / "setup.json").write_text(json.dumps({"kind": composition["kind"], "adapters": names}))
    elif method == "lora":
        module.mkdir(parents=True)
        (module / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "task_type": "SEQ_CLS", "r": 8}))
        save_file(weights, str(module / "adapter_model.safetensors"))
    else:
        module.mkdir(parents=True)
        (module / "config.json").write_text(json.dumps({"architectures": ["XLMRobertaForSequenceClassification"]}))
        save_file(weights, str(module / "model.safetensors"))
    for name, data in (extra or {}).items():
        (module / name).parent.mkdir(parents=True, exist_ok=True)
        (module / name).write_bytes(data)
    run = {
        "adapterx_version": "0.1.0",
        "command": f"adapterx train-intermediate {task}",
        "created": "2026-11-26T12:00:00+00:00",
        "task": task,
        "chain": chain or [task],
        "method": {"name": method, "reduction_factor": 16},
        "composition": composition,
        "backbone": {
            "id": "FacebookAI/xlm-roberta-base",
            "revision": "main",
            "sha256": "ab" * 32,
            "model_type": "xlm-roberta",
            "hidden_size": 768,
            "num_layers": 12,
            "vocab_size": 250002,
        },
        "data": {"source": "/home/alice/secret-data/stsb", "train_size": 5749, "dev_size": 1500},
        "seed": 42,
        "hyperparameters": {"lr": 1e-4, "epochs": 3, "batch_size": 32},
        "wall_time_s": 12.5,
        "params": {"trainable": 894528, "total": 278938368},
        "languages": ["en", "sw", "yo"],
        **(run_extra or {}),
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    metrics = {"dev": {"pearson": 88.1}, "best_step": 300, "loss_curve": [[100, 0.5]], "eval": {"xnli": EVAL}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache, and no token from the environment."""
    monkeypatch.setenv("ADAPTERX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("ADAPTERX_HUB", raising=False)
    return tmp_path / "cache"


def cache_is_clean(name: str) -> bool:
    """No in-flight download and no cached copy of repository ``name`` is left."""
    root = cache_root()
    tmp = root / ".tmp"
    if tmp.exists() and any(tmp.iterdir()):
        return False
    return not any(p.name == name for p in root.rglob(name)) if root.exists() else True


# ----------------------------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "ref,user,repo,rev",
    [
        ("hf:me/stsb", "me", "stsb", None),
        ("hf:org-1/a.b_c@v1.0", "org-1", "a.b_c", "v1.0"),
        ("hf:me/x@refs/pr/1", "me", "x", "refs/pr/1"),
    ],
)
def test_parse_hf_ids(ref: str, user: str, repo: str, rev: str | None) -> None:
    parsed = ids.parse_hf(ref)
    assert (parsed.user, parsed.repo, parsed.revision) == (user, repo, rev)
    assert str(parsed) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "hf:../x",
        "hf:me/..",
        "hf:me/a/b",
        "hf:me/a b",
        "hf:me\\x/y",
        "hf:me/x@../main",
        "hf:/x",
        "hf:me/.git",
        "hf:me/x@",
        "hf:me/-rf",
    ],
)
def test_bad_hf_ids_are_refused(ref: str) -> None:
    with pytest.raises(HubError):
        ids.parse_hf(ref)


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/passwd", "module/../../x", "a\\b", "C:x", ".hidden", "a//b", "a b", "a/./b", "x\n", ""],
)
def test_unsafe_file_names_are_refused(name: str) -> None:
    with pytest.raises(HubError):
        ids.check_file_name(name)


def test_safe_file_names() -> None:
    assert ids.check_file_name("module/stsb/adapter.safetensors") == "module/stsb/adapter.safetensors"
    assert ids.is_pickle_file("module/x/pytorch_adapter.BIN")
    assert not ids.is_pickle_file("module/x/adapter.safetensors")


# ------------------------------------------------------------------------------------------------ manifest


def test_manifest_detects_change_truncation_and_missing(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    files = {p.relative_to(run).as_posix(): p for p in run.rglob("*") if p.is_file()}
    m = manifest.build_manifest(files)
    manifest.verify(run, m, "run")
    weights = run / "module/stsb/adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(HubError, match="module/stsb/adapter.safetensors does not match its sha256"):
        manifest.verify(run, m, "run")
    weights.write_bytes(bytes(data[:-5]))
    with pytest.raises(HubError, match="adapter.safetensors is truncated"):
        manifest.verify(run, m, "run")
    weights.unlink()
    with pytest.raises(HubError, match="adapter.safetensors is listed in manifest.json but missing"):
        manifest.verify(run, m, "run")


@pytest.mark.parametrize("bad", ["../../evil.safetensors", "/abs/x", "module\\x", "README.md"])
def test_manifest_with_unsafe_names_is_refused(bad: str) -> None:
    raw = json.dumps({"adapterx_manifest": 1, "files": {bad: {"sha256": "0" * 64, "size": 1}}})
    with pytest.raises(HubError):
        manifest.parse_manifest(raw, "m")


# ---------------------------------------------------------------------------------------------------- card


def test_default_names() -> None:
    run = {"task": "stsb", "method": {"name": "adapter"}, "backbone": {"id": "FacebookAI/xlm-roberta-base"}}
    assert card.default_repo_name(run) == "stsb-adapter-xlm-roberta-base"
    run = {
        "task": "tydiqa",
        "chain": ["stsb", "tydiqa"],
        "composition": {"kind": "stack", "modules": []},
        "method": {"name": "adapter"},
        "backbone": {"id": "xlm-roberta-base"},
    }
    assert card.default_repo_name(run) == "tydiqa-from-stsb-stack-adapter-xlm-roberta-base"


@pytest.mark.parametrize(
    "method,library,snippet",
    [
        ("adapter", "adapters", 'load_adapter(f"{path}/stsb", load_as="stsb", use_safetensors=True)'),
        ("lora", "peft", "PeftModel.from_pretrained(base"),
        ("full", "transformers", "AutoModelForSequenceClassification.from_pretrained"),
    ],
)
def test_card_front_matter_and_body(tmp_path: Path, method: str, library: str, snippet: str) -> None:
    from huggingface_hub import ModelCard

    plan = hub.prepare_push(make_run(tmp_path, method=method), "hf:me")
    parsed = ModelCard(plan.card)  # the Hub's own parser accepts the front matter
    assert parsed.data.library_name == library
    assert parsed.data.base_model == "FacebookAI/xlm-roberta-base"
    assert {"adapterx", "stsb", method} <= set(parsed.data.tags)
    assert parsed.data.language == ["en", "sw", "yo"]
    assert "pearson" in parsed.data.metrics and "accuracy" in parsed.data.metrics
    assert snippet in plan.card
    assert 'snapshot_download("me/stsb-' in plan.card
    assert "| low-resource languages | 58.38 |" in plan.card and "| sw | 61.5 |" in plan.card
    assert "@software{adapterx" in plan.card and "| seed | 42 |" in plan.card
    assert "/home/alice" not in plan.card and "datasets" not in parsed.data.to_dict()  # local path not leaked


@pytest.mark.parametrize("backbone", ["tiny", "LOCAL"])
def test_local_backbones_stay_out_of_the_metadata(tmp_path: Path, backbone: str) -> None:
    if backbone == "LOCAL":
        backbone = str(tmp_path / "models" / "my-xlmr")
        Path(backbone).mkdir(parents=True)
    run = make_run(tmp_path, run_extra={"backbone": {"id": backbone, "revision": None}})
    plan = hub.prepare_push(run, "hf:me")
    assert "base_model" not in card.front_matter(plan.run, plan.metrics)
    assert str(tmp_path) not in plan.card  # a local path shows only as its last part
    assert plan.name.endswith("-tiny" if backbone == "tiny" else "-my-xlmr")


def test_card_for_a_stack_lists_the_chain(tmp_path: Path) -> None:
    run = make_run(tmp_path, task="tydiqa", chain=["stsb", "tydiqa"], composition={"kind": "stack", "modules": []})
    plan = hub.prepare_push(run, str(tmp_path / "hub"))
    assert plan.name == "tydiqa-from-stsb-stack-adapter-xlm-roberta-base"
    assert "stsb -> tydiqa" in plan.card and 'Stack("stsb", "tydiqa")' in plan.card
    assert plan.card.index('{path}/stsb"') < plan.card.index('{path}/tydiqa"')  # intermediate loaded first
    assert "chain-stsb-tydiqa" in plan.card


# ---------------------------------------------------------------------------------------------- folder hub


def test_folder_hub_round_trip(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    res = hub.push(make_run(tmp_path), str(hub_dir))
    assert res.id == str(hub_dir / "stsb-adapter-xlm-roberta-base")
    repo = Path(res.id)
    assert {"README.md", "manifest.json", "run.json", "metrics.json"} <= {p.name for p in repo.iterdir()}
    index = json.loads((hub_dir / "index.json").read_text())["repos"]
    assert index["stsb-adapter-xlm-roberta-base"]["languages"] == ["en", "sw", "yo"]
    hub.push(make_run(tmp_path, "run2", method="lora", task="xnli"), str(hub_dir))

    names = [e["name"] for e in hub.search(str(hub_dir))]
    assert names == ["stsb-adapter-xlm-roberta-base", "xnli-lora-xlm-roberta-base"]
    assert [e["method"] for e in hub.search(str(hub_dir), method="lora")] == ["lora"]
    assert len(hub.search(str(hub_dir), task="stsb", lang="sw", base="xlm-roberta-base", method="adapter")) == 1
    assert hub.search(str(hub_dir), lang="fr") == []
    assert len(hub.search(str(hub_dir), base="FacebookAI/xlm-roberta-base", query="XNLI")) == 1

    pulled = hub.pull(res.id)
    assert cache_root() in pulled.parents
    original = tmp_path / "run" / "module/stsb/adapter.safetensors"
    assert (pulled / "module/stsb/adapter.safetensors").read_bytes() == original.read_bytes()
    assert hub.resolve_module(res.id) == pulled  # cached, not copied again
    assert hub.resolve_module(str(tmp_path / "run")) == (tmp_path / "run").resolve()
    assert hub.resolve_module(str(pulled)) == pulled.resolve()  # a pulled copy is a valid local run dir


def test_published_run_records_carry_no_local_paths(tmp_path: Path) -> None:
    comp = {"kind": "stack", "modules": [{"task": "stsb", "run": "/home/alice/runs/stsb-adapter", "sha256": "cd" * 32}]}
    run_dir = make_run(tmp_path, chain=["stsb", "xnli"], task="xnli", composition=comp,
                       run_extra={"data": {"source": "file:/home/alice/d/train.tsv+file:/home/alice/d/extra.tsv",
                                           "dev_source": "hf:glue/stsb:validation", "train_size": 3}})
    plan = hub.prepare_push(run_dir, str(tmp_path / "hub"))
    listed = {r["file"]: r for r in plan.listing()}
    res = hub.push(run_dir, str(tmp_path / "hub"))
    published = (Path(res.id) / "run.json").read_text()
    assert "/home/alice" not in published and "/home/alice" not in (Path(res.id) / "README.md").read_text()
    run = json.loads(published)
    assert run["data"]["source"] == "file:<local>/train.tsv+file:<local>/extra.tsv"
    assert run["data"]["dev_source"] == "hf:glue/stsb:validation"  # not a path: kept
    from adapterx.hub.folder import redact_local_paths

    assert redact_local_paths("/opt/c++/model") == "<local>/model"  # a "+" inside a path is not a join
    assert run["composition"]["modules"][0] == {"task": "stsb", "run": "<local>/stsb-adapter", "sha256": "cd" * 32}
    # the dry run's listing, the manifest and the published bytes agree; the author's own run.json is untouched
    assert listed["run.json"]["size"] == len(published.encode())
    assert "/home/alice" in (run_dir / "run.json").read_text()
    assert hub.pull(res.id).is_dir()  # the manifest verifies the redacted copy


def test_repush_with_overwrite_replaces_the_repository_and_its_entry(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    first = hub.push(make_run(tmp_path), str(hub_dir), name="m")
    run2 = make_run(tmp_path, "run2", extra={"stsb/extra.json": b"{}"})
    with pytest.raises(HubError, match="--overwrite"):  # another module under the same name: refused by default
        hub.push(run2, str(hub_dir), name="m")
    assert not (hub_dir / "m/stsb/extra.json").exists()
    second = hub.push(run2, str(hub_dir), name="m", overwrite=True)
    assert first.entry and second.entry
    assert first.entry["manifest_sha256"] != second.entry["manifest_sha256"]
    index = FolderHub(hub_dir).read_index()
    assert list(index) == ["m"] and index["m"]["files"] == second.entry["files"]
    assert (hub_dir / "m/stsb/extra.json").is_file()
    assert not [p for p in hub_dir.iterdir() if p.name.startswith((".staging", ".trash"))]
    assert (hub.pull(second.id) / "module/stsb/extra.json").is_file()  # new version, new cache folder


def test_concurrent_pushes_keep_every_index_entry(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    runs = [make_run(tmp_path, f"run{i}") for i in range(8)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            hub.push(runs[i], str(hub_dir), name=f"m{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(FolderHub(hub_dir).read_index()) == [f"m{i}" for i in range(8)]


def test_push_refuses_a_foreign_folder_and_bad_names(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(HubError, match="not a folder hub"):
        hub.push(run, str(other))
    for bad in ("../evil", "a/b", ".hidden", "a b"):
        with pytest.raises(HubError):
            hub.push(run, str(tmp_path / "hub"), name=bad)
    assert not (tmp_path / "evil").exists()
    with pytest.raises(HubError, match="already names repository"):
        hub.prepare_push(run, "hf:me/x", name="y")


def test_damaged_index_names_the_fix(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    hub.push(make_run(tmp_path), str(hub_dir))
    (hub_dir / "index.json").write_text("{not json")
    with pytest.raises(HubError, match="adapterx hub reindex"):
        hub.search(str(hub_dir))
    assert list(FolderHub(hub_dir).rebuild_index()) == ["stsb-adapter-xlm-roberta-base"]
    assert len(hub.search(str(hub_dir))) == 1


# ------------------------------------------------------------------------------------- integrity on pull


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return Path(hub.push(make_run(tmp_path), str(tmp_path / "hub"), name="m").id)


def test_changed_byte_fails_the_pull(published: Path) -> None:
    path = published / "stsb/adapter.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(HubError, match="stsb/adapter.safetensors does not match its sha256"):
        hub.pull(str(published))
    assert cache_is_clean("m")


def test_truncated_file_fails_the_pull(published: Path) -> None:
    path = published / "stsb/model_head.safetensors"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(HubError, match="model_head.safetensors is truncated"):
        hub.resolve_module(str(published))
    assert cache_is_clean("m")


def test_missing_file_fails_the_pull(published: Path) -> None:
    (published / "stsb/head_config.json").unlink()
    with pytest.raises(HubError, match="head_config.json is listed in manifest.json but missing"):
        hub.pull(str(published))
    assert cache_is_clean("m")


def test_damaged_cached_copy_is_fetched_again(published: Path) -> None:
    pulled = hub.pull(str(published))
    (pulled / "module/stsb/adapter.safetensors").write_bytes(b"x")
    again = hub.resolve_module(str(published))
    assert again == pulled and (again / "module/stsb/adapter.safetensors").stat().st_size > 1


@pytest.mark.parametrize("bad", ["../../escaped.safetensors", "/tmp/abs.safetensors", "module/../../../x.json"])
def test_path_traversal_in_a_manifest_is_refused(published: Path, tmp_path: Path, bad: str) -> None:
    m = json.loads((published / "manifest.json").read_text())
    m["files"][bad] = {"sha256": "0" * 64, "size": 1}
    (published / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(HubError, match="unsafe"):
        hub.pull(str(published))
    assert not (tmp_path / "escaped.safetensors").exists()
    assert not (cache_root().parent / "escaped.safetensors").exists()
    assert cache_is_clean("m")


def test_symlink_out_of_a_repository_is_refused(published: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    target = published / "stsb/head_config.json"
    target.unlink()
    target.symlink_to(secret)
    with pytest.raises(HubError, match="link"):
        hub.pull(str(published))
    assert cache_is_clean("m")


def test_unknown_repository_lists_known_ones(published: Path) -> None:
    with pytest.raises(HubError, match="no repository 'nope' .* Known: m"):
        hub.resolve_module(str(published.parent / "nope"))
    with pytest.raises(HubError, match="no module at"):
        hub.resolve_module(str(published.parent.parent / "nowhere" / "x"))


# ------------------------------------------------------------------------------------------------ pickle


def test_pickle_is_refused_unless_trusted(tmp_path: Path) -> None:
    run = make_run(tmp_path, extra={"stsb/pytorch_adapter.bin": b"\x80\x04pickle"})
    with pytest.raises(HubError, match=r"pickle file 'module/stsb/pytorch_adapter.bin'.*--trust-pickle"):
        hub.prepare_push(run, "hf:me")
    with pytest.raises(HubError, match="pickle"):
        hub.resolve_module(str(run))
    assert hub.resolve_module(str(run), trust_pickle=True) == run.resolve()
    res = hub.push(run, str(tmp_path / "hub"), trust_pickle=True)
    with pytest.raises(HubError, match="pickle"):
        hub.pull(res.id)
    assert cache_is_clean("stsb-adapter-xlm-roberta-base")
    assert (hub.pull(res.id, trust_pickle=True) / "module/stsb/pytorch_adapter.bin").is_file()


def test_code_files_and_tokens_are_never_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(HubError, match="code file"):
        hub.prepare_push(make_run(tmp_path, "r1", extra={"modeling.py": b"import os"}), "hf:me", trust_pickle=True)
    leaky = make_run(tmp_path, "r2", run_extra={"note": "hf_" + "a1B2" * 9})
    with pytest.raises(HubError, match="access token"):
        hub.prepare_push(leaky, "hf:me")
    monkeypatch.setenv("HF_TOKEN", "secret-token-value")
    leaky2 = make_run(tmp_path, "r3", run_extra={"note": "secret-token-value"})
    with pytest.raises(HubError, match="access token"):
        hub.prepare_push(leaky2, "hf:me")


# ------------------------------------------------------------------------------------- HF Hub (faked)


def test_hf_dry_run_plan_lists_exact_files(tmp_path: Path) -> None:
    plan = hub.prepare_push(make_run(tmp_path), "hf:me", revision="exp1")
    assert plan.target == "hf:me/stsb-adapter-xlm-roberta-base@exp1"
    names = [r["file"] for r in plan.listing()]
    assert names == sorted(
        [
            "README.md",
            "manifest.json",
            "metrics.json",
            "run.json",
            "stsb/adapter.safetensors",
            "stsb/adapter_config.json",
            "stsb/head_config.json",
            "stsb/model_head.safetensors",
        ]
    )
    assert 'revision="exp1"' in plan.card


class FakeHub:
    """Stands in for the Hub: repositories are folders, each upload a new 40-hex commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits: dict[str, str] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import huggingface_hub
        from huggingface_hub import errors as hf_errors

        fake = self
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the fake stands for a reachable Hub

        def upload_folder(self_api: Any, *, repo_id: str, folder_path: str, **kw: Any) -> Any:
            fake.calls.append(("upload_folder", {"repo_id": repo_id, **kw}))
            dest = fake.root / repo_id
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(folder_path, dest)
            fake.commits[repo_id] = os.urandom(20).hex()
            return type("CommitInfo", (), {"commit_url": f"https://hf.test/{repo_id}/commit/1"})()

        def model_info(self_api: Any, repo_id: str, revision: str | None = None, **kw: Any) -> Any:
            if repo_id not in fake.commits:
                raise hf_errors.RepositoryNotFoundError("404 not found")
            return type("Info", (), {"sha": fake.commits[repo_id]})()

        def hf_hub_download(repo_id: str, filename: str, *, revision: str, local_dir: str, **kw: Any) -> str:
            assert revision == fake.commits[repo_id]
            src = fake.root / repo_id / filename
            if not src.exists():
                raise hf_errors.EntryNotFoundError("404 entry")
            Path(local_dir).mkdir(parents=True, exist_ok=True)
            return shutil.copy(src, Path(local_dir) / filename)

        def snapshot_download(
            repo_id: str, *, revision: str, local_dir: str, allow_patterns: list[str], **kw: Any
        ) -> str:
            for name in allow_patterns:
                src = fake.root / repo_id / name
                if src.is_file():
                    (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, Path(local_dir) / name)
            (Path(local_dir) / ".cache/huggingface").mkdir(parents=True, exist_ok=True)
            return local_dir

        def record(call: str) -> Any:
            return lambda self_api, repo_id, **kw: fake.calls.append((call, {"repo_id": repo_id, **kw}))

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", record("create_repo"))
        monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", record("create_branch"))
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_hf_push_and_pull_round_trip_with_a_fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub(tmp_path / "remote")
    fake.install(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "Z" * 34)  # present in the env: must not appear in any published file
    res = hub.push(make_run(tmp_path), "hf:me", private=True)
    assert res.id == "hf:me/stsb-adapter-xlm-roberta-base"
    kinds = dict(fake.calls)
    assert kinds["create_repo"]["private"] is True and kinds["upload_folder"]["delete_patterns"] == ["*"]
    remote = tmp_path / "remote/me/stsb-adapter-xlm-roberta-base"
    assert all(b"hf_ZZZZ" not in p.read_bytes() for p in remote.rglob("*") if p.is_file())

    pulled = hub.pull(res.id)
    assert pulled.name == fake.commits["me/stsb-adapter-xlm-roberta-base"]
    assert not (pulled / ".cache").exists()
    assert hub.resolve_module(res.id) == pulled  # through refs/main: no Hub call needed

    # A new commit with a changed byte: the pull fails and leaves nothing behind.
    w = remote / "stsb/adapter.safetensors"
    w.write_bytes(w.read_bytes()[:-1] + b"\x00")
    fake.commits["me/stsb-adapter-xlm-roberta-base"] = "f" * 40
    with pytest.raises(HubError, match="adapter.safetensors"):
        hub.pull(res.id)
    assert not (pulled.parent / ("f" * 40)).exists() and cache_is_clean("nothing")
    with pytest.raises(HubError, match="repository not found"):
        hub.pull("hf:me/nope")


def test_hf_repo_without_manifest_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub(tmp_path / "remote")
    fake.install(monkeypatch)
    (tmp_path / "remote/me/plain").mkdir(parents=True)
    fake.commits["me/plain"] = "a" * 40
    with pytest.raises(HubError, match="has no manifest.json"):
        hub.resolve_module("hf:me/plain")
    assert cache_is_clean("plain")


def test_hf_offline_gives_a_clear_error() -> None:
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        hub.pull("hf:me/anything")


def test_hf_search_offline_gives_a_clear_error() -> None:
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        hub.search("hf", task="stsb")


def test_index_with_an_escaping_name_is_refused(tmp_path: Path) -> None:
    hub_dir = tmp_path / "hub"
    hub.push(make_run(tmp_path), str(hub_dir), name="m")
    index = json.loads((hub_dir / "index.json").read_text())
    index["repos"]["../../outside"] = index["repos"]["m"]
    (hub_dir / "index.json").write_text(json.dumps(index))
    with pytest.raises(HubError, match="damaged"):
        hub.search(str(hub_dir))


def test_hf_search_uses_tag_filters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub
    from huggingface_hub.hf_api import ModelInfo

    meta = card.front_matter(json.loads(make_run(tmp_path).joinpath("run.json").read_text()), {"eval": {"xnli": EVAL}})
    seen: dict[str, Any] = {}

    def list_models(self_api: Any, **kw: Any) -> list[Any]:
        seen.update(kw)
        return [
            ModelInfo(id="me/stsb-adapter-xlm-roberta-base", tags=meta["tags"], cardData=meta, downloads=3),
            ModelInfo(id="you/other", tags=["adapterx"], cardData={"base_model": "bert-base-uncased"}),
        ]

    monkeypatch.setattr(huggingface_hub.HfApi, "list_models", list_models)
    found = hub.search("hf", task="stsb", lang="sw", method="adapter", base="xlm-roberta-base")
    assert seen["filter"] == ["adapterx", "stsb", "adapter"] and seen["language"] == "sw" and seen["cardData"] is True
    assert [e["id"] for e in found] == ["hf:me/stsb-adapter-xlm-roberta-base"]
    assert found[0]["eval"]["xnli"]["low_resource_average"] == 58.375
    hub.search("hf:me")
    assert seen["author"] == "me"


# ------------------------------------------------------------------------------- layout, weights, endpoints


def test_a_published_repository_holds_the_module_at_its_root_and_pulls_as_a_run_dir(tmp_path: Path) -> None:
    run = make_run(tmp_path, method="lora", extra={"README.md": b"# peft's own card\n"})
    repo = Path(hub.push(run, str(tmp_path / "hub"), name="m").id)
    top = {p.name for p in repo.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "run.json", "metrics.json", "README.md",
            "manifest.json"} == top  # as peft publishes: PeftModel.from_pretrained(base, REPO) loads it
    assert (repo / "README.md").read_text().startswith("---\nlibrary_name: peft")  # the card, not peft's README
    assert 'PeftModel.from_pretrained(base, f"{path}")' in (repo / "README.md").read_text()
    assert json.loads((repo / "manifest.json").read_text())["adapterx_manifest"] == 2
    pulled = hub.pull(str(repo))
    assert {p.relative_to(pulled).as_posix() for p in pulled.rglob("*") if p.is_file()} == {
        "README.md", "manifest.json", "run.json", "metrics.json", "module/adapter_config.json",
        "module/adapter_model.safetensors"}
    assert manifest.read_manifest(pulled)["adapterx_manifest"] == 1  # the cache copy's own, same hashes
    assert hub.resolve_module(str(pulled)) == pulled.resolve()


def test_a_repository_in_the_old_module_layout_still_pulls(tmp_path: Path) -> None:
    repo = Path(hub.push(make_run(tmp_path), str(tmp_path / "hub"), name="m").id)
    old = manifest.read_manifest(repo)
    (repo / "module").mkdir()
    (repo / "stsb").rename(repo / "module" / "stsb")  # what earlier versions published
    files = {("module/" + n if n not in manifest.RUN_FILES else n): e for n, e in old["files"].items()}
    manifest.write_manifest(repo, {"adapterx_manifest": 1, "files": files})
    pulled = hub.pull(str(repo))
    assert (pulled / "module/stsb/adapter.safetensors").is_file() and not (pulled / "stsb").exists()


def test_pull_loads_the_weights_too(published: Path) -> None:
    # Hashes that match a truncated file (what an older push could publish): the header check refuses it.
    path = published / "stsb/adapter.safetensors"
    path.write_bytes(path.read_bytes()[:-4])
    m = manifest.read_manifest(published)
    m["files"]["stsb/adapter.safetensors"] = {"sha256": manifest.sha256_file(path), "size": path.stat().st_size}
    manifest.write_manifest(published, m)
    with pytest.raises(HubError, match=r"stsb/adapter.safetensors is truncated: tensor 'w' ends at byte 48"):
        hub.pull(str(published))
    assert cache_is_clean("m")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: b[:6], "no header"),
    (lambda b: b[:20], "its header needs"),
    (lambda b: b + b"\0", "1 bytes after its last tensor"),
    (lambda b: b[:8] + b"{" * (len(b) - 8), "not JSON"),
])
def test_safetensors_check_names_each_kind_of_damage(tmp_path: Path, damage: Any, message: str) -> None:
    from adapterx.hub.weights import check_safetensors

    path = tmp_path / "w.safetensors"
    save_file({"w": np.zeros((4, 3), np.float32), "b": np.zeros(2, np.int64)}, str(path))
    check_safetensors(path, "w")  # whole: fine
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(HubError, match=message):
        check_safetensors(path, "w")


def test_the_cache_is_keyed_by_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapterx.hub import hf
    from adapterx.hub.resolve import hf_cache_dir

    ref = ids.parse_hf("hf:org/m")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hf.endpoint_of() == "https://huggingface.co"
    hub_dir = hf_cache_dir(ref, hf.endpoint_of())
    assert hub_dir == cache_root() / "hf/org/m"  # the Hub's copies where earlier versions put them
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:8090/")
    a, b = hf_cache_dir(ref, hf.endpoint_of()), hf_cache_dir(ref, "http://127.0.0.1:8091")
    assert len({hub_dir, a, b}) == 3 and a.parts[-4] == "hf-mirror"
    assert a.parts[-3].startswith("127.0.0.1-8090-")


def test_offline_pull_serves_the_cached_copy_and_names_what_is_missing(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub(tmp_path / "remote")
    fake.install(monkeypatch)
    res = hub.push(make_run(tmp_path), "hf:me", revision="v1")
    pulled = hub.pull(res.id)
    commit = fake.commits["me/stsb-adapter-xlm-roberta-base"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake.commits.clear()  # the server is gone: only the cache can answer
    assert hub.pull(res.id) == pulled  # by the tag it was pulled as
    assert hub.pull(f"hf:me/stsb-adapter-xlm-roberta-base@{commit}") == pulled
    assert hub.resolve_module(res.id) == pulled
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set and no copy of it is in the cache"):
        hub.pull("hf:me/stsb-adapter-xlm-roberta-base@v2")
    (pulled / "module/stsb/adapter.safetensors").write_bytes(b"x")  # damaged: named, not silently used
    with pytest.raises(HubError, match="adapter.safetensors is truncated"):
        hub.pull(res.id)


def test_a_server_without_a_models_listing_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def list_models(self_api: Any, **kw: Any) -> Any:
        yield from ()
        json.loads("")  # what an empty response body gives

    monkeypatch.setattr(huggingface_hub.HfApi, "list_models", list_models)
    with pytest.raises(HubError, match=r"cannot search http://127.0.0.1:9: the server has no models listing"):
        hub.search("hf", endpoint="http://127.0.0.1:9")
