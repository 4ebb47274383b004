"""Greedy multi-turn evaluation: EM, token F1 and containment with 95% bootstrap intervals.

The model runs the same protocol it was trained and sampled with (no answer shown), greedy,
one batched generation call per turn; its final turn is parsed by the same extractor used for
acceptance. Per-question rows are appended to a JSONL as they finish, so an interrupted
evaluation resumes. Where questions carry gold paragraph ids, the recall of the passages shown
is reported too, so retrieval failures are told apart from reading failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmforge.core.data import JsonlWriter, read_records
from lmforge.core.errors import LmforgeError
from lmforge.core.generation import Generator
from lmforge.core.metrics import containment, exact_match, token_f1
from lmforge.roserag.answers import extract_answer
from lmforge.roserag.data import Passage, Question
from lmforge.roserag.prompting import build_dialogue
from lmforge.roserag.prompting_config import PromptConfig
from lmforge.roserag.protocol import Decoding, Trajectory, run_protocol
from lmforge.roserag.resume import check_settings

METRICS = ("em", "f1", "acc")


def bootstrap_ci(values: Sequence[float], *, n: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (questions resampled with replacement)."""
    data = np.asarray(values, dtype=np.float64)
    if not len(data):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(n, len(data)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], *, n: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Interval of mean(a − b) over the same questions: the difference between two systems."""
    if len(a) != len(b):
        raise LmforgeError(f"paired bootstrap needs the same questions: {len(a)} vs {len(b)} scores")
    return bootstrap_ci(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), n=n, level=level, seed=seed)


def gold_recall(question: Question, passages: Sequence[Passage]) -> float | None:
    """Fraction of the question's gold paragraphs among ``passages``; None when it names none."""
    if not question.gold_ids:
        return None
    shown = {p.id for p in passages}
    return sum(g in shown for g in question.gold_ids) / len(question.gold_ids)


def score_prediction(prediction: str, golds: Sequence[str]) -> dict[str, float]:
    return {
        "em": exact_match(prediction, golds),
        "f1": token_f1(prediction, golds),
        "acc": containment(prediction, golds),
    }


def evaluate(
    generator: Generator,
    questions: Sequence[Question],
    passages: Sequence[Sequence[Passage]],
    prompt: PromptConfig | None = None,
    *,
    output: str | Path | None = None,
    chunk_size: int = 32,
    bootstrap_seed: int = 0,
) -> dict:
    """Answer every question greedily with the multi-turn protocol; return the metrics summary.

    With ``output``, per-question rows are appended there and questions already in it are skipped
    (a file written by another model or protocol is refused).
    """
    prompt = prompt or PromptConfig()
    if len(passages) != len(questions):
        raise LmforgeError(f"got passages for {len(passages)} questions, but {len(questions)} questions")
    rows: dict[str, dict] = {}
    settings = {"model": generator.describe(), "prompt": prompt.to_dict()}
    if output is not None:
        check_settings(output, settings)
    writer = JsonlWriter(output) if output is not None else None
    try:
        done = writer.done_keys if writer is not None else set()
        todo = [(q, p) for q, p in zip(questions, passages, strict=True) if q.id not in done]
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            trajectories = [Trajectory(q.id, build_dialogue(q, p, prompt)) for q, p in chunk]
            run_protocol(generator, trajectories, prompt, Decoding())
            for (q, p), tr in zip(chunk, trajectories, strict=True):
                prediction = extract_answer(tr.assistants[-1], q.answer_type, q.question)
                row = {"id": q.id, "question": q.question, "golden_answers": list(q.golden_answers)}
                row |= {"turns": tr.assistants, "prediction": prediction, "gold_recall": gold_recall(q, p)}
                row |= score_prediction(prediction, q.golden_answers) | {"settings": settings}
                rows[q.id] = row
                if writer is not None:
                    writer.write(row)
    finally:
        if writer is not None:
            writer.close()
    if output is not None:
        rows |= {r["id"]: r for r in read_records(output)}
    ordered = [rows[q.id] for q in questions]
    return summarize(ordered, seed=bootstrap_seed)


def summarize(rows: Sequence[dict], *, seed: int = 0) -> dict:
    """Mean EM / F1 / containment with 95% bootstrap intervals, and mean gold recall when known."""
    summary: dict = {"n": len(rows)}
    for metric in METRICS:
        values = [r[metric] for r in rows]
        summary[metric] = float(np.mean(values)) if values else float("nan")
        summary[f"{metric}_ci95"] = list(bootstrap_ci(values, seed=seed))
    recalls = [r["gold_recall"] for r in rows if r.get("gold_recall") is not None]
    if recalls:
        summary["gold_recall"] = float(np.mean(recalls))
    return summary
