"""Report figures (matplotlib, Agg backend, each written as PNG and SVG).

- ``heatmap_<target>``: language x condition heatmap of deltas against the no-intermediate baseline, low-resource
  languages first (marked ``*``), a diverging colour scale centred on zero;
- ``low_vs_high``: per target (and overall), the low- and high-resource average gain of each intermediate condition,
  with its bootstrap interval as error bars;
- ``score_vs_params``: overall score against trainable parameters (log scale), one point per condition;
- ``pareto``: the families side by side: overall score against trainable parameters and against training compute
  (mean wall time per cell), one colour per method family, the Pareto front (no other condition is both cheaper and
  better) drawn through each panel. Parameter counts and times are the cells' run records'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterx.fsio import atomic_path
from adapterx.results.export import short_names

EXTS = ("png", "svg")


def _pyplot() -> Any:
    # Agg before pyplot is imported anywhere: reports run on headless machines and in CI.
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in EXTS:
        path = out_dir / f"{stem}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
        paths.append(path)
    return paths


def heatmap(report: dict[str, Any], target: str, out_dir: Path) -> list[Path]:
    import numpy as np

    t = report["targets"][target]
    conds = list(t["deltas"])
    if not conds:
        return []
    plt = _pyplot()
    names = short_names(report)
    low = set(t["low_resource"])
    langs = sorted(t["languages"], key=lambda lang: (lang not in low, lang))
    data = np.full((len(langs), len(conds)), np.nan)
    for j, c in enumerate(conds):
        for i, lang in enumerate(langs):
            d = t["deltas"][c]["languages"].get(lang)
            if d and d["mean"] is not None:
                data[i, j] = d["mean"]
    lim = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 1.0
    lim = lim or 1.0
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(conds), 1.0 + 0.28 * len(langs)))
    im = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(conds)), [names[c] for c in conds], rotation=40, ha="right")
    ax.set_yticks(range(len(langs)), [f"{lang}*" if lang in low else lang for lang in langs])
    if data.size <= 600:
        for i in range(len(langs)):
            for j in range(len(conds)):
                if np.isfinite(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:+.1f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(data[i, j]) > 0.6 * lim else "black")
    fig.colorbar(im, ax=ax, label=f"Δ {t['metric']} vs no intermediate")
    ax.set_title(f"{target}: Δ per language (* low-resource)")
    paths = _save(fig, out_dir, f"heatmap_{target}")
    plt.close(fig)
    return paths


def low_vs_high(report: dict[str, Any], out_dir: Path) -> list[Path]:
    import numpy as np

    panels: list[tuple[str, dict[str, Any]]] = []
    for target, t in report["targets"].items():
        if t["deltas"]:
            panels.append((target, {c: d["groups"] for c, d in t["deltas"].items()}))
    overall = {c: o["delta"] for c, o in report["overall"].items() if o["delta"]}
    if overall and len(panels) > 1:
        panels.append(("overall", overall))
    if not panels:
        return []
    plt = _pyplot()
    names = short_names(report)
    width = sum(1.4 + 0.6 * len(p[1]) for p in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.0, width), 3.8), squeeze=False)
    for ax, (title, groups) in zip(axes[0], panels):
        conds = list(groups)
        x = np.arange(len(conds))
        for k, (g, colour) in enumerate((("low", "tab:red"), ("high", "tab:blue"))):
            means, errs = [], [[], []]
            for c in conds:
                d = groups[c].get(g)
                m = d["mean"] if d and d["mean"] is not None else np.nan
                means.append(m)
                ci = d.get("ci") if d else None
                errs[0].append(m - ci[0] if ci else 0.0)
                errs[1].append(ci[1] - m if ci else 0.0)
            ax.bar(x + (k - 0.5) * 0.38, means, 0.38, yerr=np.array(errs), capsize=3, color=colour,
                   label=f"{g}-resource", alpha=0.85)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, [names[c] for c in conds], rotation=40, ha="right")
        ax.set_title(title)
        ax.set_ylabel("Δ vs no intermediate")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    paths = _save(fig, out_dir, "low_vs_high")
    plt.close(fig)
    return paths


def score_vs_params(report: dict[str, Any], out_dir: Path) -> list[Path]:
    points = [(cid, o) for cid, o in report["overall"].items()
              if o["trainable_params"] and o["score"]["all"] is not None]
    if not points:
        return []
    plt = _pyplot()
    names = short_names(report)
    methods = sorted({report["conditions"][cid]["method"] for cid, _ in points})
    chains = sorted({report["conditions"][cid]["intermediate"] for cid, _ in points}, key=lambda c: (c != "none", c))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    markers = {c: "os^vDP*Xph"[i % 10] for i, c in enumerate(chains)}
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for cid, o in points:
        cond = report["conditions"][cid]
        ax.scatter(o["trainable_params"], o["score"]["all"], color=colours[cond["method"]],
                   marker=markers[cond["intermediate"]], s=50, edgecolor="black", linewidth=0.5)
        ax.annotate(names[cid], (o["trainable_params"], o["score"]["all"]), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("overall score")
    ax.set_title("score against trainable parameters")
    for m in methods:
        ax.scatter([], [], color=colours[m], label=m)
    for c in chains:
        ax.scatter([], [], color="grey", marker=markers[c], label=f"intermediate: {c}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    paths = _save(fig, out_dir, "score_vs_params")
    plt.close(fig)
    return paths


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (cost no higher and score no lower, one of them strictly),
    in increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto(report: dict[str, Any], out_dir: Path) -> list[Path]:
    panels = [("trainable_params", "trainable parameters"), ("train_time_s_mean", "training time per cell (s)")]
    rows = [(cid, o) for cid, o in report["overall"].items() if o["score"]["all"] is not None]
    if not any(o.get(key) for _, o in rows for key, _ in panels):
        return []
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    names = short_names(report)
    conds = report["conditions"]
    families = sorted({conds[cid]["method_name"] for cid, _ in rows})
    chains = sorted({conds[cid]["intermediate"] for cid, _ in rows}, key=lambda c: (c != "none", c))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(families)}
    markers = {c: "o^sDvP*Xph"[i % 10] for i, c in enumerate(chains)}
    fig, axes = plt.subplots(1, len(panels), figsize=(11.0, 4.4), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        pts = [(cid, float(o[key]), float(o["score"]["all"])) for cid, o in rows if o.get(key)]
        for cid, x, y in pts:
            ax.scatter(x, y, color=colours[conds[cid]["method_name"]], marker=markers[conds[cid]["intermediate"]], s=45,
                       edgecolor="black", linewidth=0.5, zorder=3)
        front = [pts[i] for i in pareto_front([(x, y) for _, x, y in pts])]
        for cid, x, y in front:  # only the front is named: the rest is read from colour and marker
            ax.annotate(names[cid], (x, y), fontsize=7, xytext=(3, 4), textcoords="offset points")
        if len(front) > 1:
            ax.step([x for _, x, _ in front], [y for _, _, y in front], where="post", color="grey", linestyle="--",
                    linewidth=1, zorder=2)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("overall score")
    for m in families:
        axes[0][-1].scatter([], [], color=colours[m], label=m)
    for c in chains:
        axes[0][-1].scatter([], [], color="grey", marker=markers[c], label=f"intermediate: {c}")
    axes[0][-1].plot([], [], color="grey", linestyle="--", label="Pareto front")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("score against trainable parameters and training compute, per method family")
    fig.tight_layout()
    paths = _save(fig, out_dir, "pareto")
    plt.close(fig)
    return paths


def write_plots(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Every figure of the report into ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for target in report["targets"]:
        paths += heatmap(report, target, out_dir)
    paths += low_vs_high(report, out_dir)
    paths += score_vs_params(report, out_dir)
    paths += pareto(report, out_dir)
    return paths
