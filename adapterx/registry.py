"""A typed name -> object registry with "did you mean" errors.

Imports nothing else of adapterx but :mod:`adapterx.errors`, so every layer may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from adapterx.errors import ConfigError

T = TypeVar("T")


def suggest(name: str, choices: list[str] | tuple[str, ...], what: str) -> str:
    """Return a one-line message for an unknown ``name`` among ``choices``, with a close match if any.

    A close match is never the word typed (``stsb`` is no hint for ``stsb``, nor ``stsb`` for ``stsb ``): where
    ``name`` is itself a choice, the caller refused it for another reason, and the message says it does not fit."""
    typed = str(name)
    if typed in choices:
        return f"{what} {typed!r} does not fit here. Known: {', '.join(sorted(choices))}."
    # a case or spacing slip first (LoRA -> lora), then spelling (difflib)
    folded = [c for c in choices if c.lower() == typed.strip().lower() and c != typed.strip()]
    close = folded or difflib.get_close_matches(typed.strip(), list(choices), n=4, cutoff=0.6)
    close = [c for c in close if c not in (typed, typed.strip())][:3]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {typed!r}.{hint} Known: {', '.join(sorted(choices))}."


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    """Raise :class:`ConfigError` naming the choices (and a close match) where ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(suggest(str(value), choices, what))


class Registry(Generic[T]):
    """Maps names to objects; lookups of unknown names raise :class:`ConfigError` with suggestions."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} registered twice")
        self._items[name] = obj
        return obj

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            return self.register(name, obj)

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(suggest(name, tuple(self._items), self.what)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())
