"""Tiny questions and passages (tests never read ../shared/data)."""

from __future__ import annotations

import pytest

from lmforge.roserag.data import Passage, Question

from ._fixtures import BERLIN, LOUVRE, NILE, PARIS, TOKYO


@pytest.fixture
def questions() -> list[Question]:
    """Three questions with gold and distractor paragraphs (HotpotQA-like)."""
    return [
        Question("q1", "What is the capital of France?", ("Paris",), (NILE, PARIS, BERLIN), (PARIS.id,)),
        Question("q2", "What is the capital of Japan?", ("Tokyo",), (TOKYO, LOUVRE, NILE), (TOKYO.id,)),
        Question("q3", "Is Berlin in Germany?", ("yes",), (BERLIN,), (), "yesno"),
    ]


@pytest.fixture
def corpus() -> list[Passage]:
    return [PARIS, BERLIN, TOKYO, NILE, LOUVRE]
