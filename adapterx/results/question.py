"""The project's question, answered in one screen from a report.

Per target task and method: did intermediate training on STS-B (or another chain) help the low-resource languages,
by how much (mean ± std over seeds), does the paired bootstrap interval exclude zero, and how does that compare
with full fine-tuning on the same target?
"""

from __future__ import annotations

from typing import Any

REFERENCE_METHOD = "full"


def verdict(delta: dict[str, Any] | None) -> str:
    """``helped`` / ``hurt`` when the interval excludes zero; ``no clear effect`` otherwise."""
    if delta is None or delta.get("mean") is None:
        return "n/a"
    ci = delta.get("ci")
    if not ci:
        return "no interval"
    if ci[0] > 0:
        return "helped"
    if ci[1] < 0:
        return "hurt"
    return "no clear effect"


def excludes_zero(delta: dict[str, Any] | None) -> bool | None:
    ci = (delta or {}).get("ci")
    return None if not ci else bool(ci[0] > 0 or ci[1] < 0)


def answer(report: dict[str, Any], intermediate: str = "stsb", group: str = "low") -> dict[str, Any]:
    """Rows of (target, method) with the group's delta and the full fine-tuning reference next to it."""
    conds = report["conditions"]
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for target, t in report["targets"].items():
        chosen = [c for c in t["conditions"] if conds[c]["intermediate"] == intermediate]
        if not chosen:
            missing.append(target)
            continue
        # full fine-tuning first: the reference each parameter-efficient row is read against
        chosen.sort(key=lambda c: (conds[c]["backbone"], conds[c]["method_name"] != REFERENCE_METHOD, conds[c]["method"]))
        for cid in chosen:
            cond = conds[cid]
            d = t["deltas"].get(cid)
            g = d["groups"][group] if d else None
            ref_ids = [r for r in chosen if conds[r]["backbone"] == cond["backbone"]
                       and conds[r]["method_name"] == REFERENCE_METHOD]
            ref_id = next((r for r in ref_ids if conds[r]["method"] == REFERENCE_METHOD), ref_ids[0] if ref_ids else None)
            ref = t["deltas"].get(ref_id) if ref_id else None
            ref_g = ref["groups"][group] if ref else None
            rows.append({
                "target": target, "condition": cid, "backbone": cond["backbone"], "method": cond["method"],
                "method_name": cond["method_name"],
                "n_langs": g["n_langs"] if g else 0,
                "languages": t["low_resource"] if group == "low" else t["high_resource"] if group == "high"
                else t["languages"],
                "delta": g, "excludes_zero": excludes_zero(g), "verdict": verdict(g) if d else "no baseline",
                "reference": None if ref_id is None or ref_id == cid else {
                    "condition": ref_id, "delta": ref_g, "excludes_zero": excludes_zero(ref_g),
                    "verdict": verdict(ref_g) if ref else "no baseline"},
                "note": (f"no {group}-resource language in {target}" if d and g is None else None),
            })
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("helped", "hurt", "no clear effect")}
    return {
        "question": f"Does {intermediate} intermediate training help {group}-resource languages?",
        "intermediate": intermediate, "group": group,
        "low_resource_threshold": report["options"]["low_resource_threshold"], "ci": report["options"]["ci"],
        "rows": rows, "counts": counts, "targets_without_condition": missing,
        "summary": _summary(intermediate, group, rows, counts),
        "by_group": group_matrix(report, intermediate),
        "group_members": {t: sec.get("groups") or {} for t, sec in report["targets"].items()},
    }


MATRIX_GROUPS = ("english", "zero_shot", "low", "latin", "other_script", "low_latin")
"""The groups of the answer's second table: English (the training language) apart from the zero-shot languages,
and those by resource class and by script (an English-vocabulary encoder reaches Latin-script text far better)."""


def group_matrix(report: dict[str, Any], intermediate: str = "stsb") -> list[dict[str, Any]]:
    """Per (target, method) with ``intermediate``, its delta against no intermediate for each of
    :data:`MATRIX_GROUPS` (``{"mean", "std", "ci", "n_langs"}`` or None where the target has no such language), plus
    an ``overall`` row per method averaging the targets (the report's XTREME-R style overall delta)."""
    conds = report["conditions"]
    rows: list[dict[str, Any]] = []

    def strip(d: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if d is None else {k: d.get(k) for k in ("mean", "std", "ci", "n_langs")}

    for target, t in report["targets"].items():
        chosen = [c for c in t["conditions"] if conds[c]["intermediate"] == intermediate and c in t["deltas"]]
        chosen.sort(key=lambda c: (conds[c]["backbone"], conds[c]["method_name"] != REFERENCE_METHOD, conds[c]["method"]))
        for cid in chosen:
            groups = t["deltas"][cid]["groups"]
            rows.append({"target": target, "condition": cid, "method": conds[cid]["method"],
                         "groups": {g: strip(groups.get(g)) for g in MATRIX_GROUPS}})
    for cid, o in sorted((report.get("overall") or {}).items()):
        if conds.get(cid, {}).get("intermediate") != intermediate or not o.get("delta"):
            continue
        rows.append({"target": "overall", "condition": cid, "method": conds[cid]["method"],
                     "groups": {g: strip(o["delta"].get(g)) for g in MATRIX_GROUPS}})
    return rows


def cell_text(d: dict[str, Any] | None) -> str:
    """``+1.2 [-0.3, +2.5]``: a group's delta with its interval, ``-`` where there is none."""
    if not d or d.get("mean") is None:
        return "-"
    ci = d.get("ci")
    return f"{d['mean']:+.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")


