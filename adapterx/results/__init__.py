"""Results of grids: the SQLite store, aggregation (deltas, seeds, bootstrap), exports, plots, the one-screen answer.

- :mod:`adapterx.results.store`: ``RUN/results.sqlite`` (stdlib only);
- :mod:`adapterx.results.aggregate`: :func:`build_report` (numpy);
- :mod:`adapterx.results.export`: Markdown, CSV, JSON, LaTeX;
- :mod:`adapterx.results.plots`: heatmaps and gain plots (matplotlib, imported on use);
- :mod:`adapterx.results.question`: "did STS-B help low-resource languages?".

Names below are imported lazily so that ``import adapterx.results`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "ResultsStore": "adapterx.results.store",
    "ResultRow": "adapterx.results.store",
    "CellRecord": "adapterx.results.store",
    "build_report": "adapterx.results.aggregate",
    "ReportOptions": "adapterx.results.aggregate",
    "write_exports": "adapterx.results.export",
    "write_plots": "adapterx.results.plots",
    "answer": "adapterx.results.question",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adapterx.results' has no attribute {name!r}")
