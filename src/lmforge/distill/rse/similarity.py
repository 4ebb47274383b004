"""Offline multi-granularity similarity of a response to a reference: style, structure, content.

No judge model is needed. Each aspect is measured by raw similarities in [0, 1]:

- **style**: 1 − mean relative difference of two stylometric profiles (length, sentence
  length, punctuation, markdown headers / lists / bold / code, hedges, stock openers);
- **structure**: alignment ratio of the two skeletons (the sequence of headers, list items,
  numbered steps, code blocks, table rows and paragraphs);
- **content**: embedding cosine (bundled ``minilm-l6`` through sentence-transformers) and
  ROUGE-L F1 over words.

:class:`Calibration` maps each raw similarity to the judge's 0–2 scale [design]: 0 is the
level of responses to *different* prompts (shuffled pairs), 2 the level of two independent
samples of one model on the same prompt (the noise floor), linear in between, clipped.
The overall 1–5 is ``1 + 2 × mean(style, structure, content)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

ASPECTS = ("style", "structure", "content")
MEASURES = {"style": ("profile",), "structure": ("skeleton",), "content": ("embedding", "rouge_l")}

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")
_HEADER = re.compile(r"^\s{0,3}(#{1,6})\s+\S")
_BULLET = re.compile(r"^\s*[-*+•]\s+\S")
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|step\s+\d+\s*[:.)-])\s*\S", re.IGNORECASE)
_TABLE = re.compile(r"^\s*\|.*\|\s*$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)[^*_\n]+\1:?\s*$")  # a line that is only bold text: a heading
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_HEDGES = (
    "might",
    "may",
    "perhaps",
    "possibly",
    "generally",
    "typically",
    "usually",
    "however",
    "it depends",
    "important to",
    "keep in mind",
    "note that",
)
_OPENERS = ("sure", "certainly", "of course", "great question", "absolutely", "as an ai", "i'm sorry", "hello", "hi")


def _rel(a: float, b: float) -> float:
    """Relative difference in [0, 1]: 0 when equal, 1 when one is zero and the other is not."""
    return 0.0 if a == b else abs(a - b) / (abs(a) + abs(b))


def style_profile(text: str) -> dict[str, float]:
    """Stylometric features of one response: rates, not counts, so long and short texts compare."""
    words = _WORD.findall(text.lower())
    n_words = max(len(words), 1)
    chars = max(len(text), 1)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    n_lines = max(len(lines), 1)
    sentences = max(len(_SENTENCE_END.findall(text)), 1)
    lowered = text.lower()
    return {
        "log_words": math.log1p(len(words)),
        "words_per_sentence": len(words) / sentences,
        "word_length": sum(map(len, words)) / n_words,
        "commas": 100 * text.count(",") / chars,
        "colons": 100 * (text.count(":") + text.count(";")) / chars,
        "exclaims": 100 * text.count("!") / chars,
        "questions": 100 * text.count("?") / chars,
        "parentheses": 100 * text.count("(") / chars,
        "headers": sum(bool(_HEADER.match(ln)) for ln in lines) / n_lines,
        "bullets": sum(bool(_BULLET.match(ln)) for ln in lines) / n_lines,
        "numbered": sum(bool(_NUMBERED.match(ln)) for ln in lines) / n_lines,
        "bold": 100 * len(_BOLD.findall(text)) / n_words,
        "code": float(text.count("```") // 2 + ("`" in text.replace("```", ""))),
        "hedges": 100 * sum(lowered.count(h) for h in _HEDGES) / n_words,
        "opener": float(lowered.lstrip(" *#\n").startswith(_OPENERS)),
        "first_person": 100 * sum(w in ("i", "i'm", "my", "me") for w in words) / n_words,
        "second_person": 100 * sum(w in ("you", "your", "yours") for w in words) / n_words,
    }


def style_similarity(a: str, b: str) -> float:
    """1 − the mean relative difference of the two profiles' features."""
    pa, pb = style_profile(a), style_profile(b)
    return 1.0 - float(np.mean([_rel(pa[k], pb[k]) for k in pa]))


def skeleton(text: str) -> list[str]:
    """The response's outline: ``H1``–``H6`` headers, ``HB`` bold-line headings, ``LI`` bullets, ``NUM`` steps,
    ``CODE``, ``TAB`` tables and ``P`` paragraphs.

    Consecutive plain lines form one paragraph; a code block counts once whatever its length.
    """
    out: list[str] = []
    in_code = False
    previous = ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if not in_code:
                out.append("CODE")
            in_code = not in_code
            previous = "CODE"
            continue
        if in_code:
            continue
        if not line.strip():
            previous = ""
            continue
        if m := _HEADER.match(line):
            token = f"H{len(m.group(1))}"
        elif _BOLD_LINE.match(line):
            token = "HB"
        elif _NUMBERED.match(line):
            token = "NUM"
        elif _BULLET.match(line):
            token = "LI"
        elif _TABLE.match(line):
            token = "TAB" if previous != "TAB" else ""
        else:
            token = "P" if previous != "P" else ""
        if token:
            out.append(token)
            previous = token
    return out


