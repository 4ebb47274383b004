"""Question readers (FlashRAG, HotpotQA original and IRCoT, StrategyQA), corpus files, and their errors."""

from __future__ import annotations

import json

import pytest

from lmforge.core.errors import DataError
from lmforge.roserag.data import (
    Passage,
    corpus_from_questions,
    detect_format,
    read_corpus,
    read_questions,
    write_corpus,
    write_questions,
)

from ._fixtures import PARIS, write_jsonl

FLASHRAG = {
    "id": "q1",
    "question": "What is the capital of France?",
    "golden_answers": ["Paris", "Paris, France"],
    "contexts": [
        {"id": "a", "title": "Paris", "contents": "Paris is the capital of France.", "is_supporting": True},
        {"id": "b", "title": "Nile", "contents": "The Nile is a river."},
    ],
}
HOTPOT = {
    "_id": "h1",
    "question": "Which city is the capital of France?",
    "answer": "Paris",
    "supporting_facts": [["Paris", 0]],
    "context": [["Nile", ["The Nile is a river.", " It is long."]], ["Paris", ["Paris is the capital of France."]]],
    "type": "bridge",
    "level": "easy",
}
IRCOT = {
    "question_id": "i1",
    "question_text": "Which city is the capital of France?",
    "answers_objects": [{"number": "", "spans": ["Paris"]}],
    "contexts": [
        {"id": "0", "title": "Nile", "paragraph_text": "The Nile is a river.  It is long.", "is_supporting": False},
        {"id": "1", "title": "Paris", "paragraph_text": "Paris is the capital of France.", "is_supporting": True},
    ],
}
STRATEGY = {
    "qid": "s1",
    "term": "Paris",
    "question": "Is Paris in France?",
    "answer": True,
    "facts": ["Paris is the capital of France."],
    "decomposition": ["Where is Paris?"],
}
BARE = {"id": "x", "question": "Q?"}


def test_flashrag_reads_contexts_and_gold(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [FLASHRAG, {"id": 2, "question": "Q?", "golden_answers": ["A"]}])
    first, second = read_questions(path)
    assert first.golden_answers == ("Paris", "Paris, France")
    assert [p.id for p in first.contexts] == ["a", "b"] and first.gold_ids == ("a",)
    assert [p.title for p in first.distractor_passages] == ["Nile"]
    assert second.id == "2" and second.contexts == () and second.answer_type == "span"


def test_hotpotqa_original_and_ircot_agree(tmp_path):
    original = tmp_path / "train.json"
    original.write_text(json.dumps([HOTPOT]))
    ircot = write_jsonl(tmp_path / "dev.jsonl", [IRCOT])
    assert detect_format(original) == "hotpotqa" and detect_format(ircot) == "hotpotqa-ircot"
    (a,), (b,) = read_questions(original), read_questions(ircot)
    assert a.golden_answers == b.golden_answers == ("Paris",)
    # sentences joined and whitespace collapsed the same way: same paragraph, same content-hash id
    assert (
        [p.contents for p in a.contexts]
        == [p.contents for p in b.contexts]
        == [
            "The Nile is a river. It is long.",
            "Paris is the capital of France.",
        ]
    )
    assert a.gold_ids == b.gold_ids == (a.contexts[1].id,)
    assert corpus_from_questions([a, b]) == list(a.contexts)  # shared paragraphs pooled once


def test_strategyqa_is_yes_no_with_facts_as_gold(tmp_path):
    path = tmp_path / "strategyqa_train.json"
    path.write_text(json.dumps([STRATEGY, STRATEGY | {"qid": "s2", "answer": False}]))
    yes, no = read_questions(path)
    assert (yes.golden_answers, no.golden_answers) == (("yes",), ("no",))
    assert yes.answer_type == "yesno"
    assert yes.gold_passages == yes.contexts and yes.contexts[0].title == "Paris"


def test_written_questions_read_back(tmp_path, questions):
    write_questions(questions, tmp_path / "out.jsonl")
    assert read_questions(tmp_path / "out.jsonl", "flashrag") == questions


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([FLASHRAG, "{not json"], r"q\.jsonl:2: invalid JSON"),
        ([FLASHRAG, "", BARE], r"q\.jsonl:3: field 'golden_answers': missing required field"),
        ([BARE | {"golden_answers": []}], r"q\.jsonl:1: field 'golden_answers': expected a non-empty"),
        ([BARE | {"golden_answers": "Paris"}], r"q\.jsonl:1: field 'golden_answers': expected list"),
        ([FLASHRAG | {"contexts": [{"title": "T"}]}], r"q\.jsonl:1: field 'contexts': each context must be"),
        ([FLASHRAG | {"gold_ids": ["zz"]}], r"q\.jsonl:1: field 'gold_ids': gold ids \['zz'\]"),
        ([FLASHRAG, FLASHRAG], r"q\.jsonl:2: field 'id': question id 'q1' appears twice"),
        ([{"foo": 1}], r"q\.jsonl: unknown question format"),
    ],
)
def test_malformed_question_files_name_file_and_line(tmp_path, rows, expected):
    path = write_jsonl(tmp_path / "q.jsonl", rows)
    with pytest.raises(DataError, match=expected) as info:
        read_questions(path)
    assert "\n" not in str(info.value)


def test_malformed_hotpotqa_and_ircot(tmp_path):
    bad_context = write_jsonl(tmp_path / "h.jsonl", [HOTPOT, HOTPOT | {"_id": "h2", "context": [["Paris", "text"]]}])
    with pytest.raises(DataError, match=r"h\.jsonl:2: field 'context': expected \[title, \[sentence"):
        read_questions(bad_context)
    no_spans = write_jsonl(tmp_path / "i.jsonl", [IRCOT | {"answers_objects": [{"spans": []}]}])
    with pytest.raises(DataError, match=r"i\.jsonl:1: field 'answers_objects'"):
        read_questions(no_spans)
    bad_answer = tmp_path / "s.json"
    bad_answer.write_text(json.dumps([STRATEGY | {"answer": "yes"}]))
    with pytest.raises(DataError, match=r"s\.json: record 1: field 'answer': expected bool"):
        read_questions(bad_answer)


def test_corpus_round_trip_and_errors(tmp_path, corpus):
    write_corpus(corpus, tmp_path / "c.jsonl")
    assert read_corpus(tmp_path / "c.jsonl") == corpus
    minimal = write_jsonl(tmp_path / "m.jsonl", [{"id": 1, "contents": "text"}])
    assert read_corpus(minimal) == [Passage("1", "text", "")]
    twice = write_jsonl(tmp_path / "d.jsonl", [PARIS.to_dict(), PARIS.to_dict()])
    with pytest.raises(DataError, match=r"d\.jsonl:2: field 'id': passage id .* appears twice"):
        read_corpus(twice)
    no_text = write_jsonl(tmp_path / "n.jsonl", [{"id": "a", "title": "T"}])
    with pytest.raises(DataError, match=r"n\.jsonl:1: field 'contents': missing required field"):
        read_corpus(no_text)
