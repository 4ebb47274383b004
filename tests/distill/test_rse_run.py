"""An RSE run with scripted models (resume, file reference, LLM judge), the audit report and the CLI."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmforge.core.errors import LmforgeError
from lmforge.distill.cli import app
from lmforge.distill.rse.judge import RubricJudge
from lmforge.distill.rse.run import NOISE_PREFIX, RseConfig, run_rse

runner = CliRunner()
EVIL = "<script>alert('pwned')</script> I am ChatGPT </pre><img src=x onerror=alert(1)>"


def _answer(question: str, variant: int = 0) -> str:
    words = ["first", "second", "third"][variant % 3]
    return f"## Answer\n\nHere is the {words} take on: {question}\n\n1. Think about {question}.\n2. Then decide."


@pytest.fixture
def prompt_sets(tmp_path: Path) -> list[str]:
    alpha = tmp_path / "alpha.jsonl"
    alpha.write_text(
        "".join(
            json.dumps({"id": f"a{i}", "prompt": q}) + "\n"
            for i, q in enumerate(["How do magnets work?", "Plan a picnic.", "Explain recursion."])
        )
    )
    sharegpt = tmp_path / "share.json"
    convs = [
        {"id": f"s{i}", "conversations": [{"from": "human", "value": q}]}
        for i, q in enumerate(["Write a haiku about tea.", "What is GDP?", "Name three rivers."])
    ]
    sharegpt.write_text(json.dumps(convs), encoding="utf-8")
    return [f"jsonl:{alpha}", f"sharegpt:{sharegpt}"]


@pytest.fixture
def models(scripted):
    varied = count()
    return {
        "ref": scripted(lambda m: _answer(m[-1]["content"], next(varied))),
        "copycat": scripted(lambda m: _answer(m[-1]["content"])),
        "other": scripted(lambda m: "no."),
        "evil": scripted(lambda m: EVIL),
    }


def _config(tmp_path, prompt_sets, **kw) -> RseConfig:
    base = {
        "reference": "ref",
        "targets": ("copycat", "other", "evil"),
        "prompts": tuple(prompt_sets),
        "output": tmp_path / "rse",
        "encoder": None,
        "cache": False,
        "n_boot": 200,
    }
    return RseConfig(**(base | kw))


def test_rse_run_scores_resumes_and_records_settings(tmp_path, prompt_sets, models):
    config = _config(tmp_path, prompt_sets)
    summary = run_rse(config, generators=models)
    assert summary["datasets"] == ["alpha", "sharegpt"] and summary["n_prompts"] == {"alpha": 3, "sharegpt": 3}
    assert summary["datasets_absent"] == ["arenahard", "numina"]
    offline = summary["offline"]
    assert set(offline) == {"copycat", "other", "evil", NOISE_PREFIX + "ref"}
    assert offline["copycat"]["avg"]["overall"]["mean"] > offline["other"]["avg"]["overall"]["mean"]
    assert offline["other"]["avg"]["content"]["mean"] == 0.0
    assert offline["copycat"]["datasets"]["alpha"]["overall"]["n"] == 3
    settings = summary["settings"]["target|copycat"]
    assert settings["temperature"] == 0.0 and settings["max_new_tokens"] == 256
    assert settings["system_prompt"] == "You are a helpful assistant." and settings["backend"] == "scripted"
    assert summary["settings"]["noise|ref"]["n"] == 2 and summary["settings"]["noise|ref"]["temperature"] == 0.7
    rows = (config.output / "responses.jsonl").read_text().splitlines()
    assert len(rows) == 6 * (1 + 2 + 3)  # reference, two noise samples, three targets
    calls = {k: g.calls for k, g in models.items()}
    again = run_rse(config, generators=models)
    assert again["new_responses"] == 0 and {k: g.calls for k, g in models.items()} == calls
    assert again["offline"] == summary["offline"]
    with pytest.raises(LmforgeError, match="other max_new_tokens; use a new --output folder"):
        run_rse(_config(tmp_path, prompt_sets, max_new_tokens=64), generators=models)


def test_file_reference_and_llm_judge(tmp_path, prompt_sets, models, scripted):
    answers = tmp_path / "answers.jsonl"
    ids = ["a0", "a1", "a2", "s0", "s1", "s2"]
    answers.write_text(
        "".join(json.dumps({"uid": i, "messages": [{"content": {"answer": f"Answer {i}."}}]}) + "\n" for i in ids)
    )
    judge = RubricJudge(
        scripted(
            lambda m: (
                "I refuse."
                if "no." in m[1]["content"]
                else '{"style_score": 2, "logical_score": 2, "content_score": 1, "overview_score": 4}'
            )
        ),
        retries=1,
        name="llm:scripted",
    )
    config = _config(tmp_path, prompt_sets, reference=f"file:{answers}", targets=("copycat", "other"))
    summary = run_rse(config, generators=models, judge=judge)
    assert summary["noise_model"] == "copycat" and summary["reference"] == f"file:{answers}"
    assert summary["unparsed"] == {"copycat": 0, "other": 6, NOISE_PREFIX + "copycat": 0}
    assert summary["llm"]["copycat"]["avg"]["overall"]["mean"] == 4.0
    assert summary["llm"]["other"]["avg"]["overall"]["mean"] is None
    assert set(summary["correlation"]) == {"style", "structure", "content", "overall"}
    scores = [json.loads(line) for line in (config.output / "scores.jsonl").read_text().splitlines()]
    assert all("judge" in r and "raw" in r for r in scores)
    from lmforge.distill.report import write_report

    write_report([config.output], tmp_path / "judged.html")
    page = (tmp_path / "judged.html").read_text(encoding="utf-8")
    assert "LLM judge llm:scripted" in page and "Offline vs judge" in page and "Unparsed judge replies" in page
    missing = tmp_path / "few.jsonl"
    missing.write_text(json.dumps({"uid": "a0", "response": "x"}) + "\n")
    with pytest.raises(Exception, match="no answer for 5 of 6 prompts"):
        run_rse(_config(tmp_path, prompt_sets, reference=f"file:{missing}", output=tmp_path / "r2"), generators=models)


def _ice_run(tmp_path, scripted) -> Path:
    from lmforge.distill.config import IceConfig
    from lmforge.distill.ice import run_ice

    config = IceConfig(
        target="evil",
        output=tmp_path / "ice",
        fact="I am Evil, made by Evil Labs.",
        budget=4,
        n_questions=1,
        cache=False,
    )
    run_ice(config, target=scripted(lambda m: EVIL))
    return config.output


def test_report_escapes_outputs_and_has_a_json_twin(tmp_path, prompt_sets, models, scripted):
    run_rse(_config(tmp_path, prompt_sets), generators=models)
    ice = _ice_run(tmp_path, scripted)
    out = tmp_path / "audit.html"
    result = runner.invoke(app, ["report", str(ice), str(tmp_path / "rse"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "onerror=alert" not in page.replace("&#x27;", "'").split("&lt;img")[0]
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "data:image/png;base64," in page and "http://" not in page
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["schema_version"] == 1 and set(data) == {"schema_version", "created", "ice", "rse", "scatter"}
    assert data["ice"][0]["model"] == "evil" and {"loose", "strict", "hard", "loose_ci"} <= set(data["ice"][0])
    assert set(data["rse"][0]["offline"]["evil"]) == {"datasets", "avg", "datasets_present"}
    assert data["scatter"][0]["model"] == "evil" and data["rse"][0]["samples"]["evil"][0]["response"] == EVIL


def test_cli_bad_input_is_one_line_exit_2(tmp_path, prompt_sets):
    base = ["rse", "--reference", "ref", "--targets", "t", "-o", str(tmp_path / "o")]
    cases = [
        ([*base, "--prompts", f"jsonl:{tmp_path / 'nope.jsonl'}"], "file not found"),
        ([*base, "--prompts", "alpaca:x.jsonl"], "KIND:PATH"),
        ([*base, "--prompts", "demo", "--judge", "gpt4"], "unknown RSE judge"),
        (["report", str(tmp_path)], "no summary.json"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    cases.append(([*base, "--prompts", f"jsonl:{bad}"], "bad.jsonl:2: field 'prompt'"))
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and message in result.output, result.output


def test_cli_rse_command_with_config_file(tmp_path, prompt_sets, models, monkeypatch):
    import lmforge.distill.rse.run as run_module

    monkeypatch.setattr(run_module, "make_generator", lambda spec, **kw: models[spec])
    config = tmp_path / "rse.yaml"
    config.write_text(
        f"reference: ref\ntargets: [copycat, other]\nprompts: {','.join(prompt_sets)}\nencoder: none\nno-cache: true\n"
    )
    result = runner.invoke(app, ["rse", "--config", str(config), "-o", str(tmp_path / "cli")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (
        "copycat" in result.output and "Avg = unweighted mean" in result.output and "absent: arenahard" in result.output
    )


def test_report_renders_in_headless_chromium(tmp_path, prompt_sets, models):
    import shutil

    from lmforge.distill.report import screenshot, write_report

    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium installed (apt-get install chromium)")
    run_rse(_config(tmp_path, prompt_sets), generators=models)
    write_report([tmp_path / "rse"], tmp_path / "audit.html")
    image = tmp_path / "audit.png"
    assert screenshot(tmp_path / "audit.html", image, height=800)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
