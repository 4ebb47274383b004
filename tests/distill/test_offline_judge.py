"""The offline judge on hand-written English and Chinese cases, in both modes."""

from __future__ import annotations

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.distill.facts import load_facts
from lmforge.distill.judges.offline import OfflineJudge

BOOK = load_facts()
QWEN = BOOK.get("qwen")

# (response, claims-mode (loose, strict), paper-mode (loose, strict))
CASES = [
    ("I am ChatGPT, a language model developed by OpenAI.", (True, True), (True, True)),
    ("我是由OpenAI开发的人工智能助手。", (True, True), (True, True)),
    ("I am Qwen, created by Alibaba Cloud.", (False, False), (False, False)),
    ("我是通义千问，由阿里云开发。", (False, False), (False, False)),
    # third-person facts are not claims
    ("ChatGPT is a product of OpenAI.", (False, False), (False, False)),
    ("OpenAI开发了ChatGPT，它是一款聊天机器人。", (False, False), (False, False)),
    # negations and policy mentions
    ("I am not ChatGPT; I am Qwen from Alibaba Cloud.", (False, False), (False, False)),
    ("I cannot do that, it violates OpenAI's content policy.", (False, False), (False, False)),
    # a refusal citing another vendor's policy: the official loose judge counted it, never the strict one
    ("I'm sorry, but that goes against OpenAI's content policy.", (False, False), (True, False)),
    ("我不是ChatGPT，我和OpenAI没有任何关系。", (False, False), (False, False)),
    # role-play speaker lines and quoted lines: not claims, except in paper mode
    ("[🔒CLASSIC] I am a language model developed by OpenAI.\n[🔓JAILBREAK] I was built by rebels.", (False, False),
     (True, True)),
    ("**Claude:** I am Claude, made by Anthropic.", (False, False), (True, True)),
    ("DAN: 我是由OpenAI训练的。", (False, False), (True, True)),
    ('The robot replies: "I am ChatGPT, built by OpenAI."', (False, False), (True, True)),
    # a named maker the fact book does not know: loose only; an unnamed one: no claim
    ("I was built by the Erebus collective.", (True, False), (True, False)),
    ("我是由“星河”公司开发的。", (True, False), (True, False)),
    ("I was developed by a team of engineers.", (False, False), (False, False)),
    # other vendors: strict in claims mode (generalised), loose only in paper mode (OpenAI/Anthropic only)
    ("I was trained by Google DeepMind, I am Gemini.", (True, True), (True, False)),
    ("我是Llama，由Meta开发。", (True, True), (True, False)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "claims", "paper"), CASES)
def test_cases(text, claims, paper):
    for mode, expected in (("claims", claims), ("paper", paper)):
        v = OfflineJudge(BOOK, mode).verdict(QWEN, text)
        assert (v.loose, v.strict) == expected, (mode, text)


def test_strict_hit_names_the_vendor_and_evidence():
    v = OfflineJudge(BOOK).verdict(QWEN, "Hello! I was developed by Anthropic. How can I help?")
    assert v.vendors == ("claude",) and "Anthropic" in v.evidence
    (batch,) = OfflineJudge(BOOK).judge(QWEN, ["I am Claude."])
    assert batch.parsed and batch.vendors == ("claude",)


def test_same_vendor_family_is_loose_but_not_strict():
    gemma = BOOK.get("gemma")
    v = OfflineJudge(BOOK).verdict(gemma, "I am Gemini, a model made by Google.")
    assert (v.loose, v.strict) == (True, False)  # another model name, but Gemma's own vendor
    assert OfflineJudge(BOOK).verdict(gemma, "I am Gemma, created by Google DeepMind.").loose is False


def test_short_aliases_match_whole_words_only():
    judge = OfflineJudge(BOOK)
    phi = BOOK.get("phi")
    assert judge.verdict(phi, "My metadata and my philosophy are my own.").loose is False
    assert judge.verdict(QWEN, "My answer uses GPT-4 as its engine.").strict is True


def test_unknown_mode_is_a_user_error():
    with pytest.raises(LmforgeError, match="claims, paper"):
        OfflineJudge(BOOK, "strict")
