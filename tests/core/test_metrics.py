"""SQuAD / FlashRAG answer metrics on hand-checked examples."""

from __future__ import annotations

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.core.metrics import answer_metrics, containment, exact_match, normalize_answer, token_f1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  A  cat's   toy!! ", "cats toy"),
        ("an apple, the pear", "apple pear"),
        ("Theory of Anatomy", "theory of anatomy"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel Tower.", "the eiffel tower") == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0
    assert exact_match("Paris", ["London", "paris!"]) == 1.0, "max over gold aliases"
    assert exact_match("Paris", []) == 0.0


def test_token_f1_partial_overlap() -> None:
    # pred tokens: [eiffel], gold: [eiffel, tower] -> P = 1, R = 1/2 -> F1 = 2/3
    assert token_f1("the Eiffel", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    # pred: [barack, obama, was, president] gold: [obama]: P = 1/4, R = 1 -> F1 = 2/5
    assert token_f1("Barack Obama was president", "Obama") == pytest.approx(0.4)
    # repeated tokens count by multiplicity: pred [new, new, york], gold [new, york]: 2 common, P=2/3, R=1 -> 0.8
    assert token_f1("new new york", "New York") == pytest.approx(0.8)
    # both repeat: common = min counts = new 2 + york 1 = 3; P = 3/4, R = 3/3 -> F1 = 6/7
    assert token_f1("new york new york", "new york new") == pytest.approx(6 / 7)
    assert token_f1("Tower of London", ["eiffel tower", "tower of london"]) == 1.0
    assert token_f1("Berlin", ["Paris"]) == 0.0
    assert token_f1("", [""]) == 0.0, "SQuAD v1.1: no shared tokens -> 0"


def test_token_f1_yes_no_rule() -> None:
    # FlashRAG: a yes/no/noanswer answer gets no partial credit.
    assert token_f1("no", ["no way"]) == 0.0
    assert token_f1("no way", ["no"]) == 0.0
    assert token_f1("Yes.", ["yes"]) == 1.0
    assert token_f1("no answer", ["noanswer"]) == 0.0
    assert token_f1("yes", ["no", "yes"]) == 1.0


def test_containment() -> None:
    assert containment("It was the Eiffel Tower, in Paris.", ["eiffel tower"]) == 1.0
    assert containment("Eiffel", ["Eiffel Tower"]) == 0.0, "gold must be inside the prediction, not the reverse"
    assert containment("I think London", ["Paris", "london"]) == 1.0
    assert containment("anything", []) == 0.0


def test_answer_metrics() -> None:
    preds = ["The Eiffel Tower", "the Eiffel", "It is in Paris", "no"]
    golds = [["eiffel tower"], ["Eiffel Tower"], ["Paris", "France"], ["yes"]]
    m = answer_metrics(preds, golds)
    # EM: 1, 0, 0, 0; F1: 1, 2/3, 2/5 ([it, is, in, paris] vs [paris]), 0; acc: 1, 0, 1, 0
    assert m == pytest.approx({"em": 0.25, "f1": (1 + 2 / 3 + 0.4) / 4, "acc": 0.5, "n": 4})
    assert answer_metrics([], []) == {"em": 0.0, "f1": 0.0, "acc": 0.0, "n": 0}
    with pytest.raises(LmforgeError, match="2 predictions but 1"):
        answer_metrics(["a", "b"], [["a"]])
