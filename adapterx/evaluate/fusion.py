"""AdapterFusion attention: which intermediate adapter does each layer lean on, per language?

The fusion layer's attention over its adapters is averaged over the tokens of up to ``limit`` evaluation examples of
each language, per layer. Saved in metrics.json (``fusion_attention``), printed by ``adapterx fuse``, and plotted
(a language x adapter heat map per layer, averaged over layers in the first panel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterx.data import cache as feature_cache
from adapterx.methods import adapters_backend
from adapterx.tasks.kinds import inputs_only, ops_for


def fusion_weights(module, task, tok, examples_by_lang: dict[str, list], max_length: int, doc_stride: int,  # noqa: ANN001
                   limit: int = 64, batch_size: int = 16) -> dict[str, Any] | None:
    """``{"adapters": [...], "languages": {lang: {"mean": [w...], "layers": {layer: [w...]}}}}``, or None."""
    import torch

    comp = module.composition or {}
    if comp.get("kind") != "fuse":
        return None
    ops = ops_for(task.kind)
    device = next(module.model.parameters()).device
    out: dict[str, Any] = {"adapters": list(comp["adapters"]), "languages": {}}
    module.model.eval()
    for lang, examples in examples_by_lang.items():
        feats = feature_cache.featurize(ops, task, examples[:limit], tok, max_length, doc_stride, False)
        sums: dict[int, torch.Tensor] = {}
        n = 0
        with torch.inference_mode():
            for b in range(0, len(feats), batch_size):
                items = [inputs_only(it) for it in feats.items[b : b + batch_size]]
                batch = {k: v.to(device) for k, v in ops.collate(items, tok.pad_token_id).items()}
                layers = adapters_backend.fusion_attention(module, batch) or {}
                for layer, w in layers.items():
                    sums[layer] = sums.get(layer, torch.zeros(len(w))) + torch.tensor(w)
                n += 1
        if not sums:
            continue
        per_layer = {int(k): [round(float(x) / n, 4) for x in v] for k, v in sorted(sums.items())}
        k = len(out["adapters"])
        mean = [round(sum(ws[i] for ws in per_layer.values()) / len(per_layer), 4) for i in range(k)]
        out["languages"][lang] = {"mean": mean, "layers": per_layer}
    return out


def plot_fusion(weights: dict[str, Any], path: Path) -> Path:
    """Heat map: languages (rows) x adapters (columns) of the layer-averaged fusion attention."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = list(weights["languages"])
    names = weights["adapters"]
    data = [weights["languages"][lang]["mean"] for lang in langs]
    fig = Figure(figsize=(1.2 + 0.9 * len(names), 0.8 + 0.35 * len(langs)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(langs)), langs)
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=8)
    ax.set_title("AdapterFusion attention (mean over layers and tokens)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
