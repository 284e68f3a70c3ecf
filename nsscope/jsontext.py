"""JSON text to Python values with the json package's own C scanner, without
importing the json package.

``import json`` costs ~9 ms of start-up here, nearly all of it ``re`` (the
decoder's and the pure-Python scanner's patterns, which the C scanner does not
use). ``nsscope ps`` parses the runtimes' state files (config.v2.json,
state.json …) on every host with a container, and a view must start about as
fast as lsns. ``loads`` is ``json.loads`` for a ``str``: the same C scanner
(``_json.make_scanner``, CPython Modules/_json.c) with json.JSONDecoder's
defaults, and the same handling of the whitespace around the document
(``json.decoder.WHITESPACE``: space, tab, newline, carriage return).
tests/unit/test_jsontext.py holds it to ``json.loads``.
"""

from __future__ import annotations

from _json import make_scanner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes the C scanner reads from a json.JSONDecoder (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = make_scanner(_Context())  # type: ignore[arg-type]  # the C scanner takes any context


def loads(text: str) -> Any:
    """The value of the JSON document ``text``; ValueError if it is not one (a
    json.JSONDecodeError, which is a ValueError, where the scanner says why)."""
    if not isinstance(text, str):
        raise TypeError(f"JSON text must be str, not {type(text).__name__}")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)  # the scanner empties its memo after each call
    except StopIteration:
        raise ValueError(f"Expecting value: char {start}") from None
    except SystemError:
        # CPython 3.11 Modules/_json.c raise_errmsg finds json.decoder's JSONDecodeError
        # in sys.modules only (_PyImport_GetModuleId) and, the json package not being
        # imported, returns NULL with no exception set: a SystemError for every
        # malformed document ('{"a" 1}', '[1 2]'). 3.12 imports the module there.
        raise ValueError("Invalid JSON") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value
