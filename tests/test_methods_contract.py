"""The contract every method passes: only its parameters (and the head) train; for adapter and LoRA the base is
bitwise unchanged; save, load in a fresh process, identical predictions; the saved module loads with the plain
library (no adapterx import) and predicts the same."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from adapterx.data import synthetic
from adapterx.methods import build_module, catalog, load_module
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for
from adapterx.engine.loop import TrainConfig, train


def _catalogue() -> dict[str, object]:
    """Every registered method with the options that keep it cheap on the tiny model, and each named variant
    (``houlsby``, ``dora``, ...): the suite covers a new registration without an edit here."""
    out = {}
    for name in catalog.names():
        info = catalog.get(name)
        out[name] = info.spec(**info.small)
        for variant, options in info.variants.items():
            out[variant] = info.spec(**{**info.small, **options})
    return out


METHODS = _catalogue()
# What names a method's own parameters (the head is allowed besides): its registration says.
MARKERS = {n: catalog.get(n).param_prefixes for n in catalog.names()}
# One task per kind: the contract holds for every head.
TASKS = ["stsb", "xnli", "xcopa", "tydiqa", "panx"]
HEADS = ("heads.", "classifier", "qa_outputs", "modules_to_save")


def _train_briefly(module, task, tok, steps: int = 4):
    ops = ops_for(task.kind)
    ex = synthetic.generate(task.synthetic, "en", "train")[:32]
    if task.kind == "classification":
        ex = synthetic.nli("en", 32, labels=task.labels)
    feats = ops.featurize(task, ex, tok, 64, 32, train=True)
    cfg = TrainConfig(lr=1e-2, batch_size=8, max_steps=steps, eval_steps=steps, seed=0)
    return train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), lambda: {"x": 0.0}, "x", cfg)


def _base_state(module, method: str) -> dict[str, torch.Tensor]:
    """The backbone's own weights (names without any method's parts or the head; biases count: BitFit trains them)."""
    skip = tuple(m for ms in MARKERS.values() for m in ms if m != ".bias") + HEADS
    return {k: v.detach().clone() for k, v in module.model.state_dict().items() if not any(s in k for s in skip)}


def _logits(module, task, tok, n: int = 6) -> torch.Tensor:
    ops = ops_for(task.kind)
    ex = synthetic.generate(task.synthetic, "de", "test")[:n]
    if task.kind == "classification":
        ex = synthetic.nli("de", n, labels=task.labels)
    feats = ops.featurize(task, ex, tok, 64, 32, train=False)
    items = [{k: v for k, v in it.items() if k in ("input_ids", "attention_mask")} for it in feats.items]
    batch = ops.collate(items, tok.pad_token_id)
    module.model.eval()
    with torch.inference_mode():
        out = module.model(**batch)
    return torch.cat([t.reshape(-1) for t in (out.start_logits, out.end_logits)]) if task.kind == "span_qa" else out.logits


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("task_name", TASKS)
def test_only_method_parameters_train_and_base_is_unchanged(method, task_name, tiny, tiny_tokenizer, tmp_path):
    task = get_task(task_name)
    spec = METHODS[method]
    module = build_module(spec, tiny, task, seed=0)
    trainable = [n for n, p in module.model.named_parameters() if p.requires_grad]
    if not MARKERS[spec.name]:  # every weight is the method's (full fine-tuning)
        assert len(trainable) == len(list(module.model.parameters()))
    else:
        marker = MARKERS[spec.name]
        head = ("heads." + task_name, *HEADS[1:])
        bad = [n for n in trainable if not any(m in n for m in marker) and not any(h in n for h in head)]
        assert not bad, f"backbone parameters left trainable: {bad[:5]}"
        assert any(marker[0] in n and not any(h in n for h in head) for n in trainable)
    before = _base_state(module, spec.name)
    _train_briefly(module, task, tiny_tokenizer)
    after = _base_state(module, spec.name)
    if spec.name == "sft":  # the mask exists once phase 1 has run: then K entries train, and nothing else
        trained = {n: p.numel() for n, p in module.model.named_parameters() if p.requires_grad}
        assert all("sft_delta" in n or any(h in n for h in head) for n in trained)
        assert sum(v for n, v in trained.items() if "sft_delta" in n) == spec.k
    if spec.name == "bitfit":  # the biases train, every other base weight stays
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert changed and all(k.endswith(".bias") for k in changed), changed[:5]
    elif MARKERS[spec.name]:
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert not changed, f"base weights changed: {changed[:5]}"
    else:
        assert any(not torch.equal(before[k], after[k]) for k in before)

    # Save, reload in this process: identical predictions.
    module.save(tmp_path / "module")
    ref = _logits(module, task, tiny_tokenizer)
    again = load_module(tmp_path / "module", tiny)
    # PiSSA is saved as the rank-2r LoRA it amounts to over the untouched weights: equal up to float rounding.
    atol = 1e-5 if method == "pissa" else 1e-6
    torch.testing.assert_close(_logits(again, task, tiny_tokenizer), ref, rtol=0, atol=atol)


# How each library loads a saved module without adapterx (torch methods: by their file).
PLAIN = {
    "adapters": """
        from adapters import AutoAdapterModel
        model = AutoAdapterModel.from_pretrained(base)
        name = model.load_adapter(path, use_safetensors=True, set_active=True)
        model.active_head = name
    """,
    "peft": """
        from transformers import AutoModelForSequenceClassification
        from peft import PeftModel
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model = PeftModel.from_pretrained(model, path)
    """,
    "transformers": """
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained(path)
    """,
    # No library loads LT-SFT differences (composable-sft is not on PyPI): plain torch adds one to the backbone.
    "sft.safetensors": """
        from safetensors.torch import load_file
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model.load_state_dict(load_file(path + "/head.safetensors"), strict=False)
        diff, params = load_file(path + "/sft.safetensors"), dict(model.base_model.named_parameters())
        with torch.no_grad():
            for key in diff:
                if key.endswith(".idx"):
                    name = key[: -len(".idx")]
                    params[name].view(-1).index_add_(0, diff[key].long(), diff[name + ".val"])
    """,
    "bitfit.safetensors": """
        from safetensors.torch import load_file
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model.load_state_dict(load_file(path + "/bitfit.safetensors"), strict=False)
    """,
}


def _plain_kind(method: str) -> str:
    info = catalog.get(METHODS[method].name)
    return info.native_files[0] if info.library == "torch" else info.library


# One method per plain loader runs in a fresh process of its own; every other entry of the catalogue in one more.
FIRSTS = list({_plain_kind(m): m for m in reversed(list(METHODS))}.values())[::-1]
FAMILIES = {m: _plain_kind(m) for m in METHODS if m not in FIRSTS}


def test_every_method_has_a_plain_loader():
    assert {_plain_kind(m) for m in METHODS} <= set(PLAIN)


@pytest.mark.parametrize("method", FIRSTS)
def test_saved_module_loads_with_plain_library_in_fresh_process(method, tiny, tiny_tokenizer, tmp_path):
    task = get_task("stsb")
    module = build_module(METHODS[method], tiny, task, seed=1)
    _train_briefly(module, task, tiny_tokenizer)
    module.save(tmp_path / "module")
    ref = _logits(module, task, tiny_tokenizer).reshape(-1).tolist()
    pairs = synthetic.sts("de", 6, split="test")
    script = textwrap.dedent(
        f"""
        import json, sys, torch
        base, path = {tiny.path!r}, {str(tmp_path / 'module')!r}
        """
    ) + textwrap.dedent(PLAIN[_plain_kind(method)]) + textwrap.dedent(
        f"""
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(base)
        pairs = {json.dumps([[p.text_a, p.text_b] for p in pairs])}
        enc = tok([a for a, b in pairs], [b for a, b in pairs], truncation=True, max_length=64, padding=True, return_tensors="pt")
        model.eval()
        with torch.inference_mode():
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        assert "adapterx" not in sys.modules
        print(json.dumps(out.logits.reshape(-1).tolist()))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    # Batch padding differs from adapterx's length-grouped batches: equal up to float noise.
    assert torch.allclose(torch.tensor(plain), torch.tensor(ref), atol=2e-5 if method == "pissa" else 1e-5), (plain, ref)


