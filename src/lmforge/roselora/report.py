"""Achieved sparsity of a RoseLoRA adapter next to the proven bound on ΔW = BA.

Proposition 1 of the paper, in density form: density(BA) ≤ Σ_i ρ_A,i·ρ_B,i, where ρ_A,i and
ρ_B,i are the kept fractions of row i of A and column i of B (the support of BA lies in the
union of r rectangles). The bound uses the actual kept fractions: with integer keep counts it
can exceed the nominal r·τ², which is reported only for reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.roselora.config import RoseLoraConfig
from lmforge.roselora.sparsity import active_adapter_name, lora_pairs


@dataclass(frozen=True)
class ModuleSparsity:
    """Non-zero counts of one adapted layer; densities are fractions of each matrix's entries."""

    name: str
    rank: int
    d_out: int
    d_in: int
    nnz_a: int
    nnz_b: int
    nnz_delta_w: int
    bound_nnz: int  # Σ_i nnz(A_i*)·nnz(B_*i), exact in integers

    @property
    def density_a(self) -> float:
        return self.nnz_a / (self.rank * self.d_in)

    @property
    def density_b(self) -> float:
        return self.nnz_b / (self.d_out * self.rank)

    @property
    def density_delta_w(self) -> float:
        return self.nnz_delta_w / (self.d_out * self.d_in)

    @property
    def bound(self) -> float:
        """Σ_i ρ_A,i·ρ_B,i, the largest density BA can have with these supports (capped at 1)."""
        return min(1.0, self.bound_nnz / (self.d_out * self.d_in))

    @property
    def within_bound(self) -> bool:
        return self.nnz_delta_w <= self.bound_nnz

    def as_dict(self) -> dict[str, float | int | str | bool]:
        """Counts plus derived densities, ready for a JSON report."""
        return {
            "name": self.name,
            "rank": self.rank,
            "shape": f"{self.d_out}x{self.d_in}",
            "density_a": self.density_a,
            "density_b": self.density_b,
            "density_delta_w": self.density_delta_w,
            "bound": self.bound,
            "within_bound": self.within_bound,
        }


@torch.no_grad()
def module_sparsity(name: str, lora_a: torch.Tensor, lora_b: torch.Tensor) -> ModuleSparsity:
    """Sparsity of one (A, B) pair; ΔW's support is that of the actual product B·A in fp32."""
    support_a, support_b = lora_a != 0, lora_b != 0
    per_rank = support_a.sum(dim=1) * support_b.sum(dim=0)  # int64, one product per rank-one term
    delta_w = lora_b.float() @ lora_a.float()
    return ModuleSparsity(
        name=name,
        rank=lora_a.shape[0],
        d_out=lora_b.shape[0],
        d_in=lora_a.shape[1],
        nnz_a=int(support_a.sum()),
        nnz_b=int(support_b.sum()),
        nnz_delta_w=int(torch.count_nonzero(delta_w)),
        bound_nnz=int(per_rank.sum()),
    )


def sparsity_report(model: nn.Module, adapter_name: str | None = None, *, check: bool = True) -> list[ModuleSparsity]:
    """Per-layer sparsity of the adapter's A, B and ΔW with the Prop. 1 bound.

    With `check=True` a layer above its bound raises: the bound is a theorem, so a violation
    means the adapter was not produced by RoseLoRA's masks or the masking is broken.
    """
    pairs = lora_pairs(model, active_adapter_name(model, adapter_name))
    report = [module_sparsity(name, a, b) for name, a, b in pairs]
    if check:
        broken = [m.name for m in report if not m.within_bound]
        if broken:
            raise RuntimeError(f"RoseLoRA: ΔW density exceeds the Σρ_A·ρ_B bound in {broken}")
    return report


def overall_density(report: list[ModuleSparsity]) -> tuple[float, float]:
    """(density of ΔW, Σρρ bound) over all the report's layers together, as fractions of their entries."""
    entries = sum(m.d_out * m.d_in for m in report)
    bound = sum(min(m.bound_nnz, m.d_out * m.d_in) for m in report)
    return sum(m.nnz_delta_w for m in report) / entries, bound / entries


def nominal_bound(config: RoseLoraConfig, rank: int) -> float:
    """r·τ², the nominal density of ΔW quoted in the paper (the exact bound can be slightly higher)."""
    return min(1.0, rank * config.target_density**2)
