"""Short-answer QA metrics: exact match, token F1 and containment, max over gold aliases.

The definitions follow the SQuAD v1.1 official evaluation script (``evaluate-v1.1.py``:
``normalize_answer``, ``exact_match_score``, ``f1_score``, ``metric_max_over_ground_truths``)
and FlashRAG's ``flashrag/evaluator/metrics.py`` (``ExactMatch``, ``F1_Score``, ``Sub_ExactMatch``
reported as ``acc``), which RoseRAG's reference numbers use. Keeping one implementation here
means acceptance tests during data generation and the final evaluation normalise identically.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

from lmforge.core.errors import LmforgeError

_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = frozenset({"yes", "no", "noanswer"})


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalisation: lower-case, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    s = s.lower().translate(_PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _golds(golds: str | Sequence[str]) -> list[str]:
    return [golds] if isinstance(golds, str) else list(golds)


def _max_over(score: Callable[[str, str], float], prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD's ``metric_max_over_ground_truths``; 0.0 when there is no gold answer."""
    pred = normalize_answer(prediction)
    return max((score(pred, normalize_answer(g)) for g in _golds(golds)), default=0.0)


def _em(pred: str, gold: str) -> float:
    return float(pred == gold)


def _f1(pred: str, gold: str) -> float:
    # FlashRAG F1_Score: a yes/no/noanswer on either side only scores if both sides agree exactly,
    # so "no" vs "no way" gets no partial credit.
    if (pred in _SPECIAL or gold in _SPECIAL) and pred != gold:
        return 0.0
    pred_tokens, gold_tokens = pred.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _contains(pred: str, gold: str) -> float:
    return float(gold in pred)


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold (SQuAD ``exact_match_score``)."""
    return _max_over(_em, prediction, golds)


def token_f1(prediction: str, golds: str | Sequence[str]) -> float:
    """SQuAD v1.1 token F1 over normalised tokens, max over golds, with FlashRAG's yes/no/noanswer rule.

    As in SQuAD v1.1, an empty prediction or gold scores 0 (no shared tokens).
    """
    return _max_over(_f1, prediction, golds)


def containment(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 if any normalised gold is a substring of the normalised prediction (FlashRAG ``acc`` / sub-EM).

    Looser than EM: it forgives verbose answers ("it was Paris, France" for "Paris"). It is a
    plain substring test, as in FlashRAG, so "no" is found inside "not".
    """
    return _max_over(_contains, prediction, golds)


def answer_metrics(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean ``em``, ``f1`` and ``acc`` over a dataset, plus ``n``; each gold entry lists one question's aliases.

    With no predictions the means are 0.0 and ``n`` is 0.
    """
    if len(predictions) != len(golds):
        raise LmforgeError(f"{len(predictions)} predictions but {len(golds)} gold answer lists; they must pair up")
    n = len(predictions)
    totals = {"em": 0.0, "f1": 0.0, "acc": 0.0}
    for pred, gold in zip(predictions, golds, strict=True):
        totals["em"] += exact_match(pred, gold)
        totals["f1"] += token_f1(pred, gold)
        totals["acc"] += containment(pred, gold)
    return {**{k: v / n if n else 0.0 for k, v in totals.items()}, "n": n}
