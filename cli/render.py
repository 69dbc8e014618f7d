"""Rendering: rich tables for people, one JSON object for machines, and a progress bar for training."""

from __future__ import annotations

from typing import Any

from cli.common import console, print_json


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def eval_table(ev: dict[str, Any], title: str | None = None) -> None:
    """Per-language table of an eval JSON object, with the averages (low-resource: Joshi class <= threshold)."""
    from rich.table import Table

    from adapterx.languages import get_language, is_low_resource

    con = console()
    metrics = list(next(iter(ev["scores"].values())).keys()) if ev["scores"] else [ev["metric"]]
    table = Table(title=title or f"{ev['task']}: zero-shot {ev['metric']} (0-100)", show_lines=False)
    table.add_column("lang")
    table.add_column("name")
    table.add_column("class", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("n", justify="right")
    for lang, scores in ev["scores"].items():
        try:
            info = get_language(lang)
            name, cls = info.name, str(info.joshi_class)
        except Exception:
            name, cls = "?", "?"
        low = "[bold]" if cls != "?" and is_low_resource(lang) else ""
        table.add_row(f"{low}{lang}", name, cls, *[fmt(scores.get(m)) for m in metrics], str(ev.get("n_examples", {}).get(lang, "")))
    con.print(table)
    avg = ev.get("low_resource_average")
    low_txt = fmt(avg) if avg is not None else "n/a (no low-resource language evaluated)"
    con.print(
        f"average {fmt(ev.get('average'))}   low-resource (class <= 2) {low_txt}   "
        f"high-resource {fmt(ev.get('high_resource_average'))}"
    )
    for note in ev.get("notes", []):
        con.print(f"note: {note}")


def compare_table(evs: dict[str, dict[str, Any]]) -> None:
    """One table, a column per module and the difference of each later one against the first, per language."""
    from pathlib import Path

    from rich.table import Table

    from adapterx.languages import get_language

    labels = list(evs)
    first = evs[labels[0]]
    metric = first["metric"]
    short = {lab: (Path(lab).name or lab) for lab in labels}
    table = Table(title=f"{first['task']}: {metric} (0-100) per language")
    table.add_column("lang")
    table.add_column("class", justify="right")
    for lab in labels:
        table.add_column(short[lab], justify="right")
    for lab in labels[1:]:
        table.add_column(f"{short[labels[0]]} - {short[lab]}", justify="right")
    rows = list(first["scores"]) + ["average", "low_resource_average", "high_resource_average"]
    for lang in rows:
        if lang in first["scores"]:
            vals = [evs[lab]["scores"].get(lang, {}).get(metric) for lab in labels]
            try:
                cls = str(get_language(lang).joshi_class)
            except Exception:
                cls = "?"
        else:
            vals = [evs[lab].get(lang) for lab in labels]
            cls, lang = "", lang.replace("_", " ")
        deltas = [None if vals[0] is None or v is None else vals[0] - v for v in vals[1:]]
        table.add_row(lang, cls, *[fmt(v) for v in vals], *[("-" if d is None else f"{d:+.2f}") for d in deltas])
    console().print(table)


def fusion_table(weights: dict[str, Any]) -> None:
    """Which intermediate adapter each language leans on: layer-averaged AdapterFusion attention."""
    from rich.table import Table

    table = Table(title="AdapterFusion attention per language (mean over layers and tokens)")
    table.add_column("lang")
    for name in weights["adapters"]:
        table.add_column(name, justify="right")
    table.add_column("leans on")
    for lang, w in weights["languages"].items():
        m = w["mean"]
        top = weights["adapters"][max(range(len(m)), key=lambda i: m[i])] if max(m) - min(m) >= 0.01 else "(even)"
        table.add_row(lang, *[f"{x:.2f}" for x in w["mean"]], top)
    console().print(table)


def summary_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for k, v in rows:
        table.add_row(k, v)
    console().print(table)


class TrainProgress:
    """A rich progress bar fed by the training loop's callback (loss, examples/s, ETA), on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        from adapterx.engine.distributed import is_main

        self.enabled = enabled and is_main()  # one bar per launch, rank 0's
        self.bar = None
        self.task_id = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console(stderr=True), transient=False,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, ev: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if "total" in ev and self.task_id is None:
            self.task_id = self.bar.add_task("train", total=ev["total"], info="")
        if "loss" in ev and self.task_id is not None:
            self.bar.update(self.task_id, completed=ev["step"], info=f"loss {ev['loss']:.4f}  {ev['examples_per_s']:.0f} ex/s")
        elif isinstance(ev.get("dev"), dict):
            dev = "  ".join(f"{k} {v:.2f}" for k, v in ev["dev"].items())
            self.bar.console.print(f"step {ev['step']}: dev {dev}")
        elif ev.get("phase") == "resume":
            self.bar.update(self.task_id, completed=ev["step"])
            self.bar.console.print(f"resumed from the checkpoint at step {ev['step']}")
        elif ev.get("phase") == "eval":
            main = "  ".join(f"{k} {v:.2f}" for k, v in ev["scores"].items())
            self.bar.console.print(f"eval {ev['lang']}: {main}")


def sft_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """LT-SFT runs: the sparse difference's size (K of the eligible weights; bytes stored against a dense copy)."""
    info = run.get("sft")
    if not info:
        return []
    rows = [("sparse difference", f"K = {info['k']:,} of {info['eligible']:,} eligible weights"
             f" ({100 * info['k'] / max(info['eligible'], 1):.2f}%)")]
    if "stored_bytes" in info:
        rows.append(("stored size", f"{info['stored_bytes']:,} bytes (sft.safetensors; a dense copy of the eligible"
                                    f" weights: {info['dense_bytes']:,})"))
    return rows


def show_run(outcome, task_name: str, as_json: bool) -> None:  # noqa: ANN001
    """A finished training run: its summary table and zero-shot table, or one JSON object."""
    run, metrics = outcome.run, outcome.metrics
    if as_json:
        print_json({"output": str(outcome.output), "run": run, "metrics": {k: v for k, v in metrics.items() if k != "loss_curve"}})
        return
    dev = "  ".join(f"{k} {v:.2f}" for k, v in metrics["dev"].items())
    p = run["params"]
    summary_table(
        f"{task_name}: {run['method']['name']} on {run['backbone']['id']}",
        [
            ("English dev (best)", f"{dev}  (step {metrics['best_step']} of {metrics['steps']})"),
            ("trainable params", f"{p['trainable']:,} of {p['total']:,} ({100 * p['trainable'] / max(p['total'], 1):.2f}%)"),
            *sft_rows(run),
            ("data", f"{run['data']['source']} ({run['data']['train_size']} train, {run['data']['dev_size']} dev)"),
            ("time", f"{run['wall_time_s']:.1f} s ({metrics['examples_per_s']:.0f} train examples/s)"),
            ("seed", str(run["seed"])),
            ("output", str(outcome.output)),
        ],
    )
    if "eval" in metrics:
        eval_table(metrics["eval"][task_name])
    if metrics.get("fusion_attention"):
        fusion_table(metrics["fusion_attention"])
        print(f"fusion attention plot: {outcome.output / 'fusion_attention.png'}")
