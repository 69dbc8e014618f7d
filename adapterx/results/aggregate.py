"""From stored results to a report: per-language tables, deltas against the no-intermediate baseline, seeds, bootstrap.

The unit is a *condition* = backbone / method label / intermediate chain (``xlm-roberta-base/adapter/stsb``); its
baseline is the same backbone and method with no intermediate (``.../adapter/none``). For every target task:

- scores per language: mean and std over seeds;
- averages over all, low-resource (Joshi class <= threshold) and high-resource languages;
- deltas against the baseline per language and per group: mean +- std over seeds (paired by seed), and a 95%
  bootstrap interval over *seeds and test examples*: resample example indices of a language, use the same indices
  for both conditions and every seed (the test set is shared, so the comparison is paired), recompute each metric
  from the per-example sufficient statistics, subtract per seed, then resample the seeds both conditions have and
  average (:func:`_over_seeds`). A group's interval averages the per-language replicates (languages have independent
  test sets, each resampled on its own; the seed draws are shared, as a seed's cell serves every language).

And over tasks, the XTREME-R style overall score (QA tasks already carry (EM+F1)/2 as their score): average the
languages of each task, then the tasks; plus trainable parameters and training time per condition.

The report is a plain JSON-able dict (layout in :func:`build_report`), so exports, plots and the one-screen
answer all read the same object.
"""

from __future__ import annotations

import statistics
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from adapterx.errors import AdapterxError, DataError
from adapterx.results.store import ResultRow, ResultsStore
from adapterx.results.scored import add_scored

GROUPS = ("all", "low", "high", "english", "zero_shot", "latin", "other_script", "low_latin")
"""Language groups of every report, in display order (:func:`language_groups`)."""

GROUP_DESCRIPTIONS = {
    "all": "every evaluated language, English included",
    "low": "low-resource: Joshi class <= the threshold",
    "high": "the other languages",
    "english": "English alone (the training language; its evaluation split)",
    "zero_shot": "every language but English (the training language)",
    "latin": "Latin-script languages but English",
    "other_script": "languages in any other script",
    "low_latin": "low-resource Latin-script languages",
}
"""What each group holds. The script groups matter for an encoder whose vocabulary is one script's (an English
WordPiece vocabulary such as MiniLM's reaches other languages only through shared subwords: Latin-script text keeps
some; Cyrillic, Arabic, Indic or Hangul text is mostly [UNK] or characters)."""


def _script(code: str) -> str | None:
    try:
        from adapterx.languages import get_language
        return get_language(code).script
    except (ImportError, AdapterxError, KeyError, ValueError):
        return None


def language_groups(langs: Sequence[str], threshold: int = 2) -> dict[str, list[str]]:
    """Members of every group of :data:`GROUPS` among ``langs`` (order kept)."""
    low = [lang for lang in langs if is_low_resource(lang, threshold)]
    latin = [lang for lang in langs if lang != "en" and _script(lang) == "Latn"]
    return {
        "all": list(langs), "low": low, "high": [lang for lang in langs if lang not in low],
        "english": [lang for lang in langs if lang == "en"],
        "zero_shot": [lang for lang in langs if lang != "en"], "latin": latin,
        "other_script": [lang for lang in langs if lang != "en" and lang not in latin],
        "low_latin": [lang for lang in latin if lang in low],
    }

# Joshi et al. 2020 classes of the XTREME-R languages (shared/design/xtreme-r.md); used only where
# adapterx.languages is not importable.
_FALLBACK_CLASS: dict[str, int] = {
    **dict.fromkeys(("az", "gu", "jv", "ml", "my", "qu", "te"), 1),
    **dict.fromkeys(("ht", "mr", "pa", "sw", "wo", "yo"), 2),
    **dict.fromkeys(("af", "bg", "bn", "el", "et", "he", "id", "ka", "kk", "lt", "ms", "ro", "ta", "th", "tl", "uk",
                     "ur"), 3),
    **dict.fromkeys(("eu", "fa", "fi", "hi", "hu", "it", "ko", "nl", "pl", "pt", "ru", "tr", "vi"), 4),
    **dict.fromkeys(("ar", "de", "en", "es", "fr", "ja", "zh"), 5),
}


