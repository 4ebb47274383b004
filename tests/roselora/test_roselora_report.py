"""Proposition 1: density(BA) ≤ Σ_i ρ_A,i·ρ_B,i on constructed and random supports."""

from __future__ import annotations

import pytest
import torch

from lmforge.roselora import RoseLoraConfig, keep_count, nominal_bound
from lmforge.roselora.report import module_sparsity


def _row_sparse(rows: int, cols: int, kept: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random normal values with exactly kept[i] non-zeros in row i (vectorised via a random rank order)."""
    order = torch.rand(rows, cols, generator=generator).argsort(dim=1).argsort(dim=1)
    return torch.randn(rows, cols, generator=generator) * (order < kept[:, None])


def test_rank_one_counterexample_to_whole_matrix_sparsity() -> None:
    """A = [aᵀ; 0], B = [b, 0] are (r−1)/r sparse but BA = b·aᵀ is dense, and the bound says so."""
    r, d = 4, 16
    lora_a, lora_b = torch.zeros(r, d), torch.zeros(d, r)
    lora_a[0], lora_b[:, 0] = torch.rand(d) + 0.1, torch.rand(d) + 0.1
    stats = module_sparsity("m", lora_a, lora_b)
    assert stats.density_a == stats.density_b == pytest.approx(1 / r)
    assert stats.density_delta_w == 1.0 == stats.bound


@pytest.mark.parametrize("seed", range(5))
def test_bound_holds_on_random_supports(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    r, d_out, d_in = 8, 48, 40
    kept_a = torch.randint(1, d_in + 1, (r,), generator=generator)
    kept_b = torch.randint(1, d_out + 1, (r,), generator=generator)
    lora_a = _row_sparse(r, d_in, kept_a, generator)
    lora_b = _row_sparse(r, d_out, kept_b, generator).T
    stats = module_sparsity("m", lora_a, lora_b)
    assert stats.nnz_a == kept_a.sum() and stats.nnz_b == kept_b.sum()
    assert stats.bound_nnz == int((kept_a * kept_b).sum())
    assert stats.within_bound and stats.density_delta_w <= stats.bound


def test_integer_keep_counts_exceed_the_nominal_bound() -> None:
    """r 8, τ 0.05 at width 576 keeps 29 of 576 (not 28.8): the exact bound is 0.0203 > r·τ² = 0.02."""
    r, d, tau = 8, 576, 0.05
    kept = torch.full((r,), keep_count(tau, d))
    generator = torch.Generator().manual_seed(0)
    stats = module_sparsity("m", _row_sparse(r, d, kept, generator), _row_sparse(r, d, kept, generator).T)
    assert stats.bound == pytest.approx(8 * (29 / 576) ** 2) and round(stats.bound, 4) == 0.0203
    assert nominal_bound(RoseLoraConfig(target_density=tau), r) == pytest.approx(0.02)
    assert stats.density_delta_w <= stats.bound
    assert stats.as_dict()["within_bound"] is True
