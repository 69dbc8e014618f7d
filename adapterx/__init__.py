"""adapterx: parameter-efficient intermediate-task transfer experiments across languages.

The package imports nothing heavy at import time (no torch, transformers, adapters or peft), so that the
CLI's ``--help`` and light-weight tools (readers, metrics, reports) stay fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