def is_low_resource(code: str, threshold: int = 2) -> bool:
    """Joshi class <= ``threshold``; through :mod:`adapterx.languages` when present (the one source of truth)."""
    try:
        from adapterx.languages import is_low_resource as shared
    except ImportError:
        shared = None
    if shared is not None:
        try:
            return bool(shared(code, threshold=threshold))
        except (KeyError, ValueError, AdapterxError):
            pass  # a code the language table lacks: fall through to ours
    cls = _FALLBACK_CLASS.get(code.split("-")[0].split("_")[0])
    return cls is not None and cls <= threshold


# --------------------------------------------------------------------------------------------------------------
# Metrics from per-example sufficient statistics (docs/internals.md)


def stats_metric(kind: str, metric: str | None = None) -> str:
    """The metric name :func:`metric_from_stats` reduces records with: the kind, or for correlations the stored
    metric's name (pearson | spearman; STS reports Spearman)."""
    if kind == "correlation":
        return metric if metric in ("pearson", "spearman") else "pearson"
    return kind


def _metric_fallback(name: str, kind: str, records: Sequence[dict[str, Any]]) -> float:
    arr = _stats_array(kind, records)
    if name == "spearman":
        from scipy.stats import rankdata

        arr = np.column_stack([rankdata(arr[:, 0]), rankdata(arr[:, 1])])
    return float(_weighted_metric(kind, arr, np.ones((1, len(arr))))[0])


def metric_from_stats(kind: str, records: Sequence[dict[str, Any]], metric: str | None = None) -> float:
    """The metric (0-100) of per-example records: adapterx.tasks.metrics' reduction where present, else ours.

    ``kind`` is mean | f1 | correlation; ``metric`` (the stored metric name) picks Pearson or Spearman.
    """
    name = stats_metric(kind, metric)
    try:
        from adapterx.tasks.metrics import metric_from_stats as shared
    except ImportError:
        return _metric_fallback(name, kind, records)
    return float(shared(name, list(records)))


def _stats_array(kind: str, records: Sequence[dict[str, Any]]) -> np.ndarray:
    keys = {"mean": ("score",), "f1": ("tp", "n_pred", "n_gold"), "correlation": ("pred", "gold")}.get(kind)
    if keys is None:
        raise DataError(f"unknown metric kind {kind!r} in per-example statistics (mean, f1 or correlation)")
    try:
        return np.array([[float(r[k]) for k in keys] for r in records], dtype=np.float64).reshape(len(records), len(keys))
    except (KeyError, TypeError) as exc:
        raise DataError(f"per-example records of kind {kind!r} need keys {keys}: {exc}") from None


