"""adapterx benchmarks: one run, one machine, adapterx side by side with the same work written directly against
transformers / adapters / peft. Prints one Markdown table of measurements and one table of targets.

    python benchmarks/bench.py                                   # tiny, small, base (a full run: ~10 min on 2 cores)
    python benchmarks/bench.py --sizes tiny --steps 3            # a quick run (~1-2 min)
    python benchmarks/bench.py --sizes base --out results.md --json results.json

Every configuration runs in its own subprocess (benchmarks/_worker.py) so that its peak memory is its own. Timings
are medians of ``--steps`` steps after ``--warmup`` steps; the spread column is (max - min) / median over those steps,
and the load column the 1-minute load average when the configuration started (other processes on the machine make
the numbers move: compare rows measured under similar load). See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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
WORKER = HERE / "_worker.py"
GB = 1e9

# Zero-shot evaluation subset, per language of --eval-langs: about N examples. XNLI: whole length-sorted batches spread
# over the language (so predict groups them as it would the whole ~2,500-example language); TyDiQA: the first N
# examples with all their windows. Smaller at the larger sizes to keep a full run near 10 minutes.
EVAL_PER_LANG = {"tiny": {"xnli": 256, "tydiqa": 32}, "small": {"xnli": 64, "tydiqa": 4}, "base": {"xnli": 64, "tydiqa": 2}}

METHOD_TEXT = {
    "full": ("full fine-tuning", "transformers + torch AdamW (default impl.), same param groups"),
    "adapter": ("adapter seq_bn rf16", "adapters AutoAdapterModel + AdamW"),
    "lora": ("LoRA r8 q,v", "peft get_peft_model + AdamW"),
    "stack": ("Stack(frozen adapter, adapter)", "adapters Stack + AdamW"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="tiny,small,base", help="comma list of tiny, small, base")
    ap.add_argument("--steps", type=int, default=5,
                    help="timed training / inference steps per configuration (tiny: 5x as many, its steps take ms)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--eval-reps", type=int, default=2, help="passes over the evaluation subset per loop")
    ap.add_argument("--eval-per-lang", type=int, default=None, help="examples per language (default: by size)")
    ap.add_argument("--eval-langs", default="en,sw", help="languages evaluated (both XNLI and TyDiQA have en, sw)")
    ap.add_argument("--eval-batch", type=int, default=32, help="evaluation batch size (adapterx's default)")
    ap.add_argument("--threads", default="auto",
                    help="torch threads: a number, or auto = all cores when the machine is idle at start (1-minute load "
                         "average < cores / 2), else 1: with 2 threads on a 2-core machine that others keep busy, "
                         "OpenMP barriers wait on descheduled threads and steps ran 2-5x slower, bimodally")
    ap.add_argument("--data-dir", default=None, help="XTREME-style data folder (default: ../shared/data)")
    ap.add_argument("--skip", default="", help="comma list of sections to leave out: peak,help,prep,train,eval")
    ap.add_argument("--out", default=None, help="also write the Markdown here")
    ap.add_argument("--json", default=None, help="write every raw measurement here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (models, logs)")
    args = ap.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in args.sizes if s not in EVAL_PER_LANG]
    if bad:
        ap.error(f"unknown size(s) {', '.join(bad)}: use tiny, small, base")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.eval_langs = [s.strip() for s in args.eval_langs.split(",") if s.strip()]
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if args.threads == "auto":
        args.threads = cores if load < cores / 2 else 1
        args.threads_why = f"auto: load average {load:.1f} on {cores} cores"
    else:
        args.threads = int(args.threads)
        args.threads_why = "--threads"
    if args.data_dir is None:
        for cand in (REPO.parent / "shared" / "data", REPO / "shared" / "data"):
            if cand.is_dir():
                args.data_dir = str(cand)
                break
    return args


class Runner:
    """Starts worker subprocesses, keeps their logs, and prints progress to stderr."""

    def __init__(self, work: Path, threads: int) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.threads = threads
        self.t0 = time.perf_counter()
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "RUST_BACKTRACE": "0",
                    "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "true")}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

    def log(self, msg: str) -> None:
        el = time.perf_counter() - self.t0
        print(f"[{int(el) // 60:02d}:{int(el) % 60:02d}] {msg}", file=sys.stderr, flush=True)

    def job(self, label: str, job: dict[str, Any]) -> dict[str, Any]:
        job = {**job, "threads": self.threads}
        out = self.work / f"{label}.json"
        load = os.getloadavg()[0]
        t = time.perf_counter()
        with (self.logs / f"{label}.log").open("w") as log:
            proc = subprocess.run([sys.executable, str(WORKER), json.dumps(job), str(out)], stdout=log,
                                  stderr=subprocess.STDOUT, env=self.env, cwd=str(REPO))
        wall = time.perf_counter() - t
        if proc.returncode != 0 or not out.is_file():
            tail = (self.logs / f"{label}.log").read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
            self.log(f"{label}: FAILED ({tail[0][:200]})")
            return {"error": tail[0][:200], "load": load, "wall_s": wall}
        res = json.loads(out.read_text())
        res.update(load=load, wall_s=wall)
        self.log(f"{label}: {wall:.1f} s (load {load:.1f})")
        return res


# --------------------------------------------------------------------------- measuring


def measure_help(r: Runner, n: int = 5) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "adapterx"
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-c", "from cli.main import main; main()", "--help"]
    times = []
    for i in range(n + 1):  # the first run warms the page cache and is not counted
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=r.env, cwd=str(REPO), check=False)
        if i:
            times.append(time.perf_counter() - t)
    r.log(f"adapterx --help: median {statistics.median(times):.3f} s")
    return {"times": times, "median": statistics.median(times), "min": min(times), "max": max(times),
            "cmd": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)), "load": os.getloadavg()[0]}


def _qa_stride(max_length: int) -> int:
    """adapterx's default doc stride, or max_length // 4 where the library's QA featurizer refuses its own default
    for this max_length (its rule: stride < max_length - question budget - 4 specials; older: < max_length // 2)."""
    sys.path.insert(0, str(REPO))
    from adapterx.tasks.kinds import qa
    from adapterx.engine.loop import TrainConfig

    stride = TrainConfig().doc_stride
    limit = max_length - qa.max_query_tokens(max_length) - 4 if hasattr(qa, "max_query_tokens") else max_length // 2
    return stride if stride < limit else max_length // 4


def run_all(args: argparse.Namespace, r: Runner) -> dict[str, Any]:
    res: dict[str, Any] = {"sizes": {}}
    stride = _qa_stride(args.seq)
    res["doc_stride"] = stride
    if "peak" not in args.skip:
        res["peak_start"] = r.job("peak-start", {"kind": "peak"})
    if "help" not in args.skip:
        res["help"] = measure_help(r)
    if "prep" not in args.skip:
        res["prep"] = {t: r.job(f"prep-{t}", {"kind": "prep", "task": t, "data_dir": args.data_dir,
                                              "max_length": args.seq, "doc_stride": stride}) for t in ("xnli", "tydiqa")}
    for size in args.sizes:
        sr: dict[str, Any] = {}
        res["sizes"][size] = sr
        work = r.work / size
        sr["setup"] = r.job(f"{size}-setup", {"kind": "setup", "size": size, "work": str(work)})
        if "error" in sr["setup"]:
            continue
        base = {"size": size, "folder": sr["setup"]["folder"], "inter": sr["setup"]["inter"]}
        steps = args.steps * (5 if size == "tiny" else 1)
        if "train" not in args.skip:
            common = {**base, "batch": args.batch, "seq": args.seq, "warmup": args.warmup}
            # Full fine-tuning: one process per side, timed there (two full models in one process would not fit
            # comfortably); its peak memory is the reference of the memory target.
            for side in ("adapterx", "raw"):
                sr[f"full-{side}"] = r.job(f"{size}-full-{side}", {**common, "kind": "train", "side": side,
                                                                   "method": "full", "steps": steps, "infer_steps": 0})
            # PEFT peak memory: one process per configuration, two steps (memory only; tiny is all library overhead).
            if size != "tiny":
                for method in ("adapter", "lora", "stack"):
                    for side in ("adapterx", "raw"):
                        sr[f"{method}-{side}"] = r.job(f"{size}-mem-{method}-{side}", {
                            **common, "kind": "train", "side": side, "method": method, "warmup": 1, "steps": 1,
                            "infer_steps": 0})
            # PEFT timing: adapterx and the raw library in one process, steps alternating (robust to load changes);
            # then adapterx's fp32 vs bf16 step and Stack vs single-adapter inference, alternating too.
            for what in ("adapter", "lora", "stack", "adapterx"):
                sr[f"pair-{what}"] = r.job(f"{size}-pair-{what}", {**common, "kind": "pair", "what": what,
                                                                  "steps": steps})
        if "eval" not in args.skip and args.data_dir:
            for task in ("xnli", "tydiqa"):
                sr[f"eval-{task}"] = r.job(f"{size}-eval-{task}", {
                    **base, "kind": "eval", "task": task, "data_dir": args.data_dir, "langs": args.eval_langs,
                    "per_lang": args.eval_per_lang or EVAL_PER_LANG[size][task], "max_length": args.seq,
                    "doc_stride": stride, "batch_size": args.eval_batch, "reps": args.eval_reps})
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # the base backbone folder is 1.1 GB
    if "peak" not in args.skip:
        # Measured at both ends of the run; the ceiling is the better of the two (others' load only lowers it).
        res["peak_end"] = r.job("peak-end", {"kind": "peak"})
        ok = [p for p in (res["peak_start"], res["peak_end"]) if _ok(p)]
        if ok:
            res["peak"] = {"fp32": max(p["fp32"] for p in ok), "bf16": max(p["bf16"] for p in ok),
                           "runs": [(p["fp32"], p["bf16"], p["load"]) for p in ok], "load": min(p["load"] for p in ok)}
    return res


# --------------------------------------------------------------------------- rendering


def _ok(d: dict[str, Any] | None) -> bool:
    return bool(d) and "error" not in d


def _s(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def _gb(x: float) -> str:
    return f"{x / GB:.2f} GB"


def _pct(x: float | None) -> str:
    return "–" if x is None else (f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%")


def _sp(d: dict[str, Any]) -> str:
    return f"±{50 * d['spread']:.0f}%" if len(d.get("times", [])) > 1 else "1 pass"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}x"


def _peak(res: dict[str, Any], bf16: bool) -> float | None:
    p = res.get("peak")
    return p.get("bf16" if bf16 else "fp32") if _ok(p) else None


def _frac(flops: float, seconds: float, peak: float | None) -> float | None:
    return None if not peak or seconds <= 0 else flops / seconds / peak


def table_rows(res: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    """The measurement rows, and the ratios the targets read (per size)."""
    rows: list[list[str]] = []
    ratios: dict[str, Any] = {}
    pk = res.get("peak") if _ok(res.get("peak")) else None
    if pk:
        runs = "; ".join(f"{a / 1e9:.0f} / {b / 1e9:.0f} at load {ld:.1f}" for a, b, ld in pk["runs"])
        rows.append(["–", f"matmul peak fp32 / bf16 (GFLOP/s; best of start and end of run: {runs})",
                     f"{pk['fp32'] / 1e9:.0f}", f"{pk['bf16'] / 1e9:.0f}", _fmt_ratio(pk["bf16"] / pk["fp32"]), "–", "–",
                     "–", f"{pk['load']:.1f}"])
    h = res.get("help")
    if h:
        rows.append(["–", f"`{h['cmd']}` wall time (median of {len(h['times'])})", _s(h["median"]), "–", "–", "–", "–",
                     f"{h['min']:.2f}–{h['max']:.2f} s", f"{h['load']:.1f}"])
        ratios["help"] = h["median"]
    for task, p in (res.get("prep") or {}).items():
        if not _ok(p):
            rows.append(["–", f"featurize {task} dev", "failed", "", "", "", "", "", ""])
            continue
        drop = f"; {p['dropped_long_questions']} long questions left out" if p.get("dropped_long_questions") else ""
        rows.append(["–", f"featurize {task} dev, all languages ({p['examples']} ex -> {p['features']} features): "
                          f"2nd pass vs 1st ({p['how']}{drop})", _s(p["second"]), _s(p["first"]),
                     f"{_fmt_ratio(p['second'] / p['first'])} (1st is {p['first'] / p['second']:.1f}x)", "–", "–",
                     "1 pass each", f"{p['load']:.1f}"])
        ratios.setdefault("prep", {})[task] = p["first"] / p["second"]
    for size, sr in res["sizes"].items():
        rat: dict[str, Any] = {}
        ratios[size] = rat
        if not _ok(sr.get("setup")):
            rows.append([size, "setup", "failed: " + (sr.get("setup") or {}).get("error", "?"), "", "", "", "", "", ""])
            continue
        su = sr["setup"]
        a, b = sr.get("full-adapterx"), sr.get("full-raw")
        name, base_text = METHOD_TEXT["full"]
        if _ok(a) and _ok(b):
            ta, tb = a["train"]["median"], b["train"]["median"]
            rat["full"] = ta / tb
            rows.append([size, f"train step {name} (fp32) vs {base_text}; separate processes; trainable "
                               f"{a['params_trainable'] / 1e6:.2f}M of {a['params_total'] / 1e6:.1f}M, "
                               f"{a['flops_step'] / 1e9:.0f} GFLOP/step", _s(ta), _s(tb), _fmt_ratio(ta / tb),
                         f"{_gb(a['peak'])} / {_gb(b['peak'])}",
                         f"{_pct(_frac(a['flops_step'], ta, _peak(res, False)))} / "
                         f"{_pct(_frac(b['flops_step'], tb, _peak(res, False)))}",
                         f"{_sp(a['train'])} / {_sp(b['train'])}", f"{a['load']:.1f} / {b['load']:.1f}"])
        elif a is not None or b is not None:
            rows.append([size, f"train step {name}", "ok" if _ok(a) else "failed", "ok" if _ok(b) else "failed", "–",
                         "–", "–", str((a or {}).get("error") or (b or {}).get("error"))[:80], "–"])
        for method in ("adapter", "lora", "stack"):
            pr = sr.get(f"pair-{method}")
            if pr is None:
                continue
            name, base_text = METHOD_TEXT[method]
            if not _ok(pr):
                rows.append([size, f"train step {name}", "failed", "", "", "", "", pr.get("error", "")[:80], ""])
                continue
            ta, tb = pr["train"]["adapterx"]["median"], pr["train"]["raw"]["median"]
            rat[method] = ta / tb
            ma, mb = sr.get(f"{method}-adapterx"), sr.get(f"{method}-raw")
            mem = f"{_gb(ma['peak'])} / {_gb(mb['peak'])}" if _ok(ma) and _ok(mb) else "–"
            rows.append([size, f"train step {name} (fp32) vs {base_text}; one process, steps alternating; trainable "
                               f"{pr['params_trainable'] / 1e6:.2f}M of {pr['params_total'] / 1e6:.1f}M, "
                               f"{pr['flops_step'] / 1e9:.0f} GFLOP/step", _s(ta), _s(tb), _fmt_ratio(ta / tb), mem,
                         f"{_pct(_frac(pr['flops_step'], ta, _peak(res, False)))} / "
                         f"{_pct(_frac(pr['flops_step'], tb, _peak(res, False)))}",
                         f"{_sp(pr['train']['adapterx'])} / {_sp(pr['train']['raw'])}", f"{pr['load']:.1f}"])
        px = sr.get("pair-adapterx")
        if _ok(px):
            t16, t32 = px["train"]["bf16"]["median"], px["train"]["fp32"]["median"]
            rat["bf16_vs_fp32"] = t16 / t32
            rows.append([size, "adapterx adapter train step: bf16 autocast vs fp32 (one module, steps alternating)",
                         _s(t16), _s(t32), _fmt_ratio(t16 / t32), "–",
                         f"{_pct(_frac(px['flops_step'], t16, _peak(res, True)))} (of bf16) / "
                         f"{_pct(_frac(px['flops_step'], t32, _peak(res, False)))}",
                         f"{_sp(px['train']['bf16'])} / {_sp(px['train']['fp32'])}", f"{px['load']:.1f}"])
            ts, ti = px["infer"]["stack"]["median"], px["infer"]["adapter"]["median"]
            rat["stack_infer"] = ts / ti
            rows.append([size, f"adapterx inference {res.get('batch', 8)}x{res.get('seq', 128)} (inference_mode): "
                               "Stack(2 adapters) vs single adapter (one process, passes alternating)",
                         _s(ts), _s(ti), _fmt_ratio(ts / ti), "–",
                         f"{_pct(_frac(px['flops_infer']['stack'], ts, _peak(res, False)))} / "
                         f"{_pct(_frac(px['flops_infer']['adapter'], ti, _peak(res, False)))}",
                         f"{_sp(px['infer']['stack'])} / {_sp(px['infer']['adapter'])}", f"{px['load']:.1f}"])
        elif px is not None:
            rows.append([size, "adapterx bf16 vs fp32, Stack vs adapter inference", "failed", "", "", "", "",
                         px.get("error", "")[:80], ""])
        a32, full = sr.get("adapter-adapterx"), sr.get("full-adapterx")
        if _ok(a32) and _ok(full):
            r = a32["peak"] / full["peak"]
            rat["mem_adapter_vs_full"] = r
            rows.append([size, "adapterx peak memory (whole process, ru_maxrss): adapter vs full fine-tuning "
                               f"(high-water mark before the first step: {_gb(a32['peak_build'])} / "
                               f"{_gb(full['peak_build'])})", _gb(a32["peak"]), _gb(full["peak"]), _fmt_ratio(r), "–",
                         "–", "–", f"{a32['load']:.1f} / {full['load']:.1f}"])
        for task in ("xnli", "tydiqa"):
            e = sr.get(f"eval-{task}")
            if e is None:
                continue
            if not _ok(e):
                rows.append([size, f"zero-shot eval {task}", "failed", "", "", "", "", e.get("error", "")[:80], ""])
                continue
            ta, tp = e["times"]["adapterx"]["median"], e["times"]["plain"]["median"]
            xa, xp = e["examples"] / ta, e["examples"] / tp
            rat[f"eval_{task}"] = xa / xp
            tok = e["tokens"]
            drop = f", {e['dropped_long_questions']} long questions left out" if e.get("dropped_long_questions") else ""
            how = "first examples" if task == "tydiqa" else "whole length-sorted batches spread over each language"
            rows.append([size, f"zero-shot eval {task} dev, ex/s: predict vs pad-to-max no_grad loop ({e['examples']} ex "
                               f"= {how}, {e['features']} features, {', '.join(e['langs'])}{drop}; non-pad share of "
                               f"computed tokens {tok['useful'] / tok['adapterx']:.0%} vs {tok['useful'] / tok['plain']:.0%}; "
                               f"same predictions {e['agreement']:.0%})",
                         f"{xa:.1f} ex/s", f"{xp:.1f} ex/s", _fmt_ratio(xa / xp), "–",
                         f"{_pct(_frac(e['flops']['adapterx'], ta, _peak(res, False)))} / "
                         f"{_pct(_frac(e['flops']['plain'], tp, _peak(res, False)))}",
                         f"{_sp(e['times']['adapterx'])} / {_sp(e['times']['plain'])}", f"{e['load']:.1f}"])
            if "adapterx_bf16" in e["times"]:
                t16 = e["times"]["adapterx_bf16"]["median"]
                x16 = e["examples"] / t16
                rat[f"eval_{task}_bf16"] = x16 / xp
                rows.append([size, f"zero-shot eval {task} dev, ex/s: predict(bf16=True) vs the same fp32 pad-to-max "
                                   f"loop (not a target; predictions equal to fp32 predict: {e['agreement_bf16']:.0%})",
                             f"{x16:.1f} ex/s", f"{xp:.1f} ex/s", _fmt_ratio(x16 / xp), "–",
                             f"{_pct(_frac(e['flops']['adapterx'], t16, _peak(res, True)))} (of bf16) / "
                             f"{_pct(_frac(e['flops']['plain'], tp, _peak(res, False)))}",
                             f"{_sp(e['times']['adapterx_bf16'])} / {_sp(e['times']['plain'])}", f"{e['load']:.1f}"])
        rat["setup"] = su
    return rows, ratios


TARGETS = [
    # key, description, target, "max" (ratio must be <=) or "min" (>=)
    ("adapter", "adapter train step, adapterx / adapters (fp32)", 1.05, "max"),
    ("lora", "LoRA train step, adapterx / peft (fp32)", 1.05, "max"),
    ("stack", "stack train step, adapterx / adapters Stack (fp32)", 1.05, "max"),
    ("full", "full fine-tuning step, adapterx / transformers + default AdamW", 0.8, "max"),
    ("bf16_vs_fp32", "adapter train step, adapterx bf16 / fp32", 0.6, "max"),
    ("mem_adapter_vs_full", "peak memory, adapterx adapter / full fine-tuning", 0.4, "max"),
    ("eval_xnli", "zero-shot eval XNLI, adapterx / pad-to-max loop (ex/s)", 1.5, "min"),
    ("eval_tydiqa", "zero-shot eval TyDiQA, adapterx / pad-to-max loop (ex/s)", 1.5, "min"),
    ("stack_infer", "inference, adapterx Stack / single adapter", 1.03, "max"),
]


def target_rows(res: dict[str, Any], ratios: dict[str, Any]) -> list[list[str]]:
    sizes = [s for s in ("base", "small", "tiny") if s in ratios]
    size = sizes[0] if sizes else None
    rows = []
    for key, text, target, kind in TARGETS:
        val = ratios.get(size, {}).get(key) if size else None
        met = "–" if val is None else ("yes" if (val <= target if kind == "max" else val >= target) else "no")
        rows.append([f"{text} [{size}]", _fmt_ratio(val), f"{'<=' if kind == 'max' else '>='} {target}x", met])
    h = ratios.get("help")
    rows.append(["`adapterx --help` wall time", "–" if h is None else f"{h:.3f} s", "< 0.3 s",
                 "–" if h is None else ("yes" if h < 0.3 else "no")])
    for task, val in (ratios.get("prep") or {}).items():
        rows.append([f"preprocessing {task} dev, 1st pass / 2nd (cache hit) pass", _fmt_ratio(val), ">= 10x",
                     "yes" if val >= 10 else "no"])
    return rows


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket")
        info["cpu"] = "; ".join(" ".join(x.split()) for x in lines if x.startswith(keep))
    except OSError:
        info["cpu"] = platform.processor()
    code = ("import torch, transformers, adapters, peft, json; print(json.dumps({'torch': torch.__version__, "
            "'transformers': transformers.__version__, 'adapters': adapters.__version__, 'peft': peft.__version__, "
            "'threads': torch.get_num_threads(), 'cuda': torch.cuda.get_device_name(0) if torch.cuda.is_available() "
            "else None}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    try:
        info.update(json.loads(p.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        pass
    return info


def render(res: dict[str, Any], info: dict[str, Any], args: argparse.Namespace, wall: float, loads: tuple) -> str:
    rows, ratios = table_rows(res)
    dev = (f"CUDA {info['cuda']}" if info.get("cuda") else
           f"CPU, {args.threads} torch thread(s) ({args.threads_why}; torch default {info.get('threads')})")
    sizes_txt = []
    for size, sr in res["sizes"].items():
        su = sr.get("setup") or {}
        if _ok(su):
            sizes_txt.append(f"{size} = {su['layers']} layers x {su['hidden']} hidden, vocab {su['vocab_size']}")
    head = [
        f"## adapterx benchmarks ({datetime.datetime.now().strftime('%Y-%m-%d %H:%M')})",
        "",
        f"- machine: {info.get('cpu')}; {dev}; Python {info.get('python')}, torch {info.get('torch')}, "
        f"transformers {info.get('transformers')}, adapters {info.get('adapters')}, peft {info.get('peft')}",
        f"- run: sizes {', '.join(args.sizes)} ({'; '.join(sizes_txt)}); batch {args.batch} x {args.seq} tokens; "
        f"{args.warmup} warm-up + {args.steps} timed steps per configuration (tiny {5 * args.steps}); eval batch {args.eval_batch}, "
        f"max_length {args.seq}, doc_stride {res.get('doc_stride')}, languages {','.join(args.eval_langs)}, "
        f"{args.eval_reps} pass(es) per loop",
        f"- wall time {wall / 60:.1f} min; 1-min load average {loads[0]:.1f} at start, {loads[1]:.1f} at end "
        "(the machine is shared: rows measured under higher load are slower)",
        "- cells: adapterx / baseline; ratio = adapterx / baseline (eval: throughput ratio); spread = ±half the "
        "(max - min) range of the timed steps, relative to the median",
        "",
    ]
    table = md_table(["size", "measurement", "adapterx", "baseline", "ratio", "peak memory (adapterx / baseline)",
                      "% of matmul peak", "spread", "load"], rows)
    targets = md_table(["target", "measured", "target", "met"], target_rows(res, ratios))
    return "\n".join(head) + table + "\n\n### targets\n\n" + targets + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="adapterx-bench-"))
    r = Runner(work, args.threads)
    r.log(f"work folder {work}; sizes {', '.join(args.sizes)}")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    info = machine()
    try:
        res = run_all(args, r)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["batch"], res["seq"] = args.batch, args.seq
    wall = time.perf_counter() - t0
    md = render(res, info, args, wall, (load0, os.getloadavg()[0]))
    print(md)
    if args.out:
        Path(args.out).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "args": {k: (sorted(v) if isinstance(v, set) else v)
                                                                          for k, v in vars(args).items()},
                                               "results": res, "wall_s": wall}, indent=1, default=str))
    if args.keep:
        r.log(f"kept {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
