"""MAD-X language adapters: train-language (MLM, frozen backbone), then stack with --lang-adapters: English's under
the target in training, each language's own at evaluation, recorded in the run and reloaded identically."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def lang_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lang")
    for code in ("en", "sw"):
        res = run_cli("train-language", code, "--model", "tiny", "--max-steps", "6", "--lr", "3e-3", "--batch-size", "8",
                      "--output", str(root / code), "--json", "-q")
        assert res.exit_code == 0, res.stderr
    return root


def test_language_adapter_trains_only_adapter_weights(lang_runs):
    run = json.loads((lang_runs / "sw" / "run.json").read_text())
    assert run["task"] == "mlm" and run["language"] == "sw" and run["method"]["config"] == "seq_bn_inv"
    assert 0 < run["params"]["trainable"] < 0.1 * run["params"]["total"]
    weights = load_file(str(lang_runs / "sw" / "module" / "adapter.safetensors"))
    assert any("invertible" in k for k in weights), "MAD-X adapters are invertible"
    assert not any("word_embeddings" in k for k in weights), "the embeddings stay frozen"
    assert "mlm_accuracy" in json.loads((lang_runs / "sw" / "metrics.json").read_text())["dev"]


def test_stack_with_language_adapters_swaps_per_language(lang_runs, tmp_path, tiny):
    out = tmp_path / "madx"
    res = run_cli("stack", "stsb", "xnli", "--model", "tiny", "--max-steps", "4", "--intermediate-steps", "3",
                  "--batch-size", "8", "--langs", "en,sw,de", "--lang-adapters",
                  f"en={lang_runs / 'en'},sw={lang_runs / 'sw'}", "--output", str(out), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert "own for en, sw; English's for de" in body["metrics"]["eval"]["xnli"]["notes"][0]
    assert set(body["run"]["composition"]["language_adapters"]) == {"en", "sw"}
    again = run_cli("eval", "xnli", "--module", str(out), "--langs", "en,sw,de", "--json")
    assert json.loads(again.stdout)["scores"] == body["metrics"]["eval"]["xnli"]["scores"]

    # The switch really changes the computation for Swahili.
    from adapterx.data import synthetic
    from adapterx.methods import load_module
    from adapterx.backbone import load_tokenizer

    module = load_module(out / "module", tiny)
    tok = load_tokenizer(tiny)
    ex = synthetic.nli("sw", 4)
    batch = tok([e.text_a for e in ex], [e.text_b for e in ex], return_tensors="pt", padding=True)
    module.model.eval()
    outs = {}
    for code in ("sw", "en"):
        module.hooks.switch_language(code)
        with torch.inference_mode():
            outs[code] = module.model(**batch).logits
    assert not torch.allclose(outs["sw"], outs["en"])


@pytest.mark.parametrize(("args", "needle"), [
    (["--method", "lora"], "compose with --method adapter"),
    (["--lang-adapters", "sw=/nonexistent"], "needs en=PATH"),
])
def test_language_adapter_errors(args, needle, tmp_path):
    extra = [] if "--lang-adapters" in args else ["--lang-adapters", "en=x,sw=y"]
    res = run_cli("stack", "stsb", "xnli", "--model", "tiny", *args, *extra, "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and needle in res.stderr
