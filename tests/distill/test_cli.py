"""`lmforge distill rescore|agreement` in-process, including the one-line error for bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lmforge.distill.cli import app

runner = CliRunner()


def test_rescore_table_and_json(official_dir):
    result = runner.invoke(app, ["rescore", str(official_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Phi4" in result.output and "0.375" in result.output and "0.250" in result.output
    assert "no strict judgement" in result.output
    result = runner.invoke(app, ["rescore", str(official_dir), "--json", "--no-ci"])
    rows = {r["model"]: r for r in json.loads(result.output)}
    assert rows["Phi4"]["hard"] == 0.125 and "loose_ci" not in rows["Phi4"]


def test_agreement_command(official_dir):
    result = runner.invoke(app, ["agreement", str(official_dir), "--models", "Phi4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["judge"] == "offline:paper" and report["models"]["Phi4"]["strict"]["kappa"] == 1.0
    table = runner.invoke(app, ["agreement", str(official_dir)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "pooled" in table.output


def test_bad_input_is_one_line_and_exit_2(tmp_path, official_dir):
    result = runner.invoke(app, ["rescore", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not a directory" in lines[0]
    result = runner.invoke(app, ["agreement", str(official_dir), "--mode", "loud"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "claims, paper" in result.output


def test_ice_bad_input_fails_before_loading_a_model(tmp_path):
    result = runner.invoke(app, ["ice", "--target", "smollm2-135m-instruct"])
    assert result.exit_code == 2 and "pass --target and --output" in result.output
    bad = runner.invoke(app, ["ice", "--target", "x-model", "-o", str(tmp_path / "r"), "--fact", "I am X.",
                              "--judge", "gpt4"])  # fmt: skip
    assert bad.exit_code == 2 and bad.output.startswith("error: unknown judge 'gpt4'")
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("target: smollm2-135m-instruct\noutput: out\nbudgte: 10\n")
    typo = runner.invoke(app, ["ice", "--config", str(yaml_file)])
    assert typo.exit_code == 2 and "unknown settings: budgte" in typo.output and len(typo.output.splitlines()) == 1
    mode = runner.invoke(app, ["ice", "--target", "m", "-o", str(tmp_path / "r"), "--mode", "loose"])
    assert mode.exit_code == 2 and "mode must be 'fixed' or 'paper'" in mode.output


def test_compare_command(tmp_path, scripted):
    from lmforge.distill.config import IceConfig
    from lmforge.distill.ice import run_ice

    def run(name, reply):
        config = IceConfig(target="qwen-test", output=tmp_path / name, budget=40, cache=False, n_questions=2)
        run_ice(config, target=scripted(reply))
        return str(config.output)

    a = run("a", lambda m: "I am ChatGPT, made by OpenAI.")
    b = run("b", lambda m: "I am Qwen, made by Alibaba Cloud.")
    result = runner.invoke(app, ["compare", a, b, "--score", "strict", "--n-perm", "500"])
    assert result.exit_code == 0, result.output
    assert "A 1.000, B 0.000" in result.output and "paired sign-flip" in result.output
    missing = runner.invoke(app, ["compare", a, str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no responses.jsonl" in missing.output