def _weighted_metric(kind: str, arr: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Metric for each row of ``weights`` (B x n, counts of each example in a resample): additive sums via matmul."""
    n_w = weights.sum(axis=1)
    if kind == "mean":
        return 100.0 * (weights @ arr[:, 0]) / np.maximum(n_w, 1e-12)
    if kind == "f1":
        tp, n_pred, n_gold = (weights @ arr).T
        denom = n_pred + n_gold
        return np.where(denom > 0, 100.0 * 2.0 * tp / np.where(denom > 0, denom, 1.0), 0.0)
    # correlation: Pearson from weighted moments
    x, y = arr[:, 0], arr[:, 1]
    sx, sy = weights @ x, weights @ y
    sxx, syy, sxy = weights @ (x * x), weights @ (y * y), weights @ (x * y)
    cov = sxy - sx * sy / n_w
    vx, vy = sxx - sx * sx / n_w, syy - sy * sy / n_w
    den = np.sqrt(np.maximum(vx, 0) * np.maximum(vy, 0))
    return np.where(den > 0, 100.0 * cov / np.where(den > 0, den, 1.0), 0.0)


def _over_seeds(per_seed: np.ndarray, seed: int) -> np.ndarray:
    """Replicates of the seed mean, resampling seeds as well as examples (a two-level bootstrap): replicate b
    averages row b of k seeds drawn with replacement from the k rows of ``per_seed`` (seeds x n_boot).

    Examples alone left out seed-to-seed spread: UD-POS LoRA's low-resource delta, +8.3 with a seed std of 7.8, got
    [+7.3, +9.2]. The draws depend on (k, n_boot, seed) only, so every language and condition of a report shares
    them and a group's average keeps each replicate's seeds together."""
    k, n_boot = per_seed.shape
    if k == 1:
        return per_seed[0]
    draws = np.random.default_rng([seed, 7919, k]).integers(0, k, size=(n_boot, k))
    return per_seed[draws, np.arange(n_boot)[:, None]].mean(axis=1)


class _Resampler:
    """Bootstrap weights of one (target, language): the same resamples for every condition and seed (pairing)."""

    def __init__(self, n: int, n_boot: int, seed: int, *key: str) -> None:
        self.n, self.n_boot = n, n_boot
        rng = np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in key)])
        # counts of each example in each resample, from integer indices (bincount is far faster than multinomial)
        idx = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
        self.indices = idx - (np.arange(n_boot) * n)[:, None]
        self.weights = np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)

    def replicates(self, kind: str, records: Sequence[dict[str, Any]], metric: str | None = None) -> np.ndarray:
        if stats_metric(kind, metric) in ("mean", "f1", "pearson"):
            return _weighted_metric(kind, _stats_array(kind, records), self.weights)
        # Rank correlations (Spearman) do not reduce to sums: recompute per resample.
        return np.array([metric_from_stats(kind, [records[i] for i in row], metric) for row in self.indices])


# --------------------------------------------------------------------------------------------------------------
# Building the report


@dataclass(frozen=True)
class ReportOptions:
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0
    low_resource_threshold: int | None = None  # None: the threshold the cells were evaluated with (default 2)
    include_scored: tuple[Path, ...] = ()  # `adapterx score --per-example` folders: extra conditions (results.scored)


def _mean(xs: Sequence[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def _std(xs: Sequence[float]) -> float | None:
    return float(statistics.stdev(xs)) if len(xs) > 1 else None


def _ci(reps: np.ndarray | None, level: float) -> list[float] | None:
    if reps is None:
        return None
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(reps, [100 * alpha, 100 * (1 - alpha)])
    return [float(lo), float(hi)]


def _cond_sort_key(cond: str) -> tuple[str, str, int, str]:
    # rsplit: a backbone id may itself hold a slash (FacebookAI/xlm-roberta-base)
    backbone, method, chain = cond.rsplit("/", 2) if cond.count("/") >= 2 else (cond, "", "none")
    return (backbone, method, 0 if chain == "none" else 1, chain)


def build_report(source: ResultsStore | str | Path, options: ReportOptions = ReportOptions()) -> dict[str, Any]:
    """Aggregate every result of a run into the report dict.

    Layout::

        {"run_dir", "generated", "n_cells", "options": {...}, "notes": [str], "failures": [...],
         "conditions": {cond: {"backbone", "method", "method_name", "intermediate", "baseline": cond | None}},
         "targets": {target: {
             "metric", "metric_kind", "languages", "low_resource", "high_resource", "conditions": [cond],
             "scores":   {cond: {lang: {"mean", "std", "n_seeds", "n_examples"}}},
             "averages": {cond: {group: {"mean", "std", "n_langs"} | None}},        # group: all | low | high
             "deltas":   {cond: {"baseline", "languages": {lang: {"mean", "std", "n_seeds", "ci"}},
                                 "groups": {group: {"mean", "std", "n_langs", "ci"} | None}}},
             "cost":     {cond: {"trainable_params", "train_time_s"}}}},
         "overall": {cond: {"score": {group: float | None}, "n_targets", "targets", "trainable_params",
                            "train_time_s_mean", "train_time_s_total", "delta": {group: {...}} | None}}}
    """
    store = source if isinstance(source, ResultsStore) else ResultsStore.for_run(source)
    if not isinstance(source, ResultsStore):
        store.ingest_records(source)
    specs = store.cell_specs()
    if not specs:
        raise DataError(f"{store.path}: no finished cell yet (run a recipe first: adapterx run recipes/NAME.yaml)")
    threshold = options.low_resource_threshold
    if threshold is None:
        found = {int(s.get("eval", {}).get("low_resource_threshold", 2)) for s in specs.values()}
        threshold = min(found)  # one threshold per report; recipes of one run agree in practice
    notes: list[str] = []
    report: dict[str, Any] = {
        "run_dir": str(store.path.parent),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_cells": len(specs),
        "options": {"n_boot": options.n_boot, "ci": options.ci, "seed": options.seed,
                    "low_resource_threshold": threshold},
        "notes": notes,
        "failures": store.failures(),
        "conditions": {},
        "targets": {},
        "overall": {},
    }
    for target in store.targets():
        report["targets"][target] = _target_section(store, target, threshold, options, report["conditions"], notes)
    if options.include_scored:
        add_scored(report, options.include_scored, notes)
    report["overall"] = _overall(report, notes)
    return report


def _target_section(store: ResultsStore, target: str, threshold: int, options: ReportOptions,
                    conditions: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    rows = store.rows(target)
    by: dict[str, dict[int, dict[str, ResultRow]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        by[r.condition][r.seed][r.lang] = r
        conditions.setdefault(r.condition, {
            "backbone": r.backbone, "method": r.method, "method_name": r.method_name, "intermediate": r.intermediate,
            "baseline": None if r.intermediate == "none" else f"{r.backbone}/{r.method}/none",
        })
    conds = sorted(by, key=_cond_sort_key)
    langs = sorted({r.lang for r in rows}, key=lambda code: (code != "en", code))
    groups = language_groups(langs, threshold)
    low = groups["low"]
    if not low:
        notes.append(f"{target}: no low-resource language (Joshi class <= {threshold}) among its evaluated languages"
                     f" ({', '.join(langs)}); low-resource averages are left empty.")
    metric_names = sorted({r.metric for r in rows})
    section: dict[str, Any] = {
        "metric": metric_names[0] if len(metric_names) == 1 else "/".join(metric_names),
        "metric_kind": rows[0].metric_kind, "languages": langs, "low_resource": low, "high_resource": groups["high"],
        "groups": groups,
        "conditions": conds, "scores": {}, "averages": {}, "deltas": {}, "cost": {},
    }

    def score(cond: str, seed: int, lang: str) -> float | None:
        r = by[cond].get(seed, {}).get(lang)
        return r.score if r is not None else None

    for cond in conds:
        table: dict[str, Any] = {}
        for lang in langs:
            vals = [v for s in by[cond] if (v := score(cond, s, lang)) is not None]
            ns = {r.n_examples for s in by[cond] if (r := by[cond][s].get(lang)) is not None}
            if vals:
                table[lang] = {"mean": _mean(vals), "std": _std(vals), "n_seeds": len(vals),
                               "n_examples": ns.pop() if len(ns) == 1 else None}
        section["scores"][cond] = table
        avgs: dict[str, Any] = {}
        for g, members in groups.items():
            present = [lang for lang in members if lang in table]
            per_seed = [m for s in by[cond]
                        if (m := _mean([v for lang in present if (v := score(cond, s, lang)) is not None])) is not None]
            avgs[g] = ({"mean": _mean([table[lang]["mean"] for lang in present]), "std": _std(per_seed),
                        "n_langs": len(present)} if present else None)
        section["averages"][cond] = avgs
        cells = {r.cell_hash: r for s in by[cond].values() for r in s.values()}.values()
        params = [r.trainable_params for r in cells if r.trainable_params is not None]
        times = [r.train_time_s for r in cells if r.train_time_s is not None]
        section["cost"][cond] = {"trainable_params": int(statistics.median(params)) if params else None,
                                 "train_time_s": _mean(times), "n_cells": len(cells)}

    pairs = {c: conditions[c]["baseline"] for c in conds if conditions[c]["baseline"] in by}
    for c in conds:
        if conditions[c]["baseline"] and c not in pairs:
            notes.append(f"{target}: {c} has no baseline {conditions[c]['baseline']} in this run: no delta.")
    reps = _bootstrap(store, target, by, pairs, langs, options, notes) if pairs and options.n_boot > 0 else {}
    for c, base in pairs.items():
        per_lang: dict[str, Any] = {}
        common = sorted(set(by[c]) & set(by[base]))
        for lang in langs:
            paired = [a - b for s in common if (a := score(c, s, lang)) is not None and (b := score(base, s, lang)) is not None]
            if paired:
                mean, std, n = _mean(paired), _std(paired), len(paired)
            elif lang in section["scores"][c] and lang in section["scores"][base]:
                mean, std, n = section["scores"][c][lang]["mean"] - section["scores"][base][lang]["mean"], None, 0
            else:
                continue
            per_lang[lang] = {"mean": mean, "std": std, "n_seeds": n, "ci": _ci(reps.get((c, lang)), options.ci)}
        grp: dict[str, Any] = {}
        for g, members in groups.items():
            present = [lang for lang in members if lang in per_lang]
            if not present:
                grp[g] = None
                continue
            seed_delta = {s: m for s in common if (m := _mean([a - b for lang in present
                                                               if (a := score(c, s, lang)) is not None
                                                               and (b := score(base, s, lang)) is not None])) is not None}
            per_seed = list(seed_delta.values())
            lang_reps = [reps.get((c, lang)) for lang in present]
            group_reps = np.mean(lang_reps, axis=0) if all(x is not None for x in lang_reps) else None
            grp[g] = {"mean": _mean([per_lang[lang]["mean"] for lang in present]), "std": _std(per_seed),
                      "n_langs": len(present), "ci": _ci(group_reps, options.ci),
                      "_reps": group_reps, "_per_seed": seed_delta}
        section["deltas"][c] = {"baseline": base, "languages": per_lang, "groups": grp}
    return section


def _bootstrap(store: ResultsStore, target: str, by: dict[str, dict[int, dict[str, ResultRow]]],
               pairs: dict[str, str], langs: list[str], options: ReportOptions,
               notes: list[str]) -> dict[tuple[str, str], np.ndarray]:
    """Replicates of the seed-averaged delta, per (condition, language): examples resampled (one shared resampling
    per language: paired across conditions and seeds) and seeds resampled (:func:`_over_seeds`)."""
    stats = store.stats_for_target(target)
    involved = sorted(set(pairs) | set(pairs.values()))
    out: dict[tuple[str, str], np.ndarray] = {}
    missing: set[str] = set()
    mismatch: list[str] = []
    for lang in langs:
        recs: dict[str, list[tuple[int, str, list[dict[str, Any]], float | None, str]]] = {}
        for cond in involved:
            for seed, per_lang in sorted(by[cond].items()):
                row = per_lang.get(lang)
                if row is None:
                    continue
                got = stats.get((row.cell_hash, lang))
                if got is None:
                    missing.add(f"{cond} {lang}")
                    continue
                recs.setdefault(cond, []).append((seed, got[0], got[1], row.score, row.metric))
        sizes = {len(r[2]) for lst in recs.values() for r in lst}
        if len(sizes) != 1:
            if len(sizes) > 1:
                notes.append(f"{target} {lang}: conditions were evaluated on different numbers of examples"
                             f" ({sorted(sizes)}): no bootstrap interval (the test sets must match to pair them).")
            continue
        n = sizes.pop()
        if n == 0:
            continue
        sampler = _Resampler(n, options.n_boot, options.seed, target, lang)
        per_seed: dict[str, dict[int, np.ndarray]] = {}
        for cond, lst in recs.items():
            for seed, kind, records, stored, metric in lst:
                per_seed.setdefault(cond, {})[seed] = sampler.replicates(kind, records, metric)
                full = metric_from_stats(kind, records, metric)
                if stored is not None and abs(full - stored) > 0.05 and len(mismatch) < 5:
                    mismatch.append(f"{cond} {lang}: stored {stored:.2f}, from statistics {full:.2f}")
        for c, base in pairs.items():
            if c in per_seed and base in per_seed:
                # The seeds both conditions have, as the point estimate pairs them (a grid still running has stsb
                # for seed 1 and none for seeds 1-3: seed 1 against the mean of 1-3 put the point estimate outside
                # its own interval); no common seed: every seed of each, as the unpaired point estimate.
                common = sorted(set(per_seed[c]) & set(per_seed[base]))
                if common:
                    diff = np.stack([per_seed[c][s] - per_seed[base][s] for s in common])
                    out[(c, lang)] = _over_seeds(diff, options.seed)
                else:
                    out[(c, lang)] = (_over_seeds(np.stack([per_seed[c][s] for s in sorted(per_seed[c])]), options.seed)
                                      - _over_seeds(np.stack([per_seed[base][s] for s in sorted(per_seed[base])]),
                                                    options.seed + 1))
    if missing:
        shown = ", ".join(sorted(missing)[:6]) + (" ..." if len(missing) > 6 else "")
        notes.append(f"{target}: no per-example statistics for {shown}: those deltas have no bootstrap interval.")
    if mismatch:
        notes.append(f"{target}: per-example statistics disagree with the stored scores ({'; '.join(mismatch)}):"
                     " intervals come from the statistics.")
    return out


def _overall(report: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """XTREME-R style: per condition, average languages per task, then tasks; deltas likewise, with intervals."""
    targets = report["targets"]
    all_targets = sorted(targets)
    out: dict[str, Any] = {}
    for cond in sorted(report["conditions"], key=_cond_sort_key):
        present = [t for t in all_targets if cond in targets[t]["averages"]]
        if len(present) < len(all_targets):
            notes.append(f"overall: {cond} lacks {', '.join(sorted(set(all_targets) - set(present)))}: its overall"
                         " score averages fewer tasks and is not comparable to the others'.")
        score = {}
        for g in GROUPS:
            vals = [a["mean"] for t in present if (a := targets[t]["averages"][cond][g]) is not None]
            score[g] = _mean(vals)
        costs = [targets[t]["cost"][cond] for t in present]
        params = [c["trainable_params"] for c in costs if c["trainable_params"] is not None]
        times = [(c["train_time_s"], c["n_cells"]) for c in costs if c["train_time_s"] is not None]
        entry: dict[str, Any] = {
            "score": score, "n_targets": len(present), "targets": present,
            "trainable_params": int(statistics.median(params)) if params else None,
            "train_time_s_mean": _mean([t for t, _ in times]),
            "train_time_s_total": sum(t * n for t, n in times) if times else None,
            "delta": None,
        }
        with_delta = [t for t in present if cond in targets[t]["deltas"]]
        if with_delta:
            delta = {}
            for g in GROUPS:
                gs = [d for t in with_delta if (d := targets[t]["deltas"][cond]["groups"][g]) is not None]
                if not gs:
                    delta[g] = None
                    continue
                reps = [d["_reps"] for d in gs]
                joined = np.mean(reps, axis=0) if all(r is not None for r in reps) else None
                seeds = set.intersection(*(set(d["_per_seed"]) for d in gs))
                per_seed = [_mean([d["_per_seed"][s] for d in gs]) for s in sorted(seeds)]
                delta[g] = {"mean": _mean([d["mean"] for d in gs]), "std": _std(per_seed), "n_targets": len(gs),
                            "ci": _ci(joined, report["options"]["ci"])}
            entry["delta"] = delta
        out[cond] = entry
    for t in targets.values():  # replicate arrays are internal: not JSON, not for exports
        for d in t["deltas"].values():
            for g in d["groups"].values():
                if g is not None:
                    g.pop("_reps", None)
                    g.pop("_per_seed", None)
    return out
