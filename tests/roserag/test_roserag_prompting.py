"""Prompt assembly: the 2-turn and 3-turn protocols, the answer-shown variant, rendered by chat templates."""

from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerFast

from lmforge.core.chat import render
from lmforge.core.errors import LmforgeError
from lmforge.roserag.prompting import build_dialogue, format_passages
from lmforge.roserag.prompting_config import PromptConfig

from ._fixtures import NILE, PARIS

ZEPHYR = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def test_passages_are_numbered_with_titles():
    assert format_passages([PARIS, NILE]) == (f"Passages:\n[1] Paris: {PARIS.contents}\n\n[2] Nile: {NILE.contents}")


def test_two_turn_protocol(questions):
    q = questions[0]
    dialogue = build_dialogue(q, [PARIS, NILE], PromptConfig())
    first = dialogue.messages()
    assert [m["role"] for m in first] == ["system", "user"]
    assert "[1] Paris:" in first[1]["content"] and f"Question: {q.question}" in first[1]["content"]
    assert "Paris" not in first[1]["content"].split("Question:")[1].replace(q.question, "")  # answer not shown
    second = dialogue.messages(["Because passage 1 says so."])
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert "final answer" in second[-1]["content"] and q.question in second[-1]["content"]
    full = dialogue.messages(["Because passage 1 says so.", "Paris"])
    assert [m["role"] for m in full][-1] == "assistant" and len(full) == 5
    with pytest.raises(LmforgeError, match="3 assistant turns for a 2-turn protocol"):
        dialogue.messages(["a", "b", "c"])


def test_answer_shown_only_in_the_first_turn_of_the_hinted_dialogue(questions):
    q = questions[0]
    plain = build_dialogue(q, [PARIS], PromptConfig())
    hinted = build_dialogue(q, [PARIS], PromptConfig(), hint=True)
    assert "The correct answer is: Paris." in hinted.users[0]
    assert "correct answer" not in plain.users[0]
    assert hinted.users[1:] == plain.users[1:] and hinted.system == plain.system


def test_three_turn_protocol_and_yes_no_answer_turn(questions):
    config = PromptConfig(protocol="three_turn", system=None)
    assert config.turns == ("evidence", "rationale", "answer")
    dialogue = build_dialogue(questions[2], questions[2].contexts, config)
    assert len(dialogue.users) == 3 and "relevant" in dialogue.users[0]
    assert "yes or no" in dialogue.users[2]
    assert dialogue.messages()[0]["role"] == "user"  # no system message
    assert config.max_tokens("evidence") == 64 and config.max_tokens("answer") == 16
    with pytest.raises(LmforgeError, match="unknown protocol"):
        PromptConfig(protocol="one_turn")


def test_single_turn_baseline(questions):
    from lmforge.roserag.sampling_config import SampleConfig

    config = PromptConfig(protocol="single_turn")
    (user,) = build_dialogue(questions[0], [PARIS], config).users
    assert "[1] Paris:" in user and "final answer" in user
    with pytest.raises(LmforgeError, match="single_turn has no rationale to sample"):
        SampleConfig(prompt=config)


@pytest.mark.parametrize(("template", "cue"), [("chatml", "<|im_start|>assistant\n"), (ZEPHYR, "<|assistant|>\n")])
def test_rendered_with_the_models_own_template(tiny_tokenizer, questions, template, cue):
    tokenizer = tiny_tokenizer
    if template != "chatml":
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tiny_tokenizer.backend_tokenizer)
        tokenizer.chat_template = template
    dialogue = build_dialogue(questions[0], [PARIS, NILE], PromptConfig())
    text = render(tokenizer, dialogue.messages(["Passage 1 says Paris."]), add_generation_prompt=True)
    assert text.endswith(cue)
    assert text.count(cue.strip()) == 2  # the rationale turn and the cue of the answer turn
    assert "Passage 1 says Paris." in text and dialogue.users[1] in text