def test_family_modules_load_with_plain_libraries_in_one_fresh_process(tiny, tiny_tokenizer, tmp_path):
    """The newer methods, each saved after training, load in one fresh process with adapters / peft / torch only."""
    task = get_task("stsb")
    pairs = synthetic.sts("de", 6, split="test")
    refs, blocks = {}, []
    for method, how in FAMILIES.items():
        module = build_module(METHODS[method], tiny, task, seed=1)
        _train_briefly(module, task, tiny_tokenizer)
        module.save(tmp_path / method)
        refs[method] = _logits(module, task, tiny_tokenizer).reshape(-1).tolist()
        body = textwrap.indent(textwrap.dedent(PLAIN[how]), "    ")
        blocks.append(f"def load_{len(blocks)}(base, path):\n{body}\n    return model\n"
                      f"results[{method!r}] = run(load_{len(blocks)}(base, {str(tmp_path / method)!r}))\n")
    script = textwrap.dedent(
        f"""
        import json, sys, torch
        from transformers import AutoTokenizer
        base = {tiny.path!r}
        tok = AutoTokenizer.from_pretrained(base)
        pairs = {json.dumps([[p.text_a, p.text_b] for p in pairs])}
        enc = tok([a for a, b in pairs], [b for a, b in pairs], truncation=True, max_length=64, padding=True, return_tensors="pt")
        results = {{}}
        def run(model):
            model.eval()
            with torch.inference_mode():
                out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            return out.logits.reshape(-1).tolist()
        """
    ) + "".join(blocks) + 'assert "adapterx" not in sys.modules\nprint(json.dumps(results))\n'
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    for method, ref in refs.items():
        # PiSSA: saved as the rank-2r LoRA it amounts to over the untouched weights (float rounding).
        atol = 2e-5 if method == "pissa" else 1e-5
        assert torch.allclose(torch.tensor(plain[method]), torch.tensor(ref), atol=atol), (method, plain[method], ref)


