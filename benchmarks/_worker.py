"""One benchmark measurement, in a process of its own (``bench.py`` starts one per configuration).

Usage (by bench.py): ``python benchmarks/_worker.py '<job json>' <result.json>``. The job's ``kind`` picks the
function below; the result is written as JSON to ``result.json`` (stdout and stderr are left to the libraries' chatter).

A process per configuration keeps the peak-memory figures apart: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (CPU)
or ``torch.cuda.max_memory_allocated`` (CUDA) is this configuration's alone.

FLOP counting (analytic; the same formula on both sides of a comparison), per step with T = batch x seq tokens:

- P     = weights of every ``nn.Linear`` inside the encoder layers (``.layer.`` in the name), which act on every token:
          the 12 (or 6, 2) x (4 h^2 + 2 h I) of the transformer, plus adapter / LoRA matrices where attached.
          Embedding lookups, the pooler and heads applied to the <s> token only are not counted (< 1%).
- P_tr  = the part of P that trains (all of P for full fine-tuning; the adapter / LoRA matrices for PEFT).
- attention (scores and weighted sum): 4 L s h FLOPs per token forward.
- forward   = 2 P T + 4 L s h T
- full training        = 3 x forward = 6 P T + 12 L s h T           (the usual "6 x params x tokens")
- PEFT training        = forward + input-gradient pass through the frozen stack (another 2 P T, attention 8 L s h T)
                         + weight gradients of the trainable matrices only (2 P_tr T)
                       = (4 P + 2 P_tr) T + 12 L s h T
  This slightly over-counts PEFT: autograd stops below the lowest trainable module (layer 0's frozen weights need
  no input gradient), at most 1/L of the backward.
- inference (evaluation) = forward summed over the batches actually run (padded length s_b of each batch).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Model shapes of the three sizes. "small" keeps the tiny tokenizer's vocabulary (the encoder at base width without
# the 192M-parameter embedding matrix); "base" has XLM-R base's real 250,002-token vocabulary.
SIZES: dict[str, dict[str, int] | None] = {
    "tiny": None,  # adapterx's built-in tiny XLM-R (adapterx.backbone.resolve("tiny"))
    "small": {"hidden_size": 768, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 3072},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "vocab_size": 250002},
}


# --------------------------------------------------------------------------- helpers


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _peak_bytes(device: str) -> int:
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _threads(job: dict[str, Any]) -> None:
    import torch

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))


def _stats(times: list[float]) -> dict[str, Any]:
    med = statistics.median(times)
    return {"times": times, "median": med, "min": min(times), "max": max(times),
            "spread": (max(times) - min(times)) / med if med > 0 else 0.0}


def _backbone(job: dict[str, Any]):  # noqa: ANN202
    from adapterx import backbone as bbmod

    if job["size"] == "tiny":
        return bbmod.resolve("tiny")
    return bbmod._from_folder(f"bench-{job['size']}", Path(job["folder"]), revision=None)


def _matmul_params(model) -> tuple[int, int]:  # noqa: ANN001
    """(P, P_tr): weights of the nn.Linear modules inside the encoder layers, all and trainable."""
    import torch

    p = ptr = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and ".layer." in f".{name}.":
            n = mod.weight.numel()
            p += n
            if mod.weight.requires_grad:
                ptr += n
    return p, ptr


def _arch(model) -> tuple[int, int]:  # noqa: ANN001
    cfg = model.config
    return int(cfg.num_hidden_layers), int(cfg.hidden_size)


def train_flops(p: int, ptr: int, layers: int, hidden: int, batch: int, seq: int, full: bool) -> float:
    t = batch * seq
    attn = 12 * layers * seq * hidden * t
    if full:
        return 6 * p * t + attn
    return (4 * p + 2 * ptr) * t + attn


def forward_flops(p: int, layers: int, hidden: int, batch: int, seq: int) -> float:
    t = batch * seq
    return 2 * p * t + 4 * layers * seq * hidden * t


# --------------------------------------------------------------------------- jobs


def job_setup(job: dict[str, Any]) -> dict[str, Any]:
    """Build the size's random-weight backbone folder (save_pretrained layout + the tiny tokenizer) and one
    intermediate adapter (for the stack configurations), through adapterx."""
    import torch

    from adapterx.backbone import tiny_path
    from adapterx.methods import AdapterSpec, build_module
    from adapterx.tasks import get_task

    _threads(job)
    work = Path(job["work"])
    t0 = time.perf_counter()
    if job["size"] == "tiny":
        folder = tiny_path()
    else:
        from transformers import XLMRobertaConfig, XLMRobertaModel

        tiny = tiny_path()
        folder = work / "backbone"
        folder.mkdir(parents=True, exist_ok=True)
        arch = dict(SIZES[job["size"]] or {})
        tok_vocab = json.loads((tiny / "config.json").read_text())["vocab_size"]
        arch.setdefault("vocab_size", tok_vocab)
        config = XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                                  max_position_embeddings=514, **arch)
        torch.manual_seed(0)
        model = XLMRobertaModel(config, add_pooling_layer=True)
        model.save_pretrained(folder, safe_serialization=True)
        del model
        for f in tiny.iterdir():  # the tokenizer: token ids < 4001 are valid in any larger vocabulary
            if f.is_file() and f.name != "config.json" and f.suffix not in {".safetensors", ".bin"}:
                shutil.copy(f, folder / f.name)
    job = {**job, "folder": str(folder)}
    bb = _backbone(job)
    inter = work / "inter_adapter"
    module = build_module(AdapterSpec(), bb, get_task("stsb"), seed=0, name="sts_inter")
    module.save(inter)
    return {"folder": str(folder), "inter": str(inter), "setup_s": time.perf_counter() - t0,
            "vocab_size": bb.vocab_size, "hidden": bb.hidden_size, "layers": bb.num_layers}


def _batches(vocab: int, batch: int, seq: int, n: int, device: str) -> list[dict[str, Any]]:
    """Random token ids over the whole vocabulary (<s> first, </s> last), no padding, STS-B-like float labels."""
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        ids[:, 0], ids[:, -1] = 0, 2
        out.append({"input_ids": ids.to(device), "attention_mask": torch.ones(batch, seq, dtype=torch.long).to(device),
                    "labels": (torch.rand(batch, generator=g) * 5).to(device)})
    return out


def _adapterx_module(method: str, bb, inter: str | None):  # noqa: ANN001, ANN202
    """adapterx's own constructors: build_module, or adapters_backend.build_composed for a stack."""
    from adapterx.methods import AdapterSpec, FullSpec, LoRASpec, adapters_backend, build_module
    from adapterx.tasks import get_task

    task = get_task("stsb")
    if method == "stack":
        return adapters_backend.build_composed(bb, task, AdapterSpec(), task.name, [("sts_inter", Path(inter or ""))])
    spec = {"full": FullSpec(), "adapter": AdapterSpec(), "lora": LoRASpec()}[method]
    return build_module(spec, bb, task, seed=42)


