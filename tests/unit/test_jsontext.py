"""nsscope.jsontext.loads reads JSON text as json.loads does (the oracle), without
importing the json package."""
from __future__ import annotations

import json
import math
import subprocess
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from nsscope.jsontext import loads

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=12)


def _outcome(parse, text):
    try:
        value = parse(text)
    except ValueError:
        return "ValueError"
    return json.dumps(value, sort_keys=True) if not (
        isinstance(value, float) and math.isnan(value)) else "NaN"


@settings(max_examples=500, deadline=None)
@given(_JSON, st.sampled_from(["", " ", "\n", "\t\r ", "\x0c", " x", "}", "\u00a0"]),
       st.sampled_from(["", " ", "\n\t"]), st.sampled_from([None, 2]))
@example(None, "", "", None)
def test_loads_reads_documents_as_json_loads(value, after, before, indent):
    text = before + json.dumps(value, indent=indent, ensure_ascii=False) + after
    assert _outcome(loads, text) == _outcome(json.loads, text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789.eE+-tfrunlsaNIiy \n\\u', max_size=16))
@example("")
@example("NaN")
@example("-Infinity")
@example('"\x01"')
@example("[1] x")
@example("1e400")
@example('{"a":1,"a":2}')
def test_loads_refuses_what_json_loads_refuses(text):
    assert _outcome(loads, text) == _outcome(json.loads, text)


def test_reading_needs_no_json_package():
    from support import REPO
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            "from nsscope.jsontext import loads; assert loads('{\"a\": [1]}') == {'a': [1]}; "
            "print(sorted(m for m in ('json', 're') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_malformed_documents_are_a_value_error_without_the_json_package():
    """Where json.decoder is not imported (the views' fast path) CPython 3.11's C
    scanner used to fail on a malformed document with a SystemError, which no reader
    of a runtime's files catches: a damaged config.v2.json or podman record took
    `nsscope ps` down with a traceback."""
    from support import REPO
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            "from nsscope.jsontext import loads\n"
            "for t in ('{\"a\" 1}', '[1 2]', '{\"a\":1,}', '{1:2}', '\"\\\\u12\"', '{\"a\": x}'):\n"
            "    try: loads(t)\n"
            "    except ValueError: pass\n"
            "    else: raise SystemExit('read: ' + t)\n"
            "print(sorted(m for m in ('json', 're') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=False)
    assert (out.returncode, out.stderr, out.stdout.strip()) == (0, "", "[]")
