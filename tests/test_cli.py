"""The CLI, run in-process: tables, resumable generation, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmforge.cli import app
from lmforge.core import data

runner = CliRunner()


@pytest.fixture
def tiny_model_dir(tmp_path, tiny_llama, tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-model"
    tiny_llama.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    rows = [{"id": f"p{i}", "prompt": f"Question {i}: what is {i} plus {i}?"} for i in range(7)]
    rows.append({"id": "sys", "messages": [{"role": "user", "content": "Hello"}], "system": "Be brief."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(*args: str):
    return runner.invoke(app, list(args))


def generate_args(model, prompts, out):
    return [
        "generate",
        "--model",
        model,
        "-i",
        str(prompts),
        "-o",
        str(out),
        "--max-new-tokens",
        "6",
        "--temperature",
        "0.8",
        "--n",
        "2",
        "--batch-size",
        "3",
    ]


def test_generate_resumes_after_a_crash_and_matches_an_uninterrupted_run(
    tiny_model_dir, prompts_file, tmp_path, monkeypatch
):
    reference = tmp_path / "reference.jsonl"
    assert run(*generate_args(tiny_model_dir, prompts_file, reference), "--no-cache").exit_code == 0

    crashed = tmp_path / "crashed.jsonl"
    real_write = data.JsonlWriter.write
    written = []

    def crash_after_three(self, row):
        if len(written) == 3:
            raise RuntimeError("simulated crash")
        written.append(row["id"])
        real_write(self, row)

    monkeypatch.setattr(data.JsonlWriter, "write", crash_after_three)
    result = run(*generate_args(tiny_model_dir, prompts_file, crashed))
    assert isinstance(result.exception, RuntimeError)
    assert len(crashed.read_text().splitlines()) == 3
    monkeypatch.setattr(data.JsonlWriter, "write", real_write)

    result = run(*generate_args(tiny_model_dir, prompts_file, crashed))
    assert result.exit_code == 0, result.output
    assert "wrote 5 new rows" in result.output
    assert crashed.read_text() == reference.read_text()
    row = json.loads(crashed.read_text().splitlines()[-1])
    assert row["id"] == "sys" and row["messages"][0] == {"role": "system", "content": "Be brief."}
    assert row["generation"]["max_new_tokens"] == 6 and len(row["responses"]) == 2


def test_chat_answers_one_prompt(tiny_model_dir):
    result = run("chat", tiny_model_dir, "Hello", "--max-new-tokens", "4", "--no-cache")
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def test_models_lists_every_bundled_model():
    result = run("models")
    assert result.exit_code == 0
    for name in ("smollm2-135m-instruct", "gemma3-270m", "minilm-l6"):
        assert name in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--model", "x", "-i", "missing.jsonl", "-o", "out.jsonl"], "missing.jsonl: file not found"),
        (["generate", "--model", "x", "-i", "p.jsonl", "-o", "o.jsonl", "--n", "0"], "Invalid value for '--n'"),
        (["generate", "--bogus"], "No such option: --bogus"),
        (["chat", "./no/such/dir", "hi"], "no such model directory"),
        (["chat", "openai:gpt-x", "hi"], "pass --base-url"),
        (["demo", "--stage", "nope"], "unknown demo stage 'nope'"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_malformed_prompt_file_names_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    result = run("generate", "--model", "x", "-i", str(path), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output and "'prompt'" in result.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and "lmforge" in result.output


def test_config_file_sets_options_and_flags_win(tiny_model_dir, prompts_file, tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text("max-new-tokens: 3\nn: 2\ntemperature: 0.5\nno_cache: true\n")
    out = tmp_path / "out.jsonl"
    args = ["generate", "--config", str(config), "-m", tiny_model_dir, "-i", str(prompts_file), "-o", str(out)]
    result = run(*args, "--n", "1")
    assert result.exit_code == 0, result.output
    settings = json.loads(out.read_text().splitlines()[0])["generation"]
    assert (settings["max_new_tokens"], settings["n"], settings["temperature"]) == (3, 1, 0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [("nn: 2\n", "field 'nn': unknown option"), ("a: [\n", ":2: invalid YAML"), ("- 1\n", "must be a mapping")],
)
def test_bad_config_file_is_one_line(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = run("generate", "--config", str(config), "-m", "x", "-i", "p.jsonl", "-o", "o.jsonl")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and message in result.output
