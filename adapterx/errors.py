"""One exception family for everything a user can get wrong.

The CLI maps every :class:`AdapterxError` to a single line on stderr and exit code 2; anything else is a bug
and keeps its traceback. Messages name the problem *and* the fix.
"""

from __future__ import annotations


class AdapterxError(Exception):
    """Base class: a user-facing error with a one-line message."""


class ConfigError(AdapterxError):
    """A spec, option or recipe value does not fit (unknown name, option for another method, bad value)."""


class DataError(AdapterxError):
    """Input data is missing or malformed. Messages name the file and the line (or example id)."""


class ModelError(AdapterxError):
    """A backbone or module cannot be loaded, or modules do not fit together."""


class HubError(AdapterxError):
    """Publishing or fetching a module failed (integrity, unsafe names, pickle refusal)."""


class WriteError(AdapterxError):
    """An output could not be written (disk full, a path under a file, no permission): names the path and errno."""
