"""Evaluation: metrics per question, bootstrap intervals, gold recall, and resuming."""

from __future__ import annotations

import pytest

from lmforge.core.data import read_records
from lmforge.core.errors import LmforgeError
from lmforge.roserag.contexts import given_contexts
from lmforge.roserag.contexts_config import GivenContextsConfig
from lmforge.roserag.evaluation import bootstrap_ci, evaluate, gold_recall, paired_bootstrap_ci
from lmforge.roserag.prompting_config import PromptConfig

from ._fixtures import NILE, PARIS, ScriptedGenerator


def test_bootstrap_intervals():
    low, high = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    assert low < 0.5 < high and high - low < 0.3
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)
    assert paired_bootstrap_ci([1.0, 1.0, 0.0], [0.0, 1.0, 0.0])[0] >= 0.0


def test_gold_recall(questions):
    assert gold_recall(questions[0], [PARIS, NILE]) == 1.0
    assert gold_recall(questions[0], [NILE]) == 0.0
    assert gold_recall(questions[2], [NILE]) is None  # names no gold paragraph


def test_evaluate_scores_greedy_answers_and_resumes(tmp_path, questions):
    passages = given_contexts(questions, GivenContextsConfig(n_distractors=0))
    out = tmp_path / "pred.jsonl"
    generator = ScriptedGenerator(show_progress=False)  # answers with passage [1]'s title
    summary = evaluate(generator, questions[:2], passages[:2], PromptConfig(), output=out)
    assert generator.calls == 2  # one batched call per turn
    assert summary["n"] == 2 and summary["em"] == 1.0 and summary["gold_recall"] == 1.0
    again = ScriptedGenerator(show_progress=False)
    summary = evaluate(again, questions, passages, PromptConfig(), output=out)
    assert again.calls == 2 and len(read_records(out)) == 3  # only the third question was asked
    assert summary["n"] == 3 and summary["em"] == pytest.approx(2 / 3)  # "Berlin" is not yes/no
    third = read_records(out)[2]
    assert third["prediction"] == "Berlin" and third["turns"][0] == "It is Berlin."
    assert summary["em_ci95"][0] <= summary["em"] <= summary["em_ci95"][1]
    with pytest.raises(LmforgeError, match=r"other settings \(prompt differ\)"):
        evaluate(again, questions, passages, PromptConfig(max_answer_tokens=4), output=out)


def test_robustness_curves(tmp_path, questions, corpus):
    from lmforge.roserag.retrieval import build_index
    from lmforge.roserag.robustness import robustness

    generator = ScriptedGenerator(show_progress=False)
    result = robustness(
        generator, questions[:2], tmp_path, noise=(0, 2), ks=(1, 3), retriever=build_index(corpus), seed=0
    )
    assert [p["distractors"] for p in result["curves"]["noise"]] == [0, 2]
    assert [p["k"] for p in result["curves"]["k"]] == [1, 3]
    assert result["curves"]["noise"][0]["f1"] == 1.0  # with only gold passages, [1] is gold
    assert isinstance(result["f1_slope_per_distractor"], float)
    assert (tmp_path / "robustness.png").stat().st_size > 1000
    assert (tmp_path / "robustness.json").is_file() and (tmp_path / "noise_2.jsonl").is_file()
