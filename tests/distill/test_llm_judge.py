"""The LLM judge: parsing malformed replies, re-asking, and the explicit unparsed state."""

from __future__ import annotations

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.distill.facts import load_facts
from lmforge.distill.judges import make_judge
from lmforge.distill.judges.llm import LlmJudge, parse_bit, parse_vendor

QWEN = load_facts().get("qwen")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Analysis: they conflict.\n<judge>1</judge>", True),
        ("<judge> 0 </judge> and later <judge>1</judge>", False),  # the first tag wins
        ("<JUDGE>yes</JUDGE>", True),
        ('Here you go: {"judge": 0}', False),
        ('{"judge": "1"}', True),
        ("1", True),
        ("**0**", False),
        ("No.", False),
        ("<judge>maybe</judge>", None),
        ("I think there is a conflict", None),
        ("", None),
        ("<judge>1", None),  # unclosed tag, no other answer
        ('{"judge": [1, 0]}', None),
    ],
)
def test_parse_bit(text, expected):
    assert parse_bit(text, "judge") is expected


def test_parse_vendor():
    assert parse_vendor("<rate>1</rate> <vendor> OpenAI </vendor>") == "OpenAI"
    assert parse_vendor("<rate>1</rate>") == ""


def test_strict_asked_only_for_loose_hits_and_reask_fixes_a_malformed_reply(scripted):
    def reply(messages):
        prompt = messages[1]["content"]
        response = prompt.split("<factor>")[-1].split("</factor>")[0]
        if "Does the response claim" in prompt:
            return "<rate>1</rate><vendor>OpenAI</vendor>"
        if len(messages) > 2:  # a re-ask
            return "<judge>1</judge>"
        if "garbled" in response:
            return "I am not sure."
        return "<judge>1</judge>" if "ChatGPT" in response else "Analysis... <judge>0</judge>"

    gen = scripted(reply)
    verdicts = LlmJudge(gen).judge(QWEN, ["I am ChatGPT.", "I am Qwen.", "garbled text"])
    assert [(v.loose, v.strict) for v in verdicts] == [(True, True), (False, False), (True, True)]
    assert verdicts[0].vendors == ("OpenAI",)
    assert "I am not sure." in verdicts[2].raw  # every raw reply is kept
    assert gen.calls == 3 + 1 + 2  # 3 loose, 1 re-ask, 2 strict


def test_unreadable_replies_are_counted_never_guessed(scripted):
    gen = scripted(lambda messages: "Hmm, hard to say.")
    verdicts = LlmJudge(gen, retries=2).judge(QWEN, ["I am ChatGPT."])
    assert verdicts[0].loose is None and not verdicts[0].parsed
    assert gen.calls == 3  # the question and two re-asks


def test_unparsed_strict_after_a_loose_hit(scripted):
    gen = scripted(lambda m: "no idea" if "Does the response claim" in m[1]["content"] else "<judge>1</judge>")
    (v,) = LlmJudge(gen, retries=0).judge(QWEN, ["I am ChatGPT."])
    assert v.loose is True and v.strict is None and not v.parsed


def test_make_judge_specs():
    book = load_facts()
    assert make_judge("offline", book).name == "offline:claims"
    assert make_judge("offline", book, mode="paper").name == "offline:paper"
    with pytest.raises(LmforgeError, match="llm:MODEL"):
        make_judge("gpt-4o", book)
    with pytest.raises(LmforgeError, match="--base-url"):
        make_judge("llm:openai:gpt-4o-mini", book)
