"""The model card's "load without adapterx" lines come from the method registrations (issue 25, 2): every registered
method's card carries its ``MethodInfo.plain_load`` with the placeholders filled; a peft *merge* composition's lines
work for every peft method that merges (the config class from ``PeftConfig``, the weights filtered by the
registration's ``param_prefixes``): run as written in a fresh interpreter that cannot import adapterx, they predict
what adapterx's own ``load_module`` predicts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from string import Template

import numpy as np
import pytest
from safetensors.numpy import save_file

from adapterx import hub
from adapterx.hub import card
from adapterx.methods import catalog

# A module folder per library as its backend writes it (only the files the card inspects).
_PEFT_CONFIG = {"peft_type": "LORA", "task_type": "SEQ_CLS"}


def _run_dir(root: Path, method: str) -> Path:
    run_dir = root / method
    module = run_dir / "module"
    module.mkdir(parents=True)
    info = catalog.get(method)
    for name in info.native_files:
        data = {"config.json": {"architectures": ["XLMRobertaForSequenceClassification"]},
                "adapter_config.json": _PEFT_CONFIG if info.library == "peft" else {"config": {}, "name": "stsb"}}
        if name.endswith(".json"):
            (module / name).write_text(json.dumps(data[name]))
        else:
            save_file({"w": np.zeros(2, np.float32)}, str(module / name))
    run = {"task": "stsb", "chain": ["stsb"], "method": {"name": method}, "labels": [],
           "backbone": {"id": "FacebookAI/xlm-roberta-base"}, "data": {"source": "stsb"}}
    (run_dir / "run.json").write_text(json.dumps(run))
    return run_dir


def _snippet(text: str) -> str:
    return text.split("With plain", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]


@pytest.mark.parametrize("method", catalog.names())
def test_every_methods_card_snippet_is_its_registration(method: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    info = catalog.get(method)
    assert info.plain_load, f"{method}: no plain_load in its registration"
    run_dir = _run_dir(tmp_path, method)
    snippet = _snippet(hub.prepare_push(run_dir, "hf:me").card)
    compile(snippet, method, "exec")  # the lines are python
    # Exactly the registration's lines, its placeholders filled (module at the repository's root when published).
    filled = Template(info.plain_load).substitute(
        base="FacebookAI/xlm-roberta-base", auto_class="AutoModelForSequenceClassification",
        head_args=", num_labels=1", parts='[f"{path}/module"]')
    assert card.at_repo_root(filled.strip("\n")) in snippet
    # ... and the card reads them there: another registration's lines show up in its card.
    real = catalog.get
    mark = f"model = load_{method.replace('+', 'p')}('$base')"
    monkeypatch.setattr(catalog, "get", lambda n: dataclasses.replace(real(n), plain_load=mark))
    other = _snippet(hub.prepare_push(run_dir, "hf:me").card)
    assert other.endswith(Template(mark).substitute(base="FacebookAI/xlm-roberta-base")), other


# Runs in a fresh interpreter without adapterx: each card snippet as written (base id -> the tiny model's folder).
PLAIN = r'''
import json, sys
sys.modules["adapterx"] = None  # any `import adapterx...` now raises ImportError
import torch
from transformers import AutoTokenizer

spec = json.loads(sys.argv[1])
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(spec["base"])
batch = tok([a for a, _ in spec["pairs"]], [b for _, b in spec["pairs"]], padding=True, return_tensors="pt")
out = {}
for name, code in spec["snippets"].items():
    # the control: the same lines with a weight filter that keeps nothing (the bug: "lora_" on an (IA)^3 module)
    controls = [(name + "/none", code.replace(spec["prefixes"][name], '["no-such-prefix"]'))] if name in spec["prefixes"] else []
    for key, text in [(name, code), *controls]:
        ns = {}
        try:
            exec(text.replace('"tiny"', json.dumps(spec["base"])), ns)
        except Exception:  # noqa: BLE001 - only the control may fail (its error is the answer)
            if key == name:
                raise
            out[key] = None
            continue
        with torch.no_grad():
            res = ns["model"].eval()(**batch, output_hidden_states=True)
        out[key] = {"logits": res.logits.tolist(), "hidden": res.hidden_states[-1].tolist()}
print(json.dumps(out))
'''
PAIRS = [("A man is playing a guitar.", "A man plays the guitar."), ("hello world", "Stock markets fell today.")]
MERGERS = [m for m in catalog.names() if catalog.get(m).library == "peft" and "merge" in catalog.get(m).modes
           and m != "lora"]  # LoRA's merge card runs in test_hub_e2e.py


def _train_briefly(module, task, tok) -> None:  # noqa: ANN001
    """A few optimizer steps at a large rate: the module's weights leave their initial (no-op) values."""
    from adapterx.data import synthetic
    from adapterx.engine.loop import TrainConfig, train
    from adapterx.tasks.kinds import ops_for

    ops = ops_for(task.kind)
    feats = ops.featurize(task, synthetic.generate(task.synthetic, "en", "train")[:16], tok, 64, 32, train=True)
    cfg = TrainConfig(lr=3e-2, batch_size=8, max_steps=2, eval_steps=2, seed=0)
    train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), lambda: {"x": 0.0}, "x", cfg)


