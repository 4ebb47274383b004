"""The judge interface every ICE judge implements, and the verdict it returns.

A judge sees the target's identity fact and a batch of responses and says, per response,
whether it contradicts the fact about who "I" is (loose) and whether it claims to be
another vendor's product or model (strict). ``None`` means the judge's output could not be
read: such rows are counted and reported, never dropped and never guessed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from lmforge.distill.facts import Family


@dataclass(frozen=True)
class Verdict:
    """One response's judgement; ``vendors`` names the families a strict hit points to."""

    loose: bool | None
    strict: bool | None
    vendors: tuple[str, ...] = ()
    evidence: str = ""
    raw: str = ""

    @property
    def parsed(self) -> bool:
        return self.loose is not None and (not self.loose or self.strict is not None)

    def to_dict(self) -> dict:
        return {
            "loose": self.loose,
            "strict": self.strict,
            "vendors": list(self.vendors),
            "evidence": self.evidence,
            "raw": self.raw,
        }


class Judge(ABC):
    """Judges responses of one target family; ``name`` is recorded with every verdict."""

    name: str = "judge"

    @abstractmethod
    def judge(self, family: Family, responses: Sequence[str]) -> list[Verdict]:
        """One verdict per response, in order."""