def _summary(intermediate: str, group: str, rows: list[dict[str, Any]], counts: dict[str, int]) -> str:
    judged = sum(counts.values())
    if not rows:
        return f"No cell with intermediate task {intermediate!r} in this run."
    peft = [r for r in rows if r["method_name"] != REFERENCE_METHOD and r["delta"]]
    full = [r for r in rows if r["method_name"] == REFERENCE_METHOD and r["delta"]]

    def avg(rs: list[dict[str, Any]]) -> str:
        return f"{sum(r['delta']['mean'] for r in rs) / len(rs):+.1f}" if rs else "n/a"

    return (f"{intermediate} helped {group}-resource languages in {counts['helped']} of {judged} (target, method)"
            f" pairs (interval above zero), hurt in {counts['hurt']}, no clear effect in {counts['no clear effect']}."
            f" Mean Δ over pairs: adapters/LoRA {avg(peft)}, full fine-tuning {avg(full)}.")


def split_rows(ans: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows to show, and the targets that have no language of the group (one line instead of empty rows)."""
    empty = sorted({r["target"] for r in ans["rows"] if r["note"]})
    return [r for r in ans["rows"] if not r["note"]], empty


def render_text(ans: dict[str, Any]) -> str:
    """Plain-text form (Markdown table) for files and non-terminal output."""
    ci = int(round(100 * ans["ci"]))
    rows, empty = split_rows(ans)
    multi = len({r["backbone"] for r in rows}) > 1
    lines = [f"# {ans['question']}", "",
             f"Δ = {ans['group']}-resource average (Joshi class <= {ans['low_resource_threshold']}) against the same"
             f" method without intermediate task; mean ± std over seeds, {ci}% paired bootstrap CI over seeds and test examples."
             " Full fine-tuning first in each task.", "",
             f"| target | method | Δ {ans['group']} | {ci}% CI | excludes 0 | verdict |", "|---|---|---:|---:|:-:|---|"]
    for r in rows:
        lines.append("| " + " | ".join([
            r["target"], r["condition"] if multi else r["method"], delta_text(r["delta"]), ci_text(r["delta"]),
            _yes(r["excludes_zero"]), r["verdict"],
        ]) + " |")
    lines += ["", ans["summary"]]
    matrix = ans.get("by_group") or []
    if matrix:
        lines += ["", f"Δ by language group ({ci}% CI), {ans['intermediate']} against none:", "",
                  "| target | method | " + " | ".join(GROUP_TITLES[g] for g in MATRIX_GROUPS) + " |",
                  "|---|---|" + "---:|" * len(MATRIX_GROUPS)]
        for r in matrix:
            lines.append(f"| {r['target']} | {r['method']} | "
                         + " | ".join(cell_text(r["groups"][g]) for g in MATRIX_GROUPS) + " |")
        lines += ["", groups_text(ans)]
    if empty:
        lines.append(f"No {ans['group']}-resource language in: {', '.join(empty)}.")
    if ans["targets_without_condition"]:
        lines.append(f"Targets without a {ans['intermediate']} condition: {', '.join(ans['targets_without_condition'])}.")
    return "\n".join(lines) + "\n"


def delta_text(d: dict[str, Any] | None) -> str:
    if not d or d.get("mean") is None:
        return "-"
    return f"{d['mean']:+.1f}" + (f" ± {d['std']:.1f}" if d.get("std") is not None else "")


def ci_text(d: dict[str, Any] | None) -> str:
    ci = (d or {}).get("ci")
    return f"[{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "-"


def _yes(x: bool | None) -> str:
    return "-" if x is None else "yes" if x else "no"


GROUP_TITLES = {"english": "English", "zero_shot": "zero-shot", "low": "low-resource", "latin": "Latin script",
                "other_script": "other script", "low_latin": "low Latin"}


def groups_text(ans: dict[str, Any]) -> str:
    """What each group holds, per target (one line per target): the reader needs it to weigh a group's delta."""
    parts = []
    for target, groups in (ans.get("group_members") or {}).items():
        held = "; ".join(f"{GROUP_TITLES[g]}: {', '.join(groups[g]) or 'none'}" for g in MATRIX_GROUPS[1:] if g in groups)
        parts.append(f"{target}: {held}.")
    return "Groups (English excluded from the zero-shot ones): " + " ".join(parts)
