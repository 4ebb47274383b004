"""Final-answer extraction on known model outputs, and the acceptance test."""

from __future__ import annotations

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.roserag.answers import extract_answer, is_correct


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", "Paris"),
        ("  Paris.\n", "Paris"),
        ("The answer is Paris.", "Paris"),
        ("Final answer: **Paris**", "Paris"),
        ("Answer:\nChief of Protocol", "Chief of Protocol"),
        ('"Chief of Protocol"', "Chief of Protocol"),
        ("The final answer is: Kiss and Tell. It was released in 1945.", "Kiss and Tell"),
        ("- Arthur's Magazine\n- First for Women", "Arthur's Magazine"),
        ("St. Louis, Missouri", "St. Louis, Missouri"),
        ("Washington, D.C.", "Washington, D.C"),
        ("The answer to the question is: New York City.", "New York City"),
        ('The answer is "Kansas Song" which is a fight song', "Kansas Song"),
        ("Step 4: Provide the answer.\nThe answer is: David Weissman", "David Weissman"),
        ("", ""),
    ],
)
def test_span_answers(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes, because it is.", "yes"), ("No.", "no"), ("The answer is no", "no"), ("True", "yes"), ("maybe", "maybe")],
)
def test_yes_no_answers(text, expected):
    assert extract_answer(text, "yesno") == expected


@pytest.mark.parametrize(
    ("text", "question", "expected"),
    [
        ("The capital of Armenia is Yerevan.", "What is the capital of Armenia?", "Yerevan"),
        ("The director was Adriana Trigiani", "Who was the director of Big Stone Gap?", "Adriana Trigiani"),
        ("Paris is the capital of France.", "What is the capital of France?", "Paris is the capital of France"),
        ("Yerevan", "What is the capital of Armenia?", "Yerevan"),
    ],
)
def test_a_restated_question_is_cut(text, question, expected):
    assert extract_answer(text, question=question) == expected


def test_acceptance_rules():
    assert is_correct("the Paris", ["Paris"]) and not is_correct("Paris, France", ["Paris"])
    assert is_correct("Paris, France", ["Paris"], "contains") and not is_correct("", ["Paris"], "contains")
    with pytest.raises(LmforgeError, match="unknown acceptance rule"):
        is_correct("x", ["x"], "fuzzy")