def structure_similarity(a: str, b: str) -> float:
    """Alignment ratio (2·matches / total length) of the two skeletons; two empty skeletons are identical."""
    sa, sb = skeleton(a), skeleton(b)
    if not sa and not sb:
        return 1.0
    return SequenceMatcher(None, sa, sb, autojunk=False).ratio()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence length, bit-parallel (Hyyrö 2004): one big-int step per token of ``b``."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens."""
    ra, cb = _WORD.findall(reference.lower()), _WORD.findall(candidate.lower())
    lcs = lcs_length(ra, cb)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(cb), lcs / len(ra)
    return 2 * p * r / (p + r)


Encoder = Callable[[list[str]], np.ndarray]


def minilm_encoder(spec: str = "minilm-l6", batch_size: int = 32) -> Encoder:
    """Unit-length sentence embeddings from a bundled (or local) sentence-transformers model, loaded once."""
    from sentence_transformers import SentenceTransformer

    from lmforge.core.models import resolve

    model = SentenceTransformer(resolve(spec), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    return encode


def raw_similarities(pairs: Sequence[tuple[str, str]], encoder: Encoder | None) -> dict[str, np.ndarray]:
    """Every raw measure for each (reference, response) pair; texts are embedded in one batch (each once)."""
    out = {
        "profile": np.array([style_similarity(a, b) for a, b in pairs]),
        "skeleton": np.array([structure_similarity(a, b) for a, b in pairs]),
        "rouge_l": np.array([rouge_l(a, b) for a, b in pairs]),
    }
    if encoder is not None:
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        index = {t: i for i, t in enumerate(texts)}
        vectors = encoder(texts) if texts else np.zeros((0, 1), np.float32)
        cos = [float(vectors[index[a]] @ vectors[index[b]]) for a, b in pairs]
        out["embedding"] = np.clip(np.array(cos), -1.0, 1.0)
    return out


@dataclass
class Calibration:
    """Per measure, the raw level that maps to 0 (shuffled pairs) and to 2 (two samples, same prompt)."""

    low: dict[str, float]
    high: dict[str, float]
    source: str = ""
    n_pairs: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def fit(
        cls, first: Sequence[str], second: Sequence[str], encoder: Encoder | None, *, seed: int = 0, source: str = ""
    ) -> Calibration:
        """Levels from two independent samples per prompt: same-prompt pairs (high), shuffled pairs (low).

        The shuffled pairs match sample 1 of prompt i with sample 2 of prompt π(i), π a
        seeded derangement, so no pair shares its prompt.
        """
        n = len(first)
        if n < 2 or len(second) != n:
            raise ValueError("calibration needs two samples for each of at least two prompts")
        perm = derangement(n, seed)
        same = raw_similarities(list(zip(first, second, strict=True)), encoder)
        shuffled = raw_similarities([(first[i], second[perm[i]]) for i in range(n)], encoder)
        low = {k: float(np.mean(v)) for k, v in shuffled.items()}
        high = {k: float(np.mean(v)) for k, v in same.items()}
        notes = [f"{k}: noise floor {high[k]:.3f} ≤ shuffled level {low[k]:.3f}" for k in low if high[k] <= low[k]]
        return cls(low, high, source, n, notes)

    def scale(self, measure: str, raw: np.ndarray) -> np.ndarray:
        """Linear map low→0, high→2, clipped to [0, 2]; a degenerate pair of levels maps to 0 or 2 by side."""
        lo, hi = self.low[measure], self.high[measure]
        if hi <= lo:
            return np.where(raw >= hi, 2.0, 0.0)
        return np.clip(2.0 * (raw - lo) / (hi - lo), 0.0, 2.0)

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "source": self.source, "n_pairs": self.n_pairs, "notes": self.notes}


def derangement(n: int, seed: int = 0) -> list[int]:
    """A seeded permutation with no fixed point (a random cyclic shift of a random order)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    shift = int(rng.integers(1, n)) if n > 1 else 0
    perm = [0] * n
    for k in range(n):
        perm[int(order[k])] = int(order[(k + shift) % n])
    return perm


def aspect_scores(raw: dict[str, np.ndarray], calibration: Calibration) -> dict[str, np.ndarray]:
    """Per pair, the three aspects on 0–2 (each the mean of its calibrated measures) and the overall 1–5."""
    out: dict[str, np.ndarray] = {}
    for aspect, measures in MEASURES.items():
        present = [calibration.scale(m, raw[m]) for m in measures if m in raw]
        out[aspect] = np.mean(present, axis=0)
    out["overall"] = 1.0 + 2.0 * np.mean([out[a] for a in ASPECTS], axis=0)
    return out
