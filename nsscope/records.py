"""Typed records without importing ``typing``, ``collections`` or ``dataclasses``.

``class Spec(Record): id: str; cow: bool = True …`` reads as a typing.NamedTuple
and mypy checks it as one (for the type checker ``Record`` *is*
typing.NamedTuple). At run time the class is a tuple with a read-only property
per field, ``_fields``, ``_asdict()`` and ``_replace()``, as a namedtuple has:
typing.NamedTuple brings re, functools, contextlib … (~10 ms), and
collections.namedtuple costs ~2 ms more (the collections package, and an exec()
per class); a ``dataclass`` costs ~1 ms a class to define (it compiles the code
it generates) on top of ~15 ms of imports (inspect, re, enum …). Every ``nsscope
run``, timed against runc's ~25 ms, and every read-only view (the host model is
made of these) would pay. Defining one costs ~30 µs.
Methods, properties and the docstring of the class body are kept; fields with a
default come after those without.

The field properties are the C accessors namedtuple uses (``_tuplegetter`` of
the builtin ``_collections`` module: no import of ``collections``), and a record
given every field positionally is built without a Python loop: the collector
makes one per process, tens of thousands a second.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    from _collections import _tuplegetter as _field

    def _make_new(name: str, fields: tuple[str, ...], defaults: dict[str, object]):
        count = len(fields)

        def __new__(cls, *args, **kwargs):
            if not kwargs and len(args) == count:
                return tuple.__new__(cls, args)
            if len(args) > len(fields):
                raise TypeError(f"{name}() takes {len(fields)} arguments, not {len(args)}")
            values = list(args)
            for f in fields[len(args):]:
                if f in kwargs:
                    values.append(kwargs.pop(f))
                elif f in defaults:
                    values.append(defaults[f])
                else:
                    raise TypeError(f"{name}() missing argument {f!r}")
            if kwargs:
                raise TypeError(f"{name}() got an unexpected argument {next(iter(kwargs))!r}")
            return tuple.__new__(cls, values)
        return __new__

    def _asdict(self) -> dict:
        return dict(zip(self._fields, self, strict=True))

    def _replace(self, **changes):
        return type(self)(**{**self._asdict(), **changes})

    def _getnewargs(self) -> tuple:  # pickle and copy
        return tuple(self)

    def _repr(self) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self, strict=True))
        return f"{type(self).__name__}({inner})"

    class _RecordMaker(type):
        def __new__(mcs, name: str, bases: tuple, ns: dict):
            if not bases:
                return super().__new__(mcs, name, bases, ns)  # Record itself
            fields = tuple(ns.get("__annotations__", {}))
            defaults = {f: ns.pop(f) for f in fields if f in ns}
            body = {"__slots__": (), "_fields": fields,
                    "__new__": _make_new(name, fields, defaults),
                    "__getnewargs__": _getnewargs, "_asdict": _asdict,
                    "_replace": _replace, "__repr__": _repr,
                    **{f: _field(i, None) for i, f in enumerate(fields)}, **ns}
            return type.__new__(type, name, (tuple,), body)

    class Record(metaclass=_RecordMaker):
        """Base of typed records (module doc)."""
