"""Offline RSE similarity: skeletons, style profiles, ROUGE-L, calibration math, and hand-made pairs."""

from __future__ import annotations

import random
import re
import zlib

import numpy as np
import pytest

from lmforge.distill.rse.similarity import (
    Calibration,
    aspect_scores,
    derangement,
    lcs_length,
    raw_similarities,
    rouge_l,
    skeleton,
    structure_similarity,
    style_profile,
    style_similarity,
)


def bow_encoder(texts: list[str]) -> np.ndarray:
    """A stand-in sentence encoder: hashed bag of words, unit length (content words drive the cosine)."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            if len(word) > 3:
                out[i, zlib.crc32(word.encode()) % 256] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


MARKDOWN = """## Brewing pour-over coffee

**You will need:** a dripper, a filter, fresh beans and a kettle.

1. Rinse the paper filter with hot water.
2. Grind 20 grams of beans to a medium-fine size.
3. Pour 50 grams of water and let the coffee bloom for thirty seconds.
4. Pour the remaining water slowly in circles until you reach 320 grams.

- **Tip:** water just off the boil, around 94 degrees, works best!
- **Tip:** adjust the grind if the brew tastes bitter or sour."""
PROSE = """To brew pour-over coffee you will need a dripper, a filter, fresh beans and a kettle. Rinse the paper filter
with hot water, grind 20 grams of beans to a medium-fine size, pour 50 grams of water and let the coffee bloom for
thirty seconds, then pour the remaining water slowly in circles until you reach 320 grams. Water just off the boil,
around 94 degrees, works best, and you can adjust the grind if the brew tastes bitter or sour."""
UNRELATED = """Sure! The French Revolution began in 1789. Historians still debate its causes; however, fiscal crisis,
Enlightenment ideas and food shortages (especially bread) are usually cited. Would you like to know more?"""


def test_skeleton_extraction():
    text = """# Title
**Overview**
Intro line one
continues the same paragraph.

## Steps
1. First step
2) Second step
Step 3: third step
- a bullet
* another bullet

```python
# a comment, not a header
x = 1
```
| a | b |
|---|---|
| 1 | 2 |

Closing paragraph."""
    assert skeleton(text) == ["H1", "HB", "P", "H2", "NUM", "NUM", "NUM", "LI", "LI", "CODE", "TAB", "P"]
    assert skeleton("") == [] and structure_similarity("", "") == 1.0
    assert structure_similarity(MARKDOWN, MARKDOWN) == 1.0
    assert structure_similarity(MARKDOWN, PROSE) < 0.3


def test_style_profile_features():
    profile = style_profile(MARKDOWN)
    assert profile["headers"] > 0 and profile["numbered"] > 0 and profile["bullets"] > 0 and profile["bold"] > 0
    assert style_profile(UNRELATED)["opener"] == 1.0 and style_profile(PROSE)["opener"] == 0.0
    assert style_similarity(PROSE, PROSE) == 1.0
    assert 0.0 <= style_similarity(MARKDOWN, UNRELATED) < style_similarity(MARKDOWN, MARKDOWN)


def test_lcs_matches_dynamic_programming():
    rng = random.Random(0)
    for _ in range(50):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
        assert lcs_length(a, b) == table[-1][-1]
    assert rouge_l("the cat sat", "the cat sat") == 1.0 and rouge_l("the cat", "a dog") == 0.0
    assert rouge_l("a b c d", "a c") == pytest.approx(2 * (1.0 * 0.5) / 1.5)


def test_calibration_is_linear_and_clipped():
    cal = Calibration(low={"m": 0.2}, high={"m": 0.6})
    assert cal.scale("m", np.array([0.0, 0.2, 0.4, 0.6, 0.9])).tolist() == pytest.approx([0, 0, 1, 2, 2])
    degenerate = Calibration(low={"m": 0.5}, high={"m": 0.5})
    assert degenerate.scale("m", np.array([0.4, 0.5])).tolist() == [0.0, 2.0]
    raw = {
        "profile": np.array([0.4]),
        "skeleton": np.array([0.6]),
        "rouge_l": np.array([0.2]),
        "embedding": np.array([0.6]),
    }
    levels = dict.fromkeys(raw, 0.2)
    scores = aspect_scores(raw, Calibration(low=levels, high=dict.fromkeys(raw, 0.6)))
    assert scores["style"][0] == pytest.approx(1.0) and scores["structure"][0] == pytest.approx(2.0)
    assert scores["content"][0] == pytest.approx(1.0)  # mean of ROUGE-L (0) and embedding (2)
    assert scores["overall"][0] == pytest.approx(1 + 2 * (1 + 2 + 1) / 3)
    for n in (2, 3, 10):
        perm = derangement(n, seed=n)
        assert sorted(perm) == list(range(n)) and all(perm[i] != i for i in range(n))


def test_hand_made_pairs_land_where_expected():
    # two "samples" per prompt of one model: same prompt → near copies, other prompts → unrelated
    photo = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside chloroplasts."
    first = [MARKDOWN, UNRELATED, "Paris is the capital of France. It lies on the Seine.", photo]
    second = [
        MARKDOWN.replace("thirty", "30"),
        UNRELATED.replace("1789", "the year 1789"),
        "The capital of France is Paris, on the river Seine.",
        photo.replace("inside", "within the"),
    ]
    cal = Calibration.fit(first, second, bow_encoder, seed=0, source="test")
    assert all(cal.high[m] > cal.low[m] for m in cal.low) and cal.n_pairs == 4
    pairs = [(MARKDOWN, MARKDOWN), (MARKDOWN, UNRELATED), (MARKDOWN, PROSE)]
    s = aspect_scores(raw_similarities(pairs, bow_encoder), cal)
    identical, unrelated, restyled = ({k: float(v[i]) for k, v in s.items()} for i in range(3))
    assert identical == {"style": 2.0, "structure": 2.0, "content": 2.0, "overall": 5.0}
    assert unrelated["content"] < 0.5 and unrelated["structure"] == 0.0 and unrelated["overall"] < 1.5
    assert restyled["content"] > 1.2 and restyled["style"] < 0.8 and restyled["structure"] < 0.5
