"""The report as one self-contained web page: ``adapterx report RUN --html`` writes ``report.html``.

A person opens it from a file:// URL, on a laptop without the cluster or the network: every plot is inline SVG drawn
here (no matplotlib, no scripts, no fonts or styles fetched), provenance sections are native ``<details>``. From the
top:

1. the answer to the project's question (:func:`adapterx.results.question.answer`): per target and method the delta
   of the intermediate over none, overall / low / high-resource, with bootstrap intervals and the number of seeds;
2. per target, the per-language table (languages grouped by Joshi resource class, low first; deltas coloured by
   sign, intervals in a column and on hover) and the per-language delta plot;
3. the score against trainable parameters, per method;
4. the provenance of every cell (recipe, command, backbone hash, module hashes, where it ran), collapsed.

Numbers are printed to one decimal and carried exactly in ``data-*`` attributes (``data-score``, ``data-delta``,
``data-lo``, ``data-hi``, ``data-params``), so a test or a script can read the page back and compare it with the
store. Extra figures (``figures``: name -> SVG text, e.g. the matplotlib plots of
:func:`adapterx.results.plots.write_plots`) are embedded as ``data:`` images, which keeps their internal ids apart.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from adapterx.engine.rundir import tree_sha256
from adapterx.errors import AdapterxError
from adapterx.fsio import atomic_write_text
from adapterx.languages import get_language
from adapterx.results.aggregate import GROUP_DESCRIPTIONS, GROUPS

# The answer's columns: English (the training language) apart from the zero-shot languages, and those by resource
# class and by script (an encoder with one script's vocabulary reaches the others through few shared subwords).
ANSWER_GROUPS = ("english", "zero_shot", "low", "latin", "other_script", "low_latin")
ANSWER_TITLES = {"english": "English", "zero_shot": "zero-shot", "low": "low-resource", "latin": "Latin script",
                 "other_script": "other script", "low_latin": "low Latin"}
from adapterx.results.export import short_names
from adapterx.results.question import answer
from adapterx.results.store import ResultsStore

HTML_NAME = "report.html"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_MARKERS = ("circle", "square", "triangle", "diamond")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1200px;
 padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin-top:1.4em}
.meta,.note{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{padding:.2em .55em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child,#answer-table td:nth-child(2),#answer-table th:nth-child(2){text-align:left}
thead th{background:#f4f4f4;position:sticky;top:0}
tbody.rc th{background:#fafafa;text-align:left;font-weight:600;color:#444}
tr.avg td{font-weight:600;border-top:1px solid #999}
td.pos{background:rgba(46,160,67,var(--a,.25))} td.neg{background:rgba(215,58,73,var(--a,.25))}
td.ci{color:#666;font-size:.85em}
.verdict-helped{color:#1a7f37;font-weight:600} .verdict-hurt{color:#c0392b;font-weight:600}
details{margin:.3em 0;border:1px solid #e4e4e4;border-radius:4px;padding:.3em .6em}
summary{cursor:pointer} figure img{max-width:100%} pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.85em}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em} dt{color:#666} dd{margin:0;font-family:monospace}
svg text{font:11px system-ui,sans-serif} .plot{overflow-x:auto} .failed{color:#c0392b}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _f(x: float | None, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = round(x, 1) + 0.0  # no "-0.0": a delta that rounds to zero reads as zero
    return f"{x:+.1f}" if sign and x else f"{x:.1f}"


def _attr(x: float | None) -> str:
    """Exact value for a data-* attribute (repr keeps every digit; empty for a missing value)."""
    return "" if x is None else repr(x)


def _ci_text(ci: Sequence[float] | None) -> str:
    return f"[{_f(ci[0], sign=True)}, {_f(ci[1], sign=True)}]" if ci else "-"


def _delta_and_ci(d: dict[str, Any] | None, scale: float, condition: str) -> list[str]:
    """A condition's delta cell and its interval cell (per language and per resource group alike)."""
    return [_delta_cell(d, scale, f' data-condition="{_e(condition)}"'),
            f'<td class="ci">{_ci_text((d or {}).get("ci"))}</td>']


