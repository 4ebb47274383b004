"""Stage A: self-generated positive and negative trajectories by multi-turn rejection sampling.

No teacher model: the model being trained writes both sides. Each output row holds one
question's inference dialogue (system + user turns, answer never shown) and every sampled
candidate's assistant turns, extracted answer and correctness, so Stage B can score and select
without re-running retrieval or generation, and acceptance rates can be reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmforge.core.data import JsonlWriter, read_records
from lmforge.core.errors import LmforgeError
from lmforge.core.generation import Generator
from lmforge.roserag.answers import extract_answer, is_correct
from lmforge.roserag.data import Passage, Question
from lmforge.roserag.prompting import Dialogue, build_dialogue
from lmforge.roserag.protocol import Decoding, Trajectory, run_protocol
from lmforge.roserag.resume import check_settings
from lmforge.roserag.sampling_config import SampleConfig

POSITIVE, NEGATIVE = "positive", "negative"


@dataclass(frozen=True)
class SampleSummary:
    """What a sample file holds: kept candidates per kind and how many questions have both."""

    questions: int
    positives_sampled: int
    positives_kept: int
    negatives_sampled: int
    negatives_kept: int
    questions_with_both: int

    @property
    def drop_rate(self) -> float:
        """Fraction of questions without both a kept positive and a kept negative (they carry no contrast)."""
        return 1 - self.questions_with_both / self.questions if self.questions else 0.0


def kept(candidate: dict) -> bool:
    """A positive is kept when correct, a negative when wrong."""
    return candidate["correct"] == (candidate["kind"] == POSITIVE)


def dialogue_of(row: dict) -> Dialogue:
    """The inference dialogue stored in a sample row."""
    return Dialogue(row["dialogue"]["system"], tuple(row["dialogue"]["users"]))


def sample(
    generator: Generator,
    questions: Sequence[Question],
    passages: Sequence[Sequence[Passage]],
    output: str | Path,
    config: SampleConfig | None = None,
    *,
    on_row: Callable[[dict], None] | None = None,
) -> SampleSummary:
    """Sample candidates for every question not yet in ``output`` (JSONL, one row per question).

    ``passages[i]`` are the passages shown with ``questions[i]`` (retrieved, or given contexts).
    Rerunning with the same arguments resumes; different settings on an existing file are refused.
    """
    config = config or SampleConfig()
    if len(passages) != len(questions):
        raise LmforgeError(f"got passages for {len(passages)} questions, but {len(questions)} questions")
    settings = config.to_dict() | generator.describe()
    check_settings(output, settings)
    with JsonlWriter(output) as writer:
        todo = [(q, p) for q, p in zip(questions, passages, strict=True) if q.id not in writer.done_keys]
        for start in range(0, len(todo), config.chunk_size):
            for row in _sample_chunk(generator, todo[start : start + config.chunk_size], config, settings):
                writer.write(row)
                if on_row is not None:
                    on_row(row)
    return summarize(read_records(output))


def _sample_chunk(
    generator: Generator, chunk: Sequence[tuple[Question, Sequence[Passage]]], config: SampleConfig, settings: dict
) -> list[dict]:
    trajectories: dict[str, list[tuple[str, int, Trajectory]]] = {}
    for q, passages in chunk:
        dialogue = build_dialogue(q, passages, config.prompt)
        hinted = build_dialogue(q, passages, config.prompt, hint=True)
        kinds = [(POSITIVE, hinted)] * config.positives + [(NEGATIVE, None)] * config.negatives
        trajectories[q.id] = [
            (kind, j, Trajectory(f"{q.id}/{kind}/{j}", dialogue, reasoning))
            for kind, reasoning in kinds
            for j in range(config.n)
        ]
    decoding = Decoding(config.temperature, config.top_p, config.answer_temperature, config.seed)
    run_protocol(generator, [t for ts in trajectories.values() for _, _, t in ts], config.prompt, decoding)
    rows = []
    for q, passages in chunk:
        candidates = []
        for kind, j, tr in trajectories[q.id]:
            answer = extract_answer(tr.assistants[-1], q.answer_type, q.question)
            correct = is_correct(answer, q.golden_answers, config.accept)
            candidates.append({"kind": kind, "sample": j, "turns": tr.assistants, "answer": answer, "correct": correct})
        dialogue = trajectories[q.id][0][2].dialogue
        rows.append(
            {
                "id": q.id,
                "question": q.question,
                "golden_answers": list(q.golden_answers),
                "answer_type": q.answer_type,
                "passage_ids": [p.id for p in passages],
                "dialogue": {"system": dialogue.system, "users": list(dialogue.users)},
                "candidates": candidates,
                "settings": settings,
            }
        )
    return rows


def summarize(rows: Iterable[dict]) -> SampleSummary:
    """Counts of sampled and kept candidates over sample rows."""
    counts = dict.fromkeys(("questions", "ps", "pk", "ns", "nk", "both"), 0)
    for row in rows:
        counts["questions"] += 1
        pos = [c for c in row["candidates"] if c["kind"] == POSITIVE]
        neg = [c for c in row["candidates"] if c["kind"] == NEGATIVE]
        pk, nk = sum(map(kept, pos)), sum(map(kept, neg))
        counts["ps"] += len(pos)
        counts["ns"] += len(neg)
        counts["pk"] += pk
        counts["nk"] += nk
        counts["both"] += bool(pk and nk)
    return SampleSummary(counts["questions"], counts["ps"], counts["pk"], counts["ns"], counts["nk"], counts["both"])
