"""Systems scored outside a grid (``adapterx score ... --per-example``) as extra conditions of a report
(``adapterx report RUN_DIR --include-scored DIR``).

A scored folder holds ``scored.json`` (``{"name", "eval": {task: eval JSON}, ...}``) and ``per_example.json``
(``{task: {lang: records}}``, the statistics a run directory keeps). Each system becomes the condition
``scored/<name>`` of every target it was scored on, with one "seed": its per-language scores and the group averages
over the languages the report's condition table has (so its averages cover the same languages as the runs').
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.errors import DataError

SCORED_FILE = "scored.json"
PER_EXAMPLE_FILE = "per_example.json"


@dataclass(frozen=True)
class ScoredSystem:
    """One ``adapterx score --per-example`` folder."""

    name: str
    folder: Path
    evals: dict[str, dict[str, Any]]
    per_example: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def condition(self) -> str:
        return f"scored/{self.name}"


def load_scored(folder: str | Path) -> ScoredSystem:
    """Read a scored folder; :class:`DataError` naming the file when it is missing or malformed."""
    root = Path(folder)
    path = root / SCORED_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; write it with `adapterx score PREDICTIONS --gold GOLD --per-example "
                        f"--out {root}`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("eval"), dict):
        raise DataError(f"{path}: expected {{'name', 'eval': {{task: scores}}}} as `adapterx score` writes it")
    stats: dict[str, Any] = {}
    if (root / PER_EXAMPLE_FILE).is_file():
        try:
            stats = json.loads((root / PER_EXAMPLE_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{root / PER_EXAMPLE_FILE}: unreadable ({exc})") from None
    return ScoredSystem(str(doc.get("name") or root.name), root, doc["eval"], stats)


def _mean(xs: Sequence[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def add_scored(report: dict[str, Any], folders: Sequence[str | Path], notes: list[str]) -> list[str]:
    """Add every scored system of ``folders`` to ``report`` (the dict of
    :func:`adapterx.results.aggregate.build_report`, before its overall section); returns the conditions added."""
    added: list[str] = []
    for folder in folders:
        system = load_scored(folder)
        cond = system.condition
        if cond in report["conditions"]:
            raise DataError(f"{system.folder}: a condition named {cond} is already in the report; pass --name to "
                            "`adapterx score` to tell the systems apart")
        used = False
        for target, ev in system.evals.items():
            section = report["targets"].get(target)
            if section is None:
                notes.append(f"{cond}: scored on {target}, which this run does not evaluate; left out.")
                continue
            metric = section["metric"]
            langs = section["languages"]
            table = {}
            for lang, scores in (ev.get("scores") or {}).items():
                if lang in langs and scores.get(metric) is not None:
                    table[lang] = {"mean": float(scores[metric]), "std": None, "n_seeds": 1,
                                   "n_examples": (ev.get("n_examples") or {}).get(lang)}
            extra = sorted(set(ev.get("scores") or {}) - set(langs))
            if extra:
                notes.append(f"{cond}: {target} languages {', '.join(extra)} are not in the run's table; left out.")
            lacking = [lang for lang in langs if lang not in table]
            if lacking:
                notes.append(f"{cond}: no {target} score for {', '.join(lacking)}; its averages cover fewer languages.")
            groups = section.get("groups") or {"all": langs, "low": section["low_resource"],
                                               "high": section["high_resource"]}
            section["scores"][cond] = table
            section["averages"][cond] = {
                g: ({"mean": _mean([table[lang]["mean"] for lang in members if lang in table]), "std": None,
                     "n_langs": sum(lang in table for lang in members)} if any(lang in table for lang in members)
                    else None)
                for g, members in groups.items()
            }
            section["cost"][cond] = {"trainable_params": None, "train_time_s": None, "n_cells": 0}
            section["conditions"].append(cond)
            section.setdefault("scored", {})[cond] = {"folder": str(system.folder),
                                                      "per_example": sorted(system.per_example.get(target) or {})}
            used = True
        if used:
            report["conditions"][cond] = {"backbone": "scored", "method": system.name, "method_name": system.name,
                                          "intermediate": "scored", "baseline": None, "scored": str(system.folder)}
            added.append(cond)
    return added


__all__ = ["PER_EXAMPLE_FILE", "SCORED_FILE", "ScoredSystem", "add_scored", "load_scored"]
