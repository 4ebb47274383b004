"""ICE on the bundled SmolLM2 (a real model): a tiny run, its records and the system-prompt override."""

from __future__ import annotations

import pytest

from lmforge.core.generation.local import HFGenerator
from lmforge.distill.config import NEUTRAL_SYSTEM_PROMPT, IceConfig
from lmforge.distill.ice import run_ice

pytestmark = pytest.mark.real_model


def test_smollm2_ice_with_offline_judge(smollm2, tmp_path):
    model, tokenizer = smollm2
    target = HFGenerator(model=model, tokenizer=tokenizer, name="smollm2-test", show_progress=False)
    config = IceConfig(
        target="smollm2-135m-instruct",
        output=tmp_path / "run",
        fact="I am SmolLM, a language model built by Hugging Face.",
        budget=2,
        n_questions=1,
        max_new_tokens=16,
        cache=False,
    )
    summary = run_ice(config, target=target)
    assert summary["family"] == "smollm" and summary["n_responses"] == 2 and summary["n_templates"] == 1
    assert summary["unparsed"] == 0 and 0.0 <= summary["loose"] <= 1.0
    lo, hi = summary["loose_ci"]
    assert lo <= summary["loose"] <= hi
    # the neutral system prompt replaces SmolLM2's built-in one, which names the model
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": NEUTRAL_SYSTEM_PROMPT}, {"role": "user", "content": "hi"}], tokenize=False
    )
    assert "SmolLM" not in rendered


def test_ice_command_end_to_end(smollm2_dir, tmp_path):
    from typer.testing import CliRunner

    from lmforge.distill.cli import app

    out = tmp_path / "cli-run"
    args = ["ice", "--target", "smollm2-135m-instruct", "-o", str(out), "--budget", "2", "--n-questions", "1",
            "--max-new-tokens", "8", "--no-cache"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert "loose" in result.output and "2 responses over 1 templates" in result.output
    assert (out / "summary.json").exists() and len((out / "responses.jsonl").read_text().splitlines()) == 2
