"""HadSkipConfig: the note's defaults, JSON round trip, one-line errors for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.hadskip import HadSkipConfig
from lmforge.hadskip.config import CONFIG_NAME


def test_defaults_follow_the_note() -> None:
    config = HadSkipConfig()
    assert (config.budget, config.gate_hidden, config.threshold) == (0.5, 128, 0.5)
    assert (config.tau0, config.tau_min, config.homotopy_frac) == (1.0, 0.05, 0.7)
    assert (config.budget_mode, config.eta_lambda, config.lambda_init) == ("augmented", 0.02, 0.0)
    assert config.gate_input_norm == "rms"
    assert (config.kd_alpha, config.kd_temperature) == (0.5, 2.0)
    assert config.summary_token == "auto" and not config.strict_budget and config.hard_phase


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    config = HadSkipConfig(budget=0.25, strict_budget=True, budget_mode="two_sided", layer_costs=[1.0, 2.0])
    path = config.save_pretrained(tmp_path / "run")
    assert path.name == CONFIG_NAME
    assert HadSkipConfig.from_pretrained(tmp_path / "run") == config


@pytest.mark.parametrize(
    "budget, layers, cap", [(0.5, 12, 6), (0.5, 30, 15), (0.33, 12, 4), (0.25, 18, 5), (1.0, 4, 4)]
)
def test_strict_cap_is_ceil_of_budget_times_layers(budget: float, layers: int, cap: int) -> None:
    assert HadSkipConfig(budget=budget).max_layers(layers) == cap


@pytest.mark.parametrize(
    "field, value",
    [
        ("budget", 0.0),
        ("budget", 1.5),
        ("gate_hidden", 0),
        ("threshold", 1.0),
        ("tau_min", 2.0),
        ("homotopy_frac", 0.0),
        ("eta_lambda", -0.1),
        ("kd_alpha", 1.2),
        ("kd_temperature", 0.0),
        ("budget_mode", "l0"),
        ("summary_token", "mean"),
        ("gate_input_norm", "layer"),
        ("layer_costs", [1.0, -1.0]),
        ("init_rank_step", 0.7),
    ],
)
def test_bad_values_raise_one_line_errors(field: str, value: object) -> None:
    with pytest.raises(LmforgeError) as info:
        HadSkipConfig(**{field: value})
    message = str(info.value)
    assert field in message and "\n" not in message


def test_bad_files_raise_lmforge_errors(tmp_path: Path) -> None:
    with pytest.raises(LmforgeError, match="no HadSkip config"):
        HadSkipConfig.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(LmforgeError, match="invalid JSON"):
        HadSkipConfig.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"budget": 0.5, "speed": 3}), encoding="utf-8")
    with pytest.raises(LmforgeError, match="unknown HadSkip config field"):
        HadSkipConfig.from_pretrained(tmp_path)