class _Stop(Exception):
    pass


def _assert_same(a, b, path="state"):
    """Hook states equal: the same keys, equal tensors, equal plain values."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    else:
        assert a == b, path


# Methods whose hooks keep state beyond their parameters (AdaLoRA's rank allocator), from the catalogue.
STATEFUL = [m for m in catalog.names() if (getattr(catalog.get(m).plugin, "hooks", None) is not None)]


@pytest.mark.parametrize("method", STATEFUL)
def test_hook_state_survives_a_resume_and_comes_back_with_the_best_weights(method, tiny, tiny_tokenizer, tmp_path):
    """A run stopped after its first checkpoint and resumed ends as the uninterrupted one (weights and the method's
    hook state); the best weights come back with the state they were evaluated with, so the saved module predicts
    what the trained one does."""
    task = get_task("stsb")
    ops = ops_for(task.kind)
    feats = ops.featurize(task, synthetic.generate(task.synthetic, "en", "train")[:32], tiny_tokenizer, 64, 32, train=True)
    collate = lambda items: ops.collate(items, tiny_tokenizer.pad_token_id)  # noqa: E731
    cfg = TrainConfig(lr=1e-2, batch_size=8, max_steps=8, eval_steps=2, seed=0)

    def run(stop_at=None, resume=False):
        module = build_module(METHODS[method], tiny, task, seed=0)
        calls, at_best, at_step = [], {}, {}

        def dev():  # the first evaluation is the best: its weights and state must come back at the end
            calls.append(1)
            if len(calls) == 1:
                at_best.update(module.hooks.state())
            return {"x": -float(len(calls))}

        def progress(event):
            if "dev" in event:
                at_step[event["step"]] = module.hooks.state()
            if stop_at is not None and event.get("step") == stop_at and "loss" in event:
                raise _Stop

        try:
            train(module, feats, collate, dev, "x", cfg, progress, tmp_path / "ckpt.pt", resume)
        except _Stop:
            return None, None
        return module, (at_best, at_step)

    straight, (at_best, states) = run()
    fresh = build_module(METHODS[method], tiny, task, seed=0).hooks.state()
    with pytest.raises(AssertionError):  # the hooks ran: the state moved while training (rank allocation)
        _assert_same(states[2], fresh)
    _assert_same(straight.hooks.state(), at_best)
    assert run(stop_at=5) == (None, None) and (tmp_path / "ckpt.pt").is_file()  # the last checkpoint: step 4
    resumed, (_, states_resumed) = run(resume=True)
    torch.testing.assert_close(_logits(resumed, task, tiny_tokenizer), _logits(straight, task, tiny_tokenizer), rtol=0, atol=0)
    assert set(states_resumed) == {6, 8}
    for step, state in states_resumed.items():  # after the resume, the state of the uninterrupted run at every step
        _assert_same(state, states[step], f"step {step}")
    straight.save(tmp_path / "module")
    again = load_module(tmp_path / "module", tiny)
    torch.testing.assert_close(_logits(again, task, tiny_tokenizer), _logits(straight, task, tiny_tokenizer), rtol=0, atol=1e-6)


def test_every_registration_plugs_in():
    """Each registered backend is a protocol.Backend, each peft method's module a protocol.PeftMethod (the shared
    peft code looks its config up there), and the --method help names every method."""
    from adapterx.methods import backend_for
    from adapterx.methods.protocol import Backend, PeftMethod

    for name in catalog.names():
        info = catalog.get(name)
        assert isinstance(backend_for(name), Backend), name
        assert (info.plugin is not None) == (info.backend == "peft_backend"), name
        assert info.plugin is None or isinstance(info.plugin, PeftMethod), name
        assert name in catalog.method_help()
