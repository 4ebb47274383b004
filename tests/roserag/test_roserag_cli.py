"""`lmforge rag` in-process: index → sample → select → train → eval on a tiny model, and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmforge.core.data import read_records
from lmforge.roserag.cli import app
from lmforge.roserag.data import write_questions

from ._fixtures import write_jsonl

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def tiny_model_dir(tmp_path, tiny_llama, tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-model"
    tiny_llama.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())  # room for a few passages (RoPE has no table)
    (folder / "config.json").write_text(json.dumps(config | {"max_position_embeddings": 1024}))
    return folder


def test_pipeline(tmp_path, tiny_model_dir, questions):
    qfile = tmp_path / "q.jsonl"
    write_questions(questions, qfile)
    result = run("index", "--questions", qfile, "--output", tmp_path / "idx")
    assert result.exit_code == 0, result.output
    assert "indexed 5 passages" in result.output

    tokens = ["--rationale-tokens", 4, "--answer-tokens", 3]
    result = run(
        "sample",
        "--model",
        tiny_model_dir,
        "--questions",
        qfile,
        "--index",
        tmp_path / "idx",
        "--k",
        2,
        "--n",
        2,
        *tokens,
        "--output",
        tmp_path / "s.jsonl",
    )
    assert result.exit_code == 0, result.output
    rows = read_records(tmp_path / "s.jsonl")
    assert len(rows) == 3 and all(len(r["passage_ids"]) == 2 and len(r["candidates"]) == 4 for r in rows)

    result = run("select", tmp_path / "s.jsonl", "--rule", "random", "--output", tmp_path / "p.jsonl")
    assert result.exit_code == 0, result.output

    # a sample file with a contrast for every question, so there are pairs to train on
    for row in rows:
        row["candidates"][0]["correct"] = True
    write_jsonl(tmp_path / "s2.jsonl", [json.dumps(r) for r in rows])
    result = run("select", tmp_path / "s2.jsonl", "--model", tiny_model_dir, "--output", tmp_path / "pairs.jsonl")
    assert result.exit_code == 0, result.output
    assert len(read_records(tmp_path / "pairs.jsonl")) == 3

    result = run(
        "train",
        "--model",
        tiny_model_dir,
        "--pairs",
        tmp_path / "pairs.jsonl",
        "--output",
        tmp_path / "run",
        "--epochs",
        1,
        "--batch-size",
        2,
        "--grad-accum",
        1,
        "--lr",
        1e-3,
        "--cpu",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "roserag_train.json").is_file()

    result = run(
        "eval",
        tmp_path / "run",
        "--questions",
        qfile,
        "--distractors",
        1,
        *tokens,
        "--no-cache",
        "--output",
        tmp_path / "ev",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["n"] == 3 and {"em", "f1", "acc", "f1_ci95"} <= set(summary)

    result = run(
        "robustness",
        tmp_path / "run",
        "--questions",
        qfile,
        "--noise",
        "0,1",
        *tokens,
        "--no-cache",
        "--output",
        tmp_path / "rob",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rob" / "robustness.png").is_file()


def test_user_mistakes_are_one_line(tmp_path, tiny_model_dir):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "1", "question": "Q?", "golden_answers": ["a"]}, "{oops"])
    result = run(
        "sample", "--model", tiny_model_dir, "--questions", bad, "--distractors", 1, "--output", tmp_path / "s.jsonl"
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: ") and "bad.jsonl:2: invalid JSON" in result.output
    assert len(result.output.strip().splitlines()) == 1
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "1", "question": "Q?", "golden_answers": ["a"]}])
    result = run("eval", tiny_model_dir, "--questions", good, "--output", tmp_path / "ev")
    assert result.exit_code == 2 and "--index DIR (retrieval) or --distractors N" in result.output
    result = run("select", tmp_path / "missing.jsonl", "--output", tmp_path / "p.jsonl")
    assert result.exit_code == 2 and "pass --model" in result.output
