"""Where a grid's wall time went, stage by stage, against the `adapterx run --dry-run` estimate made before it ran.

    adapterx run RECIPE --dry-run --json --run-dir /tmp/empty > plan.json   # before the run (an empty run folder)
    adapterx run RECIPE
    python benchmarks/grid_times.py runs/NAME --plan plan.json [--out times.md] [--json times.json]

Read from the run folder only (no adapterx import): each cell's ``run/run.json`` (the target workflow's wall time)
and ``run/metrics.json`` (its training loop: steps and English dev evaluations), each shared intermediate module's
``run.json`` under ``intermediates/``, the cells' start/finish times (``cells/*/result.json``) and the invocations of
``runs.jsonl``. Stages, as the estimate counts them:

- intermediate training: the wall time of each shared intermediate module's training (once per intermediate key);
- target training: each cell's training loop (``metrics.json`` ``train_time_s``: steps + English dev evaluations);
- zero-shot evaluation: the rest of the target workflow (``run.json`` ``wall_time_s`` - ``train_time_s``: module
  build, featurization, every evaluation language, predictions, saving);
- between cells: the grid's wall time not inside any of these (process start-up, imports, the store, locks).

The grid's wall time is the sum over invocations of ``runs.jsonl`` of (last cell finished - invocation started).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _time(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def measure(run_dir: Path) -> dict[str, Any]:
    """Seconds per stage (and per target) of the run folder's finished cells."""
    cells = []
    for res in sorted((run_dir / "cells").glob("*/result.json")):
        r = _read_json(res)
        run = res.parent / "run"
        if not (run / "run.json").is_file():
            continue
        rj, mj = _read_json(run / "run.json"), _read_json(run / "metrics.json")
        prov = r.get("provenance") or {}
        cells.append({"target": rj["task"], "method": (rj.get("method") or {}).get("name"),
                      "chain": rj.get("chain"), "wall": float(rj["wall_time_s"]), "train": float(mj["train_time_s"]),
                      "steps": mj.get("steps"), "start": _time(prov["started"]), "finish": _time(prov["finished"])})
    inters = [_read_json(p) for p in sorted((run_dir / "intermediates").glob("*/*/run.json"))]
    starts = []
    log = run_dir / "runs.jsonl"
    if log.is_file():
        starts = sorted(_time(json.loads(line)["time"]) for line in log.read_text().splitlines() if line.strip())
    wall = 0.0
    for i, t0 in enumerate(starts):  # each invocation: from its start to the last cell it finished
        t1 = starts[i + 1] if i + 1 < len(starts) else float("inf")
        done = [c["finish"] for c in cells if t0 <= c["start"] < t1]
        wall += (max(done) - t0) if done else 0.0
    stages = {"intermediate": sum(float(r["wall_time_s"]) for r in inters),
              "target": sum(c["train"] for c in cells), "zero_shot": sum(c["wall"] - c["train"] for c in cells)}
    stages["between"] = max(0.0, wall - sum(stages.values()))
    by_target: dict[str, dict[str, float]] = defaultdict(lambda: {"cells": 0, "target": 0.0, "zero_shot": 0.0})
    for c in cells:
        t = by_target[c["target"]]
        t["cells"] += 1
        t["target"] += c["train"]
        t["zero_shot"] += c["wall"] - c["train"]
    return {"cells": len(cells), "intermediate_trainings": len(inters), "wall_s": wall, "stages": stages,
            "by_target": dict(by_target), "invocations": len(starts)}


def render(m: dict[str, Any], plan: dict[str, Any] | None) -> str:
    est = (plan or {}).get("cost") or {}
    sec = est.get("seconds") or {}
    rows = [("intermediate training", "intermediate", f"{m['intermediate_trainings']} modules"),
            ("target training", "target", f"{m['cells']} cells"),
            ("zero-shot evaluation", "zero_shot", f"{m['cells']} cells"),
            ("between cells (start-up, store)", "between", "")]
    out = ["| stage | what | measured | estimated (--dry-run) | measured / estimated |", "|---|---|---|---|---|"]
    for name, key, what in rows:
        got = m["stages"][key]
        want = sec.get(key) if key != "between" else est.get("startup_seconds")
        ratio = f"{got / want:.2f}x" if want else "–"
        out.append(f"| {name} | {what} | {_fmt(got)} | {_fmt(want) if want is not None else '–'} | {ratio} |")
    total = est.get("total_seconds")
    out.append(f"| **whole grid** | {m['invocations']} invocation(s) | **{_fmt(m['wall_s'])}** | "
               f"**{_fmt(total) if total else '–'}** | **{m['wall_s'] / total:.2f}x** |" if total else
               f"| **whole grid** | | **{_fmt(m['wall_s'])}** | – | – |")
    cal = est.get("calibration") or {}
    if cal:
        out += ["", f"Estimate calibrated {cal.get('created')} at load {cal.get('load', 0):.1f} "
                    f"({cal.get('device')}, {cal.get('threads')} threads)."]
    out += ["", "| target | cells | training, per cell | zero-shot evaluation, per cell |", "|---|---|---|---|"]
    for t, v in sorted(m["by_target"].items()):
        n = max(1, int(v["cells"]))
        out.append(f"| {t} | {int(v['cells'])} | {v['target'] / n:.0f} s | {v['zero_shot'] / n:.0f} s |")
    return "\n".join(out) + "\n"


def _fmt(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--plan", type=Path, help="the `adapterx run --dry-run --json` output made before the run")
    ap.add_argument("--out", type=Path, help="write the Markdown tables here too")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    m = measure(args.run_dir)
    plan = json.loads(args.plan.read_text()) if args.plan else None
    md = render(m, plan)
    print(md)
    if args.out:
        args.out.write_text(md)
    if args.json:
        args.json.write_text(json.dumps({"measured": m, "estimate": (plan or {}).get("cost")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
