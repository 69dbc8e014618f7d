"""The ``hf:`` path end to end against a real Hub-compatible server: olah (tests/hub_server/start-olah.sh), on
loopback, offline. Marked ``hub_server``; skipped, naming the reason, where the server cannot start.

Published the way a user would: ``adapterx push --to FOLDER``, the repository folder committed as a git repository
in olah's mirrors path (a model repo there is served as it is committed); the second commit and a tampered branch are
made here. Every reading path of adapterx then goes through the endpoint, in subprocesses (huggingface_hub reads
HF_ENDPOINT / HF_HUB_OFFLINE when imported, and this session's conftest sets HF_HUB_OFFLINE=1): pull at a tag, a
commit and the default branch into a fresh cache, offline reuse of that cache, ``stack`` and ``eval`` on a hub id,
``hub search`` / ``hub ls`` (the server has no models listing: one line says so), a tampered file served by the
server, and plain ``peft`` / ``adapters`` loading by repo id, with the server's ``cardData`` as the check that the
card's metadata parses. HF_ENDPOINT is always the local server: nothing here can reach the real Hub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import run_cli

pytestmark = pytest.mark.hub_server

SCRIPT = Path(__file__).parent / "hub_server" / "start-olah.sh"
SERVER_DIR = Path(os.environ.get("ADAPTERX_HUB_SERVER_DIR", "/tmp/adapterx-hub-server"))
OLAH_VENV = Path(os.environ.get("ADAPTERX_OLAH_VENV", Path.home() / ".cache/adapterx/olah-venv"))
TRAIN = ["--model", "tiny", "--max-steps", "2", "--batch-size", "8", "-q"]
PAIRS = [("A man is playing a guitar.", "A man plays the guitar."), ("hello world", "hi there, world")]
_ADAPTERX = Path(sys.executable).parent / "adapterx"
CLI = [str(_ADAPTERX)] if _ADAPTERX.is_file() else [sys.executable, "-m", "cli"]


def _answering() -> dict[str, Any] | None:
    """The running server's record (endpoint, mirrors path), if it answers."""
    try:
        info = json.loads((SERVER_DIR / "server.json").read_text())
        urllib.request.urlopen(info["endpoint"] + "/api/models/adapterx-probe/none/refs", timeout=3)
    except urllib.error.HTTPError:
        return info  # an HTTP answer (404 for the probe) is an answer
    except (OSError, ValueError, KeyError):
        return None
    return info


