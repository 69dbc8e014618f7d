"""Step time and peak memory per training method (issue 16): every method of the catalogue (`adapterx methods`) with
its default options, at one backbone size, through adapterx's own build_module and an AdamW step.

    python benchmarks/bench_methods.py                              # XLM-R base size, every method (~10-15 min, 2 cores)
    python benchmarks/bench_methods.py --size tiny --steps 2        # a quick run
    python benchmarks/bench_methods.py --methods lora,ia3 --out methods.md --json methods.json

Separate from bench.py (which compares adapterx against the libraries written directly): here the methods are set
against each other. Each method runs in its own subprocess, so its peak memory (max RSS; CUDA: max allocated) is its
own. The backbone is the size's architecture with random weights (base: 12 x 768, the real 250k vocabulary) and the
tiny model's tokenizer; the batch is random token ids (XNLI's classification head, batch x seq tokens, no padding).
Timings are medians of --steps optimizer steps after --warmup untimed steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZES = {"tiny": None, "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                    intermediate_size=3072, vocab_size=250002)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="base", choices=sorted(SIZES))
    ap.add_argument("--methods", default=None, help="comma list (default: every method of the catalogue)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--out", default=None, help="also write the Markdown table here")
    ap.add_argument("--json", default=None, help="write the raw measurements here")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # worker mode: one JSON job
    return ap.parse_args(argv)


def build_backbone(size: str, work: Path) -> str:
    """The size's random-weight backbone folder (save_pretrained + the tiny tokenizer); 'tiny' is the built-in one."""
    import shutil

    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from adapterx.backbone import tiny_path

    tiny = tiny_path()
    if SIZES[size] is None:
        return str(tiny)
    folder = work / f"backbone-{size}"
    config = XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                              max_position_embeddings=514, **SIZES[size])
    torch.manual_seed(0)
    XLMRobertaModel(config, add_pooling_layer=True).save_pretrained(folder, safe_serialization=True)
    for f in tiny.iterdir():  # token ids of the tiny tokenizer are valid in the larger vocabulary
        if f.is_file() and f.name != "config.json" and f.suffix not in {".safetensors", ".bin"}:
            shutil.copy(f, folder / f.name)
    return str(folder)


def _peak_bytes(device: str) -> int:
    import torch

    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: build the method on the backbone, time optimizer steps on random batches."""
    import torch

    from adapterx import backbone as bbmod
    from adapterx.engine.loop import TrainConfig, make_optimizer, pick_device
    from adapterx.methods import build_module, catalog
    from adapterx.tasks import get_task

    torch.set_num_threads(job["threads"])
    device = pick_device(job.get("device"))
    folder = Path(job["folder"])
    bb = bbmod.resolve("tiny") if job["size"] == "tiny" else bbmod.resolve(str(folder))
    t0 = time.perf_counter()
    module = build_module(catalog.get(job["method"]).spec(), bb, get_task("xnli"), seed=0)
    build_s = time.perf_counter() - t0
    model = module.model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    # adapterx's own optimizer (fused AdamW where the device has it), as its training loop builds it: torch's default
    # AdamW (foreach) holds temporaries the size of every trainable tensor during the step, which for full
    # fine-tuning at base size is ~2 GB more (this benchmark measured full at 7.61 GB with it against bench.py's
    # 4.7 GB through the loop's optimizer: the "0.29x vs 0.48x" disagreement of adapter / full peak memory).
    opt = make_optimizer(params, TrainConfig(lr=1e-4), device)
    g = torch.Generator().manual_seed(0)
    vocab = min(bb.vocab_size, 4000)
    times = []
    for i in range(job["warmup"] + job["steps"]):
        ids = torch.randint(5, vocab, (job["batch"], job["seq"]), generator=g)
        ids[:, 0] = 0
        batch = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
                 "labels": torch.randint(0, 3, (job["batch"],), generator=g).to(device)}
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= job["warmup"]:
            times.append(time.perf_counter() - t)
    counts = module.parameter_counts()
    return {"method": job["method"], "library": catalog.get(job["method"]).library, "device": device,
            "trainable": counts["trainable"], "total": counts["total"], "build_s": build_s,
            "step_s": statistics.median(times), "spread": (max(times) - min(times)) / statistics.median(times),
            "peak_bytes": _peak_bytes(device), "load": os.getloadavg()[0]}


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    full = next((r for r in rows if r["method"] == "full" and "step_s" in r), None)
    head = (f"Methods at {args.size} size, batch {args.batch} x {args.seq} tokens, {args.threads} threads, "
            f"{args.steps} timed steps (median) after {args.warmup}; {platform.processor() or platform.machine()}.")
    out = [head, "",
           "| method | library | trainable params | % of total | s/step | vs full | peak memory (GB) | vs full | load |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['method']} | | | | failed: {r['error'][:80]} | | | | |")
            continue
        vs_t = f"{r['step_s'] / full['step_s']:.2f}x" if full else ""
        vs_m = f"{r['peak_bytes'] / full['peak_bytes']:.2f}x" if full else ""
        out.append(f"| {r['method']} | {r['library']} | {r['trainable']:,} | {100 * r['trainable'] / r['total']:.3g} | "
                   f"{r['step_s']:.2f} | {vs_t} | {r['peak_bytes'] / 1e9:.2f} | {vs_m} | {r['load']:.1f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        job = json.loads(args.one)
        print(json.dumps(run_one(job)))
        return 0
    sys.path.insert(0, str(REPO))
    from adapterx.methods import catalog

    methods = args.methods.split(",") if args.methods else list(catalog.names())
    for m in methods:
        catalog.get(m)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="adapterx-bench-methods-") as tmp:
        t0 = time.perf_counter()
        folder = build_backbone(args.size, Path(tmp))
        print(f"backbone ({args.size}) ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for m in methods:
            job = {"method": m, "size": args.size, "folder": folder, "steps": args.steps, "warmup": args.warmup,
                   "batch": args.batch, "seq": args.seq, "threads": args.threads, "device": args.device}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True, text=True,
                                  env=env, check=False)
            if proc.returncode == 0:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            else:
                rows.append({"method": m, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"})
            print(f"{m}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    md = render(rows, args)
    print(md)
    if args.out:
        Path(args.out).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
