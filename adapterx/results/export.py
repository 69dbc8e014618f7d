"""Report tables and their exports: Markdown, CSV, JSON, LaTeX.

One function, :func:`report_tables`, turns the report dict (:func:`adapterx.results.aggregate.build_report`) into
titled tables of strings; Markdown, LaTeX and the CLI's rich output all render those same tables, so the formats
never disagree. CSV is the long, machine-readable form (one row per target, condition and language or group).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx.fsio import atomic_write_text
from adapterx.results.aggregate import GROUPS

FORMATS = ("md", "csv", "json", "tex")
GROUP_LABEL = {"all": "avg all", "low": "avg low", "high": "avg high", "english": "English",
               "zero_shot": "avg zero-shot",
               "latin": "avg Latin", "other_script": "avg other script", "low_latin": "avg low Latin"}


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: str = ""


def _num(x: float | None, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_score(entry: dict[str, Any] | None) -> str:
    """``71.3 ± 0.4`` (mean ± std over seeds; std omitted for one seed)."""
    if not entry or entry.get("mean") is None:
        return "-"
    std = entry.get("std")
    return _num(entry["mean"]) + (f" ± {_num(std)}" if std is not None else "")


def fmt_delta(entry: dict[str, Any] | None) -> str:
    """``+1.2 ± 0.5 [+0.3, +2.0]``: seed mean ± std, then the bootstrap interval over seeds and test examples."""
    if not entry or entry.get("mean") is None:
        return "-"
    out = _num(entry["mean"], sign=True)
    if entry.get("std") is not None:
        out += f" ± {_num(entry['std'])}"
    ci = entry.get("ci")
    if ci:
        out += f" [{_num(ci[0], sign=True)}, {_num(ci[1], sign=True)}]"
    return out


def fmt_params(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.{2 if n < 10 * size else 1}f}{unit}"
    return str(n)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}min" if s < 7200 else f"{s / 3600:.1f}h"


def short_names(report: dict[str, Any]) -> dict[str, str]:
    """Condition ids for display: the backbone is dropped when the run has only one."""
    conds = report["conditions"]
    one_backbone = len({c["backbone"] for c in conds.values()}) <= 1
    return {cid: (f"{c['method']}/{c['intermediate']}" if one_backbone else cid) for cid, c in conds.items()}


def _lang_label(lang: str, low: list[str]) -> str:
    return f"{lang}*" if lang in low else lang


def overall_table(report: dict[str, Any]) -> Table:
    names = short_names(report)
    headers = ["condition", "score", "low", "high", "Δ all", "Δ low", "Δ high", "trainable", "time/cell", "tasks"]
    rows = []
    for cid, o in report["overall"].items():
        d = o["delta"] or {}
        rows.append([
            names[cid], _num(o["score"]["all"]), _num(o["score"]["low"]), _num(o["score"]["high"]),
            fmt_delta(d.get("all")), fmt_delta(d.get("low")), fmt_delta(d.get("high")),
            fmt_params(o["trainable_params"]), fmt_seconds(o["train_time_s_mean"]), str(o["n_targets"]),
        ])
    ci = int(round(100 * report["options"]["ci"]))
    return Table("Overall (XTREME-R style: languages averaged per task, then tasks; QA = (EM+F1)/2)", headers, rows,
                 f"Δ: against the same method without intermediate task; mean ± std over seeds [{ci}% bootstrap CI"
                 " over seeds and test examples].")


def target_tables(report: dict[str, Any], target: str) -> list[Table]:
    t = report["targets"][target]
    names = short_names(report)
    conds = t["conditions"]
    low = t["low_resource"]
    thr = report["options"]["low_resource_threshold"]
    score_rows = [[_lang_label(lang, low), *(fmt_score(t["scores"][c].get(lang)) for c in conds)]
                  for lang in t["languages"]]
    score_rows += [[GROUP_LABEL[g], *(fmt_score(t["averages"][c][g]) for c in conds)] for g in GROUPS]
    tables = [Table(f"{target}: {t['metric']} per language (mean ± std over seeds)", ["lang", *(names[c] for c in conds)],
                    score_rows, f"* low-resource (Joshi class <= {thr}).")]
    dconds = list(t["deltas"])
    if dconds:
        rows = [[_lang_label(lang, low), *(fmt_delta(t["deltas"][c]["languages"].get(lang)) for c in dconds)]
                for lang in t["languages"]]
        rows += [[GROUP_LABEL[g], *(fmt_delta(t["deltas"][c]["groups"][g]) for c in dconds)] for g in GROUPS]
        ci = int(round(100 * report["options"]["ci"]))
        tables.append(Table(f"{target}: Δ against no intermediate task", ["lang", *(f"Δ {names[c]}" for c in dconds)],
                            rows, f"mean ± std over seeds [{ci}% paired bootstrap CI over seeds and test examples]."))
    cost_rows = [[names[c], fmt_params(t["cost"][c]["trainable_params"]), fmt_seconds(t["cost"][c]["train_time_s"]),
                  _num(t["averages"][c]["all"]["mean"] if t["averages"][c]["all"] else None)] for c in conds]
    tables.append(Table(f"{target}: score against cost", ["condition", "trainable params", "train time/cell", "score"],
                        cost_rows))
    return tables


def report_tables(report: dict[str, Any]) -> list[Table]:
    tables = [overall_table(report)]
    for target in report["targets"]:
        tables.extend(target_tables(report, target))
    return tables


# --------------------------------------------------------------------------------------------------------------
# Renderers


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(report: dict[str, Any]) -> str:
    opts = report["options"]
    out = [
        f"# adapterx report: {report['run_dir']}", "",
        f"{report['n_cells']} cells; bootstrap {opts['n_boot']} resamples, {int(round(100 * opts['ci']))}% intervals;"
        f" low-resource = Joshi class <= {opts['low_resource_threshold']}. Generated {report['generated']}.", "",
    ]
    for table in report_tables(report):
        out += [f"## {table.title}", "", "| " + " | ".join(map(_md_cell, table.headers)) + " |",
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.headers))) + "|"]
        out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
        if table.notes:
            out += ["", table.notes]
        out.append("")
    if report["notes"]:
        out += ["## Notes", "", *(f"- {n}" for n in report["notes"]), ""]
    if report["failures"]:
        out += ["## Failed cells (not in the tables; rerun `adapterx run` to retry)", "",
                *(f"- `{f['cell_hash']}`: {f['error']}" for f in report["failures"]), ""]
    return "\n".join(out)


_TEX_ESCAPE = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
               "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _tex(s: str) -> str:
    out = "".join(_TEX_ESCAPE.get(ch, ch) for ch in s)
    return out.replace("±", r"$\pm$").replace("Δ", r"$\Delta$")


def render_latex(report: dict[str, Any]) -> str:
    """One booktabs ``table`` per report table (needs ``\\usepackage{booktabs}``)."""
    out = ["% adapterx report: " + report["run_dir"], "% needs \\usepackage{booktabs}", ""]
    for table in report_tables(report):
        spec = "l" + "r" * (len(table.headers) - 1)
        out += [r"\begin{table}[ht]", r"\centering", r"\small", f"\\caption{{{_tex(table.title)}}}",
                f"\\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(_tex(h) for h in table.headers) + r" \\",
                r"\midrule"]
        out += [" & ".join(_tex(c) for c in row) + r" \\" for row in table.rows]
        out += [r"\bottomrule", r"\end{tabular}"]
        if table.notes:
            out.append(f"\\\\[2pt]{{\\footnotesize {_tex(table.notes)}}}")
        out += [r"\end{table}", ""]
    return "\n".join(out)


CSV_FIELDS = ["target", "condition", "backbone", "method", "intermediate", "lang", "low_resource", "score_mean",
              "score_std", "n_seeds", "n_examples", "baseline", "delta_mean", "delta_std", "ci_low", "ci_high",
              "trainable_params", "train_time_s"]


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Long form: per target, condition and language (then ``avg_all|avg_low|avg_high``); ``overall`` rows last."""
    rows: list[dict[str, Any]] = []
    conds = report["conditions"]

    def base(target: str, cid: str) -> dict[str, Any]:
        c = conds[cid]
        return {"target": target, "condition": cid, "backbone": c["backbone"], "method": c["method"],
                "intermediate": c["intermediate"], "baseline": c["baseline"] or ""}

    def delta(d: dict[str, Any] | None) -> dict[str, Any]:
        if not d:
            return {}
        ci = d.get("ci") or [None, None]
        return {"delta_mean": d.get("mean"), "delta_std": d.get("std"), "ci_low": ci[0], "ci_high": ci[1]}

    for target, t in report["targets"].items():
        for cid in t["conditions"]:
            cost = t["cost"][cid]
            extra = {"trainable_params": cost["trainable_params"], "train_time_s": cost["train_time_s"]}
            dl = t["deltas"].get(cid)
            for lang, s in t["scores"][cid].items():
                rows.append({**base(target, cid), "lang": lang, "low_resource": lang in t["low_resource"],
                             "score_mean": s["mean"], "score_std": s["std"], "n_seeds": s["n_seeds"],
                             "n_examples": s["n_examples"], **delta(dl["languages"].get(lang) if dl else None), **extra})
            for g in GROUPS:
                a = t["averages"][cid][g]
                if a is None:
                    continue
                rows.append({**base(target, cid), "lang": f"avg_{g}", "low_resource": g == "low",
                             "score_mean": a["mean"], "score_std": a["std"],
                             **delta(dl["groups"][g] if dl else None), **extra})
    for cid, o in report["overall"].items():
        for g in GROUPS:
            d = (o["delta"] or {}).get(g)
            rows.append({**base("overall", cid), "lang": f"avg_{g}", "low_resource": g == "low",
                         "score_mean": o["score"][g], **delta(d), "trainable_params": o["trainable_params"],
                         "train_time_s": o["train_time_s_mean"]})
    return rows


def render_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_exports(report: dict[str, Any], out_dir: str | Path, formats: tuple[str, ...] = FORMATS,
                  stem: str = "report") -> list[Path]:
    """Write ``report.md|csv|json|tex`` into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    renderers = {"md": render_markdown, "csv": render_csv, "json": render_json, "tex": render_latex}
    written = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        atomic_write_text(path, renderers[fmt](report))
        written.append(path)
    return written