def _delta_cell(d: Mapping[str, Any] | None, scale: float, extra: str = "", inline_ci: bool = False) -> str:
    """A delta as a table cell: class pos/neg by sign, shade by size, interval on hover and in data-lo/hi (and
    under the delta where ``inline_ci``: the answer table, which must fit one screen's width)."""
    if not d or d.get("mean") is None:
        return f'<td class="delta"{extra}>-</td>'
    m = d["mean"]
    ci = d.get("ci")
    shown = round(m, 1)
    cls = "pos" if shown > 0 else "neg" if shown < 0 else "zero"
    alpha = 0.12 + 0.5 * min(1.0, abs(m) / scale) if scale else 0.25
    std = f" ± {d['std']:.1f}" if d.get("std") is not None else ""
    title = f"{m:+.2f}{std}" + (f", interval {_ci_text(ci)}" if ci else ", no interval")
    lo, hi = (ci[0], ci[1]) if ci else (None, None)
    return (f'<td class="delta {cls}" style="--a:{alpha:.2f}" data-delta="{_attr(m)}" data-lo="{_attr(lo)}"'
            f' data-hi="{_attr(hi)}" title="{_e(title)}"{extra}>{_f(m, sign=True)}'
            + (f'<br><span class="ci">{_ci_text(ci)}</span>' if inline_ci else "") + "</td>")


def _joshi(lang: str) -> int | None:
    try:
        return get_language(lang).joshi_class
    except AdapterxError:  # a code the language table lacks is shown under "unknown resource class"
        return None


def _names(report: dict[str, Any]) -> dict[str, str]:
    return short_names(report)


# --------------------------------------------------------------------------------------------------------------
# Sections


def _setup_note(cells: Sequence[dict[str, Any]]) -> str:
    """What every score of the page was measured under, per target, from the cells' specs: backbone, steps, length,
    the example caps and the evaluation split (a capped miniature must say so where its answer is read)."""
    per: dict[str, set[str]] = {}
    inter: dict[str, set[str]] = {}
    backbones: set[str] = set()
    for c in cells:
        spec = c.get("spec") or {}
        target = spec.get("target")
        if not target:
            continue
        backbones.add(str(spec.get("backbone")))
        tr = ((spec.get("training") or {}).get("target")) or {}
        data, ev = spec.get("data") or {}, spec.get("eval") or {}
        caps = [f"first {data['max_train_examples']:,} training examples" if data.get("max_train_examples") else "",
                f"first {data['max_eval_examples']:,} evaluation examples per language"
                if data.get("max_eval_examples") else "all evaluation examples"]
        per.setdefault(target, set()).add(_budget(tr) + ", " + ", ".join(x for x in caps if x) + ", "
                                          + _split_text(ev.get("split")))
        for name, cfg in zip(spec.get("intermediate") or [], (spec.get("training") or {}).get("intermediate") or []):
            inter.setdefault(name, set()).add(_budget(cfg))
    if not per:
        return ""
    parts = [f"<b>{_e(t)}</b> {_e('; '.join(sorted(v)))}" for t, v in sorted(per.items())]
    parts += [f"<b>{_e(t)}</b> (intermediate) {_e('; '.join(sorted(v)))}" for t, v in sorted(inter.items())]
    return (f'<p class="note setup">Measured on {_e(", ".join(sorted(backbones)))}: ' + ". ".join(parts)
            + ". Every score is under these budgets and caps (recipe in Provenance below).</p>")


def _budget(cfg: Mapping[str, Any]) -> str:
    """A training stage's budget as its spec states it: "200 steps of 16 x 128 tokens" (or "3.0 epochs of ...")."""
    length = f"{cfg['max_steps']} steps" if cfg.get("max_steps") else f"{cfg.get('epochs')} epochs"
    return f"{length} of {cfg.get('batch_size')} x {cfg.get('max_length')} tokens"


def _split_text(split: str | None) -> str:
    # a recipe's eval.split "test" means each task's own evaluation split (TyDiQA-GoldP's is its dev set)
    return "dev split" if split == "dev" else "the task's evaluation split"


def _recipe_description(run_dir: Path | None) -> str:
    path = run_dir / "recipe.yaml" if run_dir else None
    if path is None or not path.is_file():
        return ""
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError:
        return ""
    return str(doc.get("description") or "") if isinstance(doc, dict) else ""


