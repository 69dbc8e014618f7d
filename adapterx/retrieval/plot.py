"""The layer-sweep plot: language-average retrieval score per layer, module vs bare backbone, as a PNG.

Drawn with matplotlib's object API on an Agg canvas (no ``pyplot``, so no global backend switch and no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adapterx.fsio import atomic_path

if TYPE_CHECKING:
    from adapterx.retrieval.result import SweepResult

__all__ = ["plot_layer_sweep"]


def plot_layer_sweep(sweep: SweepResult, path: str | Path, dpi: int = 120) -> Path:
    """Write ``path`` (PNG): the average (solid) and low-resource average (dashed) per layer for the module and, where
    swept, the bare backbone; the layers where the module is above the backbone are shaded; the default layer is
    marked. Returns the path written (its folder is created)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(path)
    if out.suffix.lower() != ".png":
        out = out.with_suffix(out.suffix + ".png") if out.suffix else out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(7.0, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    layers = sweep.layers
    first = sweep.module[layers[0]]
    label_module = "none" if first.module == "none" else f"{first.method or 'module'}: {Path(first.module).name}"

    def series(which: str, key: str) -> list[float]:
        values = sweep.average(which, key)
        return [float("nan") if values[layer] is None else values[layer] for layer in layers]

    ax.plot(layers, series("module", "average"), marker="o", color="tab:blue", label=f"{label_module} (average)")
    low = series("module", "low_resource_average")
    if any(v == v for v in low):  # not all NaN
        ax.plot(layers, low, ls="--", marker=".", color="tab:blue", alpha=0.7, label=f"{label_module} (low-resource)")
    if sweep.baseline:
        ax.plot(layers, series("baseline", "average"), marker="s", color="tab:gray", label="none (average)")
        low_b = series("baseline", "low_resource_average")
        if any(v == v for v in low_b):
            ax.plot(layers, low_b, ls="--", marker=".", color="tab:gray", alpha=0.7, label="none (low-resource)")
        for layer in sweep.helps():
            ax.axvspan(layer - 0.5, layer + 0.5, color="tab:green", alpha=0.12, lw=0)
    ax.axvline(sweep.default_layer, color="tab:red", ls=":", lw=1, label=f"selected layer ({sweep.default_layer})")
    ax.set_xticks(layers)
    ax.set_xlabel("layer (hidden_states index; 0 = embeddings)")
    ax.set_ylabel(f"{sweep.metric} (0-100)")
    direction = f", {first.direction}" if first.direction else ""
    ax.set_title(f"{sweep.task}: {first.pooling} pooling{direction}, {first.model}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out
