"""The docs name tests and source files as evidence (docs/security.md's table, the
README's "what the tests assert"): every such name must exist, so a move or a rename
cannot leave a claim pointing at nothing."""
from __future__ import annotations

import re

from support import REPO

DOCS = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
#: `tests/…/test_x.py::test_name`, `::test_name` (the file named last), `nsscope/….py`
REF = re.compile(r"`((?:tests|nsscope|bench|vm|deploy)/[\w./-]+?)(?:::(\w+))?`|`::(\w+)`")


def _refs(doc: str) -> list[tuple[str, str | None]]:
    out = []
    for line in (REPO / doc).read_text().splitlines():
        current = None
        for m in REF.finditer(line):
            if m.group(1):
                current = m.group(1)
                out.append((current, m.group(2)))
            elif current is not None:
                out.append((current, m.group(3)))
    return out


def test_the_docs_refer_to_files_and_tests_that_exist():
    missing = []
    seen = 0
    for doc in DOCS:
        for path, name in _refs(doc):
            seen += 1
            f = REPO / path
            if not f.exists():
                missing.append(f"{doc}: {path}")
            elif name is not None and not re.search(rf"^\s*(async )?def {name}\b", f.read_text(),
                                                    re.M):
                missing.append(f"{doc}: {path}::{name}")
    assert seen > 50  # the pattern still finds the references
    assert missing == []