def _adapterx_step(module, method: str, job: dict[str, Any], device: str, bf16: bool):  # noqa: ANN001, ANN202
    """The step of adapterx.engine.loop.train on ``module``: make_optimizer, linear_schedule, then forward under autocast,
    finite-loss check, backward, loss.item(), clip, optimizer step, schedule step, zero_grad(set_to_none=True)."""
    import torch

    from adapterx.engine.loop import TrainConfig, autocast, linear_schedule, make_optimizer

    model = module.model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    cfg = TrainConfig(lr=2e-5 if method == "full" else 1e-4, batch_size=job["batch"], max_length=job["seq"],
                      bf16=bf16, device=device)
    total = 10_000
    optimizer = make_optimizer(params, cfg, device)
    scheduler = linear_schedule(optimizer, int(cfg.warmup_ratio * total), total)

    def step(batch: dict[str, Any]) -> float:
        with autocast(device, cfg.bf16):
            out = model(**batch)
        loss = out.loss.float()
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {loss.item()}")
        (loss / cfg.grad_accum).backward()
        value = loss.item() / cfg.grad_accum
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return value

    def infer(batch: dict[str, Any]):  # noqa: ANN202
        with autocast(device, cfg.bf16):
            return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    return model, step, infer


def _build_adapterx(job: dict[str, Any], bb, device: str):  # noqa: ANN001, ANN202
    module = _adapterx_module(job["method"], bb, job.get("inter"))
    return _adapterx_step(module, job["method"], job, device, bool(job.get("bf16")))


