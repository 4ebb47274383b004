"""Settings of the given-contexts mode (gold paragraphs plus a controlled number of distractors)."""

from __future__ import annotations

from dataclasses import dataclass

from lmforge.core.errors import LmforgeError


@dataclass(frozen=True)
class GivenContextsConfig:
    """Gold + ``n_distractors`` noisy paragraphs per question, drawn with ``seed``.

    Distractors come first from the question's own non-gold paragraphs (HotpotQA's distractor
    setting has 8) and then from other questions' paragraphs. ``shuffle`` mixes gold and noise so
    the gold paragraphs are not always first [design].
    """

    n_distractors: int = 2
    seed: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.n_distractors < 0:
            raise LmforgeError(f"n_distractors must be >= 0, got {self.n_distractors}")