def _answer_section(report: dict[str, Any], answers: Mapping[str, dict[str, Any]],
                    cells: Sequence[dict[str, Any]] = ()) -> str:
    first = next(iter(answers.values()))
    level = round(100 * first["ci"])
    names = _names(report)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for ans in answers.values():
        for r in ans["rows"]:
            d = report["targets"][r["target"]]["deltas"].get(r["condition"])
            rows.setdefault((r["target"], r["condition"]), {"row": r, **((d or {}).get("groups") or {})})
    out = [(f'<section id="answer"><h2>{_e(first["question"].replace(first["group"] + "-resource", "low-resource"))}'
           "</h2>")]
    if not rows:
        out.append(f'<p class="note">No cell with intermediate task {_e(first["intermediate"])} in this run.</p>'
                   "</section>")
        return "".join(out)
    out.append('<table id="answer-table"><thead><tr><th>target</th><th>method</th>')
    for g in ANSWER_GROUPS:
        out.append(f'<th title="{_e(GROUP_DESCRIPTIONS[g])}">Δ {_e(ANSWER_TITLES[g])}<br>'
                   f'<span class="ci">{level}% CI</span></th>')
    out.append("<th>seeds</th><th>verdict (low)</th></tr></thead><tbody>")
    scale = max((abs(d["mean"]) for v in rows.values() for g in ANSWER_GROUPS
                 if (d := v.get(g)) and d.get("mean") is not None), default=1.0)
    for (target, cond), v in rows.items():
        r = v["row"]
        seeds = _n_seeds(report, target, cond)
        out.append(f'<tr data-target="{_e(target)}" data-condition="{_e(cond)}"><td>{_e(target)}</td>'
                   f"<td>{_e(names.get(cond, cond))}</td>")
        for g in ANSWER_GROUPS:
            out.append(_delta_cell(v.get(g), scale, f' data-group="{g}"', inline_ci=True))
        low_verdict = _verdict_of(answers, target, cond)
        out.append(f'<td class="seeds" data-seeds="{seeds}">{seeds}</td>'
                   f'<td class="verdict-{_e(low_verdict.replace(" ", "-"))}">{_e(low_verdict)}</td></tr>')
    out.append("</tbody></table>")
    out.append(f'<p class="note">Δ: average over the group\'s languages (low: Joshi class ≤'
               f' {first["low_resource_threshold"]}; English is the training language, the zero-shot and script'
               " groups leave it out) against the same method without intermediate task; mean over"
               f" seeds, {level}% paired bootstrap interval over seeds and test examples. {_e(answers['low']['summary'])}</p>")
    out.append(_setup_note(cells))
    members = first.get("group_members") or {}
    if members:
        out.append('<p class="note groups">' + " ".join(
            f"<b>{_e(t)}</b>: " + "; ".join(f"{_e(ANSWER_TITLES[g])} {_e(', '.join(gs.get(g, [])) or 'none')}"
                                          for g in ANSWER_GROUPS[1:]) + "."
            for t, gs in members.items()) + "</p>")
    out.append("</section>")
    return "".join(out)


def _verdict_of(answers: Mapping[str, dict[str, Any]], target: str, cond: str) -> str:
    for r in answers.get("low", {}).get("rows", []):
        if r["target"] == target and r["condition"] == cond:
            return str(r["verdict"] if not r["note"] else "no low-resource language")
    return "n/a"


def _n_seeds(report: dict[str, Any], target: str, cond: str) -> int:
    scores = report["targets"][target]["scores"].get(cond, {})
    return max((s["n_seeds"] for s in scores.values()), default=0)


