"""Where adapterx keeps files of its own: the cache root (the tiny backbone, the feature cache, cost calibrations).

A ground module (it imports nothing of adapterx), so that the data layer's feature cache and the backbone's model
cache share one root without either importing the other.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """adapterx's cache root: ``$ADAPTERX_CACHE`` or ``$XDG_CACHE_HOME/adapterx`` (default ``~/.cache/adapterx``)."""
    env = os.environ.get("ADAPTERX_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "adapterx"
