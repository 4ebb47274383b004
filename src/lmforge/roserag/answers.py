"""Final-answer extraction and the correctness test shared by sampling, selection and evaluation.

Small models wrap answers in phrases ("The answer is **Paris**."), add an explanation, or
answer a yes/no question with "Yes, because ...". One parser, used everywhere, keeps
acceptance during sampling and scoring at evaluation identical (the spec's pitfall).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lmforge.core.errors import LmforgeError
from lmforge.core.metrics import containment, exact_match, normalize_answer
from lmforge.roserag.data import YES_NO

ACCEPT_RULES = ("em", "contains")

_MARKER = re.compile(
    r"\b(?:final\s+)?answer(?:\s+to\s+(?:the|this|your)\s+question)?\s*(?:is\s*:?|:)\s*", re.IGNORECASE
)
_QUOTED = re.compile(r"^\s*[\"“]([^\"“”]+)[\"”]")
_MARKUP = re.compile(r"[*_`#]+")
_BULLET = re.compile(r"^\s*(?:[-•]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=\w{4})[.!?]\s+(?=[A-Z])")
_EDGE = " \t\"'“”‘’.,;:!?()[]"
_COPULA = re.compile(r"^(.+?)\s+(?:is|was|are|were)\s+(.+)$", re.IGNORECASE)
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}


def extract_answer(text: str, answer_type: str = "span", question: str | None = None) -> str:
    """The short answer in a model's final turn.

    Takes what follows the first "answer is"/"answer:" marker (else the whole text), its first
    non-empty line, the quoted span it starts with or else its first sentence, without markdown,
    quotes or edge punctuation. Given the ``question``, a sentence that restates it ("The capital
    of Armenia is Yerevan" for "What is the capital of Armenia?") is cut to what follows the
    verb. For yes/no questions the first yes/no word (true/false count) decides.
    """
    text = _MARKUP.sub("", text)
    marker = _MARKER.search(text)
    if marker and text[marker.end() :].strip():
        text = text[marker.end() :]
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = _BULLET.sub("", line)
    quoted = _QUOTED.match(line)  # '"Kansas Song" which is ...': the quoted span is the answer
    if quoted:
        line = quoted.group(1)
    line = _SENTENCE_END.split(line, maxsplit=1)[0]
    answer = line.strip(_EDGE).strip()
    if question:
        answer = _drop_restated_question(answer, question)
    if answer_type == YES_NO:
        for word in normalize_answer(answer).split():
            if word in _YES:
                return "yes"
            if word in _NO:
                return "no"
    return answer


def _drop_restated_question(answer: str, question: str) -> str:
    """ "<words of the question> is X" -> "X"; any other sentence is left alone."""
    match = _COPULA.match(answer)
    if not match:
        return answer
    subject = normalize_answer(match.group(1)).split()
    if subject and set(subject) <= set(normalize_answer(question).split()):
        return match.group(2).strip(_EDGE).strip()
    return answer


def is_correct(prediction: str, golds: Sequence[str], rule: str = "em") -> bool:
    """Whether an extracted answer matches a gold alias: normalised exact match or containment."""
    if rule == "em":
        return exact_match(prediction, golds) == 1.0
    if rule == "contains":
        return bool(prediction.strip()) and containment(prediction, golds) == 1.0
    raise LmforgeError(f"unknown acceptance rule {rule!r}; use one of: {', '.join(ACCEPT_RULES)}")