def _target_section(report: dict[str, Any], target: str) -> str:
    t = report["targets"][target]
    names = _names(report)
    conds = t["conditions"]
    level = round(100 * report["options"]["ci"])
    langs = t["languages"]
    by_class: dict[int | None, list[str]] = {}
    for lang in langs:
        by_class.setdefault(_joshi(lang), []).append(lang)
    low = set(t["low_resource"])
    order = sorted(by_class, key=lambda c: (c is None, c if c is not None else 0))
    scale = max((abs(d["mean"]) for c in t["deltas"] for d in t["deltas"][c]["languages"].values()
                 if d.get("mean") is not None), default=1.0)
    out = [(f'<section class="target" id="target-{_e(target)}" data-target="{_e(target)}">'
           f"<h2>{_e(target)} <span class=\"meta\">({_e(t['metric'])})</span></h2>")]
    out.append(f'<table class="langs" data-target="{_e(target)}"><thead><tr><th>language</th>')
    for c in conds:
        out.append(f'<th title="{_e(c)}">{_e(names.get(c, c))}</th>')
        if c in t["deltas"]:
            out.append(f"<th>Δ</th><th>{level}% CI</th>")
    out.append("</tr></thead>")
    for cls in order:
        members = sorted(by_class[cls])
        label = "unknown resource class" if cls is None else f"Joshi class {cls}"
        label += " (low-resource)" if members and members[0] in low else ""
        span = 1 + sum(3 if c in t["deltas"] else 1 for c in conds)
        out.append(f'<tbody class="rc" data-class="{"" if cls is None else cls}"><tr><th colspan="{span}">'
                   f"{_e(label)}</th></tr>")
        for lang in members:
            out.append(f'<tr data-lang="{_e(lang)}"><td>{_e(lang)}</td>')
            for c in conds:
                s = t["scores"].get(c, {}).get(lang)
                mean = s["mean"] if s else None
                std = f" ± {s['std']:.1f}" if s and s.get("std") is not None else ""
                out.append(f'<td class="score" data-condition="{_e(c)}" data-score="{_attr(mean)}"'
                           f' title="{_e(c)}: {_f(mean)}{std}, {s["n_seeds"] if s else 0} seed(s)">{_f(mean)}</td>')
                if c in t["deltas"]:
                    out += _delta_and_ci(t["deltas"][c]["languages"].get(lang), scale, c)
            out.append("</tr>")
        out.append("</tbody>")
    out.append("<tbody>")
    for g in GROUPS:
        out.append(f'<tr class="avg" data-group="{g}"><td>avg {g}</td>')
        for c in conds:
            a = t["averages"].get(c, {}).get(g)
            out.append(f'<td class="score" data-condition="{_e(c)}" data-score="{_attr(a["mean"] if a else None)}">'
                       f'{_f(a["mean"] if a else None)}</td>')
            if c in t["deltas"]:
                out += _delta_and_ci(t["deltas"][c]["groups"].get(g), scale, c)
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append(f'<p class="note">Mean over seeds per language; Δ against the same method without intermediate task,'
               f" {level}% paired bootstrap interval over seeds and test examples (hover a Δ for mean ± std).</p>")
    out.append(f'<div class="plot">{delta_plot_svg(report, target)}</div>')
    out.append("</section>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------------
# Inline SVG plots


def delta_plot_svg(report: dict[str, Any], target: str) -> str:
    """Per-language deltas of every intermediate condition of ``target`` as grouped bars with interval whiskers,
    low-resource languages first (shaded)."""
    t = report["targets"][target]
    conds = list(t["deltas"])
    if not conds:
        return '<p class="note">No condition with a baseline in this task: no delta plot.</p>'
    names = _names(report)
    low = set(t["low_resource"])
    langs = sorted(t["languages"], key=lambda lang: (lang not in low, lang))
    vals = [v for c in conds for lang in langs if (d := t["deltas"][c]["languages"].get(lang))
            for v in [d.get("mean"), *(d.get("ci") or [])] if v is not None]
    top, bottom = max([0.0, *vals]), min([0.0, *vals])
    if top == bottom:
        top = 1.0
    pad = 0.08 * (top - bottom)
    top, bottom = top + pad, bottom - pad
    bar = 9
    group_w = bar * len(conds) + 10
    left, right, head, height = 48, 150, 22, 220
    width = left + group_w * len(langs) + right

    def y(v: float) -> float:
        return head + (top - v) / (top - bottom) * height

    parts = [(f'<svg class="delta-plot" data-target="{_e(target)}" xmlns="http://www.w3.org/2000/svg" width="{width}"'
             f' height="{head + height + 40}" role="img" aria-label="{_e(target)}: delta per language">'),
             (f'<text x="{left}" y="14">{_e(target)}: Δ per language against no intermediate (low-resource shaded)'
             "</text>")]
    n_low = sum(lang in low for lang in langs)
    if n_low:
        parts.append(f'<rect x="{left}" y="{head}" width="{group_w * n_low}" height="{height}" fill="#f3efe0"/>')
    for tick in _ticks(bottom, top):
        parts.append(f'<line x1="{left - 4}" x2="{left + group_w * len(langs)}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
                     f' stroke="{"#000" if tick == 0 else "#e0e0e0"}" stroke-width="{1 if tick == 0 else 0.6}"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:+g}</text>')
    for i, lang in enumerate(langs):
        x0 = left + i * group_w + 5
        for j, c in enumerate(conds):
            d = t["deltas"][c]["languages"].get(lang)
            if not d or d.get("mean") is None:
                continue
            m = d["mean"]
            x = x0 + j * bar
            colour = _PALETTE[j % len(_PALETTE)]
            parts.append(f'<rect class="bar" data-condition="{_e(c)}" data-lang="{_e(lang)}" data-delta="{_attr(m)}"'
                         f' x="{x}" y="{min(y(m), y(0)):.1f}" width="{bar - 1}" height="{abs(y(m) - y(0)):.1f}"'
                         f' fill="{colour}"><title>{_e(names.get(c, c))} {_e(lang)}: {_f(m, sign=True)}'
                         f" {_ci_text(d.get('ci'))}</title></rect>")
            if d.get("ci"):
                lo, hi = d["ci"]
                xc = x + (bar - 1) / 2
                parts.append(f'<line x1="{xc}" x2="{xc}" y1="{y(hi):.1f}" y2="{y(lo):.1f}" stroke="#333"'
                             ' stroke-width="1"/>')
        parts.append(f'<text x="{x0 + (group_w - 10) / 2:.1f}" y="{head + height + 14}" text-anchor="middle">'
                     f"{_e(lang)}</text>")
    lx = left + group_w * len(langs) + 12
    for j, c in enumerate(conds):
        parts.append(f'<rect x="{lx}" y="{head + 14 * j}" width="10" height="10" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
                     f'<text x="{lx + 14}" y="{head + 9 + 14 * j}">{_e(names.get(c, c))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step) + 1)]


def params_plot_svg(report: dict[str, Any]) -> str:
    """Overall score against trainable parameters (log scale): a colour per method, a marker per intermediate,
    the points of one method joined in parameter order."""
    conds = report["conditions"]
    points = [(cid, o["trainable_params"], o["score"]["all"]) for cid, o in report["overall"].items()
              if o["trainable_params"] and o["score"]["all"] is not None]
    if not points:
        return '<p class="note">No trainable-parameter counts recorded: no score/parameter plot.</p>'
    names = _names(report)
    methods = sorted({conds[c]["method"] for c, _, _ in points})
    chains = sorted({conds[c]["intermediate"] for c, _, _ in points}, key=lambda c: (c != "none", c))
    xs = [math.log10(p) for _, p, _ in points]
    ys = [s for _, _, s in points]
    x_lo, x_hi = min(xs) - 0.3, max(xs) + 0.3
    y_pad = max(1.0, 0.1 * (max(ys) - min(ys)))
    y_lo, y_hi = min(ys) - y_pad, max(ys) + y_pad
    left, top, w, h = 56, 24, 460, 280

    def px(v: float) -> float:
        return left + (math.log10(v) - x_lo) / (x_hi - x_lo) * w

    def py(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * h

    parts = [(f'<svg id="params-plot" xmlns="http://www.w3.org/2000/svg" width="{left + w + 200}" height="{top + h + 44}"'
             ' role="img" aria-label="overall score against trainable parameters">'),
             f'<text x="{left}" y="14">overall score against trainable parameters (log scale)</text>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    # 1, 2, 5 x 10^k where the points span under two decades, powers of ten otherwise
    steps = (1, 2, 5) if x_hi - x_lo < 2 else (1,)
    for e in range(math.floor(x_lo), math.ceil(x_hi) + 1):
        for s in steps:
            v = math.log10(s) + e
            if not x_lo <= v <= x_hi:
                continue
            x = left + (v - x_lo) / (x_hi - x_lo) * w
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + h}" stroke="#eee"/>'
                         f'<text x="{x:.1f}" y="{top + h + 14}" text-anchor="middle">{_fmt_count(s * 10 ** e)}</text>')
    for tick in _ticks(y_lo, y_hi):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{top + h + 32}" text-anchor="middle">trainable parameters</text>')
    for i, m in enumerate(methods):
        colour = _PALETTE[i % len(_PALETTE)]
        mine = sorted((p, s) for c, p, s in points if conds[c]["method"] == m)
        if len(mine) > 1:
            path = " ".join(f"{px(p):.1f},{py(s):.1f}" for p, s in mine)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-opacity="0.5"/>')
    for c, p, s in points:
        colour = _PALETTE[methods.index(conds[c]["method"]) % len(_PALETTE)]
        shape = _MARKERS[chains.index(conds[c]["intermediate"]) % len(_MARKERS)]
        parts.append(f'<g class="point" data-condition="{_e(c)}" data-params="{p}" data-score="{_attr(s)}">'
                     f"{_marker(shape, px(p), py(s), colour)}<title>{_e(names.get(c, c))}: {s:.2f} at {p:,}"
                     " trainable parameters</title></g>")
    lx = left + w + 14
    for i, m in enumerate(methods):
        parts.append(f'<rect x="{lx}" y="{top + 14 * i}" width="10" height="10" fill="{_PALETTE[i % len(_PALETTE)]}"/>'
                     f'<text x="{lx + 14}" y="{top + 9 + 14 * i}">{_e(m)}</text>')
    for k, ch in enumerate(chains):
        yy = top + 14 * (len(methods) + k) + 10
        parts.append(_marker(_MARKERS[k % len(_MARKERS)], lx + 5, yy + 4, "#888")
                     + f'<text x="{lx + 14}" y="{yy + 8}">intermediate: {_e(ch)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt_count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}"


def _marker(shape: str, x: float, y: float, colour: str, r: float = 5.0) -> str:
    style = f'fill="{colour}" stroke="#000" stroke-width="0.6"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" {style}/>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" {style}/>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - r:.1f} {x - r:.1f},{y + r:.1f} {x + r:.1f},{y + r:.1f}" {style}/>'
    return f'<polygon points="{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}" {style}/>'


# --------------------------------------------------------------------------------------------------------------
# Provenance


def cell_provenance(run_dir: Path) -> list[dict[str, Any]]:
    """Per finished cell: hash, label, spec, where and how it ran, the backbone hash and the hashes of its modules
    (the target module's is computed from the files when they are still on disk)."""
    out = []
    for h, spec, prov, cell_run_dir in ResultsStore.for_run(run_dir).cell_provenance():
        rj = prov.get("run_json") or {}
        modules = [{"task": m.get("task"), "sha256": m.get("sha256")}
                   for m in ((rj.get("composition") or {}).get("modules") or [])]
        module_dir = Path(cell_run_dir) / "module" if cell_run_dir else None
        if module_dir is not None and module_dir.is_dir():
            modules.append({"task": f"{spec.get('target')} (its files now)", "sha256": tree_sha256(module_dir)})
        out.append({"cell_hash": h, "spec": spec, "provenance": prov,
                    "backbone_sha256": (rj.get("backbone") or {}).get("sha256"), "modules": modules})
    return out


def _provenance_section(run_dir: Path | None, cells: Sequence[dict[str, Any]]) -> str:
    out = ['<section id="provenance"><h2>Provenance</h2>']
    recipe = run_dir / "recipe.yaml" if run_dir else None
    if recipe is not None and recipe.is_file():
        out.append(f"<details><summary>recipe ({_e(recipe)})</summary><pre>{_e(recipe.read_text('utf-8'))}</pre>"
                   "</details>")
    runs = run_dir / "runs.jsonl" if run_dir else None
    if runs is not None and runs.is_file():
        lines = [json.loads(x) for x in runs.read_text("utf-8").splitlines() if x.strip()]
        items = "".join(f"<li>{_e(x.get('time'))}: <code>{_e(x.get('command') or 'adapterx run ' + x.get('recipe', ''))}"
                        f"</code> ({_e(x.get('executor'))}, {_e(x.get('n_todo'))} of {_e(x.get('n_cells'))} cells to"
                        " run)</li>" for x in lines)
        out.append(f"<details><summary>commands ({len(lines)} invocation{'s' if len(lines) != 1 else ''} of"
                   f" adapterx run)</summary><ul>{items}</ul></details>")
    for c in cells:
        spec, prov = c["spec"], c["provenance"]
        chain = "+".join(spec.get("intermediate") or []) or "none"
        label = f"{spec.get('backbone')} {spec.get('method', {}).get('label')} {chain} -> {spec.get('target')}" \
                f" seed {spec.get('seed')}"
        rows = [("cell", c["cell_hash"]), ("executor", prov.get("executor")), ("host", prov.get("host")),
                ("started", prov.get("started")), ("wall time s", prov.get("wall_time_s")),
                ("adapterx", f"{prov.get('adapterx_version')} ({prov.get('git_commit') or 'no git'})"),
                ("backbone sha256", c["backbone_sha256"] or "-")]
        rows += [(f"module {m['task']} sha256", m["sha256"] or "-") for m in c["modules"]]
        slurm = prov.get("slurm") or {}
        if prov.get("slurm_array_job") or slurm:
            rows.append(("slurm job", prov.get("slurm_array_job") or prov.get("slurm_job_id")))
            rows += [(f"sacct {k}", v) for k, v in slurm.items() if k != "job_id"]
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
        out.append(f'<details class="cell" data-cell="{_e(c["cell_hash"])}"><summary>{_e(label)}</summary><dl>{dl}</dl>'
                   f"<details><summary>cell spec</summary><pre>{_e(json.dumps(spec, indent=1))}</pre></details>"
                   "</details>")
    out.append("</section>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------------
# The page


def render_html(report: dict[str, Any], answers: Mapping[str, dict[str, Any]],
                provenance: Sequence[dict[str, Any]] = (), figures: Mapping[str, str] | None = None,
                run_dir: Path | None = None) -> str:
    """The whole page as one string. ``answers``: :func:`adapterx.results.question.answer` per group
    (all, low, high); ``figures``: extra SVG documents by name, embedded as images."""
    ci = round(100 * report["options"]["ci"])
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             # No request may leave the page, even if a future figure carries a URL.
             ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline';"
             " img-src data:\">"),
             f"<title>adapterx report: {_e(Path(report['run_dir']).name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>adapterx report: {_e(Path(report['run_dir']).name)}</h1>",
             (f'<p class="meta">{_e(report["run_dir"])} · {report["n_cells"]} finished cells ·'
             f" {len(report['failures'])} failed · {report['options']['n_boot']} bootstrap resamples, {ci}% intervals"
             f" · generated {_e(report['generated'])}</p>")]
    described = _recipe_description(run_dir)
    if described:
        parts.append(f'<p class="meta description">{_e(described)}</p>')
    parts.append(_answer_section(report, answers, provenance))
    for target in report["targets"]:
        parts.append(_target_section(report, target))
    parts.append('<section id="cost"><h2>Score against trainable parameters</h2>')
    parts.append(params_plot_svg(report))
    parts.append("</section>")
    if figures:
        parts.append('<section id="figures"><details><summary>The report\'s figures as written beside this page'
                     f" ({len(figures)})</summary>")
        for name, svg in figures.items():
            data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
            parts.append(f'<figure><img alt="{_e(name)}" src="data:image/svg+xml;base64,{data}">'
                         f"<figcaption>{_e(name)}</figcaption></figure>")
        parts.append("</details></section>")
    if report["notes"] or report["failures"]:
        parts.append('<section id="notes"><h2>Notes and failures</h2><ul>')
        parts += [f"<li>{_e(n)}</li>" for n in report["notes"]]
        parts += [f'<li class="failed" data-cell="{_e(f["cell_hash"])}">failed cell {_e(f["cell_hash"])}:'
                  f" {_e(f['error'])}</li>" for f in report["failures"]]
        parts.append("</ul></section>")
    parts.append(_provenance_section(run_dir, provenance))
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(report: dict[str, Any], run_dir: str | Path, out_dir: str | Path, intermediate: str = "stsb",
               figures: Mapping[str, str] | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) for the run whose report is ``report``; returns its path."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    answers = {g: answer(report, intermediate=intermediate, group=g) for g in ("low", "all", "high")}
    page = render_html(report, answers, cell_provenance(run_dir), figures, run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / HTML_NAME
    atomic_write_text(path, page)
    return path
