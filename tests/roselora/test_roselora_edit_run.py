"""Single-edit knowledge-editing runs: metrics per edit, the model restored, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lmforge.core.errors import LmforgeError
from lmforge.roselora.cli import app
from lmforge.roselora.edit_run import RESULTS_NAME, SUMMARY_NAME, EditRunConfig, run_edits
from lmforge.roselora.requests import EditRequest, Probe

REQUESTS = [
    EditRequest(
        "t5 t6 t7",
        "t40 t41",
        rephrase_prompts=("t8 t6 t7",),
        locality={"neighborhood": (Probe("t20 t21", "t22"),), "other": (Probe("t23", "t24 t25"), Probe("t26", "t27"))},
        portability={"reasoning": (Probe("t9 t5", "t40"),)},
        case_id="a",
    ),
    EditRequest("t10 t11", "t50", case_id="b"),
]
FAST = {"lr": 3e-2, "keep": 0.25, "rank": 4}


def _rows(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / RESULTS_NAME).read_text().splitlines()]


@pytest.mark.parametrize("method", ["roselora", "lora", "adalora", "ft-l"])
def test_each_edit_is_scored_and_undone(make_base, tokenizer, tmp_path: Path, method: str) -> None:
    model = make_base()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {k: p.requires_grad for k, p in model.named_parameters()}
    summary = run_edits(model, tokenizer, REQUESTS, EditRunConfig(method=method, **FAST), tmp_path)

    rows = _rows(tmp_path)
    assert [r["case_id"] for r in rows] == ["a", "b"]
    assert rows[0]["edit_success"] == 1.0 and set(rows[0]["locality_groups"]) == {"neighborhood", "other"}
    assert rows[1]["rephrase_success"] is None and rows[1]["locality"] is None and rows[1]["portability"] is None
    assert summary["edits"] == 2 and summary["edit_success"] == 1.0
    assert summary == json.loads((tmp_path / SUMMARY_NAME).read_text())
    if method == "roselora":
        assert all(r["delta_w_density"] <= r["delta_w_bound"] < 1 for r in rows)
    else:
        assert all(r["delta_w_density"] > 0.9 and r["delta_w_bound"] is None for r in rows)
    if method == "ft-l":  # (21 · 2) // 32: layer 1's down-projection, 32 × 64
        assert all(r["update_nonzero_params"] == 32 * 64 for r in rows)
    assert set(model.state_dict()) == set(original)  # the adapter is gone and the weights are untouched
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())
    if method == "ft-l":
        assert flags == {k: p.requires_grad for k, p in model.named_parameters()}


def test_rerun_resumes_and_refuses_other_settings(make_base, tokenizer, tmp_path: Path) -> None:
    config = EditRunConfig(**FAST)
    first = run_edits(make_base(), tokenizer, REQUESTS[:1], config, tmp_path / "a")
    assert len(_rows(tmp_path / "a")) == 1
    run_edits(make_base(), tokenizer, REQUESTS[:1], config, tmp_path / "b")
    (tmp_path / "b" / RESULTS_NAME).write_text("")  # nothing done yet, same settings: edits again
    assert run_edits(make_base(), tokenizer, REQUESTS[:1], config, tmp_path / "b")["edits"] == 1

    edited = []
    again = run_edits(make_base(), tokenizer, REQUESTS[:1], config, tmp_path / "a", on_edit=edited.append)
    assert edited == [] and again == first
    with pytest.raises(LmforgeError, match="other settings"):
        run_edits(make_base(), tokenizer, REQUESTS[:1], EditRunConfig(**{**FAST, "keep": 0.5}), tmp_path / "a")


def test_sequential_edits_share_one_adapter_and_report_retention(make_base, tokenizer, tmp_path: Path) -> None:
    model = make_base()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    requests = [*REQUESTS, EditRequest("t30 t31", "t60", case_id="c")]
    config = EditRunConfig(mode="sequential", eval_every=2, **FAST)
    summary = run_edits(model, tokenizer, requests, config, tmp_path)

    rows = _rows(tmp_path)
    assert [r["edits_so_far"] for r in rows] == [1, 2, 3]
    assert "retained_edit_success" not in rows[0] and set(summary["retained_edit_success"]) == {"2", "3"}
    assert summary == json.loads((tmp_path / SUMMARY_NAME).read_text())
    assert all(r["delta_w_density"] <= r["delta_w_bound"] for r in rows)
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())

    (tmp_path / RESULTS_NAME).write_text(json.dumps(rows[0]) + "\n")  # interrupted after one edit
    edited = []
    run_edits(model, tokenizer, requests, config, tmp_path, on_edit=edited.append)
    assert [r["index"] for r in edited] == [0, 1, 2] and len(_rows(tmp_path)) == 3  # started again


def test_official_recipe_and_bad_settings() -> None:
    official = EditRunConfig.official()
    assert (official.keep, official.clamp, official.parity, official.lr) == (0.05, 3e-3, True, 5e-4)
    assert (official.steps, official.stop_loss) == (22, None)  # the released loop's stop never reads the loss
    assert official.adapter_config().value_clamp == 3e-3
    with pytest.raises(LmforgeError, match="unknown editing method"):
        EditRunConfig(method="rome")
    with pytest.raises(LmforgeError, match="target_density"):
        EditRunConfig(keep=0.0)
    with pytest.raises(LmforgeError, match="unknown editing mode"):
        EditRunConfig(mode="batch")


def test_cli_edit_end_to_end(make_base, tokenizer, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    make_base().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = tmp_path / "edits.json"
    data.write_text(
        json.dumps(
            [{"prompt": "t5 t6 t7", "target_new": "t40 t41", "locality_prompt": "t20", "locality_ground_truth": "t21"}]
        )
    )
    args = ["edit", "--model", str(model_dir), "--data", str(data), "--output", str(tmp_path / "run"), "--lr", "0.03"]
    (tmp_path / "edit.yaml").write_text("keep: 0.25\nrank: 4\nfluency-tokens: 3\n")
    result = CliRunner().invoke(app, [*args, "--config", str(tmp_path / "edit.yaml")])
    assert result.exit_code == 0, result.output
    assert "edit_success" in result.output and len(_rows(tmp_path / "run")) == 1
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())["config"]
    assert (settings["keep"], settings["rank"], settings["fluency_tokens"]) == (0.25, 4, 3)
    assert _rows(tmp_path / "run")[0]["fluency"] is not None

    data.write_text(json.dumps([{"prompt": "t5"}]))
    result = CliRunner().invoke(app, [*args, "--keep", "0.25"])
    assert result.exit_code == 2
    assert "record 1: field 'target_new': missing" in result.output


def test_fluency_on_the_first_edits_and_adalora_schedule(make_base, tokenizer, tmp_path: Path) -> None:
    config = EditRunConfig.for_method("adalora", steps=20, stop_loss=10.0, fluency_tokens=4, fluency_edits=1, **FAST)
    assert config.lr == FAST["lr"] and EditRunConfig.for_method("adalora").lr == 5e-3
    model = make_base()
    run_edits(model, tokenizer, REQUESTS, config, tmp_path)
    rows = _rows(tmp_path)
    assert rows[0]["fluency"] > 0 and rows[1]["fluency"] is None
    assert rows[0]["steps"] == 18  # the loss is below 10 at once, but the stop waits for the final budget (step 16)

    adapter = config.adapter_config(total_steps=10)  # rank 4: start at 6, end at 4; warm-up 1 step, final 2
    assert (adapter.init_r, adapter.target_r, adapter.tinit, adapter.tfinal, adapter.total_step) == (6, 4, 1, 2, 10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--method", "rome"], "unknown editing method 'rome'"),
        (["--method", "lora", "--parity"], "--parity is the official RoseLoRA recipe"),
        (["--method", "ft-l", "--ft-layer", "7"], "ft-l: the model has no single module '*.layers.7.mlp.down_proj'"),
        (["--fluency-tokens", "-1"], "fluency_tokens and fluency_edits must be ≥ 0"),
    ],
)
def test_cli_bad_method_settings_are_one_line_errors(make_base, tokenizer, tmp_path: Path, flags, message) -> None:
    model_dir = tmp_path / "model"
    make_base().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = tmp_path / "edits.json"
    data.write_text(json.dumps([{"prompt": "t5 t6 t7", "target_new": "t40"}]))
    args = ["edit", "--model", str(model_dir), "--data", str(data), "--output", str(tmp_path / "run"), "--rank", "4"]
    result = CliRunner().invoke(app, [*args, *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
