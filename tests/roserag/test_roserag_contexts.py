"""The given-contexts mode: gold + exactly n distractors, seeded per question."""

from __future__ import annotations

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.data import Question


def ids(passages):
    return [p.id for p in passages]


def test_gold_plus_n_own_distractors(questions):
    q1 = questions[0]
    for n in (0, 1, 2):
        (passages,) = given_contexts([q1], GivenContextsConfig(n_distractors=n))
        assert len(passages) == 1 + n
        assert q1.gold_ids[0] in ids(passages)
        assert set(ids(passages)) <= set(ids(q1.contexts))  # own distractors come first


def test_seeded_and_independent_of_the_other_questions(questions):
    config = GivenContextsConfig(n_distractors=2, seed=3)
    together = given_contexts(questions[:2], config)
    assert given_contexts(questions[:2], config) == together
    alone = given_contexts([questions[1]], config, pool=[p for q in questions[:2] for p in q.contexts])
    assert alone[0] == together[1]
    seeds = {tuple(ids(given_contexts(questions[:1], GivenContextsConfig(2, seed=s))[0])) for s in range(8)}
    assert len(seeds) > 1  # the seed changes the draw or the order


def test_pool_fills_in_when_own_distractors_run_out(questions):
    yes_no = questions[2]  # one gold fact, no distractors of its own
    (passages,) = given_contexts([yes_no], GivenContextsConfig(n_distractors=2), pool=list(questions[0].contexts))
    assert len(passages) == 3 and yes_no.contexts[0] in passages
    assert len(set(ids(passages))) == 3  # the gold paragraph is never drawn again as a distractor


def test_errors(questions):
    with pytest.raises(LmforgeError, match="only 2 paragraphs are available"):
        given_contexts(questions[:1], GivenContextsConfig(n_distractors=3), pool=[])
    with pytest.raises(LmforgeError, match="has no paragraphs of its own"):
        given_contexts([Question("x", "Q?", ("A",))], GivenContextsConfig())
    with pytest.raises(LmforgeError, match="n_distractors must be >= 0"):
        GivenContextsConfig(n_distractors=-1)
