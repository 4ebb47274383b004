"""Fixtures of the HadSkip tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["bert", "llama"])
def arch(request: pytest.FixtureRequest) -> str:
    """Each architecture family HadSkip supports: an encoder and a decoder-only classifier."""
    return request.param