@pytest.fixture(scope="session")
def server() -> Any:
    """The server .ci/run started; else started here from an installed olah venv (never pip: no network in tests),
    and stopped at the end of the session."""
    info, started = _answering(), False
    if info is None:
        if not (OLAH_VENV / "bin" / "olah-cli").is_file():
            pytest.skip(f"no Hub-compatible server: olah is not installed in {OLAH_VENV}; run "
                        "tests/hub_server/start-olah.sh start (installs olah==0.5.4 into its own venv; .ci/run does)")
        proc = subprocess.run([str(SCRIPT), "start"], env={**os.environ, "ADAPTERX_OLAH_INSTALL": "0"},
                              capture_output=True, text=True, timeout=120, check=False)
        info = _answering()
        if proc.returncode != 0 or info is None:
            pytest.skip(f"the local olah server did not start: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        started = True
    assert info["endpoint"].startswith("http://127.0.0.1:"), info  # loopback only
    yield SimpleNamespace(endpoint=info["endpoint"], mirrors=Path(info["mirrors"]))
    if started:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=60, check=False)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def _sync(src: Path, repo: Path) -> None:
    """Make the git work tree ``repo`` hold exactly the files of the pushed folder ``src``."""
    for old in repo.iterdir():
        if old.name != ".git":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copytree(src, repo, dirs_exist_ok=True)


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def served(server: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory, tiny) -> Any:  # noqa: ANN001
    """An adapter and a LoRA STS-B module (tiny, 2 steps) pushed to a folder hub and committed to the server under
    an organization of their own: the adapter with tag v1, a second commit on main (metrics changed, pushed again),
    and a branch ``tampered`` whose weights differ from the manifest by one bit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: olah serves model repositories from git")
    root = tmp_path_factory.mktemp("hub-server")
    org = f"ax{uuid.uuid4().hex[:10]}"
    w = SimpleNamespace(root=root, org=org, endpoint=server.endpoint, runs={}, repos={}, shas={})
    folder = root / "folder-hub"
    for method in ("adapter", "lora"):
        out = root / f"stsb-{method}"
        res = run_cli("train-intermediate", "stsb", "--method", method, *TRAIN, "--output", str(out))
        assert res.exit_code == 0, res.stderr
        w.runs[method] = out
        res = run_cli("push", str(out), "--to", str(folder), "--name", method)
        assert res.exit_code == 0, res.stderr
        repo = server.mirrors / "models" / org / method
        repo.mkdir(parents=True)
        _git(repo, "init", "-q", "-b", "main")
        _sync(folder / method, repo)
        w.shas[method] = _commit(repo, f"Upload {method} with adapterx push")
        w.repos[method] = repo
    repo = w.repos["adapter"]
    _git(repo, "tag", "v1")
    w.shas["v1"] = w.shas["adapter"]
    # The second commit: the same module pushed again with other metrics (a re-evaluated run).
    second = root / "stsb-adapter-2"
    shutil.copytree(w.runs["adapter"], second)
    metrics = json.loads((second / "metrics.json").read_text())
    metrics["dev"] = {k: 0.5 for k in metrics.get("dev") or {"pearson": 0}}
    (second / "metrics.json").write_text(json.dumps(metrics))
    res = run_cli("push", str(second), "--to", str(folder), "--name", "adapter", "--overwrite")
    assert res.exit_code == 0, res.stderr
    _sync(folder / "adapter", repo)
    w.shas["main"] = _commit(repo, "Second push")
    assert w.shas["main"] != w.shas["v1"]
    _git(repo, "checkout", "-q", "-b", "tampered")
    weights = repo / "adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    w.shas["tampered"] = _commit(repo, "one bit")
    _git(repo, "checkout", "-q", "main")
    yield w
    shutil.rmtree(server.mirrors / "models" / org, ignore_errors=True)


def _env(w: SimpleNamespace, cache: Path, offline: bool = False, endpoint: bool = True) -> dict[str, str]:
    env = {**os.environ, "ADAPTERX_CACHE": str(cache), "HF_HOME": str(w.root / "hf-home"), "OMP_NUM_THREADS": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_OFFLINE": "1",
           # Deliberately online (this session's conftest sets 1): the endpoint is the local server, never the Hub.
           "HF_HUB_OFFLINE": "1" if offline else "0", "HF_ENDPOINT": w.endpoint}
    if not endpoint:  # the command names the local server with --endpoint: every call it makes goes there
        env.pop("HF_ENDPOINT")
    return env


def _cli(w: SimpleNamespace, *args: str, cache: Path, offline: bool = False,
         endpoint: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(w, cache, offline, endpoint), capture_output=True, text=True,
                          timeout=400, check=False, cwd=w.root)


def _one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _pulled(proc: subprocess.CompletedProcess[str]) -> Path:
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def test_pull_at_a_tag_a_commit_and_main_then_offline_from_the_cache(served: SimpleNamespace, tmp_path: Path) -> None:
    w, cache = served, tmp_path / "fresh-cache"
    repo = f"hf:{w.org}/adapter"
    at_tag = _pulled(_cli(w, "pull", f"{repo}@v1", cache=cache))
    at_sha = _pulled(_cli(w, "pull", f"{repo}@{w.shas['v1']}", cache=cache))
    at_main = _pulled(_cli(w, "pull", repo, cache=cache))  # no revision: the server answers only for `main`
    assert at_tag == at_sha and at_tag.name == w.shas["v1"] and at_main.name == w.shas["main"]
    # Keyed by endpoint: a mirror's copies never mix with the Hub's (hf/) or another server's.
    assert at_tag.parent.parent.parent.parent.name == "hf-mirror"
    for pulled in (at_tag, at_main):  # a pulled copy is a run dir again, recording where it came from
        assert (pulled / "module" / "adapter.safetensors").read_bytes() == \
            (w.runs["adapter"] / "module" / "adapter.safetensors").read_bytes()
        assert json.loads((pulled / "source.json").read_text())["endpoint"] == w.endpoint
    old, new = (json.loads((p / "metrics.json").read_text())["dev"] for p in (at_tag, at_main))
    assert old != new and set(new.values()) == {0.5}  # the old and the new revision, each as committed

    # Offline: the cache serves what was pulled (by commit, and by the tag through refs/); nothing else.
    assert _pulled(_cli(w, "pull", f"{repo}@{w.shas['v1']}", cache=cache, offline=True)) == at_sha
    assert _pulled(_cli(w, "pull", f"{repo}@v1", cache=cache, offline=True)) == at_tag
    _one_line(_cli(w, "pull", f"hf:{w.org}/lora", cache=cache, offline=True), "HF_HUB_OFFLINE", "no copy")
    # The endpoint can be given as a flag as well (HF_ENDPOINT unset), into another fresh cache: the same layout.
    other = tmp_path / "other-cache"
    proc = _cli(w, "pull", f"{repo}@{w.shas['v1']}", "--endpoint", w.endpoint, cache=other, endpoint=False)
    assert _pulled(proc).relative_to(other) == at_sha.relative_to(cache)


def test_a_tampered_file_served_by_the_server_is_refused_and_nothing_is_cached(served: SimpleNamespace,
                                                                                tmp_path: Path) -> None:
    w, cache = served, tmp_path / "cache"
    _one_line(_cli(w, "pull", f"hf:{w.org}/adapter@tampered", cache=cache), "adapter.safetensors", "sha256")
    assert not list(cache.rglob("*.safetensors")) and not list(cache.rglob(w.shas["tampered"]))


def test_search_and_ls_say_in_one_line_what_the_server_lacks(served: SimpleNamespace, tmp_path: Path) -> None:
    w = served
    _one_line(_cli(w, "hub", "search", "stsb", "--hub", "hf", cache=tmp_path), "no models listing", w.endpoint)
    _one_line(_cli(w, "hub", "ls", "--hub", "hf", "--endpoint", w.endpoint, cache=tmp_path, endpoint=False),
              "no models listing", "adapterx pull")


def test_stack_and_eval_on_a_hub_id(served: SimpleNamespace, tmp_path: Path) -> None:
    from adapterx.engine.rundir import tree_sha256

    w, cache = served, Path(os.environ["ADAPTERX_CACHE"])  # the session's: it holds the tiny backbone
    out = tmp_path / "stack"
    proc = _cli(w, "stack", "stsb", "tydiqa", "--module", f"stsb=hf:{w.org}/adapter@v1", "--method", "adapter",
                *TRAIN, "--langs", "en", "--output", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    module = json.loads((out / "run.json").read_text())["composition"]["modules"][0]
    used = Path(module["run"])  # the verified copy of the tag's commit, pulled from this server
    assert w.shas["v1"] in used.parts and "hf-mirror" in used.parts and module["sha256"] == tree_sha256(used)
    assert module["source"] == {"id": f"hf:{w.org}/adapter", "revision": "v1", "commit": w.shas["v1"],
                                "endpoint": w.endpoint}  # the run records the server its module came from
    assert (used / "adapter.safetensors").read_bytes() == \
        (w.runs["adapter"] / "module" / "adapter.safetensors").read_bytes()
    proc = _cli(w, "eval", "stsb", "--module", f"hf:{w.org}/lora", "--langs", "en", "--max-examples", "8",
                "--json", cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]


PLAIN = r'''
import json, sys
sys.modules["adapterx"] = None  # plain libraries only
spec = json.loads(sys.argv[1])
import torch
from huggingface_hub import HfApi
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from adapters import AutoAdapterModel
from peft import PeftModel

base, org = spec["base"], spec["org"]
tok = AutoTokenizer.from_pretrained(base)
pairs = spec["pairs"]
batch = tok([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=64, padding=True,
            return_tensors="pt")
out = {}
adapter = AutoAdapterModel.from_pretrained(base)
name = adapter.load_adapter(f"{org}/adapter", source="hf", use_safetensors=True, set_active=True)
adapter.set_active_adapters(name)
lora = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, num_labels=1), f"{org}/lora")
with torch.no_grad():
    out["adapter"] = adapter.eval()(**batch).logits.tolist()
    out["lora"] = lora.eval()(**batch).logits.tolist()
out["card_data"] = {r: HfApi().model_info(f"{org}/{r}", revision="main").card_data.to_dict() for r in ("adapter", "lora")}
print(json.dumps(out))
'''


def test_plain_libraries_load_by_repo_id_and_the_server_parses_the_card(served: SimpleNamespace, tmp_path: Path,
                                                                         tiny, tiny_tokenizer) -> None:  # noqa: ANN001
    import torch

    from adapterx.hub.card import front_matter
    from adapterx.methods import load_module

    w = served
    env = _env(w, tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps({"base": tiny.path, "org": w.org, "pairs": PAIRS})],
                          env={**env, "PYTHONPATH": ""}, capture_output=True, text=True, timeout=400, check=False,
                          cwd=w.root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    batch = tiny_tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], truncation=True, max_length=64,
                           padding=True, return_tensors="pt")
    for method in ("adapter", "lora"):
        model = load_module(w.runs[method] / "module", tiny).model.eval()
        with torch.no_grad():
            ours = model(**batch).logits
        assert torch.allclose(torch.tensor(plain[method]), ours.float(), atol=1e-5, rtol=0), method
        # the metadata as the server parsed it from README.md is what push wrote from run.json / metrics.json
        run = json.loads((w.repos[method] / "run.json").read_text())
        metrics = json.loads((w.repos[method] / "metrics.json").read_text())
        if method == "adapter":  # main: the second push's metrics
            assert metrics["dev"] and set(metrics["dev"].values()) == {0.5}
        want = json.loads(json.dumps(front_matter(run, metrics)))
        got = plain["card_data"][method]
        assert {k: got.get(k) for k in want} == want
