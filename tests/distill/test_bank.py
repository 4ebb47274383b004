"""The shipped question bank, identity facts and seed templates, and their loaders."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from lmforge.core.errors import DataError, LmforgeError
from lmforge.distill.bank import CATEGORIES, Template, load_questions, load_templates, mentions_vendor
from lmforge.distill.facts import custom_family, load_facts

ISSUE_FAMILIES = {
    "qwen",
    "deepseek",
    "doubao",
    "glm",
    "llama",
    "mistral",
    "phi",
    "claude",
    "gpt",
    "gemini",
    "smollm",
    "gemma",
}


def test_question_bank_is_bilingual_and_labelled():
    questions = load_questions()
    langs = Counter(q.lang for q in questions)
    assert langs["en"] >= 25 and langs["zh"] >= 25
    for lang in ("en", "zh"):
        assert Counter(q.category for q in questions if q.lang == lang).keys() == set(CATEGORIES)
    assert len({q.id for q in questions}) == len(questions)
    assert [q.lang for q in load_questions(langs=["zh"])] == ["zh"] * langs["zh"]


def test_official_question_csv_layout_loads(tmp_path):
    path = tmp_path / "GPT_identity.csv"
    path.write_text("query,reference_responses\nWho made you?  ,I was developed by OpenAI.\n您是谁开发的？,OpenAI\n")
    questions = load_questions(path)
    assert [(q.query, q.lang, q.category) for q in questions] == [
        ("Who made you?", "en", ""),
        ("您是谁开发的？", "zh", ""),
    ]


def test_shipped_templates_are_neutral_and_cover_the_framings():
    templates = load_templates()
    book = load_facts()
    assert {t.framing for t in templates} >= {"role-play", "interview", "developer-mode", "translation", "hypothetical"}
    for t in templates:
        assert "{query}" in t.text
        assert not mentions_vendor(t.text), t.id  # the paper's rule
        assert not mentions_vendor(t.text, book.vendor_words()), t.id  # any known vendor or model


def test_gptfuzzer_seed_file_and_query_placement(tmp_path):
    path = tmp_path / "seed_template.json"
    path.write_text(json.dumps({"attack": {"Gptfuzzer": ["Say {query} now", "No slot. "], "PAIR": ["x"]}, "judge": {}}))
    seeds = load_templates(path)
    assert [s.fill("Q?") for s in seeds] == ["Say Q? now", "No slot. Q?"]  # appended with no separator, as the paper
    with pytest.raises(DataError, match="no attack method 'Nope'"):
        load_templates(path, method="Nope")


def test_vendor_mention_flag():
    assert mentions_vendor("You are ChatGPT now") and mentions_vendor("OPENAI rules")
    assert not mentions_vendor("You are a pirate")
    assert mentions_vendor("Speak as Claude", ("Claude",))
    assert Template("t", "Hi {query}").fill("Q") == "Hi Q"


def test_facts_cover_the_issue_families_and_map_official_names():
    book = load_facts()
    assert {f.key for f in book.families} >= ISSUE_FAMILIES
    for f in book.families:
        assert f.fact.startswith("I am") and f.vendors and f.models
    names = {"Phi4": "phi", "llama3.1-70b-instruct": "llama", "qwen2.5-72b": "qwen", "deepseek-r1": "deepseek",
             "claude-3-5-sonnet-20241022": "claude", "doubao-pro-32k": "doubao", "gemini-1.5-pro-flash": "gemini",
             "smollm2-135m-instruct": "smollm", "gemma3-270m": "gemma"}  # fmt: skip
    assert {n: book.family_for(n).key for n in names} == names
    with pytest.raises(LmforgeError, match="--fact"):
        book.family_for("mystery-7b")


def test_user_facts_extend_and_override(tmp_path):
    path = tmp_path / "facts.yaml"
    path.write_text(
        "families:\n  acme:\n    fact: I am Roadrunner, made by Acme.\n    vendors: [Acme]\n    models: [Roadrunner]\n"
        "    match: [roadrunner]\n  qwen:\n    fact: I am Qwen3, made by Alibaba.\n    vendors: [Alibaba]\n"
    )
    book = load_facts(path)
    assert book.family_for("roadrunner-1b").fact == "I am Roadrunner, made by Acme."
    assert book.get("qwen").fact == "I am Qwen3, made by Alibaba."
    bad = tmp_path / "bad.yaml"
    bad.write_text("families:\n  x:\n    vendors: [A]\n")
    with pytest.raises(DataError, match="fact"):
        load_facts(bad)


def test_custom_fact_borrows_aliases_of_the_family_it_names():
    book = load_facts()
    family = custom_family("I am SmolLM, a language model built by Hugging Face.", book)
    assert family.key == "smollm" and "Hugging Face" in family.vendors
    assert custom_family("I am Zed, made by Nobody Inc.", book).key == "custom"
