"""Questions and passages as multi-turn conversations, rendered later by the model's own chat template.

A :class:`Dialogue` holds the user side of one question's protocol: one user message per
assistant turn. The inference protocol never shows the answer. The positive-sampling protocol
(``hint=True``) differs only in its first user message, which shows the gold answer and asks how
the passages lead to it; the assistant turns it produces are then placed into the inference
dialogue, which is what is scored, trained on and evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmforge.core.errors import LmforgeError
from lmforge.roserag.data import YES_NO, Passage, Question
from lmforge.roserag.prompting_config import PromptConfig

Message = dict[str, str]

EVIDENCE_ASK = (
    "Identify the passages that are relevant to the question and list the facts they give. "
    "Ignore passages that do not help."
)
EVIDENCE_HINT = (
    "The correct answer is: {answer}. Identify the passages that support this answer and list the facts they give."
)
RATIONALE_ASK = (
    "Using only the useful information, explain step by step how to answer the question, in at most {n} sentences."
)
RATIONALE_HINT = (
    "The correct answer is: {answer}. Using only the useful information, explain step by step how the passages "
    "lead to this answer, in at most {n} sentences. Do not mention that the answer was given."
)
RATIONALE_AFTER_EVIDENCE = (
    "Using only the useful information, reason step by step to the answer, in at most {n} sentences."
)
ANSWER_ASK = 'Now give only the final answer to the question "{question}": a short span of a few words, no explanation.'
ANSWER_ASK_YES_NO = 'Now give only the final answer to the question "{question}": yes or no, no explanation.'


def format_passages(passages: Sequence[Passage]) -> str:
    """Numbered passages, each ``[i] Title: text``."""
    lines = [f"[{i}] {p.title}: {p.contents}" if p.title else f"[{i}] {p.contents}" for i, p in enumerate(passages, 1)]
    return "Passages:\n" + "\n\n".join(lines)


@dataclass(frozen=True)
class Dialogue:
    """The system message and one user message per assistant turn of one question's protocol."""

    system: str | None
    users: tuple[str, ...]

    def messages(self, assistants: Sequence[str] = ()) -> list[Message]:
        """The conversation through ``assistants``, ending with the next user turn while turns remain."""
        if len(assistants) > len(self.users):
            raise LmforgeError(f"{len(assistants)} assistant turns for a {len(self.users)}-turn protocol")
        out = [] if self.system is None else [{"role": "system", "content": self.system}]
        for i, user in enumerate(self.users):
            if i > len(assistants):
                break
            out.append({"role": "user", "content": user})
            if i < len(assistants):
                out.append({"role": "assistant", "content": assistants[i]})
        return out

    def with_first(self, user: str) -> Dialogue:
        return Dialogue(self.system, (user, *self.users[1:]))


def build_dialogue(
    question: Question, passages: Sequence[Passage], config: PromptConfig, *, hint: bool = False
) -> Dialogue:
    """The protocol's user turns for ``question`` over ``passages``; ``hint`` shows the gold answer first.

    ``single_turn`` has no rationale turn, so it has no answer-shown variant.
    """
    context = f"{format_passages(passages)}\n\nQuestion: {question.question}"
    answer = question.golden_answers[0]
    n = config.rationale_sentences
    ask_answer = (ANSWER_ASK_YES_NO if question.answer_type == YES_NO else ANSWER_ASK).format(
        question=question.question
    )
    if config.protocol == "single_turn":
        users: tuple[str, ...] = (f"{context}\n\n{ask_answer}",)
    elif config.protocol == "two_turn":
        first = (RATIONALE_HINT if hint else RATIONALE_ASK).format(answer=answer, n=n)
        users = (f"{context}\n\n{first}", ask_answer)
    else:
        first = EVIDENCE_HINT.format(answer=answer) if hint else EVIDENCE_ASK
        users = (f"{context}\n\n{first}", RATIONALE_AFTER_EVIDENCE.format(n=n), ask_answer)
    return Dialogue(config.system, users)