def _build_raw(job: dict[str, Any], folder: str, device: str):  # noqa: ANN202
    """The same work written directly against transformers / adapters / peft, with plain torch AdamW (default
    implementation: no fused/foreach flag), transformers' linear schedule, clip, step."""
    import torch
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    method = job["method"]
    if method in ("full", "lora"):
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, problem_type="regression")
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1,
                                                     target_modules=["query", "value"], task_type="SEQ_CLS"))
    else:
        from adapters import AutoAdapterModel, SeqBnConfig
        from adapters.composition import Stack

        model = AutoAdapterModel.from_pretrained(folder)
        if method == "stack":
            model.load_adapter(job["inter"], load_as="sts_inter", with_head=False, use_safetensors=True)
        model.add_adapter("stsb", config=SeqBnConfig(reduction_factor=16, non_linearity="relu"))
        model.add_classification_head("stsb", num_labels=1)
        model.train_adapter("stsb")
        if method == "stack":
            model.active_adapters = Stack("sts_inter", "stsb")
    model = model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if method == "full":  # identical math to adapterx: no weight decay on 1-d tensors
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": 0.01},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=2e-5)
    else:
        optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, 1000, 10_000)
    bf16 = bool(job.get("bf16"))

    def ctx():  # noqa: ANN202
        return torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(batch: dict[str, Any]) -> float:
        with ctx():
            out = model(**batch)
        out.loss.backward()
        value = out.loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return value

    def infer(batch: dict[str, Any]):  # noqa: ANN202
        with ctx():
            return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    return model, step, infer


