"""Gate math (summary features, soft and straight-through gates) and the homotopy schedules."""

from __future__ import annotations

import math

import pytest
import torch

from lmforge.hadskip import HadSkipConfig
from lmforge.hadskip.gates import LayerGate, keep_probability, straight_through, summary_features
from lmforge.hadskip.layer import summary_positions
from lmforge.hadskip.schedules import budget_at, homotopy_progress, schedule_at, temperature_at


def test_summary_features_use_the_summary_token_and_the_masked_mean() -> None:
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])
    for mode, expected_index in (("cls", [0, 1]), ("last", [2, 3])):
        index = summary_positions(mask, mode)
        assert index.tolist() == expected_index
        features = summary_features(hidden, mask, index)
        assert features.shape == (2, 6)
        for row in range(2):
            assert torch.equal(features[row, :3], hidden[row, expected_index[row]])
            assert torch.allclose(features[row, 3:], hidden[row][mask[row].bool()].mean(dim=0))


def test_padding_content_does_not_change_the_features() -> None:
    hidden = torch.randn(1, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    changed = hidden.clone()
    changed[0, 3:] = 100.0
    index = summary_positions(mask, "last")
    assert torch.equal(summary_features(hidden, mask, index), summary_features(changed, mask, index))


def test_temperature_sharpens_the_soft_gate_towards_a_step() -> None:
    logits = torch.tensor([-0.5, 0.0, 0.5])
    assert torch.allclose(keep_probability(logits, 1.0), torch.sigmoid(logits))
    sharp = keep_probability(logits, 0.05)
    assert sharp[0] < 0.001 and sharp[1] == 0.5 and sharp[2] > 0.999


def test_straight_through_is_hard_forward_with_the_soft_gradient() -> None:
    probs = torch.tensor([0.2, 0.5, 0.9], requires_grad=True)
    hard = straight_through(probs, 0.5)
    assert hard.tolist() == [0.0, 1.0, 1.0]
    (hard * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert probs.grad.tolist() == [1.0, 2.0, 3.0]


def test_gate_starts_at_its_bias_and_stays_fp32_under_low_precision_inputs() -> None:
    gate = LayerGate(hidden_size=8, gate_hidden=4)
    gate.reset_parameters(keep_prob=0.9)
    features = torch.randn(3, 16).to(torch.bfloat16)
    logits = gate(features)
    assert logits.dtype == torch.float32 and logits.shape == (3,)
    assert torch.allclose(torch.sigmoid(logits), torch.full((3,), 0.9), atol=1e-6)
    assert gate.fc1.weight.std() < 0.05


def test_budget_and_temperature_schedules() -> None:
    assert homotopy_progress(0, 100, 0.7) == 0.0 and homotopy_progress(35, 100, 0.7) == 0.5
    assert homotopy_progress(90, 100, 0.7) == 1.0
    assert budget_at(0.0, 0.5) == 1.0 and budget_at(1.0, 0.5) == 0.5
    assert budget_at(0.5, 0.5) == pytest.approx(0.5 + 0.5 * 0.125)
    assert budget_at(0.3, 0.5, anneal=False) == 0.5
    assert temperature_at(0.0, 1.0, 0.05) == 1.0 and temperature_at(1.0, 1.0, 0.05) == pytest.approx(0.05)
    assert temperature_at(0.5, 1.0, 0.05) == pytest.approx(math.sqrt(0.05))
    assert temperature_at(0.5, 1.0, 0.05, anneal=False) == 1.0


def test_schedule_switches_to_hard_gates_after_the_homotopy() -> None:
    config = HadSkipConfig(budget=0.25)
    soft, hard = schedule_at(69, 100, config), schedule_at(70, 100, config)
    assert soft.mode == "soft" and soft.budget > 0.25 and soft.temperature > 0.05
    assert (hard.mode, hard.budget, hard.temperature) == ("hard", 0.25, pytest.approx(0.05))
    assert schedule_at(99, 100, HadSkipConfig(hard_phase=False)).mode == "soft"


def test_rms_input_norm_keeps_the_gate_unsaturated_on_a_large_residual_stream() -> None:
    torch.manual_seed(0)
    features = torch.randn(8, 16)
    normed, raw = LayerGate(8, gate_hidden=4), LayerGate(8, gate_hidden=4, normalise=False)
    raw.load_state_dict(normed.state_dict())
    for gate in (normed, raw):
        with torch.no_grad():
            gate.fc2.weight.fill_(1.0)
    # SmolLM2's stream has RMS 20-50: scaling the input must not change a normalised gate's decision.
    assert torch.allclose(normed(features), normed(40.0 * features), atol=1e-5)
    hidden = torch.tanh(torch.nn.functional.linear(40.0 * features, raw.fc1.weight, raw.fc1.bias))
    assert hidden.abs().mean() > 2 * torch.tanh(torch.nn.functional.linear(features, raw.fc1.weight)).abs().mean()


def test_config_selects_the_gate_input_norm() -> None:
    from ._tiny import wrap

    assert all(layer.gate.normalise for layer in wrap("llama").gated_layers)
    assert not any(layer.gate.normalise for layer in wrap("llama", gate_input_norm="none").gated_layers)
