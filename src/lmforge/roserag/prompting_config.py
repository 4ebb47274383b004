"""The multi-turn prompt protocol: which turns, their wording, and each turn's token limit."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmforge.core.errors import LmforgeError

PROTOCOLS = ("two_turn", "three_turn", "single_turn")
TURNS = {
    "two_turn": ("rationale", "answer"),
    "three_turn": ("evidence", "rationale", "answer"),
    "single_turn": ("answer",),
}
DEFAULT_SYSTEM = "You are a helpful assistant that answers knowledge-intensive questions using the given passages."


@dataclass(frozen=True)
class PromptConfig:
    """How a question and its passages become a conversation, and how long each assistant turn may be.

    ``two_turn`` (rationale → answer) is the default for models under 1B parameters, which follow
    the 3-turn evidence → rationale → answer protocol poorly [design]. ``single_turn`` asks for
    the answer at once: the vanilla-RAG baseline for evaluation, not for sampling. ``system=None`` leaves out
    the system message (for templates without one). The same config must be used to sample,
    score, train and evaluate: the protocol is part of what the model learns.
    """

    protocol: str = "two_turn"
    system: str | None = DEFAULT_SYSTEM
    max_evidence_tokens: int = 64
    max_rationale_tokens: int = 64
    max_answer_tokens: int = 16
    rationale_sentences: int = 4

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise LmforgeError(f"unknown protocol {self.protocol!r}; use one of: {', '.join(PROTOCOLS)}")
        for name in ("max_evidence_tokens", "max_rationale_tokens", "max_answer_tokens", "rationale_sentences"):
            if getattr(self, name) < 1:
                raise LmforgeError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def turns(self) -> tuple[str, ...]:
        """The assistant turns in order; the last is always ``answer``."""
        return TURNS[self.protocol]

    def max_tokens(self, turn: str) -> int:
        """The new-token limit of one assistant turn."""
        return getattr(self, f"max_{turn}_tokens")

    def to_dict(self) -> dict:
        return asdict(self)
