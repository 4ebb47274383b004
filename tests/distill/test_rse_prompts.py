"""RSE prompt readers on small fixtures: Arena-Hard (both schemas), answers, ShareGPT, Numina, plain, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.core.errors import DataError, LmforgeError
from lmforge.distill.rse.prompts import (
    demo_prompts,
    load_prompt_set,
    read_answers,
    read_arenahard,
    read_numina,
    read_plain,
    read_sharegpt,
    sample,
)


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_arenahard_both_schemas_and_answers(tmp_path):
    new = _jsonl(tmp_path / "question.jsonl", [{"uid": "a1", "category": "x", "cluster": "c", "prompt": "Q one"}])
    old = _jsonl(tmp_path / "old.jsonl", [{"question_id": "a1", "turns": [{"content": "Q one"}]}])
    assert read_arenahard(new) == read_arenahard(old)
    p = read_arenahard(new)[0]
    assert (p.id, p.dataset, p.question) == ("a1", "arenahard", "Q one")
    answers = _jsonl(
        tmp_path / "gpt-4-0314.jsonl",
        [
            {
                "uid": "a1",
                "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": {"answer": "A one"}}],
            },
            {"question_id": "b2", "choices": [{"turns": [{"content": "A two"}]}]},
            {"id": "c3", "response": "A three"},
        ],
    )
    assert read_answers(answers) == {"a1": "A one", "b2": "A two", "c3": "A three"}


def test_malformed_rows_name_file_and_line(tmp_path):
    bad = _jsonl(tmp_path / "q.jsonl", [{"uid": "a", "prompt": "ok"}, "", {"uid": "b", "turns": []}])
    with pytest.raises(DataError, match=r"q\.jsonl:3: field 'turns'"):
        read_arenahard(bad)
    broken = _jsonl(tmp_path / "broken.jsonl", [{"uid": "a", "prompt": "ok"}, "{not json"])
    with pytest.raises(DataError, match=r"broken\.jsonl:2: invalid JSON"):
        read_arenahard(broken)
    empty = _jsonl(tmp_path / "answers.jsonl", [{"uid": "a", "messages": [{"content": ""}]}])
    with pytest.raises(DataError, match=r"answers\.jsonl:1: field 'answer': missing or empty") as err:
        read_answers(empty)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=r"numina\.jsonl:1: field 'problem'"):
        read_numina(_jsonl(tmp_path / "numina.jsonl", [{"solution": "x"}]))
    with pytest.raises(DataError, match="ending on a user turn"):
        read_plain(_jsonl(tmp_path / "p.jsonl", [{"messages": [{"role": "assistant", "content": "hi"}]}]))


def test_sharegpt_first_turn_and_history(tmp_path):
    conv = [
        {"from": "system", "value": "Be nice."},
        {"from": "human", "value": "First?"},
        {"from": "gpt", "value": "Answer."},
        {"from": "human", "value": "Second?"},
        {"from": "gpt", "value": "Last answer."},
    ]
    data = [{"id": "s1", "conversations": conv}, {"id": "s2", "conversations": [{"from": "gpt", "value": "no user"}]}]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    first = read_sharegpt(path)
    assert len(first) == 1 and first[0].messages == ({"role": "user", "content": "First?"},)
    history = read_sharegpt(path, history=True)[0]
    assert [m["role"] for m in history.messages] == ["system", "user", "assistant", "user"]
    assert history.question == "Second?"
    path.write_text(json.dumps([{"id": "x", "conversations": [{"from": "alien", "value": "?"}]}]), encoding="utf-8")
    with pytest.raises(DataError, match="record 1: field 'conversations': turn 0"):
        read_sharegpt(path)


def test_plain_numina_and_prompt_set_specs(tmp_path):
    plain = _jsonl(
        tmp_path / "mine.jsonl",
        [{"id": 1, "prompt": "Hi", "reference": "Hello"}, {"messages": [{"role": "user", "content": "Yo"}]}],
    )
    rows = read_plain(plain)
    assert [p.id for p in rows] == ["1", "2"] and rows[0].reference == "Hello" and rows[0].dataset == "mine"
    numina = _jsonl(tmp_path / "n.jsonl", [{"problem": "1+1?", "solution": "2"}])
    assert read_numina(numina)[0].question == "1+1?"
    assert len(load_prompt_set(f"jsonl:{plain}")) == 2
    with pytest.raises(LmforgeError, match="KIND:PATH"):
        load_prompt_set(f"alpaca:{plain}")
    dup = _jsonl(tmp_path / "dup.jsonl", [{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}])
    with pytest.raises(DataError, match="appears twice"):
        load_prompt_set(f"jsonl:{dup}")


def test_seeded_sampling_and_shipped_prompts():
    shipped = demo_prompts()
    assert len(shipped) >= 20 and len({p.id for p in shipped}) == len(shipped)
    a, b = sample(shipped, 5, seed=1), sample(shipped, 5, seed=1)
    assert a == b and len(a) == 5
    assert [p.id for p in a] == sorted(p.id for p in a)  # file order kept
    assert sample(shipped, 5, seed=2) != a
    assert load_prompt_set("demo", 20) == sample(shipped, 20, 0)
