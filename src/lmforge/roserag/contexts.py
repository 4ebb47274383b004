"""The given-contexts mode: a question's gold paragraphs plus exactly n distractors, reproducibly.

The robustness study (F1 against the number of noisy paragraphs) needs the same gold paragraphs
with 0, 1, 2, ... distractors. Each question draws from its own random stream, seeded by
(seed, question id), so its passages do not depend on which other questions are in the run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from lmforge.core.errors import LmforgeError
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.data import Passage, Question, corpus_from_questions


def question_rng(seed: int, question_id: str, purpose: str = "") -> random.Random:
    """A random stream owned by one question (independent of order and of the other questions)."""
    digest = hashlib.sha256(f"{seed}\x1f{question_id}\x1f{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def given_contexts(
    questions: Sequence[Question], config: GivenContextsConfig, pool: Sequence[Passage] | None = None
) -> list[list[Passage]]:
    """Gold + ``config.n_distractors`` paragraphs for each question.

    ``pool`` supplies distractors once a question's own non-gold paragraphs run out; by default
    it is every paragraph of ``questions``.
    """
    pool = corpus_from_questions(questions) if pool is None else pool
    return [_one(q, config, pool) for q in questions]


def _one(question: Question, config: GivenContextsConfig, pool: Sequence[Passage]) -> list[Passage]:
    gold = list(question.gold_passages)
    if not gold:
        raise LmforgeError(
            f"question {question.id} has no paragraphs of its own; the given-contexts mode needs a dataset "
            "with contexts (HotpotQA, StrategyQA facts, FlashRAG 'contexts'); otherwise retrieve from an index"
        )
    rng = question_rng(config.seed, question.id, "distractors")
    own = list(question.distractor_passages)
    distractors = rng.sample(own, min(config.n_distractors, len(own)))
    missing = config.n_distractors - len(distractors)
    if missing:
        taken = {p.id for p in question.contexts}
        # at most len(taken) of the drawn paragraphs can be the question's own, so this many suffice
        drawn = rng.sample(range(len(pool)), min(len(pool), missing + len(taken)))
        candidates = [i for i in drawn if pool[i].id not in taken]
        if len(candidates) < missing:
            raise LmforgeError(
                f"question {question.id}: asked for {config.n_distractors} distractors but only "
                f"{len(own) + len(candidates)} paragraphs are available; lower the number of distractors"
            )
        distractors += [pool[i] for i in candidates[:missing]]
    passages = gold + distractors
    if config.shuffle:
        rng.shuffle(passages)
    return passages