def job_train(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from adapterx.methods import quiet_transformers

    _threads(job)
    quiet_transformers()
    device = _device()
    t0 = time.perf_counter()
    bb = _backbone(job)
    if job["side"] == "adapterx":
        model, step, infer = _build_adapterx(job, bb, device)
    else:
        model, step, infer = _build_raw(job, bb.path, device)
    build_s = time.perf_counter() - t0
    peak_build = _peak_bytes(device)
    batches = _batches(bb.vocab_size, job["batch"], job["seq"], 4, device)
    model.train()
    times, losses = [], []
    for i in range(job["warmup"] + job["steps"]):
        b = batches[i % len(batches)]
        _sync(device)
        t = time.perf_counter()
        losses.append(step(b))
        _sync(device)
        if i >= job["warmup"]:
            times.append(time.perf_counter() - t)
    peak_train = _peak_bytes(device)
    p, ptr = _matmul_params(model)
    layers, hidden = _arch(model)
    flops = train_flops(p, ptr, layers, hidden, job["batch"], job["seq"], full=job["method"] == "full")
    res: dict[str, Any] = {
        "train": _stats(times), "build_s": build_s, "peak_build": peak_build, "peak": peak_train,
        "loss_first": losses[0], "loss_last": losses[-1],
        "params_trainable": sum(q.numel() for q in model.parameters() if q.requires_grad),
        "params_total": sum(q.numel() for q in model.parameters()),
        "P": p, "P_tr": ptr, "flops_step": flops, "device": device, "threads": torch.get_num_threads(),
    }
    if job.get("infer_steps"):
        model.eval()
        itimes = []
        with torch.inference_mode():
            for i in range(1 + job["infer_steps"]):
                b = batches[i % len(batches)]
                _sync(device)
                t = time.perf_counter()
                infer(b)
                _sync(device)
                if i >= 1:
                    itimes.append(time.perf_counter() - t)
        res["infer"] = _stats(itimes)
        res["flops_infer"] = forward_flops(p, layers, hidden, job["batch"], job["seq"])
    return res


def _alternate(fns: dict[str, Any], batches: list, warmup: int, steps: int, device: str) -> dict[str, list[float]]:
    """Time two callables on the same batches, alternating A B / B A so that a change of machine load hits both."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(warmup + steps):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            b = batches[i % len(batches)]
            _sync(device)
            t = time.perf_counter()
            fns[n](b)
            _sync(device)
            if i >= warmup:
                times[n].append(time.perf_counter() - t)
    return times


def _train_figures(res: dict[str, Any], times: dict[str, list[float]], model: Any,
                   job: dict[str, Any]) -> tuple[int, int, int]:
    """Step-time statistics of each alternated step, and the FLOPs of one PEFT training step of ``model``; returns
    its matmul weights, layers and hidden size for further FLOP counts."""
    res["train"] = {k: _stats(v) for k, v in times.items()}
    p, ptr = _matmul_params(model)
    layers, hidden = _arch(model)
    res["flops_step"] = train_flops(p, ptr, layers, hidden, job["batch"], job["seq"], full=False)
    return p, layers, hidden


def job_pair(job: dict[str, Any]) -> dict[str, Any]:
    """Two configurations in one process, timed step by step in alternation (peak memory not reported: both models
    live here). ``what``: adapter / lora / stack (adapterx vs the raw library, fp32) or ``adapterx`` (adapterx's
    adapter step fp32 vs bf16 autocast on one module, and inference of adapterx's Stack vs its single adapter)."""
    import torch

    from adapterx.methods import quiet_transformers

    _threads(job)
    quiet_transformers()
    device = _device()
    bb = _backbone(job)
    batches = _batches(bb.vocab_size, job["batch"], job["seq"], 4, device)
    what = job["what"]
    res: dict[str, Any] = {"device": device, "threads": torch.get_num_threads()}
    if what in ("adapter", "lora", "stack"):
        sub = {**job, "method": what, "bf16": False}
        ma, step_a, _ = _build_adapterx(sub, bb, device)
        mb, step_b, _ = _build_raw(sub, bb.path, device)
        ma.train()
        mb.train()
        times = _alternate({"adapterx": step_a, "raw": step_b}, batches, job["warmup"], job["steps"], device)
        _train_figures(res, times, ma, job)
        res["params_trainable"] = sum(q.numel() for q in ma.parameters() if q.requires_grad)
        res["params_total"] = sum(q.numel() for q in ma.parameters())
        return res
    # what == "adapterx": precision and composition, all through adapterx
    module = _adapterx_module("adapter", bb, None)
    model, step32, infer32 = _adapterx_step(module, "adapter", job, device, bf16=False)
    _, step16, _ = _adapterx_step(module, "adapter", job, device, bf16=True)  # same weights, its own optimizer
    model.train()
    times = _alternate({"fp32": step32, "bf16": step16}, batches, job["warmup"], job["steps"], device)
    p, layers, hidden = _train_figures(res, times, model, job)
    stack = _adapterx_module("stack", bb, job["inter"])
    smodel, _, infer_stack = _adapterx_step(stack, "stack", job, device, bf16=False)
    model.eval()
    smodel.eval()
    with torch.inference_mode():
        itimes = _alternate({"adapter": infer32, "stack": infer_stack}, batches, 1, job["steps"], device)
    res["infer"] = {k: _stats(v) for k, v in itimes.items()}
    sp, _ = _matmul_params(smodel)
    res["flops_infer"] = {"adapter": forward_flops(p, layers, hidden, job["batch"], job["seq"]),
                          "stack": forward_flops(sp, layers, hidden, job["batch"], job["seq"])}
    return res


def _fitting(task, examples: list, tok, ml: int, stride: int) -> tuple[list, int]:  # noqa: ANN001
    """QA examples whose question leaves the context more than ``stride`` tokens of the window.

    Before adapterx's QA featurizer clipped questions (``qa.clip_questions``), it passed ``truncation="only_second",
    stride=doc_stride`` to the fast tokenizer, which panics when ``max_length - len(question) - 4 <= doc_stride``: with
    the tiny tokenizer, some TyDiQA dev questions in non-Latin scripts run that long. With such a library, those
    examples are left out here (the count is reported); otherwise, and for non-QA tasks, all examples pass."""
    from adapterx.tasks.kinds import qa

    if task.kind != "span_qa" or hasattr(qa, "clip_questions"):  # the featurizer clips long questions itself
        return examples, 0
    lens = [len(x) for x in tok([ex.question.lstrip() for ex in examples], add_special_tokens=False)["input_ids"]]
    kept = [ex for ex, n in zip(examples, lens) if ml - n - 4 > stride]
    return kept, len(examples) - len(kept)


def job_eval(job: dict[str, Any]) -> dict[str, Any]:
    """adapterx.evaluate.zero_shot.predict against a plain loop that pads every batch to max_length, keeps the
    feature order (no length grouping) and runs under torch.no_grad (no inference_mode). Both get the same
    precomputed features (featurization is not timed here: see the preprocess row), the same model and batch size,
    and both decode to predictions. A third loop, adapterx's predict under bf16 autocast, shows what bf16 inference
    would add (and how many predictions it changes).

    Subset (sequence tasks): adapterx sorts a whole language by length, so a subset of the first N examples would
    group far worse than the real ~2,500-example language. Instead the language's features are sorted as predict
    sorts them, cut into batches, and whole batches spread evenly over the length range are kept (N / batch of them):
    predict then groups the subset exactly as it would group the full language; the pad-to-max loop pays max_length
    for every example whatever the subset. QA: the first N examples (windows are nearly all full anyway)."""
    import torch

    from adapterx.backbone import load_tokenizer
    from adapterx.data.layout import find_split_sources, read_split
    from adapterx.evaluate.zero_shot import _length, predict
    from adapterx.methods import AdapterSpec, build_module
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    _threads(job)
    device = _device()
    bb = _backbone(job)
    tok = load_tokenizer(bb)
    task = get_task(job["task"])
    ops = ops_for(task.kind)
    module = build_module(AdapterSpec(), bb, task, seed=0)
    model = module.model.to(device)
    model.eval()
    ml, stride, bs = job["max_length"], job["doc_stride"], job["batch_size"]
    data, dropped = {}, 0
    present = sorted(find_split_sources(task.name, job["data_dir"], "dev"))
    full_sizes = {}
    for lang in [x for x in present if x in job["langs"]] if job.get("langs") else present:
        ex, d = _fitting(task, read_split(task.name, job["data_dir"], "dev", lang), tok, ml, stride)
        dropped += d
        full_sizes[lang] = len(ex)
        if task.kind == "span_qa":
            ex = ex[: job["per_lang"]]
        else:
            ex = _batch_sample(ex, ops.featurize(task, ex, tok, ml, stride, train=False), job["per_lang"], bs)
        data[lang] = (ex, ops.featurize(task, ex, tok, ml, stride, train=False))
    pad = tok.pad_token_id

    def plain(examples: list, feats) -> list:  # noqa: ANN001
        kept: list[Any] = []
        with torch.no_grad():
            for b in range(0, len(feats), bs):
                items = feats.items[b : b + bs]
                ids = torch.full((len(items), ml), pad, dtype=torch.long)
                mask = torch.zeros((len(items), ml), dtype=torch.long)
                for j, it in enumerate(items):
                    n = len(it["input_ids"])
                    ids[j, :n] = torch.tensor(it["input_ids"])
                    mask[j, :n] = 1
                out = model(input_ids=ids.to(device), attention_mask=mask.to(device))
                kept.extend(ops.outputs(out))
        return ops.decode(task, kept, feats, examples)

    def ours(examples: list, feats) -> list:  # noqa: ANN001
        return predict(module, task, examples, tok, ml, stride, bs, device, False, features=feats)

    def ours_bf16(examples: list, feats) -> list:  # noqa: ANN001
        return predict(module, task, examples, tok, ml, stride, bs, device, True, features=feats)

    # warm-up on a few examples of the first language
    ex0, _ = next(iter(data.values()))
    few = ex0[:4]
    f_few = ops.featurize(task, few, tok, ml, stride, train=False)
    plain(few, f_few)
    ours(few, f_few)
    ours_bf16(few, f_few)

    times: dict[str, list[float]] = {"adapterx": [], "plain": [], "adapterx_bf16": []}
    preds: dict[str, list] = {}
    for _ in range(job["reps"]):
        for side, fn in (("adapterx", ours), ("plain", plain), ("adapterx_bf16", ours_bf16)):
            _sync(device)
            t = time.perf_counter()
            out = []
            for ex, feats in data.values():
                out.extend(fn(ex, feats))
            _sync(device)
            times[side].append(time.perf_counter() - t)
            preds[side] = out
    agree = sum(a == b for a, b in zip(preds["adapterx"], preds["plain"])) / max(1, len(preds["plain"]))
    agree16 = sum(a == b for a, b in zip(preds["adapterx"], preds["adapterx_bf16"])) / max(1, len(preds["plain"]))

    # FLOPs of the batches each side actually runs (padding included) and the useful (non-pad) tokens.
    p, _ = _matmul_params(model)
    layers, hidden = _arch(model)
    fl = {"adapterx": 0.0, "plain": 0.0}
    tokens = {"adapterx": 0, "plain": 0, "useful": 0}
    for _, feats in data.values():
        lens = [_length(it) for it in feats.items]
        tokens["useful"] += sum(lens)
        for side, order, width in (("adapterx", sorted(lens), None), ("plain", lens, ml)):
            for b in range(0, len(order), bs):
                chunk = order[b : b + bs]
                s = width or max(chunk)
                fl[side] += forward_flops(p, layers, hidden, len(chunk), s)
                tokens[side] += len(chunk) * s
    n_ex = sum(len(ex) for ex, _ in data.values())
    n_feat = sum(len(f) for _, f in data.values())
    return {"times": {k: _stats(v) for k, v in times.items()}, "examples": n_ex, "features": n_feat,
            "langs": list(data), "agreement": agree, "agreement_bf16": agree16, "dropped_long_questions": dropped,
            "flops": fl, "tokens": tokens, "device": device, "language_sizes": full_sizes}


def _batch_sample(examples: list, feats, n: int, bs: int) -> list:  # noqa: ANN001
    """Whole length-sorted batches (as predict forms them), evenly spread, about ``n`` examples; in file order."""
    from adapterx.evaluate.zero_shot import _length

    order = sorted(range(len(feats)), key=lambda i: _length(feats.items[i]))  # predict's sort (stable)
    batches = [order[b : b + bs] for b in range(0, len(order), bs)]
    k = max(1, min(len(batches), round(n / bs)))
    picked = sorted({min(len(batches) - 1, int((j + 0.5) * len(batches) / k)) for j in range(k)})
    keep = sorted(i for j in picked for i in batches[j])
    return [examples[i] for i in keep]


def job_peak(job: dict[str, Any]) -> dict[str, Any]:
    """The best median rate of square matrix products, fp32 and bf16 (the ceiling the other rows are set against)."""
    import torch

    _threads(job)
    device = _device()
    out: dict[str, Any] = {"device": device, "threads": torch.get_num_threads()}
    sizes = job.get("sizes") or ([2048, 4096] if device == "cpu" else [4096, 8192])
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        best = 0.0
        for n in sizes:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            for _ in range(2):
                a @ b
            ts = []
            for _ in range(job.get("reps", 5)):
                _sync(device)
                t = time.perf_counter()
                a @ b
                _sync(device)
                ts.append(time.perf_counter() - t)
            best = max(best, 2 * n**3 / statistics.median(ts))
        out[name] = best
    return out


def _cache_featurizer():  # noqa: ANN202
    """adapterx.data.cache's featurize function, where the module exists (looked up at run time)."""
    if importlib.util.find_spec("adapterx.data.cache") is None:
        return None, "adapterx.data.cache absent"
    mod = importlib.import_module("adapterx.data.cache")
    for name in ("featurize", "cached_featurize", "featurize_cached", "load_or_featurize"):
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn, f"adapterx.data.cache.{name}"
    public = [n for n in dir(mod) if not n.startswith("_")]
    return None, f"adapterx.data.cache present, no featurize function recognised (has: {', '.join(public)})"


def _call_cached(fn, task, ops, examples, tok, ml, stride):  # noqa: ANN001, ANN202
    """Call the cache's function with the arguments its signature names (as ops.featurize's, plus ops/kind)."""
    avail = {"task": task, "examples": examples, "tokenizer": tok, "max_length": ml, "doc_stride": stride,
             "train": False, "ops": ops, "kind": task.kind}
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in avail.items() if k in params}
    return fn(**kwargs)


def job_prep(job: dict[str, Any]) -> dict[str, Any]:
    """Featurize the real dev files of a task twice (all languages): ops_for(kind).featurize both times, or the
    featurization cache's entry point where adapterx.data.cache exists (a fresh cache folder, so pass 1 is a miss)."""
    import tempfile

    from adapterx.backbone import load_tokenizer, resolve
    from adapterx.data.layout import find_split_sources, read_split
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    _threads(job)
    tok = load_tokenizer(resolve("tiny"))
    task = get_task(job["task"])
    ops = ops_for(task.kind)
    examples, dropped = [], 0
    for lang in sorted(find_split_sources(task.name, job["data_dir"], "dev")):
        ex, d = _fitting(task, read_split(task.name, job["data_dir"], "dev", lang), tok, job["max_length"],
                         job["doc_stride"])
        examples.extend(ex)
        dropped += d
    fn, how = _cache_featurizer()
    tmp = tempfile.mkdtemp(prefix="adapterx-bench-cache-")
    os.environ["ADAPTERX_CACHE"] = tmp  # the tiny model is resolved already; only the features cache lands here
    times, n_feat = [], 0
    try:
        for _ in range(2):
            t = time.perf_counter()
            if fn is not None:
                feats = _call_cached(fn, task, ops, examples, tok, job["max_length"], job["doc_stride"])
            else:
                feats = ops.featurize(task, examples, tok, job["max_length"], job["doc_stride"], train=False)
            times.append(time.perf_counter() - t)
            n_feat = len(feats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"first": times[0], "second": times[1], "examples": len(examples), "features": n_feat, "how": how,
            "dropped_long_questions": dropped}


JOBS = {"setup": job_setup, "train": job_train, "pair": job_pair, "eval": job_eval, "peak": job_peak, "prep": job_prep}


def main() -> None:
    job = json.loads(sys.argv[1])
    out = Path(sys.argv[2])
    res = JOBS[job["kind"]](job)
    out.write_text(json.dumps(res))


if __name__ == "__main__":
    main()
