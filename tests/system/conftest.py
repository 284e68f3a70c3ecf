"""Fixtures the system tests share."""

from __future__ import annotations

import pytest

from support import need_root
from support.lab import Lab


@pytest.fixture
def lab():
    need_root()
    lab = Lab()
    yield lab
    lab.close()
