"""Stage B: score kept candidates with the frozen starting model and pick one contrastive pair per question.

Scores are the log-probability of all assistant turns of the inference conversation (user turns
and the passages masked) from :func:`lmforge.core.scoring.completion_logprobs`, batched. They
are written to a resumable scores file, so trying another pair rule needs no rescoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lmforge.core.data import JsonlWriter, read_records
from lmforge.core.errors import LmforgeError
from lmforge.core.scoring import completion_logprobs
from lmforge.roserag.contexts import question_rng
from lmforge.roserag.resume import check_settings
from lmforge.roserag.sampling import NEGATIVE, POSITIVE, dialogue_of, kept
from lmforge.roserag.selection_config import SelectConfig

SCORES_SUFFIX = ".scores.jsonl"


def contrast(row: dict) -> tuple[list[dict], list[dict]]:
    """The kept positives (correct) and kept negatives (wrong) of one sample row."""
    positives = [c for c in row["candidates"] if c["kind"] == POSITIVE and kept(c)]
    negatives = [c for c in row["candidates"] if c["kind"] == NEGATIVE and kept(c)]
    return positives, negatives


def _key(candidate: dict) -> str:
    return f"{candidate['kind']}/{candidate['sample']}"


def score_samples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    scores_path: str | Path,
    *,
    batch_size: int = 8,
    chunk_size: int = 32,
    scorer: str = "",
) -> dict[str, dict[str, dict]]:
    """``{question id: {"kind/sample": {"mean", "sum", "tokens"}}}`` for every question with both kinds.

    Only kept candidates of questions that can form a pair are scored. Finished questions are
    appended to ``scores_path`` and skipped on a rerun; scores of another ``scorer`` are refused.
    """
    check_settings(scores_path, {"scorer": scorer})
    with JsonlWriter(scores_path) as writer:
        todo = [r for r in rows if r["id"] not in writer.done_keys and all(contrast(r))]
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            items = [(row, c) for row in chunk for side in contrast(row) for c in side]
            conversations = [dialogue_of(row).messages(c["turns"]) for row, c in items]
            scores = completion_logprobs(model, tokenizer, conversations, batch_size=batch_size)
            by_id: dict[str, dict[str, dict]] = {row["id"]: {} for row in chunk}
            for (row, c), s in zip(items, scores, strict=True):
                by_id[row["id"]][_key(c)] = {"mean": s.mean_logprob, "sum": s.sum_logprob, "tokens": s.num_tokens}
            for qid, scored in by_id.items():
                writer.write({"id": qid, "scores": scored, "settings": {"scorer": scorer}})
    return {r["id"]: r["scores"] for r in read_records(scores_path)}


def pick_pair(
    positives: Sequence[dict], negatives: Sequence[dict], config: SelectConfig, *, rng=None
) -> tuple[dict, dict]:
    """The (chosen, rejected) candidates under ``config.rule``; scored rules read ``candidate["score"]``.

    Ties go to the lower sample index, so the choice is deterministic.
    """
    if not positives or not negatives:
        raise LmforgeError("a pair needs at least one kept positive and one kept negative")
    if config.rule == "random":
        if rng is None:
            raise LmforgeError("the random pair rule needs an rng")
        return rng.choice(list(positives)), rng.choice(list(negatives))

    def lowest(cands: Sequence[dict]) -> dict:
        return min(cands, key=lambda c: (c["score"], c["sample"]))

    def highest(cands: Sequence[dict]) -> dict:
        return min(cands, key=lambda c: (-c["score"], c["sample"]))

    if config.rule == "minpos-maxneg":
        return lowest(positives), highest(negatives)
    return highest(positives), lowest(negatives)


def pair_row(row: dict, chosen: dict, rejected: dict, config: SelectConfig) -> dict:
    """A preference pair in TRL's conversational layout, with every assistant turn kept.

    ``prompt`` is the system and first user message; ``chosen``/``rejected`` continue the
    conversation (assistant, user, assistant, ...), so multi-turn responses are not flattened.
    """
    dialogue = dialogue_of(row)
    cut = len(dialogue.messages())
    chosen_messages = dialogue.messages(chosen["turns"])
    margin = None
    if "score" in chosen and "score" in rejected:
        margin = chosen["score"] - rejected["score"]
    return {
        "id": row["id"],
        "prompt": chosen_messages[:cut],
        "chosen": chosen_messages[cut:],
        "rejected": dialogue.messages(rejected["turns"])[cut:],
        "chosen_answer": chosen["answer"],
        "rejected_answer": rejected["answer"],
        "chosen_score": chosen.get("score"),
        "rejected_score": rejected.get("score"),
        "margin": margin,
        "golden_answers": row["golden_answers"],
        "rule": config.rule,
    }


def select_pairs(
    rows: Sequence[dict], config: SelectConfig, scores: dict[str, dict[str, dict]] | None = None
) -> list[dict]:
    """One pair per question that has both a kept positive and a kept negative; the others are dropped."""
    if config.needs_scores and scores is None:
        raise LmforgeError(f"pair rule {config.rule!r} needs candidate scores; score them with the starting model")
    pairs = []
    for row in rows:
        positives, negatives = contrast(row)
        if not positives or not negatives:
            continue
        if scores is not None:
            scored = scores.get(row["id"])
            if scored is None:
                raise LmforgeError(f"no scores for question {row['id']}; rescore the sample file")
            positives = [c | {"score": scored[_key(c)][config.score]} for c in positives]
            negatives = [c | {"score": scored[_key(c)][config.score]} for c in negatives]
        rng = question_rng(config.seed, row["id"], "pair")
        pairs.append(pair_row(row, *pick_pair(positives, negatives, config, rng=rng), config))
    return pairs


def select(
    samples: str | Path,
    output: str | Path,
    config: SelectConfig | None = None,
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    scores_path: str | Path | None = None,
) -> dict:
    """Score (when a model is given), select and write the pairs JSONL; returns counts and the mean margin.

    Scores are cached in ``scores_path`` (default: beside the samples file); they must come from
    the frozen starting model, the one that sampled.
    """
    config = config or SelectConfig()
    rows = read_records(samples)
    scores = None
    if model is not None:
        if tokenizer is None:
            raise LmforgeError("scoring needs the model's tokenizer too")
        scores_path = scores_path or Path(str(samples).removesuffix(".jsonl") + SCORES_SUFFIX)
        scorer = str(getattr(model, "name_or_path", ""))
        scores = score_samples(model, tokenizer, rows, scores_path, batch_size=config.batch_size, scorer=scorer)
    pairs = select_pairs(rows, config, scores)
    Path(output).unlink(missing_ok=True)
    with JsonlWriter(output) as writer:
        for pair in pairs:
            writer.write(pair)
    margins = [p["margin"] for p in pairs if p["margin"] is not None]
    return {
        "questions": len(rows),
        "pairs": len(pairs),
        "dropped": len(rows) - len(pairs),
        "mean_margin": sum(margins) / len(margins) if margins else None,
        "rule": config.rule,
    }
