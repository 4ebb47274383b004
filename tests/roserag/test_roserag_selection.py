"""Pair rules on hand-made candidates, dropping questions without a contrast, and scoring with a model."""

from __future__ import annotations

import pytest

from lmforge.core.data import read_records
from lmforge.core.errors import LmforgeError
from lmforge.roserag.selection import pick_pair, score_samples, select, select_pairs
from lmforge.roserag.selection_config import SelectConfig

from ._fixtures import write_jsonl


def cand(kind, sample, correct, turns=("why", "ans")):
    return {"kind": kind, "sample": sample, "turns": list(turns), "answer": turns[-1], "correct": correct}


def row(qid, candidates):
    return {
        "id": qid,
        "golden_answers": ["Paris"],
        "dialogue": {"system": "sys", "users": ["passages + question", "final answer?"]},
        "candidates": candidates,
    }


def contrast_rows(questions, positives, negatives):
    """Rows whose every positive is right and every negative wrong, each with its own rationale."""
    return [
        row(
            f"q{i}",
            [cand("positive", j, True, (f"p{j} the sea", "Paris")) for j in range(positives)]
            + [cand("negative", j, False, (f"n{j} blue", "Rome")) for j in range(negatives)],
        )
        for i in range(questions)
    ]


POS = [{"sample": 0, "score": -1.0}, {"sample": 1, "score": -3.0}, {"sample": 2, "score": -2.0}]
NEG = [{"sample": 0, "score": -4.0}, {"sample": 1, "score": -0.5}, {"sample": 2, "score": -0.5}]


def test_minpos_maxneg_is_the_hardest_pair():
    chosen, rejected = pick_pair(POS, NEG, SelectConfig())
    assert (chosen["sample"], rejected["sample"]) == (1, 1)  # ties go to the lower sample index


def test_maxpos_minneg_is_the_easiest_pair():
    chosen, rejected = pick_pair(POS, NEG, SelectConfig(rule="maxpos-minneg"))
    assert (chosen["sample"], rejected["sample"]) == (0, 0)


def test_random_pairs_are_seeded_per_question():
    rows = contrast_rows(6, 4, 4)
    first = select_pairs(rows, SelectConfig(rule="random", seed=1))
    assert select_pairs(rows, SelectConfig(rule="random", seed=1)) == first
    assert select_pairs(rows[2:], SelectConfig(rule="random", seed=1)) == first[2:]  # independent of the others
    picks = {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in first}
    assert len(picks) > 1  # not always the same samples


def test_select_pairs_drops_questions_without_both_and_uses_scores():
    rows = [
        row(
            "both",
            [
                cand("positive", 0, True, ("p0", "Paris")),
                cand("positive", 1, True, ("p1", "Paris")),
                cand("positive", 2, False, ("p2", "Rome")),
                cand("negative", 0, False, ("n0", "Rome")),
                cand("negative", 1, True, ("n1", "Paris")),
            ],
        ),
        row("no-negative", [cand("positive", 0, True), cand("negative", 0, True)]),
        row("no-positive", [cand("positive", 0, False), cand("negative", 0, False)]),
    ]
    scores = {
        "both": {
            "positive/0": {"mean": -1.0, "sum": -9.0},
            "positive/1": {"mean": -2.0, "sum": -4.0},
            "negative/0": {"mean": -1.5, "sum": -3.0},
        }
    }
    (pair,) = select_pairs(rows, SelectConfig(), scores)
    assert pair["id"] == "both" and pair["chosen_answer"] == "Paris" and pair["rejected_answer"] == "Rome"
    assert pair["prompt"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "passages + question"}]
    assert pair["chosen"] == [
        {"role": "assistant", "content": "p1"},
        {"role": "user", "content": "final answer?"},
        {"role": "assistant", "content": "Paris"},
    ]
    assert pair["rejected"][0] == {"role": "assistant", "content": "n0"}
    assert pair["margin"] == pytest.approx(-0.5)
    (by_sum,) = select_pairs(rows, SelectConfig(score="sum"), scores)
    assert by_sum["chosen"][0]["content"] == "p0"  # the length-normalised and summed scores disagree here
    with pytest.raises(LmforgeError, match="needs candidate scores"):
        select_pairs(rows, SelectConfig())


def test_select_scores_with_the_model_and_caches_scores(tmp_path, tiny_llama, tiny_tokenizer):
    rows = contrast_rows(2, 3, 2)
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    stats = select(samples, tmp_path / "pairs.jsonl", model=tiny_llama, tokenizer=tiny_tokenizer)
    assert stats["pairs"] == 2 and stats["dropped"] == 0 and stats["mean_margin"] is not None
    scores = read_records(tmp_path / "samples.scores.jsonl")
    assert len(scores) == 2 and len(scores[0]["scores"]) == 5
    pairs = read_records(tmp_path / "pairs.jsonl")
    again = select(
        samples,
        tmp_path / "pairs2.jsonl",
        SelectConfig(rule="maxpos-minneg"),
        model=tiny_llama,
        tokenizer=tiny_tokenizer,
    )
    assert len(read_records(tmp_path / "samples.scores.jsonl")) == 2  # scores reused, not recomputed
    with pytest.raises(LmforgeError, match=r"other settings \(scorer differ\)"):
        score_samples(tiny_llama, tiny_tokenizer, rows, tmp_path / "samples.scores.jsonl", scorer="another-model")
    assert again["pairs"] == 2
    hardest = {p["id"]: p["margin"] for p in pairs}
    easiest = {p["id"]: p["margin"] for p in read_records(tmp_path / "pairs2.jsonl")}
    assert all(hardest[q] <= easiest[q] for q in hardest)
