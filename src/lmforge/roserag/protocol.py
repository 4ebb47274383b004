"""Run the multi-turn protocol for many conversations at once: one batched ``generate`` call per turn.

Turn t of every pending conversation is generated in one call, so the backend batches (and
caches) across questions and samples. Each trajectory has its own prompt id per turn, hence its
own seed: a sample does not depend on which other trajectories share the run, and a rerun after
an interruption gets every finished turn back from the response cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lmforge.core.generation import GenerationConfig, Generator
from lmforge.roserag.prompting import Dialogue
from lmforge.roserag.prompting_config import PromptConfig


@dataclass
class Trajectory:
    """One run of the protocol: its inference dialogue and the assistant turns produced so far.

    ``reasoning`` is the dialogue the turns before the answer are generated in; it differs from
    ``dialogue`` when the gold answer is shown (positive sampling). The answer turn, and
    everything stored, scored and trained on, uses ``dialogue``.
    """

    id: str
    dialogue: Dialogue
    reasoning: Dialogue | None = None
    assistants: list[str] = field(default_factory=list)

    def prompt(self, answer_turn: bool) -> list[dict[str, str]]:
        dialogue = self.dialogue if answer_turn or self.reasoning is None else self.reasoning
        return dialogue.messages(self.assistants)

    @property
    def conversation(self) -> list[dict[str, str]]:
        """The inference conversation with every assistant turn produced."""
        return self.dialogue.messages(self.assistants)


@dataclass(frozen=True)
class Decoding:
    """Sampling settings of a protocol run; the answer turn has its own temperature."""

    temperature: float = 0.0
    top_p: float = 1.0
    answer_temperature: float = 0.0
    seed: int = 0


def run_protocol(
    generator: Generator, trajectories: Sequence[Trajectory], prompt: PromptConfig, decoding: Decoding
) -> None:
    """Fill every trajectory's assistant turns, one batched generation call per turn."""
    for t, turn in enumerate(prompt.turns):
        todo = [tr for tr in trajectories if len(tr.assistants) == t]
        if not todo:
            continue
        answer = turn == "answer"
        config = GenerationConfig(
            max_new_tokens=prompt.max_tokens(turn),
            temperature=decoding.answer_temperature if answer else decoding.temperature,
            top_p=decoding.top_p,
            seed=decoding.seed,
        )
        texts = generator.generate([tr.prompt(answer) for tr in todo], config, ids=[f"{tr.id}/{turn}" for tr in todo])
        for tr, (text,) in zip(todo, texts, strict=True):
            tr.assistants.append(text.strip())
