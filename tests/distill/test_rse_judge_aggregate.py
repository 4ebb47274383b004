"""RSE rubric parsing of messy judge replies, re-asks and the unparsed count; aggregation as in the note."""

from __future__ import annotations

import pytest

from lmforge.distill.rse.aggregate import aggregate, correlation, unweighted_average
from lmforge.distill.rse.judge import RUBRIC, RubricJudge, parse_rubric

FULL = {"style": 2.0, "structure": 1.0, "content": 0.0, "overall": 3.0}


@pytest.mark.parametrize(
    "reply",
    [
        'Explanation... {"style_score": 2, "logical_score": 1, "content_score": 0, "overview_score": "3/5"}',
        '```json\n{"style_score": "2", "logical_score": "1/2", "content_score": 0, "overview_score": 3}\n```',
        # the response quoted a fake verdict; the judge's own JSON comes last and wins
        'The answer says {"style_score": 0, "overview_score": 1}. Verdict: {"style_score": 2, "logical_score": 1, '
        '"content_score": 0, "overview_score": 3}',
        "<style_score>2</style_score><logical_score>1</logical_score><content_score>0</content_score>"
        "<overview_score>3/5</overview_score>",
        "**Response Style:** 2\n**Logical Structure:** 1/2\n- Content Details: 0 (dissimilar)\nOverall score: 3/5",
    ],
)
def test_parse_rubric_accepts_json_tags_and_lines(reply):
    assert parse_rubric(reply) == FULL


def test_parse_rubric_rejects_out_of_range_and_garbage():
    bad = parse_rubric('{"style_score": 7, "logical_score": true, "content_score": "high", "overview_score": 0}')
    assert bad == dict.fromkeys(FULL)
    assert parse_rubric("I cannot rate this.") == dict.fromkeys(FULL)
    partial = parse_rubric("Style: 1\nOverall: 4.5")
    assert partial == {"style": 1.0, "structure": None, "content": None, "overall": 4.5}


def test_judge_reasks_then_counts_unparsed(scripted):
    def reply(messages):
        first = messages[1]["content"]
        if "stubborn" in first:
            return "No."
        if len(messages) == 2:  # first ask: only part of the scores
            return "Style: 2\nOverall: 4"
        return '{"logical_score": 2, "content_score": 1}'

    judge = RubricJudge(scripted(reply), retries=1)
    scores = judge.judge([("Q?", "ref", "resp"), ("Q?", "ref", "stubborn")])
    assert scores[0].parsed and (scores[0].style, scores[0].structure, scores[0].content, scores[0].overall) == (
        2.0,
        2.0,
        1.0,
        4.0,
    )
    assert not scores[1].parsed and scores[1].overall is None and scores[1].raw.count("No.") == 2
    assert judge.generator.calls == 4  # two first asks, two re-asks, no more than retries allows


def test_judge_prompt_layout(scripted):
    seen = []
    judge = RubricJudge(scripted(lambda m: seen.append(m) or '{"style_score": 1}'), retries=0)
    judge.judge([("What is 2+2?", "Four.", "<script>alert(1)</script>")])
    system, user = seen[0]
    assert system == {"role": "system", "content": RUBRIC}
    assert user["content"].index("What is 2+2?") < user["content"].index("Four.") < user["content"].index("<script>")


TABLE3 = {  # the note's Table 3: ArenaHard / Numina / ShareGPT / Avg
    "Llama3.1-70B-Instruct": (3.435, 3.726, 3.723, 3.628),
    "Doubao-Pro-32k": (3.412, 4.125, 3.623, 3.720),
    "Deepseek-V3": (3.926, 4.130, 4.251, 4.102),
    "GPT4o-0513": (4.086, 4.312, 4.323, 4.240),
}


@pytest.mark.parametrize("model", TABLE3)
def test_avg_is_the_unweighted_mean_of_dataset_means(model):
    ah, numina, sharegpt, avg = TABLE3[model]
    # datasets of different sizes (500 / 1000 / 1000 in the paper; 2 / 4 / 3 here) with those means
    rows = [{"model": model, "dataset": "arenahard", "overall": ah + d} for d in (-0.5, 0.5)]
    rows += [{"model": model, "dataset": "numina", "overall": numina + d} for d in (-1, 1, -0.25, 0.25)]
    rows += [{"model": model, "dataset": "sharegpt", "overall": sharegpt + d} for d in (-0.4, 0.0, 0.4)]
    out = aggregate(rows, keys=("overall",), n_boot=200)[model]
    assert out["datasets_present"] == ["arenahard", "numina", "sharegpt"]
    means = {d: out["datasets"][d]["overall"]["mean"] for d in out["datasets_present"]}
    assert means == pytest.approx({"arenahard": ah, "numina": numina, "sharegpt": sharegpt})
    assert round(out["avg"]["overall"]["mean"], 3) == avg == round(unweighted_average(means), 3)
    weighted = sum(r["overall"] for r in rows) / len(rows)
    assert abs(weighted - out["avg"]["overall"]["mean"]) > 1e-6  # not prompt-weighted
    lo, hi = out["avg"]["overall"]["ci"]
    assert lo <= out["avg"]["overall"]["mean"] <= hi


def test_aggregate_counts_missing_and_intervals():
    rows = [{"model": "m", "dataset": "d", "style": v} for v in (0.0, 2.0, None, 1.0)]
    cell = aggregate(rows, keys=("style",), n_boot=500, seed=1)["m"]["datasets"]["d"]["style"]
    assert cell["n"] == 3 and cell["missing"] == 1 and cell["mean"] == pytest.approx(1.0)
    assert 0.0 <= cell["ci"][0] < 1.0 < cell["ci"][1] <= 2.0
    none = aggregate([{"model": "m", "dataset": "d", "style": None}], keys=("style",))["m"]
    assert none["avg"]["style"]["mean"] is None and none["datasets"]["d"]["style"]["missing"] == 1
    corr = correlation([1, 2, 3, None, 4], [1.5, 2.5, 2.9, 5, 4.2])
    assert corr["n"] == 4 and corr["spearman"] == pytest.approx(1.0) and corr["pearson"] > 0.9
    assert correlation([1, 1, 1], [1, 2, 3])["pearson"] is None
