"""The hub end to end with really trained modules (issue "Sharing modules on a hub").

STS-B modules trained on the tiny backbone (adapter and LoRA) go through ``push --to FOLDER`` -> ``hub search`` ->
``pull`` -> ``stack stsb tydiqa --module stsb=<hub id>``; the pulled copies load in plain ``adapters`` / ``peft`` in
a fresh interpreter that cannot import adapterx, and predict exactly what adapterx's own ``load_module`` predicts.
A pushed *stack* run dir loads with plain ``load_adapter_setup``. Every refusal (tampered or truncated file, pickle
without --trust-pickle, ``..`` in a name) is one line on stderr, exit 2, and leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import run_cli

from adapterx.hub.resolve import cache_root
from adapterx.engine.rundir import tree_sha256

TRAIN = ["--model", "tiny", "--max-steps", "4", "--batch-size", "8", "-q"]
PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar."),
    ("The cat sleeps on the sofa.", "Stock markets fell sharply today."),
    ("hello world", "hi there, world"),
]
QA = [
    ("Where does the cat sleep?", "The cat sleeps on the sofa in the living room every afternoon."),
    ("Who plays the guitar?", "A man plays the guitar while his friend sings an old song."),
]
ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One torch thread here and in the subprocesses: on 2 shared cores, two spinning OpenMP threads per process
    make these tiny models several times slower (the recipe grid: 80 s against 22 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

# Runs in a fresh interpreter: only torch / transformers / adapters / peft, never adapterx (its import is blocked).
PLAIN = r'''
import json, sys
sys.modules["adapterx"] = None  # any `import adapterx...` now raises ImportError
spec = json.loads(sys.argv[1])
import torch
from transformers import AutoTokenizer

base = spec["base"]
tok = AutoTokenizer.from_pretrained(base)


def encode(pairs):
    return tok([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=64, padding=True,
               return_tensors="pt")


def load(job):
    kind, path = job["kind"], job.get("path")
    if kind == "adapter":
        from adapters import AutoAdapterModel
        model = AutoAdapterModel.from_pretrained(base)
        model.load_adapter(path, use_safetensors=True, set_active=True)
        return model
    if kind == "setup":
        from adapters import AutoAdapterModel
        model = AutoAdapterModel.from_pretrained(base)
        model.load_adapter_setup(path, set_active=True, use_safetensors=True)
        return model
    if kind == "lora":
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification
        return PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, num_labels=1), path)
    if kind == "card":  # the "How to use" snippet of the published README.md, run as written (base id -> folder)
        ns = {}
        exec(job["code"].replace('"tiny"', json.dumps(base)), ns)
        return ns["model"]
    raise ValueError(kind)


out = {}
for job in spec["jobs"]:
    model = load(job).eval()
    batch = encode(job["pairs"])
    with torch.no_grad():
        res = model(**batch)
    out[job["name"]] = {"input_ids": batch["input_ids"].tolist(),
                        **{k: getattr(res, k).tolist() for k in ("logits", "start_logits", "end_logits")
                           if getattr(res, k, None) is not None}}
out["_imported"] = sorted(m for m in sys.modules
                         if m.split(".")[0] in ("adapterx", "cli") and sys.modules[m] is not None)
print(json.dumps(out))
'''


def _one_line_error(res: Any, *needles: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _tree(root: Path) -> set[str]:
    """Every path below ``root`` (files and folders), relative; the empty ``.tmp`` parent of downloads left out."""
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} - {".tmp"}


def _snapshot(*roots: Path) -> dict[str, set[str]]:
    return {str(r): _tree(r) for r in roots}


def _no_download_in_flight() -> None:
    tmp = cache_root() / ".tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), list(tmp.iterdir())


def _card_snippet(repo: Path) -> str:
    card = (repo / "README.md").read_text(encoding="utf-8")
    body = card.split("With plain", 1)[1]
    return body.split("```python\n", 1)[1].split("\n```", 1)[0]


def _adapterx_outputs(module_dir: Path, tiny, tok, pairs) -> dict[str, Any]:  # noqa: ANN001
    import torch

    from adapterx.methods import load_module

    module = load_module(module_dir, tiny)
    model = module.model.eval()
    batch = tok([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=64, padding=True,
                return_tensors="pt")
    with torch.no_grad():
        res = model(**batch)
    return {"input_ids": batch["input_ids"].tolist(),
            **{k: getattr(res, k) for k in ("logits", "start_logits", "end_logits")
               if getattr(res, k, None) is not None}}


def _assert_same(plain: dict[str, Any], ours: dict[str, Any]) -> None:
    import torch

    assert plain["input_ids"] == ours["input_ids"], "plain and adapterx tokenized differently"
    keys = sorted(k for k in ours if k != "input_ids")
    assert keys and keys == sorted(k for k in plain if k != "input_ids")
    for k in keys:
        got = torch.tensor(plain[k])
        assert got.shape == ours[k].shape, k
        assert torch.allclose(got, ours[k].float(), atol=ATOL, rtol=0), (k, got, ours[k])


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny) -> SimpleNamespace:  # noqa: ANN001
    """STS-B adapter and LoRA modules trained by the CLI, pushed to a folder hub, found and pulled; then a TyDiQA
    module stacked on each through its hub id, and the adapter stack pushed and pulled too."""
    root = tmp_path_factory.mktemp("hub-e2e")
    hub = root / "hub"
    w = SimpleNamespace(root=root, hub=hub, runs={}, ids={}, pulled={}, stacks={})
    for method in ("adapter", "lora"):
        out = root / f"stsb-{method}"
        res = run_cli("train-intermediate", "stsb", "--method", method, *TRAIN, "--output", str(out))
        assert res.exit_code == 0, res.stderr
        w.runs[method] = out
        res = run_cli("push", str(out), "--to", str(hub))
        assert res.exit_code == 0, res.stderr
        w.ids[method] = res.stdout.strip()
    res = run_cli("hub", "search", "--hub", str(hub), "--task", "stsb", "--json")
    assert res.exit_code == 0, res.stderr
    w.search = json.loads(res.stdout)
    for method, ident in w.ids.items():
        res = run_cli("pull", ident)
        assert res.exit_code == 0, res.stderr
        w.pulled[method] = Path(res.stdout.strip())
    for method in ("adapter", "lora"):
        out = root / f"tydiqa-on-{method}"
        res = run_cli("stack", "stsb", "tydiqa", "--module", f"stsb={w.ids[method]}", "--method", method, *TRAIN,
                      "--langs", "en,sw", "--output", str(out), "--json")
        assert res.exit_code == 0, res.stderr
        w.stacks[method] = (out, json.loads(res.stdout))
    out = root / "tydiqa-on-lora-merge"
    res = run_cli("stack", "stsb", "tydiqa", "--module", f"stsb={w.ids['lora']}", "--method", "lora", "--lora-mode",
                  "merge", *TRAIN, "--langs", "en", "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    w.stacks["lora-merge"] = (out, json.loads(res.stdout))
    # Compositions are published too: the adapter Stack, the LoRA sum and the LoRA merge.
    for name, run_dir in (("stack", w.stacks["adapter"][0]), ("lora-stack", w.stacks["lora"][0]),
                          ("lora-merge", out)):
        res = run_cli("push", str(run_dir), "--to", str(hub), "--name", f"tydiqa-{name}")
        assert res.exit_code == 0, res.stderr
        w.ids[name] = res.stdout.strip()
        res = run_cli("pull", w.ids[name])
        assert res.exit_code == 0, res.stderr
        w.pulled[name] = Path(res.stdout.strip())
    return w


@pytest.fixture(scope="module")
def plain(world: SimpleNamespace, tiny) -> dict[str, Any]:  # noqa: ANN001
    """Predictions of the pulled copies (and of the published cards' snippets) in plain adapters / peft, computed in
    one fresh interpreter that cannot import adapterx."""
    jobs = [
        {"name": "adapter", "kind": "adapter", "path": str(world.pulled["adapter"] / "module"), "pairs": PAIRS},
        {"name": "lora", "kind": "lora", "path": str(world.pulled["lora"] / "module"), "pairs": PAIRS},
        {"name": "stack", "kind": "setup", "path": str(world.pulled["stack"] / "module"), "pairs": QA},
    ]
    for name, pairs in (("adapter", PAIRS), ("lora", PAIRS), ("stack", QA), ("lora-stack", QA), ("lora-merge", QA)):
        jobs.append({"name": f"card-{name}", "kind": "card", "code": _card_snippet(Path(world.ids[name])),
                     "pairs": pairs})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps({"base": tiny.path, "jobs": jobs})],
                          cwd=world.root, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- round trip


def test_search_finds_the_pushed_modules_and_pull_gives_the_same_bytes(world: SimpleNamespace, tiny) -> None:  # noqa: ANN001
    found = {m["id"]: m for m in world.search["modules"]}
    assert set(found) == {world.ids["adapter"], world.ids["lora"]} and world.search["count"] == 2
    assert found[world.ids["adapter"]]["library_name"] == "adapters"
    assert found[world.ids["lora"]]["library_name"] == "peft"
    for method in ("adapter", "lora"):
        entry = found[world.ids[method]]
        assert entry["method"] == method and entry["task"] == "stsb" and entry["base_model"] == "tiny"
        assert set(entry["dev"]) == {"pearson", "spearman"}
        pulled = world.pulled[method]
        assert pulled.is_dir() and pulled.resolve().is_relative_to(cache_root().resolve())
        # The weights are the trained bytes; the libraries' config files name the backbone by its public name
        # instead of the local folder it was loaded from (nothing published carries a local path).
        original = world.runs[method] / "module"
        weights = sorted(p.relative_to(original) for p in original.rglob("*.safetensors"))
        assert weights and all((pulled / "module" / w).read_bytes() == (original / w).read_bytes() for w in weights)
        local = str(Path(tiny.path).parent)
        assert local in "".join(p.read_text(errors="replace") for p in original.rglob("*.json"))
        for f in pulled.rglob("*"):
            if f.is_file() and f.suffix in (".json", ".md"):
                assert local not in f.read_text(encoding="utf-8"), f
        from adapterx.hub.folder import redact_local_paths

        # what was published: the run record less its local paths (the tiny model's cache folder here)
        published = redact_local_paths(json.loads((world.runs[method] / "run.json").read_text()))
        assert published["backbone"]["path"].startswith("<local>/")
        assert json.loads((pulled / "run.json").read_text()) == published
        assert (pulled / "README.md").is_file() and (pulled / "manifest.json").is_file()
    # A stack is found by its target, by the intermediate of its chain, and by its composition kind.
    composed = sorted(world.ids[n] for n in ("stack", "lora-stack", "lora-merge"))
    for args, want in ((["--task", "tydiqa"], composed), (["--method", "stack"], [world.ids["stack"]]),
                       (["--method", "sum"], [world.ids["lora-stack"]]), (["--method", "merge"], [world.ids["lora-merge"]])):
        res = run_cli("hub", "search", "--hub", str(world.hub), *args, "--json")
        assert sorted(m["id"] for m in json.loads(res.stdout)["modules"]) == want, args
    res = run_cli("hub", "search", "--hub", str(world.hub), "--task", "stsb", "--json")
    assert json.loads(res.stdout)["count"] == 5  # the compositions' chains hold stsb


@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_stack_on_a_hub_id_records_the_published_module(world: SimpleNamespace, method: str) -> None:
    out, body = world.stacks[method]
    ev = body["metrics"]["eval"]["tydiqa"]
    assert set(ev["scores"]) == {"en", "sw"} and ev["low_resource_average"] is not None
    run = json.loads((out / "run.json").read_text())
    assert run["chain"] == ["stsb", "tydiqa"]
    assert run["composition"]["kind"] == ("stack" if method == "adapter" else "sum")
    mod = run["composition"]["modules"][0]
    assert mod["task"] == "stsb" and mod["sha256"] == tree_sha256(world.pulled[method] / "module")  # what it used


@pytest.mark.parametrize("name", ["adapter", "lora", "stack", "lora-stack", "lora-merge"])
def test_plain_libraries_predict_what_adapterx_predicts(world: SimpleNamespace, plain: dict[str, Any], tiny,
                                                       tiny_tokenizer, name: str) -> None:  # noqa: ANN001
    assert plain["_imported"] == [], "the plain loader imported adapterx"
    qa = name in ("stack", "lora-stack", "lora-merge")
    pairs = QA if qa else PAIRS
    ours = _adapterx_outputs(world.pulled[name] / "module", tiny, tiny_tokenizer, pairs)
    if name in plain:
        _assert_same(plain[name], ours)
    _assert_same(plain[f"card-{name}"], ours)  # the card's snippet, as published, loads the same module
    if qa:
        assert set(ours) == {"input_ids", "start_logits", "end_logits"}
    else:
        assert ours["logits"].shape == (len(PAIRS), 1)  # the STS-B regression head came along
    # Loading the original run dir in adapterx gives the same predictions as its pulled copy.
    original = {"stack": world.stacks["adapter"][0], "lora-stack": world.stacks["lora"][0],
                "lora-merge": world.stacks["lora-merge"][0]}.get(name) or world.runs[name]
    again = _adapterx_outputs(original / "module", tiny, tiny_tokenizer, pairs)
    for k in ours:
        if k != "input_ids":
            assert (again[k] == ours[k]).all(), k


# --------------------------------------------------------------------------------------------------- refusals


@pytest.fixture
def fresh_hub(world: SimpleNamespace, tmp_path: Path) -> SimpleNamespace:
    """The adapter run pushed to a hub of its own (so no earlier verified copy of it is in the cache)."""
    hub = tmp_path / "hub2"
    res = run_cli("push", str(world.runs["adapter"]), "--to", str(hub))
    assert res.exit_code == 0, res.stderr
    ident = res.stdout.strip()
    return SimpleNamespace(hub=hub, id=ident, repo=Path(ident), tmp=tmp_path)


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "tampered":
        data[len(data) // 2] ^= 0x01  # one bit, size unchanged
    else:
        del data[-7:]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("how", "needle"), [("tampered", "does not match its sha256"), ("truncated", "is truncated")])
def test_damaged_file_after_push_fails_pull_and_leaves_nothing(fresh_hub: SimpleNamespace, how: str,
                                                               needle: str) -> None:
    _damage(fresh_hub.repo / "adapter.safetensors", how)  # a published repository holds the module at its root
    before = _snapshot(cache_root(), fresh_hub.hub)
    for args in (["pull", fresh_hub.id], ["pull", fresh_hub.id, "--json"]):
        res = run_cli(*args)
        _one_line_error(res, ": adapter.safetensors", needle)
        assert res.stdout == ""
    assert _snapshot(cache_root(), fresh_hub.hub) == before
    _no_download_in_flight()


def test_stack_refuses_a_tampered_hub_module(fresh_hub: SimpleNamespace) -> None:
    _damage(fresh_hub.repo / "adapter.safetensors", "tampered")
    out = fresh_hub.tmp / "stack"
    res = run_cli("stack", "stsb", "tydiqa", "--module", f"stsb={fresh_hub.id}", "--model", "tiny", "--max-steps", "1",
                  "--langs", "en", "-q", "--output", str(out))
    assert not out.exists()
    _one_line_error(res, ": adapter.safetensors", "sha256")


def test_pickle_file_needs_trust_pickle_on_push_and_on_pull(world: SimpleNamespace, tmp_path: Path) -> None:
    run = tmp_path / "run-with-pickle"
    shutil.copytree(world.runs["adapter"], run)
    (run / "module" / "extra_state.bin").write_bytes(b"\x80\x04N.")  # a pickle of None
    hub = tmp_path / "hub"
    res = run_cli("push", str(run), "--to", str(hub))
    _one_line_error(res, "module/extra_state.bin", "--trust-pickle")
    assert not hub.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["run-with-pickle"]
    res = run_cli("push", str(run), "--to", str(hub), "--trust-pickle")
    assert res.exit_code == 0, res.stderr
    ident = res.stdout.strip()
    before = _snapshot(cache_root(), hub)
    res = run_cli("pull", ident)
    _one_line_error(res, "'extra_state.bin'", "--trust-pickle")  # its name in the published repository
    assert _snapshot(cache_root(), hub) == before
    _no_download_in_flight()
    res = run_cli("pull", ident, "--trust-pickle")
    assert res.exit_code == 0, res.stderr
    assert (Path(res.stdout.strip()) / "module" / "extra_state.bin").is_file()


@pytest.mark.parametrize("name", ["../evil", "..", "a/../../evil", "/tmp/evil", "..evil"])
def test_dot_dot_in_a_repository_name_is_refused(fresh_hub: SimpleNamespace, world: SimpleNamespace, name: str) -> None:
    before = _snapshot(fresh_hub.tmp, cache_root())
    res = run_cli("push", str(world.runs["adapter"]), "--to", str(fresh_hub.hub), "--name", name)
    _one_line_error(res, "unsafe")
    res = run_cli("push", str(world.runs["adapter"]), "--to", str(fresh_hub.hub), "--name", name, "--dry-run")
    _one_line_error(res, "unsafe")
    assert _snapshot(fresh_hub.tmp, cache_root()) == before
    assert not Path("/tmp/evil").exists() and not (fresh_hub.tmp / "evil").exists()


def test_dot_dot_in_a_pulled_id_or_manifest_is_refused(fresh_hub: SimpleNamespace) -> None:
    before = _snapshot(fresh_hub.tmp, cache_root())
    for ident in (f"{fresh_hub.hub}/..", "hf:me/..@main", "hf:../x", f"hf:me/{fresh_hub.repo.name}@../main"):
        _one_line_error(run_cli("pull", ident), "unsafe")
    _one_line_error(run_cli("pull", f"{fresh_hub.hub}/../hub2/{fresh_hub.repo.name}/../../escape"), "not a hub id")
    # A manifest that lists a file outside its repository.
    manifest_path = fresh_hub.repo / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../../escape.txt"] = next(iter(manifest["files"].values()))
    manifest_path.write_text(json.dumps(manifest))
    (fresh_hub.tmp / "escape.txt").write_bytes(b"outside")
    before = _snapshot(fresh_hub.tmp, cache_root())
    res = run_cli("pull", fresh_hub.id)
    _one_line_error(res, "unsafe file name", "../../escape.txt")
    assert _snapshot(fresh_hub.tmp, cache_root()) == before
    _no_download_in_flight()