def _card_and_module(method: str, root: Path, tiny, tok, merge: bool) -> tuple[str, object]:  # noqa: ANN001
    """A ``method`` module trained briefly (with ``merge``: over an intermediate one, trained briefly and merged);
    its card snippet (the module folder as the published repository) and adapterx's own reload of it."""
    import torch

    from adapterx.methods import build_composed, build_module, load_module
    from adapterx.tasks import get_task

    task, spec = get_task("stsb"), catalog.get(method).spec(**catalog.get(method).small)
    if merge:
        inter = build_module(spec, tiny, task, seed=1)
        _train_briefly(inter, task, tok)
        with torch.no_grad():  # two steps move the tiny model's output too little to tell a module from none
            for n, p in inter.model.named_parameters():
                if p.requires_grad and any(pre in n for pre in catalog.get(method).param_prefixes):
                    p.add_(torch.randn_like(p) * 0.5)
        inter.save(root / "inter")
        module = build_composed(spec, tiny, task, [("inter", root / "inter")], "merge", seed=2)
    else:
        module = build_module(spec, tiny, task, seed=2)
    _train_briefly(module, task, tok)
    folder = root / "module"
    module.save(folder)
    files = {f"module/{p.relative_to(folder).as_posix()}": p for p in folder.rglob("*") if p.is_file()}
    run = {"task": "stsb", "chain": ["inter", "stsb"] if merge else ["stsb"], "method": {"name": method},
           "labels": [], "composition": {"kind": "merge", "modules": []} if merge else None,
           "backbone": {"id": "tiny"}}
    text = card.render_card(run, None, files, ref=str(folder))
    return _snippet(text), load_module(folder, tiny)


# Card snippets no other test runs: every peft method's merge (LoRA's runs in test_hub_e2e.py, with its sum) and the
# torch files' single modules (BitFit's biases, LT-SFT's sparse differences added by hand).
CASES = [(m, True) for m in MERGERS] + [(m, False) for m in catalog.names() if catalog.get(m).library == "torch"]


def test_card_snippets_predict_what_adapterx_loads(tmp_path: Path, tiny, tiny_tokenizer) -> None:  # noqa: ANN001
    import torch

    assert {"ia3", "adalora", "vera"} <= set(MERGERS) and {"bitfit", "sft"} <= {m for m, _ in CASES}
    snippets, prefixes, ours = {}, {}, {}
    batch = tiny_tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt")
    for method, merge in CASES:
        snippets[method], module = _card_and_module(method, tmp_path / method, tiny, tiny_tokenizer, merge)
        if merge:
            assert "PeftConfig.from_pretrained" in snippets[method] and "LoraConfig.from" not in snippets[method]
            prefixes[method] = json.dumps(list(catalog.get(method).param_prefixes))
            assert prefixes[method] in snippets[method]
        with torch.no_grad():
            res = module.for_inference().model.eval()(**batch, output_hidden_states=True)
        ours[method] = {"logits": res.logits, "hidden": res.hidden_states[-1]}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps({"base": tiny.path, "pairs": PAIRS,
                                                                    "snippets": snippets, "prefixes": prefixes})],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    for method, merge in CASES:
        for key in ("logits", "hidden"):
            got = torch.tensor(plain[method][key])
            assert got.shape == ours[method][key].shape, (method, key)
            assert torch.allclose(got, ours[method][key], atol=1e-5, rtol=0), (method, key, got, ours[method][key])
        if merge:
            # the intermediate's weights matter: a filter keeping none of them (the old "lora_" one on an (IA)^3
            # module) computes something else, or fails to load at all (VeRA's projections are among them)
            control = plain[method + "/none"]
            assert control is None or not torch.allclose(torch.tensor(control["hidden"]), ours[method]["hidden"],
                                                         atol=1e-3, rtol=0), method


def test_the_readme_shows_the_registrations_lines() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("Load a module without adapterx", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
    shown = [line.split()[2] for line in block.splitlines() if line.startswith("# --method ")]
    assert shown == ["adapter", "lora"]
    for method in shown:  # an STS-B module (regression: one output) on XLM-R
        lines = Template(catalog.get(method).plain_load).substitute(
            base="xlm-roberta-base", auto_class="AutoModelForSequenceClassification", head_args=", num_labels=1",
            parts="[]")
        assert lines in block, method
    # the methods named as loading "the same lines" do share them
    for line in block.splitlines():
        if line.startswith("# --method "):
            first, rest = line.removeprefix("# --method ").split(" ", 1)
            same = rest.split(":", 1)[0].strip("(").replace(",", " ").split()
            assert {catalog.get(m).plain_load for m in same} == {catalog.get(first).plain_load}, line
