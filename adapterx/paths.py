"""Where adapterx keeps files of its own: the cache root (the tiny backbone, the feature cache, cost calibrations).

A ground module (it imports only :mod:`adapterx.cachedir`, which checks the root once and imports nothing but
adapterx's errors), so that the data layer's feature cache and the backbone's model cache share one root without
either importing the other.
"""

from __future__ import annotations

from adapterx.cachedir import cache_dir

__all__ = ["cache_dir"]
