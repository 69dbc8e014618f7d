"""LT-SFT (``--method sft``): the mask is the K weights that moved most in the dense phase; only they (and the head)
train in phase 2; the module is a sparse difference of K values; differences compose by addition (stack, language
SFTs); bad input fails in one line before anything trains."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli

from adapterx.data import synthetic
from adapterx.engine.loop import TrainConfig, train
from adapterx.methods import SFTSpec, build_module, load_module, sft_backend
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for

FAST = ["--model", "tiny", "--max-steps", "6", "--batch-size", "8", "-q"]


def _stsb_features(tok, n: int = 32):
    task = get_task("stsb")
    ops = ops_for(task.kind)
    feats = ops.featurize(task, synthetic.generate(task.synthetic, "en", "train")[:n], tok, 64, 32, train=True)
    return task, feats, (lambda items: ops.collate(items, tok.pad_token_id))


def _pretrained(tiny):
    from transformers import AutoModel

    return dict(AutoModel.from_pretrained(tiny.path, add_pooling_layer=False).named_parameters())


def test_the_mask_is_the_k_weights_that_moved_most_and_the_head_is_reset(tiny):
    module = build_module(SFTSpec(k=4), tiny, get_task("stsb"), seed=0)
    head0 = {n: p.detach().clone() for n, p in sft_backend.head_params(module.model).items()}
    # A stand-in for phase 1: move four known entries far (two of them negatively), many others a little.
    planted = {"encoder.layer.0.attention.self.query.weight": [3, 77], "encoder.layer.1.output.dense.bias": [5],
               "embeddings.word_embeddings.weight": [1000]}

    def fake_phase1(cfg, ckpt):  # noqa: ANN001, ANN202
        dense = module.model
        params = dict(dense.base_model.named_parameters())
        assert all(params[n].requires_grad for n in planted), "phase 1 trains the eligible weights densely"
        assert not any(p.requires_grad for n, p in params.items() if "LayerNorm" in n), "LayerNorm is not eligible"
        with torch.no_grad():
            params["encoder.layer.0.output.dense.weight"].view(-1)[:50] += 0.1
            for i, (name, idx) in enumerate(planted.items()):
                params[name].view(-1)[idx] += -2.0 if i % 2 else 1.0
            for p in sft_backend.head_params(dense).values():
                p.add_(5.0)  # the head moves too, and must come back
        from adapterx.engine.loop import TrainResult

        return TrainResult(best_step=1, best_dev={"x": 1.0}, selection_metric="x")

    prelude = module.hooks.prelude
    prelude(fake_phase1, TrainConfig(max_steps=2), None)
    mask = {n: d.idx.tolist() for n, d in sft_backend._deltas(module.model).items() if d.idx.numel()}
    assert mask == {n: sorted(i) for n, i in planted.items()}
    trainable = {n: p.numel() for n, p in module.model.named_parameters() if p.requires_grad}
    assert sum(v for n, v in trainable.items() if "sft_delta" in n) == 4
    assert all("sft_delta" in n or not n.startswith("roberta.") for n in trainable), "only the mask and the head train"
    for n, p in sft_backend.head_params(module.model).items():
        assert torch.equal(p, head0[n]), "the lottery-ticket reset puts the head back to its initialisation"
    pre = _pretrained(tiny)
    for n, p in sft_backend.eligible(module.model, module.method).items():
        assert torch.equal(p, pre[n]), f"{n}: the reset leaves the pretrained weights"


def test_phase_two_changes_exactly_the_k_masked_weights(tiny, tiny_tokenizer):
    task, feats, collate = _stsb_features(tiny_tokenizer)
    module = build_module(SFTSpec(k=300), tiny, task, seed=0)
    assert (module.state.k, module.state.eligible) == (300, sft_backend.eligible_count(tiny, SFTSpec()))
    res = train(module, feats, collate, lambda: {"x": 0.0}, "x", TrainConfig(lr=1e-2, batch_size=8, max_steps=3, seed=0))
    assert res.steps == 3 and module.parameter_counts()["trainable"] == 300 + sum(
        p.numel() for p in sft_backend.head_params(module.model).values())
    mask = {n: set(d.idx.tolist()) for n, d in sft_backend._deltas(module.model).items()}
    module.for_inference()  # the difference folded into the weights
    pre = _pretrained(tiny)
    changed = 0
    for n, p in module.model.base_model.named_parameters():
        moved = set(torch.nonzero((p.detach() != pre[n]).reshape(-1)).reshape(-1).tolist())
        assert moved <= mask.get(n, set()), f"{n} changed outside the mask"
        changed += len(moved)
    assert 0 < changed <= 300


def test_a_killed_run_resumes_in_phase_two_with_its_mask(tiny, tiny_tokenizer, tmp_path):
    task, feats, collate = _stsb_features(tiny_tokenizer)
    cfg = TrainConfig(lr=1e-2, batch_size=8, max_steps=6, eval_steps=2, seed=0)
    straight = build_module(SFTSpec(k=200), tiny, task, seed=0)
    train(straight, feats, collate, lambda: {"x": 0.0}, "x", cfg)

    ckpt = tmp_path / "ckpt" / "checkpoint.pt"
    calls = []

    def crash_on_the_third_eval():  # noqa: ANN202 - phase 1's one evaluation, then phase 2's at step 2, then 4
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return {"x": 0.0}

    killed = build_module(SFTSpec(k=200), tiny, task, seed=0)
    with pytest.raises(KeyboardInterrupt):
        train(killed, feats, collate, crash_on_the_third_eval, "x", cfg, checkpoint=ckpt)
    assert (ckpt.parent / "sft-mask.safetensors").is_file()
    again = build_module(SFTSpec(k=200), tiny, task, seed=0)
    res = train(again, feats, collate, lambda: {"x": 0.0}, "x", cfg, checkpoint=ckpt, resume=True)
    assert res.resumed_from_step == 2
    a, b = sft_backend.trained_diff(straight), sft_backend.trained_diff(again)
    assert a.keys() == b.keys()
    for n in a:
        assert torch.equal(a[n][0], b[n][0]) and torch.equal(a[n][1], b[n][1])


def test_train_intermediate_writes_a_sparse_difference_and_reports_its_size(tmp_path):
    out = tmp_path / "stsb"
    res = run_cli("train-intermediate", "stsb", "--method", "sft", "--sft-k", "2000", *FAST, "--output", str(out))
    assert res.exit_code == 0, res.stderr
    run = json.loads((out / "run.json").read_text())
    info = run["sft"]
    assert run["method"]["name"] == "sft" and info["k"] == 2000 and "phase1_dev" in info
    stored = (out / "module" / "sft.safetensors").stat().st_size
    assert info["stored_bytes"] == stored and 8 * 2000 < stored < 8 * 2000 + 8192, "K indices and values, no more"
    assert stored * 20 < info["dense_bytes"] == 4 * info["eligible"]
    diff = sft_backend.read_diff(out / "module" / "sft.safetensors")
    assert sum(len(i) for i, _ in diff.values()) == 2000
    assert run["wall_time_s"] < 120
    shown = run_cli("train-intermediate", "stsb", "--method", "sft", "--sft-k", "2000", *FAST[:-1],
                    "--output", str(tmp_path / "again"))
    assert "sparse difference" in shown.stdout and "stored size" in shown.stdout


def test_stack_adds_the_target_difference_to_the_intermediate_one(tmp_path, tiny):
    out = tmp_path / "xnli"
    res = run_cli("stack", "stsb", "xnli", "--method", "sft", "--sft-k", "1500", *FAST, "--intermediate-steps", "4",
                  "--langs", "en,sw,de", "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["run"]["composition"]["kind"] == "sum" and body["run"]["chain"] == ["stsb", "xnli"]
    mod = out / "module"
    assert (mod / "intermediates" / "stsb" / "sft.safetensors").is_file() and (mod / "sft.safetensors").is_file()
    # The module holds both differences: reloaded (in a fresh `eval`), the scores are the run's.
    again = run_cli("eval", "xnli", "--module", str(out), "--langs", "en,sw,de", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["scores"] == body["metrics"]["eval"]["xnli"]["scores"]
    # Addition of differences: the loaded weights are the backbone plus the intermediate's plus the target's.
    module = load_module(mod, tiny)
    pre = _pretrained(tiny)
    total = {}
    for diff in [*sft_backend.chain_of(mod / "intermediates" / "stsb"), sft_backend.read_diff(mod / "sft.safetensors")]:
        for n, (idx, val) in diff.items():
            t = total.setdefault(n, pre[n].detach().clone().reshape(-1))
            t.index_add_(0, idx, val)
    for n, p in module.model.base_model.named_parameters():
        expect = total[n].view_as(p) if n in total else pre[n]
        assert torch.equal(p.detach(), expect), n

    # A stacked SFT is itself an intermediate: its differences (STS-B's, then XNLI's) go under the next target.
    top = tmp_path / "pawsx"
    res = run_cli("stack", str(out), "pawsx", "--method", "sft", "--sft-k", "1500", *FAST, "--langs", "en,de",
                  "--output", str(top), "--json")
    assert res.exit_code == 0, res.stderr
    assert (top / "module" / "intermediates" / "xnli" / "intermediates" / "stsb" / "sft.safetensors").is_file()
    assert len(sft_backend.chain_of(top / "module")) == 3
    again = run_cli("eval", "pawsx", "--module", str(top), "--langs", "en,de", "--json")
    assert json.loads(again.stdout)["scores"] == json.loads(res.stdout)["metrics"]["eval"]["pawsx"]["scores"]


@pytest.fixture(scope="module")
def lang_sfts(tmp_path_factory):
    root = tmp_path_factory.mktemp("lang-sft")
    for code in ("en", "sw"):
        res = run_cli("train-language", code, "--method", "sft", "--sft-k", "3000", "--model", "tiny", "--max-steps", "6",
                      "--lr", "3e-3", "--batch-size", "8", "--output", str(root / code), "--json", "-q")
        assert res.exit_code == 0, res.stderr
    return root


def test_language_sft_is_a_difference_of_the_body(lang_sfts):
    run = json.loads((lang_sfts / "sw" / "run.json").read_text())
    assert run["task"] == "mlm" and run["language"] == "sw" and run["method"]["name"] == "sft"
    assert run["sft"]["k"] == 3000 and run["sft"]["stored_bytes"] < 8 * 3000 + 8192
    diff = sft_backend.read_diff(lang_sfts / "sw" / "module" / "sft.safetensors")
    assert sum(len(i) for i, _ in diff.values()) == 3000
    assert not any(n.startswith("lm_head") or "LayerNorm" in n for n in diff), "the MLM head is not part of it"
    assert not (lang_sfts / "sw" / "module" / "head.safetensors").exists()
    assert "mlm_accuracy" in json.loads((lang_sfts / "sw" / "metrics.json").read_text())["dev"]


def test_language_sft_plus_task_sft_swaps_the_language_per_evaluation(lang_sfts, tmp_path, tiny):
    out = tmp_path / "lt-sft"
    res = run_cli("stack", "stsb", "xnli", "--method", "sft", "--sft-k", "1500", *FAST, "--intermediate-steps", "3",
                  "--langs", "en,sw,de", "--lang-adapters", f"en={lang_sfts / 'en'},sw={lang_sfts / 'sw'}",
                  "--output", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert "own for en, sw; English's for de" in body["metrics"]["eval"]["xnli"]["notes"][0]
    assert set(body["run"]["composition"]["language_adapters"]) == {"en", "sw"}
    assert (out / "module" / "languages" / "sw" / "sft.safetensors").is_file()
    again = run_cli("eval", "xnli", "--module", str(out), "--langs", "en,sw,de", "--json")
    assert json.loads(again.stdout)["scores"] == body["metrics"]["eval"]["xnli"]["scores"]

    from adapterx.backbone import load_tokenizer

    module = load_module(out / "module", tiny).for_inference()
    tok = load_tokenizer(tiny)
    ex = synthetic.nli("sw", 4)
    batch = tok([e.text_a for e in ex], [e.text_b for e in ex], return_tensors="pt", padding=True)
    outs = {}
    for code in ("en", "sw", "de", "en"):  # de has no SFT of its own: English's; back to en gives the same numbers
        module.hooks.switch_language(code)
        with torch.inference_mode():
            outs.setdefault(code, []).append(module.model(**batch).logits)
    assert not torch.allclose(outs["sw"][0], outs["en"][0])
    assert torch.equal(outs["de"][0], outs["en"][0]) and torch.equal(outs["en"][0], outs["en"][1])


def test_retrieve_with_an_sft_module(tmp_path):
    out = tmp_path / "stsb"
    assert run_cli("train-intermediate", "stsb", "--method", "sft", "--sft-k", "2000", *FAST,
                   "--output", str(out)).exit_code == 0
    res = run_cli("retrieve", "tatoeba", "--module", str(out), "--data", "synthetic", "--synthetic-size", "50",
                  "--langs", "de,sw", "--json")
    assert res.exit_code == 0, res.stderr
    ev = json.loads(res.stdout)
    assert ev["method"] == "sft" and set(ev["scores"]) == {"de", "sw"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train-intermediate", "stsb", "--method", "sft", "--sft-k", "100000000"], "larger than the"),
        (["train-target", "xnli", "--method", "sft", "--lora-rank", "4"], "--lora-rank applies to --method lora"),
        (["train-intermediate", "stsb", "--method", "lora", "--sft-k", "10"], "--sft-k applies to --method sft"),
        (["train-intermediate", "stsb", "--method", "sft", "--sft-k", "0"], "--sft-k: Input should be greater"),
        (["stack", "stsb", "xnli", "--method", "sft", "--sft-k", "100000000"], "larger than the"),
        (["stack", "stsb", "xnli", "--method", "sft", "--reduction-factor", "4"], "--reduction-factor applies to"),
        (["fuse", "stsb", "mnli", "--target", "xnli", "--method", "sft"], "fuse is not available for --method sft"),
        (["train-intermediate", "stsb", "mnli", "--method", "sft"], "multi-task training (one module, a head per task) is not available for --method sft"),
        (["train-language", "sw", "--method", "sft", "--reduction-factor", "4"], "--reduction-factor applies to"),
        (["train-language", "sw", "--method", "lora"], "a MAD-X adapter (adapter) or a language SFT (sft)"),
        (["train-language", "sw", "--method", "sft", "--sft-k", "100000000"], "larger than the"),
    ],
)
def test_bad_input_fails_in_one_line_before_training(args, needle, tmp_path):
    res = run_cli(*args, "--model", "tiny", "--max-steps", "2", "--output", str(tmp_path / "o"))
    assert res.exit_code == 2, res.stdout
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not list(tmp_path.iterdir()), "nothing may be trained or written"


def test_language_sfts_of_another_method_are_refused(lang_sfts, tmp_path):
    madx = tmp_path / "madx-en"
    assert run_cli("train-language", "en", "--model", "tiny", "--max-steps", "2", "--output", str(madx), "-q").exit_code == 0
    res = run_cli("stack", "stsb", "xnli", "--method", "sft", "--model", "tiny", "--lang-adapters",
                  f"en={madx},sw={lang_sfts / 'sw'}", "--output", str(tmp_path / "o"))
    assert res.exit_code == 2 and "was trained with --method adapter" in res.stderr
    assert not (tmp_path / "o").exists()


def test_recipe_method_fields_are_checked():
    from adapterx.errors import ConfigError
    from adapterx.methods.spec import parse_method

    assert parse_method({"name": "sft", "k": 5000, "phase1": 0.5}) == SFTSpec(k=5000, phase1=0.5)
    with pytest.raises(ConfigError, match=r"method\.k: Input should be greater than or equal to 1"):
        parse_method({"name": "sft", "k": 0})
    with pytest.raises(ConfigError, match=r"method\.rank: not an option of method 'sft' \(options: density, embeddings, k"):
        parse_method({"name": "sft", "rank": 4})


def test_a_grid_cell_runs_sft_with_an_intermediate(tmp_path):
    """A recipe cell (adapterx.grid.run_cell.run_cell) with method sft: the intermediate trains, the target is stacked
    on it ("continue" = sum of differences), and the cell reports both stages' trainable weights."""
    from pathlib import Path

    from adapterx.grid.run_cell import run_cell
    from adapterx.grid.recipe import expand, load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "smoke-tiny.yaml")
    cell = next(c for c in expand(recipe) if c["intermediate"] == ["stsb"] and c["target"] == "xnli")
    cell["method"] = {"name": "sft", "label": "sft", "transfer": "continue", "config": {"k": 1000}}
    for stage in [*cell["training"]["intermediate"], cell["training"]["target"]]:
        stage.update(max_steps=4, lr=1e-3)
    cell["eval"]["languages"] = ["en", "sw"]
    out = run_cell(cell, tmp_path / "cells" / "x")
    run = json.loads((Path(out["run_dir"]) / "run.json").read_text())
    assert run["method"]["name"] == "sft" and run["composition"]["kind"] == "sum" and run["sft"]["k"] == 1000
    assert set(out["eval"]["scores"]) == {"en", "sw"}
    head = run["params"]["trainable"] - 1000
    assert out["trainable_params"] > 2000 + head  # the intermediate's K (and head) counted too
