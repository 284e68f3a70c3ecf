"""Typed records for the runtime, without importing ``typing``.

``class Spec(Record): id: str; cow: bool = True …`` reads as a typing.NamedTuple
and mypy checks it as one (for the type checker ``Record`` *is*
typing.NamedTuple). At run time the class is made with collections.namedtuple,
as typing.NamedTuple does itself, but without ``import typing`` (which brings
re, functools, contextlib …): ~10 ms that every ``nsscope run``, timed against
runc's ~25 ms, would pay. Methods, properties and the docstring of the class
body are kept; fields with a default come after those without.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    class _RecordMaker(type):
        def __new__(mcs, name: str, bases: tuple, ns: dict):
            if not bases:
                return super().__new__(mcs, name, bases, ns)  # Record itself
            fields = list(ns.get("__annotations__", {}))
            defaults = [ns.pop(f) for f in fields if f in ns]
            base = namedtuple(name, fields, defaults=defaults, module=ns.get("__module__"))
            return type(name, (base,), {**ns, "__slots__": ()})

    class Record(metaclass=_RecordMaker):
        """Base of the runtime's records (module doc)."""
