"""Loss terms: distillation, expected usage and the budget term."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lmforge.hadskip.losses import budget_loss, distillation_loss, expected_usage, task_loss


def test_distillation_mixes_task_loss_and_tempered_kl() -> None:
    student = torch.tensor([[1.0, -1.0], [0.2, 0.4]])
    teacher = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    ce = F.cross_entropy(student, labels)
    assert distillation_loss(student, teacher, labels, alpha=0.0, temperature=2.0) == pytest.approx(float(ce))
    assert distillation_loss(student, None, labels, alpha=0.5, temperature=2.0) == pytest.approx(float(ce))
    kl = F.kl_div(F.log_softmax(student / 2, -1), F.softmax(teacher / 2, -1), reduction="batchmean") * 4
    mixed = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0)
    assert mixed == pytest.approx(float(0.5 * ce + 0.5 * kl))
    assert distillation_loss(teacher, teacher, labels, alpha=1.0, temperature=2.0) == pytest.approx(0.0, abs=1e-7)


def test_regression_heads_use_mse() -> None:
    student, teacher, labels = torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.0]]), torch.tensor([1.0, 3.0])
    assert task_loss(student, labels) == pytest.approx(0.5)
    assert distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0) == pytest.approx(0.25 + 0.0625)


def test_expected_usage_is_the_mean_keep_probability_or_cost_weighted() -> None:
    probs = torch.tensor([[1.0, 0.0, 0.5], [0.0, 0.0, 0.5]])
    assert expected_usage(probs) == pytest.approx(1.0 / 3.0)
    assert expected_usage(probs, torch.tensor([2.0, 1.0, 1.0])) == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)


def test_budget_term_modes() -> None:
    over, under = torch.tensor(0.7), torch.tensor(0.3)
    assert budget_loss(over, 0.5, "lagrangian", multiplier=2.0, gamma=10.0) == pytest.approx(0.4)
    assert budget_loss(under, 0.5, "lagrangian", multiplier=2.0, gamma=10.0) == pytest.approx(-0.4)
    assert budget_loss(over, 0.5, "penalty", multiplier=0.0, gamma=10.0) == pytest.approx(0.4)
    assert budget_loss(under, 0.5, "penalty", multiplier=0.0, gamma=10.0) == 0.0
    assert budget_loss(under, 0.5, "two_sided", multiplier=0.0, gamma=10.0) == pytest.approx(0.4)


def test_augmented_lagrangian_adds_a_two_sided_quadratic() -> None:
    over, under = torch.tensor(0.7), torch.tensor(0.3)
    assert budget_loss(over, 0.5, "augmented", multiplier=1.0, gamma=10.0) == pytest.approx(0.2 + 0.2)
    assert budget_loss(under, 0.5, "augmented", multiplier=-1.0, gamma=10.0) == pytest.approx(0.2 + 0.2)
