"""Analysis tests run tiny models: one torch thread is faster than two on a shared, busy CPU."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread(one_thread):
    """Every test here runs on one torch thread (see the root conftest)."""
